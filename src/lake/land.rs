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
//! - memory is bounded: buffered rows are flushed to part files past `flush_bytes`;
//! - a bad input never stops the others: its problems are rejections, recorded in the lake.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Cursor;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use polars::prelude::*;
use serde::Serialize;

use super::schema::{PointsBuilder, Row, SeriesCache};
use super::{HourPartition, REJECTS};
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
            now: Utc::now(),
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
    Points(Vec<Point>),
    Reject(Rejection),
    Done {
        size: u64,
        decoded: Option<ingest::Decoded>,
        raw_len: u64,
        hash: String,
    },
}

/// Reads and decodes every input, sending what it finds; stops when the receiver is gone.
fn decode_all(inputs: &[Input], max_input_bytes: u64, tx: std::sync::mpsc::SyncSender<Msg>) {
    struct Batches<'t> {
        tx: &'t std::sync::mpsc::SyncSender<Msg>,
        buf: Vec<Point>,
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
                self.send(Msg::Points(b));
            }
        }
    }
    impl Sink for Batches<'_> {
        fn point(&mut self, p: Point) {
            self.buf.push(p);
            if self.buf.len() >= 4096 {
                self.flush();
            }
        }
        fn reject(&mut self, r: Rejection) {
            // Rejections stay in order with the points around them.
            self.flush();
            self.send(Msg::Reject(r));
        }
    }
    for (i, input) in inputs.iter().enumerate() {
        let mut b = Batches {
            tx: &tx,
            buf: Vec::with_capacity(4096),
            closed: false,
        };
        b.send(Msg::Start(i));
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

    fn point(&mut self, lander: &mut Lander<'_>, p: Point) {
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
            let detail = format!("metric {:?} at time_unix_nano {}", p.metric.name, p.time_unix_nano);
            self.record(lander, reason, Position::Whole, detail, 1);
            return;
        }
        let row = lander.series.row(&p);
        match lander.add(row) {
            Ok(true) => self.problems.points_landed += 1,
            Ok(false) => self.duplicates += 1,
            Err(e) => {
                // A storage failure while deduplicating: the point is not landed; the run
                // fails at the end of this input with the error, and a re-run lands it.
                self.problems.points_rejected += 1;
                self.record(lander, "lake_error", Position::Whole, e.to_string(), 1);
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
    super::parquet_bytes(&mut df)
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
    let min_time_ns = 946_684_800_000_000_000u64; // 2000-01-01T00:00:00Z
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
                Msg::Points(points) => {
                    if let Some(sink) = current.as_mut() {
                        for p in points {
                            sink.point(&mut lander, p);
                        }
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
    Ok(report)
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
