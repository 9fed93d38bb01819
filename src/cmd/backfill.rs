//! `kubeseen backfill`: run the detections for every window of a range (or re-run its stale
//! ones), skipping through the single pass the windows without new keys.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::detect::Prepared;
use super::findings_exit;
use crate::cli::{BackfillArgs, OutputFormat};
use crate::config::fmt_instant;
use crate::detect;
use crate::lake::stale;
use crate::report::range_summary::{self, RangeInput, RangeSummary};
use crate::storage::{Location, StoreOptions};

/// The findings of one window of one detection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
struct WindowFindings {
    window_end: String,
    detection: String,
    findings: u64,
}

/// The summary of a backfill.
#[derive(Serialize)]
struct Backfilled {
    from: String,
    to: String,
    every: String,
    windows: usize,
    findings: u64,
    single_pass: bool,
    skipped_up_to_date: usize,
    elapsed_seconds: f64,
    per_window: Vec<WindowFindings>,
    /// The risk step at every window end of the range (`risk::after_detect`).
    risk: Option<crate::risk::RiskSummary>,
    /// The range summary's objects (`report::range_summary`) and what writing them cost.
    range_summary: super::detect::RunSummaryOutputs,
}

/// The summary of `backfill --stale-only`.
#[derive(Serialize)]
struct StaleRerun {
    from: String,
    to: String,
    stale_only: bool,
    windows: usize,
    findings: u64,
    per_window: Vec<WindowFindings>,
    risk: Option<crate::risk::RiskSummary>,
}

pub fn run(a: BackfillArgs, store: &StoreOptions) -> Result<i32> {
    if a.common.format == OutputFormat::Ocsf {
        bail!("--format ocsf prints one window's records (`detect`); backfill writes every window's OCSF records to the lake under ocsf/");
    }
    let lake = super::open_lake(&a.common.lake, store, false)?;
    super::locked(&lake, store, "backfill", |lake| backfill(&a, lake))
}

fn backfill(a: &BackfillArgs, lake: &Location) -> Result<i32> {
    let p = Prepared::new(&a.common, lake)?;
    let (from, to) = (a.from, a.to);
    super::not_before_2000(from, "--from")?;
    if to <= from {
        bail!("--to {} must be after --from {}", fmt_instant(to), fmt_instant(from));
    }
    if a.stale_only {
        return stale_only(a, &p);
    }
    let ends = detect::window::ends(from, to, a.every.value);
    let bar = progress_bar(a, ends.len() * p.specs.len());
    let started = Instant::now();
    // One pass over the range finds the windows that have new keys; only those are run in
    // full. The others get the empty findings a separate run would write.
    let mut with_findings = Vec::new();
    for spec in &p.specs {
        with_findings.push(detect::windows_with_new_keys(p.lake, spec, &p.opts, &ends)?);
    }
    let single_pass = with_findings.iter().all(Option::is_some);
    // --resume: windows whose findings are written and not stale are up to date; skip them.
    let mut done: Vec<BTreeSet<DateTime<Utc>>> = Vec::new();
    for spec in &p.specs {
        let mut set = BTreeSet::new();
        if a.resume {
            let same = p.same_kind(spec)?;
            for w in stale::up_to_date(p.lake, &spec.slug, from, to)? {
                if same(&w) {
                    set.insert(w.window_end);
                }
            }
        }
        done.push(set);
    }
    let skipped: usize = done.iter().map(|d| d.len()).sum();
    let mut per_window = Vec::new();
    for ((spec, found), done) in p.specs.iter().zip(&with_findings).zip(&done) {
        let Some(set) = found else { continue };
        let empty_ends: Vec<DateTime<Utc>> = ends
            .iter()
            .filter(|e| !set.contains(e) && !done.contains(e))
            .copied()
            .collect();
        let Some(first) = empty_ends.first() else { continue };
        // The same empty findings for every cleared window (built once per detection).
        let template = detect::empty_findings(spec, &p.opts, *first)?;
        let write = |run: &detect::Run| -> Result<()> {
            crate::risk::write_run(p.lake, run, &[])?;
            if let Some(b) = &bar {
                b.inc(1);
            }
            Ok(())
        };
        for end in detect::backfill::write_each(&template, &empty_ends, &write)? {
            per_window.push((end, spec.slug.clone(), 0));
        }
    }
    let mut total = 0u64;
    for end in &ends {
        for ((spec, found), done) in p.specs.iter().zip(&with_findings).zip(&done) {
            if found.as_ref().is_some_and(|set| !set.contains(end)) || done.contains(end) {
                continue;
            }
            let n = p.one(spec, Some(*end))?.findings_count as u64;
            total += n;
            per_window.push((*end, spec.slug.clone(), n));
            if let Some(b) = &bar {
                b.inc(1);
                b.set_message(format!("{total} findings"));
            }
        }
    }
    per_window.sort();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // The risk step at every window end of the range, in one pass (as hourly runs would).
    let risk = super::risk::after_detect(p.lake, &ends, p.opts.splunk_compat, a.common.queries.as_deref())?;
    let range_summary = write_range_summary(a, &p, ends.len(), &per_window)?;
    let summary = Backfilled {
        range_summary,
        risk,
        from: fmt_instant(from),
        to: fmt_instant(to),
        every: a.every.text.clone(),
        windows: ends.len(),
        findings: total,
        single_pass,
        skipped_up_to_date: skipped,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        per_window: per_window
            .into_iter()
            .map(|(end, detection, findings)| WindowFindings {
                window_end: fmt_instant(end),
                detection,
                findings,
            })
            .collect(),
    };
    match a.common.format {
        OutputFormat::Json => super::print_sorted_json(&summary)?,
        OutputFormat::Ocsf | OutputFormat::Table => print_table(&summary),
    }
    Ok(findings_exit(a.common.fail_on_findings, total))
}

/// The table output: the windows with findings, the totals, the risk table, the page.
fn print_table(summary: &Backfilled) {
    for w in summary.per_window.iter().filter(|w| w.findings > 0) {
        println!(
            "{} {} {} finding(s)",
            w.window_end,
            crate::text::Escaped(&w.detection),
            w.findings
        );
    }
    println!(
        "backfilled {} windows in {:.1}s: {} findings",
        summary.windows, summary.elapsed_seconds, summary.findings
    );
    if let Some(r) = &summary.risk {
        print!("{}", crate::risk::table(r));
    }
    println!(
        "range summary: {}",
        crate::text::Escaped(&summary.range_summary.written.html)
    );
}

/// Writes the range summary of the windows written (`per_window`: end, slug, findings).
fn write_range_summary(
    a: &BackfillArgs,
    p: &Prepared,
    windows: usize,
    per_window: &[(DateTime<Utc>, String, u64)],
) -> Result<super::detect::RunSummaryOutputs> {
    let t = Instant::now();
    let input = RangeInput {
        from: a.from,
        to: a.to,
        every: &a.every.text,
        windows,
        splunk_compat: p.opts.splunk_compat,
        detections: p.specs.iter().map(|s| (s.slug.clone(), s.name.clone())).collect(),
        cells: per_window.to_vec(),
    };
    let mut s = RangeSummary::of(p.lake, input);
    let subset = (!a.common.detections.is_empty()).then_some(a.common.detections.as_slice());
    range_summary::write(p.lake, &mut s, subset)?;
    Ok(super::detect::RunSummaryOutputs {
        written: s.outputs,
        write_ms: t.elapsed().as_secs_f64() * 1000.0,
    })
}

/// A progress bar on a terminal for the table output.
fn progress_bar(a: &BackfillArgs, len: usize) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    (std::io::stderr().is_terminal() && a.common.format == OutputFormat::Table).then(|| {
        let b = indicatif::ProgressBar::new(len as u64);
        if let Ok(s) = indicatif::ProgressStyle::with_template(
            "{spinner} backfill [{bar:30}] {pos}/{len} windows {per_sec} eta {eta} {msg}",
        ) {
            b.set_style(s);
        }
        b
    })
}

/// `--stale-only`: re-runs the stale windows ending in the range (JSON summary on stdout).
fn stale_only(a: &BackfillArgs, p: &Prepared) -> Result<i32> {
    let summaries = p.rerun_stale(Some((a.from, a.to)))?;
    let total: u64 = summaries.iter().map(|s| s.findings_count as u64).sum();
    let per_window: Vec<WindowFindings> = summaries
        .iter()
        .map(|s| WindowFindings {
            window_end: s.window_end.clone(),
            detection: s.detection.clone(),
            findings: s.findings_count as u64,
        })
        .collect();
    let risk = super::detect::risk_step(p, &a.common, &summaries)?;
    super::print_sorted_json(&StaleRerun {
        risk,
        from: fmt_instant(a.from),
        to: fmt_instant(a.to),
        stale_only: true,
        windows: per_window.len(),
        findings: total,
        per_window,
    })?;
    Ok(findings_exit(a.common.fail_on_findings, total))
}
