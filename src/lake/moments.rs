//! Moment rollups: per hour, the statistical baseline's sufficient statistics, so a 30-day
//! baseline is a merge of 720 small tables instead of a pass over every raw point.
//!
//! Objects: `rollups/moments/<shape>/date=YYYY-MM-DD/hour=HH/<sources>.parquet`, holding per
//! (key columns, name) `n`, `sum`, `m2` (Σ(x − mean)² around the hour's own mean), `first` and
//! `last` bucket; and per day `rollups/moments/<shape>/date=YYYY-MM-DD/day-<sources>.parquet`,
//! the same columns merged over the hours of that day that have data (named by those hours and
//! their sources, as the presence rollups' days), so a 30-day baseline reads ~30 objects. `<shape>` is a hash of everything the values depend on (computed by the
//! detection that reads them: key, series, bucket, lookback, combine, metrics, ratios), and
//! `<sources>` the hash of the sorted names of the part files of the hour **and of the hour
//! before** (a counter's first rate of the hour needs the previous point). This module names,
//! lists, writes and merges them; what goes in is computed in `detect::statistical::rollups`.
//! Invariants:
//! - self-validating like the presence rollups: late data in either hour changes the sources,
//!   so the rollup is not used (raw points are read instead) until rebuilt: slower, never wrong;
//!   a day rollup is used only when its name matches every hour of that day with data;
//! - exact: hours merge with Chan et al.'s parallel formula — n = Σnᵢ, mean = Σsumᵢ/n,
//!   M2 = Σ(M2ᵢ + nᵢ(meanᵢ − mean)²) — which equals the moments over all the hours' values up
//!   to floating-point rounding (a property test checks it against raw points).

use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use super::layout::{HourPartition, PartFile};
use crate::storage::{Location, StorageError};

pub const MOMENTS: &str = "rollups/moments";

#[derive(Debug, thiserror::Error)]
pub enum MomentsError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("building the moment rollups of {partition}: {source}")]
    Build { partition: String, source: PolarsError },
}

/// `rollups/moments/<shape>`.
pub fn prefix(shape: &str) -> String {
    format!("{MOMENTS}/{shape}")
}

/// The rollup of hour `partition` built from `sources`.
pub fn key(shape: &str, partition: &HourPartition, sources: &str) -> String {
    let hour = partition.prefix();
    let hour = hour.strip_prefix("metrics/").unwrap_or(&hour);
    format!("{}/{hour}/{sources}.parquet", prefix(shape))
}

/// The hour before `p`.
pub fn before(p: &HourPartition) -> HourPartition {
    HourPartition::of(p.start() - Duration::hours(1))
}

/// The hash naming the rollup of an hour built from its part files and the previous hour's.
pub fn sources_hash(hour: &[&PartFile], previous: &[&PartFile]) -> String {
    let mut all: Vec<&PartFile> = hour.to_vec();
    all.extend(previous.iter().copied());
    format!("m{}", super::rollup::sources_hash(&all))
}

/// The existing moment rollups of a shape: the sources of each hour's and each day's (the
/// presence rollups' layout and listing).
pub use super::rollup::Listing;

/// The rollup of the whole day `date`, built from the hours (with their sources) of `sources`.
pub fn day_key(shape: &str, date: NaiveDate, sources: &str) -> String {
    format!(
        "{}/date={}/day-{sources}.parquet",
        prefix(shape),
        date.format("%Y-%m-%d")
    )
}

/// The name of a day rollup: the hours of that day that have data, with their sources.
pub fn day_sources(hours: &[(HourPartition, String)]) -> String {
    super::rollup::day_sources_hash(hours)
}

/// Lists every moment rollup of a shape (one LIST).
pub fn list(lake: &Location, shape: &str) -> Result<Listing, StorageError> {
    super::rollup::list_under(lake, &prefix(shape))
}

/// Writes the rollup of an hour and removes that hour's rollups of other sources (after the
/// new one is visible: a reader always finds a valid one or falls back to raw points).
pub fn put(lake: &Location, key: &str, table: DataFrame) -> Result<(), MomentsError> {
    put_kind(lake, key, table, |_| true)
}

fn put_kind(
    lake: &Location,
    key: &str,
    mut table: DataFrame,
    same_kind: impl Fn(&str) -> bool,
) -> Result<(), MomentsError> {
    let bytes = super::layout::parquet_bytes(&mut table).map_err(|source| MomentsError::Build {
        partition: key.to_string(),
        source,
    })?;
    Ok(super::rollup::put_replacing(lake, key, bytes, same_kind)?)
}

/// Builds the rollup of the day `date` from its hours' rollups (each valid for its sources in
/// `hours`), merged per (`key`, name), and removes that date's day rollups of other sources.
pub fn build_day(
    lake: &Location,
    shape: &str,
    key_columns: &[String],
    date: NaiveDate,
    hours: &[(HourPartition, String)],
) -> Result<(), MomentsError> {
    let err = |source| MomentsError::Build {
        partition: format!("day {date}"),
        source,
    };
    let mut frames = Vec::new();
    for (p, src) in hours {
        let bytes = lake.get(&key(shape, p, src))?;
        frames.push(
            ParquetReader::new(std::io::Cursor::new(bytes))
                .finish()
                .map_err(err)?
                .lazy(),
        );
    }
    if frames.is_empty() {
        return Ok(());
    }
    let mut sort_by = key_columns.to_vec();
    sort_by.push("name".into());
    let mut keep: Vec<Expr> = key_columns.iter().map(|c| col(c.as_str())).collect();
    keep.extend(["name", "n", "sum", "m2", "first", "last"].map(col));
    let table = merge(concat(frames, UnionArgs::default()).map_err(err)?, key_columns)
        .select(keep)
        .sort(sort_by, SortMultipleOptions::default().with_nulls_last(true))
        .collect()
        .map_err(err)?;
    let day = day_key(shape, date, &day_sources(hours));
    // Only the date's other day rollups: its hour rollups live in the folders below.
    put_kind(lake, &day, table, |file| file.starts_with("day-"))
}

/// Merges moment tables (hours, and moments of raw points) per `group` and name with Chan's
/// formula: `n`, `sum`, `m2`, `first`, `last`.
pub fn merge(parts: LazyFrame, group: &[String]) -> LazyFrame {
    let mut g: Vec<Expr> = group.iter().map(|c| col(c.as_str())).collect();
    g.push(col("name"));
    // Every sum in the order of the parts' first bucket (then their own values), so the
    // result does not depend on the order the engine gathered them in.
    let by = |c: &str| {
        col(c).sort_by(
            [col("first"), col("n"), col("sum"), col("m2")],
            SortMultipleOptions::default(),
        )
    };
    let mean_i = by("sum") / by("n").cast(DataType::Float64);
    let mean = by("sum").sum() / by("n").sum().cast(DataType::Float64);
    let d = mean_i - mean;
    parts.group_by(g).agg([
        col("n").sum().alias("n"),
        by("sum").sum().alias("sum"),
        (by("m2") + by("n").cast(DataType::Float64) * d.clone() * d)
            .sum()
            .alias("m2"),
        col("first").min().alias("first"),
        col("last").max().alias("last"),
    ])
}

/// What a moment compaction did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MomentsReport {
    pub hours: u64,
    pub built: u64,
    pub up_to_date: u64,
    pub days_built: u64,
}
