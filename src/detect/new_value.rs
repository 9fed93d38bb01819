//! The new-value family: keys present in the current window and absent from the baseline.
//!
//! In: the lake, a [`Spec`] of family `new_value`, the window. Out: a [`Run`] whose findings
//! hold one row per new key with its evidence (first and last sighting, samples, prevalence
//! elsewhere in the cluster, baseline coverage of its node). Invariants: only the partitions
//! overlapping `[baseline_start, end)` are listed and scanned; whole baseline hours with a
//! valid rollup are read from it, the rest raw, and the result equals reading every raw point
//! (the reference, `--no-rollups`).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration};
use polars::prelude::*;

use super::columns::finish_columns;
use super::outcome::{counts, last_point, query_error, DetectError, DetectOptions, NodeCoverage, Run, Scanned};
use super::plan::{self, Logic, Window};
use super::spec::Spec;
use super::window::window_for;
use crate::config::fmt_instant;
use crate::lake::rollup::{self, RollupShape};
use crate::lake::{self, scan, HourPartition, PartFile};
use crate::storage::Location;

/// The part files a run reads: the baseline's and the window's, and what they add up to.
struct Listed {
    baseline: Vec<PartFile>,
    current: Vec<PartFile>,
    scanned: Scanned,
    warnings: Vec<String>,
}

/// Lists the part files of `window` and its baseline and counts them.
fn list(lake: &Location, window: &Window) -> Result<Listed, DetectError> {
    scan::require_points(lake)?;
    let baseline = lake::parts_between(lake, window.baseline_start, window.baseline_end)?;
    let current = lake::parts_between(lake, window.start, window.end)?;
    let mut scanned = Scanned::default();
    let all = distinct(baseline.iter().chain(&current));
    scanned.files = all.len() as u64;
    scanned.bytes = all.iter().map(|f| f.size).sum();
    let mut parts: Vec<_> = all.iter().map(|f| f.partition).collect();
    parts.dedup();
    scanned.partitions = parts.len() as u64;
    scanned.current_files = current.len() as u64;
    let mut warnings = Vec::new();
    if current.is_empty() {
        warnings.push(format!(
            "no data in the current window [{}, {}): the lake has no partition there, so nothing can be new",
            fmt_instant(window.start),
            fmt_instant(window.end)
        ));
    }
    if baseline.is_empty() {
        warnings.push(format!(
            "no data in the baseline [{}, {}): every key in the window is new and every node's baseline is incomplete",
            fmt_instant(window.baseline_start),
            fmt_instant(window.baseline_end)
        ));
    }
    Ok(Listed {
        baseline,
        current,
        scanned,
        warnings,
    })
}

/// `files` sorted by key, each once.
fn distinct<'a>(files: impl Iterator<Item = &'a PartFile>) -> Vec<&'a PartFile> {
    let mut all: Vec<&PartFile> = files.collect();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all.dedup_by(|a, b| a.key == b.key);
    all
}

/// The error of a failed read of the objects `keys`: the corrupt one named if there is one.
fn read_error<'a>(lake: &Location, slug: &str, e: PolarsError, keys: impl IntoIterator<Item = &'a str>) -> DetectError {
    scan::find_corrupt(lake, keys).map_or_else(|| query_error(slug)(e), DetectError::from)
}

/// The baseline presence table: the one pass over the 30 days. Whole hours with a valid
/// rollup are read from it; partial hours and hours without one, raw.
fn read_baseline(
    lake: &Location,
    spec: &Spec,
    opts: &DetectOptions,
    logic: &Logic,
    window: &Window,
    listed: &mut Listed,
) -> Result<DataFrame, DetectError> {
    let q = query_error(&spec.slug);
    let (raw_files, rollup_keys, covered) =
        split_baseline(lake, &listed.baseline, window, logic, opts.rollups.as_ref(), true)?;
    let scanned = &mut listed.scanned;
    scanned.rollup_hours = covered;
    scanned.rollup_objects = rollup_keys.len() as u64;
    // What was read raw: the baseline's raw part files and the window's.
    let read = distinct(raw_files.iter().chain(&listed.current));
    scanned.raw_files = read.len() as u64;
    scanned.raw_bytes = read.iter().map(|f| f.size).sum();
    scanned.raw_hours = {
        let mut hours: Vec<HourPartition> = raw_files.iter().map(|f| f.partition).collect();
        hours.dedup();
        hours.len() as u64
    };
    let mut parts = vec![plan::baseline_presence(
        scan::parts(lake, &raw_files, &logic.baseline_columns()).map_err(&q)?,
        logic,
        window,
    )];
    if !rollup_keys.is_empty() {
        let rollups = scan::objects(lake, &rollup_keys).map_err(&q)?;
        parts.push(plan::baseline_presence_from_rollups(rollups, logic));
    }
    let merged = plan::merge_presence(parts, logic).map_err(&q)?;
    let baseline = plan::collect(merged).map_err(|e| {
        let keys = raw_files.iter().map(|f| f.key.as_str());
        read_error(lake, &spec.slug, e, keys.chain(rollup_keys.iter().map(String::as_str)))
    })?;
    scanned.baseline_keys = baseline.height() as u64;
    Ok(baseline)
}

/// Runs a new-value detection for the window of `opts`.
pub fn run(lake: &Location, spec: &Spec, opts: &DetectOptions) -> Result<Run, DetectError> {
    let mut timings = BTreeMap::new();
    let window = window_for(spec, opts)?;
    let logic = Logic::of(spec, opts.splunk_compat);
    let q = query_error(&spec.slug);

    let t = Instant::now();
    let mut listed = list(lake, &window)?;
    timings.insert("list".to_string(), t.elapsed().as_millis() as u64);

    // 1. The baseline presence table.
    let t = Instant::now();
    let baseline = read_baseline(lake, spec, opts, &logic, &window, &mut listed)?;
    timings.insert("baseline".to_string(), t.elapsed().as_millis() as u64);
    let Listed {
        current: current_files,
        mut scanned,
        warnings,
        ..
    } = listed;

    // 2. The current window: its sightings, and the unkeyed counts of both windows.
    let t = Instant::now();
    let current = plan::collect(plan::current_points(
        scan::parts(lake, &current_files, &logic.current_columns()).map_err(&q)?,
        &logic,
        &window,
    ))
    .map_err(|e| read_error(lake, &spec.slug, e, current_files.iter().map(|f| f.key.as_str())))?;
    let mut unkeyed_current = counts(
        &plan::unkeyed_counts(current.clone().lazy(), &logic, None)
            .collect()
            .map_err(&q)?,
    );
    let mut unkeyed_baseline = counts(
        &plan::unkeyed_counts(baseline.clone().lazy(), &logic, Some("n"))
            .collect()
            .map_err(&q)?,
    );
    scanned.current_points = unkeyed_current.remove("points").unwrap_or(0);
    scanned.baseline_points = unkeyed_baseline.remove("points").unwrap_or(0);
    unkeyed_current.retain(|_, v| *v > 0);
    unkeyed_baseline.retain(|_, v| *v > 0);
    timings.insert("current".to_string(), t.elapsed().as_millis() as u64);

    // 3. The anti-join and the evidence.
    let t = Instant::now();
    let slack = window.end - window.start;
    let found = plan::findings(current.clone().lazy(), baseline.clone().lazy(), &logic, &window, slack)
        .collect()
        .map_err(&q)?;
    let found = finish_columns(found, spec, &logic.key, &window, evidence(&logic), &logic.context).map_err(&q)?;
    timings.insert("findings".to_string(), t.elapsed().as_millis() as u64);

    // 4. Coverage of the nodes seen in the window.
    let (nodes_in_window, incomplete_nodes) = coverage(&current, &baseline, &logic, &window, slack).map_err(&q)?;

    let mut run = Run::new(spec, opts, window, found);
    run.scanned = scanned;
    run.unkeyed_current = unkeyed_current;
    run.unkeyed_baseline = unkeyed_baseline;
    run.nodes_in_window = nodes_in_window;
    run.incomplete_nodes = incomplete_nodes;
    run.warnings = warnings;
    run.timings_ms = timings;
    run.last_point = last_point(current.lazy());
    // 5. The allowlist.
    run.allowlist(opts, &logic.key)?;
    Ok(run)
}

/// The findings frame of a window without findings: the exact columns and types a run
/// produces, with no rows.
pub fn empty_findings(spec: &Spec, logic: &Logic, window: &Window) -> PolarsResult<DataFrame> {
    let typed = |c: &str| match c {
        "time" | "first" | "last" => crate::lake::schema::time_dtype(),
        "process_pid" | "n" => DataType::Int64,
        _ => DataType::String,
    };
    let schema =
        |cols: Vec<String>| -> Schema { cols.iter().map(|c| Field::new(c.as_str().into(), typed(c))).collect() };
    let current = DataFrame::empty_with_schema(&schema(logic.current_columns()));
    let mut bcols = logic.baseline_group();
    bcols.extend(["first".to_string(), "last".to_string(), "n".to_string()]);
    let baseline = DataFrame::empty_with_schema(&schema(bcols));
    let found = plan::findings(
        current.lazy(),
        baseline.lazy(),
        logic,
        window,
        window.end - window.start,
    )
    .collect()?;
    finish_columns(found, spec, &logic.key, window, evidence(logic), &logic.context)
}

/// Splits the baseline's part files into those read raw and the rollup objects that replace
/// the rest: a whole day (with `days`) or a whole hour inside the baseline whose valid rollup
/// (built from exactly its current part files, with the columns this logic groups by) exists.
pub(super) fn split_baseline(
    lake: &Location,
    files: &[PartFile],
    w: &Window,
    logic: &Logic,
    shape: Option<&RollupShape>,
    days: bool,
) -> Result<(Vec<PartFile>, Vec<String>, u64), DetectError> {
    let Some(shape) = shape.filter(|s| logic.baseline_group().iter().all(|c| s.columns.contains(c))) else {
        return Ok((files.to_vec(), Vec::new(), 0));
    };
    let existing = rollup::list(lake, shape)?;
    let mut by_partition: BTreeMap<HourPartition, Vec<&PartFile>> = BTreeMap::new();
    for f in files {
        by_partition.entry(f.partition).or_default().push(f);
    }
    let mut by_day: BTreeMap<chrono::NaiveDate, Vec<(HourPartition, String)>> = BTreeMap::new();
    for (p, fs) in &by_partition {
        by_day.entry(p.date).or_default().push((*p, rollup::sources_hash(fs)));
    }
    let (mut raw, mut keys, mut covered) = (Vec::new(), Vec::new(), 0u64);
    for (date, hours) in by_day {
        let day_start = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_default();
        let whole_day = day_start >= w.baseline_start && day_start + Duration::days(1) <= w.baseline_end;
        let hours_valid = hours
            .iter()
            .all(|(p, src)| existing.hours.get(p).is_some_and(|v| v.contains(src)));
        let day_sources = rollup::day_sources_hash(&hours);
        if days && whole_day && hours_valid && existing.days.get(&date).is_some_and(|v| v.contains(&day_sources)) {
            keys.push(shape.day_key(date, &day_sources));
            covered += hours.len() as u64;
            continue;
        }
        for (p, src) in hours {
            let whole = p.start() >= w.baseline_start && p.start() + Duration::hours(1) <= w.baseline_end;
            if whole && existing.hours.get(&p).is_some_and(|v| v.contains(&src)) {
                keys.push(shape.key(&p, &src));
                covered += 1;
            } else if let Some(fs) = by_partition.get(&p) {
                raw.extend(fs.iter().map(|f| (*f).clone()));
            }
        }
    }
    Ok((raw, keys, covered))
}

/// Nodes (scope + entity) with points in the window, and those without full baseline history.
fn coverage(
    current: &DataFrame,
    baseline: &DataFrame,
    logic: &Logic,
    w: &Window,
    slack: Duration,
) -> PolarsResult<(u64, Vec<NodeCoverage>)> {
    let mut se: Vec<Expr> = logic.scope.iter().map(|c| col(c.as_str())).collect();
    se.push(col(logic.entity.as_str()));
    let nodes = current
        .clone()
        .lazy()
        .filter(col(logic.entity.as_str()).is_not_null())
        .select(se.clone())
        .unique(None, UniqueKeepStrategy::Any);
    let first = baseline
        .clone()
        .lazy()
        .group_by(se.clone())
        .agg([col("first").min().alias("first_seen")]);
    let joined = nodes
        .join(first, se.clone(), se.clone(), JoinArgs::new(JoinType::Left))
        .sort(
            logic.scope.iter().chain([&logic.entity]).cloned().collect::<Vec<_>>(),
            SortMultipleOptions::default(),
        )
        .collect()?;
    let total = joined.height() as u64;
    let limit = w.baseline_start + slack;
    let cluster = logic.scope.first().map(String::as_str).unwrap_or("k8s_cluster_name");
    let text = |c: &str, i: usize| -> String {
        joined
            .column(c)
            .ok()
            .and_then(|c| c.get(i).ok())
            .map(|v| v.str_value().to_string())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for i in 0..joined.height() {
        let first_us = joined
            .column("first_seen")
            .ok()
            .and_then(|c| c.get(i).ok())
            .and_then(|v| match v {
                AnyValue::Datetime(us, _, _) => Some(us),
                _ => None,
            });
        let complete = first_us.is_some_and(|us| us < limit.timestamp_micros());
        if !complete {
            out.push(NodeCoverage {
                k8s_cluster_name: text(cluster, i),
                k8s_node_name: text(&logic.entity, i),
                first_seen: first_us.and_then(DateTime::from_timestamp_micros).map(fmt_instant),
            });
        }
    }
    Ok((total, out))
}

/// The new-value family's evidence columns, after the key.
fn evidence(logic: &Logic) -> Vec<Expr> {
    let mut e = Vec::new();
    if logic.pids.is_some() {
        e.push(col("process_pids"));
    }
    e.extend([
        col("first_seen"),
        col("last_seen"),
        col("samples"),
        col("baseline_complete"),
        col("node_first_seen"),
        col("cluster_prevalence"),
        col("cluster_first_seen"),
    ]);
    e
}
