//! OTLP/protobuf metrics decoder. The messages are in `otlp_messages` (re-exported here, for
//! the generator's encoder as well).
//!
//! Framing is detected, not configured:
//! - the file exporter's (`format: proto`): a sequence of records, each a `u32` big-endian
//!   length followed by that many bytes of `ExportMetricsServiceRequest`; with the legacy
//!   `compression: zstd` each record's payload is a zstd frame (magic `28 b5 2f fd`);
//! - a bare single `ExportMetricsServiceRequest` (`.binpb`/`.pb`, awss3exporter `otlp_proto`).
//!
//! The two cannot be confused in practice: a bare request starts with the tag byte `0x0a`
//! (a frame length of at least 160 MiB), and a framed file starts with `00` (field number 0,
//! never valid protobuf) unless its first record exceeds 16 MiB.
//!
//! Rejection reasons produced here (the same codes `ingest::decode_zstd_framed` uses):
//! `empty`; `invalid_protobuf`; `bad_length` (a length prefix running past the end of the
//! input); `truncated` (1–3 trailing bytes, too short for a length prefix);
//! `corrupt_compression` / `truncated_compression` (a bad zstd record); `too_large` (zstd
//! records decompressing past the input's limit: `--max-input-bytes` via [`decode_limited`],
//! 1 GiB via [`decode`]); `metric_without_data` (a `Metric` whose data oneof is
//! unset, so that it is counted rather than silently yielding nothing).

use std::io::Read;
use std::sync::Arc;

use prost::Message;
use serde::ser::{Serialize, Serializer};

use super::model::{AttrValue, Attrs, MetricInfo, MetricKind, Origin, Point, Position, Rejection, Sink};
pub use super::otlp_messages::*;

// ---------------------------------------------------------------------------------------------
// Encoding (for the data generator)
// ---------------------------------------------------------------------------------------------

/// Appends `req` to `out` in the file exporter's framing: a 4-byte big-endian length, then
/// the encoded message.
///
/// # Panics
/// If the encoded message exceeds `u32::MAX` bytes (protobuf itself caps messages at 2 GiB).
pub fn encode_framed(req: &ExportMetricsServiceRequest, out: &mut Vec<u8>) {
    let len = req.encoded_len();
    let prefix = u32::try_from(len).expect("OTLP message larger than 4 GiB cannot be framed");
    out.reserve(4 + len);
    out.extend_from_slice(&prefix.to_be_bytes());
    // Encoding into a `Vec` cannot run out of space, the only way `encode` fails.
    let encoded = req.encode(out);
    debug_assert!(encoded.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// Largest decompressed size of the zstd records of one input, for [`decode`].
const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Decodes `bytes` (already decompressed by the caller) into points.
///
/// Accepts the file exporter's length-prefixed records (optionally zstd per record) or a bare
/// `ExportMetricsServiceRequest`. Never panics; everything that cannot become points is
/// reported to `sink` as a [`Rejection`].
pub fn decode(bytes: &[u8], sink: &mut dyn Sink) {
    decode_limited(bytes, MAX_DECOMPRESSED, sink)
}

/// [`decode`], with the zstd records of the input decompressing to at most `limit` bytes in
/// all (what is left of `--max-input-bytes`): past it, a `too_large` rejection, not an
/// allocation.
pub fn decode_limited(bytes: &[u8], limit: u64, sink: &mut dyn Sink) {
    let mut budget = limit;
    if bytes.is_empty() {
        sink.reject(Rejection {
            reason: "empty",
            position: Position::Whole,
            detail: "empty input".to_string(),
            points: 0,
        });
        return;
    }

    let walk = walk_frames(bytes);

    // A buffer that does not split exactly into frames is most likely a bare message.
    let mut bare_err = None;
    if walk.bad.is_some() {
        match decode_message(bytes) {
            Ok(req) => {
                emit_request(req, Position::Byte(0), sink);
                return;
            }
            Err(e) => bare_err = Some(e),
        }
    }

    let Some(first) = walk.frames.first() else {
        // Not even the first length prefix fits, and it is no bare message either.
        let detail = bare_err.map(|e| e.detail).unwrap_or_default();
        sink.reject(Rejection {
            reason: "invalid_protobuf",
            position: Position::Byte(0),
            detail,
            points: 0,
        });
        return;
    };

    let first_req = match decode_payload(first.payload, &mut budget) {
        Ok(req) => req,
        Err(frame_err) => {
            let bare = match bare_err {
                Some(e) => Err(e),
                None => decode_message(bytes),
            };
            match bare {
                Ok(req) => emit_request(req, Position::Byte(0), sink),
                Err(bare_err) => sink.reject(Rejection {
                    reason: frame_err.reason,
                    position: Position::Record { record: 1, byte: 0 },
                    detail: format!(
                        "record 1: {}; as a single message: {}",
                        frame_err.detail, bare_err.detail
                    ),
                    points: 0,
                }),
            }
            return;
        }
    };

    emit_request(first_req, Position::Record { record: 1, byte: 0 }, sink);
    for (index, frame) in walk.frames.iter().enumerate().skip(1) {
        let position = Position::Record {
            record: index as u64 + 1,
            byte: frame.start as u64,
        };
        match decode_payload(frame.payload, &mut budget) {
            Ok(req) => emit_request(req, position, sink),
            Err(e) => {
                // Nothing after an undecodable record can be trusted.
                sink.reject(Rejection {
                    reason: e.reason,
                    position,
                    detail: e.detail,
                    points: 0,
                });
                return;
            }
        }
    }
    if let Some(bad) = walk.bad {
        sink.reject(Rejection {
            reason: bad.reason,
            position: Position::Record {
                record: walk.frames.len() as u64 + 1,
                byte: bad.start as u64,
            },
            detail: bad.detail,
            points: 0,
        });
    }
}

/// One length-prefixed record: where its header starts, and its payload.
struct Frame<'a> {
    start: usize,
    payload: &'a [u8],
}

/// A length prefix that does not fit the rest of the input.
struct BadFrame {
    start: usize,
    reason: &'static str,
    detail: String,
}

struct Walk<'a> {
    frames: Vec<Frame<'a>>,
    bad: Option<BadFrame>,
}

/// Splits `bytes` into length-prefixed frames, stopping at the first prefix that does not fit.
fn walk_frames(bytes: &[u8]) -> Walk<'_> {
    let mut frames = Vec::new();
    let mut start = 0usize;
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some((header, body)) = rest.split_first_chunk::<4>() else {
            return Walk {
                frames,
                bad: Some(BadFrame {
                    start,
                    reason: "truncated",
                    detail: format!("{} trailing bytes are too short for a 4-byte length prefix", rest.len()),
                }),
            };
        };
        let len = u32::from_be_bytes(*header);
        let Some((payload, tail)) = usize::try_from(len).ok().and_then(|len| body.split_at_checked(len)) else {
            return Walk {
                frames,
                bad: Some(BadFrame {
                    start,
                    reason: "bad_length",
                    detail: format!(
                        "record length {len} runs past the end of the input ({} bytes left)",
                        body.len()
                    ),
                }),
            };
        };
        frames.push(Frame { start, payload });
        start += 4 + payload.len();
        rest = tail;
    }
    Walk { frames, bad: None }
}

/// Why a message or record could not be decoded.
#[derive(Debug)]
struct DecodeFailure {
    reason: &'static str,
    detail: String,
}

/// Decodes one record's payload, decompressing it first if it is a zstd frame (taking its
/// size from the input's `budget`).
fn decode_payload(payload: &[u8], budget: &mut u64) -> Result<ExportMetricsServiceRequest, DecodeFailure> {
    if payload.starts_with(&ZSTD_MAGIC) {
        let raw = unzstd(payload, *budget)?;
        *budget -= raw.len() as u64;
        decode_message(&raw)
    } else {
        decode_message(payload)
    }
}

fn decode_message(bytes: &[u8]) -> Result<ExportMetricsServiceRequest, DecodeFailure> {
    let req = ExportMetricsServiceRequest::decode(bytes).map_err(|e| DecodeFailure {
        reason: "invalid_protobuf",
        detail: e.to_string(),
    })?;
    // Protobuf skips unknown fields, so arbitrary bytes can "decode" into an empty request.
    // A non-empty OTLP metrics message always has resource metrics.
    if req.resource_metrics.is_empty() && !bytes.is_empty() {
        return Err(DecodeFailure {
            reason: "invalid_protobuf",
            detail: format!(
                "{} bytes hold no resourceMetrics: not an OTLP metrics message",
                bytes.len()
            ),
        });
    }
    Ok(req)
}

/// Decompresses one zstd payload, refusing output larger than `limit` bytes.
fn unzstd(payload: &[u8], limit: u64) -> Result<Vec<u8>, DecodeFailure> {
    let invalid = |e: std::io::Error| DecodeFailure {
        reason: if e.kind() == std::io::ErrorKind::UnexpectedEof {
            "truncated_compression"
        } else {
            "corrupt_compression"
        },
        detail: format!("zstd record: {e}"),
    };
    let mut decoder = zstd::stream::read::Decoder::with_buffer(payload).map_err(invalid)?;
    let mut out = Vec::new();
    decoder.by_ref().take(limit).read_to_end(&mut out).map_err(invalid)?;
    let mut probe = [0u8; 1];
    if decoder.read(&mut probe).map_err(invalid)? > 0 {
        return Err(DecodeFailure {
            reason: "too_large",
            detail: format!(
                "zstd record decompresses to more than the {limit} bytes left of the input's limit \
                 (a decompression bomb, or raise --max-input-bytes)"
            ),
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Mapping to model::Point
// ---------------------------------------------------------------------------------------------

fn emit_request(req: ExportMetricsServiceRequest, position: Position, sink: &mut dyn Sink) {
    sink.at(position);
    for rm in req.resource_metrics {
        let resource = rm.resource.map(|r| attrs(r.attributes)).unwrap_or_default();
        for sm in rm.scope_metrics {
            let scope = sm.scope.unwrap_or_default();
            let origin = Arc::new(Origin {
                resource: resource.clone(),
                scope_name: scope.name,
                scope_version: scope.version,
                scope_attributes: attrs(scope.attributes),
            });
            for metric in sm.metrics {
                emit_metric(metric, &origin, position, sink);
            }
        }
    }
}

fn emit_metric(metric: Metric, origin: &Arc<Origin>, position: Position, sink: &mut dyn Sink) {
    let Some(data) = metric.data else {
        sink.reject(Rejection {
            reason: "metric_without_data",
            position,
            detail: super::otlp_json::truncate(&metric.name, 100),
            points: 0,
        });
        return;
    };
    let (kind, temporality, is_monotonic) = match &data {
        metric::Data::Gauge(_) => (MetricKind::Gauge, 0, false),
        metric::Data::Sum(s) => (MetricKind::Sum, s.aggregation_temporality, s.is_monotonic),
        metric::Data::Histogram(h) => (MetricKind::Histogram, h.aggregation_temporality, false),
        metric::Data::ExponentialHistogram(h) => (MetricKind::ExponentialHistogram, h.aggregation_temporality, false),
        metric::Data::Summary(_) => (MetricKind::Summary, 0, false),
    };
    let info = Arc::new(MetricInfo {
        name: metric.name,
        unit: metric.unit,
        kind,
        temporality,
        is_monotonic,
    });
    let base = |attributes: Vec<KeyValue>, start: u64, time: u64, flags: u32| {
        Point::new(origin, &info, attrs(attributes), start, time, flags)
    };
    match data {
        metric::Data::Gauge(Gauge { data_points }) | metric::Data::Sum(Sum { data_points, .. }) => {
            for dp in data_points {
                let value = dp.value.map(|v| match v {
                    number_data_point::Value::AsDouble(d) => d,
                    number_data_point::Value::AsInt(i) => i as f64,
                });
                sink.point(Point {
                    value,
                    ..base(dp.attributes, dp.start_time_unix_nano, dp.time_unix_nano, dp.flags)
                });
            }
        }
        metric::Data::Histogram(h) => {
            for dp in h.data_points {
                let buckets = serde_json::to_string(&HistogramBuckets {
                    bounds: Floats(&dp.explicit_bounds),
                    counts: &dp.bucket_counts,
                })
                .ok();
                sink.point(Point {
                    value: dp.sum,
                    count: Some(dp.count),
                    min: dp.min,
                    max: dp.max,
                    buckets,
                    ..base(dp.attributes, dp.start_time_unix_nano, dp.time_unix_nano, dp.flags)
                });
            }
        }
        metric::Data::ExponentialHistogram(h) => {
            for dp in h.data_points {
                let buckets = serde_json::to_string(&ExponentialBuckets {
                    scale: dp.scale,
                    zero_count: dp.zero_count,
                    zero_threshold: Float(dp.zero_threshold),
                    positive: ExponentialSide::of(dp.positive.as_ref()),
                    negative: ExponentialSide::of(dp.negative.as_ref()),
                })
                .ok();
                sink.point(Point {
                    value: dp.sum,
                    count: Some(dp.count),
                    min: dp.min,
                    max: dp.max,
                    buckets,
                    ..base(dp.attributes, dp.start_time_unix_nano, dp.time_unix_nano, dp.flags)
                });
            }
        }
        metric::Data::Summary(s) => {
            for dp in s.data_points {
                let buckets = serde_json::to_string(&SummaryBuckets {
                    quantiles: Quantiles(&dp.quantile_values),
                })
                .ok();
                sink.point(Point {
                    value: Some(dp.sum),
                    count: Some(dp.count),
                    buckets,
                    ..base(dp.attributes, dp.start_time_unix_nano, dp.time_unix_nano, dp.flags)
                });
            }
        }
    }
}

fn attrs(kvs: Vec<KeyValue>) -> Attrs {
    kvs.into_iter().map(|kv| (kv.key, attr_value(kv.value))).collect()
}

/// Converts an `AnyValue`. Nesting is bounded by prost's decode recursion limit.
fn attr_value(value: Option<AnyValue>) -> AttrValue {
    use any_value::Value;
    match value.and_then(|v| v.value) {
        None => AttrValue::Empty,
        Some(Value::StringValue(s)) => AttrValue::Str(s),
        Some(Value::BoolValue(b)) => AttrValue::Bool(b),
        Some(Value::IntValue(i)) => AttrValue::Int(i),
        Some(Value::DoubleValue(d)) => AttrValue::Double(d),
        Some(Value::BytesValue(b)) => AttrValue::Bytes(b),
        Some(Value::ArrayValue(a)) => AttrValue::Array(a.values.into_iter().map(|v| attr_value(Some(v))).collect()),
        Some(Value::KvlistValue(kv)) => AttrValue::KvList(attrs(kv.values)),
    }
}

// Bucket documents. Structs (not `serde_json::Value`) so keys keep the documented order.

/// A double as JSON; NaN and infinities as the strings OTLP/JSON uses.
struct Float(f64);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() {
            s.serialize_f64(v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if v > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }
}

struct Floats<'a>(&'a [f64]);

impl Serialize for Floats<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&v| Float(v)))
    }
}

struct Quantiles<'a>(&'a [summary_data_point::ValueAtQuantile]);

impl Serialize for Quantiles<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|q| (Float(q.quantile), Float(q.value))))
    }
}

#[derive(serde::Serialize)]
struct HistogramBuckets<'a> {
    bounds: Floats<'a>,
    counts: &'a [u64],
}

#[derive(serde::Serialize)]
struct ExponentialSide<'a> {
    offset: i32,
    counts: &'a [u64],
}

impl<'a> ExponentialSide<'a> {
    /// An absent side is written as an empty one.
    fn of(buckets: Option<&'a exponential_histogram_data_point::Buckets>) -> Self {
        match buckets {
            Some(b) => ExponentialSide {
                offset: b.offset,
                counts: &b.bucket_counts,
            },
            None => ExponentialSide { offset: 0, counts: &[] },
        }
    }
}

#[derive(serde::Serialize)]
struct ExponentialBuckets<'a> {
    scale: i32,
    zero_count: u64,
    zero_threshold: Float,
    positive: ExponentialSide<'a>,
    negative: ExponentialSide<'a>,
}

#[derive(serde::Serialize)]
struct SummaryBuckets<'a> {
    quantiles: Quantiles<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::model::VecSink;

    const T0: u64 = 1_700_000_000_000_000_000;
    const T1: u64 = 1_700_000_060_000_000_000;

    fn any(v: any_value::Value) -> Option<AnyValue> {
        Some(AnyValue { value: Some(v) })
    }

    fn kv(key: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: any(v),
        }
    }

    fn s(key: &str, v: &str) -> KeyValue {
        kv(key, any_value::Value::StringValue(v.to_string()))
    }

    fn num(attributes: Vec<KeyValue>, value: Option<number_data_point::Value>) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: T0,
            time_unix_nano: T1,
            value,
            flags: 0,
        }
    }

    fn metric(name: &str, unit: &str, data: Option<metric::Data>) -> Metric {
        Metric {
            name: name.to_string(),
            description: String::new(),
            unit: unit.to_string(),
            data,
            metadata: Vec::new(),
        }
    }

    fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: resource,
                    dropped_attributes_count: 0,
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "scope.name".to_string(),
                        version: "1.2.3".to_string(),
                        attributes: vec![kv("scope.flag", any_value::Value::BoolValue(true))],
                        dropped_attributes_count: 0,
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    /// A request with every metric kind and every attribute value type.
    fn full_request() -> ExportMetricsServiceRequest {
        use any_value::Value as V;
        let resource = vec![
            s("host.name", "node-1"),
            kv("process.pid", V::IntValue(4668)),
            kv("cpu.share", V::DoubleValue(0.5)),
            kv("enabled", V::BoolValue(false)),
            kv("blob", V::BytesValue(vec![0, 1, 255])),
            kv(
                "process.command_args",
                V::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(V::StringValue("sleep".to_string())),
                        },
                        AnyValue {
                            value: Some(V::IntValue(10)),
                        },
                        AnyValue { value: None },
                    ],
                }),
            ),
            kv(
                "nested",
                V::KvlistValue(KeyValueList {
                    values: vec![s("a", "b"), kv("n", V::IntValue(-1))],
                }),
            ),
            KeyValue {
                key: "unset".to_string(),
                value: None,
            },
        ];
        let gauge = metric(
            "process.memory.utilization",
            "1",
            Some(metric::Data::Gauge(Gauge {
                data_points: vec![
                    num(vec![s("state", "used")], Some(number_data_point::Value::AsInt(-42))),
                    num(vec![], Some(number_data_point::Value::AsDouble(0.25))),
                    num(vec![], None),
                ],
            })),
        );
        let sum = metric(
            "process.cpu.time",
            "s",
            Some(metric::Data::Sum(Sum {
                data_points: vec![num(
                    vec![s("state", "user")],
                    Some(number_data_point::Value::AsDouble(12.5)),
                )],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
        );
        let histogram = metric(
            "http.duration",
            "ms",
            Some(metric::Data::Histogram(Histogram {
                data_points: vec![
                    HistogramDataPoint {
                        attributes: vec![s("route", "/")],
                        start_time_unix_nano: T0,
                        time_unix_nano: T1,
                        count: 12,
                        sum: Some(30.5),
                        bucket_counts: vec![3, 4, 5],
                        explicit_bounds: vec![1.0, 2.5],
                        flags: 0,
                        min: Some(0.5),
                        max: Some(9.0),
                    },
                    HistogramDataPoint {
                        attributes: vec![],
                        start_time_unix_nano: T0,
                        time_unix_nano: T1,
                        count: 0,
                        sum: None,
                        bucket_counts: vec![],
                        explicit_bounds: vec![],
                        flags: 1,
                        min: None,
                        max: None,
                    },
                ],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            })),
        );
        let exp = metric(
            "rpc.latency",
            "s",
            Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: vec![],
                    start_time_unix_nano: T0,
                    time_unix_nano: T1,
                    count: 7,
                    sum: Some(-3.5),
                    scale: -2,
                    zero_count: 1,
                    positive: Some(exponential_histogram_data_point::Buckets {
                        offset: -1,
                        bucket_counts: vec![2, 3],
                    }),
                    negative: Some(exponential_histogram_data_point::Buckets {
                        offset: 4,
                        bucket_counts: vec![1],
                    }),
                    flags: 0,
                    min: Some(-8.0),
                    max: Some(4.0),
                    zero_threshold: 0.001,
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
        );
        let summary = metric(
            "gc.pause",
            "ms",
            Some(metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: vec![],
                    start_time_unix_nano: 0,
                    time_unix_nano: T1,
                    count: 10,
                    sum: 100.0,
                    quantile_values: vec![
                        summary_data_point::ValueAtQuantile {
                            quantile: 0.5,
                            value: 8.0,
                        },
                        summary_data_point::ValueAtQuantile {
                            quantile: 0.99,
                            value: 25.5,
                        },
                    ],
                    flags: 0,
                }],
            })),
        );
        request(resource, vec![gauge, sum, histogram, exp, summary])
    }

    fn run(bytes: &[u8]) -> VecSink {
        let mut sink = VecSink::default();
        decode(bytes, &mut sink);
        sink
    }

    fn framed(reqs: &[&ExportMetricsServiceRequest]) -> Vec<u8> {
        let mut out = Vec::new();
        for req in reqs {
            encode_framed(req, &mut out);
        }
        out
    }

    fn frame_raw(payload: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
    }

    #[test]
    fn round_trip_every_kind_and_attribute_type() {
        let sink = run(&full_request().encode_to_vec());
        assert!(sink.rejections.is_empty(), "{:?}", sink.rejections);
        let p = &sink.points;
        assert_eq!(p.len(), 3 + 1 + 2 + 1 + 1);

        // Origin: resource + scope, one shared Arc for the whole ScopeMetrics.
        let origin = &p[0].origin;
        assert!(p.iter().all(|x| Arc::ptr_eq(&x.origin, origin)));
        assert_eq!(origin.scope_name, "scope.name");
        assert_eq!(origin.scope_version, "1.2.3");
        assert_eq!(
            origin.scope_attributes,
            vec![("scope.flag".to_string(), AttrValue::Bool(true))]
        );
        let expected_resource: Attrs = vec![
            ("host.name".into(), AttrValue::Str("node-1".into())),
            ("process.pid".into(), AttrValue::Int(4668)),
            ("cpu.share".into(), AttrValue::Double(0.5)),
            ("enabled".into(), AttrValue::Bool(false)),
            ("blob".into(), AttrValue::Bytes(vec![0, 1, 255])),
            (
                "process.command_args".into(),
                AttrValue::Array(vec![
                    AttrValue::Str("sleep".into()),
                    AttrValue::Int(10),
                    AttrValue::Empty,
                ]),
            ),
            (
                "nested".into(),
                AttrValue::KvList(vec![
                    ("a".into(), AttrValue::Str("b".into())),
                    ("n".into(), AttrValue::Int(-1)),
                ]),
            ),
            ("unset".into(), AttrValue::Empty),
        ];
        assert_eq!(origin.resource, expected_resource);

        // Gauge: as_int, as_double, unset.
        assert!(Arc::ptr_eq(&p[0].metric, &p[1].metric));
        assert_eq!(p[0].metric.name, "process.memory.utilization");
        assert_eq!(p[0].metric.kind, MetricKind::Gauge);
        assert_eq!(p[0].metric.unit, "1");
        assert_eq!(p[0].metric.temporality, 0);
        assert!(!p[0].metric.is_monotonic);
        assert_eq!(
            p[0].attributes,
            vec![("state".to_string(), AttrValue::Str("used".into()))]
        );
        assert_eq!(p[0].value, Some(-42.0));
        assert_eq!(p[0].start_time_unix_nano, T0);
        assert_eq!(p[0].time_unix_nano, T1);
        assert_eq!(p[0].count, None);
        assert_eq!(p[0].buckets, None);
        assert_eq!(p[1].value, Some(0.25));
        assert_eq!(p[2].value, None);

        // Cumulative monotonic sum.
        assert_eq!(p[3].metric.kind, MetricKind::Sum);
        assert_eq!(p[3].metric.name, "process.cpu.time");
        assert_eq!(p[3].metric.temporality, 2);
        assert!(p[3].metric.is_monotonic);
        assert_eq!(p[3].value, Some(12.5));

        // Histogram.
        assert_eq!(p[4].metric.kind, MetricKind::Histogram);
        assert_eq!(p[4].metric.temporality, 1);
        assert_eq!(p[4].value, Some(30.5));
        assert_eq!(p[4].count, Some(12));
        assert_eq!(p[4].min, Some(0.5));
        assert_eq!(p[4].max, Some(9.0));
        assert_eq!(
            p[4].buckets.as_deref(),
            Some(r#"{"bounds":[1.0,2.5],"counts":[3,4,5]}"#)
        );
        assert_eq!(p[5].value, None);
        assert_eq!(p[5].count, Some(0));
        assert_eq!((p[5].min, p[5].max), (None, None));
        assert_eq!(p[5].flags, 1);
        assert_eq!(p[5].buckets.as_deref(), Some(r#"{"bounds":[],"counts":[]}"#));

        // Exponential histogram.
        assert_eq!(p[6].metric.kind, MetricKind::ExponentialHistogram);
        assert_eq!(p[6].metric.temporality, 2);
        assert_eq!(p[6].value, Some(-3.5));
        assert_eq!(p[6].count, Some(7));
        assert_eq!((p[6].min, p[6].max), (Some(-8.0), Some(4.0)));
        assert_eq!(
            p[6].buckets.as_deref(),
            Some(
                r#"{"scale":-2,"zero_count":1,"zero_threshold":0.001,"positive":{"offset":-1,"counts":[2,3]},"negative":{"offset":4,"counts":[1]}}"#
            )
        );

        // Summary.
        assert_eq!(p[7].metric.kind, MetricKind::Summary);
        assert_eq!(p[7].value, Some(100.0));
        assert_eq!(p[7].count, Some(10));
        assert_eq!(p[7].start_time_unix_nano, 0);
        assert_eq!(
            p[7].buckets.as_deref(),
            Some(r#"{"quantiles":[[0.5,8.0],[0.99,25.5]]}"#)
        );
    }

    #[test]
    fn bare_and_framed_give_the_same_points() {
        let req = full_request();
        let bare = run(&req.encode_to_vec());
        let one = run(&framed(&[&req]));
        assert!(one.rejections.is_empty(), "{:?}", one.rejections);
        assert_eq!(one.points, bare.points);

        let mut second = request(
            vec![s("host.name", "node-2")],
            vec![metric(
                "process.threads",
                "{threads}",
                Some(metric::Data::Sum(Sum {
                    data_points: vec![num(vec![], Some(number_data_point::Value::AsInt(7)))],
                    aggregation_temporality: 2,
                    is_monotonic: false,
                })),
            )],
        );
        second.resource_metrics[0].scope_metrics[0].scope = None;
        let two = run(&framed(&[&req, &second]));
        assert!(two.rejections.is_empty(), "{:?}", two.rejections);
        assert_eq!(two.points.len(), bare.points.len() + 1);
        assert_eq!(&two.points[..bare.points.len()], &bare.points[..]);
        let last = &two.points[bare.points.len()];
        assert_eq!(last.metric.name, "process.threads");
        assert_eq!(last.value, Some(7.0));
        assert_eq!(last.origin.scope_name, "");
        assert_eq!(
            last.origin.resource,
            vec![("host.name".to_string(), AttrValue::Str("node-2".into()))]
        );
    }

    #[test]
    fn encode_framed_writes_a_big_endian_length_prefix() {
        let req = full_request();
        let mut out = vec![0xaa];
        encode_framed(&req, &mut out);
        let len = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        assert_eq!(len, out.len() - 5);
        assert_eq!(ExportMetricsServiceRequest::decode(&out[5..]).expect("decodes"), req);
    }

    #[test]
    fn zstd_compressed_frames() {
        let req = full_request();
        let bare = run(&req.encode_to_vec());
        let mut buf = Vec::new();
        for _ in 0..2 {
            let compressed = zstd::encode_all(&req.encode_to_vec()[..], 3).expect("compress");
            assert!(compressed.starts_with(&ZSTD_MAGIC));
            frame_raw(&compressed, &mut buf);
        }
        let sink = run(&buf);
        assert!(sink.rejections.is_empty(), "{:?}", sink.rejections);
        assert_eq!(sink.points.len(), 2 * bare.points.len());
        assert_eq!(&sink.points[..bare.points.len()], &bare.points[..]);

        // A corrupt zstd record: the first record lands, the second is rejected.
        let first_len = buf.len() / 2;
        let mut bad = buf[..first_len].to_vec();
        // Frame header, then a block of the reserved block type 3.
        frame_raw(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x07, 0x00, 0x00], &mut bad);
        let sink = run(&bad);
        assert_eq!(sink.points.len(), bare.points.len());
        assert_eq!(sink.rejections.len(), 1);
        assert_eq!(sink.rejections[0].reason, "corrupt_compression");
        assert_eq!(
            sink.rejections[0].position,
            Position::Record {
                record: 2,
                byte: first_len as u64
            }
        );
    }

    #[test]
    fn zstd_output_is_bounded() {
        let compressed = zstd::encode_all(&[0u8; 10_000][..], 3).expect("compress");
        let err = unzstd(&compressed, 9_999).expect_err("over the limit");
        assert_eq!(err.reason, "too_large");
        assert_eq!(unzstd(&compressed, 10_000).expect("at the limit").len(), 10_000);
        // Truncated zstd stream.
        let err = unzstd(&compressed[..compressed.len() - 2], 1 << 20).expect_err("truncated");
        assert_eq!(err.reason, "truncated_compression");
    }

    #[test]
    fn zstd_records_are_bounded_by_the_callers_limit() {
        let mut buf = Vec::new();
        frame_raw(&zstd::encode_all(&[0u8; 10_000][..], 3).expect("compress"), &mut buf);
        let mut sink = VecSink::default();
        decode_limited(&buf, 9_999, &mut sink);
        assert_eq!(sink.rejections.len(), 1);
        assert_eq!(sink.rejections[0].reason, "too_large");
        let mut sink = VecSink::default();
        decode_limited(&buf, 10_000, &mut sink);
        assert_eq!(
            sink.rejections[0].reason, "invalid_protobuf",
            "decompressed, then not protobuf"
        );
    }

    #[test]
    fn points_carry_their_record() {
        let req = request(
            vec![],
            vec![metric(
                "g",
                "1",
                Some(metric::Data::Gauge(Gauge {
                    data_points: vec![num(vec![], Some(number_data_point::Value::AsInt(1)))],
                })),
            )],
        );
        let buf = framed(&[&req, &req]);
        let second = 4 + req.encoded_len() as u64;
        let sink = run(&buf);
        assert_eq!(
            sink.positions,
            [
                Position::Record { record: 1, byte: 0 },
                Position::Record {
                    record: 2,
                    byte: second
                }
            ]
        );
        assert_eq!(run(&req.encode_to_vec()).positions, [Position::Byte(0)]);
    }

    #[test]
    fn bogus_length_keeps_the_good_frame_and_rejects_the_rest() {
        let req = full_request();
        let good = run(&req.encode_to_vec()).points;
        let mut buf = framed(&[&req]);
        let second_start = buf.len();
        buf.extend_from_slice(&1000u32.to_be_bytes());
        buf.extend_from_slice(&[0x0a, 0x00, 0x0a, 0x00]);
        let sink = run(&buf);
        assert_eq!(sink.points, good);
        assert_eq!(sink.rejections.len(), 1);
        let r = &sink.rejections[0];
        assert_eq!(r.reason, "bad_length");
        assert_eq!(
            r.position,
            Position::Record {
                record: 2,
                byte: second_start as u64
            }
        );
        assert_eq!(r.points, 0);
        assert!(r.detail.contains("1000"), "{}", r.detail);

        // A stub shorter than a length prefix at the end.
        let mut buf = framed(&[&req]);
        buf.extend_from_slice(&[0, 0]);
        let sink = run(&buf);
        assert_eq!(sink.points, good);
        assert_eq!(sink.rejections.len(), 1);
        assert_eq!(sink.rejections[0].reason, "truncated");
        assert_eq!(
            sink.rejections[0].position,
            Position::Record {
                record: 2,
                byte: second_start as u64
            }
        );
    }

    #[test]
    fn undecodable_frame_stops_decoding() {
        let req = full_request();
        let good = run(&req.encode_to_vec()).points;
        let mut buf = framed(&[&req]);
        let second_start = buf.len();
        frame_raw(&[0xff; 8], &mut buf);
        encode_framed(&req, &mut buf); // never reached
        let sink = run(&buf);
        assert_eq!(sink.points, good);
        assert_eq!(sink.rejections.len(), 1);
        let r = &sink.rejections[0];
        assert_eq!(r.reason, "invalid_protobuf");
        assert_eq!(
            r.position,
            Position::Record {
                record: 2,
                byte: second_start as u64
            }
        );
        assert!(!r.detail.is_empty());
    }

    #[test]
    fn garbage_is_one_rejection() {
        for garbage in [
            &b"this is not protobuf at all"[..],
            &[0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03][..],
            &[0x0a, 0x05, 0x01][..],
            // Looks framed (the length fits), but neither the record nor the whole decodes.
            &[0x00, 0x00, 0x00, 0x02, 0xff, 0xff][..],
            // Decodes as unknown fields only: not OTLP metrics.
            &[0x10, 0x01, 0x18, 0x02, 0x20, 0x03][..],
        ] {
            let sink = run(garbage);
            assert!(sink.points.is_empty(), "{garbage:?}");
            assert_eq!(sink.rejections.len(), 1, "{garbage:?}");
            let r = &sink.rejections[0];
            assert_eq!(r.reason, "invalid_protobuf", "{garbage:?}");
            assert!(
                matches!(r.position, Position::Byte(0) | Position::Record { record: 1, byte: 0 }),
                "{garbage:?}: {:?}",
                r.position
            );
            assert!(!r.detail.is_empty(), "{garbage:?}");
            assert_eq!(r.points, 0);
        }
    }

    #[test]
    fn empty_input() {
        let sink = run(&[]);
        assert!(sink.points.is_empty());
        assert_eq!(sink.rejections.len(), 1);
        assert_eq!(sink.rejections[0].reason, "empty");
    }

    #[test]
    fn empty_request_frame_is_not_an_error() {
        let sink = run(&framed(&[&ExportMetricsServiceRequest::default()]));
        assert!(sink.points.is_empty());
        assert!(sink.rejections.is_empty(), "{:?}", sink.rejections);
    }

    #[test]
    fn metric_without_data_is_counted() {
        let req = request(
            vec![],
            vec![
                metric("no.data", "1", None),
                metric(
                    "with.data",
                    "1",
                    Some(metric::Data::Gauge(Gauge {
                        data_points: vec![num(vec![], Some(number_data_point::Value::AsInt(1)))],
                    })),
                ),
            ],
        );
        let sink = run(&req.encode_to_vec());
        assert_eq!(sink.points.len(), 1);
        assert_eq!(sink.points[0].metric.name, "with.data");
        assert_eq!(
            sink.rejections,
            vec![Rejection {
                reason: "metric_without_data",
                position: Position::Byte(0),
                detail: "no.data".to_string(),
                points: 0,
            }]
        );

        let mut buf = framed(&[&ExportMetricsServiceRequest::default()]);
        encode_framed(&req, &mut buf);
        let sink = run(&buf);
        assert_eq!(sink.points.len(), 1);
        assert_eq!(sink.rejections[0].position, Position::Record { record: 2, byte: 4 });
    }

    #[test]
    fn non_finite_values_in_buckets_are_strings() {
        let req = request(
            vec![],
            vec![
                metric(
                    "h",
                    "1",
                    Some(metric::Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint {
                            attributes: vec![],
                            start_time_unix_nano: T0,
                            time_unix_nano: T1,
                            count: 3,
                            sum: Some(f64::NAN),
                            bucket_counts: vec![1, 1, 1, 0],
                            explicit_bounds: vec![f64::NEG_INFINITY, 0.0, f64::INFINITY],
                            flags: 0,
                            min: None,
                            max: None,
                        }],
                        aggregation_temporality: 1,
                    })),
                ),
                metric(
                    "q",
                    "1",
                    Some(metric::Data::Summary(Summary {
                        data_points: vec![SummaryDataPoint {
                            attributes: vec![],
                            start_time_unix_nano: T0,
                            time_unix_nano: T1,
                            count: 0,
                            sum: 0.0,
                            quantile_values: vec![summary_data_point::ValueAtQuantile {
                                quantile: 1.0,
                                value: f64::NAN,
                            }],
                            flags: 0,
                        }],
                    })),
                ),
                metric(
                    "e",
                    "1",
                    Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: vec![ExponentialHistogramDataPoint {
                            zero_threshold: f64::INFINITY,
                            time_unix_nano: T1,
                            ..Default::default()
                        }],
                        aggregation_temporality: 2,
                    })),
                ),
            ],
        );
        let sink = run(&req.encode_to_vec());
        assert!(sink.rejections.is_empty());
        assert!(sink.points[0].value.is_some_and(f64::is_nan));
        assert_eq!(
            sink.points[0].buckets.as_deref(),
            Some(r#"{"bounds":["-Infinity",0.0,"Infinity"],"counts":[1,1,1,0]}"#)
        );
        assert_eq!(
            sink.points[1].buckets.as_deref(),
            Some(r#"{"quantiles":[[1.0,"NaN"]]}"#)
        );
        assert_eq!(sink.points[2].value, None);
        assert_eq!(sink.points[2].count, Some(0));
        assert_eq!(
            sink.points[2].buckets.as_deref(),
            Some(
                r#"{"scale":0,"zero_count":0,"zero_threshold":"Infinity","positive":{"offset":0,"counts":[]},"negative":{"offset":0,"counts":[]}}"#
            )
        );
    }

    /// The request of `shared/samples/opentelemetry-proto__metrics.json`, built by hand.
    #[test]
    fn sample_request_from_opentelemetry_proto_examples() {
        const T: u64 = 1_544_712_660_300_000_000;
        let attr = |k: &str| vec![s(k, "some value")];
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![s("service.name", "my.service")],
                    dropped_attributes_count: 0,
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "my.library".into(),
                        version: "1.0.0".into(),
                        attributes: vec![s("my.scope.attribute", "some scope attribute")],
                        dropped_attributes_count: 0,
                    }),
                    metrics: vec![
                        Metric {
                            name: "my.counter".into(),
                            unit: "1".into(),
                            description: "I am a Counter".into(),
                            data: Some(metric::Data::Sum(Sum {
                                aggregation_temporality: 1,
                                is_monotonic: true,
                                data_points: vec![NumberDataPoint {
                                    value: Some(number_data_point::Value::AsDouble(5.0)),
                                    start_time_unix_nano: T,
                                    time_unix_nano: T,
                                    attributes: attr("my.counter.attr"),
                                    flags: 0,
                                }],
                            })),
                            metadata: vec![],
                        },
                        Metric {
                            name: "my.gauge".into(),
                            unit: "1".into(),
                            description: "I am a Gauge".into(),
                            data: Some(metric::Data::Gauge(Gauge {
                                data_points: vec![NumberDataPoint {
                                    value: Some(number_data_point::Value::AsDouble(10.0)),
                                    start_time_unix_nano: 0,
                                    time_unix_nano: T,
                                    attributes: attr("my.gauge.attr"),
                                    flags: 0,
                                }],
                            })),
                            metadata: vec![],
                        },
                        Metric {
                            name: "my.histogram".into(),
                            unit: "1".into(),
                            description: "I am a Histogram".into(),
                            data: Some(metric::Data::Histogram(Histogram {
                                aggregation_temporality: 1,
                                data_points: vec![HistogramDataPoint {
                                    start_time_unix_nano: T,
                                    time_unix_nano: T,
                                    count: 2,
                                    sum: Some(2.0),
                                    bucket_counts: vec![1, 1],
                                    explicit_bounds: vec![1.0],
                                    min: Some(0.0),
                                    max: Some(2.0),
                                    attributes: attr("my.histogram.attr"),
                                    flags: 0,
                                }],
                            })),
                            metadata: vec![],
                        },
                        Metric {
                            name: "my.exponential.histogram".into(),
                            unit: "1".into(),
                            description: "I am an Exponential Histogram".into(),
                            data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                                aggregation_temporality: 1,
                                data_points: vec![ExponentialHistogramDataPoint {
                                    start_time_unix_nano: T,
                                    time_unix_nano: T,
                                    count: 3,
                                    sum: Some(10.0),
                                    scale: 0,
                                    zero_count: 1,
                                    positive: Some(exponential_histogram_data_point::Buckets {
                                        offset: 1,
                                        bucket_counts: vec![0, 2],
                                    }),
                                    negative: None,
                                    min: Some(0.0),
                                    max: Some(5.0),
                                    zero_threshold: 0.0,
                                    attributes: attr("my.exponential.histogram.attr"),
                                    flags: 0,
                                }],
                            })),
                            metadata: vec![],
                        },
                    ],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        for bytes in [req.encode_to_vec(), framed(&[&req])] {
            let sink = run(&bytes);
            assert!(sink.rejections.is_empty(), "{:?}", sink.rejections);
            let p = &sink.points;
            assert_eq!(p.len(), 4);
            let names: Vec<&str> = p.iter().map(|x| x.metric.name.as_str()).collect();
            assert_eq!(
                names,
                ["my.counter", "my.gauge", "my.histogram", "my.exponential.histogram"]
            );
            assert_eq!(
                p[0].origin.resource,
                vec![("service.name".into(), AttrValue::Str("my.service".into()))]
            );
            assert_eq!(p[0].origin.scope_name, "my.library");
            assert_eq!(p[0].origin.scope_version, "1.0.0");
            assert_eq!(
                (p[0].metric.kind, p[0].metric.temporality, p[0].metric.is_monotonic),
                (MetricKind::Sum, 1, true)
            );
            assert_eq!(p[0].value, Some(5.0));
            assert_eq!(
                p[0].attributes,
                vec![("my.counter.attr".into(), AttrValue::Str("some value".into()))]
            );
            assert_eq!(p[1].metric.kind, MetricKind::Gauge);
            assert_eq!((p[1].value, p[1].start_time_unix_nano), (Some(10.0), 0));
            assert_eq!(p[1].time_unix_nano, T);
            assert_eq!((p[2].value, p[2].count), (Some(2.0), Some(2)));
            assert_eq!((p[2].min, p[2].max), (Some(0.0), Some(2.0)));
            assert_eq!(p[2].buckets.as_deref(), Some(r#"{"bounds":[1.0],"counts":[1,1]}"#));
            assert_eq!((p[3].value, p[3].count), (Some(10.0), Some(3)));
            assert_eq!(
                p[3].buckets.as_deref(),
                Some(
                    r#"{"scale":0,"zero_count":1,"zero_threshold":0.0,"positive":{"offset":1,"counts":[0,2]},"negative":{"offset":0,"counts":[]}}"#
                )
            );
        }
    }

    /// Truncations and byte flips of valid input never panic, and never lose track:
    /// every outcome is points and/or rejections.
    #[test]
    fn mangled_input_never_panics() {
        let req = full_request();
        let mut framed_bytes = framed(&[&req, &req]);
        let bare = req.encode_to_vec();
        let zstd_framed = {
            let mut out = Vec::new();
            frame_raw(&zstd::encode_all(&bare[..], 1).expect("compress"), &mut out);
            out
        };
        for input in [&bare, &framed_bytes, &zstd_framed] {
            for cut in 0..input.len() {
                let sink = run(&input[..cut]);
                assert!(cut == 0 || !sink.points.is_empty() || !sink.rejections.is_empty());
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state % framed_bytes.len() as u64) as usize;
            let old = framed_bytes[i];
            framed_bytes[i] = (state >> 32) as u8;
            let _ = run(&framed_bytes);
            framed_bytes[i] = old;
        }
    }
}
