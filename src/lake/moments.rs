//! Moment rollups: per hour, the statistical baseline's sufficient statistics, so a 30-day
//! baseline is a merge of 720 small tables instead of a pass over every raw point.
//!
//! In: the part files of one hour (and of the hour before it: a counter's first rate of the
//! hour needs the previous point, at most `lookback` ≤ 1 h before) and a statistical
//! detection's intent logic. Out:
//! `rollups/moments/<shape hash>/date=YYYY-MM-DD/hour=HH/<sources hash>.parquet` holding, per
//! (key columns, name): `n`, `sum`, `m2` (Σ(x − mean)² around the hour's own mean), `first` and
//! `last` bucket — exactly `statistical::plan::moments` of the hour's bucket values.
//! Invariants:
//! - self-validating like the presence rollups: the folder is the hash of everything the
//!   values depend on (key, series, bucket, lookback, combine, metrics, ratios), the file name
//!   the hash of the sorted names of the part files of the hour and the hour before. Late data
//!   in either hour makes the rollup unused (raw points are read instead): slower, never wrong;
//! - exact: hours merge with Chan et al.'s parallel formula — n = Σnᵢ, mean = Σsumᵢ/n,
//!   M2 = Σ(M2ᵢ + nᵢ(meanᵢ − mean)²) — which equals the moments over all the hours' values
//!   (up to floating-point rounding; a property test checks it against raw points).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use polars::prelude::*;

use super::{HourPartition, PartFile};
use crate::detect::statistical::{plan, StatLogic};
use crate::storage::{Location, StorageError};

pub const MOMENTS: &str = "rollups/moments";

#[derive(Debug, thiserror::Error)]
pub enum MomentsError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("building the moment rollup of {partition}: {source}")]
    Build { partition: String, source: PolarsError },
}

/// `rollups/moments/<hash of what the bucket values depend on>`.
pub fn prefix(l: &StatLogic) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut put = |s: &str| {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    put("v1");
    for c in l.key.iter().chain([&"|".to_string()]).chain(&l.series) {
        put(c);
    }
    put(&l.bucket.num_microseconds().unwrap_or(0).to_string());
    put(&l.lookback.num_microseconds().unwrap_or(0).to_string());
    put(&format!("{:?}", l.combine));
    for m in &l.metrics {
        put(&format!("{}={}:{:?}", m.name, m.metric, m.kind));
    }
    for r in &l.ratios {
        put(&format!("{}={}/{}", r.name, r.numerator, r.denominator));
    }
    format!("{MOMENTS}/{:016x}", h.digest())
}

pub fn key(l: &StatLogic, partition: &HourPartition, sources: &str) -> String {
    let hour = partition.prefix();
    let hour = hour.strip_prefix("metrics/").unwrap_or(&hour);
    format!("{}/{hour}/{sources}.parquet", prefix(l))
}

/// The previous hour.
pub fn before(p: &HourPartition) -> HourPartition {
    HourPartition::of(p.start() - Duration::hours(1))
}

/// The hash naming the rollup of `hour` built from its part files and the previous hour's.
pub fn sources_hash(hour: &[&PartFile], previous: &[&PartFile]) -> String {
    let mut all: Vec<&PartFile> = hour.to_vec();
    all.extend(previous.iter().copied());
    format!("m{}", super::rollup::sources_hash(&all))
}

/// The existing moment rollups of a logic: the sources hashes of each hour's.
pub fn list(lake: &Location, l: &StatLogic) -> Result<BTreeMap<HourPartition, Vec<String>>, StorageError> {
    let prefix = prefix(l);
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

/// The moments of the hour `p` (its bucket values only), from the part files of the hour and
/// the hour before (the lookback of counters).
pub fn hour_moments(scan: LazyFrame, l: &StatLogic, p: &HourPartition) -> PolarsResult<LazyFrame> {
    let (from, to) = (p.start(), p.start() + Duration::hours(1));
    let values = plan::tested_values(
        scan,
        l,
        &l.key,
        &l.metrics,
        &l.ratios,
        l.combine,
        Some(l.bucket),
        false,
        from,
        to,
    )?;
    Ok(plan::moments(values, &l.key))
}

/// Merges moment tables (any mix of hours, and raw parts) per `group` and name with Chan's
/// formula: `n`, `sum`, `m2`, `first`, `last`.
pub fn merge(parts: LazyFrame, group: &[String]) -> LazyFrame {
    let mut g = group.to_vec();
    g.push("name".into());
    let mean_i = col("sum") / col("n").cast(DataType::Float64);
    let mean = col("sum").sum() / col("n").sum().cast(DataType::Float64);
    let d = mean_i - mean;
    parts.group_by(crate::detect::plan::cols(&g)).agg([
        col("n").sum().alias("n"),
        col("sum").sum().alias("sum"),
        (col("m2") + col("n").cast(DataType::Float64) * d.clone() * d)
            .sum()
            .alias("m2"),
        col("first").min().alias("first"),
        col("last").max().alias("last"),
    ])
}

/// Builds the moment rollups of `hours` (all of one day, with their sources hashes) in one
/// pass over `files` (the part files of those hours and of the hour before each), and removes
/// those hours' rollups of other sources.
fn build_hours(
    lake: &Location,
    l: &StatLogic,
    hours: &[(HourPartition, String)],
    files: &[PartFile],
) -> Result<(), MomentsError> {
    let (Some(first), Some(last)) = (hours.iter().map(|h| h.0).min(), hours.iter().map(|h| h.0).max()) else {
        return Ok(());
    };
    let err = |source| MomentsError::Build {
        partition: first.prefix(),
        source,
    };
    let columns = plan::scan_columns(l, &l.key);
    let scan = crate::detect::scan(lake, files, &columns).map_err(err)?;
    let (from, to) = (first.start(), last.start() + Duration::hours(1));
    let starts = Series::new(
        "h".into(),
        hours
            .iter()
            .map(|(p, _)| p.start().timestamp_micros())
            .collect::<Vec<_>>(),
    );
    let hour = crate::detect::plan::hour_of(col("bucket"));
    let values = plan::tested_values(
        scan,
        l,
        &l.key,
        &l.metrics,
        &l.ratios,
        l.combine,
        Some(l.bucket),
        false,
        from,
        to,
    )
    .map_err(err)?
    .with_column(hour.alias("hour"))
    .filter(
        col("hour")
            .cast(DataType::Int64)
            .is_in(lit(starts).implode(false), false),
    );
    let mut group = l.key.clone();
    group.push("hour".into());
    let all = plan::moments(values, &group)
        .collect_with_engine(Engine::Streaming)
        .map(|r| r.unwrap_single())
        .map_err(err)?;
    let mut sort_by = l.key.clone();
    sort_by.push("name".into());
    let mut keep = crate::detect::plan::cols(&l.key);
    keep.extend(["name", "n", "sum", "m2", "first", "last"].map(col));
    for (p, sources) in hours {
        let mut df = all
            .clone()
            .lazy()
            .filter(col("hour").cast(DataType::Int64).eq(lit(p.start().timestamp_micros())))
            .select(keep.clone())
            .sort(sort_by.clone(), SortMultipleOptions::default().with_nulls_last(true))
            .collect()
            .map_err(err)?;
        let bytes = super::parquet_bytes(&mut df).map_err(err)?;
        let key = key(l, p, sources);
        lake.put(&key, bytes)?;
        let folder = key.rsplit_once('/').map(|(f, _)| f.to_string()).unwrap_or_default();
        for (other, _) in lake.list(&folder)? {
            if other != key {
                lake.delete(&other)?;
            }
        }
    }
    Ok(())
}

/// What [`compact`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MomentsReport {
    pub hours: u64,
    pub built: u64,
    pub up_to_date: u64,
}

/// Builds the missing or stale moment rollups of every hour of `hours` for each logic, given
/// the part files of the lake around them (`parts` must hold every file of those hours and of
/// the hours before them). One pass per day and logic.
pub fn compact(
    lake: &Location,
    logics: &[StatLogic],
    parts: &[PartFile],
    hours: &BTreeSet<HourPartition>,
) -> Result<MomentsReport, MomentsError> {
    let mut by_hour: BTreeMap<HourPartition, Vec<&PartFile>> = BTreeMap::new();
    for f in parts {
        by_hour.entry(f.partition).or_default().push(f);
    }
    let mut report = MomentsReport::default();
    let mut seen_shapes = BTreeSet::new();
    for l in logics {
        if !seen_shapes.insert(prefix(l)) {
            continue;
        }
        let existing = list(lake, l)?;
        let mut todo: BTreeMap<chrono::NaiveDate, Vec<(HourPartition, String)>> = BTreeMap::new();
        for p in hours {
            let Some(hour) = by_hour.get(p) else { continue };
            report.hours += 1;
            let previous = by_hour.get(&before(p)).cloned().unwrap_or_default();
            let sources = sources_hash(hour, &previous);
            if existing.get(p).is_some_and(|v| v.len() == 1 && v[0] == sources) {
                report.up_to_date += 1;
                continue;
            }
            todo.entry(p.date).or_default().push((*p, sources));
        }
        for day in todo.values() {
            let mut files: Vec<PartFile> = Vec::new();
            let mut wanted: BTreeSet<HourPartition> = BTreeSet::new();
            for (p, _) in day {
                wanted.insert(*p);
                wanted.insert(before(p));
            }
            for p in &wanted {
                files.extend(by_hour.get(p).into_iter().flatten().map(|f| (*f).clone()));
            }
            build_hours(lake, l, day, &files)?;
            report.built += day.len() as u64;
        }
    }
    Ok(report)
}

/// Rebuilds the moment rollups of the hours landing touched and of the hours after them
/// (whose lookback reads them), for each logic.
pub fn refresh(lake: &Location, logics: &[StatLogic], touched: &[HourPartition]) -> Result<u64, MomentsError> {
    if logics.is_empty() || touched.is_empty() {
        return Ok(0);
    }
    let mut hours: BTreeSet<HourPartition> = BTreeSet::new();
    for p in touched {
        hours.insert(*p);
        hours.insert(HourPartition::of(p.start() + Duration::hours(1)));
    }
    let (Some(first), Some(last)) = (hours.iter().next(), hours.iter().next_back()) else {
        return Ok(0);
    };
    let parts = super::parts_between(
        lake,
        first.start() - Duration::hours(1),
        last.start() + Duration::hours(1),
    )?;
    Ok(compact(lake, logics, &parts, &hours)?.built)
}
