//! The rule family: a condition on the current window alone (the shell detections).
//!
//! In: the part files of `[start − lookback, end)`, a [`Spec`] of family `rule` and the window.
//! Out: a [`Run`] whose findings hold one row per key (a process) that matched and was active.
//! Semantics, for a key whose `match_column` is one of `match_values` (exact, case-sensitive):
//! - points are bucketed by `bucket` (aligned to the Unix epoch, as `span=10s` in Splunk);
//! - a gauge signal is active in a bucket when the bucket's average of its metric (over every
//!   point of the key: all `state`s of `process.cpu.utilization`, as the SPL's `avg`) is
//!   above `above`;
//! - a counter signal is active in a bucket when the sum of its increases there is above
//!   `above`; a point's increase is its value minus the previous point of the same series
//!   (key, metric, attributes) at most `lookback` before the window, or — for the first point
//!   of a series started (start_time) at most `lookback` before the window — its value;
//! - a bucket is active when any signal named in `active_when` is; a key with at least one
//!   active bucket in `[start, end)` is a finding. Its evidence: active buckets, first and last
//!   point time of the active buckets, points of the signal metrics in the window, which
//!   signals were active, and per gauge metric the average over the active buckets of the
//!   bucket averages (the SPL's output), per counter metric the total increase.
//!
//! Points with the matching name but lacking a key column are counted by reason, not keyed.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Duration;
use polars::prelude::*;

use super::columns::finish_columns;
use super::outcome::{counts, last_point, query_error, DetectError, DetectOptions, Run, Scanned};
use super::plan::{self, cols, in_range, ts, Logic};
use super::spec::{Signal, SignalKind, Spec};
use super::window::window_for;
use crate::lake::{self, scan};
use crate::storage::Location;

/// A rule with `--splunk-compat` applied.
#[derive(Debug, Clone)]
pub struct RuleLogic {
    pub key: Vec<String>,
    pub match_column: String,
    pub match_values: Vec<String>,
    pub bucket: Duration,
    pub lookback: Duration,
    pub signals: Vec<Signal>,
    pub active_when: Vec<String>,
    pub context: Vec<String>,
}

impl RuleLogic {
    pub fn of(spec: &Spec, splunk_compat: bool) -> Result<RuleLogic, DetectError> {
        let r = spec
            .rule
            .as_ref()
            .ok_or_else(|| DetectError::Invalid(format!("{}: not a rule", spec.slug)))?;
        let compat = spec.splunk_compat.as_ref().filter(|_| splunk_compat);
        let key = compat.map(|c| c.key.clone()).unwrap_or_else(|| r.key.clone());
        Ok(RuleLogic {
            context: r.context.iter().filter(|c| !key.contains(c)).cloned().collect(),
            key,
            match_column: r.match_column.clone(),
            match_values: r.match_values.clone(),
            bucket: spec.lengths.bucket,
            lookback: spec.lengths.lookback,
            signals: compat
                .and_then(|c| c.signals.clone())
                .unwrap_or_else(|| r.signals.clone()),
            active_when: compat
                .and_then(|c| c.active_when.clone())
                .unwrap_or_else(|| r.active_when.clone()),
        })
    }

    fn metrics(&self) -> Vec<String> {
        let mut m: Vec<String> = Vec::new();
        for s in &self.signals {
            if !m.contains(&s.metric) {
                m.push(s.metric.clone());
            }
        }
        m
    }

    /// Columns read from the scan.
    pub fn columns(&self) -> Vec<String> {
        let mut c: Vec<String> = ["time", "metric", "value", "start_time", "attributes"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for x in self.key.iter().chain([&self.match_column]).chain(&self.context) {
            if !c.contains(x) {
                c.push(x.clone());
            }
        }
        c
    }
}

/// The column a metric's evidence goes to: `process.cpu.utilization` → `process_cpu_utilization`.
pub fn metric_column(metric: &str, kind: SignalKind) -> String {
    let base: String = metric
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    match kind {
        SignalKind::Gauge => base,
        SignalKind::Counter => format!("{base}_increase"),
    }
}

/// Points of the rule's metrics whose match column matches, in `[start − lookback, end)`.
pub fn matching_points(scan: LazyFrame, r: &RuleLogic, w: &plan::Window) -> LazyFrame {
    let metrics = Series::new("m".into(), r.metrics());
    let names = Series::new("v".into(), r.match_values.clone());
    scan.filter(
        in_range(w.start - r.lookback, w.end)
            .and(col("metric").is_in(lit(metrics).implode(false), false))
            .and(col(r.match_column.as_str()).is_in(lit(names).implode(false), false)),
    )
    .select(cols(&r.columns()))
}

/// The findings of the rule over `points` (from [`matching_points`], keyed points only).
pub fn findings(points: LazyFrame, r: &RuleLogic, w: &plan::Window) -> PolarsResult<LazyFrame> {
    let key = cols(&r.key);
    let mut series = r.key.clone();
    series.extend(["metric".to_string(), "attributes".to_string()]);
    let series = cols(&series);
    let lookback_start = ts(w.start - r.lookback);
    // Increase of a counter point over the previous point of its series.
    let prev = col("value").shift(lit(1)).over(series.clone())?;
    let increase = when(prev.clone().is_not_null()).then(col("value") - prev).otherwise(
        when(col("start_time").gt_eq(lookback_start))
            .then(col("value"))
            .otherwise(lit(NULL).cast(DataType::Float64)),
    );
    let bucket_us = r.bucket.num_microseconds().unwrap_or(10_000_000).max(1);
    let bucket =
        ((col("time").cast(DataType::Int64) / lit(bucket_us)) * lit(bucket_us)).cast(lake::schema::time_dtype());
    let in_window = points
        .sort(
            [r.key.clone(), vec!["metric".into(), "attributes".into(), "time".into()]].concat(),
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .with_column(increase.alias("increase"))
        .filter(in_range(w.start, w.end))
        .with_column(bucket.alias("bucket"));

    // Per bucket: one column per signal metric (gauge: average, counter: summed increase).
    let mut per_metric: Vec<(String, SignalKind, String)> = Vec::new();
    for s in &r.signals {
        let c = metric_column(&s.metric, s.kind);
        if !per_metric.iter().any(|(m, k, _)| m == &s.metric && *k == s.kind) {
            per_metric.push((s.metric.clone(), s.kind, c));
        }
    }
    let mut bucket_aggs: Vec<Expr> = vec![col("time").min().alias("t_min"), col("time").max().alias("t_max")];
    for (m, kind, c) in &per_metric {
        let this = col("metric").eq(lit(m.as_str()));
        let e = match kind {
            SignalKind::Gauge => col("value").filter(this).mean(),
            SignalKind::Counter => {
                let inc = col("increase").filter(this);
                // All-null increases (no previous point) stay null, not 0.
                when(inc.clone().is_not_null().any(true))
                    .then(inc.sum())
                    .otherwise(lit(NULL))
            }
        };
        bucket_aggs.push(e.alias(c.as_str()));
    }
    let mut group = r.key.clone();
    group.push("bucket".into());
    let buckets = in_window.clone().group_by(cols(&group)).agg(bucket_aggs);

    // Which signal names are active in each bucket, and whether the bucket is.
    let mut names: Vec<String> = Vec::new();
    for s in &r.signals {
        if !names.contains(&s.name) {
            names.push(s.name.clone());
        }
    }
    let mut flags: Vec<Expr> = Vec::new();
    for n in &names {
        let mut e = lit(false);
        for s in r.signals.iter().filter(|s| &s.name == n) {
            let c = metric_column(&s.metric, s.kind);
            e = e.or(col(c.as_str()).gt(lit(s.above)).fill_null(lit(false)));
        }
        flags.push(e.alias(format!("{n}_active").as_str()));
    }
    let mut active = lit(false);
    for n in &r.active_when {
        active = active.or(col(format!("{n}_active").as_str()));
    }
    let active_buckets = buckets.with_columns(flags).filter(active);

    let mut aggs: Vec<Expr> = vec![
        col("t_min").min().alias("first_seen"),
        col("t_max").max().alias("last_seen"),
        len().cast(DataType::Int64).alias("active_buckets"),
    ];
    for n in &names {
        let c = format!("{n}_active");
        aggs.push(col(c.as_str()).any(true).alias(c.as_str()));
    }
    for (_, kind, c) in &per_metric {
        aggs.push(match kind {
            SignalKind::Gauge => col(c.as_str()).mean().alias(c.as_str()),
            SignalKind::Counter => when(col(c.as_str()).is_not_null().any(true))
                .then(col(c.as_str()).sum())
                .otherwise(lit(NULL).cast(DataType::Float64))
                .alias(c.as_str()),
        });
    }
    let found = active_buckets.group_by(key.clone()).agg(aggs);

    // Evidence over every point of the key in the window: count and context at the first.
    let mut ctx: Vec<Expr> = vec![len().cast(DataType::Int64).alias("samples")];
    for c in &r.context {
        ctx.push(
            col(c.as_str())
                .sort_by(
                    [col("time"), col(c.as_str())],
                    SortMultipleOptions::default().with_nulls_last(true),
                )
                .first()
                .alias(c.as_str()),
        );
    }
    let context = in_window.group_by(key.clone()).agg(ctx);
    Ok(found
        .join(context, key.clone(), key, JoinArgs::new(JoinType::Left))
        .sort(r.key.clone(), SortMultipleOptions::default().with_nulls_last(true)))
}

/// The evidence columns of a rule's findings, in order.
fn evidence(r: &RuleLogic) -> Vec<Expr> {
    let mut e = vec![
        col("first_seen"),
        col("last_seen"),
        col("samples"),
        col("active_buckets"),
    ];
    let mut seen: Vec<String> = Vec::new();
    for s in &r.signals {
        let c = format!("{}_active", s.name);
        if !seen.contains(&c) {
            e.push(col(c.as_str()));
            seen.push(c);
        }
    }
    for s in &r.signals {
        let c = metric_column(&s.metric, s.kind);
        if !seen.contains(&c) {
            e.push(col(c.as_str()));
            seen.push(c);
        }
    }
    e
}

/// Runs a rule for the window of `opts`.
pub fn run(lake_loc: &Location, spec: &Spec, opts: &DetectOptions) -> Result<Run, DetectError> {
    let mut timings = BTreeMap::new();
    let window = window_for(spec, opts)?;
    let r = RuleLogic::of(spec, opts.splunk_compat)?;
    let logic = Logic::of(spec, opts.splunk_compat);
    let q = query_error(&spec.slug);
    let t = Instant::now();
    scan::require_points(lake_loc)?;
    let files = lake::parts_between(lake_loc, window.start - r.lookback, window.end)?;
    timings.insert("list".to_string(), t.elapsed().as_millis() as u64);
    let mut scanned = Scanned {
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.size).sum(),
        raw_files: files.len() as u64,
        raw_bytes: files.iter().map(|f| f.size).sum(),
        ..Scanned::default()
    };
    {
        let mut parts: Vec<_> = files.iter().map(|f| f.partition).collect();
        parts.dedup();
        scanned.partitions = parts.len() as u64;
        scanned.raw_hours = parts.len() as u64;
        scanned.current_files = files
            .iter()
            .filter(|f| f.partition.start() + Duration::hours(1) > window.start)
            .count() as u64;
    }
    let mut warnings = Vec::new();
    if scanned.current_files == 0 {
        warnings.push(format!(
            "no data in the window [{}, {}): the lake has no partition there",
            crate::config::fmt_instant(window.start),
            crate::config::fmt_instant(window.end)
        ));
    }

    let t = Instant::now();
    let scan = scan::parts(lake_loc, &files, &r.columns()).map_err(&q)?;
    let points = plan::collect(matching_points(scan, &r, &window)).map_err(|e| {
        scan::find_corrupt(lake_loc, files.iter().map(|f| f.key.as_str())).map_or_else(|| q(e), DetectError::from)
    })?;
    let current = points.clone().lazy().filter(in_range(window.start, window.end));
    let mut unkeyed = counts(
        &plan::unkeyed_counts(current.clone(), &logic, None)
            .collect()
            .map_err(&q)?,
    );
    scanned.current_points = unkeyed.remove("points").unwrap_or(0);
    unkeyed.retain(|_, v| *v > 0);
    let keyed = points.lazy().filter(plan::keyed(&logic, plan::is_text));
    let found = findings(keyed, &r, &window).and_then(|f| f.collect()).map_err(&q)?;
    let found = finish_columns(found, spec, &r.key, &window, evidence(&r), &r.context).map_err(&q)?;
    timings.insert("findings".to_string(), t.elapsed().as_millis() as u64);

    let mut run = Run::new(spec, opts, window, found);
    run.scanned = scanned;
    run.unkeyed_current = unkeyed;
    run.warnings = warnings;
    run.timings_ms = timings;
    run.last_point = last_point(current);
    run.allowlist(opts, &r.key)?;
    Ok(run)
}
