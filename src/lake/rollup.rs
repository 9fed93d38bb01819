//! Rollups: a compact per-hour presence table the detections read instead of raw points.
//!
//! In: the part files of one hour partition. Out:
//! `rollups/presence/<columns hash>/date=YYYY-MM-DD/hour=HH/<sources hash>.parquet` holding, per
//! (`metric` + the grouping columns), the first and last sighting (`first`, `last`), the
//! number of points (`n`) and the `hour` itself.
//! Invariants:
//! - self-validating: the file name is the hash of the sorted names of the part files it was
//!   built from (names are content hashes), and the folder is the hash of the grouping columns.
//!   A rollup whose sources changed (late data landed) or whose columns differ is simply not
//!   used: the reader falls back to raw points for that hour, so a stale or missing rollup can
//!   make a run slower, never wrong;
//! - exact: summing `n` and taking min/max of `first`/`last` over hours gives what the same
//!   aggregation over the raw points gives, so whole hours read from rollups and partial hours
//!   read raw combine into the plain answer.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use chrono::NaiveDate;
use polars::prelude::*;

use super::layout::{HourPartition, PartFile};
use crate::storage::{Location, StorageError};

pub const ROLLUPS: &str = "rollups/presence";

#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("building the rollup of {partition}: {source}")]
    Build { partition: String, source: PolarsError },
}

/// The grouping columns of a rollup and where rollups with them live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupShape {
    /// Sorted, deduplicated columns of the points table (never `metric`, always grouped on too).
    pub columns: Vec<String>,
}

impl RollupShape {
    pub fn new<'a>(columns: impl IntoIterator<Item = &'a String>) -> Self {
        let set: BTreeSet<String> = columns
            .into_iter()
            .filter(|c| *c != "metric" && *c != "time")
            .cloned()
            .collect();
        RollupShape {
            columns: set.into_iter().collect(),
        }
    }

    /// `rollups/presence/<hash of the layout version and the columns>`.
    pub fn prefix(&self) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(b"v2");
        for c in &self.columns {
            h.update(&(c.len() as u64).to_le_bytes());
            h.update(c.as_bytes());
        }
        format!("{ROLLUPS}/{:016x}", h.digest())
    }

    pub fn key(&self, partition: &HourPartition, sources: &str) -> String {
        let hour = partition.prefix();
        let hour = hour.strip_prefix("metrics/").unwrap_or(&hour);
        format!("{}/{hour}/{sources}.parquet", self.prefix())
    }

    /// `<prefix>/date=YYYY-MM-DD/day-<sources>.parquet`: the whole day (`hour` = its start).
    pub fn day_key(&self, date: NaiveDate, sources: &str) -> String {
        format!(
            "{}/date={}/day-{sources}.parquet",
            self.prefix(),
            date.format("%Y-%m-%d")
        )
    }

    fn group(&self) -> Vec<Expr> {
        std::iter::once(col("metric"))
            .chain(self.columns.iter().map(|c| col(c.as_str())))
            .collect()
    }
}

/// The hash naming the rollup of these part files (any order).
pub fn sources_hash(parts: &[&PartFile]) -> String {
    let names: BTreeSet<&str> = parts
        .iter()
        .map(|p| p.key.rsplit('/').next().unwrap_or(&p.key))
        .collect();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for n in names {
        h.update(&(n.len() as u64).to_le_bytes());
        h.update(n.as_bytes());
    }
    format!("{:032x}", h.digest128())
}

/// The existing rollups of a shape: the sources hashes of each hour's and each day's.
#[derive(Debug, Default)]
pub struct Listing {
    pub hours: BTreeMap<HourPartition, Vec<String>>,
    pub days: BTreeMap<NaiveDate, Vec<String>>,
}

/// Lists every rollup of `shape` (one LIST over its prefix).
pub fn list(lake: &Location, shape: &RollupShape) -> Result<Listing, StorageError> {
    list_under(lake, &shape.prefix())
}

/// Lists the rollups under `prefix` laid out as `date=/hour=/<sources>.parquet` (hours) and
/// `date=/day-<sources>.parquet` (days): the presence rollups' and the moment rollups' layout.
pub(super) fn list_under(lake: &Location, prefix: &str) -> Result<Listing, StorageError> {
    let mut out = Listing::default();
    for (key, _) in lake.list(prefix)? {
        let rest = key.strip_prefix(prefix).unwrap_or(&key).trim_start_matches('/');
        let segs: Vec<&str> = rest.split('/').collect();
        match segs.as_slice() {
            [d, h, file] => {
                if let (Some(p), Some(stem)) = (HourPartition::parse(d, h), file.strip_suffix(".parquet")) {
                    out.hours.entry(p).or_default().push(stem.to_string());
                }
            }
            [d, file] => {
                let date = d
                    .strip_prefix("date=")
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
                if let (Some(date), Some(stem)) =
                    (date, file.strip_prefix("day-").and_then(|f| f.strip_suffix(".parquet")))
                {
                    out.days.entry(date).or_default().push(stem.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The hash naming a day rollup: the hours of that day that have data, with their sources.
pub fn day_sources_hash(hours: &[(HourPartition, String)]) -> String {
    let mut sorted: Vec<&(HourPartition, String)> = hours.iter().collect();
    sorted.sort();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (p, src) in sorted {
        h.update(&p.hour.to_le_bytes());
        h.update(src.as_bytes());
    }
    format!("{:032x}", h.digest128())
}

/// Builds the rollup of a whole day from its hours' rollups (which must be valid for
/// `hours`), and removes other day rollups of that date.
pub fn build_day(
    lake: &Location,
    shape: &RollupShape,
    date: NaiveDate,
    hours: &[(HourPartition, String)],
) -> Result<String, RollupError> {
    let err = |source| RollupError::Build {
        partition: format!("day {date}"),
        source,
    };
    let sources = day_sources_hash(hours);
    let mut frames = Vec::new();
    for (p, src) in hours {
        let bytes = lake.get(&shape.key(p, src))?;
        frames.push(ParquetReader::new(Cursor::new(bytes)).finish().map_err(err)?.lazy());
    }
    if frames.is_empty() {
        return Ok(sources);
    }
    let mut sort_by: Vec<String> = vec!["metric".into()];
    sort_by.extend(shape.columns.iter().cloned());
    let mut df = concat(frames, UnionArgs::default())
        .map_err(err)?
        .group_by(shape.group())
        .agg([
            col("first").min().alias("first"),
            col("last").max().alias("last"),
            col("n").sum().alias("n"),
        ])
        // The same columns as an hour's rollup (one schema for every scan): `hour` is the day's start.
        .with_column(
            lit(date
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_micros())
                .unwrap_or(0))
            .cast(super::schema::time_dtype())
            .alias("hour"),
        )
        .sort(sort_by, SortMultipleOptions::default().with_nulls_last(true))
        .collect()
        .map_err(err)?;
    let out = super::layout::parquet_bytes(&mut df).map_err(err)?;
    let key = shape.day_key(date, &sources);
    put_replacing(lake, &key, out, |file| file.starts_with("day-"))?;
    Ok(sources)
}

/// Writes `key`, then removes the other rollups of its folder whose file name `same_kind`
/// accepts: they describe other sources. Removal comes after the new object is visible, so a
/// reader always finds a valid rollup or falls back to raw points.
pub(super) fn put_replacing(
    lake: &Location,
    key: &str,
    bytes: Vec<u8>,
    same_kind: impl Fn(&str) -> bool,
) -> Result<(), StorageError> {
    lake.put(key, bytes)?;
    let folder = key.rsplit_once('/').map(|(f, _)| f.to_string()).unwrap_or_default();
    for (other, _) in lake.list(&folder)? {
        if other != key && other.rsplit('/').next().is_some_and(&same_kind) {
            lake.delete(&other)?;
        }
    }
    Ok(())
}

/// The presence aggregation of one hour's raw points: per metric and grouping columns.
pub fn aggregate(points: LazyFrame, shape: &RollupShape) -> LazyFrame {
    points.group_by(shape.group()).agg([
        col("time").min().alias("first"),
        col("time").max().alias("last"),
        len().cast(DataType::Int64).alias("n"),
    ])
}

/// Builds (or rebuilds) the rollup of `partition` from its part files, and removes the
/// rollups of that partition that were built from other sources.
pub fn build(
    lake: &Location,
    shape: &RollupShape,
    partition: &HourPartition,
    parts: &[&PartFile],
) -> Result<String, RollupError> {
    let err = |source| RollupError::Build {
        partition: partition.prefix(),
        source,
    };
    let sources = sources_hash(parts);
    let mut columns: Vec<Expr> = vec![col("time"), col("metric")];
    columns.extend(shape.columns.iter().map(|c| col(c.as_str())));
    if parts.is_empty() {
        return Ok(sources);
    }
    // Streamed from the files (only the needed columns), so an hour's rollup never holds the
    // hour's points in memory at once.
    let paths: Vec<PlRefPath> = parts.iter().map(|p| PlRefPath::new(lake.scan_path(&p.key))).collect();
    let points = LazyFrame::scan_parquet_files(paths.into_iter().collect(), super::scan::points_scan_args(lake))
        .map_err(err)?
        .select(columns);
    let mut sort_by: Vec<String> = vec!["metric".into()];
    sort_by.extend(shape.columns.iter().cloned());
    let mut df = aggregate(points, shape)
        .with_column(
            lit(partition.start().timestamp_micros())
                .cast(super::schema::time_dtype())
                .alias("hour"),
        )
        .sort(sort_by, SortMultipleOptions::default().with_nulls_last(true))
        .collect_with_engine(Engine::Streaming)
        .map(|r| r.unwrap_single())
        .map_err(err)?;
    let out = super::layout::parquet_bytes(&mut df).map_err(err)?;
    let key = shape.key(partition, &sources);
    put_replacing(lake, &key, out, |_| true)?;
    Ok(sources)
}

/// Rebuilds the rollups of `partitions` after landing into them, and of their days.
pub fn refresh(lake: &Location, shape: &RollupShape, partitions: &[HourPartition]) -> Result<u64, RollupError> {
    let dates: BTreeSet<NaiveDate> = partitions.iter().map(|p| p.date).collect();
    let mut built = 0;
    for date in dates {
        let parts: Vec<PartFile> = lake
            .list(&format!("{}/date={}", super::layout::METRICS, date.format("%Y-%m-%d")))?
            .into_iter()
            .filter_map(|(key, size)| {
                let segs: Vec<&str> = key.split('/').collect();
                match segs.as_slice() {
                    [_, d, h, f] if f.ends_with(".parquet") => HourPartition::parse(d, h).map(|partition| PartFile {
                        partition,
                        key: key.clone(),
                        size,
                    }),
                    _ => None,
                }
            })
            .collect();
        built += compact(lake, shape, &parts)?.built;
    }
    Ok(built)
}

/// What `compact` did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompactReport {
    pub partitions: u64,
    pub built: u64,
    pub up_to_date: u64,
    pub days_built: u64,
    pub elapsed_seconds: f64,
}

/// Builds the missing or stale rollups of every partition in `parts`, then the rollup of each
/// day of `parts` (from all the hours of that day that have data).
pub fn compact(lake: &Location, shape: &RollupShape, parts: &[PartFile]) -> Result<CompactReport, RollupError> {
    let started = std::time::Instant::now();
    let existing = list(lake, shape)?;
    let mut by_partition: BTreeMap<HourPartition, Vec<&PartFile>> = BTreeMap::new();
    for p in parts {
        by_partition.entry(p.partition).or_default().push(p);
    }
    let mut report = CompactReport {
        partitions: by_partition.len() as u64,
        ..Default::default()
    };
    let mut days: BTreeMap<NaiveDate, Vec<(HourPartition, String)>> = BTreeMap::new();
    for (partition, files) in &by_partition {
        let sources = sources_hash(files);
        let valid = existing
            .hours
            .get(partition)
            .is_some_and(|v| v.len() == 1 && v[0] == sources);
        if valid {
            report.up_to_date += 1;
        } else {
            build(lake, shape, partition, files)?;
            report.built += 1;
        }
        days.entry(partition.date).or_default().push((*partition, sources));
    }
    for (date, hours) in days {
        let sources = day_sources_hash(&hours);
        if !existing
            .days
            .get(&date)
            .is_some_and(|v| v.len() == 1 && v[0] == sources)
        {
            build_day(lake, shape, date, &hours)?;
            report.days_built += 1;
        }
    }
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
