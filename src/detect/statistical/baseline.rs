//! The baseline a statistical run judges against, read the cheapest exact way.
//!
//! In: the lake, a [`StatLogic`] and its window. Out: per (baseline key, name) `n`, `avg`,
//! `stdev`, `first`, `last` (and `sum`, `m2` for inline baselines), sorted, plus what was read.
//! - `--splunk-compat` with a lookup: the weekly table as of its run, read when the lake keeps
//!   it, else computed from raw points ([`lookup::compute`]) and handed to the report to keep;
//! - the intent with rollups: whole days, then whole hours, from valid moment rollups
//!   (`lake::moments`), every other hour (partial at the edges, without a valid rollup, or made stale by late data)
//!   from raw points, merged with Chan's formula;
//! - the intent without rollups (`--no-rollups`): the plain computation over raw points, the
//!   reference the two others must equal.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use polars::prelude::*;

use super::logic::StatLogic;
use super::{lookup, plan, rollups};
use crate::detect::outcome::{DetectError, Scanned};
use crate::detect::plan::{collect, cols, hour_of, Window};
use crate::lake::{self, moments, scan, HourPartition, LakeError, PartFile};
use crate::storage::Location;

/// What [`read`] read.
pub struct Read {
    pub table: DataFrame,
    pub scanned: Scanned,
    /// A lookup computed because the lake did not keep it: (object key, table).
    pub built: Option<(String, DataFrame)>,
    /// Part files in the baseline's range.
    pub files: usize,
}

/// The baseline of `l` over `w` (`lookup_run`: the weekly run a compat lookup is as of).
pub fn read(
    lake_loc: &Location,
    l: &StatLogic,
    w: &Window,
    lookup_run: Option<DateTime<Utc>>,
    use_rollups: bool,
    q: &impl Fn(PolarsError) -> DetectError,
) -> Result<Read, DetectError> {
    let files = lake::parts_between(lake_loc, w.baseline_start - l.lookback, w.baseline_end)?;
    let mut scanned = Scanned::default();
    scanned.files = files.len() as u64;
    scanned.bytes = files.iter().map(|f| f.size).sum();
    scanned.raw_files = scanned.files;
    scanned.raw_bytes = scanned.bytes;
    let mut parts: Vec<HourPartition> = files.iter().map(|f| f.partition).collect();
    parts.dedup();
    scanned.partitions = parts.len() as u64;
    scanned.raw_hours = parts.len() as u64;
    let columns = plan::scan_columns(l, &l.key);
    let mut built = None;
    let table = match (&l.lookup, lookup_run) {
        (Some(lk), Some(run_at)) => {
            let okey = lake::keys::lookup(&lk.name, run_at);
            let wide = match lake_loc.get_opt(&okey)? {
                Some(bytes) => ParquetReader::new(std::io::Cursor::new(bytes))
                    .finish()
                    .map_err(|e| corrupt_object(lake_loc, &okey, e.to_string()))?,
                None => {
                    let scan = scan::parts(lake_loc, &files, &columns).map_err(q)?;
                    let long = lookup::compute(scan, l, lk, w.baseline_start, w.baseline_end).map_err(q)?;
                    let wide =
                        collect(lookup::to_wide(long, lk, &l.tested())).map_err(|e| corrupt(lake_loc, &files, e, q))?;
                    built = Some((okey.clone(), wide.clone()));
                    wide
                }
            };
            lookup::from_wide(&wide, &l.tested()).map_err(|m| corrupt_object(lake_loc, &okey, m))?
        }
        _ if use_rollups => from_rollups(lake_loc, l, w, &files, &mut scanned, q)?,
        _ => {
            let scan = scan::parts(lake_loc, &files, &columns).map_err(q)?;
            let values = plan::tested_values(
                scan,
                l,
                &l.key,
                &l.metrics,
                &l.ratios,
                l.combine,
                Some(l.bucket),
                false,
                w.baseline_start,
                w.baseline_end,
            )
            .map_err(q)?;
            plan::with_stats(plan::moments(values, &l.baseline_key))
        }
    };
    let table = if l.stdev_as_avg.is_empty() {
        table
    } else {
        let names = Series::new("n".into(), l.stdev_as_avg.clone());
        table.with_column(
            when(col("name").is_in(lit(names).implode(false), false))
                .then(col("avg"))
                .otherwise(col("stdev"))
                .alias("stdev"),
        )
    };
    let mut order = l.baseline_key.clone();
    order.push("name".into());
    let table = collect(table.sort(order, SortMultipleOptions::default().with_nulls_last(true)))
        .map_err(|e| corrupt(lake_loc, &files, e, q))?;
    scanned.baseline_keys = table.height() as u64;
    scanned.baseline_points = table
        .column("n")
        .ok()
        .and_then(|c| c.i64().ok().and_then(|v| v.sum()))
        .unwrap_or(0);
    Ok(Read {
        table,
        scanned,
        built,
        files: files.len(),
    })
}

fn corrupt_object(lake_loc: &Location, key: &str, message: String) -> DetectError {
    DetectError::Lake(LakeError::CorruptFile {
        file: lake_loc.describe(key),
        message,
    })
}

/// The intent's baseline from moment rollups (whole days, whole hours with a valid one) and raw points
/// (the other hours), merged.
fn from_rollups(
    lake_loc: &Location,
    l: &StatLogic,
    w: &Window,
    files: &[PartFile],
    scanned: &mut Scanned,
    q: &impl Fn(PolarsError) -> DetectError,
) -> Result<LazyFrame, DetectError> {
    let shape = rollups::shape(l);
    let existing = moments::list(lake_loc, &shape)?;
    let mut by_hour: BTreeMap<HourPartition, Vec<&PartFile>> = BTreeMap::new();
    for f in files {
        by_hour.entry(f.partition).or_default().push(f);
    }
    let sources_of = |p: &HourPartition, fs: &[&PartFile]| {
        let previous = by_hour.get(&moments::before(p)).cloned().unwrap_or_default();
        moments::sources_hash(fs, &previous)
    };
    // Whole dates inside the baseline whose day rollup names every hour of theirs with data.
    let mut from_days: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut day_keys = Vec::new();
    let dates: BTreeSet<NaiveDate> = by_hour.keys().map(|p| p.date).collect();
    for date in dates {
        let start = HourPartition { date, hour: 0 }.start();
        if start < w.baseline_start || start + Duration::days(1) > w.baseline_end {
            continue;
        }
        let day: Vec<(HourPartition, String)> = by_hour
            .iter()
            .filter(|(p, _)| p.date == date)
            .map(|(p, fs)| (*p, sources_of(p, fs)))
            .collect();
        let sources = moments::day_sources(&day);
        if existing.days.get(&date).is_some_and(|v| v.contains(&sources)) {
            from_days.insert(date);
            day_keys.push(moments::day_key(&shape, date, &sources));
            scanned.rollup_hours += day.len() as u64;
        }
    }
    let (mut keys, mut raw_hours, mut wanted) = (day_keys, Vec::new(), BTreeSet::new());
    for (p, fs) in &by_hour {
        // Hours before the baseline only feed the lookback.
        if p.start() + Duration::hours(1) <= w.baseline_start || from_days.contains(&p.date) {
            continue;
        }
        let whole = p.start() >= w.baseline_start && p.start() + Duration::hours(1) <= w.baseline_end;
        let sources = sources_of(p, fs);
        if whole && existing.hours.get(p).is_some_and(|v| v.contains(&sources)) {
            keys.push(moments::key(&shape, p, &sources));
            scanned.rollup_hours += 1;
        } else {
            raw_hours.push(*p);
            wanted.insert(*p);
            wanted.insert(moments::before(p));
        }
    }
    let raw_files: Vec<PartFile> = wanted
        .iter()
        .flat_map(|p| by_hour.get(p).into_iter().flatten().map(|f| (*f).clone()))
        .collect();
    scanned.rollup_objects = keys.len() as u64;
    scanned.raw_hours = raw_hours.len() as u64;
    scanned.raw_files = raw_files.len() as u64;
    scanned.raw_bytes = raw_files.iter().map(|f| f.size).sum();
    let columns = plan::scan_columns(l, &l.key);
    let starts = Series::new(
        "h".into(),
        raw_hours
            .iter()
            .map(|p| p.start().timestamp_micros())
            .collect::<Vec<_>>(),
    );
    let raw = plan::tested_values(
        scan::parts(lake_loc, &raw_files, &columns).map_err(q)?,
        l,
        &l.key,
        &l.metrics,
        &l.ratios,
        l.combine,
        Some(l.bucket),
        false,
        w.baseline_start,
        w.baseline_end,
    )
    .map_err(q)?
    .filter(
        hour_of(col("bucket"))
            .cast(DataType::Int64)
            .is_in(lit(starts).implode(false), false),
    );
    let mut parts = vec![plan::moments(raw, &l.key)];
    if !keys.is_empty() {
        let mut sel = cols(&l.key);
        sel.extend(["name", "n", "sum", "m2", "first", "last"].map(col));
        parts.push(scan::objects(lake_loc, &keys).map_err(q)?.select(sel));
    }
    let all = concat(parts, UnionArgs::default()).map_err(q)?;
    Ok(plan::with_stats(moments::merge(all, &l.baseline_key)))
}

/// The error of a failed read of `files`: the corrupt file when one is, else the query's.
pub fn corrupt(
    lake_loc: &Location,
    files: &[PartFile],
    e: PolarsError,
    q: &impl Fn(PolarsError) -> DetectError,
) -> DetectError {
    scan::find_corrupt(lake_loc, files.iter().map(|f| f.key.as_str())).map_or_else(|| q(e), DetectError::from)
}
