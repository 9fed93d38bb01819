//! OTLP/JSON decoder: `ExportMetricsServiceRequest` documents → [`Point`]s.
//!
//! In: decompressed bytes holding one or more JSON documents separated by white space — the
//! Collector's file exporter (JSON Lines), the awss3exporter (one document per object) and
//! pretty-printed single documents all have this shape.
//! Out: points and rejections pushed into a [`Sink`].
//! Rules (OTLP/JSON spec): 64-bit integers as strings or numbers, doubles as numbers or
//! `"NaN"`/`"Infinity"`/`"-Infinity"`, camelCase keys (snake_case tolerated), missing fields are
//! protobuf defaults, unknown fields ignored.
//! Invariant: a document that fails to parse is rejected with its line and column, and decoding
//! resumes at the next line, so one bad line of a JSON Lines file loses only that line.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::model::{AttrValue, Attrs, MetricInfo, MetricKind, Origin, Point, Position, Rejection, Sink};

/// After this many unparseable (or non-metrics) documents in one input the rest of it is
/// rejected whole: past that point the input is not JSON Lines that lost a line, it is not
/// OTLP/JSON metrics at all.
const MAX_ERRORS_PER_INPUT: usize = 100;

/// Decodes `bytes` (already decompressed) into points. A leading UTF-8 byte order mark is
/// ignored (RFC 8259 §8.1 allows it).
pub fn decode(bytes: &[u8], sink: &mut dyn Sink) {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(bytes);
    let mut offset = 0usize;
    // Documents that are not OTLP: unparseable, or JSON without resourceMetrics.
    let mut errors = 0usize;
    let mut documents = 0u64;
    let mut lines = Lines::default();
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<Request>();
        match stream.next() {
            None => break,
            Some(Ok(request)) => {
                documents += 1;
                let position = Position::Line {
                    line: lines.line_of(bytes, offset + leading_ws(rest)),
                    column: 0,
                };
                offset += stream.byte_offset();
                if request.resource_metrics.is_none() {
                    errors += 1;
                    if too_many(errors, offset, bytes, position, sink) {
                        return;
                    }
                    sink.reject(Rejection {
                        reason: "not_otlp_metrics",
                        position,
                        detail: "a JSON document without \"resourceMetrics\": not an OTLP metrics export".into(),
                        points: 0,
                    });
                }
                sink.at(position);
                emit(request, position, sink);
            }
            Some(Err(err)) => {
                errors += 1;
                // serde_json counts lines from the start of the slice it was given. Column 0
                // means the error is at the line feed ending the line before (a string left
                // open, say): report that line, and resume at the line after it.
                let at_line_end = err.column() == 0 && err.line() > 1;
                let err_line = if at_line_end { err.line() - 1 } else { err.line() };
                let (line, column) = (lines.line_of(bytes, offset) + err_line as u64 - 1, err.column() as u64);
                let reason = match err.classify() {
                    serde_json::error::Category::Data => "wrong_type",
                    serde_json::error::Category::Eof => "truncated",
                    _ => "invalid_json",
                };
                // Resume at the line after the one the document failed at.
                let failed_at = offset + byte_of_line(rest, err_line);
                let next = bytes[failed_at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map(|p| failed_at + p + 1)
                    .unwrap_or(bytes.len());
                if too_many(errors, next, bytes, Position::Line { line, column: 0 }, sink) {
                    return;
                }
                // The position is the rejection's; serde_json's own, relative to where this
                // document started, would contradict it.
                let message = err.to_string();
                let message = message
                    .strip_suffix(&format!(" at line {} column {}", err.line(), err.column()))
                    .unwrap_or(&message);
                sink.reject(Rejection {
                    reason,
                    position: Position::Line { line, column },
                    detail: truncate(message, 300),
                    points: 0,
                });
                offset = next;
            }
        }
    }
    if documents == 0 && errors == 0 {
        sink.reject(Rejection {
            reason: "empty",
            position: Position::Whole,
            detail: "no JSON document in the input".into(),
            points: 0,
        });
    }
}

/// After [`MAX_ERRORS_PER_INPUT`] documents that are not OTLP, with input left at `next`,
/// rejects the rest as `too_many_errors`; true when decoding must stop.
fn too_many(errors: usize, next: usize, bytes: &[u8], position: Position, sink: &mut dyn Sink) -> bool {
    if errors < MAX_ERRORS_PER_INPUT || next >= bytes.len() {
        return false;
    }
    sink.reject(Rejection {
        reason: "too_many_errors",
        position,
        detail: format!(
            "{errors} documents that are not OTLP metrics; the rest of the input ({} bytes) is not read",
            bytes.len() - next
        ),
        points: 0,
    });
    true
}

/// 1-based line numbers of increasing byte offsets, counted once: linear in the input.
#[derive(Default)]
struct Lines {
    offset: usize,
    /// Line feeds before `offset`.
    feeds: u64,
}

impl Lines {
    fn line_of(&mut self, bytes: &[u8], offset: usize) -> u64 {
        if offset < self.offset {
            *self = Lines::default();
        }
        self.feeds += memchr::memchr_iter(b'\n', &bytes[self.offset..offset]).count() as u64;
        self.offset = offset;
        1 + self.feeds
    }
}

/// Byte offset of the start of 1-based `line` in `bytes` (clamped to the end).
fn byte_of_line(bytes: &[u8], line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    let mut seen = 1;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen == line {
                return i + 1;
            }
        }
    }
    bytes.len()
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn leading_ws(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_whitespace()).count()
}

fn emit(request: Request<'_>, position: Position, sink: &mut dyn Sink) {
    for rm in request.resource_metrics.unwrap_or_default() {
        let resource = rm.resource.map(|r| attrs(r.attributes)).unwrap_or_default();
        for sm in rm.scope_metrics {
            let (scope_name, scope_version, scope_attributes) = match sm.scope {
                Some(s) => (s.name.into_owned(), s.version.into_owned(), attrs(s.attributes)),
                None => Default::default(),
            };
            let origin = Arc::new(Origin {
                resource: resource.clone(),
                scope_name,
                scope_version,
                scope_attributes,
            });
            for metric in sm.metrics {
                emit_metric(metric, &origin, position, sink);
            }
        }
    }
}

fn emit_metric(m: Metric<'_>, origin: &Arc<Origin>, position: Position, sink: &mut dyn Sink) {
    let info = |kind, temporality: i32, is_monotonic: bool| {
        Arc::new(MetricInfo {
            name: m.name.to_string(),
            unit: m.unit.to_string(),
            kind,
            temporality,
            is_monotonic,
        })
    };
    let base = |info: &Arc<MetricInfo>, attributes: Vec<KeyValue<'_>>, start: u64, time: u64, flags: u32| {
        Point::new(origin, info, attrs(attributes), start, time, flags)
    };
    // Gauges and sums carry the same number points.
    let numbers = match (m.gauge, m.sum) {
        (Some(g), _) => Some((info(MetricKind::Gauge, 0, false), g.data_points)),
        (None, Some(s)) => Some((
            info(MetricKind::Sum, s.aggregation_temporality, s.is_monotonic),
            s.data_points,
        )),
        (None, None) => None,
    };
    if let Some((info, data_points)) = numbers {
        for dp in data_points {
            let value = dp.value();
            let mut p = base(
                &info,
                dp.attributes,
                dp.start_time_unix_nano.0,
                dp.time_unix_nano.0,
                dp.flags,
            );
            p.value = value;
            sink.point(p);
        }
    } else if let Some(h) = m.histogram {
        let info = info(MetricKind::Histogram, h.aggregation_temporality, false);
        for dp in h.data_points {
            let mut p = base(
                &info,
                dp.attributes,
                dp.start_time_unix_nano.0,
                dp.time_unix_nano.0,
                dp.flags,
            );
            p.value = dp.sum.map(|v| v.0);
            p.count = Some(dp.count.0);
            p.min = dp.min.map(|v| v.0);
            p.max = dp.max.map(|v| v.0);
            let counts: Vec<u64> = dp.bucket_counts.iter().map(|c| c.0).collect();
            let bounds: Vec<serde_json::Value> = dp.explicit_bounds.iter().map(|b| json_f64(b.0)).collect();
            p.buckets = Some(serde_json::json!({"bounds": bounds, "counts": counts}).to_string());
            sink.point(p);
        }
    } else if let Some(h) = m.exponential_histogram {
        let info = info(MetricKind::ExponentialHistogram, h.aggregation_temporality, false);
        for dp in h.data_points {
            let mut p = base(
                &info,
                dp.attributes,
                dp.start_time_unix_nano.0,
                dp.time_unix_nano.0,
                dp.flags,
            );
            p.value = dp.sum.map(|v| v.0);
            p.count = Some(dp.count.0);
            p.min = dp.min.map(|v| v.0);
            p.max = dp.max.map(|v| v.0);
            let side = |b: Option<ExpBuckets>| {
                let b = b.unwrap_or_default();
                serde_json::json!({"offset": b.offset, "counts": b.bucket_counts.iter().map(|c| c.0).collect::<Vec<_>>()})
            };
            p.buckets = Some(
                serde_json::json!({
                    "scale": dp.scale,
                    "zero_count": dp.zero_count.0,
                    "zero_threshold": json_f64(dp.zero_threshold.0),
                    "positive": side(dp.positive),
                    "negative": side(dp.negative),
                })
                .to_string(),
            );
            sink.point(p);
        }
    } else if let Some(s) = m.summary {
        let info = info(MetricKind::Summary, 0, false);
        for dp in s.data_points {
            let mut p = base(
                &info,
                dp.attributes,
                dp.start_time_unix_nano.0,
                dp.time_unix_nano.0,
                dp.flags,
            );
            p.value = Some(dp.sum.0);
            p.count = Some(dp.count.0);
            let q: Vec<serde_json::Value> = dp
                .quantile_values
                .iter()
                .map(|q| serde_json::json!([json_f64(q.quantile.0), json_f64(q.value.0)]))
                .collect();
            p.buckets = Some(serde_json::json!({ "quantiles": q }).to_string());
            sink.point(p);
        }
    } else {
        sink.reject(Rejection {
            reason: "metric_without_data",
            position,
            detail: format!(
                "metric {:?} has no gauge, sum, histogram, exponentialHistogram or summary",
                truncate(&m.name, 100)
            ),
            points: 0,
        });
    }
}

/// A JSON number, or the OTLP/JSON string spelling of a non-finite double.
pub(crate) fn json_f64(v: f64) -> serde_json::Value {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        serde_json::json!(v)
    }
}

fn attrs(kvs: Vec<KeyValue<'_>>) -> Attrs {
    kvs.into_iter()
        .map(|kv| (kv.key.into_owned(), kv.value.map(any).unwrap_or(AttrValue::Empty)))
        .collect()
}

fn any(v: AnyValue<'_>) -> AttrValue {
    if let Some(s) = v.string_value {
        AttrValue::Str(s.into_owned())
    } else if let Some(i) = v.int_value {
        AttrValue::Int(i.0)
    } else if let Some(d) = v.double_value {
        AttrValue::Double(d.0)
    } else if let Some(b) = v.bool_value {
        AttrValue::Bool(b)
    } else if let Some(a) = v.array_value {
        AttrValue::Array(a.values.into_iter().map(any).collect())
    } else if let Some(kv) = v.kvlist_value {
        AttrValue::KvList(attrs(kv.values))
    } else if let Some(b) = v.bytes_value {
        // OTLP/JSON carries bytes as base64; keep the text rather than guess at a decoding.
        AttrValue::Str(b.into_owned())
    } else {
        AttrValue::Empty
    }
}

// ---------------------------------------------------------------------------------------
// The OTLP/JSON document, borrowed from the input where no unescaping is needed.

#[derive(Deserialize)]
struct Request<'a> {
    /// `None` when the document has no such key: JSON, but not OTLP metrics.
    #[serde(borrow, default, rename = "resourceMetrics", alias = "resource_metrics")]
    resource_metrics: Option<Vec<ResourceMetrics<'a>>>,
}

#[derive(Deserialize)]
struct ResourceMetrics<'a> {
    #[serde(borrow, default)]
    resource: Option<Resource<'a>>,
    #[serde(
        borrow,
        default,
        rename = "scopeMetrics",
        alias = "scope_metrics",
        alias = "instrumentationLibraryMetrics"
    )]
    scope_metrics: Vec<ScopeMetrics<'a>>,
}

#[derive(Deserialize)]
struct Resource<'a> {
    #[serde(borrow, default)]
    attributes: Vec<KeyValue<'a>>,
}

#[derive(Deserialize)]
struct ScopeMetrics<'a> {
    #[serde(borrow, default, alias = "instrumentationLibrary")]
    scope: Option<Scope<'a>>,
    #[serde(borrow, default)]
    metrics: Vec<Metric<'a>>,
}

#[derive(Deserialize)]
struct Scope<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    version: Cow<'a, str>,
    #[serde(borrow, default)]
    attributes: Vec<KeyValue<'a>>,
}

#[derive(Deserialize)]
struct KeyValue<'a> {
    #[serde(borrow, default)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Option<AnyValue<'a>>,
}

#[derive(Deserialize)]
struct AnyValue<'a> {
    #[serde(borrow, default, rename = "stringValue", alias = "string_value")]
    string_value: Option<Cow<'a, str>>,
    #[serde(default, rename = "intValue", alias = "int_value")]
    int_value: Option<I64>,
    #[serde(default, rename = "doubleValue", alias = "double_value")]
    double_value: Option<F64>,
    #[serde(default, rename = "boolValue", alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(borrow, default, rename = "arrayValue", alias = "array_value")]
    array_value: Option<ArrayValue<'a>>,
    #[serde(borrow, default, rename = "kvlistValue", alias = "kvlist_value")]
    kvlist_value: Option<KvList<'a>>,
    #[serde(borrow, default, rename = "bytesValue", alias = "bytes_value")]
    bytes_value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ArrayValue<'a> {
    #[serde(borrow, default)]
    values: Vec<AnyValue<'a>>,
}

#[derive(Deserialize)]
struct KvList<'a> {
    #[serde(borrow, default)]
    values: Vec<KeyValue<'a>>,
}

#[derive(Deserialize)]
struct Metric<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    unit: Cow<'a, str>,
    #[serde(borrow, default)]
    gauge: Option<Gauge<'a>>,
    #[serde(borrow, default)]
    sum: Option<Sum<'a>>,
    #[serde(borrow, default)]
    histogram: Option<Histogram<'a>>,
    #[serde(borrow, default, rename = "exponentialHistogram", alias = "exponential_histogram")]
    exponential_histogram: Option<ExpHistogram<'a>>,
    #[serde(borrow, default)]
    summary: Option<Summary<'a>>,
}

#[derive(Deserialize)]
struct Gauge<'a> {
    #[serde(borrow, default, rename = "dataPoints", alias = "data_points")]
    data_points: Vec<NumberDataPoint<'a>>,
}

#[derive(Deserialize)]
struct Sum<'a> {
    #[serde(borrow, default, rename = "dataPoints", alias = "data_points")]
    data_points: Vec<NumberDataPoint<'a>>,
    #[serde(
        default,
        rename = "aggregationTemporality",
        alias = "aggregation_temporality",
        deserialize_with = "temporality"
    )]
    aggregation_temporality: i32,
    #[serde(default, rename = "isMonotonic", alias = "is_monotonic")]
    is_monotonic: bool,
}

#[derive(Deserialize)]
struct Histogram<'a> {
    #[serde(borrow, default, rename = "dataPoints", alias = "data_points")]
    data_points: Vec<HistogramDataPoint<'a>>,
    #[serde(
        default,
        rename = "aggregationTemporality",
        alias = "aggregation_temporality",
        deserialize_with = "temporality"
    )]
    aggregation_temporality: i32,
}

#[derive(Deserialize)]
struct ExpHistogram<'a> {
    #[serde(borrow, default, rename = "dataPoints", alias = "data_points")]
    data_points: Vec<ExpHistogramDataPoint<'a>>,
    #[serde(
        default,
        rename = "aggregationTemporality",
        alias = "aggregation_temporality",
        deserialize_with = "temporality"
    )]
    aggregation_temporality: i32,
}

#[derive(Deserialize)]
struct Summary<'a> {
    #[serde(borrow, default, rename = "dataPoints", alias = "data_points")]
    data_points: Vec<SummaryDataPoint<'a>>,
}

#[derive(Deserialize)]
struct NumberDataPoint<'a> {
    #[serde(borrow, default)]
    attributes: Vec<KeyValue<'a>>,
    #[serde(default, rename = "startTimeUnixNano", alias = "start_time_unix_nano")]
    start_time_unix_nano: U64,
    #[serde(default, rename = "timeUnixNano", alias = "time_unix_nano")]
    time_unix_nano: U64,
    #[serde(default, rename = "asDouble", alias = "as_double")]
    as_double: Option<F64>,
    #[serde(default, rename = "asInt", alias = "as_int")]
    as_int: Option<I64>,
    #[serde(default)]
    flags: u32,
}

impl NumberDataPoint<'_> {
    fn value(&self) -> Option<f64> {
        self.as_double.map(|d| d.0).or(self.as_int.map(|i| i.0 as f64))
    }
}

#[derive(Deserialize)]
struct HistogramDataPoint<'a> {
    #[serde(borrow, default)]
    attributes: Vec<KeyValue<'a>>,
    #[serde(default, rename = "startTimeUnixNano", alias = "start_time_unix_nano")]
    start_time_unix_nano: U64,
    #[serde(default, rename = "timeUnixNano", alias = "time_unix_nano")]
    time_unix_nano: U64,
    #[serde(default)]
    count: U64,
    #[serde(default)]
    sum: Option<F64>,
    #[serde(default, rename = "bucketCounts", alias = "bucket_counts")]
    bucket_counts: Vec<U64>,
    #[serde(default, rename = "explicitBounds", alias = "explicit_bounds")]
    explicit_bounds: Vec<F64>,
    #[serde(default)]
    flags: u32,
    #[serde(default)]
    min: Option<F64>,
    #[serde(default)]
    max: Option<F64>,
}

#[derive(Deserialize, Default)]
struct ExpBuckets {
    #[serde(default)]
    offset: i32,
    #[serde(default, rename = "bucketCounts", alias = "bucket_counts")]
    bucket_counts: Vec<U64>,
}

#[derive(Deserialize)]
struct ExpHistogramDataPoint<'a> {
    #[serde(borrow, default)]
    attributes: Vec<KeyValue<'a>>,
    #[serde(default, rename = "startTimeUnixNano", alias = "start_time_unix_nano")]
    start_time_unix_nano: U64,
    #[serde(default, rename = "timeUnixNano", alias = "time_unix_nano")]
    time_unix_nano: U64,
    #[serde(default)]
    count: U64,
    #[serde(default)]
    sum: Option<F64>,
    #[serde(default)]
    scale: i32,
    #[serde(default, rename = "zeroCount", alias = "zero_count")]
    zero_count: U64,
    #[serde(default)]
    positive: Option<ExpBuckets>,
    #[serde(default)]
    negative: Option<ExpBuckets>,
    #[serde(default)]
    flags: u32,
    #[serde(default)]
    min: Option<F64>,
    #[serde(default)]
    max: Option<F64>,
    #[serde(default, rename = "zeroThreshold", alias = "zero_threshold")]
    zero_threshold: F64,
}

#[derive(Deserialize)]
struct Quantile {
    #[serde(default)]
    quantile: F64,
    #[serde(default)]
    value: F64,
}

#[derive(Deserialize)]
struct SummaryDataPoint<'a> {
    #[serde(borrow, default)]
    attributes: Vec<KeyValue<'a>>,
    #[serde(default, rename = "startTimeUnixNano", alias = "start_time_unix_nano")]
    start_time_unix_nano: U64,
    #[serde(default, rename = "timeUnixNano", alias = "time_unix_nano")]
    time_unix_nano: U64,
    #[serde(default)]
    count: U64,
    #[serde(default)]
    sum: F64,
    #[serde(default, rename = "quantileValues", alias = "quantile_values")]
    quantile_values: Vec<Quantile>,
    #[serde(default)]
    flags: u32,
}

// ---------------------------------------------------------------------------------------
// Scalars in their OTLP/JSON spellings.

/// A uint64/fixed64: a decimal string or a JSON number.
#[derive(Default, Clone, Copy)]
struct U64(u64);
/// An int64/sfixed64: a decimal string or a JSON number.
#[derive(Default, Clone, Copy)]
struct I64(i64);
/// A double: a JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"` (or a numeric string).
#[derive(Default, Clone, Copy)]
struct F64(f64);

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = U64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unsigned 64-bit integer as a number or a decimal string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<U64, E> {
                Ok(U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<U64, E> {
                u64::try_from(v)
                    .map(U64)
                    .map_err(|_| E::custom(format!("negative value {v} for an unsigned field")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<U64, E> {
                if v.fract() == 0.0 && (0.0..1.8446744073709552e19).contains(&v) {
                    Ok(U64(v as u64))
                } else {
                    Err(E::custom(format!("{v} is not an unsigned 64-bit integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<U64, E> {
                v.parse()
                    .map(U64)
                    .map_err(|_| E::custom(format!("{:?} is not an unsigned 64-bit integer", truncate(v, 40))))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for I64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = I64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a 64-bit integer as a number or a decimal string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<I64, E> {
                i64::try_from(v)
                    .map(I64)
                    .map_err(|_| E::custom(format!("{v} overflows a signed 64-bit integer")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<I64, E> {
                Ok(I64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<I64, E> {
                if v.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
                    Ok(I64(v as i64))
                } else {
                    Err(E::custom(format!("{v} is not a 64-bit integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<I64, E> {
                v.parse()
                    .map(I64)
                    .map_err(|_| E::custom(format!("{:?} is not a 64-bit integer", truncate(v, 40))))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for F64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = F64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a double as a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<F64, E> {
                Ok(F64(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<F64, E> {
                Ok(F64(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<F64, E> {
                Ok(F64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<F64, E> {
                match v {
                    "NaN" => Ok(F64(f64::NAN)),
                    "Infinity" => Ok(F64(f64::INFINITY)),
                    "-Infinity" => Ok(F64(f64::NEG_INFINITY)),
                    _ => v
                        .parse()
                        .map(F64)
                        .map_err(|_| E::custom(format!("{:?} is not a double", truncate(v, 40)))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `aggregationTemporality` as its number or its enum name.
fn temporality<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i32;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an AggregationTemporality number or name")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format!("aggregationTemporality {v} out of range")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format!("aggregationTemporality {v} out of range")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
            match v {
                "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Ok(0),
                "AGGREGATION_TEMPORALITY_DELTA" => Ok(1),
                "AGGREGATION_TEMPORALITY_CUMULATIVE" => Ok(2),
                _ => Err(E::custom(format!(
                    "unknown aggregationTemporality {:?}",
                    truncate(v, 40)
                ))),
            }
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::model::VecSink;

    fn run(s: &str) -> VecSink {
        let mut sink = VecSink::default();
        decode(s.as_bytes(), &mut sink);
        sink
    }

    const LINE: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"process.pid","value":{"intValue":"4668"}},{"key":"k8s.node.name","value":{"stringValue":"node-1"}}]},"scopeMetrics":[{"scope":{"name":"s","version":"1"},"metrics":[{"name":"process.cpu.time","unit":"s","sum":{"dataPoints":[{"attributes":[{"key":"state","value":{"stringValue":"user"}}],"startTimeUnixNano":"1","timeUnixNano":"1737133726158376000","asDouble":12.5}],"aggregationTemporality":2,"isMonotonic":true}},{"name":"process.memory.usage","sum":{"dataPoints":[{"timeUnixNano":1737133726158376000,"asInt":"104857600"}],"aggregationTemporality":2}}]}]}]}"#;

    #[test]
    fn decodes_file_exporter_line() {
        let s = run(LINE);
        assert!(s.rejections.is_empty(), "{:?}", s.rejections);
        assert_eq!(s.points.len(), 2);
        let p = &s.points[0];
        assert_eq!(p.metric.name, "process.cpu.time");
        assert_eq!(p.metric.kind, MetricKind::Sum);
        assert_eq!(p.metric.temporality, 2);
        assert!(p.metric.is_monotonic);
        assert_eq!(p.value, Some(12.5));
        assert_eq!(p.time_unix_nano, 1737133726158376000);
        assert_eq!(p.origin.resource[0], ("process.pid".into(), AttrValue::Int(4668)));
        assert_eq!(p.attributes, vec![("state".into(), AttrValue::Str("user".into()))]);
        assert_eq!(s.points[1].value, Some(104857600.0));
        assert!(!s.points[1].metric.is_monotonic);
    }

    #[test]
    fn bad_line_is_rejected_with_its_line_and_the_rest_lands() {
        let input = format!("{LINE}\n{{\"resourceMetrics\": [oops\n{LINE}\n");
        let s = run(&input);
        assert_eq!(s.points.len(), 4);
        assert_eq!(s.rejections.len(), 1);
        assert_eq!(s.rejections[0].reason, "invalid_json");
        assert!(
            matches!(s.rejections[0].position, Position::Line { line: 2, .. }),
            "{:?}",
            s.rejections[0]
        );
    }

    #[test]
    fn wrong_type_names_the_line() {
        let bad = LINE.replace(r#""asDouble":12.5"#, r#""asDouble":{"x":1}"#);
        let s = run(&format!("{LINE}\n{LINE}\n{bad}\n"));
        assert_eq!(s.points.len(), 4);
        assert_eq!(s.rejections[0].reason, "wrong_type");
        assert!(matches!(s.rejections[0].position, Position::Line { line: 3, .. }));
    }

    #[test]
    fn truncated_document_and_empty_input() {
        let s = run(&LINE[..LINE.len() - 20]);
        assert_eq!(s.points.len(), 0);
        assert_eq!(s.rejections[0].reason, "truncated");
        let s = run("  \n");
        assert_eq!(s.rejections[0].reason, "empty");
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let s = run(&format!("\u{feff}{LINE}\r\n{LINE}\r\n"));
        assert!(s.rejections.is_empty(), "{:?}", s.rejections);
        assert_eq!(s.points.len(), 4);
    }

    #[test]
    fn string_left_open_loses_only_its_own_line() {
        let open =
            r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"never closed}}]}}]}"#;
        let s = run(&format!("{LINE}\n{open}\n{LINE}\n"));
        assert_eq!(s.points.len(), 4, "the line after the open string lands");
        assert_eq!(s.rejections.len(), 1);
        assert_eq!(s.rejections[0].reason, "invalid_json");
        assert_eq!(s.rejections[0].position, Position::Line { line: 2, column: 0 });
    }

    #[test]
    fn error_detail_does_not_contradict_the_position() {
        let s = run(&format!("{LINE}\n{LINE}\n{{\"resourceMetrics\": [oops\n"));
        let r = &s.rejections[0];
        assert!(matches!(r.position, Position::Line { line: 3, column: 22 }), "{r:?}");
        assert!(
            !r.detail.contains("line 1"),
            "serde_json's relative position is dropped: {}",
            r.detail
        );
        assert_eq!(r.detail, "expected value");
    }

    #[test]
    fn documents_that_are_not_otlp_count_towards_the_error_cap() {
        // A million of them: decoding stays linear and stops after the cap.
        let input = "{}\n".repeat(1_000_000);
        let started = std::time::Instant::now();
        let s = run(&input);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(s.rejections.len(), MAX_ERRORS_PER_INPUT);
        assert_eq!(s.rejections[0].reason, "not_otlp_metrics");
        let last = &s.rejections[MAX_ERRORS_PER_INPUT - 1];
        assert_eq!(last.reason, "too_many_errors");
        assert_eq!(last.position, Position::Line { line: 100, column: 0 });
    }

    #[test]
    fn points_and_metric_problems_carry_their_document_line() {
        let no_data = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x"}]}]}]}"#;
        let s = run(&format!("\n{LINE}\n{no_data}\n  {LINE}\n"));
        let lines: Vec<_> = s.positions.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines, ["line 2", "line 2", "line 4", "line 4"]);
        assert_eq!(s.rejections[0].reason, "metric_without_data");
        assert_eq!(s.rejections[0].position, Position::Line { line: 3, column: 0 });
    }

    #[test]
    fn non_finite_doubles_and_numeric_ints() {
        let s = run(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"timeUnixNano":5,"asDouble":"NaN"},{"timeUnixNano":"6","asDouble":"-Infinity"},{"timeUnixNano":"7"}]}}]}]}]}"#,
        );
        assert_eq!(s.points.len(), 3);
        assert!(s.points[0].value.is_some_and(f64::is_nan));
        assert_eq!(s.points[1].value, Some(f64::NEG_INFINITY));
        assert_eq!(s.points[2].value, None);
        assert_eq!(s.points[2].time_unix_nano, 7);
    }

    #[test]
    fn many_documents_that_are_not_metrics_stop_early_in_linear_time() {
        // 100 000 `{}` lines: each was a rejection whose line was counted from the start of
        // the input (minutes for 1 MB), and the rejections themselves were unbounded.
        let text = "{}\n".repeat(100_000);
        let t = std::time::Instant::now();
        let s = run(&text);
        assert!(t.elapsed().as_secs() < 2, "{:?}", t.elapsed());
        assert_eq!(s.rejections.len(), MAX_ERRORS_PER_INPUT);
        assert_eq!(s.rejections[0].position, Position::Line { line: 1, column: 0 });
        assert_eq!(s.rejections[98].position, Position::Line { line: 99, column: 0 });
        let last = &s.rejections[MAX_ERRORS_PER_INPUT - 1];
        assert_eq!(last.reason, "too_many_errors");
        assert_eq!(last.position, Position::Line { line: 100, column: 0 });
        // A few such documents among metrics are each rejected, with their own line.
        let s = run(&format!("{LINE}\n{{}}\n{LINE}\n\n  {{\"x\": 1}}\n"));
        assert_eq!(s.points.len(), 4);
        let at: Vec<_> = s.rejections.iter().map(|r| (r.reason, r.position)).collect();
        assert_eq!(
            at,
            vec![
                ("not_otlp_metrics", Position::Line { line: 2, column: 0 }),
                ("not_otlp_metrics", Position::Line { line: 5, column: 0 }),
            ]
        );
    }

    #[test]
    fn json_that_is_not_otlp_is_rejected() {
        let s = run("{\"scenarios\": []}\n");
        assert_eq!(s.rejections[0].reason, "not_otlp_metrics");
        let s = run("{\"resourceMetrics\": []}");
        assert!(s.rejections.is_empty(), "an empty export is valid");
    }

    #[test]
    fn metric_without_data_is_counted() {
        let s = run(r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x"}]}]}]}"#);
        assert_eq!(s.points.len(), 0);
        assert_eq!(s.rejections[0].reason, "metric_without_data");
    }

    #[test]
    fn proto_example_sample_decodes_every_point() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/samples/opentelemetry-proto__metrics.json"
        ))
        .expect("sample file");
        let s = run(&text);
        assert!(s.rejections.is_empty(), "{:?}", s.rejections);
        let kinds: Vec<_> = s.points.iter().map(|p| p.metric.kind).collect();
        assert!(kinds.contains(&MetricKind::Histogram));
        assert!(kinds.contains(&MetricKind::ExponentialHistogram));
        assert!(kinds.contains(&MetricKind::Gauge));
        assert!(kinds.contains(&MetricKind::Sum));
        let h = s
            .points
            .iter()
            .find(|p| p.metric.kind == MetricKind::Histogram)
            .expect("histogram");
        assert!(h.buckets.as_deref().is_some_and(|b| b.contains("bounds")));
        assert!(h.count.is_some());
    }
}
