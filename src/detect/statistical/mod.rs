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

pub mod lookup;
pub mod plan;
pub mod spec;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration};
use polars::prelude::*;
use serde::Serialize;

use super::plan::{in_range, ts, Logic};
use super::spec::Spec;
use super::{finish_columns, window_for, DetectError, DetectOptions, Run, Scanned};
use crate::config::{fmt_instant, parse_duration};
use crate::lake::{self, PartFile};
use crate::storage::Location;
use spec::{Combine, CountMode, FillNull, Lookup, Metric, Ratio};

/// A statistical detection with `--splunk-compat` applied.
#[derive(Debug, Clone)]
pub struct StatLogic {
    pub key: Vec<String>,
    /// What the baseline is grouped and joined on ([`lookup::KEY`] with a lookup).
    pub baseline_key: Vec<String>,
    pub series: Vec<String>,
    pub bucket: Duration,
    pub lookback: Duration,
    pub k: f64,
    pub min_anomalies: u32,
    pub count: CountMode,
    pub min_baseline_buckets: u32,
    pub combine: Combine,
    pub metrics: Vec<Metric>,
    pub ratios: Vec<Ratio>,
    pub top: u32,
    pub context: Vec<String>,
    /// `None`: the intent.
    pub fillnull: Option<FillNull>,
    pub lookup: Option<Lookup>,
    pub stdev_as_avg: Vec<String>,
}

impl StatLogic {
    pub fn of(spec: &Spec, splunk_compat: bool) -> Result<StatLogic, DetectError> {
        let st = spec
            .statistical
            .as_ref()
            .ok_or_else(|| DetectError::Invalid(format!("{}: not a statistical detection", spec.slug)))?;
        let d = |s: &str| parse_duration(s).map_err(DetectError::Invalid);
        let compat = spec
            .splunk_compat
            .as_ref()
            .filter(|_| splunk_compat)
            .map(|c| (c.key.clone(), c.statistical()));
        let key = compat
            .as_ref()
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| st.key.clone());
        let c = compat.map(|(_, c)| c).unwrap_or_default();
        let baseline_key = match (&c.lookup, &c.baseline_key, &st.baseline_key) {
            (Some(_), _, _) => vec![lookup::KEY.to_string()],
            (None, Some(b), _) if splunk_compat => b.clone(),
            (None, _, Some(b)) => b.iter().filter(|x| key.contains(x)).cloned().collect(),
            _ => key.clone(),
        };
        Ok(StatLogic {
            context: st.context.iter().filter(|x| !key.contains(x)).cloned().collect(),
            baseline_key,
            series: st.series.clone(),
            bucket: d(&st.bucket)?,
            lookback: d(&st.lookback)?,
            k: st.k,
            min_anomalies: st.min_anomalies,
            count: st.count,
            // The SPL has no learning period.
            min_baseline_buckets: if splunk_compat {
                1
            } else {
                st.min_baseline_buckets.max(1)
            },
            combine: c.combine.filter(|_| splunk_compat).unwrap_or(st.combine),
            metrics: c.metrics.clone().unwrap_or_else(|| st.metrics.clone()),
            ratios: c.ratios.clone().unwrap_or_else(|| st.ratios.clone()),
            top: st.top,
            fillnull: if splunk_compat {
                Some(c.fillnull.unwrap_or(FillNull::None))
            } else {
                None
            },
            lookup: c.lookup.clone(),
            stdev_as_avg: c.stdev_as_avg.clone().unwrap_or_default(),
            key,
        })
    }

    /// The names tested: the ratios when there are any, else the metrics.
    pub fn tested(&self) -> Vec<String> {
        if self.ratios.is_empty() {
            self.metrics.iter().map(|m| m.name.clone()).collect()
        } else {
            self.ratios.iter().map(|r| r.name.clone()).collect()
        }
    }
}

/// The shape the report and the allowlist read (key, metrics as presence metrics, the node as
/// the entity when the key has one).
pub fn logic(spec: &Spec, splunk_compat: bool) -> Logic {
    let st = spec.statistical.as_ref();
    let compat = spec.splunk_compat.as_ref().filter(|_| splunk_compat);
    let key: Vec<String> = compat
        .map(|c| c.key.clone())
        .or_else(|| st.map(|s| s.key.clone()))
        .unwrap_or_default();
    let metrics = compat
        .and_then(|c| c.metrics.clone())
        .or_else(|| st.map(|s| s.metrics.clone()))
        .unwrap_or_default();
    let pick = |c: &str| key.iter().find(|k| *k == c).cloned();
    let entity = pick("k8s_node_name")
        .or_else(|| key.last().cloned())
        .unwrap_or_default();
    let scope: Vec<String> = pick("k8s_cluster_name").filter(|c| *c != entity).into_iter().collect();
    Logic {
        match_on: key.clone(),
        presence_metrics: metrics.into_iter().map(|m| m.metric).collect(),
        presence_metric_prefixes: Vec::new(),
        context: st
            .map(|s| s.context.iter().filter(|c| !key.contains(c)).cloned().collect())
            .unwrap_or_default(),
        key,
        entity,
        scope,
        prevalence_of: Vec::new(),
        pids: None,
    }
}

/// What the report states about a statistical run besides its findings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Judged {
    /// `inline` (the intent, `[at − baseline, at − window)`) or `lookup`.
    pub baseline: String,
    /// The lookup read (compat): its name and the weekly run it is as of.
    pub lookup: Option<String>,
    pub lookup_run: Option<String>,
    pub k: f64,
    pub min_anomalies: u32,
    pub count: CountMode,
    pub min_baseline_buckets: u32,
    pub tested: Vec<String>,
    pub entities_in_window: u64,
    pub entities_evaluated: u64,
    /// Entities not judged at all, by reason: `no_baseline`, `too_few_baseline_buckets`
    /// (below the learning period), `zero_stdev` (every value's σ is 0).
    pub entities_not_judged: BTreeMap<String, u64>,
    /// (entity, tested name) pairs not judged, by the same reasons.
    pub values_not_judged: BTreeMap<String, u64>,
    /// Per-bucket values of the findings' entities (charts); not in the summary.
    #[serde(skip)]
    pub series: Option<DataFrame>,
    /// The baseline judged against: (baseline key, name) → n, sum, m2, avg, stdev, first, last,
    /// sorted (tests compare the rollup read with the plain one); not in the summary.
    #[serde(skip)]
    pub baseline_table: Option<DataFrame>,
    /// The weekly lookup this run built because the lake did not keep it yet: (object key,
    /// table); the report keeps it, so later runs read the same table.
    #[serde(skip)]
    pub lookup_table: Option<(String, DataFrame)>,
}

/// Runs a statistical detection for the window of `opts`.
pub fn run(lake_loc: &Location, spec: &Spec, opts: &DetectOptions) -> Result<Run, DetectError> {
    let mut timings = BTreeMap::new();
    let l = StatLogic::of(spec, opts.splunk_compat)?;
    let logic = logic(spec, opts.splunk_compat);
    let mut window = window_for(spec, opts)?;
    let q = |source: PolarsError| DetectError::Query {
        detection: spec.slug.clone(),
        source,
    };
    let corrupt = |e: PolarsError, files: &[PartFile]| super::find_corrupt(lake_loc, files).unwrap_or_else(|| q(e));

    let t = Instant::now();
    super::require_points(lake_loc)?;
    let lookup_run = l.lookup.as_ref().map(|_| lookup::last_run_before(window.end));
    if let Some(run_at) = lookup_run {
        let (from, to) = lookup::data_window(run_at);
        window.baseline_start = from;
        window.baseline_end = to;
    }
    let baseline_files = lake::parts_between(lake_loc, window.baseline_start - l.lookback, window.baseline_end)?;
    let current_files = lake::parts_between(lake_loc, window.start - l.lookback, window.end)?;
    timings.insert("list".to_string(), t.elapsed().as_millis() as u64);
    let mut scanned = Scanned::default();
    {
        let mut all: Vec<&PartFile> = baseline_files.iter().chain(&current_files).collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all.dedup_by(|a, b| a.key == b.key);
        scanned.files = all.len() as u64;
        scanned.bytes = all.iter().map(|f| f.size).sum();
        scanned.raw_files = scanned.files;
        scanned.raw_bytes = scanned.bytes;
        let mut parts: Vec<_> = all.iter().map(|f| f.partition).collect();
        parts.dedup();
        scanned.partitions = parts.len() as u64;
        let mut hours: Vec<_> = baseline_files.iter().map(|f| f.partition).collect();
        hours.dedup();
        scanned.raw_hours = hours.len() as u64;
        scanned.current_files = current_files.len() as u64;
    }
    let mut warnings = Vec::new();
    if current_files.is_empty() {
        warnings.push(format!(
            "no data in the window [{}, {}): the lake has no partition there",
            fmt_instant(window.start),
            fmt_instant(window.end)
        ));
    }
    if baseline_files.is_empty() {
        warnings.push(format!(
            "no data in the baseline [{}, {}): no entity can be judged",
            fmt_instant(window.baseline_start),
            fmt_instant(window.baseline_end)
        ));
    }
    let columns = plan::scan_columns(&l, &l.key);

    // 1. The baseline: (baseline key, name) → n, avg, stdev, first, last.
    let t = Instant::now();
    let scan = super::scan(lake_loc, &baseline_files, &columns).map_err(q)?;
    let mut lookup_built = None;
    let baseline = match (&l.lookup, lookup_run) {
        (Some(lk), Some(run_at)) => {
            // The weekly table as of its run: read when kept, else built from raw points (and
            // kept by the report, so a re-run reads the same table).
            let okey = lookup::object_key(lk, run_at);
            let wide = match lake_loc.get_opt(&okey)? {
                Some(bytes) => {
                    ParquetReader::new(std::io::Cursor::new(bytes))
                        .finish()
                        .map_err(|e| DetectError::CorruptFile {
                            file: lake_loc.describe(&okey),
                            message: e.to_string(),
                        })?
                }
                None => {
                    let long = lookup::compute(scan, &l, lk, window.baseline_start, window.baseline_end).map_err(q)?;
                    let wide = super::plan::collect(lookup::to_wide(long, lk, &l.tested()))
                        .map_err(|e| corrupt(e, &baseline_files))?;
                    lookup_built = Some((okey.clone(), wide.clone()));
                    wide
                }
            };
            lookup::from_wide(&wide, &l.tested()).map_err(|m| DetectError::CorruptFile {
                file: lake_loc.describe(&okey),
                message: m,
            })?
        }
        _ if opts.rollups.is_some() => {
            let split = split_baseline(lake_loc, &l, &baseline_files, &window)?;
            scanned.rollup_hours = split.rollup_keys.len() as u64;
            scanned.rollup_objects = split.rollup_keys.len() as u64;
            scanned.raw_hours = split.raw_hours.len() as u64;
            scanned.raw_files = split.raw_files.len() as u64;
            scanned.raw_bytes = split.raw_files.iter().map(|f| f.size).sum();
            let scan = super::scan(lake_loc, &split.raw_files, &columns).map_err(q)?;
            let starts = Series::new(
                "h".into(),
                split
                    .raw_hours
                    .iter()
                    .map(|p| p.start().timestamp_micros())
                    .collect::<Vec<_>>(),
            );
            let raw = plan::tested_values(
                scan,
                &l,
                &l.key,
                &l.metrics,
                &l.ratios,
                l.combine,
                Some(l.bucket),
                false,
                window.baseline_start,
                window.baseline_end,
            )
            .map_err(q)?
            .filter(
                super::plan::hour_of(col("bucket"))
                    .cast(DataType::Int64)
                    .is_in(lit(starts).implode(false), false),
            );
            let mut parts = vec![plan::moments(raw, &l.key)];
            if !split.rollup_keys.is_empty() {
                let paths: Vec<PlRefPath> = split
                    .rollup_keys
                    .iter()
                    .map(|k| PlRefPath::new(lake_loc.scan_path(k)))
                    .collect();
                let r = LazyFrame::scan_parquet_files(paths.into_iter().collect(), crate::lake::scan_args(lake_loc))
                    .map_err(q)?;
                let mut sel = super::plan::cols(&l.key);
                sel.extend([col("name"), col("n"), col("sum"), col("m2"), col("first"), col("last")]);
                parts.push(r.select(sel));
            }
            let all = concat(parts, UnionArgs::default()).map_err(q)?;
            plan::with_stats(crate::lake::moments::merge(all, &l.baseline_key))
        }
        _ => {
            let values = plan::tested_values(
                scan,
                &l,
                &l.key,
                &l.metrics,
                &l.ratios,
                l.combine,
                Some(l.bucket),
                false,
                window.baseline_start,
                window.baseline_end,
            )
            .map_err(q)?;
            plan::with_stats(plan::moments(values, &l.baseline_key))
        }
    };
    let baseline = if l.stdev_as_avg.is_empty() {
        baseline
    } else {
        let names = Series::new("n".into(), l.stdev_as_avg.clone());
        baseline.with_column(
            when(col("name").is_in(lit(names).implode(false), false))
                .then(col("avg"))
                .otherwise(col("stdev"))
                .alias("stdev"),
        )
    };
    let mut order = l.baseline_key.clone();
    order.push("name".into());
    let baseline = super::plan::collect(baseline.sort(order, SortMultipleOptions::default().with_nulls_last(true)))
        .map_err(|e| corrupt(e, &baseline_files))?;
    timings.insert("baseline".to_string(), t.elapsed().as_millis() as u64);
    scanned.baseline_keys = baseline.height() as u64;
    scanned.baseline_points = baseline
        .column("n")
        .ok()
        .and_then(|c| c.i64().ok().and_then(|v| v.sum()))
        .unwrap_or(0);

    // 2. The window's points (one read), unkeyed counts, tested values.
    let t = Instant::now();
    let metrics = Series::new(
        "m".into(),
        l.metrics.iter().map(|m| m.metric.clone()).collect::<Vec<_>>(),
    );
    let raw = super::plan::collect(
        super::scan(lake_loc, &current_files, &columns)
            .map_err(q)?
            .filter(
                in_range(window.start - l.lookback, window.end)
                    .and(col("metric").is_in(lit(metrics).implode(false), false)),
            )
            .select(super::plan::cols(&columns)),
    )
    .map_err(|e| corrupt(e, &current_files))?;
    let in_window = raw.clone().lazy().filter(in_range(window.start, window.end));
    let mut unkeyed = super::counts(
        &super::plan::unkeyed_counts(in_window.clone(), &logic, None)
            .collect()
            .map_err(q)?,
    );
    scanned.current_points = unkeyed.remove("points").unwrap_or(0);
    unkeyed.retain(|_, v| *v > 0);
    let last_point = in_window
        .clone()
        .select([col("time").max()])
        .collect()
        .ok()
        .and_then(|df| {
            df.column("time")
                .ok()
                .and_then(|c| c.get(0).ok())
                .map(|v| v.into_static())
        })
        .and_then(|v| match v {
            AnyValue::Datetime(us, _, _) | AnyValue::DatetimeOwned(us, _, _) => DateTime::from_timestamp_micros(us),
            _ => None,
        });
    let fill_zero = l.fillnull == Some(FillNull::BeforeTest);
    let mut current = plan::tested_values(
        raw.clone().lazy(),
        &l,
        &l.key,
        &l.metrics,
        &l.ratios,
        l.combine,
        Some(l.bucket),
        fill_zero,
        window.start,
        window.end,
    )
    .map_err(q)?;
    if let Some(lk) = &l.lookup {
        current = current.with_column(lookup::key_expr(lk).alias(lookup::KEY));
    }
    let judged = plan::judge(current, baseline.clone().lazy(), &l).collect().map_err(q)?;
    let judged = round_evidence(judged).map_err(q)?;
    timings.insert("current".to_string(), t.elapsed().as_millis() as u64);

    // 3. Findings, their baseline and context.
    let t = Instant::now();
    let key = super::plan::cols(&l.key);
    let entities = plan::entity_baseline(judged.clone().lazy(), &l).collect().map_err(q)?;
    let slack = window.end - window.start;
    let found = plan::findings(judged.clone().lazy(), &l)
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
            plan::context(raw.lazy(), &l, window.start, window.end),
            key.clone(),
            key.clone(),
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
        .map_err(q)?;
    let evidence: Vec<Expr> = [
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
    .collect();
    let found = finish_columns(found, spec, &l.key, &window, evidence, &l.context).map_err(q)?;
    let series = chart_series(&judged, &found, &l).map_err(q)?;
    timings.insert("findings".to_string(), t.elapsed().as_millis() as u64);

    let mut judged_counts = Judged {
        baseline: if l.lookup.is_some() { "lookup" } else { "inline" }.to_string(),
        lookup: l.lookup.as_ref().map(|x| x.name.clone()),
        lookup_run: lookup_run.map(fmt_instant),
        k: l.k,
        min_anomalies: l.min_anomalies,
        count: l.count,
        min_baseline_buckets: l.min_baseline_buckets,
        tested: l.tested(),
        series: Some(series),
        lookup_table: lookup_built,
        baseline_table: Some(baseline.clone()),
        ..Judged::default()
    };
    tally(&entities, &mut judged_counts);

    let (findings, suppressed, expired_rules) = super::allowlisted(opts, &spec.slug, &window, found, &l.key)?;
    Ok(Run {
        spec: spec.clone(),
        logic,
        splunk_compat: opts.splunk_compat,
        window,
        findings,
        scanned,
        unkeyed_current: unkeyed,
        unkeyed_baseline: BTreeMap::new(),
        nodes_in_window: 0,
        incomplete_nodes: Vec::new(),
        suppressed,
        expired_rules,
        warnings,
        timings_ms: timings,
        last_point,
        statistical: Some(judged_counts),
    })
}

/// How the intent's baseline is read: whole hours from valid moment rollups, the other hours
/// (partial at the edges, or without a valid rollup) from raw points.
struct Split {
    rollup_keys: Vec<String>,
    raw_hours: Vec<crate::lake::HourPartition>,
    /// The raw hours' part files and those of the hour before each (counters' lookback).
    raw_files: Vec<PartFile>,
}

fn split_baseline(
    lake_loc: &Location,
    l: &StatLogic,
    files: &[PartFile],
    w: &super::plan::Window,
) -> Result<Split, DetectError> {
    use crate::lake::{moments, HourPartition};
    let existing = moments::list(lake_loc, l)?;
    let mut by_hour: BTreeMap<HourPartition, Vec<&PartFile>> = BTreeMap::new();
    for f in files {
        by_hour.entry(f.partition).or_default().push(f);
    }
    let mut split = Split {
        rollup_keys: Vec::new(),
        raw_hours: Vec::new(),
        raw_files: Vec::new(),
    };
    let mut wanted: std::collections::BTreeSet<HourPartition> = Default::default();
    for (p, fs) in &by_hour {
        // Hours before the baseline only feed the lookback.
        if p.start() + Duration::hours(1) <= w.baseline_start {
            continue;
        }
        let whole = p.start() >= w.baseline_start && p.start() + Duration::hours(1) <= w.baseline_end;
        let previous = by_hour.get(&moments::before(p)).cloned().unwrap_or_default();
        let sources = moments::sources_hash(fs, &previous);
        if whole && existing.get(p).is_some_and(|v| v.contains(&sources)) {
            split.rollup_keys.push(moments::key(l, p, &sources));
        } else {
            split.raw_hours.push(*p);
            wanted.insert(*p);
            wanted.insert(moments::before(p));
        }
    }
    for p in wanted {
        split
            .raw_files
            .extend(by_hour.get(&p).into_iter().flatten().map(|f| (*f).clone()));
    }
    Ok(split)
}

/// The intent logics of the statistical detections among `specs`: what `land` and `compact`
/// keep moment rollups for.
pub fn rollup_logics(specs: &[Spec]) -> Vec<StatLogic> {
    specs
        .iter()
        .filter(|s| s.statistical.is_some())
        .filter_map(|s| StatLogic::of(s, false).ok())
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
