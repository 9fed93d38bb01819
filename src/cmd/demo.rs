//! `kubeseen demo`: generate a small dataset, land it, detect the last hour, check every
//! injected scenario against the findings (the ground truth's own comparison), and roll the
//! findings up into risk incidents checked against the ground truth's risk labels.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};

use super::detect::Prepared;
use super::exit;
use crate::cli::{self, DemoArgs, GenerateArgs};
use crate::config::{fmt_instant, Clock};
use crate::detect::{self, DetectOptions};
use crate::lake::land::LandOptions;
use crate::report::{self, Summary};
use crate::storage::{Location, StoreOptions};
use crate::text::Escaped;
use crate::{generate, ingest, lake};

/// The demo's dataset: small enough to generate, land and detect in well under two minutes on
/// two cores, large enough to look like a cluster (31 days, 2 clusters of 3 nodes).
fn generate_args(dir: &Path) -> GenerateArgs {
    GenerateArgs {
        out: dir.join("exports").display().to_string(),
        clusters: 2,
        nodes: 3,
        processes: 12,
        days: 31,
        interval: Duration::seconds(300),
        end: None,
        seed: 7,
        format: cli::GenFormat::OtlpJsonGz,
        layout: cli::GenLayout::FileExporter,
        utilization: false,
    }
}

/// The demo writes its lake under the lake's writer lock, taken before anything in its folder
/// is cleared or written.
pub fn run(a: DemoArgs, store: &StoreOptions) -> Result<i32> {
    let lake = Location::open(&a.dir.join("lake").display().to_string(), store, true)?;
    super::locked(&lake, store, "demo", |lake| run_locked(&a, lake, store))
}

/// Removes everything under `dir` except `keep` (and the folders leading to it).
fn remove_all_but(dir: &Path, keep: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p == keep {
            continue;
        }
        if keep.starts_with(&p) {
            remove_all_but(&p, keep)?;
        } else if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

fn run_locked(a: &DemoArgs, lake: &Location, store: &StoreOptions) -> Result<i32> {
    let started = Instant::now();
    let store = store.clone();
    let clock = Clock::system();
    let end = clock.last_full_hour();
    let g = generate_args(&a.dir);
    let lake_dir = a.dir.join("lake");
    // `ground_truth`: where this version keeps it (older demos kept it among the exports).
    let stamp =
        serde_json::json!({"end": fmt_instant(end), "args": format!("{g:?}"), "ground_truth": "beside the exports"});
    let stamp_path = a.dir.join("demo.json");
    let reuse = !a.fresh
        && std::fs::read_to_string(&stamp_path)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            == Some(stamp.clone());
    let out = Location::open(&g.out, &store, true)?;
    let truth_at = generate::ground_truth_beside(&g.out, &out, &store)?;
    generate_data(a, &g, end, reuse, &store, &truth_at)?;
    println!(
        "[2/5] landing the exports into {} …",
        Escaped(&lake_dir.display().to_string())
    );
    land(lake, &g, clock, &store)?;
    std::fs::write(&stamp_path, serde_json::to_vec_pretty(&stamp)?)?;

    println!(
        "[3/5] running the {} detections for the last hour [{} .. {}) …",
        detect::spec::BUILTIN.len(),
        fmt_instant(end - Duration::hours(1)),
        fmt_instant(end)
    );
    let specs = detect::spec::load(None)?;
    let p = Prepared {
        lake,
        opts: DetectOptions {
            at: Some(end),
            window: None,
            baseline: None,
            splunk_compat: false,
            allowlist: None,
            clock,
            rollups: Some(detect::spec::rollup_shape(&specs)),
        },
        specs,
    };
    let summaries = p.window(Some(end))?;
    for s in &summaries {
        print!("{}", report::table(s));
    }
    println!("[4/5] checking the injected scenarios against the findings …");
    let ok = check(&truth_at, &summaries)?;
    for s in &summaries {
        println!(
            "findings: {}\nreport:   {}",
            Escaped(&s.outputs.findings),
            Escaped(&s.outputs.report_md)
        );
    }
    // Risk: the findings rolled up per object over 24 h; the labelled nodes checked.
    println!("[5/5] risk: adding up the findings per object over the 24 h before the end …");
    let Some(risk) = super::risk::after_detect(lake, &[end], false, None)? else {
        bail!("the risk step evaluated nothing");
    };
    print!("{}", crate::risk::table(&risk));
    let truth_bytes = truth_at
        .location
        .get(&truth_at.key)
        .context("reading the demo's ground truth")?;
    let labels = generate::GroundTruth::from_json(&truth_bytes)
        .context("parsing the demo's ground truth")?
        .risk;
    let (lines, risk_missed) = super::risk::demo_check(&labels, &risk);
    for l in lines {
        println!("{l}");
    }
    if let Some(o) = &risk.outputs {
        println!("incidents: {}", Escaped(&o.report_md));
    }
    if let Some(o) = super::detect::write_run_summary(&p, &[], false, &summaries, Some(&risk))? {
        println!("run summary: {}", Escaped(&o.written.html));
    }
    println!("lake:     {}", Escaped(&lake_dir.display().to_string()));
    println!("done in {:.1}s", started.elapsed().as_secs_f64());
    ok?;
    if risk_missed > 0 {
        bail!("{risk_missed} risk label(s) not as expected");
    }
    println!("every injected scenario was found, and nothing else.");
    Ok(exit::OK)
}

/// Step 1: generates the exports, unless this demo's data is there already (`reuse`).
fn generate_data(
    a: &DemoArgs,
    g: &GenerateArgs,
    end: DateTime<Utc>,
    reuse: bool,
    store: &StoreOptions,
    truth_at: &generate::TruthAt,
) -> Result<()> {
    if reuse {
        println!(
            "[1/5] reusing the data generated for {} in {}",
            fmt_instant(end),
            Escaped(&a.dir.display().to_string())
        );
        return Ok(());
    }
    // Everything but the writer lock this run holds.
    let lock = a.dir.join("lake").join(crate::lake::lock::WRITER);
    remove_all_but(&a.dir, &lock).with_context(|| format!("clearing {}", a.dir.display()))?;
    println!("[1/5] generating 31 days of process, container and network metrics for 2 clusters × 3 nodes (OTLP/JSON, gzip, file-exporter layout) …");
    let out = Location::open(&g.out, store, true)?;
    let t = Instant::now();
    let s = generate::generate(&super::generate::options(g, end), &out, truth_at, true)?;
    println!(
        "      {} points in {} files ({:.1} MB) in {:.1}s",
        s.points,
        s.files,
        s.bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Step 2: lands the exports (the folder holds nothing else: the ground truth is beside it)
/// with the built-in detections' follow-up.
fn land(lake: &Location, g: &GenerateArgs, clock: Clock, store: &StoreOptions) -> Result<()> {
    let inputs = ingest::discover(std::slice::from_ref(&g.out), store)?;
    let opts = LandOptions {
        now: clock.now(),
        progress: true,
        ..LandOptions::default()
    };
    let follow = super::land::follow_up(&detect::spec::load(None)?);
    let lr = lake::followup::land_and_roll(lake, &inputs, &opts, &follow)?;
    super::land::print_report(&lr);
    if lr.had_rejections() {
        bail!(
            "the demo's own exports were rejected in part: {:?}",
            lr.points_rejected_by_reason
        );
    }
    Ok(())
}

/// Step 4: prints each expectation of the ground truth against the findings; the error (to
/// return once the outputs are listed) when any disagrees or a finding is unexpected.
fn check(truth_at: &generate::TruthAt, summaries: &[Summary]) -> Result<Result<()>> {
    let truth_bytes = truth_at
        .location
        .get(&truth_at.key)
        .context("reading the demo's ground truth")?;
    let truth = generate::GroundTruth::from_json(&truth_bytes)
        .context("parsing the demo's ground truth")?
        .scenarios;
    let found: Vec<(&str, &serde_json::Value)> = summaries
        .iter()
        .flat_map(|s| s.findings.iter().map(move |f| (s.detection.as_str(), f)))
        .collect();
    let ran: std::collections::BTreeSet<&str> = summaries.iter().map(|s| s.detection.as_str()).collect();
    let c = generate::compare(&truth, &found, &ran);
    for (sc, ok) in &c.checked {
        println!(
            "  {} {:<36} {:<24} {} {}",
            if *ok { "ok  " } else { "FAIL" },
            sc.name,
            sc.detection,
            if sc.expect_finding { "found  " } else { "not new" },
            Escaped(&generate::key_values(sc).join(" "))
        );
    }
    if c.not_run > 0 {
        println!(
            "  ({} expectation(s) of detections not run here are not checked)",
            c.not_run
        );
    }
    for (d, f) in &c.unexpected {
        println!(
            "  EXTRA {d} finding not in the ground truth: {}",
            Escaped(&f.to_string())
        );
    }
    let missed = c.missed();
    if missed > 0 || !c.unexpected.is_empty() {
        return Ok(Err(anyhow::anyhow!(
            "{missed} scenario(s) not as expected and {} unexpected finding(s)",
            c.unexpected.len()
        )));
    }
    Ok(Ok(()))
}
