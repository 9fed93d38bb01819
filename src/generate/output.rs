//! Where the telemetry goes: the file exporter's and the S3 exporter's object layouts, or the
//! lake.
//!
//! Data come in [`Stream`]s: one per node (its agent's process scrapes) and two per cluster (the
//! `otel-cluster-receiver` collector's `k8s.container.ready` readings and the `otel-gateway`
//! collector's Network Explorer flows). Every writer streams: it holds at most one stream-hour
//! of encoded output (OTLP layouts) or the rows of the open hour partitions up to a byte budget
//! (lake), and writes each object with one `Location::put` as soon as it is complete.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use flate2::write::GzEncoder;
use prost::Message;

use crate::ingest::otlp_proto::{encode_framed, ExportMetricsServiceRequest};
use crate::lake::land::write_parquet;
use crate::lake::schema::{PointsBuilder, SeriesCache};
use crate::lake::HourPartition;
use crate::storage::Location;

use super::cluster::ClusterSim;
use super::encode::{self, MetricSet, PointRef};
use super::model::{utc, MINUTE, NS};
use super::options::GenerateError;
use super::rng::Rng;
use super::sim::{Incarnation, NodeSim, ReadyPoint, Sample};

/// Objects and bytes written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub files: u64,
    pub bytes: u64,
}

/// Whose telemetry: `<cluster>/<name>` (a node, or a cluster-wide collector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stream<'a> {
    pub cluster: &'a str,
    pub name: &'a str,
}

/// One export request's content.
#[derive(Clone, Copy)]
pub(crate) enum Batch<'a> {
    /// One scrape of a node: its current samples.
    Scrape(&'a NodeSim),
    /// One tick of the cluster receiver: every container of the cluster; `start` is the
    /// receiver's start.
    Ready { points: &'a [ReadyPoint], start: u64 },
    /// One tick of the Network Explorer reducer.
    Flows(&'a ClusterSim),
}

impl<'a> Batch<'a> {
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Batch::Scrape(n) => n.samples.is_empty(),
            Batch::Ready { points, .. } => points.is_empty(),
            Batch::Flows(c) => c.flows.is_empty(),
        }
    }

    /// (earliest, latest) point time; `None` when empty.
    pub(crate) fn times(&self) -> Option<(u64, u64)> {
        let mut acc: Option<(u64, u64)> = None;
        let mut see = |t: u64| {
            acc = Some(acc.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        };
        match self {
            Batch::Scrape(n) => n.samples.iter().for_each(|s| see(s.time_ns)),
            Batch::Ready { points, .. } => points.iter().for_each(|p| see(p.time_ns)),
            Batch::Flows(c) => {
                if !c.flows.is_empty() {
                    see(c.tick_ns);
                }
            }
        }
        acc
    }

    /// Appends the batch's ResourceMetrics as OTLP/JSON, comma-separated.
    fn json(&self, out: &mut String, times: &mut String) {
        match self {
            Batch::Scrape(node) => {
                for (k, s) in node.samples.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    encode::write_json(out, incarnation(node, s), s, times);
                }
            }
            Batch::Ready { points, start } => {
                for (k, r) in points.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    encode::write_ready_json(out, r, *start);
                }
            }
            Batch::Flows(c) => c.write_json(out),
        }
    }

    fn proto(&self) -> Vec<crate::ingest::otlp_proto::ResourceMetrics> {
        match self {
            Batch::Scrape(node) => node
                .samples
                .iter()
                .map(|s| encode::proto_resource_metrics(incarnation(node, s), s))
                .collect(),
            Batch::Ready { points, start } => points.iter().map(|r| encode::proto_ready(r, *start)).collect(),
            Batch::Flows(c) => encode::proto_flows(c),
        }
    }

    /// Calls `f` with every point, in export order.
    pub(crate) fn for_each_point(&self, m: &MetricSet, mut f: impl FnMut(PointRef<'_>)) {
        match *self {
            Batch::Scrape(node) => {
                for s in &node.samples {
                    encode::points(m, incarnation(node, s), s, &mut f);
                }
            }
            Batch::Ready { points, start } => {
                for r in points {
                    f(encode::ready_point(m, r, start));
                }
            }
            Batch::Flows(c) => encode::flow_points(m, c, f),
        }
    }
}

/// A destination for telemetry. Calls come in data-time order per stream: for each hour, each
/// stream's batches of that hour (`write` …, then `end_stream_hour`; one stream after the
/// other), then `end_hour`; `finish` once.
pub(crate) trait Output {
    fn write(&mut self, stream: Stream<'_>, batch: Batch<'_>) -> Result<(), GenerateError>;
    fn end_stream_hour(&mut self, stream: Stream<'_>, hour_start: u64) -> Result<(), GenerateError>;
    fn end_hour(&mut self, hour_end: u64) -> Result<(), GenerateError>;
    fn finish(&mut self) -> Result<Written, GenerateError>;
}

fn put(out: &Location, key: &str, bytes: Vec<u8>, w: &mut Written) -> Result<(), GenerateError> {
    w.files += 1;
    w.bytes += bytes.len() as u64;
    out.put(key, bytes).map_err(|source| GenerateError::Write {
        object: out.describe(key),
        source: Box::new(source),
    })
}

fn incarnation<'a>(node: &'a NodeSim, s: &Sample) -> &'a Incarnation {
    // Invariant: a sample is taken from a running incarnation, which stays until the next scrape.
    node.slots[s.slot]
        .cur
        .as_ref()
        .expect("a sample's process is running until the next scrape")
}

/// The encodings an OTLP layout writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Otlp {
    Json { gzip: bool },
    Proto,
}

/// A growing object body, optionally gzip-compressed as it grows.
enum Body {
    Plain(Vec<u8>),
    Gzip(Box<GzEncoder<Vec<u8>>>),
}

impl Body {
    fn new(gzip: bool) -> Body {
        if gzip {
            // Level 1: several times faster than the default for ~15% more bytes; the
            // generator's output is for benchmarks, written at hundreds of MB per minute.
            Body::Gzip(Box::new(GzEncoder::new(Vec::new(), flate2::Compression::fast())))
        } else {
            Body::Plain(Vec::new())
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Body::Plain(v) => {
                v.extend_from_slice(bytes);
                Ok(())
            }
            Body::Gzip(g) => g.write_all(bytes),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Body::Plain(v) => Ok(v),
            Body::Gzip(g) => g.finish(),
        }
    }
}

/// The Collector's `fileexporter`, one file per stream and hour:
/// `<cluster>/<node or collector>/metrics-YYYYMMDDTHH.jsonl[.gz]` (JSON Lines, one request per
/// batch) or `.binpb` (4-byte big-endian length + request, per batch).
pub(crate) struct FileExporter {
    out: Location,
    otlp: Otlp,
    body: Option<Body>,
    line: String,
    times: String,
    scratch: Vec<u8>,
    written: Written,
}

impl FileExporter {
    pub(crate) fn new(out: Location, otlp: Otlp) -> Self {
        FileExporter {
            out,
            otlp,
            body: None,
            line: String::new(),
            times: String::new(),
            scratch: Vec::new(),
            written: Written::default(),
        }
    }
}

impl Output for FileExporter {
    fn write(&mut self, stream: Stream<'_>, batch: Batch<'_>) -> Result<(), GenerateError> {
        if batch.is_empty() {
            return Ok(());
        }
        let gzip = matches!(self.otlp, Otlp::Json { gzip: true });
        let body = self.body.get_or_insert_with(|| Body::new(gzip));
        self.line.clear();
        let res = match self.otlp {
            Otlp::Json { .. } => {
                self.line.push_str("{\"resourceMetrics\":[");
                batch.json(&mut self.line, &mut self.times);
                self.line.push_str("]}\n");
                body.write(self.line.as_bytes())
            }
            Otlp::Proto => {
                let req = ExportMetricsServiceRequest {
                    resource_metrics: batch.proto(),
                };
                self.scratch.clear();
                encode_framed(&req, &mut self.scratch);
                body.write(&self.scratch)
            }
        };
        res.map_err(|source| GenerateError::Compress {
            object: format!("{}/{}", stream.cluster, stream.name),
            source,
        })
    }

    fn end_stream_hour(&mut self, stream: Stream<'_>, hour_start: u64) -> Result<(), GenerateError> {
        let Some(body) = self.body.take() else { return Ok(()) };
        let ext = match self.otlp {
            Otlp::Json { gzip: false } => "jsonl",
            Otlp::Json { gzip: true } => "jsonl.gz",
            Otlp::Proto => "binpb",
        };
        let key = format!(
            "{}/{}/metrics-{}.{ext}",
            stream.cluster,
            stream.name,
            utc(hour_start).format("%Y%m%dT%H")
        );
        let bytes = body.finish().map_err(|source| GenerateError::Compress {
            object: self.out.describe(&key),
            source,
        })?;
        put(&self.out, &key, bytes, &mut self.written)
    }

    fn end_hour(&mut self, _hour_end: u64) -> Result<(), GenerateError> {
        Ok(())
    }

    fn finish(&mut self) -> Result<Written, GenerateError> {
        Ok(self.written)
    }
}

/// The Collector's `awss3exporter`: one request per object, keyed by the UPLOAD time
/// (`year=/month=/day=/hour=/minute=/metrics_<9 random digits>.json[.gz]` or `.binpb`, a bare
/// message). A node's scrapes are batched a few per object; the upload happens a little after
/// the last one, so an object may sit in a later minute (or hour) than its data. Cluster-wide
/// collectors are batched the same way.
pub(crate) struct S3Exporter {
    out: Location,
    otlp: Otlp,
    per_object: u32,
    pending: u32,
    last_time: u64,
    doc: String,
    times: String,
    rms: Vec<crate::ingest::otlp_proto::ResourceMetrics>,
    rng: Rng,
    /// Keys written recently (with their upload time), to never draw the same one twice.
    recent: HashMap<String, u64>,
    written: Written,
}

impl S3Exporter {
    pub(crate) fn new(out: Location, otlp: Otlp, interval_ns: u64, rng: Rng) -> Self {
        // About five minutes of scrapes per object (1 to 10 scrapes).
        let per_object = (5 * MINUTE / interval_ns.max(1)).clamp(1, 10) as u32;
        S3Exporter {
            out,
            otlp,
            per_object,
            pending: 0,
            last_time: 0,
            doc: String::new(),
            times: String::new(),
            rms: Vec::new(),
            rng,
            recent: HashMap::new(),
            written: Written::default(),
        }
    }

    fn flush(&mut self) -> Result<(), GenerateError> {
        if self.pending == 0 {
            return Ok(());
        }
        self.pending = 0;
        // Batch timeout, then the upload itself.
        let upload = self.last_time + self.rng.range(NS / 5, 15 * NS);
        let ext = match self.otlp {
            Otlp::Json { gzip: false } => "json",
            Otlp::Json { gzip: true } => "json.gz",
            Otlp::Proto => "binpb",
        };
        let folder = utc(upload)
            .format("year=%Y/month=%m/day=%d/hour=%H/minute=%M")
            .to_string();
        let key = loop {
            let key = format!("{folder}/metrics_{}.{ext}", self.rng.range(100_000_000, 999_999_999));
            if !self.recent.contains_key(&key) {
                break key;
            }
        };
        self.recent.insert(key.clone(), upload);
        let bytes = match self.otlp {
            Otlp::Json { gzip } => {
                let mut body = Body::new(gzip);
                let mut res = body.write(b"{\"resourceMetrics\":[");
                if res.is_ok() {
                    res = body.write(self.doc.as_bytes());
                }
                if res.is_ok() {
                    res = body.write(b"]}");
                }
                self.doc.clear();
                res.and_then(|()| body.finish())
                    .map_err(|source| GenerateError::Compress {
                        object: self.out.describe(&key),
                        source,
                    })?
            }
            Otlp::Proto => ExportMetricsServiceRequest {
                resource_metrics: std::mem::take(&mut self.rms),
            }
            .encode_to_vec(),
        };
        put(&self.out, &key, bytes, &mut self.written)
    }
}

impl Output for S3Exporter {
    fn write(&mut self, _stream: Stream<'_>, batch: Batch<'_>) -> Result<(), GenerateError> {
        let Some((_, last)) = batch.times() else { return Ok(()) };
        match self.otlp {
            Otlp::Json { .. } => {
                if !self.doc.is_empty() {
                    self.doc.push(',');
                }
                batch.json(&mut self.doc, &mut self.times);
            }
            Otlp::Proto => self.rms.extend(batch.proto()),
        }
        self.last_time = last;
        self.pending += 1;
        if self.pending >= self.per_object {
            self.flush()?;
        }
        Ok(())
    }

    fn end_stream_hour(&mut self, _stream: Stream<'_>, _hour_start: u64) -> Result<(), GenerateError> {
        self.flush()
    }

    fn end_hour(&mut self, hour_end: u64) -> Result<(), GenerateError> {
        self.recent.retain(|_, t| *t + MINUTE >= hour_end);
        Ok(())
    }

    fn finish(&mut self) -> Result<Written, GenerateError> {
        self.flush()?;
        Ok(self.written)
    }
}

/// The points table, written directly: `metrics/date=YYYY-MM-DD/hour=HH/part-<hash>.parquet`
/// through the lake's own row and Parquet code, named by content as `land` names them.
pub(crate) struct LakeWriter {
    out: Location,
    metrics: MetricSet,
    series: SeriesCache,
    parts: BTreeMap<HourPartition, PointsBuilder>,
    buffered: usize,
    flush_bytes: usize,
    written: Written,
}

impl LakeWriter {
    pub(crate) fn new(out: Location, flush_bytes: usize) -> Self {
        LakeWriter {
            out,
            metrics: MetricSet::new(),
            series: SeriesCache::default(),
            parts: BTreeMap::new(),
            buffered: 0,
            flush_bytes,
            written: Written::default(),
        }
    }

    fn write_part(&mut self, partition: HourPartition, buf: PointsBuilder) -> Result<(), GenerateError> {
        if buf.is_empty() {
            return Ok(());
        }
        let key = crate::lake::land::part_key(&partition, buf.point_ids());
        let bytes = write_parquet(buf).map_err(|source| GenerateError::Parquet {
            object: self.out.describe(&key),
            source: Box::new(source),
        })?;
        put(&self.out, &key, bytes, &mut self.written)
    }

    /// Writes the partitions before `before` (all of them when `None`).
    fn flush(&mut self, before: Option<HourPartition>) -> Result<(), GenerateError> {
        let keys: Vec<HourPartition> = self
            .parts
            .keys()
            .copied()
            .filter(|p| before.is_none_or(|b| *p < b))
            .collect();
        for p in keys {
            if let Some(buf) = self.parts.remove(&p) {
                self.buffered -= buf.heap_bytes();
                self.write_part(p, buf)?;
            }
        }
        Ok(())
    }
}

impl Output for LakeWriter {
    fn write(&mut self, _stream: Stream<'_>, batch: Batch<'_>) -> Result<(), GenerateError> {
        let parts = &mut self.parts;
        let series = &mut self.series;
        let buffered = &mut self.buffered;
        batch.for_each_point(&self.metrics, |p| {
            let partition = HourPartition::from_micros((p.time_unix_nano / 1000) as i64)
                .expect("generated times lie between 2000 and 2262");
            let buf = parts.entry(partition).or_default();
            let before = buf.heap_bytes();
            buf.push(series.row(&p.to_point()));
            *buffered += buf.heap_bytes() - before;
        });
        if self.buffered > self.flush_bytes {
            // Past the budget: each open partition gets one more part file.
            self.flush(None)?;
        }
        Ok(())
    }

    fn end_stream_hour(&mut self, _stream: Stream<'_>, _hour_start: u64) -> Result<(), GenerateError> {
        Ok(())
    }

    fn end_hour(&mut self, hour_end: u64) -> Result<(), GenerateError> {
        // Points of the hour just generated may spill a few ms into the next partition; that
        // one stays open until the next hour is done.
        self.flush(Some(HourPartition::of(utc(hour_end))))
    }

    fn finish(&mut self) -> Result<Written, GenerateError> {
        self.flush(None)?;
        Ok(self.written)
    }
}
