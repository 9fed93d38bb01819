//! Backfill's library side: the single pass that decides which windows of a range have new
//! keys, the empty result of the windows that have none, and the pool writing those.
//!
//! In: the lake, a [`Spec`], options and the window ends of a range. Out: the ends whose
//! window must be run in full (`None` when the single pass cannot decide them exactly), and
//! for the others the [`Run`] a separate run would write. Invariant: what a backfill writes
//! for a window equals what `detect --at <end>` writes for it.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use polars::prelude::*;

use super::new_value::{self, split_baseline};
use super::outcome::{query_error, DetectError, DetectOptions, Run};
use super::plan::{self, Logic, Window};
use super::spec::{Family, Spec};
use super::window::{baseline_gap, lengths, window_at};
use crate::lake::{self, scan};
use crate::storage::Location;

/// How many threads write the empty results of a backfill (each is three small puts).
const WRITERS: usize = 4;

/// Backfill's single pass: of the window ends `ends`, those whose window has at least one new
/// key, computed from one read of every hour involved (rollups where valid, raw otherwise).
/// `None` when the windows are not the aligned one-hour windows this pass decides exactly;
/// then every window is run on its own.
pub fn windows_with_new_keys(
    lake: &Location,
    spec: &Spec,
    opts: &DetectOptions,
    ends: &[DateTime<Utc>],
) -> Result<Option<BTreeSet<DateTime<Utc>>>, DetectError> {
    let Some(first_end) = ends.first() else {
        return Ok(Some(Default::default()));
    };
    // Every window must be valid on its own (not in the future), as a separate run checks.
    if let Some(last) = ends.iter().max() {
        window_at(spec, opts, *last)?;
    }
    if spec.family != Family::NewValue || baseline_gap(spec, opts).is_some() {
        return Ok(None);
    }
    let (current, baseline) = lengths(spec, opts)?;
    let hour = Duration::hours(1);
    let aligned = |t: &DateTime<Utc>| t.timestamp_micros() % hour.num_microseconds().unwrap_or(1) == 0;
    if current != hour || baseline.num_seconds() % 3600 != 0 || !ends.iter().all(aligned) {
        return Ok(None);
    }
    let logic = Logic::of(spec, opts.splunk_compat);
    let q = query_error(&spec.slug);
    let last_end = ends.iter().max().copied().unwrap_or(*first_end);
    let span = Window {
        baseline_start: *ends.iter().min().unwrap_or(first_end) - baseline,
        baseline_end: last_end,
        start: last_end,
        end: last_end,
    };
    let files = lake::parts_between(lake, span.baseline_start, span.start)?;
    let (raw, rollup_keys, _) = split_baseline(lake, &files, &span, &logic, opts.rollups.as_ref(), false)?;
    let mut group = logic.baseline_group();
    group.push("hour".into());
    let group: Vec<Expr> = group.iter().map(|c| col(c.as_str())).collect();
    let mut parts = Vec::new();
    let raw_lf = scan::parts(lake, &raw, &logic.baseline_columns()).map_err(&q)?;
    parts.push(
        plan::sightings(raw_lf, &logic, span.baseline_start, span.start)
            .with_column(plan::hour_of(col("time")).alias("hour"))
            .group_by(group.clone())
            .agg([len().cast(DataType::Int64).alias("n")]),
    );
    if !rollup_keys.is_empty() {
        let r = scan::objects(lake, &rollup_keys).map_err(&q)?;
        parts.push(
            plan::rollup_sightings(r, &logic)
                .group_by(group.clone())
                .agg([col("n").sum().alias("n")]),
        );
    }
    let all = concat(parts, UnionArgs::default()).map_err(&q)?;
    let hours = plan::collect(plan::hours_with_new_keys(all, &logic, baseline)).map_err(&q)?;
    let wanted: BTreeSet<DateTime<Utc>> = ends.iter().copied().collect();
    let mut out = BTreeSet::new();
    if let Ok(c) = hours.column("hour") {
        for i in 0..c.len() {
            if let Ok(AnyValue::Datetime(us, _, _)) | Ok(AnyValue::DatetimeOwned(us, _, _)) = c.get(i) {
                if let Some(t) = DateTime::from_timestamp_micros(us) {
                    let end = t + hour;
                    if wanted.contains(&end) {
                        out.insert(end);
                    }
                }
            }
        }
    }
    Ok(Some(out))
}

/// The result of a window without findings (what backfill writes for windows its single pass
/// cleared): the exact findings columns and types a run produces, with no rows.
pub fn empty_findings(spec: &Spec, opts: &DetectOptions, at: DateTime<Utc>) -> Result<Run, DetectError> {
    let window = window_at(spec, opts, at)?;
    let logic = Logic::of(spec, opts.splunk_compat);
    let findings = new_value::empty_findings(spec, &logic, &window).map_err(query_error(&spec.slug))?;
    let mut run = Run::new(spec, opts, window, findings);
    run.warnings = vec![
        "backfill: no key in this window is new (decided by the single pass over the range); evidence not recomputed"
            .into(),
    ];
    Ok(run)
}

/// Writes `template` moved to each window of `ends` (see [`Run::clone_for`]) with a few
/// threads, each window through `write`; returns the ends written, in order, or the first
/// error in that order.
pub fn write_each<E>(
    template: &Run,
    ends: &[DateTime<Utc>],
    write: &(dyn Fn(&Run) -> Result<(), E> + Sync),
) -> Result<Vec<DateTime<Utc>>, E>
where
    E: From<DetectError> + Send,
{
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    let written: Vec<Result<DateTime<Utc>, E>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ends
            .chunks(ends.len().div_ceil(WRITERS))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|end| {
                            let mut run = template.clone_for(*end);
                            run.timings_ms.clear();
                            write(&run)?;
                            Ok(*end)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![Err(DetectError::WriterPanicked.into())])
            })
            .collect()
    });
    written.into_iter().collect()
}
