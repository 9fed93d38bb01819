//! The subcommands: CLI arguments → validated options → pipeline stages → exit code.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::cli::{self, BackfillArgs, Command, DemoArgs, DetectArgs, DetectCommon, GenerateArgs, LandArgs};
use crate::config::{fmt_instant, parse_duration, parse_instant, Clock};
use crate::detect::{self, allowlist::Allowlist, spec::Spec, DetectOptions};
use crate::lake::land::{self, LandOptions};
use crate::lake::lock::{LockError, LockOptions, WriterLock};
use crate::lake::rollup;
use crate::storage::{parse_timeout, Location, RetrySettings, StoreOptions};
use crate::{generate, ingest, report};

/// Exit codes (documented in README.md and `kubeseen --help`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const REJECTED_INPUT: i32 = 3;
    pub const FINDINGS: i32 = 4;
    /// The object store (or local folder) of the lake or an input failed, after the retries.
    pub const STORAGE: i32 = 5;
    /// Another run held the lake's writer lock past `--lock-timeout`, or this run lost it.
    pub const LOCKED: i32 = 6;
}

/// The exit code of a failed run: [`exit::STORAGE`] when a store failed (kubeseen's own
/// requests or Polars' scans), [`exit::LOCKED`] for the writer lock, else [`exit::ERROR`].
pub fn exit_code(e: &anyhow::Error) -> i32 {
    fn polars_store(e: &polars::prelude::PolarsError) -> bool {
        use polars::prelude::PolarsError as P;
        match e {
            P::IO { error, .. } => {
                let mut cur: Option<&(dyn std::error::Error + 'static)> = error.get_ref().map(|e| e as _);
                while let Some(c) = cur {
                    if c.is::<object_store::Error>() || c.is::<polars::io::cloud::PolarsObjectStoreError>() {
                        return true;
                    }
                    cur = c.source();
                }
                false
            }
            P::Context { error, .. } => polars_store(error),
            _ => false,
        }
    }
    for cause in e.chain() {
        if let Some(l) = cause.downcast_ref::<LockError>() {
            return match l {
                LockError::Busy(_) | LockError::Lost { storage: false, .. } => exit::LOCKED,
                LockError::Lost { storage: true, .. } | LockError::Storage(_) => exit::STORAGE,
            };
        }
        if let Some(o) = cause.downcast_ref::<object_store::Error>() {
            if !matches!(o, object_store::Error::NotFound { .. }) {
                return exit::STORAGE;
            }
        }
        if cause
            .downcast_ref::<polars::prelude::PolarsError>()
            .is_some_and(polars_store)
        {
            return exit::STORAGE;
        }
    }
    exit::ERROR
}

fn store_options(cli: &cli::Cli) -> Result<StoreOptions> {
    let d = |v: &str, flag: &str| parse_timeout(v).map_err(anyhow::Error::msg).context(flag.to_string());
    Ok(StoreOptions {
        s3_endpoint: cli.s3_endpoint.clone(),
        retry: RetrySettings {
            timeout: d(&cli.s3_timeout, "--s3-timeout")?,
            connect_timeout: d(&cli.s3_connect_timeout, "--s3-connect-timeout")?,
            max_retries: cli.s3_retries,
            retry_timeout: d(&cli.s3_retry_timeout, "--s3-retry-timeout")?,
            backoff: d(&cli.s3_retry_backoff, "--s3-retry-backoff")?,
        },
        lock_timeout: d(&cli.lock_timeout, "--lock-timeout")?,
        lock_ttl: d(&cli.lock_ttl, "--lock-ttl")?,
    })
}

/// Runs `f` holding the writer lock of the lake `spec` (see `lake::lock`). If the lock is
/// lost while held, the process stops at once with exit code 6 (5 if the store failed).
fn locked(
    spec: &str,
    store: &StoreOptions,
    command: &str,
    create: bool,
    f: impl FnOnce() -> Result<i32>,
) -> Result<i32> {
    // The error names the lake without credentials; `spec` may carry them.
    let lake = Location::open(spec, store, create).context("--lake")?;
    let opts = LockOptions {
        timeout: store.lock_timeout,
        ttl: store.lock_ttl,
        command: command.to_string(),
    };
    let lock = WriterLock::acquire(
        &lake,
        &opts,
        Some(Box::new(|e: &LockError| {
            eprintln!("kubeseen: error: {e}");
            std::process::exit(match e {
                LockError::Lost { storage: true, .. } => exit::STORAGE,
                _ => exit::LOCKED,
            });
        })),
    )?;
    let code = f()?;
    match lock.release() {
        Err(LockError::Storage(e)) => {
            // The work is done; the next run takes the lock over (at once on this host).
            tracing::warn!("could not release the writer lock of {}: {e}", lake.display());
        }
        other => other?,
    }
    Ok(code)
}

/// `e` and its causes on one line, each cause once: object_store's messages already hold
/// their sources, which the chain would repeat.
pub fn error_message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

pub fn run(cli: cli::Cli) -> Result<i32> {
    let store = store_options(&cli)?;
    match cli.command {
        Command::Land(a) if a.decode_only => land_cmd(a, &store),
        Command::Land(a) => locked(&a.lake.clone(), &store, "land", true, || land_cmd(a, &store)),
        Command::Detect(a) => locked(&a.common.lake.clone(), &store, "detect", false, || {
            detect_cmd(a, &store)
        }),
        Command::Backfill(a) => locked(&a.common.lake.clone(), &store, "backfill", false, || {
            backfill_cmd(a, &store)
        }),
        Command::Generate(a) => generate_cmd(a, &store),
        Command::Demo(a) => demo_cmd(a),
        Command::Compact(a) => locked(&a.lake.clone(), &store, "compact", false, || compact_cmd(a, &store)),
        Command::Risk(a) => locked(&a.lake.clone(), &store, "risk", false, || {
            crate::risk::cmd::run(a, &store)
        }),
    }
}

fn clock(now: &Option<String>) -> Result<Clock> {
    Ok(match now {
        Some(s) => Clock::fixed(parse_instant(s).map_err(anyhow::Error::msg).context("--now")?),
        None => Clock::system(),
    })
}

/// Windows end after 2000: land rejects earlier points, and findings and reports are named by
/// the window's date, which must stay `YYYY-MM-DD` (year 0 would make `date=-0001-12-31`).
fn not_before_2000(t: DateTime<Utc>, flag: &str) -> Result<()> {
    let min = DateTime::<Utc>::from_timestamp(946_684_800, 0).unwrap_or_default();
    if t < min {
        bail!(
            "{flag} {}: before 2000-01-01, where the lake holds no data (land rejects earlier points)",
            fmt_instant(t)
        );
    }
    Ok(())
}

fn land_cmd(a: LandArgs, store: &StoreOptions) -> Result<i32> {
    let clock = clock(&a.now)?;
    let inputs = ingest::discover(&a.inputs, store)?;
    if a.decode_only {
        let r = land::decode_only(&inputs, a.max_input_bytes);
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(exit::OK);
    }
    let lake = Location::open(&a.lake, store, true).context("--lake")?;
    crate::lake::sweep_staging(&lake, crate::lake::STAGING_MAX_AGE);
    let opts = LandOptions {
        max_input_bytes: a.max_input_bytes,
        now: clock.now(),
        max_future: parse_duration(&a.max_future)
            .map_err(anyhow::Error::msg)
            .context("--max-future")?,
        progress: !a.json,
        flush_bytes: a.flush_bytes,
    };
    let mut report = if a.no_rollups {
        land::land(&lake, &inputs, &opts)?
    } else {
        land_and_roll(&lake, &inputs, &opts)?
    };
    report.peak_rss_bytes = land::peak_rss_bytes();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_land(&report);
    }
    Ok(if report.had_rejections() {
        exit::REJECTED_INPUT
    } else {
        exit::OK
    })
}

/// Lands `inputs`, marking the findings already written for windows these points fall into as
/// stale before the points are written (a crash cannot lose a mark), then rebuilds the rollups
/// of the hours it touched (the built-in detections' shape), so the next detection reads those
/// hours compactly. Touched, not only written: a re-run of a killed landing finds its points
/// already there and must still finish their rollups.
fn land_and_roll(lake: &Location, inputs: &[ingest::Input], opts: &LandOptions) -> Result<land::LandReport> {
    let specs = detect::spec::load(None)?;
    let mut markers = Vec::new();
    for spec in &specs {
        markers.push(report::stale::Marker::new(&spec.slug, detect::reach(spec)?));
    }
    let mut marked = 0u64;
    let mut report = land::land_with(lake, inputs, opts, &mut |partitions| {
        for m in &mut markers {
            marked += m.mark(lake, partitions)? as u64;
        }
        Ok(())
    })?;
    report.stale_windows_marked = marked;
    let t = Instant::now();
    let shape = detect::spec::rollup_shape(&specs);
    rollup::refresh(lake, &shape, &report.touched)?;
    report.rollup_seconds = t.elapsed().as_secs_f64();
    Ok(report)
}

fn compact_cmd(a: cli::CompactArgs, store: &StoreOptions) -> Result<i32> {
    // The error names the lake without credentials; `a.lake` may carry them.
    let lake = Location::open(&a.lake, store, false).context("--lake")?;
    crate::lake::sweep_staging(&lake, crate::lake::STAGING_MAX_AGE);
    let from = a
        .from
        .as_deref()
        .map(parse_instant)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("--from")?;
    let to =
        a.to.as_deref()
            .map(parse_instant)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--to")?;
    let (parts, _) = crate::lake::list_parts(&lake)?;
    let parts: Vec<_> = parts
        .into_iter()
        .filter(|p| {
            from.is_none_or(|f| p.partition.start() + Duration::hours(1) > f)
                && to.is_none_or(|t| p.partition.start() < t)
        })
        .collect();
    let shape = detect::spec::rollup_shape(&detect::spec::load(a.queries.as_deref())?);
    let r = rollup::compact(&lake, &shape, &parts)?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    Ok(exit::OK)
}

fn print_land(r: &land::LandReport) {
    println!(
        "landed {} of {} points from {} files into {} ({} duplicates skipped, {} rejected) — {} objects in {} partitions, {:.1}s, {:.0} points/s",
        r.points_landed,
        r.points_read,
        r.files_read,
        r.lake,
        r.points_duplicate,
        r.points_rejected,
        r.objects_written,
        r.partitions_written,
        r.elapsed_seconds,
        r.points_per_second
    );
    for p in &r.inputs_with_problems {
        let first = p
            .problems
            .first()
            .map(|x| format!("{} at {}: {}", x.reason, x.position, x.detail))
            .unwrap_or_default();
        eprintln!("rejected (in part or whole): {}: {first}", p.input);
    }
}

struct Prepared {
    lake: Location,
    specs: Vec<Spec>,
    opts: DetectOptions,
}

fn prepare(c: &DetectCommon, store: &StoreOptions) -> Result<Prepared> {
    let clock = clock(&c.now)?;
    // The error names the lake without credentials; `c.lake` may carry them.
    let lake = Location::open(&c.lake, store, false).context("--lake")?;
    crate::lake::sweep_staging(&lake, crate::lake::STAGING_MAX_AGE);
    let all = detect::spec::load(c.queries.as_deref())?;
    let all_specs = all.clone();
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
    let dur = |s: &Option<String>, flag: &str| -> Result<Option<Duration>> {
        s.as_deref()
            .map(|s| {
                parse_duration(s)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| flag.to_string())
            })
            .transpose()
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
            window: dur(&c.window, "--window")?,
            baseline: dur(&c.baseline, "--baseline")?,
            splunk_compat: c.splunk_compat,
            allowlist,
            clock,
            rollups: (!c.no_rollups).then(|| detect::spec::rollup_shape(&all_specs)),
        },
    })
}

/// Runs every prepared detection for the window ending at `at`; returns the summaries.
fn detect_window(p: &Prepared, at: Option<DateTime<Utc>>) -> Result<Vec<serde_json::Value>> {
    p.specs.iter().map(|spec| detect_one(p, spec, at)).collect()
}

/// Runs one detection for one window and writes its findings and report.
fn detect_one(p: &Prepared, spec: &Spec, at: Option<DateTime<Utc>>) -> Result<serde_json::Value> {
    let opts = DetectOptions { at, ..p.opts.clone() };
    let t = Instant::now();
    let run = detect::run(&p.lake, spec, &opts)?;
    let detect_ms = t.elapsed().as_millis() as u64;
    for w in &run.warnings {
        tracing::warn!(detection = %spec.slug, "{w}");
    }
    let t = Instant::now();
    let (_, mut summary) = crate::risk::write_run(&p.lake, &run, &[("total_detect", detect_ms)])?;
    summary["timings_ms"]["write"] = json!(t.elapsed().as_millis() as u64);
    Ok(summary)
}

/// Re-runs the stale windows of every prepared detection that match this run's mode and
/// window length, then clears them; with `range`, only those ending inside it.
fn rerun_stale(p: &Prepared, range: Option<(DateTime<Utc>, DateTime<Utc>)>) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for spec in &p.specs {
        let len = detect::human(detect::lengths(spec, &p.opts)?.0);
        let todo: Vec<report::stale::StaleWindow> = report::stale::read(&p.lake, &spec.slug)?
            .into_iter()
            .filter(|w| w.window == len && w.splunk_compat == p.opts.splunk_compat)
            .filter(|w| range.is_none_or(|(from, to)| w.window_end > from && w.window_end <= to))
            .collect();
        for w in &todo {
            out.push(detect_one(p, spec, Some(w.window_end))?);
        }
        report::stale::clear(&p.lake, &spec.slug, &todo)?;
    }
    Ok(out)
}

/// The risk step after detection runs: the 24 h risk of every object at each window end the
/// runs wrote (see `risk::cmd::after_detect`); `null` when nothing ran.
fn risk_step(p: &Prepared, c: &DetectCommon, summaries: &[serde_json::Value]) -> Result<serde_json::Value> {
    let ends: Vec<DateTime<Utc>> = summaries
        .iter()
        .filter_map(|s| s["window_end"].as_str().and_then(|t| parse_instant(t).ok()))
        .collect();
    if ends.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    crate::risk::cmd::after_detect(&p.lake, &ends, p.opts.splunk_compat, c.queries.as_deref())
}

fn detect_cmd(a: DetectArgs, store: &StoreOptions) -> Result<i32> {
    let p = prepare(&a.common, store)?;
    let at =
        a.at.as_deref()
            .map(parse_instant)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--at")?;
    if let Some(at) = at {
        not_before_2000(at, "--at")?;
    }
    if a.stale && at.is_some() {
        bail!("--stale re-runs the windows marked stale by late data; it takes no --at");
    }
    let summaries = if a.stale {
        rerun_stale(&p, None)?
    } else {
        detect_window(&p, at)?
    };
    let total: u64 = summaries
        .iter()
        .map(|s| s["findings_count"].as_u64().unwrap_or(0))
        .sum();
    let risk = risk_step(&p, &a.common, &summaries)?;
    match a.common.format {
        cli::OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"runs": summaries, "risk": risk}))?
        ),
        cli::OutputFormat::Table => {
            let mut o = std::io::stdout().lock();
            for s in &summaries {
                let _ = write!(o, "{}", report::table(s));
                for w in s["warnings"].as_array().into_iter().flatten() {
                    let _ = writeln!(o, "warning: {}", w.as_str().unwrap_or_default());
                }
                let inc = s["coverage"]["nodes_with_incomplete_baseline"]
                    .as_array()
                    .map_or(0, Vec::len);
                if inc > 0 {
                    let _ = writeln!(
                        o,
                        "note: {inc} node(s) lack full baseline history; their findings carry baseline_complete=false"
                    );
                }
                let _ = writeln!(
                    o,
                    "findings: {}\nreport:   {}",
                    s["outputs"]["findings"].as_str().unwrap_or(""),
                    s["outputs"]["report_md"].as_str().unwrap_or("")
                );
            }
            if !risk.is_null() {
                let _ = write!(o, "{}", crate::risk::table(&risk));
            }
        }
    }
    Ok(if a.common.fail_on_findings && total > 0 {
        exit::FINDINGS
    } else {
        exit::OK
    })
}

fn backfill_cmd(a: BackfillArgs, store: &StoreOptions) -> Result<i32> {
    let p = prepare(&a.common, store)?;
    let from = parse_instant(&a.from).map_err(anyhow::Error::msg).context("--from")?;
    not_before_2000(from, "--from")?;
    let to = parse_instant(&a.to).map_err(anyhow::Error::msg).context("--to")?;
    let every = parse_duration(&a.every)
        .map_err(anyhow::Error::msg)
        .context("--every")?;
    if to <= from {
        bail!("--to {} must be after --from {}", fmt_instant(to), fmt_instant(from));
    }
    if a.stale_only {
        let summaries = rerun_stale(&p, Some((from, to)))?;
        let total: u64 = summaries
            .iter()
            .map(|s| s["findings_count"].as_u64().unwrap_or(0))
            .sum();
        let per_window: Vec<serde_json::Value> = summaries
            .iter()
            .map(|s| json!({"detection": s["detection"], "window_end": s["window_end"], "findings": s["findings_count"]}))
            .collect();
        let risk = risk_step(&p, &a.common, &summaries)?;
        let summary = json!({"from": fmt_instant(from), "to": fmt_instant(to), "stale_only": true, "windows": per_window.len(), "findings": total, "per_window": per_window, "risk": risk});
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(if a.common.fail_on_findings && total > 0 {
            exit::FINDINGS
        } else {
            exit::OK
        });
    }
    let mut ends = Vec::new();
    let mut t = from + every;
    while t <= to {
        ends.push(t);
        t += every;
    }
    let bar = {
        use std::io::IsTerminal;
        (std::io::stderr().is_terminal() && a.common.format == cli::OutputFormat::Table).then(|| {
            let b = indicatif::ProgressBar::new((ends.len() * p.specs.len()) as u64);
            if let Ok(s) = indicatif::ProgressStyle::with_template(
                "{spinner} backfill [{bar:30}] {pos}/{len} windows {per_sec} eta {eta} {msg}",
            ) {
                b.set_style(s);
            }
            b
        })
    };
    let started = Instant::now();
    // One pass over the range finds the windows that have new keys; only those are run in
    // full. The others get the empty findings a separate run would write.
    let mut with_findings = Vec::new();
    for spec in &p.specs {
        with_findings.push(detect::windows_with_new_keys(&p.lake, spec, &p.opts, &ends)?);
    }
    let single_pass = with_findings.iter().all(Option::is_some);
    // --resume: windows whose findings are written and not stale are up to date; skip them.
    let mut done: Vec<std::collections::BTreeSet<DateTime<Utc>>> = Vec::new();
    for spec in &p.specs {
        let mut set = std::collections::BTreeSet::new();
        if a.resume {
            let len = detect::human(detect::lengths(spec, &p.opts)?.0);
            for w in report::stale::up_to_date(&p.lake, &spec.slug, from, to)? {
                if w.window == len && w.splunk_compat == p.opts.splunk_compat {
                    set.insert(w.window_end);
                }
            }
        }
        done.push(set);
    }
    let skipped: usize = done.iter().map(|d| d.len()).sum();
    // Windows the single pass cleared: the same empty findings for every one of them (built
    // once per detection), written by a few threads since each is three small puts.
    let mut per_window: Vec<(DateTime<Utc>, String, u64)> = Vec::new();
    for ((spec, found), done) in p.specs.iter().zip(&with_findings).zip(&done) {
        let Some(set) = found else { continue };
        let empty_ends: Vec<DateTime<Utc>> = ends
            .iter()
            .filter(|e| !set.contains(e) && !done.contains(e))
            .copied()
            .collect();
        let Some(first) = empty_ends.first() else { continue };
        let template = detect::empty_findings(spec, &p.opts, *first)?;
        let written: Vec<Result<DateTime<Utc>>> = std::thread::scope(|scope| {
            let chunks: Vec<&[DateTime<Utc>]> = empty_ends.chunks(empty_ends.len().div_ceil(4)).collect();
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let (template, lake, bar) = (&template, &p.lake, &bar);
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|end| {
                                let mut run = template.clone_for(*end);
                                run.timings_ms.clear();
                                crate::risk::write_run(lake, &run, &[])?;
                                if let Some(b) = bar {
                                    b.inc(1);
                                }
                                Ok(*end)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join()
                        .unwrap_or_else(|_| vec![Err(anyhow::anyhow!("a writer thread panicked"))])
                })
                .collect()
        });
        for w in written {
            per_window.push((w?, spec.slug.clone(), 0));
        }
    }
    let mut total = 0u64;
    for end in &ends {
        for ((spec, found), done) in p.specs.iter().zip(&with_findings).zip(&done) {
            if found.as_ref().is_some_and(|set| !set.contains(end)) || done.contains(end) {
                continue;
            }
            let s = detect_one(&p, spec, Some(*end))?;
            let n = s["findings_count"].as_u64().unwrap_or(0);
            total += n;
            per_window.push((*end, spec.slug.clone(), n));
            if let Some(b) = &bar {
                b.inc(1);
                b.set_message(format!("{total} findings"));
            }
        }
    }
    per_window.sort();
    let per_window: Vec<serde_json::Value> = per_window
        .into_iter()
        .map(|(end, detection, n)| json!({"detection": detection, "window_end": fmt_instant(end), "findings": n}))
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // The risk step at every window end of the range, in one pass (as hourly runs would).
    let risk = if ends.is_empty() {
        serde_json::Value::Null
    } else {
        crate::risk::cmd::after_detect(&p.lake, &ends, p.opts.splunk_compat, a.common.queries.as_deref())?
    };
    let summary = json!({
        "risk": risk,
        "from": fmt_instant(from), "to": fmt_instant(to), "every": a.every,
        "windows": ends.len(), "findings": total, "single_pass": single_pass, "skipped_up_to_date": skipped,
        "elapsed_seconds": started.elapsed().as_secs_f64(),
        "per_window": per_window,
    });
    match a.common.format {
        cli::OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        cli::OutputFormat::Table => {
            for w in per_window.iter().filter(|w| w["findings"].as_u64().unwrap_or(0) > 0) {
                println!(
                    "{} {} {} finding(s)",
                    w["window_end"].as_str().unwrap_or(""),
                    w["detection"].as_str().unwrap_or(""),
                    w["findings"]
                );
            }
            println!(
                "backfilled {} windows in {:.1}s: {total} findings",
                ends.len(),
                started.elapsed().as_secs_f64()
            );
            if !summary["risk"].is_null() {
                print!("{}", crate::risk::table(&summary["risk"]));
            }
        }
    }
    Ok(if a.common.fail_on_findings && total > 0 {
        exit::FINDINGS
    } else {
        exit::OK
    })
}

fn gen_options(a: &GenerateArgs, end: DateTime<Utc>) -> Result<generate::GenerateOptions> {
    Ok(generate::GenerateOptions {
        clusters: a.clusters,
        nodes: a.nodes,
        processes: a.processes,
        days: a.days,
        interval: parse_duration(&a.interval)
            .map_err(anyhow::Error::msg)
            .context("--interval")?,
        end,
        seed: a.seed,
        format: match a.format {
            cli::GenFormat::OtlpJson => generate::OutputFormat::OtlpJson,
            cli::GenFormat::OtlpJsonGz => generate::OutputFormat::OtlpJsonGz,
            cli::GenFormat::OtlpProto => generate::OutputFormat::OtlpProto,
            cli::GenFormat::Lake => generate::OutputFormat::Lake,
        },
        layout: match a.layout {
            cli::GenLayout::FileExporter => generate::Layout::FileExporter,
            cli::GenLayout::S3Exporter => generate::Layout::S3Exporter,
        },
        utilization: a.utilization,
    })
}

fn generate_cmd(a: GenerateArgs, store: &StoreOptions) -> Result<i32> {
    let end = match &a.end {
        Some(s) => parse_instant(s).map_err(anyhow::Error::msg).context("--end")?,
        None => Clock::system().last_full_hour(),
    };
    let opts = gen_options(&a, end)?;
    let out = Location::open(&a.out, store, true).context("--out")?;
    let summary = generate::generate(&opts, &out, true)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(exit::OK)
}

/// The demo's dataset: small enough to generate, land and detect in well under two minutes on
/// two cores, large enough to look like a cluster (31 days, 2 clusters of 3 nodes).
fn demo_generate_args(dir: &Path) -> GenerateArgs {
    GenerateArgs {
        out: dir.join("exports").display().to_string(),
        clusters: 2,
        nodes: 3,
        processes: 12,
        days: 31,
        interval: "300s".into(),
        end: None,
        seed: 7,
        format: cli::GenFormat::OtlpJsonGz,
        layout: cli::GenLayout::FileExporter,
        utilization: false,
    }
}

fn demo_cmd(a: DemoArgs) -> Result<i32> {
    let started = Instant::now();
    let store = StoreOptions::default();
    let clock = Clock::system();
    let end = clock.last_full_hour();
    let g = demo_generate_args(&a.dir);
    let opts = gen_options(&g, end)?;
    let stamp_path = a.dir.join("demo.json");
    let stamp = json!({"end": fmt_instant(end), "args": format!("{g:?}")});
    let reuse = !a.fresh
        && std::fs::read_to_string(&stamp_path)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            == Some(stamp.clone());
    let lake_dir = a.dir.join("lake");
    if !reuse {
        if a.dir.exists() {
            std::fs::remove_dir_all(&a.dir).with_context(|| format!("clearing {}", a.dir.display()))?;
        }
        println!("[1/5] generating 31 days of process, container and network metrics for 2 clusters × 3 nodes (OTLP/JSON, gzip, file-exporter layout) …");
        let out = Location::open(&g.out, &store, true)?;
        let t = Instant::now();
        let s = generate::generate(&opts, &out, true)?;
        println!(
            "      {} points in {} files ({:.1} MB) in {:.1}s",
            s.points,
            s.files,
            s.bytes as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
    } else {
        println!(
            "[1/5] reusing the data generated for {} in {}",
            fmt_instant(end),
            a.dir.display()
        );
    }
    println!("[2/5] landing the exports into {} …", lake_dir.display());
    let lake = Location::open(&lake_dir.display().to_string(), &store, true)?;
    let inputs = ingest::discover(std::slice::from_ref(&g.out), &store)?;
    let inputs: Vec<_> = inputs
        .into_iter()
        .filter(|i| !i.name.ends_with(generate::GROUND_TRUTH))
        .collect();
    let lr = land_and_roll(
        &lake,
        &inputs,
        &LandOptions {
            now: clock.now(),
            progress: true,
            ..LandOptions::default()
        },
    )?;
    print_land(&lr);
    if lr.had_rejections() {
        bail!(
            "the demo's own exports were rejected in part: {:?}",
            lr.points_rejected_by_reason
        );
    }
    std::fs::write(&stamp_path, serde_json::to_vec_pretty(&stamp)?)?;

    println!(
        "[3/5] running the {} detections for the last hour [{} .. {}) …",
        detect::spec::BUILTIN.len(),
        fmt_instant(end - Duration::hours(1)),
        fmt_instant(end)
    );
    let p = Prepared {
        lake: lake.clone(),
        specs: detect::spec::load(None)?,
        opts: DetectOptions {
            at: Some(end),
            window: None,
            baseline: None,
            splunk_compat: false,
            allowlist: None,
            clock,
            rollups: Some(detect::spec::rollup_shape(&detect::spec::load(None)?)),
        },
    };
    let summaries = detect_window(&p, Some(end))?;
    for s in &summaries {
        print!("{}", report::table(s));
    }

    println!("[4/5] checking the injected scenarios against the findings …");
    let truth_bytes =
        std::fs::read(Path::new(&g.out).join(generate::GROUND_TRUTH)).context("reading the demo's ground truth")?;
    let ground_truth = generate::GroundTruth::from_json(&truth_bytes).context("parsing the demo's ground truth")?;
    let truth = ground_truth.scenarios;
    // Findings as (detection, row); only the detections that ran are checked.
    let found: Vec<(&str, &serde_json::Value)> = summaries
        .iter()
        .flat_map(|s| {
            let detection = s["detection"].as_str().unwrap_or("");
            s["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |f| (detection, f))
        })
        .collect();
    let ran: std::collections::BTreeSet<&str> = summaries.iter().filter_map(|s| s["detection"].as_str()).collect();
    // Key columns compare as text (a pid may be an integer in the findings).
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let matches = |sc: &generate::Scenario, detection: &str, f: &serde_json::Value| {
        sc.detection == detection && sc.key.iter().all(|(col, v)| text(&f[col.as_str()]) == *v)
    };
    let mut missed = 0;
    let mut not_run = 0;
    for sc in &truth {
        if !ran.contains(sc.detection.as_str()) {
            not_run += 1;
            continue;
        }
        let hit = found.iter().any(|(d, f)| matches(sc, d, f));
        let ok = hit == sc.expect_finding;
        if !ok {
            missed += 1;
        }
        println!(
            "  {} {:<36} {:<24} {} {}",
            if ok { "ok  " } else { "FAIL" },
            sc.name,
            sc.detection,
            if sc.expect_finding { "found  " } else { "not new" },
            generate::key_values(sc).join(" ")
        );
    }
    if not_run > 0 {
        println!("  ({not_run} expectation(s) of detections not run here are not checked)");
    }
    let unexpected: Vec<_> = found
        .iter()
        .filter(|(d, f)| !truth.iter().any(|sc| matches(sc, d, f)))
        .collect();
    for (d, f) in &unexpected {
        println!("  EXTRA {d} finding not in the ground truth: {f}");
    }
    for s in &summaries {
        println!(
            "findings: {}\nreport:   {}",
            s["outputs"]["findings"].as_str().unwrap_or(""),
            s["outputs"]["report_md"].as_str().unwrap_or("")
        );
    }
    // Risk: the findings rolled up per node over 24 h; the labelled nodes checked.
    println!("[5/5] risk: adding up the findings per object over the 24 h before the end …");
    let risk = crate::risk::cmd::after_detect(&lake, &[end], false, None)?;
    print!("{}", crate::risk::table(&risk));
    let (lines, risk_missed) = crate::risk::cmd::demo_check(&ground_truth.risk, &risk);
    for l in lines {
        println!("{l}");
    }
    println!("incidents: {}", risk["outputs"]["report_md"].as_str().unwrap_or(""));
    println!("lake:     {}", lake_dir.display());
    println!("done in {:.1}s", started.elapsed().as_secs_f64());
    if risk_missed > 0 {
        bail!("{risk_missed} risk label(s) not as expected");
    }
    if missed > 0 || !unexpected.is_empty() {
        bail!(
            "{missed} scenario(s) not as expected and {} unexpected finding(s)",
            unexpected.len()
        );
    }
    println!("every injected scenario was found, and nothing else.");
    Ok(exit::OK)
}
