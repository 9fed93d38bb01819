//! Landing: decoded points → the partitioned points table, idempotently.
//!
//! In: [`Input`]s from `ingest::discover`. Out: `metrics/date=/hour=/part-<hash>.parquet`
//! objects (zstd, statistics on, rows sorted by `schema::SORT_BY`), `_kubeseen/rejects/`
//! records, and a [`LandReport`] whose counts add up:
//! `points_read = points_landed + points_duplicate + points_rejected`.
//! Invariants:
//! - a point is identified by its `point_id` (content hash); a partition never holds one twice,
//!   so landing the same export again — under any name, compressed or not, JSON or protobuf —
//!   adds nothing, and re-running an interrupted landing completes it;
//! - the `before_write` hook of [`land_with`] sees every partition before a part file lands in
//!   it, so whatever must follow new points (stale marks) is never lost to a crash; partitions
//!   that only received duplicates are reported as `touched`, so a re-run can finish what a
//!   killed run left undone after writing (rollups);
//! - memory is bounded: buffered rows are flushed to part files past `flush_bytes`; inputs
//!   over `max_input_bytes` are not read; points whose names or attributes exceed
//!   [`MAX_NAME_BYTES`], [`MAX_PROMOTED_BYTES`] or [`MAX_ATTRIBUTES_BYTES`] are rejected
//!   (`too_long`), since every row of a series repeats them;
//! - a bad input never stops the others: its problems are rejections, recorded in the lake,
//!   each at its position in the input (points rejected here at the line or record the
//!   decoder gave them); an input with neither points nor problems is reported (`no_points`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Cursor;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use polars::prelude::*;
use serde::Serialize;

use super::layout::{HourPartition, REJECTS};
use super::schema::{PointsBuilder, Row, Series, SeriesCache};
use crate::ingest::model::{Point, Position, Rejection, Sink};
use crate::ingest::{self, Input};
use crate::storage::{Location, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum LandError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("reading landed file {key} to skip duplicates: {source}")]
    ReadPart { key: String, source: PolarsError },
    #[error("writing partition {partition}: {source}")]
    WritePart { partition: String, source: PolarsError },
}

#[derive(Debug, Clone)]
pub struct LandOptions {
    /// Inputs that decompress past this are rejected (decompression bombs).
    pub max_input_bytes: u64,
    /// Buffered rows are written out past this many heap bytes.
    pub flush_bytes: usize,
    /// The run's clock: points later than `now + max_future` are rejected.
    pub now: DateTime<Utc>,
    pub max_future: Duration,
    pub progress: bool,
}

impl Default for LandOptions {
    fn default() -> Self {
        LandOptions {
            max_input_bytes: 2 << 30,
            flush_bytes: 64 << 20,
            now: crate::config::Clock::system().now(),
            max_future: Duration::days(1),
            progress: false,
        }
    }
}

/// What happened to one input that had problems.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct InputProblems {
    pub input: String,
    pub bytes: u64,
    pub format: Option<String>,
    pub compression: Option<String>,
    pub points_read: u64,
    pub points_landed: u64,
    pub points_rejected: u64,
    /// Reason → number of occurrences.
    pub reasons: BTreeMap<String, u64>,
    /// The first problems, with their positions (at most [`MAX_LISTED`]).
    pub problems: Vec<ProblemRecord>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ProblemRecord {
    pub reason: String,
    pub position: String,
    pub detail: String,
    pub points: u64,
}

const MAX_LISTED: usize = 50;

/// The summary of a `land` run (`land --json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LandReport {
    pub lake: String,
    pub files_read: u64,
    pub files_clean: u64,
    pub files_with_rejections: u64,
    pub bytes_read: u64,
    pub bytes_decoded: u64,
    pub points_read: u64,
    pub points_landed: u64,
    pub points_duplicate: u64,
    pub points_rejected: u64,
    /// Rejected points by reason (`missing_time`, `time_in_future`, `bad_value`, …).
    pub points_rejected_by_reason: BTreeMap<String, u64>,
    /// Problems that lost no countable point or an unknown number of them (a line of invalid
    /// JSON, a truncated stream), by reason.
    pub input_errors_by_reason: BTreeMap<String, u64>,
    pub partitions_written: u64,
    pub objects_written: u64,
    pub elapsed_seconds: f64,
    /// Time spent rebuilding the rollups of the landed hours, after `elapsed_seconds`.
    pub rollup_seconds: f64,
    /// Windows with written findings that these points fall into, now listed as stale.
    pub stale_windows_marked: u64,
    pub points_per_second: f64,
    pub mb_per_second: f64,
    pub inputs_with_problems: Vec<InputProblems>,
    /// The process's peak resident memory at the end of the run (Linux; null elsewhere).
    pub peak_rss_bytes: Option<u64>,
    /// The partitions this run wrote into.
    #[serde(skip)]
    pub written: Vec<HourPartition>,
    /// The partitions this run's points fall into, landed or duplicate: a superset of `written`.
    /// An interrupted run may have written parts whose rollups it never rebuilt; refreshing
    /// these (a no-op where the rollup is up to date) completes them.
    #[serde(skip)]
    pub touched: Vec<HourPartition>,
}

impl LandReport {
    pub fn had_rejections(&self) -> bool {
        self.files_with_rejections > 0
    }
}

struct PartitionState {
    buf: PointsBuilder,
    /// point_ids in the lake before this run plus those landed by it.
    seen: HashSet<u64>,
    /// The flush count when this partition last received a point.
    touched: u64,
}

/// Validates, deduplicates and buffers points; writes part files.
struct Lander<'a> {
    lake: &'a Location,
    opts: &'a LandOptions,
    min_time_ns: u64,
    max_time_ns: u64,
    partitions: HashMap<HourPartition, PartitionState>,
    buffered_bytes: usize,
    report: LandReport,
    written: HashSet<HourPartition>,
    touched: HashSet<HourPartition>,
    error: Option<LandError>,
    series: SeriesCache,
    flushes: u64,
    before_write: &'a mut dyn FnMut(&[HourPartition]) -> Result<(), StorageError>,
}

/// What the decoding thread sends: per input, `Start`, its points and rejections in order,
/// then `Done`.
enum Msg {
    Start(usize),
    /// Points, and the position in the input of each.
    Points(Vec<Point>, Vec<Position>),
    Reject(Rejection),
    Done {
        size: u64,
        decoded: Option<ingest::Decoded>,
        raw_len: u64,
        hash: String,
    },
}

/// An input found in a folder but not read (a symbolic link, a FIFO, …): the rejection of the
/// whole input, recorded and counted like any other, and its record's hash.
fn refusal(input: &Input) -> Option<(Rejection, String)> {
    let (reason, detail) = input.refusal()?;
    let rejection = Rejection {
        reason,
        position: Position::Whole,
        detail: detail.to_string(),
        points: 0,
    };
    Some((rejection, raw_hash(format!("{}\0{reason}", input.name).as_bytes())))
}

/// Reads and decodes every input, sending what it finds; stops when the receiver is gone.
fn decode_all(inputs: &[Input], max_input_bytes: u64, tx: std::sync::mpsc::SyncSender<Msg>) {
    struct Batches<'t> {
        tx: &'t std::sync::mpsc::SyncSender<Msg>,
        buf: Vec<Point>,
        positions: Vec<Position>,
        current: Position,
        closed: bool,
    }
    impl Batches<'_> {
        fn send(&mut self, m: Msg) {
            if !self.closed && self.tx.send(m).is_err() {
                self.closed = true;
            }
        }
        fn flush(&mut self) {
            if !self.buf.is_empty() {
                let b = std::mem::replace(&mut self.buf, Vec::with_capacity(4096));
                let at = std::mem::replace(&mut self.positions, Vec::with_capacity(4096));
                self.send(Msg::Points(b, at));
            }
        }
    }
    impl Sink for Batches<'_> {
        fn point(&mut self, p: Point) {
            self.buf.push(p);
            self.positions.push(self.current);
            if self.buf.len() >= 4096 {
                self.flush();
            }
        }
        fn reject(&mut self, r: Rejection) {
            // Rejections stay in order with the points around them.
            self.flush();
            self.send(Msg::Reject(r));
        }
        fn at(&mut self, position: Position) {
            self.current = position;
        }
    }
    for (i, input) in inputs.iter().enumerate() {
        let mut b = Batches {
            tx: &tx,
            buf: Vec::with_capacity(4096),
            positions: Vec::with_capacity(4096),
            current: Position::Whole,
            closed: false,
        };
        b.send(Msg::Start(i));
        if let Some((rejection, hash)) = refusal(input) {
            b.send(Msg::Reject(rejection));
            b.send(Msg::Done {
                size: 0,
                decoded: None,
                raw_len: 0,
                hash,
            });
            if b.closed {
                return;
            }
            continue;
        }
        if input.size > max_input_bytes {
            // Not even read: holding it would take more memory than any input may decode to.
            b.send(Msg::Reject(Rejection {
                reason: "too_large",
                position: Position::Byte(max_input_bytes),
                detail: format!(
                    "{} bytes, more than --max-input-bytes {max_input_bytes}; not read",
                    input.size
                ),
                points: 0,
            }));
            b.send(Msg::Done {
                size: input.size,
                decoded: None,
                raw_len: 0,
                hash: raw_hash(format!("{}\0{}", input.name, input.size).as_bytes()),
            });
            if b.closed {
                return;
            }
            continue;
        }
        match input.read() {
            Ok(raw) => {
                let decoded = ingest::decode(&raw, max_input_bytes, &mut b);
                b.flush();
                b.send(Msg::Done {
                    size: input.size,
                    decoded: Some(decoded),
                    raw_len: raw.len() as u64,
                    hash: raw_hash(&raw),
                });
            }
            Err(e) => {
                b.send(Msg::Reject(Rejection {
                    reason: "unreadable",
                    position: Position::Whole,
                    detail: e.to_string(),
                    points: 0,
                }));
                b.send(Msg::Done {
                    size: input.size,
                    decoded: None,
                    raw_len: 0,
                    hash: raw_hash(input.name.as_bytes()),
                });
            }
        }
        if b.closed {
            return;
        }
    }
}

/// Per-input accounting while one input's points are landed.
struct InputSink {
    problems: InputProblems,
    duplicates: u64,
}

impl InputSink {
    fn new(input: &Input) -> Self {
        InputSink {
            problems: InputProblems {
                input: input.name.clone(),
                bytes: input.size,
                format: None,
                compression: None,
                points_read: 0,
                points_landed: 0,
                points_rejected: 0,
                reasons: BTreeMap::new(),
                problems: Vec::new(),
            },
            duplicates: 0,
        }
    }

    fn point(&mut self, lander: &mut Lander<'_>, p: Point, position: Position) {
        self.problems.points_read += 1;
        let reason = if p.time_unix_nano == 0 {
            Some("missing_time")
        } else if p.time_unix_nano < lander.min_time_ns {
            Some("time_before_2000")
        } else if p.time_unix_nano > lander.max_time_ns {
            Some("time_in_future")
        } else if p.metric.name.is_empty() {
            Some("missing_metric_name")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.problems.points_rejected += 1;
            let detail = format!(
                "metric {:?} at time_unix_nano {}",
                crate::ingest::otlp_json::truncate(&p.metric.name, 100),
                p.time_unix_nano
            );
            self.record(lander, reason, position, detail, 1);
            return;
        }
        let row = lander.series.row(&p);
        if let Some(detail) = too_long(&row.series) {
            self.problems.points_rejected += 1;
            self.record(lander, "too_long", position, detail, 1);
            return;
        }
        match lander.add(row) {
            Ok(true) => self.problems.points_landed += 1,
            Ok(false) => self.duplicates += 1,
            Err(e) => {
                // A storage failure while deduplicating: the point is not landed; the run
                // stops with the error right after this point, and a re-run lands it.
                self.problems.points_rejected += 1;
                self.record(lander, "lake_error", position, e.to_string(), 1);
                if lander.error.is_none() {
                    lander.error = Some(e);
                }
            }
        }
    }

    fn reject(&mut self, lander: &mut Lander<'_>, r: Rejection) {
        self.problems.points_read += r.points;
        self.problems.points_rejected += r.points;
        self.record(lander, r.reason, r.position, r.detail, r.points);
    }

    fn record(&mut self, lander: &mut Lander<'_>, reason: &str, position: Position, detail: String, points: u64) {
        *self.problems.reasons.entry(reason.to_string()).or_default() += 1;
        if points > 0 {
            *lander
                .report
                .points_rejected_by_reason
                .entry(reason.to_string())
                .or_default() += points;
        } else {
            *lander
                .report
                .input_errors_by_reason
                .entry(reason.to_string())
                .or_default() += 1;
        }
        if self.problems.problems.len() < MAX_LISTED {
            self.problems.problems.push(ProblemRecord {
                reason: reason.to_string(),
                position: position.to_string(),
                detail,
                points,
            });
        }
    }
}

impl<'a> Lander<'a> {
    /// Buffers `row` unless its partition already holds it. `Ok(false)` for a duplicate.
    fn add(&mut self, row: Row) -> Result<bool, LandError> {
        // Invariant: validated times lie between 2000 and now + max_future.
        let Some(partition) = HourPartition::from_micros(row.sample.time_us) else {
            return Ok(false);
        };
        if !self.partitions.contains_key(&partition) {
            let seen = existing_ids(self.lake, &partition)?;
            self.partitions.insert(
                partition,
                PartitionState {
                    buf: PointsBuilder::default(),
                    seen,
                    touched: self.flushes,
                },
            );
        }
        self.touched.insert(partition);
        let Some(state) = self.partitions.get_mut(&partition) else {
            return Ok(false);
        };
        state.touched = self.flushes;
        if !state.seen.insert(row.point_id) {
            return Ok(false);
        }
        let before = state.buf.heap_bytes();
        state.buf.push(row);
        self.buffered_bytes += state.buf.heap_bytes() - before;
        if self.buffered_bytes > self.opts.flush_bytes {
            self.flush()?;
        }
        Ok(true)
    }

    /// Writes every buffered partition as one new part file each.
    fn flush(&mut self) -> Result<(), LandError> {
        let mut keys: Vec<HourPartition> = self
            .partitions
            .iter()
            .filter(|(_, s)| !s.buf.is_empty())
            .map(|(k, _)| *k)
            .collect();
        keys.sort();
        if !keys.is_empty() {
            (self.before_write)(&keys)?;
        }
        for partition in keys {
            let Some(state) = self.partitions.get_mut(&partition) else {
                continue;
            };
            let buf = std::mem::take(&mut state.buf);
            let key = part_key(&partition, buf.point_ids());
            let bytes = write_parquet(buf).map_err(|source| LandError::WritePart {
                partition: partition.prefix(),
                source,
            })?;
            self.lake.put(&key, bytes)?;
            self.report.objects_written += 1;
            self.written.insert(partition);
        }
        // Forget the point ids of partitions that received nothing since the previous flush:
        // memory stays bounded by the partitions in flight, not the size of the input. If one
        // is touched again, its ids are read back from the lake, which now holds what we wrote.
        let flushes = self.flushes;
        self.partitions.retain(|_, st| st.touched + 1 >= flushes);
        self.flushes += 1;
        self.buffered_bytes = 0;
        Ok(())
    }
}

/// The object name of a part file holding the points `ids` (any order): their content, so
/// writing the same points twice writes the same object.
pub fn part_key(partition: &HourPartition, ids: &[u64]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for id in &ids {
        h.update(&id.to_le_bytes());
    }
    format!("{}/part-{:032x}.parquet", partition.prefix(), h.digest128())
}

/// The points of `buf` as one Parquet file: zstd, full statistics, 128k-row groups.
pub fn write_parquet(buf: PointsBuilder) -> PolarsResult<Vec<u8>> {
    let t = Instant::now();
    let mut df = buf.finish()?;
    tracing::debug!(rows = df.height(), finish_ms = t.elapsed().as_millis(), "built frame");
    super::layout::parquet_bytes(&mut df)
}

/// The point_ids already landed in `partition`.
fn existing_ids(lake: &Location, partition: &HourPartition) -> Result<HashSet<u64>, LandError> {
    let mut seen = HashSet::new();
    for (key, _) in lake.list(&partition.prefix())? {
        if !key.ends_with(".parquet") {
            continue;
        }
        let bytes = lake.get(&key)?;
        let df = ParquetReader::new(Cursor::new(bytes))
            .with_columns(Some(vec!["point_id".to_string()]))
            .finish()
            .map_err(|source| LandError::ReadPart {
                key: lake.describe(&key),
                source,
            })?;
        let ids = df
            .column("point_id")
            .and_then(|c| c.u64().cloned())
            .map_err(|source| LandError::ReadPart {
                key: lake.describe(&key),
                source,
            })?;
        seen.extend(ids.into_no_null_iter());
    }
    Ok(seen)
}

/// Lands `inputs` into `lake`. Per-input problems are in the report; `Err` only when the lake
/// itself fails (then nothing half-written is visible and a re-run completes the work).
pub fn land(lake: &Location, inputs: &[Input], opts: &LandOptions) -> Result<LandReport, LandError> {
    land_with(lake, inputs, opts, &mut |_| Ok(()))
}

/// [`land`], calling `before_write` with the partitions of each batch of part files before any
/// of them is written; its error stops the run before that batch.
pub fn land_with(
    lake: &Location,
    inputs: &[Input],
    opts: &LandOptions,
    before_write: &mut dyn FnMut(&[HourPartition]) -> Result<(), StorageError>,
) -> Result<LandReport, LandError> {
    let started = Instant::now();
    let min_time_ns = crate::config::CUTOFF_UNIX_SECONDS as u64 * 1_000_000_000;
    let max_time_ns = (opts.now + opts.max_future).timestamp_nanos_opt().unwrap_or(i64::MAX) as u64;
    let mut lander = Lander {
        lake,
        opts,
        min_time_ns,
        max_time_ns,
        partitions: HashMap::new(),
        buffered_bytes: 0,
        report: LandReport {
            lake: lake.display().to_string(),
            ..Default::default()
        },
        written: HashSet::new(),
        touched: HashSet::new(),
        error: None,
        series: SeriesCache::default(),
        flushes: 0,
        before_write,
    };
    let bar = progress_bar(opts.progress, inputs.iter().map(|i| i.size).sum());
    // Two stages on two threads: one reads and decodes input N+1 while this one buffers,
    // deduplicates and writes the points of input N. Messages keep each input's order.
    std::thread::scope(|scope| -> Result<(), LandError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(16);
        scope.spawn(move || decode_all(inputs, opts.max_input_bytes, tx));
        let mut current: Option<InputSink> = None;
        for msg in rx {
            match msg {
                Msg::Start(i) => {
                    lander.report.files_read += 1;
                    current = Some(InputSink::new(&inputs[i]));
                }
                Msg::Points(points, positions) => {
                    if let Some(sink) = current.as_mut() {
                        for (p, at) in points.into_iter().zip(positions) {
                            sink.point(&mut lander, p, at);
                            if lander.error.is_some() {
                                break;
                            }
                        }
                    }
                    if let Some(e) = lander.error.take() {
                        // The lake failed (after the store's retries): stop at once rather
                        // than retry it for every remaining point. Nothing buffered is
                        // written; a re-run lands it.
                        return Err(e);
                    }
                }
                Msg::Reject(r) => {
                    if let Some(sink) = current.as_mut() {
                        sink.reject(&mut lander, r);
                    }
                }
                Msg::Done {
                    size,
                    decoded,
                    raw_len,
                    hash,
                } => {
                    let Some(mut sink) = current.take() else { continue };
                    if sink.problems.points_read == 0 && sink.problems.reasons.is_empty() {
                        // Valid, but nothing in it: a zero-filled file parses as empty protobuf
                        // records, for one. Worth a look, never silence.
                        let detail = format!(
                            "{} bytes{} hold no data point",
                            size,
                            decoded.map_or(String::new(), |d| format!(" of {:?}", d.format))
                        );
                        sink.record(&mut lander, "no_points", Position::Whole, detail, 0);
                    }
                    if let Some(d) = decoded {
                        sink.problems.format = Some(format!("{:?}", d.format));
                        sink.problems.compression = Some(format!("{:?}", d.compression));
                        lander.report.bytes_decoded += d.decompressed_bytes;
                    }
                    lander.report.bytes_read += raw_len;
                    lander.finish_input(sink.problems, sink.duplicates, &hash)?;
                    if let Some(e) = lander.error.take() {
                        // Dropping the receiver stops the decoding thread.
                        return Err(e);
                    }
                    if let Some(b) = &bar {
                        b.inc(size);
                        let secs = started.elapsed().as_secs_f64().max(1e-3);
                        b.set_message(format!(
                            "{}/{} files, {} points, {:.0} points/s",
                            lander.report.files_read,
                            inputs.len(),
                            lander.report.points_read,
                            lander.report.points_read as f64 / secs
                        ));
                    }
                }
            }
        }
        Ok(())
    })?;
    lander.flush()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(finish_report(lander, started))
}

/// The report of a landing, once every input is read and the last points written.
fn finish_report(lander: Lander<'_>, started: Instant) -> LandReport {
    tracing::debug!(
        series = lander.series.len(),
        partitions_in_flight = lander.partitions.len(),
        ids_held = lander.partitions.values().map(|p| p.seen.len()).sum::<usize>(),
        "land state at the end"
    );
    let mut report = lander.report;
    report.partitions_written = lander.written.len() as u64;
    report.written = lander.written.iter().copied().collect();
    report.written.sort();
    report.touched = lander.touched.iter().copied().collect();
    report.touched.sort();
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    if report.elapsed_seconds > 0.0 {
        report.points_per_second = report.points_read as f64 / report.elapsed_seconds;
        report.mb_per_second = report.bytes_decoded as f64 / 1e6 / report.elapsed_seconds;
    }
    report
}

/// Longest metric name (and unit, scope name and version) landed: OTel's API allows 255
/// characters; a multi-megabyte name is an attack or a corrupt export, and every row repeats it.
pub const MAX_NAME_BYTES: usize = 1024;
/// Longest value of a promoted attribute (Linux's PATH_MAX; host and Kubernetes names are
/// shorter): detections group by these columns.
pub const MAX_PROMOTED_BYTES: usize = 4096;
/// Longest `attributes` JSON of a point (every other attribute): generous for long command
/// lines, while bounding what reading a partition back costs per row.
pub const MAX_ATTRIBUTES_BYTES: usize = 1 << 20;

/// Why a point's series text is too long to land, if it is. Cheap when it is not: lengths only.
fn too_long(s: &Series) -> Option<String> {
    let promoted = super::schema::PROMOTED.iter().zip(&s.promoted).map(|((key, _), v)| {
        (
            "attribute ",
            *key,
            v.as_ref().map_or(0, String::len),
            MAX_PROMOTED_BYTES,
        )
    });
    let (prefix, what, len, max) = [
        ("the ", "metric name", s.metric.len(), MAX_NAME_BYTES),
        ("the ", "unit", s.unit.len(), MAX_NAME_BYTES),
        ("the ", "scope name", s.scope_name.len(), MAX_NAME_BYTES),
        ("the ", "scope version", s.scope_version.len(), MAX_NAME_BYTES),
        ("the ", "attributes (as JSON)", s.attributes.len(), MAX_ATTRIBUTES_BYTES),
    ]
    .into_iter()
    .chain(promoted)
    .find(|&(_, _, len, max)| len > max)?;
    Some(format!("{prefix}{what} is {len} bytes, over the limit of {max}"))
}

/// This process's peak resident set size (Linux: `VmHWM` of `/proc/self/status`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

fn raw_hash(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

impl Lander<'_> {
    fn finish_input(&mut self, problems: InputProblems, duplicates: u64, hash: &str) -> Result<(), LandError> {
        let r = &mut self.report;
        r.points_read += problems.points_read;
        r.points_landed += problems.points_landed;
        r.points_duplicate += duplicates;
        r.points_rejected += problems.points_rejected;
        if problems.reasons.is_empty() {
            r.files_clean += 1;
            return Ok(());
        }
        r.files_with_rejections += 1;
        // The record is keyed by the input's content: re-landing the same bad input rewrites
        // the same record instead of piling up copies.
        let body = serde_json::to_vec_pretty(&problems).unwrap_or_default();
        self.lake.put(&format!("{REJECTS}/{hash}.json"), body)?;
        tracing::warn!(input = %problems.input, reasons = ?problems.reasons, "input rejected in part or whole");
        r.inputs_with_problems.push(problems);
        Ok(())
    }
}

fn progress_bar(enabled: bool, total: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} landing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg} eta {eta}",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

/// Decodes `inputs` without landing anything: the parser's own cost, the baseline the landing
/// benchmark compares against (`land --decode-only`).
pub fn decode_only(inputs: &[Input], max_input_bytes: u64) -> LandReport {
    struct Count {
        points: u64,
        rejected: u64,
    }
    impl Sink for Count {
        fn point(&mut self, p: Point) {
            // Touch the point like landing does before buffering, minus the lake.
            std::hint::black_box(&p);
            self.points += 1;
        }
        fn reject(&mut self, r: Rejection) {
            self.rejected += r.points;
        }
    }
    let started = Instant::now();
    let mut report = LandReport::default();
    let mut c = Count { points: 0, rejected: 0 };
    for input in inputs {
        report.files_read += 1;
        if let Ok(raw) = input.read() {
            report.bytes_read += raw.len() as u64;
            report.bytes_decoded += ingest::decode(&raw, max_input_bytes, &mut c).decompressed_bytes;
        }
    }
    report.points_read = c.points + c.rejected;
    report.points_rejected = c.rejected;
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    if report.elapsed_seconds > 0.0 {
        report.points_per_second = report.points_read as f64 / report.elapsed_seconds;
        report.mb_per_second = report.bytes_decoded as f64 / 1e6 / report.elapsed_seconds;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;

    /// Lands `files` (name, bytes) into a fresh local lake; the clock is 2030-01-01.
    fn land_bytes(files: &[(&str, Vec<u8>)], max_input_bytes: u64) -> LandReport {
        let dir = tempfile::tempdir().expect("tmp");
        let mut specs = Vec::new();
        for (name, bytes) in files {
            let f = dir.path().join(name);
            std::fs::write(&f, bytes).expect("write");
            specs.push(f.display().to_string());
        }
        let inputs = ingest::discover(&specs, &StoreOptions::default()).expect("discover");
        let lake = Location::open(
            &dir.path().join("lake").display().to_string(),
            &StoreOptions::default(),
            true,
        )
        .expect("lake");
        let opts = LandOptions {
            now: crate::config::parse_instant("2030-01-01T00:00:00Z").expect("now"),
            max_input_bytes,
            ..LandOptions::default()
        };
        land(&lake, &inputs, &opts).expect("land")
    }

    fn problems(r: &LandReport) -> Vec<(String, String)> {
        r.inputs_with_problems
            .iter()
            .flat_map(|i| &i.problems)
            .map(|p| (p.reason.clone(), p.position.clone()))
            .collect()
    }

    fn doc(name: &str, attrs: &str, time: u64) -> String {
        format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{attrs}]}},"scopeMetrics":[{{"metrics":[{{"name":"{name}","gauge":{{"dataPoints":[{{"timeUnixNano":"{time}","asInt":"1"}}]}}}}]}}]}}]}}"#
        )
    }

    const T: u64 = 1_790_000_000_000_000_000;

    #[test]
    fn validation_rejections_carry_the_points_position() {
        let json = [doc("a", "", T), doc("a", "", 1), doc("a", "", u64::MAX), doc("", "", T)].join("\n");
        let csv = "_time,metric_name,_value\n1790000000,m,1\n0,m,2\n";
        let r = land_bytes(&[("a.json", json.into_bytes()), ("b.csv", csv.into())], 1 << 30);
        assert_eq!(r.points_landed, 2);
        let got = problems(&r);
        let want = [
            ("time_before_2000", "line 2"),
            ("time_in_future", "line 3"),
            ("missing_metric_name", "line 4"),
            ("missing_time", "line 3"),
        ];
        assert_eq!(
            got,
            want.map(|(a, b)| (a.to_string(), b.to_string())),
            "{:?}",
            r.inputs_with_problems
        );
    }

    #[test]
    fn oversized_names_and_attributes_are_too_long() {
        let path = format!(
            r#"{{"key":"process.executable.path","value":{{"stringValue":"/{}"}}}}"#,
            "p".repeat(5000)
        );
        let blob = format!(
            r#"{{"key":"blob","value":{{"stringValue":"{}"}}}}"#,
            "b".repeat(2 << 20)
        );
        let json = [
            doc(&"m".repeat(2000), "", T),
            doc("a", &path, T),
            doc("a", &blob, T),
            doc("a", r#"{"key":"ok","value":{"stringValue":"fine"}}"#, T),
        ]
        .join("\n");
        let r = land_bytes(&[("a.json", json.into_bytes())], 1 << 30);
        assert_eq!((r.points_read, r.points_landed, r.points_rejected), (4, 1, 3));
        assert_eq!(r.points_rejected_by_reason.get("too_long"), Some(&3));
        let details: Vec<&str> = r.inputs_with_problems[0]
            .problems
            .iter()
            .map(|p| p.detail.as_str())
            .collect();
        assert!(details[0].starts_with("the metric name is 2000 bytes"), "{details:?}");
        assert!(
            details[1].starts_with("attribute process.executable.path is 5001 bytes"),
            "{details:?}"
        );
        assert!(details[2].starts_with("the attributes (as JSON) is"), "{details:?}");
        assert_eq!(problems(&r)[1].1, "line 2");
    }

    #[test]
    fn an_input_without_points_or_errors_is_reported() {
        let r = land_bytes(
            &[
                ("zeros.bin", vec![0u8; 4096]),
                ("ok.json", doc("a", "", T).into_bytes()),
            ],
            1 << 30,
        );
        assert_eq!(r.files_with_rejections, 1);
        assert_eq!(r.points_landed, 1);
        let p = &r.inputs_with_problems[0];
        assert!(p.input.ends_with("zeros.bin"));
        assert_eq!(p.reasons.keys().collect::<Vec<_>>(), ["no_points"]);
        assert!(
            p.problems[0].detail.contains("4096 bytes of OtlpProto"),
            "{:?}",
            p.problems
        );
        assert_eq!(r.input_errors_by_reason.get("no_points"), Some(&1));
    }

    #[test]
    fn inputs_over_the_limit_are_not_read() {
        let big = format!("{}\n{}", doc("a", "", T), " ".repeat(5000));
        let r = land_bytes(&[("big.json", big.into_bytes())], 4096);
        assert_eq!(r.points_read, 0);
        assert_eq!(r.bytes_read, 0, "never read");
        assert_eq!(problems(&r), [("too_large".to_string(), "byte 4096".to_string())]);
    }

    #[test]
    fn peak_rss_is_known_on_linux() {
        if cfg!(target_os = "linux") {
            let peak = peak_rss_bytes().expect("VmHWM");
            assert!(peak > 1 << 20, "{peak}");
        }
    }
}
