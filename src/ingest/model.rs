//! The decoded form every input format produces: one [`Point`] per OTLP data point.
//!
//! Decoders (OTLP/JSON, OTLP/protobuf, Splunk CSV) push points and rejections into a
//! [`Sink`]; they never drop anything silently. Validation that is the same for every format
//! (timestamps, metric names) happens in one place, `lake::land`, not in the decoders.

use std::fmt;
use std::sync::Arc;

/// An OTLP `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Array(Vec<AttrValue>),
    KvList(Vec<(String, AttrValue)>),
    /// An `AnyValue` with no value set (`{}` in JSON).
    Empty,
}

/// Attributes in the order the input gave them. Later duplicates of a key win.
pub type Attrs = Vec<(String, AttrValue)>;

/// The OTLP metric data kind a point came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Sum => "sum",
            MetricKind::Histogram => "histogram",
            MetricKind::ExponentialHistogram => "exponential_histogram",
            MetricKind::Summary => "summary",
        }
    }
}

/// Resource and scope of a group of points, shared by all points of one `ScopeMetrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    pub resource: Attrs,
    pub scope_name: String,
    pub scope_version: String,
    pub scope_attributes: Attrs,
}

/// Metric-level fields shared by all points of one OTLP `Metric`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricInfo {
    pub name: String,
    pub unit: String,
    pub kind: MetricKind,
    /// OTLP `AggregationTemporality`: 0 unspecified, 1 delta, 2 cumulative. Sums and histograms.
    pub temporality: i32,
    pub is_monotonic: bool,
}

/// One OTLP data point, flattened. Histogram-like points carry their sum in `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub origin: Arc<Origin>,
    pub metric: Arc<MetricInfo>,
    pub attributes: Attrs,
    /// `startTimeUnixNano`; 0 when absent.
    pub start_time_unix_nano: u64,
    /// `timeUnixNano`; 0 when absent (rejected by validation as `missing_time`).
    pub time_unix_nano: u64,
    /// Number points: `asDouble`/`asInt`. Histogram, exponential histogram, summary: `sum`.
    /// `None` when the point carries no value.
    pub value: Option<f64>,
    /// Histogram-like points: `count`.
    pub count: Option<u64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Histogram-like points: the buckets or quantiles as a compact JSON document, e.g.
    /// `{"bounds":[1,2],"counts":[3,4,5]}`; see `lake::schema` for every shape.
    pub buckets: Option<String>,
    pub flags: u32,
}

impl Point {
    /// A point of `metric` from `origin` with these attributes, times and flags, and no value
    /// yet: each decoder fills in its data point's value (and count, bounds, buckets).
    pub fn new(
        origin: &Arc<Origin>,
        metric: &Arc<MetricInfo>,
        attributes: Attrs,
        start_time_unix_nano: u64,
        time_unix_nano: u64,
        flags: u32,
    ) -> Point {
        Point {
            origin: Arc::clone(origin),
            metric: Arc::clone(metric),
            attributes,
            start_time_unix_nano,
            time_unix_nano,
            value: None,
            count: None,
            min: None,
            max: None,
            buckets: None,
            flags,
        }
    }
}

/// Where in an input something happened, for error messages and the rejects record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Position {
    /// The whole input.
    #[default]
    Whole,
    /// 1-based line (and column when known) of a text input.
    Line { line: u64, column: u64 },
    /// Byte offset into the (decompressed) input.
    Byte(u64),
    /// 1-based record number of a framed binary input, and the byte offset where it starts.
    Record { record: u64, byte: u64 },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Position::Whole => write!(f, "whole file"),
            Position::Line { line, column: 0 } => write!(f, "line {line}"),
            Position::Line { line, column } => write!(f, "line {line}, column {column}"),
            Position::Byte(b) => write!(f, "byte {b}"),
            Position::Record { record, byte } => write!(f, "record {record} (byte {byte})"),
        }
    }
}

/// Something in an input that could not become points.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// A short stable reason code, e.g. `invalid_json`, `truncated`, `wrong_type`.
    pub reason: &'static str,
    pub position: Position,
    /// Human-readable detail, e.g. the parser's message.
    pub detail: String,
    /// Data points known to be lost with this rejection (0 when they cannot be counted,
    /// e.g. a line of invalid JSON).
    pub points: u64,
}

/// Receives what a decoder produces.
pub trait Sink {
    fn point(&mut self, point: Point);
    fn reject(&mut self, rejection: Rejection);
    /// Where the points that follow come from (a document's line, a record, a CSV row), so
    /// that a point rejected later, by validation, is reported at its position.
    fn at(&mut self, _position: Position) {}
}

/// A sink that collects everything, for tests and small inputs.
#[derive(Debug, Default)]
pub struct VecSink {
    pub points: Vec<Point>,
    pub rejections: Vec<Rejection>,
    /// The position of each point (parallel to `points`), as the decoder last gave it.
    pub positions: Vec<Position>,
    current: Position,
}

impl Sink for VecSink {
    fn point(&mut self, point: Point) {
        self.points.push(point);
        self.positions.push(self.current);
    }
    fn reject(&mut self, rejection: Rejection) {
        self.rejections.push(rejection);
    }
    fn at(&mut self, position: Position) {
        self.current = position;
    }
}
