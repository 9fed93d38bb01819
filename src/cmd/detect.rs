//! `kubeseen detect`: run the detections for one window (or re-run the stale ones), write
//! their findings and reports, and print the summaries.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};

use super::findings_exit;
use crate::cli::{DetectArgs, DetectCommon, OutputFormat};
use crate::detect::{self, allowlist::Allowlist, spec::Spec, DetectOptions};
use crate::lake::stale::{self, StaleWindow};
use crate::report::run_summary::{self, RunKind, RunSummary, RunSummaryWritten};
use crate::report::{self, Summary};
use crate::storage::{Location, StoreOptions};
use crate::text::Escaped;

/// The detections of a run, on the one lake handle of the run.
pub struct Prepared<'a> {
    pub lake: &'a Location,
    pub specs: Vec<Spec>,
    pub opts: DetectOptions,
}

impl<'a> Prepared<'a> {
    /// The detections and options the common flags ask for.
    pub fn new(c: &DetectCommon, lake: &'a Location) -> Result<Self> {
        let clock = super::clock(c.now);
        let all = detect::spec::load(c.queries.as_deref())?;
        let rollups = (!c.no_rollups).then(|| detect::spec::rollup_shape(&all));
        let specs: Vec<Spec> = if c.detections.is_empty() {
            all
        } else {
            let mut v = Vec::new();
            for d in &c.detections {
                match all.iter().find(|s| &s.slug == d) {
                    Some(s) => v.push(s.clone()),
                    None => bail!(
                        "--detection {d:?}: no such detection (known: {})",
                        all.iter().map(|s| s.slug.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                }
            }
            v
        };
        let allowlist = c.allowlist.as_deref().map(Allowlist::load).transpose()?;
        if let Some(a) = &allowlist {
            a.check_columns()?;
        }
        Ok(Prepared {
            lake,
            specs,
            opts: DetectOptions {
                at: None,
                window: c.window,
                baseline: c.baseline,
                splunk_compat: c.splunk_compat,
                allowlist,
                clock,
                rollups,
            },
        })
    }

    /// Runs every detection for the window ending at `at`; returns the summaries.
    pub fn window(&self, at: Option<DateTime<Utc>>) -> Result<Vec<Summary>> {
        self.specs.iter().map(|spec| self.one(spec, at)).collect()
    }

    /// Runs one detection for one window and writes its findings and report.
    pub fn one(&self, spec: &Spec, at: Option<DateTime<Utc>>) -> Result<Summary> {
        let opts = DetectOptions {
            at,
            ..self.opts.clone()
        };
        let t = Instant::now();
        let run = detect::run(self.lake, spec, &opts)?;
        crate::testhook::pause(|| format!("detected-{}", spec.slug));
        let detect_ms = t.elapsed().as_millis() as u64;
        for w in &run.warnings {
            tracing::warn!(detection = %spec.slug, "{w}");
        }
        let t = Instant::now();
        let (_, mut summary) = crate::risk::write_run(self.lake, &run, &[("total_detect", detect_ms)])?;
        summary
            .timings_ms
            .insert("write".to_string(), t.elapsed().as_millis() as u64);
        Ok(summary)
    }

    /// The window this run's mode and lengths give `spec`'s findings files (`1h`, `-splunk`):
    /// whether a stale or written window `w` is one this run would write.
    pub fn same_kind(&self, spec: &Spec) -> Result<impl Fn(&StaleWindow) -> bool> {
        let len = detect::human(detect::lengths(spec, &self.opts)?.0);
        let compat = self.opts.splunk_compat;
        Ok(move |w: &StaleWindow| w.window == len && w.splunk_compat == compat)
    }

    /// Re-runs the stale windows of every detection that match this run's mode and window
    /// length, then clears them; with `range`, only those ending inside it.
    pub fn rerun_stale(&self, range: Option<(DateTime<Utc>, DateTime<Utc>)>) -> Result<Vec<Summary>> {
        let mut out = Vec::new();
        for spec in &self.specs {
            let same = self.same_kind(spec)?;
            let todo: Vec<StaleWindow> = stale::read(self.lake, &spec.slug)?
                .into_iter()
                .filter(|w| same(w))
                .filter(|w| range.is_none_or(|(from, to)| w.window_end > from && w.window_end <= to))
                .collect();
            for w in &todo {
                out.push(self.one(spec, Some(w.window_end))?);
            }
            stale::clear(self.lake, &spec.slug, &todo)?;
        }
        Ok(out)
    }
}

/// The `detect --format json` output: `{"runs": [summary, …], "risk": …, "run_summary": …}`.
#[derive(serde::Serialize)]
struct Runs<'a> {
    runs: &'a [Summary],
    /// The risk step's evaluation, `null` when nothing ran.
    risk: Option<&'a crate::risk::RiskSummary>,
    /// Where the run summary went (`null` when no window ran) and what writing it cost.
    run_summary: Option<RunSummaryOutputs>,
}

/// The run summary's objects and the milliseconds its three objects took to build and write.
#[derive(serde::Serialize)]
pub struct RunSummaryOutputs {
    #[serde(flatten)]
    pub written: RunSummaryWritten,
    pub write_ms: f64,
}

/// Writes the run summary of `summaries` (every detection the run ran) and the risk step's
/// incidents; `chosen`: the `--detection`s asked for (none: all). `None` when no window ran.
pub fn write_run_summary(
    p: &Prepared,
    chosen: &[String],
    stale: bool,
    summaries: &[Summary],
    risk: Option<&crate::risk::RiskSummary>,
) -> Result<Option<RunSummaryOutputs>> {
    let t = Instant::now();
    let kind = RunKind {
        stale,
        subset: (!chosen.is_empty()).then(|| chosen.to_vec()),
        splunk_compat: p.opts.splunk_compat,
    };
    let incidents = risk.map(|r| r.incident_lines()).unwrap_or_default();
    let mut s = RunSummary::of(p.lake, summaries.to_vec(), incidents, &kind);
    let written = run_summary::write(p.lake, &mut s, &kind)?;
    Ok(written.map(|()| RunSummaryOutputs {
        written: s.outputs,
        write_ms: t.elapsed().as_secs_f64() * 1000.0,
    }))
}

/// The risk step after detection runs: the 24 h risk of every object at each window end the
/// summaries name (see `risk::after_detect`); `null` when nothing ran.
pub fn risk_step(p: &Prepared, c: &DetectCommon, summaries: &[Summary]) -> Result<Option<crate::risk::RiskSummary>> {
    let ends: Vec<DateTime<Utc>> = summaries
        .iter()
        .filter_map(|s| crate::config::parse_instant(&s.window_end).ok())
        .collect();
    super::risk::after_detect(p.lake, &ends, p.opts.splunk_compat, c.queries.as_deref())
}

pub fn run(a: DetectArgs, store: &StoreOptions) -> Result<i32> {
    let lake = super::open_lake(&a.common.lake, store, false)?;
    super::locked(&lake, store, "detect", |lake| detect(&a, lake))
}

fn detect(a: &DetectArgs, lake: &Location) -> Result<i32> {
    let p = Prepared::new(&a.common, lake)?;
    if let Some(at) = a.at {
        super::not_before_2000(at, "--at")?;
    }
    if a.stale && a.at.is_some() {
        bail!("--stale re-runs the windows marked stale by late data; it takes no --at");
    }
    let summaries = if a.stale { p.rerun_stale(None)? } else { p.window(a.at)? };
    let total: u64 = summaries.iter().map(|s| s.findings_count as u64).sum();
    let risk = risk_step(&p, &a.common, &summaries)?;
    let run_summary = write_run_summary(&p, &a.common.detections, a.stale, &summaries, risk.as_ref())?;
    match a.common.format {
        OutputFormat::Json => super::print_sorted_json(&Runs {
            runs: &summaries,
            risk: risk.as_ref(),
            run_summary,
        })?,
        OutputFormat::Ocsf => {
            let records: Vec<serde_json::Value> = summaries.iter().flat_map(|s| s.ocsf.iter().cloned()).collect();
            std::io::stdout().lock().write_all(&report::ocsf::jsonl(&records))?;
        }
        OutputFormat::Table => {
            print_table(&summaries);
            if let Some(r) = &risk {
                print!("{}", crate::risk::table(r));
            }
            if let Some(o) = &run_summary {
                println!("run summary: {}", Escaped(&o.written.html));
            }
        }
    }
    Ok(findings_exit(a.common.fail_on_findings, total))
}

fn print_table(summaries: &[Summary]) {
    let mut o = std::io::stdout().lock();
    for s in summaries {
        let _ = write!(o, "{}", report::table(s));
        for w in &s.warnings {
            let _ = writeln!(o, "warning: {}", Escaped(w));
        }
        let inc = s.coverage.nodes_with_incomplete_baseline.len();
        if inc > 0 {
            let _ = writeln!(
                o,
                "note: {inc} node(s) lack full baseline history; their findings carry baseline_complete=false"
            );
        }
        let _ = writeln!(
            o,
            "findings: {}\nreport:   {}",
            Escaped(&s.outputs.findings),
            Escaped(&s.outputs.report_md)
        );
    }
}
