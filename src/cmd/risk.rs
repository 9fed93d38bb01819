//! `kubeseen risk`, and the risk step at the end of `detect` and `backfill`.
//!
//! In: the lake, `--at`, the window (24 h), the mode and the incident rules. Out: the
//! incidents object and report of each evaluation instant, and the summary on stdout.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use chrono::{DateTime, Duration, Utc};

use crate::cli::{RiskArgs, RiskFormat};
use crate::config::fmt_instant;
use crate::risk::summary::{Contribution, IncidentSummary};
use crate::risk::{evaluate_lake, rules, write_evaluation, RiskSummary, Settings};
use crate::storage::{Location, StoreOptions};

/// The window of the risk step of `detect`/`backfill` (the stock "… Over 24 Hours").
pub const DEFAULT_WINDOW: Duration = Duration::hours(24);

/// The incident rules: `dir`, else the built-in ones.
fn load_rules(dir: Option<&Path>) -> Result<Vec<rules::IncidentRule>> {
    Ok(rules::load(dir)?)
}

/// `kubeseen risk`: one evaluation at `--at`, written to the lake and printed.
pub fn run(a: RiskArgs, store: &StoreOptions) -> Result<i32> {
    let lake = super::open_lake(&a.lake, store, false)?;
    super::locked(&lake, store, "risk", |lake| risk(&a, lake))
}

fn risk(a: &RiskArgs, lake: &Location) -> Result<i32> {
    let clock = super::clock(a.now);
    let at = a.at.unwrap_or_else(|| clock.last_full_hour());
    if at > clock.now() {
        bail!(
            "--at {} is in the future (now is {}): its window would be incomplete",
            fmt_instant(at),
            fmt_instant(clock.now())
        );
    }
    super::not_before_2000(at, "--at")?;
    let settings = Settings {
        window: a.window,
        splunk_compat: a.splunk_compat,
        rules: load_rules(a.rules.as_deref())?,
    };
    let evaluations = evaluate_lake(lake, &[at], &settings)?;
    let mut summaries = Vec::new();
    for e in &evaluations {
        summaries.push(write_evaluation(lake, e)?.1);
    }
    let Some(summary) = RiskSummary::series(summaries) else {
        bail!("no risk evaluation at {}", fmt_instant(at));
    };
    match a.format {
        RiskFormat::Json => super::print_sorted_json(&summary)?,
        RiskFormat::Markdown => print!("{}", crate::risk::markdown(&summary)),
        RiskFormat::Table => {
            print!("{}", crate::risk::table(&summary));
            if let Some(o) = &summary.outputs {
                println!("report:   {}", o.report_md);
            }
        }
    }
    Ok(super::findings_exit(
        a.fail_on_incidents,
        summary.incidents_count as u64,
    ))
}

/// The incident rules for a run reading detections from `queries`: `<queries>/risk/` when
/// that folder exists, else the built-in rules.
pub fn rules_for(queries: Option<&Path>) -> Result<Vec<rules::IncidentRule>> {
    let dir: Option<PathBuf> = queries.map(|q| q.join("risk")).filter(|d| d.is_dir());
    load_rules(dir.as_deref())
}

/// The risk step of `detect`/`backfill`: evaluates the default window at each of `ats`
/// (any order, duplicates ignored), in time order, writing each evaluation. Returns the
/// summary (for several instants: every instant's incidents, see `RiskSummary::series`);
/// `None` without instants.
pub fn after_detect(
    lake: &Location,
    ats: &[DateTime<Utc>],
    splunk_compat: bool,
    queries: Option<&Path>,
) -> Result<Option<RiskSummary>> {
    let mut ats: Vec<DateTime<Utc>> = ats.to_vec();
    ats.sort();
    ats.dedup();
    let settings = Settings {
        window: DEFAULT_WINDOW,
        splunk_compat,
        rules: rules_for(queries)?,
    };
    let evaluations = evaluate_lake(lake, &ats, &settings)?;
    // Each instant is three small puts, independent of the others: a few threads write them
    // (a backfilled month is 720 instants).
    let written: Vec<Result<RiskSummary>> = std::thread::scope(|scope| {
        let chunks: Vec<&[crate::risk::Evaluation]> =
            evaluations.chunks(evaluations.len().div_ceil(4).max(1)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|e| Ok(write_evaluation(lake, e)?.1))
                        .collect::<Vec<Result<RiskSummary>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![Err(anyhow::anyhow!("a risk writer thread panicked"))])
            })
            .collect()
    });
    Ok(RiskSummary::series(written.into_iter().collect::<Result<Vec<_>>>()?))
}

/// `demo`: checks an evaluation against the ground truth's risk labels. Returns one line per
/// label and the number of labels not met: a node labelled as an incident must be exactly one
/// incident whose contributing findings are the labelled ones, in time order; a node labelled
/// benign must be none.
pub fn demo_check(labels: &[crate::generate::RiskTruth], summary: &RiskSummary) -> (Vec<String>, usize) {
    let mut lines = Vec::new();
    let mut failed = 0;
    for l in labels {
        let mine: Vec<&IncidentSummary> = summary
            .incidents
            .iter()
            .filter(|i| {
                i.risk.risk_object_type == l.risk_object_type
                    && i.risk.k8s_cluster_name.as_deref() == Some(l.k8s_cluster_name.as_str())
                    && i.risk.risk_object_value == l.k8s_node_name
            })
            .collect();
        let problem = match (l.expect_incident, mine.as_slice()) {
            (false, []) => None,
            (false, _) => Some("an incident, but the label says none".to_string()),
            (true, [i]) => {
                let contributions = &i.contributions;
                let matches = |c: &Contribution, f: &crate::generate::RiskFinding| {
                    c.detection == f.detection
                        && f.key
                            .iter()
                            .all(|(k, v)| c.key.get(k).cloned().flatten().as_deref() == Some(v.as_str()))
                };
                let times: Vec<&str> = contributions.iter().map(|c| c.time.as_str()).collect();
                if contributions.len() != l.findings.len()
                    || !l.findings.iter().all(|f| contributions.iter().any(|c| matches(c, f)))
                {
                    Some(format!(
                        "{} contributing findings, the label has {} (or different ones)",
                        contributions.len(),
                        l.findings.len()
                    ))
                } else if !times.windows(2).all(|w| w[0] <= w[1]) {
                    Some("contributing findings not in time order".to_string())
                } else {
                    None
                }
            }
            (true, []) => Some("no incident".to_string()),
            (true, _) => Some(format!("{} incidents for one object", mine.len())),
        };
        let verdict = if l.expect_incident { "incident" } else { "none    " };
        match &problem {
            None => lines.push(format!(
                "  ok   {:<36} {verdict} {}/{} ({} finding(s))",
                l.name,
                crate::risk::escape(&l.k8s_cluster_name),
                crate::risk::escape(&l.k8s_node_name),
                l.findings.len()
            )),
            Some(p) => {
                failed += 1;
                lines.push(format!(
                    "  FAIL {:<36} {verdict} {}/{}: {p}",
                    l.name,
                    crate::risk::escape(&l.k8s_cluster_name),
                    crate::risk::escape(&l.k8s_node_name)
                ));
            }
        }
    }
    (lines, failed)
}
