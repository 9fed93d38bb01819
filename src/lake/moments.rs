//! Moment rollups: per hour, the statistical baseline's sufficient statistics, so a 30-day
//! baseline is a merge of 720 small tables instead of a pass over every raw point.
//!
//! Objects: `rollups/moments/<shape>/date=YYYY-MM-DD/hour=HH/<sources>.parquet`, holding per
//! (key columns, name) `n`, `sum`, `m2` (Σ(x − mean)² around the hour's own mean), `first` and
//! `last` bucket. `<shape>` is a hash of everything the values depend on (computed by the
//! detection that reads them: key, series, bucket, lookback, combine, metrics, ratios), and
//! `<sources>` the hash of the sorted names of the part files of the hour **and of the hour
//! before** (a counter's first rate of the hour needs the previous point). This module names,
//! lists, writes and merges them; what goes in is computed in `detect::statistical::rollups`.
//! Invariants:
//! - self-validating like the presence rollups: late data in either hour changes the sources,
//!   so the rollup is not used (raw points are read instead) until rebuilt: slower, never wrong;
//! - exact: hours merge with Chan et al.'s parallel formula — n = Σnᵢ, mean = Σsumᵢ/n,
//!   M2 = Σ(M2ᵢ + nᵢ(meanᵢ − mean)²) — which equals the moments over all the hours' values up
//!   to floating-point rounding (a property test checks it against raw points).

use std::collections::BTreeMap;

use chrono::Duration;
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

/// The existing moment rollups of a shape: the sources hashes of each hour's (one LIST).
pub fn list(lake: &Location, shape: &str) -> Result<BTreeMap<HourPartition, Vec<String>>, StorageError> {
    let prefix = prefix(shape);
    let mut out: BTreeMap<HourPartition, Vec<String>> = BTreeMap::new();
    for (k, _) in lake.list(&prefix)? {
        let rest = k.strip_prefix(&prefix).unwrap_or(&k).trim_start_matches('/');
        if let [d, h, file] = rest.split('/').collect::<Vec<_>>().as_slice() {
            if let (Some(p), Some(stem)) = (HourPartition::parse(d, h), file.strip_suffix(".parquet")) {
                out.entry(p).or_default().push(stem.to_string());
            }
        }
    }
    Ok(out)
}

/// Writes the rollup of `partition` and removes that hour's rollups of other sources (after
/// the new one is visible: a reader always finds a valid one or falls back to raw points).
pub fn put(lake: &Location, key: &str, mut table: DataFrame) -> Result<(), MomentsError> {
    let bytes = super::layout::parquet_bytes(&mut table).map_err(|source| MomentsError::Build {
        partition: key.to_string(),
        source,
    })?;
    lake.put(key, bytes)?;
    let folder = key.rsplit_once('/').map(|(f, _)| f.to_string()).unwrap_or_default();
    for (other, _) in lake.list(&folder)? {
        if other != key {
            lake.delete(&other)?;
        }
    }
    Ok(())
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
}
