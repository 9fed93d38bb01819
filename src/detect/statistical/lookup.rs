//! The SPL's weekly lookup baselines (B1–B4) for `--splunk-compat`.
//!
//! In: the lake, a statistical detection's compat logic and `--at`. Out: the lookup as of the
//! last weekly run before `--at` — the SPL's `0 2 * * 0` schedule, Sunday 02:00 UTC, over
//! `[−30d@d, −1d@d]` of that run — in long form (key, name, n, avg, stdev, first, last).
//! Semantics, as the baseline searches: `mstats avg` of the raw values per `by` columns and
//! `span` (no span: every raw point is a row, as B3), the lookup's own ratios, `fillnull(0)`
//! before `stats` where the search has it (B4), then `stats avg, stdev, count, latest(_time)`
//! per `by` and `fillnull(0)` of the result; `key` joins the `key` columns with ":".
//! Invariant: a run is a function of `--at` alone (the weekly run it reads is fixed by it), so
//! re-running any past window gives the same findings.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use polars::prelude::*;

use super::logic::StatLogic;
use super::plan;
use super::spec::{Combine, Lookup};

/// The column holding the lookup's `key` on both sides of the join.
pub use super::logic::LOOKUP_KEY as KEY;

/// The instant of the last weekly run strictly before `at` (Sunday 02:00 UTC; a run at
/// exactly `at` has not finished when the detection reads it).
pub fn last_run_before(at: DateTime<Utc>) -> DateTime<Utc> {
    let two = NaiveTime::from_hms_opt(2, 0, 0).unwrap_or_default();
    let date = at.date_naive();
    let back = date.weekday().num_days_from_sunday() as i64;
    let mut run = (date - Duration::days(back)).and_time(two).and_utc();
    if run >= at {
        run -= Duration::days(7);
    }
    run
}

/// The data window `[−30d@d, −1d@d)` of the run at `run`.
pub fn data_window(run: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = run.date_naive().and_time(NaiveTime::MIN).and_utc();
    (midnight - Duration::days(30), midnight - Duration::days(1))
}

/// `key`: the lookup's key columns joined with ":".
pub fn key_expr(lookup: &Lookup) -> Expr {
    concat_str(
        lookup
            .key
            .iter()
            .map(|c| col(c.as_str()).cast(DataType::String))
            .collect::<Vec<_>>(),
        ":",
        false,
    )
}

/// The lookup computed from `scan` (points of `[from − lookback, to)`) over `[from, to)`: one
/// row per (`by` group, name) with `n`, `avg`, `stdev`, `first`, `last`, and [`KEY`].
pub fn compute(
    scan: LazyFrame,
    l: &StatLogic,
    lookup: &Lookup,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> PolarsResult<LazyFrame> {
    let by = lookup.by.clone().unwrap_or_else(|| lookup.key.clone());
    let width = l.lookup_bucket;
    let ratios = lookup.ratios.clone().unwrap_or_else(|| l.ratios.clone());
    let values = plan::tested_values(
        scan,
        l,
        &by,
        &l.metrics,
        &ratios,
        Combine::Mean,
        width,
        lookup.fillnull_before_stats,
        from,
        to,
    )?;
    let stats = plan::with_stats(plan::moments(values, &by))
        .with_columns([
            col("avg").fill_null(lit(0.0)),
            col("stdev").fill_null(lit(0.0)),
            key_expr(lookup).alias(KEY),
        ])
        // One row per key and name (the first `by` group of a key, as a lookup returns one).
        .sort(
            [KEY, "name"]
                .into_iter()
                .map(String::from)
                .chain(by.iter().cloned())
                .collect::<Vec<_>>(),
            SortMultipleOptions::default(),
        )
        .unique_stable_generic(Some(vec![col(KEY), col("name")]), UniqueKeepStrategy::First);
    Ok(stats)
}

/// The OTel attribute name of a points-table column (`host_name` → `host.name`): the lookup's
/// fields are named as the SPL's.
fn spl_field(column: &str) -> String {
    crate::lake::schema::PROMOTED
        .iter()
        .find(|(_, c)| *c == column)
        .map(|(k, _)| k.to_string())
        .unwrap_or_else(|| column.to_string())
}

/// The long form of [`compute`] as the SPL's lookup table: one row per key with its `by`
/// fields (dotted names), `avg_<name>` and `stdev_<name>` per tested name, `count` (the rows
/// of its most sampled name), `first_seen` and `last_seen`, sorted by key.
pub fn to_wide(long: LazyFrame, lookup: &Lookup, names: &[String]) -> LazyFrame {
    let by = lookup.by.clone().unwrap_or_else(|| lookup.key.clone());
    let mut group = vec![col(KEY).alias("key")];
    group.extend(by.iter().map(|c| col(c.as_str()).alias(spl_field(c).as_str())));
    let mut aggs = Vec::new();
    for n in names {
        let this = col("name").eq(lit(n.as_str()));
        aggs.push(
            col("avg")
                .filter(this.clone())
                .first()
                .alias(format!("avg_{n}").as_str()),
        );
        aggs.push(col("stdev").filter(this).first().alias(format!("stdev_{n}").as_str()));
    }
    aggs.extend([
        col("n").max().alias("count"),
        col("first").min().alias("first_seen"),
        col("last").max().alias("last_seen"),
    ]);
    long.group_by(group)
        .agg(aggs)
        .sort(["key"], SortMultipleOptions::default())
}

/// The long form (`KEY`, name, n, avg, stdev, first, last) of a lookup table in the SPL's
/// shape; a missing field is an error naming it.
pub fn from_wide(wide: &DataFrame, names: &[String]) -> Result<LazyFrame, String> {
    let mut parts = Vec::new();
    for n in names {
        for f in [format!("avg_{n}"), format!("stdev_{n}")] {
            if wide.column(&f).is_err() {
                return Err(format!("the lookup has no field {f:?}"));
            }
        }
        parts.push(wide.clone().lazy().select([
            col("key").alias(KEY),
            lit(n.clone()).alias("name"),
            col("count").alias("n"),
            col(format!("avg_{n}").as_str()).fill_null(lit(0.0)).alias("avg"),
            col(format!("stdev_{n}").as_str()).fill_null(lit(0.0)).alias("stdev"),
            col("first_seen").alias("first"),
            col("last_seen").alias("last"),
        ]));
    }
    concat(parts, UnionArgs::default()).map_err(|e| e.to_string())
}
