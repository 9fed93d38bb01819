//! What goes into the moment rollups (`lake::moments`): each hour's moments of the intent's
//! bucket values, computed by [`plan`] exactly as a run computes them from raw points.
//!
//! In: the lake's part files of the hours to build and of the hour before each (counters'
//! lookback), the intent logics of the statistical detections loaded. Out: one rollup per hour
//! and logic shape, built in one pass per day, and one per day merged from its hours; [`MomentRollups`] is what landing's follow-up
//! calls for the hours it touched (and the hours after them, whose lookback reads them).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use super::logic::StatLogic;
use super::plan;
use crate::detect::plan::{cols, hour_of};
use crate::lake::moments::{self, MomentsError, MomentsReport};
use crate::lake::{self, scan, HourPartition, PartFile};
use crate::storage::Location;

/// The hash of everything a logic's bucket values depend on: its rollups' folder.
pub fn shape(l: &StatLogic) -> String {
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
    format!("{:016x}", h.digest())
}

/// Builds the rollups of `hours` (of one day, with their sources hashes) in one pass over
/// `files` (those hours' part files and the hour before each's).
fn build_hours(
    lake_loc: &Location,
    l: &StatLogic,
    shape: &str,
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
    let scan = scan::parts(lake_loc, files, &columns).map_err(err)?;
    let (from, to) = (first.start(), last.start() + Duration::hours(1));
    let starts = Series::new(
        "h".into(),
        hours
            .iter()
            .map(|(p, _)| p.start().timestamp_micros())
            .collect::<Vec<_>>(),
    );
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
    .with_column(hour_of(col("bucket")).cast(DataType::Int64).alias("hour"))
    .filter(col("hour").is_in(lit(starts).implode(false), false));
    let mut group = l.key.clone();
    group.push("hour".into());
    let all = plan::moments(values, &group)
        .collect_with_engine(Engine::Streaming)
        .map(|r| r.unwrap_single())
        .map_err(err)?;
    let mut sort_by = l.key.clone();
    sort_by.push("name".into());
    let mut keep = cols(&l.key);
    keep.extend(["name", "n", "sum", "m2", "first", "last"].map(col));
    for (p, sources) in hours {
        let table = all
            .clone()
            .lazy()
            .filter(col("hour").eq(lit(p.start().timestamp_micros())))
            .select(keep.clone())
            .sort(sort_by.clone(), SortMultipleOptions::default().with_nulls_last(true))
            .collect()
            .map_err(err)?;
        moments::put(lake_loc, &moments::key(shape, p, sources), table)?;
    }
    Ok(())
}

/// Builds the missing or stale moment rollups of `hours` for each logic, then the day rollup of
/// every date of `hours` whose hours with data all have a valid rollup; `parts` must hold every
/// part file of those dates and of the hour before each. One pass per day and logic.
pub fn compact(
    lake_loc: &Location,
    logics: &[StatLogic],
    parts: &[PartFile],
    hours: &BTreeSet<HourPartition>,
) -> Result<MomentsReport, MomentsError> {
    let mut by_hour: BTreeMap<HourPartition, Vec<&PartFile>> = BTreeMap::new();
    for f in parts {
        by_hour.entry(f.partition).or_default().push(f);
    }
    let sources_of = |p: &HourPartition| {
        by_hour.get(p).map(|hour| {
            let previous = by_hour.get(&moments::before(p)).cloned().unwrap_or_default();
            moments::sources_hash(hour, &previous)
        })
    };
    let mut report = MomentsReport::default();
    let mut done = BTreeSet::new();
    for l in logics {
        let shape = shape(l);
        if !done.insert(shape.clone()) {
            continue;
        }
        let existing = moments::list(lake_loc, &shape)?;
        let mut todo: BTreeMap<NaiveDate, Vec<(HourPartition, String)>> = BTreeMap::new();
        for p in hours {
            let Some(sources) = sources_of(p) else { continue };
            report.hours += 1;
            if existing.hours.get(p).is_some_and(|v| v.len() == 1 && v[0] == sources) {
                report.up_to_date += 1;
            } else {
                todo.entry(p.date).or_default().push((*p, sources));
            }
        }
        for day in todo.values() {
            let wanted: BTreeSet<HourPartition> = day.iter().flat_map(|(p, _)| [*p, moments::before(p)]).collect();
            let files: Vec<PartFile> = wanted
                .iter()
                .flat_map(|p| by_hour.get(p).into_iter().flatten().map(|f| (*f).clone()))
                .collect();
            build_hours(lake_loc, l, &shape, day, &files)?;
            report.built += day.len() as u64;
        }
        // The days: from every hour of the date with data, each rollup valid (just built, or
        // listed with its sources).
        let dates: BTreeSet<NaiveDate> = hours.iter().map(|p| p.date).collect();
        for date in dates {
            let day: Vec<(HourPartition, String)> = by_hour
                .keys()
                .filter(|p| p.date == date)
                .filter_map(|p| sources_of(p).map(|s| (*p, s)))
                .collect();
            let valid = day
                .iter()
                .all(|(p, s)| hours.contains(p) || existing.hours.get(p).is_some_and(|v| v.contains(s)));
            let current = existing
                .days
                .get(&date)
                .is_some_and(|v| v.len() == 1 && v[0] == moments::day_sources(&day));
            if day.is_empty() || !valid || current {
                continue;
            }
            moments::build_day(lake_loc, &shape, &l.key, date, &day)?;
            report.days_built += 1;
        }
    }
    Ok(report)
}

/// The moment rollups of the statistical detections loaded: what landing refreshes.
#[derive(Debug, Clone)]
pub struct MomentRollups(pub Vec<StatLogic>);

impl lake::followup::HourlyRollups for MomentRollups {
    /// Rebuilds the rollups of the hours landing touched and of the hours after them, and the
    /// day rollups of their dates.
    fn refresh(&self, lake_loc: &Location, touched: &[HourPartition]) -> Result<u64, MomentsError> {
        if self.0.is_empty() || touched.is_empty() {
            return Ok(0);
        }
        let hours: BTreeSet<HourPartition> = touched
            .iter()
            .flat_map(|p| [*p, HourPartition::of(p.start() + Duration::hours(1))])
            .collect();
        let (Some(first), Some(last)) = (hours.first(), hours.last()) else {
            return Ok(0);
        };
        // Whole dates (their day rollups name every hour with data), and the hour before.
        let day_start = |p: &HourPartition| HourPartition { hour: 0, ..*p }.start();
        let parts = lake::parts_between(
            lake_loc,
            day_start(first) - Duration::hours(1),
            day_start(last) + Duration::days(1),
        )?;
        Ok(compact(lake_loc, &self.0, &parts, &hours)?.built)
    }
}
