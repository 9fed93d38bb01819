//! Detect: one window of one detection, from the lake to a findings DataFrame and its counts.
//!
//! In: the lake, a [`Spec`] from `queries/`, `--at` and options. Out: a [`Run`] holding the
//! findings (the DESIGN.md columns, sorted by key) and everything the report states: scanned
//! partitions/files/rows, unkeyed points by reason, baseline coverage per node, suppressions,
//! timings. Invariants: only the partitions overlapping `[baseline_start, at)` are listed and
//! scanned, and a time predicate reaches the Parquet scan; the same lake and `--at` give the
//! same rows in the same order; nothing is written here (see `report`).

pub mod allowlist;
pub mod plan;
pub mod risk_object;
pub mod rule;
pub mod spec;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use polars::prelude::*;
use serde::Serialize;

use crate::config::{fmt_instant, parse_duration, Clock};
use crate::lake::rollup::{self, RollupShape};
use crate::lake::{self, HourPartition, PartFile};
use crate::storage::{Location, StorageError};
use allowlist::{Allowlist, Suppressed};
use plan::{Logic, Window};
use spec::Spec;

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "lake {lake} has no landed points (nothing under metrics/): run `kubeseen land --lake {lake} <INPUT>...` first"
    )]
    EmptyLake { lake: String },
    #[error("corrupt Parquet file {file}: {message}")]
    CorruptFile { file: String, message: String },
    #[error("{detection}: query failed: {source}")]
    Query { detection: String, source: PolarsError },
    #[error(transparent)]
    Allowlist(#[from] allowlist::AllowlistError),
}

#[derive(Debug, Clone)]
pub struct DetectOptions {
    pub at: Option<DateTime<Utc>>,
    pub window: Option<Duration>,
    pub baseline: Option<Duration>,
    pub splunk_compat: bool,
    pub allowlist: Option<Allowlist>,
    pub clock: Clock,
    /// Read whole baseline hours from rollups of this shape where a valid one exists
    /// (`None`: raw points only — the reference every rollup read must match).
    pub rollups: Option<RollupShape>,
}

/// What was read for a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scanned {
    pub partitions: u64,
    pub files: u64,
    pub bytes: u64,
    pub current_files: u64,
    pub current_points: i64,
    pub baseline_points: i64,
    pub baseline_keys: u64,
    /// Baseline hours read from rollups (through `rollup_objects` hour and day rollups), and
    /// baseline hours (whole or partial) read from raw points.
    pub rollup_hours: u64,
    pub rollup_objects: u64,
    pub raw_hours: u64,
    /// Raw part files (and their bytes) actually read: the window's and the raw baseline hours'.
    /// `files`/`bytes` count every part file in range.
    pub raw_files: u64,
    pub raw_bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeCoverage {
    pub k8s_cluster_name: String,
    pub k8s_node_name: String,
    /// The node's first sighting in the baseline, if any.
    pub first_seen: Option<String>,
}

/// One detection run over one window.
#[derive(Clone)]
pub struct Run {
    pub spec: Spec,
    pub logic: Logic,
    pub splunk_compat: bool,
    pub window: Window,
    pub findings: DataFrame,
    pub scanned: Scanned,
    /// Presence points of the window / baseline lacking a key attribute, by reason.
    pub unkeyed_current: BTreeMap<String, i64>,
    pub unkeyed_baseline: BTreeMap<String, i64>,
    pub nodes_in_window: u64,
    pub incomplete_nodes: Vec<NodeCoverage>,
    pub suppressed: Vec<Suppressed>,
    pub expired_rules: Vec<String>,
    pub warnings: Vec<String>,
    pub timings_ms: BTreeMap<String, u64>,
    /// The latest presence point in the window: how fresh the data was when the run read it.
    pub last_point: Option<DateTime<Utc>>,
}

/// The window and baseline lengths of `spec` under `opts` (flags override the spec; a rule
/// has no baseline: zero), validated.
pub fn lengths(spec: &Spec, opts: &DetectOptions) -> Result<(Duration, Duration), DetectError> {
    let invalid = |m: String| DetectError::Invalid(m);
    let compat = spec.splunk_compat.as_ref().filter(|_| opts.splunk_compat);
    let current = match (opts.window, compat.and_then(|c| c.current.as_ref())) {
        (Some(d), _) => d,
        (None, Some(c)) => parse_duration(c).map_err(invalid)?,
        (None, None) => parse_duration(&spec.windows.current).map_err(invalid)?,
    };
    if spec.family == spec::Family::Rule {
        return Ok((current, Duration::zero()));
    }
    let baseline = match (opts.baseline, &spec.windows.baseline) {
        (Some(d), _) => d,
        (None, Some(b)) => parse_duration(b).map_err(invalid)?,
        (None, None) => return Err(invalid(format!("{}: no baseline length", spec.slug))),
    };
    if current >= baseline {
        return Err(invalid(format!(
            "the window ({}) must be shorter than the baseline ({}): the baseline is [at − baseline, at − window)",
            human(current),
            human(baseline)
        )));
    }
    Ok((current, baseline))
}

/// How far back from a window's end the data it reads reaches (in either mode, with the
/// spec's lengths): a point at `t` can change the findings of the windows ending in
/// `(t, t + reach]`.
pub fn reach(spec: &Spec) -> Result<Duration, DetectError> {
    let d = |s: &str| parse_duration(s).map_err(DetectError::Invalid);
    let mut reach = d(&spec.windows.current)?;
    if let Some(b) = &spec.windows.baseline {
        reach = reach.max(d(b)?);
    }
    if let Some(c) = spec.splunk_compat.as_ref().and_then(|c| c.current.as_ref()) {
        reach = reach.max(d(c)?);
    }
    if let Some(r) = &spec.rule {
        reach += d(&r.lookback)?;
    }
    Ok(reach)
}

/// How long before `--at` the baseline ends, when that is not the window's start (the SPL of
/// a detection whose current window overlaps its history).
fn baseline_gap(spec: &Spec, opts: &DetectOptions) -> Result<Option<Duration>, DetectError> {
    let gap = spec
        .splunk_compat
        .as_ref()
        .filter(|_| opts.splunk_compat && opts.window.is_none())
        .and_then(|c| c.baseline_gap.as_ref());
    gap.map(|g| parse_duration(g).map_err(DetectError::Invalid)).transpose()
}

/// The window of a run, validated against the clock.
pub fn window_for(spec: &Spec, opts: &DetectOptions) -> Result<Window, DetectError> {
    let invalid = |m: String| DetectError::Invalid(m);
    let (current, baseline) = lengths(spec, opts)?;
    let at = opts.at.unwrap_or_else(|| opts.clock.last_full_hour());
    if at > opts.clock.now() {
        return Err(invalid(format!(
            "--at {} is in the future (now is {}): its window would be incomplete",
            fmt_instant(at),
            fmt_instant(opts.clock.now())
        )));
    }
    Ok(match baseline_gap(spec, opts)? {
        Some(gap) => Window::with_gap(at, current, baseline, gap),
        // A rule has no baseline: it is empty, [start, start).
        None => Window::ending_at(at, current, baseline.max(current)),
    })
}

pub fn human(d: Duration) -> String {
    let s = d.num_seconds();
    if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn scan_args(lake: &Location) -> ScanArgsParquet {
    crate::lake::scan_args(lake)
}

/// A lazy scan of the lake objects `keys` (rollups).
fn scan_keys(lake: &Location, keys: &[String]) -> PolarsResult<LazyFrame> {
    let paths: Vec<PlRefPath> = keys.iter().map(|k| PlRefPath::new(lake.scan_path(k))).collect();
    LazyFrame::scan_parquet_files(paths.into_iter().collect(), scan_args(lake))
}

/// A lazy scan of `files`, or an empty frame of the needed columns when there are none.
pub(crate) fn scan(lake: &Location, files: &[PartFile], columns: &[String]) -> PolarsResult<LazyFrame> {
    if files.is_empty() {
        let points = crate::lake::schema::points_schema();
        let schema: Schema = columns
            .iter()
            .map(|c| {
                let dt = points.get(c.as_str()).cloned().unwrap_or(DataType::String);
                Field::new(c.as_str().into(), dt)
            })
            .collect();
        return Ok(DataFrame::empty_with_schema(&schema).lazy());
    }
    let paths: Vec<PlRefPath> = files.iter().map(|f| PlRefPath::new(lake.scan_path(&f.key))).collect();
    LazyFrame::scan_parquet_files(paths.into_iter().collect(), crate::lake::points_scan_args(lake))
}

pub(crate) fn counts(df: &DataFrame) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for c in df.columns() {
        let v = c.get(0).ok().and_then(|v| v.extract::<i64>()).unwrap_or(0);
        out.insert(c.name().to_string(), v);
    }
    out
}

/// Finds which of `files` is unreadable, to name it in the error (Polars does not).
pub(crate) fn find_corrupt(lake: &Location, files: &[PartFile]) -> Option<DetectError> {
    for f in files {
        let bytes = match lake.get(&f.key) {
            Ok(b) => b,
            Err(e) => return Some(e.into()),
        };
        if let Err(e) = ParquetReader::new(std::io::Cursor::new(bytes)).finish() {
            return Some(DetectError::CorruptFile {
                file: lake.describe(&f.key),
                message: e.to_string(),
            });
        }
    }
    None
}

/// An error naming the lake when nothing has been landed in it.
pub(crate) fn require_points(lake: &Location) -> Result<(), DetectError> {
    if lake.list_dirs(lake::METRICS)?.is_empty() {
        return Err(DetectError::EmptyLake {
            lake: lake.display().to_string(),
        });
    }
    Ok(())
}

/// `found` after the allowlist of `opts` (if any): the kept findings, the suppressed ones and
/// the names of the rules expired at the window's end.
pub(crate) fn allowlisted(
    opts: &DetectOptions,
    slug: &str,
    window: &Window,
    found: DataFrame,
    key: &[String],
) -> Result<(DataFrame, Vec<Suppressed>, Vec<String>), DetectError> {
    match &opts.allowlist {
        None => Ok((found, Vec::new(), Vec::new())),
        Some(a) => {
            let expired = a.expired(window.end).iter().map(|r| r.name.clone()).collect();
            let (kept, sup) = a.apply(slug, window.end, found, key)?;
            Ok((kept, sup, expired))
        }
    }
}

/// Runs `spec` for the window of `opts` over `lake`.
pub fn run(lake: &Location, spec: &Spec, opts: &DetectOptions) -> Result<Run, DetectError> {
    match spec.family {
        spec::Family::NewValue => run_new_value(lake, spec, opts),
        spec::Family::Rule => rule::run(lake, spec, opts),
    }
}

fn run_new_value(lake: &Location, spec: &Spec, opts: &DetectOptions) -> Result<Run, DetectError> {
    let mut timings = BTreeMap::new();
    let window = window_for(spec, opts)?;
    let logic = Logic::of(spec, opts.splunk_compat);
    let q = |source: PolarsError| DetectError::Query {
        detection: spec.slug.clone(),
        source,
    };

    let t = Instant::now();
    require_points(lake)?;
    let baseline_files = lake::parts_between(lake, window.baseline_start, window.baseline_end)?;
    let current_files = lake::parts_between(lake, window.start, window.end)?;
    timings.insert("list".to_string(), t.elapsed().as_millis() as u64);
    let mut scanned = Scanned::default();
    {
        let mut all: Vec<&PartFile> = baseline_files.iter().chain(&current_files).collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all.dedup_by(|a, b| a.key == b.key);
        scanned.files = all.len() as u64;
        scanned.bytes = all.iter().map(|f| f.size).sum();
        let mut parts: Vec<_> = all.iter().map(|f| f.partition).collect();
        parts.dedup();
        scanned.partitions = parts.len() as u64;
        scanned.current_files = current_files.len() as u64;
    }
    let mut warnings = Vec::new();
    if current_files.is_empty() {
        warnings.push(format!(
            "no data in the current window [{}, {}): the lake has no partition there, so nothing can be new",
            fmt_instant(window.start),
            fmt_instant(window.end)
        ));
    }
    if baseline_files.is_empty() {
        warnings.push(format!(
            "no data in the baseline [{}, {}): every key in the window is new and every node's baseline is incomplete",
            fmt_instant(window.baseline_start),
            fmt_instant(window.baseline_end)
        ));
    }

    let with_corrupt_check = |e: PolarsError, files: &[PartFile]| find_corrupt(lake, files).unwrap_or_else(|| q(e));

    // 1. The baseline presence table: the one pass over the 30 days. Whole hours with a
    //    valid rollup are read from it; partial hours and hours without one, raw.
    let t = Instant::now();
    let (raw_files, rollup_keys, covered) =
        split_baseline(lake, &baseline_files, &window, &logic, opts.rollups.as_ref(), true)?;
    scanned.rollup_hours = covered;
    scanned.rollup_objects = rollup_keys.len() as u64;
    // What was read raw: the baseline's raw part files and the window's.
    {
        let mut read: Vec<&PartFile> = raw_files.iter().chain(&current_files).collect();
        read.sort_by(|a, b| a.key.cmp(&b.key));
        read.dedup_by(|a, b| a.key == b.key);
        scanned.raw_files = read.len() as u64;
        scanned.raw_bytes = read.iter().map(|f| f.size).sum();
    }
    scanned.raw_hours = {
        let mut hours: Vec<HourPartition> = raw_files.iter().map(|f| f.partition).collect();
        hours.dedup();
        hours.len() as u64
    };
    let mut parts = vec![plan::baseline_presence(
        scan(lake, &raw_files, &logic.baseline_columns()).map_err(q)?,
        &logic,
        &window,
    )];
    if !rollup_keys.is_empty() {
        let rollups = scan_keys(lake, &rollup_keys).map_err(q)?;
        parts.push(plan::baseline_presence_from_rollups(rollups, &logic));
    }
    let merged = plan::merge_presence(parts, &logic).map_err(q)?;
    let baseline = plan::collect(merged).map_err(|e| {
        let mut all = raw_files.clone();
        all.extend(rollup_keys.iter().map(|k| PartFile {
            partition: window_partition(&window),
            key: k.clone(),
            size: 0,
        }));
        with_corrupt_check(e, &all)
    })?;
    timings.insert("baseline".to_string(), t.elapsed().as_millis() as u64);
    scanned.baseline_keys = baseline.height() as u64;

    // 2. The current window: its sightings, and the unkeyed counts of both windows.
    let t = Instant::now();
    let current = plan::collect(plan::current_points(
        scan(lake, &current_files, &logic.current_columns()).map_err(q)?,
        &logic,
        &window,
    ))
    .map_err(|e| with_corrupt_check(e, &current_files))?;
    let mut unkeyed_current = counts(
        &plan::unkeyed_counts(current.clone().lazy(), &logic, None)
            .collect()
            .map_err(q)?,
    );
    let mut unkeyed_baseline = counts(
        &plan::unkeyed_counts(baseline.clone().lazy(), &logic, Some("n"))
            .collect()
            .map_err(q)?,
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
        .map_err(q)?;
    let found = finish_columns(
        found,
        spec,
        &logic.key,
        &window,
        new_value_evidence(&logic),
        &logic.context,
    )
    .map_err(q)?;
    timings.insert("findings".to_string(), t.elapsed().as_millis() as u64);

    // 4. Coverage of the nodes seen in the window.
    let (nodes_in_window, incomplete_nodes) = coverage(&current, &baseline, &logic, &window, slack).map_err(q)?;

    // 5. The allowlist.
    let (findings, suppressed, expired_rules) = allowlisted(opts, &spec.slug, &window, found, &logic.key)?;

    Ok(Run {
        spec: spec.clone(),
        logic,
        splunk_compat: opts.splunk_compat,
        window,
        findings,
        scanned,
        unkeyed_current,
        unkeyed_baseline,
        nodes_in_window,
        incomplete_nodes,
        suppressed,
        expired_rules,
        warnings,
        timings_ms: timings,
        last_point: current
            .column("time")
            .and_then(|c| c.cast(&DataType::Int64))
            .ok()
            .and_then(|c| c.i64().ok().and_then(|v| v.max()))
            .and_then(DateTime::from_timestamp_micros),
    })
}

/// Backfill's single pass: of the window ends `ends`, those whose window has at least one new
/// key, computed from one read of every hour involved (rollups where valid, raw otherwise).
/// `None` when the windows are not the aligned one-hour windows this pass decides exactly;
/// then every window is run on its own.
pub fn windows_with_new_keys(
    lake: &Location,
    spec: &Spec,
    opts: &DetectOptions,
    ends: &[DateTime<Utc>],
) -> Result<Option<std::collections::BTreeSet<DateTime<Utc>>>, DetectError> {
    let Some(first_end) = ends.first() else {
        return Ok(Some(Default::default()));
    };
    // Every window must be valid on its own (not in the future), as a separate run checks.
    if let Some(last) = ends.iter().max() {
        window_for(
            spec,
            &DetectOptions {
                at: Some(*last),
                ..opts.clone()
            },
        )?;
    }
    if spec.family != spec::Family::NewValue || baseline_gap(spec, opts)?.is_some() {
        return Ok(None);
    }
    let (current, baseline) = lengths(spec, opts)?;
    let hour = Duration::hours(1);
    let aligned = |t: &DateTime<Utc>| t.timestamp_micros() % hour.num_microseconds().unwrap_or(1) == 0;
    if current != hour || baseline.num_seconds() % 3600 != 0 || !ends.iter().all(aligned) {
        return Ok(None);
    }
    let logic = Logic::of(spec, opts.splunk_compat);
    let q = |source: PolarsError| DetectError::Query {
        detection: spec.slug.clone(),
        source,
    };
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
    let raw_lf = scan(lake, &raw, &logic.baseline_columns()).map_err(q)?;
    parts.push(
        plan::sightings(raw_lf, &logic, span.baseline_start, span.start)
            .with_column(plan::hour_of(col("time")).alias("hour"))
            .group_by(group.clone())
            .agg([len().cast(DataType::Int64).alias("n")]),
    );
    if !rollup_keys.is_empty() {
        let r = scan_keys(lake, &rollup_keys).map_err(q)?;
        parts.push(
            plan::rollup_sightings(r, &logic)
                .group_by(group.clone())
                .agg([col("n").sum().alias("n")]),
        );
    }
    let all = concat(parts, UnionArgs::default()).map_err(q)?;
    let hours = plan::collect(plan::hours_with_new_keys(all, &logic, baseline)).map_err(q)?;
    let wanted: std::collections::BTreeSet<DateTime<Utc>> = ends.iter().copied().collect();
    let mut out = std::collections::BTreeSet::new();
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

/// The findings frame of a window without findings: the exact columns and types a run
/// produces, with no rows (what backfill writes for windows its single pass cleared).
pub fn empty_findings(spec: &Spec, opts: &DetectOptions, at: DateTime<Utc>) -> Result<Run, DetectError> {
    let window = window_for(
        spec,
        &DetectOptions {
            at: Some(at),
            ..opts.clone()
        },
    )?;
    let logic = Logic::of(spec, opts.splunk_compat);
    let q = |source: PolarsError| DetectError::Query {
        detection: spec.slug.clone(),
        source,
    };
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
        &logic,
        &window,
        window.end - window.start,
    )
    .collect()
    .map_err(q)?;
    let findings = finish_columns(
        found,
        spec,
        &logic.key,
        &window,
        new_value_evidence(&logic),
        &logic.context,
    )
    .map_err(q)?;
    Ok(Run {
        spec: spec.clone(),
        logic,
        splunk_compat: opts.splunk_compat,
        window,
        findings,
        scanned: Scanned::default(),
        unkeyed_current: BTreeMap::new(),
        unkeyed_baseline: BTreeMap::new(),
        nodes_in_window: 0,
        incomplete_nodes: Vec::new(),
        suppressed: Vec::new(),
        expired_rules: Vec::new(),
        warnings: vec!["backfill: no key in this window is new (decided by the single pass over the range); evidence not recomputed".into()],
        timings_ms: BTreeMap::new(),
        last_point: None,
    })
}

impl Run {
    /// This run's result moved to the window ending at `end` (for empty results, which are
    /// the same for every window).
    pub fn clone_for(&self, end: DateTime<Utc>) -> Run {
        let mut r = self.clone();
        let (current, baseline) = (
            self.window.end - self.window.start,
            self.window.end - self.window.baseline_start,
        );
        r.window = Window::ending_at(end, current, baseline);
        r
    }
}

fn window_partition(w: &Window) -> HourPartition {
    HourPartition::of(w.start)
}

/// Splits the baseline's part files into those read raw and the rollup objects that replace
/// the rest: a whole day (with `days`) or a whole hour inside the baseline whose valid rollup
/// (built from exactly its current part files, with the columns this logic groups by) exists.
fn split_baseline(
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
fn new_value_evidence(logic: &Logic) -> Vec<Expr> {
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

/// Adds the metadata columns, the message and the finding uid, in the contract's order:
/// metadata, key, `host_name` and `process_executable_name` when present, the family's
/// `evidence`, the other `context` columns, risk score, message, uid.
pub(crate) fn finish_columns(
    found: DataFrame,
    spec: &Spec,
    key: &[String],
    w: &Window,
    evidence: Vec<Expr>,
    context: &[String],
) -> PolarsResult<DataFrame> {
    // The message template: literal text and {column} references.
    let mut parts: Vec<Expr> = Vec::new();
    let mut rest = spec.message.as_str();
    while let Some(i) = rest.find('{') {
        parts.push(lit(rest[..i].to_string()));
        let end = rest[i..].find('}').map(|e| i + e).unwrap_or(rest.len());
        let name = &rest[i + 1..end];
        if found.column(name).is_ok() {
            parts.push(col(name).cast(DataType::String).fill_null(lit("")));
        }
        rest = rest.get(end + 1..).unwrap_or("");
    }
    parts.push(lit(rest.to_string()));

    let mut order: Vec<Expr> = vec![
        lit(spec.id.clone()).alias("detection_id"),
        lit(spec.slug.clone()).alias("detection"),
        plan::ts(w.start).alias("window_start"),
        plan::ts(w.end).alias("window_end"),
        plan::ts(w.baseline_start).alias("baseline_start"),
    ];
    let mut named: Vec<String> = Vec::new();
    for c in key
        .iter()
        .chain(["host_name".to_string(), "process_executable_name".to_string()].iter())
    {
        if !named.contains(c) && found.column(c).is_ok() {
            order.push(col(c.as_str()));
            named.push(c.clone());
        }
    }
    order.extend(evidence);
    for c in context {
        if !named.contains(c) && found.column(c).is_ok() {
            order.push(col(c.as_str()));
            named.push(c.clone());
        }
    }
    order.push(lit(spec.risk_score()).cast(DataType::Int64).alias("risk_score"));
    order.push(concat_str(parts, "", true).alias("message"));
    let mut df = found.lazy().select(order).collect()?;

    // A deterministic id per finding: detection, window start and key.
    let mut uid = Vec::with_capacity(df.height());
    let key_cols: Vec<Column> = key
        .iter()
        .map(|k| df.column(k).and_then(|c| c.cast(&DataType::String)))
        .collect::<PolarsResult<_>>()?;
    for i in 0..df.height() {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(spec.slug.as_bytes());
        h.update(&w.start.timestamp_micros().to_le_bytes());
        for c in &key_cols {
            let v = c.get(i)?;
            let s = v.get_str().unwrap_or("\u{0}null");
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        uid.push(format!("{:032x}", h.digest128()));
    }
    df.with_column(Column::new("finding_uid".into(), uid))?;
    Ok(df)
}
