//! The statistical family's computation as lazy Polars, over raw points: the reference every
//! faster path (moment rollups, lookups) must equal.
//!
//! In: lazy scans of the points table and a [`StatLogic`]. Out: lazy frames — per-point values,
//! per-bucket values, baseline moments, judged rows and findings. Pure: no I/O.
//! Semantics (for the intent; `--splunk-compat` swaps metrics, combine and fillnull):
//! - a point belongs to a series: the key, the `series` columns (the pid), `metric` and
//!   `attributes` (state, direction). A gauge's value is the point's value; a counter's is its
//!   per-second rate since the previous point of its series, when that one is at most
//!   `lookback` before it: `(v − v₀)/(t − t₀)`, or after a reset (the value fell, or the
//!   start time changed) `v/(t − start)` when the new start lies between them, else
//!   `v/(t − t₀)`; a series' first point counts from its start time when that is within
//!   `lookback`; otherwise the point has no value;
//! - a bucket (epoch-aligned, `[b, b + width)`) holds the points of the window whose own time
//!   falls in it; its value per metric is the sum over series of each series' mean (`sum`),
//!   the average over processes (pids) of each process's sum over its attributes of the
//!   series' means (`average_process`), or the mean of every point (`mean`, as `mstats avg`);
//! - a ratio is numerator / denominator of the bucket values; no value when either is
//!   missing or the denominator is 0 (compat: 0 after `fillnull`);
//! - the baseline of (baseline key, name) is the count `n`, mean and sample σ of its bucket
//!   values over the baseline window (M2 taken around the mean: numerically stable);
//! - intent: a value is judged when `n ≥ min_baseline_buckets` and σ > 0, and anomalous when
//!   `x > avg + k·σ`; z = (x − avg)/σ.

use chrono::{DateTime, Duration, Utc};
use polars::prelude::*;

use super::logic::StatLogic;
use super::spec::{Combine, CountMode, FillNull, Metric, MetricKind, Ratio};
use crate::detect::plan::{cols, in_range, ts};
use crate::lake::schema::time_dtype;

fn uniq(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in v {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn micros(d: Duration) -> i64 {
    d.num_microseconds().unwrap_or(i64::MAX)
}

/// The columns a scan must provide.
pub fn scan_columns(l: &StatLogic, key: &[String]) -> Vec<String> {
    uniq(
        ["time", "metric", "value", "start_time", "attributes"]
            .iter()
            .map(|s| s.to_string())
            .chain(key.iter().cloned())
            .chain(l.series.iter().cloned())
            .chain(l.context.iter().cloned()),
    )
}

/// `metric IN (…)` for these metrics.
fn metric_in(metrics: &[Metric]) -> Expr {
    let names = Series::new("m".into(), metrics.iter().map(|m| m.metric.clone()).collect::<Vec<_>>());
    col("metric").is_in(lit(names).implode(false), false)
}

/// The key columns are present (and, for text, not empty).
pub fn keyed(key: &[String]) -> Expr {
    let mut e = lit(true);
    for k in key {
        e = e.and(col(k.as_str()).is_not_null());
        if crate::detect::plan::is_text(k) {
            e = e.and(col(k.as_str()).neq(lit("")));
        }
    }
    e
}

/// Points of `metrics` with a time in `[from − lookback, to)` (the lookback feeds counter
/// rates), every column `key` needs; keyed points only.
pub fn points(
    scan: LazyFrame,
    l: &StatLogic,
    key: &[String],
    metrics: &[Metric],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> LazyFrame {
    scan.filter(in_range(from - l.lookback, to).and(metric_in(metrics)).and(keyed(key)))
        .select(cols(&scan_columns(l, key)))
}

/// One value per point of `[from, to)`: the gauge's value or the counter's rate, with its
/// name. Columns: key, series, `attributes`, `name`, `time`, `v`.
pub fn point_values(
    points: LazyFrame,
    l: &StatLogic,
    key: &[String],
    metrics: &[Metric],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> PolarsResult<LazyFrame> {
    let series = uniq(
        key.iter()
            .cloned()
            .chain(l.series.iter().cloned())
            .chain(["metric".to_string(), "attributes".to_string()]),
    );
    let over = cols(&series);
    let int = |e: Expr| e.cast(DataType::Int64);
    let t = int(col("time"));
    let st = int(col("start_time"));
    let pv = col("value").shift(lit(1)).over(over.clone())?;
    let pt = int(col("time")).shift(lit(1)).over(over.clone())?;
    let pst = int(col("start_time")).shift(lit(1)).over(over)?;
    let lb = lit(micros(l.lookback));
    let secs = |us: Expr| us.cast(DataType::Float64) / lit(1e6);
    let has_prev = pt.clone().is_not_null().and((t.clone() - pt.clone()).lt_eq(lb.clone()));
    let same_run = st.clone().eq_missing(pst);
    let reset = col("value").lt(pv.clone()).or(same_run.not());
    let fresh_start = st.clone().is_not_null().and(st.clone().lt(t.clone()));
    let rate = when(has_prev.clone().and(reset.clone().not()))
        .then((col("value") - pv) / secs(t.clone() - pt.clone()))
        .when(has_prev.clone().and(fresh_start.clone()).and(st.clone().gt(pt.clone())))
        .then(col("value") / secs(t.clone() - st.clone()))
        .when(has_prev.clone())
        .then(col("value") / secs(t.clone() - pt))
        .when(fresh_start.and(st.clone().gt_eq(t.clone() - lb)))
        .then(col("value") / secs(t - st))
        .otherwise(lit(NULL).cast(DataType::Float64));
    let counters: Vec<Metric> = metrics
        .iter()
        .filter(|m| m.kind == MetricKind::Counter)
        .cloned()
        .collect();
    let v = if counters.is_empty() {
        col("value")
    } else {
        when(metric_in(&counters)).then(rate).otherwise(col("value"))
    };
    let mut name = lit(NULL).cast(DataType::String);
    for m in metrics.iter().rev() {
        name = when(col("metric").eq(lit(m.metric.as_str())))
            .then(lit(m.name.clone()))
            .otherwise(name);
    }
    let mut keep: Vec<String> = uniq(key.iter().cloned().chain(l.series.iter().cloned()));
    keep.extend(["attributes".into(), "name".into(), "time".into(), "v".into()]);
    let mut sort_by = series.clone();
    sort_by.push("time".into());
    Ok(points
        .sort(sort_by, SortMultipleOptions::default().with_nulls_last(true))
        .with_columns([v.cast(DataType::Float64).alias("v"), name.alias("name")])
        .filter(
            in_range(from, to)
                .and(col("v").is_not_null())
                .and(col("v").is_not_nan()),
        )
        .select(cols(&keep)))
}

/// A group's values in ascending order: sums and means over them do not depend on the order
/// the parallel engine gathered the rows in, so reruns give the same bits (and the same
/// rollup objects).
fn sorted(c: &str) -> Expr {
    col(c).sort(SortOptions::default().with_nulls_last(true))
}

/// The bucket of a time column, as the lake's time type.
pub fn bucket_of(time: Expr, width: Duration) -> Expr {
    let w = micros(width).max(1);
    ((time.cast(DataType::Int64) / lit(w)) * lit(w)).cast(time_dtype())
}

/// Per (key, name, bucket) the bucket's value `x`; with no width, one row per point (`bucket`
/// is its time: statistics over raw points, as B3).
pub fn bucket_values(
    values: LazyFrame,
    l: &StatLogic,
    key: &[String],
    combine: Combine,
    width: Option<Duration>,
) -> LazyFrame {
    let mut group = key.to_vec();
    group.extend(["name".to_string(), "bucket".to_string()]);
    let Some(width) = width else {
        let mut sel = cols(key);
        sel.extend([col("name"), col("time").alias("bucket"), col("v").alias("x")]);
        return values.select(sel);
    };
    let values = values.with_column(bucket_of(col("time"), width).alias("bucket"));
    match combine {
        Combine::Mean => values.group_by(cols(&group)).agg([sorted("v").mean().alias("x")]),
        Combine::Sum | Combine::AverageProcess => {
            let process = uniq(group.iter().cloned().chain(l.series.iter().cloned()));
            let mut series = process.clone();
            series.push("attributes".into());
            let per_series = values.group_by(cols(&series)).agg([sorted("v").mean().alias("v")]);
            if combine == Combine::Sum {
                per_series.group_by(cols(&group)).agg([sorted("v").sum().alias("x")])
            } else {
                per_series
                    .group_by(cols(&process))
                    .agg([sorted("v").sum().alias("v")])
                    .group_by(cols(&group))
                    .agg([sorted("v").mean().alias("x")])
            }
        }
    }
}

/// Ratio rows from the metrics' bucket values: per (key, bucket) with any of the ratios'
/// metrics, `numerator / denominator`; no value when either is missing or the denominator is
/// 0 — or 0 with `fill_zero` (the SPL's `fillnull`).
pub fn ratio_values(bv: LazyFrame, key: &[String], ratios: &[Ratio], fill_zero: bool) -> PolarsResult<LazyFrame> {
    let operand = |n: &str| format!("__m_{n}");
    let mut needed: Vec<String> = Vec::new();
    for r in ratios {
        for n in [&r.numerator, &r.denominator] {
            if !needed.contains(n) {
                needed.push(n.clone());
            }
        }
    }
    let mut group = key.to_vec();
    group.push("bucket".into());
    let aggs: Vec<Expr> = needed
        .iter()
        .map(|n| {
            col("x")
                .filter(col("name").eq(lit(n.as_str())))
                .first()
                .alias(operand(n).as_str())
        })
        .collect();
    let wide = bv.group_by(cols(&group)).agg(aggs);
    let mut parts = Vec::new();
    for r in ratios {
        let (num, den) = (
            col(operand(&r.numerator).as_str()),
            col(operand(&r.denominator).as_str()),
        );
        let ratio = when(
            num.clone()
                .is_not_null()
                .and(den.clone().is_not_null())
                .and(den.clone().neq(lit(0.0))),
        )
        .then(num / den)
        .otherwise(lit(NULL).cast(DataType::Float64));
        let ratio = if fill_zero { ratio.fill_null(lit(0.0)) } else { ratio };
        let mut sel = cols(key);
        sel.extend([lit(r.name.clone()).alias("name"), col("bucket"), ratio.alias("x")]);
        parts.push(wide.clone().select(sel).filter(col("x").is_not_null()));
    }
    concat(parts, UnionArgs::default())
}

/// The tested values of `[from, to)` (bucket values of the metrics, or their ratios).
#[allow(clippy::too_many_arguments)]
pub fn tested_values(
    scan: LazyFrame,
    l: &StatLogic,
    key: &[String],
    metrics: &[Metric],
    ratios: &[Ratio],
    combine: Combine,
    width: Option<Duration>,
    fill_zero: bool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> PolarsResult<LazyFrame> {
    let pts = points(scan, l, key, metrics, from, to);
    let pv = point_values(pts, l, key, metrics, from, to)?;
    let bv = bucket_values(pv, l, key, combine, width);
    if ratios.is_empty() {
        Ok(bv)
    } else {
        ratio_values(bv, key, ratios, fill_zero)
    }
}

/// Moments per (group, name): `n`, `sum`, `m2` (Σ(x − mean)², taken around the group's own
/// mean), first and last bucket.
pub fn moments(values: LazyFrame, group: &[String]) -> LazyFrame {
    let mut g = group.to_vec();
    g.push("name".into());
    let d = sorted("x") - sorted("x").mean();
    values.group_by(cols(&g)).agg([
        len().cast(DataType::Int64).alias("n"),
        sorted("x").sum().alias("sum"),
        (d.clone() * d).sum().alias("m2"),
        col("bucket").min().alias("first"),
        col("bucket").max().alias("last"),
    ])
}

/// Mean and sample σ (n − 1) from moments; σ is null below two values.
pub fn with_stats(moments: LazyFrame) -> LazyFrame {
    let n = col("n").cast(DataType::Float64);
    moments.with_columns([
        (col("sum") / n.clone()).alias("avg"),
        when(col("n").gt(lit(1i64)))
            .then((col("m2") / (n - lit(1.0))).sqrt())
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias("stdev"),
    ])
}

/// The current rows joined to their baseline and judged: per (key, bucket, name) `x`, `n`,
/// `avg`, `stdev`, `judged`, `anomalous`, `broken` (an SPL anomaly whose z divides by 0) and `z`.
/// `baseline` holds (baseline key, name, n, avg, stdev).
pub fn judge(current: LazyFrame, baseline: LazyFrame, l: &StatLogic) -> LazyFrame {
    let mut on = l.baseline_key.clone();
    on.push("name".into());
    let joined = current.join(baseline, cols(&on), cols(&on), JoinArgs::new(JoinType::Left));
    let k = lit(l.k);
    let (judged, anomalous, broken, z) = match l.fillnull {
        None => {
            let judged = col("n")
                .gt_eq(lit(l.min_baseline_buckets as i64))
                .and(col("stdev").gt(lit(0.0)))
                .fill_null(lit(false));
            let anomalous = judged
                .clone()
                .and(col("x").gt(col("avg") + k * col("stdev")))
                .fill_null(lit(false));
            let z = when(judged.clone())
                .then((col("x") - col("avg")) / col("stdev"))
                .otherwise(lit(NULL).cast(DataType::Float64));
            (judged, anomalous, lit(false), z)
        }
        Some(FillNull::BeforeTest) => {
            let (x, a, s) = (
                col("x").fill_null(lit(0.0)),
                col("avg").fill_null(lit(0.0)),
                col("stdev").fill_null(lit(0.0)),
            );
            let anomalous = x.clone().gt(a.clone() + k * s.clone()).fill_null(lit(false));
            let broken = anomalous.clone().and(s.clone().eq(lit(0.0)));
            let z = when(s.clone().neq(lit(0.0)))
                .then((x - a) / s.clone())
                .otherwise(lit(NULL).cast(DataType::Float64));
            (col("n").is_not_null(), anomalous, broken, z)
        }
        Some(FillNull::AfterTest) | Some(FillNull::None) => {
            let anomalous = col("x").gt(col("avg") + k * col("stdev")).fill_null(lit(false));
            let broken = anomalous.clone().and(col("stdev").eq(lit(0.0)));
            let z = when(col("stdev").neq(lit(0.0)))
                .then((col("x") - col("avg")) / col("stdev"))
                .otherwise(lit(NULL).cast(DataType::Float64));
            (col("n").is_not_null(), anomalous, broken, z)
        }
    };
    joined.with_columns([
        judged.alias("judged"),
        anomalous.alias("anomalous"),
        broken.alias("broken"),
        z.alias("z"),
    ])
}

/// Per entity: the count (rows or anomalies, with the SPL's null handling in compat), the
/// first and last counted bucket, the counted buckets, and the `top` anomalies by z as a list
/// of structs {metric, bucket_start, value, baseline_avg, baseline_stdev, z}. Only entities
/// whose count is above `min_anomalies`, sorted by key.
pub fn findings(judged: LazyFrame, l: &StatLogic) -> LazyFrame {
    let key = cols(&l.key);
    let mut kb = l.key.clone();
    kb.push("bucket".into());
    let rows = judged.clone().group_by(cols(&kb)).agg([
        col("anomalous").cast(DataType::Int64).sum().alias("n_anom"),
        col("broken").any(true).alias("row_broken"),
    ]);
    let has = col("n_anom").gt(lit(0i64));
    let one = |e: Expr| e.cast(DataType::Int64);
    let contrib = match (l.fillnull, l.count) {
        (None, CountMode::Rows) => one(has.clone()),
        (None, CountMode::Anomalies) => col("n_anom"),
        (Some(FillNull::AfterTest), CountMode::Rows) => one(has.clone().or(col("row_broken"))),
        (Some(FillNull::AfterTest), CountMode::Anomalies) => {
            when(col("row_broken")).then(lit(1i64)).otherwise(col("n_anom"))
        }
        (Some(_), CountMode::Rows) => one(has.clone().and(col("row_broken").not())),
        (Some(_), CountMode::Anomalies) => when(col("row_broken")).then(lit(0i64)).otherwise(col("n_anom")),
    };
    let rows = rows.with_column(contrib.alias("contrib"));
    let counted = col("contrib").gt(lit(0i64));
    let per_entity = rows.clone().group_by(key.clone()).agg([
        col("contrib").sum().alias("anomaly_count"),
        one(counted.clone()).sum().alias("anomalous_buckets"),
        col("bucket").filter(counted.clone()).min().alias("first_anomaly"),
        col("bucket").filter(counted).max().alias("last_anomaly"),
    ]);
    let evidence = judged
        .join(
            rows.select([key.clone(), vec![col("bucket"), col("contrib"), col("row_broken")]].concat()),
            cols(&kb),
            cols(&kb),
            JoinArgs::new(JoinType::Inner),
        )
        .filter(
            col("anomalous")
                .and(col("row_broken").not())
                .and(col("contrib").gt(lit(0i64))),
        )
        .group_by(key.clone())
        .agg([as_struct(vec![
            col("name").alias("metric"),
            col("bucket").alias("bucket_start"),
            col("x").alias("value"),
            col("avg").alias("baseline_avg"),
            col("stdev").alias("baseline_stdev"),
            col("z"),
        ])
        .sort_by(
            [col("z"), col("bucket"), col("name")],
            SortMultipleOptions::default()
                .with_order_descending_multi([true, false, false])
                .with_nulls_last(true),
        )
        .head(Some(l.top as usize))
        .alias("top_anomalies")]);
    per_entity
        .filter(col("anomaly_count").gt(lit(l.min_anomalies as i64)))
        .join(evidence, key.clone(), key, JoinArgs::new(JoinType::Left))
        .sort(l.key.clone(), SortMultipleOptions::default().with_nulls_last(true))
}

/// Per entity of the window: the baseline it was judged against — `baseline_buckets` (the
/// largest `n` of its tested names) and `baseline_first` — and why it was not judged:
/// one row per entity with `has_baseline`, `enough` (n ≥ the learning period for some name)
/// and `judged_any`.
pub fn entity_baseline(judged: LazyFrame, l: &StatLogic) -> LazyFrame {
    let min = lit(l.min_baseline_buckets as i64);
    judged.group_by(cols(&l.key)).agg([
        col("n").max().alias("baseline_buckets"),
        col("first").min().alias("baseline_first"),
        col("n").is_not_null().any(true).alias("has_baseline"),
        col("n").gt_eq(min).fill_null(lit(false)).any(true).alias("enough"),
        col("judged").any(true).alias("judged_any"),
        // (entity, name) pairs not judged, by reason.
        col("n")
            .is_null()
            .cast(DataType::Int64)
            .sum()
            .alias("pairs_no_baseline"),
        col("n")
            .lt(lit(l.min_baseline_buckets as i64))
            .fill_null(lit(false))
            .cast(DataType::Int64)
            .sum()
            .alias("pairs_too_few"),
        col("n")
            .gt_eq(lit(l.min_baseline_buckets as i64))
            .and(col("stdev").eq(lit(0.0)).or(col("stdev").is_null()))
            .fill_null(lit(false))
            .cast(DataType::Int64)
            .sum()
            .alias("pairs_zero_stdev"),
    ])
}

/// Context per entity: the value at its first point in `[from, to)` (ties by value).
pub fn context(points: LazyFrame, l: &StatLogic, from: DateTime<Utc>, to: DateTime<Utc>) -> LazyFrame {
    let mut aggs: Vec<Expr> = vec![len().cast(DataType::Int64).alias("samples")];
    for c in l.context.iter().filter(|c| !l.key.contains(c)) {
        aggs.push(
            col(c.as_str())
                .sort_by(
                    [col("time"), col(c.as_str())],
                    SortMultipleOptions::default().with_nulls_last(true),
                )
                .first()
                .alias(c.as_str()),
        );
    }
    points
        .filter(col("time").gt_eq(ts(from)).and(col("time").lt(ts(to))))
        .group_by(cols(&l.key))
        .agg(aggs)
}
