//! The statistical family: values far above the entity's own history (z-score).
//!
//! In: the lake, a [`Spec`] of family `statistical` (see [`spec`]) and the window of `--at`.
//! Out: a [`Run`] whose findings hold one row per entity with more than `min_anomalies`
//! anomalies in the window, and whose [`Judged`] says how many entities were evaluated and
//! why the others were not.
//! Intent (default): the baseline of an entity is its bucket values over exactly
//! `[at − baseline, at − window)`, computed from raw points ([`plan`], the reference);
//! `--splunk-compat`: the SPL's weekly lookup ([`lookup`]) when the detection reads one, its
//! `mstats avg` of raw values and its `fillnull` semantics (see `spec::FillNull`).
//! Invariant: the same lake and `--at` give the same rows in the same order; nothing is
//! written here.

pub mod baseline;
pub mod logic;
pub mod lookup;
pub mod plan;
pub mod rollups;
pub mod spec;

pub use super::outcome::Judged;
pub use logic::{rollup_logics, StatLogic};

use std::collections::BTreeMap;
use std::time::Instant;

use polars::prelude::*;

use super::columns::finish_columns;
use super::outcome::{counts, last_point, query_error, DetectError, DetectOptions, Run};
use super::plan::{in_range, ts, Logic};
use super::spec::Spec;
use super::window::window_for;
use crate::config::fmt_instant;
use crate::lake::{self, scan, PartFile};
use crate::storage::Location;
use spec::FillNull;

/// Runs a statistical detection for the window of `opts`.
pub fn run(lake_loc: &Location, spec: &Spec, opts: &DetectOptions) -> Result<Run, DetectError> {
    let mut timings = BTreeMap::new();
    let l = StatLogic::of(spec, opts.splunk_compat)?;
    let logic = Logic::of(spec, opts.splunk_compat);
    let mut window = window_for(spec, opts)?;
    let q = query_error(&spec.slug);

    let t = Instant::now();
    scan::require_points(lake_loc)?;
    let lookup_run = l.lookup.as_ref().map(|_| lookup::last_run_before(window.end));
    if let Some(run_at) = lookup_run {
        (window.baseline_start, window.baseline_end) = lookup::data_window(run_at);
    }
    let current_files = lake::parts_between(lake_loc, window.start - l.lookback, window.end)?;
    timings.insert("list".to_string(), t.elapsed().as_millis() as u64);

    // 1. The baseline: (baseline key, name) → n, avg, stdev, first, last.
    let t = Instant::now();
    let read = baseline::read(lake_loc, &l, &window, lookup_run, opts.rollups.is_some(), &q)?;
    timings.insert("baseline".to_string(), t.elapsed().as_millis() as u64);
    let mut scanned = read.scanned;
    scanned.current_files = current_files.len() as u64;
    scanned.files += current_files.len() as u64;
    scanned.bytes += current_files.iter().map(|f| f.size).sum::<u64>();
    scanned.raw_files += current_files.len() as u64;
    scanned.raw_bytes += current_files.iter().map(|f| f.size).sum::<u64>();
    let baseline = read.table;

    // 2. The window's points (one read), unkeyed counts, tested values, judged.
    let t = Instant::now();
    let columns = plan::scan_columns(&l, &l.key);
    let metrics = Series::new(
        "m".into(),
        l.metrics.iter().map(|m| m.metric.clone()).collect::<Vec<_>>(),
    );
    let raw = super::plan::collect(
        scan::parts(lake_loc, &current_files, &columns)
            .map_err(&q)?
            .filter(
                in_range(window.start - l.lookback, window.end)
                    .and(col("metric").is_in(lit(metrics).implode(false), false)),
            )
            .select(super::plan::cols(&columns)),
    )
    .map_err(|e| baseline::corrupt(lake_loc, &current_files, e, &q))?;
    let in_window = raw.clone().lazy().filter(in_range(window.start, window.end));
    let mut unkeyed = counts(
        &super::plan::unkeyed_counts(in_window.clone(), &logic, None)
            .collect()
            .map_err(&q)?,
    );
    scanned.current_points = unkeyed.remove("points").unwrap_or(0);
    unkeyed.retain(|_, v| *v > 0);
    let judged = judged(raw.clone().lazy(), baseline.clone().lazy(), &l, &window).map_err(&q)?;
    timings.insert("current".to_string(), t.elapsed().as_millis() as u64);

    // 3. Findings, their baseline and context.
    let t = Instant::now();
    let entities = plan::entity_baseline(judged.clone().lazy(), &l).collect().map_err(&q)?;
    let found = findings(raw.lazy(), &judged, &entities, &l, &window).map_err(&q)?;
    let found = finish_columns(found, spec, &l.key, &window, evidence(), &l.context).map_err(&q)?;
    let series = chart_series(&judged, &found, &l).map_err(&q)?;
    timings.insert("findings".to_string(), t.elapsed().as_millis() as u64);

    let mut counted = Judged {
        baseline: if l.lookup.is_some() { "lookup" } else { "inline" }.to_string(),
        lookup: l.lookup.as_ref().map(|x| x.name.clone()),
        lookup_run: lookup_run.map(fmt_instant),
        k: l.k,
        min_anomalies: l.min_anomalies,
        count: l.count,
        min_baseline_buckets: l.min_baseline_buckets,
        tested: l.tested(),
        series: Some(series),
        lookup_table: read.built,
        baseline_table: Some(baseline),
        ..Judged::default()
    };
    tally(&entities, &mut counted);

    let mut run = Run::new(spec, opts, window, found);
    run.scanned = scanned;
    run.unkeyed_current = unkeyed;
    run.warnings = warnings(&window, &current_files, read.files);
    run.timings_ms = timings;
    run.last_point = last_point(in_window);
    run.statistical = Some(counted);
    run.allowlist(opts, &l.key)?;
    Ok(run)
}

fn warnings(window: &super::plan::Window, current_files: &[PartFile], baseline_files: usize) -> Vec<String> {
    let mut warnings = Vec::new();
    if current_files.is_empty() {
        warnings.push(format!(
            "no data in the window [{}, {}): the lake has no partition there",
            fmt_instant(window.start),
            fmt_instant(window.end)
        ));
    }
    if baseline_files == 0 {
        warnings.push(format!(
            "no data in the baseline [{}, {}): no entity can be judged",
            fmt_instant(window.baseline_start),
            fmt_instant(window.baseline_end)
        ));
    }
    warnings
}

/// The window's tested values joined to `baseline` and judged, rounded for the evidence.
fn judged(raw: LazyFrame, baseline: LazyFrame, l: &StatLogic, window: &super::plan::Window) -> PolarsResult<DataFrame> {
    let fill_zero = l.fillnull == Some(FillNull::BeforeTest);
    let mut current = plan::tested_values(
        raw,
        l,
        &l.key,
        &l.metrics,
        &l.ratios,
        l.combine,
        Some(l.bucket),
        fill_zero,
        window.start,
        window.end,
    )?;
    if let Some(lk) = &l.lookup {
        current = current.with_column(lookup::key_expr(lk).alias(lookup::KEY));
    }
    round_evidence(plan::judge(current, baseline, l).collect()?)
}

/// The findings with their baseline (`baseline_buckets`, `baseline_complete`) and context.
fn findings(
    raw: LazyFrame,
    judged: &DataFrame,
    entities: &DataFrame,
    l: &StatLogic,
    window: &super::plan::Window,
) -> PolarsResult<DataFrame> {
    let key = super::plan::cols(&l.key);
    let slack = window.end - window.start;
    plan::findings(judged.clone().lazy(), l)
        .join(
            entities
                .clone()
                .lazy()
                .select([key.clone(), vec![col("baseline_buckets"), col("baseline_first")]].concat()),
            key.clone(),
            key.clone(),
            JoinArgs::new(JoinType::Left),
        )
        .join(
            plan::context(raw, l, window.start, window.end),
            key.clone(),
            key,
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            ts(window.baseline_end).alias("baseline_end"),
            col("baseline_buckets").fill_null(lit(0i64)),
            col("baseline_first")
                .lt(ts(window.baseline_start + slack))
                .fill_null(lit(false))
                .alias("baseline_complete"),
            lit(l.k).alias("k"),
        ])
        .sort(l.key.clone(), SortMultipleOptions::default().with_nulls_last(true))
        .collect()
}

/// The family's evidence columns, after the key.
fn evidence() -> Vec<Expr> {
    [
        "anomaly_count",
        "anomalous_buckets",
        "first_anomaly",
        "last_anomaly",
        "top_anomalies",
        "k",
        "baseline_end",
        "baseline_buckets",
        "baseline_complete",
        "samples",
    ]
    .iter()
    .map(|c| col(*c))
    .collect()
}

/// `v` to 9 significant digits.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let p = 8 - v.abs().log10().floor() as i32;
    if !(-300..=300).contains(&p) {
        return v;
    }
    let f = 10f64.powi(p);
    (v * f).round() / f
}

/// The judged values as the evidence shows them, to 9 significant digits (the anomalies are
/// decided before): sums over many points are taken in whatever order the parallel engine
/// adds them, so their last bits vary from run to run, and the findings must not.
fn round_evidence(mut judged: DataFrame) -> PolarsResult<DataFrame> {
    for c in ["x", "avg", "stdev", "z"] {
        let rounded = judged
            .column(c)?
            .cast(&DataType::Float64)?
            .f64()?
            .apply_values(round_sig)
            .into_series();
        judged.with_column(rounded.with_name(c.into()).into_column())?;
    }
    Ok(judged)
}

/// Entity counts by reason, from [`plan::entity_baseline`].
fn tally(entities: &DataFrame, out: &mut Judged) {
    let b = |c: &str, i: usize| {
        entities
            .column(c)
            .ok()
            .and_then(|s| s.get(i).ok())
            .is_some_and(|v| v == AnyValue::Boolean(true))
    };
    let n = |c: &str, i: usize| {
        entities
            .column(c)
            .ok()
            .and_then(|s| s.get(i).ok())
            .and_then(|v| v.extract::<u64>())
            .unwrap_or(0)
    };
    out.entities_in_window = entities.height() as u64;
    for reason in ["no_baseline", "too_few_baseline_buckets", "zero_stdev"] {
        out.entities_not_judged.insert(reason.into(), 0);
        out.values_not_judged.insert(reason.into(), 0);
    }
    for i in 0..entities.height() {
        let reason = if b("judged_any", i) {
            out.entities_evaluated += 1;
            None
        } else if !b("has_baseline", i) {
            Some("no_baseline")
        } else if !b("enough", i) {
            Some("too_few_baseline_buckets")
        } else {
            Some("zero_stdev")
        };
        if let Some(r) = reason {
            *out.entities_not_judged.entry(r.into()).or_default() += 1;
        }
        for (r, c) in [
            ("no_baseline", "pairs_no_baseline"),
            ("too_few_baseline_buckets", "pairs_too_few"),
            ("zero_stdev", "pairs_zero_stdev"),
        ] {
            *out.values_not_judged.entry(r.into()).or_default() += n(c, i);
        }
    }
}

/// The judged rows of the findings' entities (for charts): key, `finding_uid`, name, bucket,
/// x, avg, stdev, anomalous, sorted.
fn chart_series(judged: &DataFrame, found: &DataFrame, l: &StatLogic) -> PolarsResult<DataFrame> {
    let key = super::plan::cols(&l.key);
    let mut uid_sel = key.clone();
    uid_sel.push(col("finding_uid"));
    let mut sel = vec![
        col("finding_uid"),
        col("name"),
        col("bucket"),
        col("x"),
        col("avg"),
        col("stdev"),
        col("anomalous"),
        col("z"),
    ];
    sel.extend(key.clone());
    judged
        .clone()
        .lazy()
        .join(
            found.clone().lazy().select(uid_sel),
            key.clone(),
            key,
            JoinArgs::new(JoinType::Inner),
        )
        .select(sel)
        .sort(["finding_uid", "name", "bucket"], SortMultipleOptions::default())
        .collect()
}
