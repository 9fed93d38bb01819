//! One scrape of one process, one container readiness reading or one reducer tick → OTLP/JSON
//! text, OTLP/protobuf messages or points ([`PointRef`], a borrowed [`Point`]).
//!
//! The three encodings carry exactly the same content, so a generated lake equals the lake
//! landed from the generated exports. The JSON is written by hand the way the Collector's pdata
//! marshaler writes it: compact, camelCase, 64-bit integers as strings, enums as numbers,
//! zero values omitted (no `isMonotonic` on non-monotonic sums), keys in the marshaler's order
//! (`resource, scopeMetrics, schemaUrl`; `name, description, unit, sum|gauge`;
//! `attributes, startTimeUnixNano, timeUnixNano, asDouble|asInt`), metrics in the order the
//! generated metrics builder emits them (alphabetical), `<`, `>`, `&` escaped as Go does.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::ingest::model::{AttrValue, Attrs, MetricInfo, MetricKind, Origin, Point};
use crate::ingest::otlp_proto::{
    any_value, metric, number_data_point, AnyValue, Gauge, InstrumentationScope, KeyValue, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};

use super::cluster::{ClusterSim, Proto};
use super::sim::{Incarnation, ReadyPoint, Sample};
use super::wire::{CLUSTER_SCHEMA_URL, SCHEMA_URL};

const DELTA: i32 = 1;
const CUMULATIVE: i32 = 2;
const STATES: [&str; 3] = ["user", "system", "wait"];
const DIRECTIONS: [&str; 2] = ["read", "write"];

struct Def {
    name: &'static str,
    description: &'static str,
    unit: &'static str,
    kind: MetricKind,
    monotonic: bool,
}

const CPU_TIME: Def = Def {
    name: "process.cpu.time",
    description: "Total CPU seconds broken down by different states.",
    unit: "s",
    kind: MetricKind::Sum,
    monotonic: true,
};
const CPU_UTIL: Def = Def {
    name: "process.cpu.utilization",
    description: "Percentage of total CPU time used by the process since last scrape, expressed as a value between 0 and 1. On the first scrape, no data point is emitted for this metric.",
    unit: "1",
    kind: MetricKind::Gauge,
    monotonic: false,
};
const DISK_IO: Def = Def {
    name: "process.disk.io",
    description: "Disk bytes transferred.",
    unit: "By",
    kind: MetricKind::Sum,
    monotonic: true,
};
const DISK_OPS: Def = Def {
    name: "process.disk.operations",
    description: "Number of disk operations performed by the process.",
    unit: "{operations}",
    kind: MetricKind::Sum,
    monotonic: true,
};
const THREADS: Def = Def {
    name: "process.threads",
    description: "Process threads count.",
    unit: "{threads}",
    kind: MetricKind::Sum,
    monotonic: false,
};
const MEM_USAGE: Def = Def {
    name: "process.memory.usage",
    description: "The amount of physical memory in use.",
    unit: "By",
    kind: MetricKind::Sum,
    monotonic: false,
};
const MEM_UTIL: Def = Def {
    name: "process.memory.utilization",
    description: "Percentage of total physical memory that is used by the process.",
    unit: "1",
    kind: MetricKind::Gauge,
    monotonic: false,
};
const MEM_VIRTUAL: Def = Def {
    name: "process.memory.virtual",
    description: "Virtual memory size.",
    unit: "By",
    kind: MetricKind::Sum,
    monotonic: false,
};
const READY: Def = Def {
    name: "k8s.container.ready",
    description: "Whether a container has passed its readiness probe (0 for no, 1 for yes)",
    unit: "",
    kind: MetricKind::Gauge,
    monotonic: false,
};

// ---------------------------------------------------------------------------------------------
// JSON

fn metric_head(out: &mut String, d: &Def) {
    out.push_str("{\"name\":\"");
    out.push_str(d.name);
    out.push_str("\",\"description\":\"");
    out.push_str(d.description);
    out.push_str("\",\"unit\":\"");
    out.push_str(d.unit);
    out.push_str(if d.kind == MetricKind::Gauge {
        "\",\"gauge\":{\"dataPoints\":["
    } else {
        "\",\"sum\":{\"dataPoints\":["
    });
}

fn metric_tail(out: &mut String, d: &Def) {
    out.push_str(match (d.kind, d.monotonic) {
        (MetricKind::Gauge, _) => "]}}",
        (_, true) => "],\"aggregationTemporality\":2,\"isMonotonic\":true}}",
        (_, false) => "],\"aggregationTemporality\":2}}",
    });
}

fn point_head(out: &mut String, attr: Option<(&str, &str)>, times: &str) {
    out.push('{');
    if let Some((k, v)) = attr {
        let _ = write!(
            out,
            "\"attributes\":[{{\"key\":\"{k}\",\"value\":{{\"stringValue\":\"{v}\"}}}}],"
        );
    }
    out.push_str(times);
}

fn double_points(out: &mut String, d: &Def, key: &str, names: &[&str], values: &[f64], times: &str) {
    metric_head(out, d);
    for (i, (n, v)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        point_head(out, Some((key, *n)), times);
        let _ = write!(out, ",\"asDouble\":{v}}}");
    }
    metric_tail(out, d);
}

/// Appends the ResourceMetrics of one sample (no separator).
pub(crate) fn write_json(out: &mut String, inc: &Incarnation, s: &Sample, times: &mut String) {
    times.clear();
    let _ = write!(
        times,
        "\"startTimeUnixNano\":\"{}\",\"timeUnixNano\":\"{}\"",
        inc.start_ns, s.time_ns
    );
    out.push_str(&inc.json);
    double_points(out, &CPU_TIME, "state", &STATES, &s.cpu, times);
    if let Some(u) = &s.cpu_util {
        out.push(',');
        double_points(out, &CPU_UTIL, "state", &STATES, u, times);
    }
    out.push(',');
    metric_head(out, &DISK_IO);
    for (i, (n, v)) in DIRECTIONS.iter().zip(s.io).enumerate() {
        if i > 0 {
            out.push(',');
        }
        point_head(out, Some(("direction", *n)), times);
        let _ = write!(out, ",\"asInt\":\"{v}\"}}");
    }
    metric_tail(out, &DISK_IO);
    out.push(',');
    metric_head(out, &DISK_OPS);
    for (i, (n, v)) in DIRECTIONS.iter().zip(s.ops).enumerate() {
        if i > 0 {
            out.push(',');
        }
        point_head(out, Some(("direction", *n)), times);
        let _ = write!(out, ",\"asInt\":\"{v}\"}}");
    }
    metric_tail(out, &DISK_OPS);
    out.push(',');
    metric_head(out, &MEM_USAGE);
    point_head(out, None, times);
    let _ = write!(out, ",\"asInt\":\"{}\"}}", s.rss);
    metric_tail(out, &MEM_USAGE);
    if let Some(u) = s.mem_util {
        out.push(',');
        metric_head(out, &MEM_UTIL);
        point_head(out, None, times);
        let _ = write!(out, ",\"asDouble\":{u}}}");
        metric_tail(out, &MEM_UTIL);
    }
    out.push(',');
    metric_head(out, &MEM_VIRTUAL);
    point_head(out, None, times);
    let _ = write!(out, ",\"asInt\":\"{}\"}}", s.vms);
    metric_tail(out, &MEM_VIRTUAL);
    out.push(',');
    metric_head(out, &THREADS);
    point_head(out, None, times);
    let _ = write!(out, ",\"asInt\":\"{}\"}}", s.threads);
    metric_tail(out, &THREADS);
    out.push_str("]}],\"schemaUrl\":\"");
    out.push_str(SCHEMA_URL);
    out.push_str("\"}");
}

/// Appends the ResourceMetrics of one container readiness reading (no separator); `start`:
/// the receiver's start (`startTimeUnixNano` of its gauges).
pub(crate) fn write_ready_json(out: &mut String, r: &ReadyPoint, start: u64) {
    out.push_str(&r.res.json);
    let _ = write!(
        out,
        "{{\"name\":\"{}\",\"description\":\"{}\",\"gauge\":{{\"dataPoints\":[{{\"startTimeUnixNano\":\"{start}\",\"timeUnixNano\":\"{}\",\"asInt\":\"{}\"}}]}}}}]}}],\"schemaUrl\":\"{CLUSTER_SCHEMA_URL}\"}}",
        READY.name,
        READY.description,
        r.time_ns,
        i64::from(r.ready)
    );
}

// ---------------------------------------------------------------------------------------------
// Protobuf

fn pb_kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
    }
}

fn pb_metric(d: &Def, points: Vec<NumberDataPoint>) -> Metric {
    let data = if d.kind == MetricKind::Gauge {
        metric::Data::Gauge(Gauge { data_points: points })
    } else {
        metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: CUMULATIVE,
            is_monotonic: d.monotonic,
        })
    };
    Metric {
        name: d.name.to_string(),
        description: d.description.to_string(),
        unit: d.unit.to_string(),
        data: Some(data),
        metadata: Vec::new(),
    }
}

fn pb_point(attr: Option<(&str, &str)>, start: u64, time: u64, value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attr.map(|(k, v)| vec![pb_kv(k, v)]).unwrap_or_default(),
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(value),
        flags: 0,
    }
}

/// The ResourceMetrics of one sample.
pub(crate) fn proto_resource_metrics(inc: &Incarnation, s: &Sample) -> ResourceMetrics {
    use number_data_point::Value::{AsDouble, AsInt};
    let (st, t) = (inc.start_ns, s.time_ns);
    let states = |v: &[f64; 3]| {
        STATES
            .iter()
            .zip(v)
            .map(|(n, v)| pb_point(Some(("state", *n)), st, t, AsDouble(*v)))
            .collect::<Vec<_>>()
    };
    let mut metrics = Vec::with_capacity(8);
    metrics.push(pb_metric(&CPU_TIME, states(&s.cpu)));
    if let Some(u) = &s.cpu_util {
        metrics.push(pb_metric(&CPU_UTIL, states(u)));
    }
    metrics.push(pb_metric(
        &DISK_IO,
        DIRECTIONS
            .iter()
            .zip(s.io)
            .map(|(n, v)| pb_point(Some(("direction", *n)), st, t, AsInt(v)))
            .collect(),
    ));
    metrics.push(pb_metric(
        &DISK_OPS,
        DIRECTIONS
            .iter()
            .zip(s.ops)
            .map(|(n, v)| pb_point(Some(("direction", *n)), st, t, AsInt(v)))
            .collect(),
    ));
    metrics.push(pb_metric(&MEM_USAGE, vec![pb_point(None, st, t, AsInt(s.rss))]));
    if let Some(u) = s.mem_util {
        metrics.push(pb_metric(&MEM_UTIL, vec![pb_point(None, st, t, AsDouble(u))]));
    }
    metrics.push(pb_metric(&MEM_VIRTUAL, vec![pb_point(None, st, t, AsInt(s.vms))]));
    metrics.push(pb_metric(&THREADS, vec![pb_point(None, st, t, AsInt(s.threads))]));
    ResourceMetrics {
        resource: inc.proto.clone(),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: inc.origin.scope_name.clone(),
                version: inc.origin.scope_version.clone(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
            }),
            metrics,
            schema_url: String::new(),
        }],
        schema_url: SCHEMA_URL.to_string(),
    }
}

/// The ResourceMetrics of one container readiness reading.
pub(crate) fn proto_ready(r: &ReadyPoint, start: u64) -> ResourceMetrics {
    ResourceMetrics {
        resource: r.res.proto.clone(),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: r.res.origin.scope_name.clone(),
                version: r.res.origin.scope_version.clone(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
            }),
            metrics: vec![pb_metric(
                &READY,
                vec![pb_point(
                    None,
                    start,
                    r.time_ns,
                    number_data_point::Value::AsInt(i64::from(r.ready)),
                )],
            )],
            schema_url: String::new(),
        }],
        schema_url: CLUSTER_SCHEMA_URL.to_string(),
    }
}

/// The reducer's last tick: one ResourceMetrics per 1000 metrics, one data point per metric
/// (delta, monotonic, no start time, no description), no scope.
pub(crate) fn proto_flows(c: &ClusterSim) -> Vec<ResourceMetrics> {
    c.flows
        .chunks(500)
        .map(|chunk| {
            let mut metrics = Vec::with_capacity(2 * chunk.len());
            for f in chunk {
                let e = &c.edges[f.edge];
                for (name, (unit, v)) in e.proto.metrics().iter().zip([("By", f.bytes), ("1", f.packets)]) {
                    metrics.push(Metric {
                        name: name.to_string(),
                        description: String::new(),
                        unit: unit.to_string(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                attributes: e.proto_attrs().to_vec(),
                                start_time_unix_nano: 0,
                                time_unix_nano: c.tick_ns,
                                value: Some(number_data_point::Value::AsInt(v)),
                                flags: 0,
                            }],
                            aggregation_temporality: DELTA,
                            is_monotonic: true,
                        })),
                        metadata: Vec::new(),
                    });
                }
            }
            ResourceMetrics {
                resource: Some(c.proto_resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: None,
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Points

/// The attributes of a [`PointRef`], borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AttrsRef<'a> {
    None,
    One(&'a str, &'a str),
    List(&'a Attrs),
}

/// A data point as the generator emits it, borrowing from the simulation: what the lake's
/// rows and the ground-truth oracle are built from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PointRef<'a> {
    pub origin: &'a Arc<Origin>,
    pub metric: &'a Arc<MetricInfo>,
    pub attrs: AttrsRef<'a>,
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub value: f64,
}

impl<'a> PointRef<'a> {
    /// A decoded point, viewed (its value must be present).
    #[cfg(test)]
    pub(crate) fn of(p: &'a Point) -> Option<PointRef<'a>> {
        Some(PointRef {
            origin: &p.origin,
            metric: &p.metric,
            attrs: AttrsRef::List(&p.attributes),
            start_time_unix_nano: p.start_time_unix_nano,
            time_unix_nano: p.time_unix_nano,
            value: p.value?,
        })
    }

    pub(crate) fn to_point(self) -> Point {
        Point {
            origin: self.origin.clone(),
            metric: self.metric.clone(),
            attributes: match self.attrs {
                AttrsRef::None => Vec::new(),
                AttrsRef::One(k, v) => vec![(k.to_string(), AttrValue::Str(v.to_string()))],
                AttrsRef::List(a) => a.clone(),
            },
            start_time_unix_nano: self.start_time_unix_nano,
            time_unix_nano: self.time_unix_nano,
            value: Some(self.value),
            count: None,
            min: None,
            max: None,
            buckets: None,
            flags: 0,
        }
    }

    /// A string resource attribute.
    pub(crate) fn resource(&self, key: &str) -> Option<&'a str> {
        str_attr(&self.origin.resource, key)
    }

    /// A string data point attribute.
    pub(crate) fn attr(&self, key: &str) -> Option<&'a str> {
        match self.attrs {
            AttrsRef::None => None,
            AttrsRef::One(k, v) => (k == key).then_some(v),
            AttrsRef::List(a) => str_attr(a, key),
        }
    }
}

fn str_attr<'a>(attrs: &'a Attrs, key: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == key).and_then(|(_, v)| match v {
        AttrValue::Str(s) => Some(s.as_str()),
        _ => None,
    })
}

/// The metric descriptions as the decoders produce them.
pub(crate) struct MetricSet {
    cpu_time: Arc<MetricInfo>,
    cpu_util: Arc<MetricInfo>,
    disk_io: Arc<MetricInfo>,
    disk_ops: Arc<MetricInfo>,
    threads: Arc<MetricInfo>,
    mem_usage: Arc<MetricInfo>,
    mem_util: Arc<MetricInfo>,
    mem_virtual: Arc<MetricInfo>,
    ready: Arc<MetricInfo>,
    /// bytes, packets of TCP and of UDP.
    tcp: [Arc<MetricInfo>; 2],
    udp: [Arc<MetricInfo>; 2],
}

fn info(d: &Def) -> Arc<MetricInfo> {
    Arc::new(MetricInfo {
        name: d.name.to_string(),
        unit: d.unit.to_string(),
        kind: d.kind,
        temporality: if d.kind == MetricKind::Gauge { 0 } else { CUMULATIVE },
        is_monotonic: d.monotonic,
    })
}

fn delta(name: &str, unit: &str) -> Arc<MetricInfo> {
    Arc::new(MetricInfo {
        name: name.to_string(),
        unit: unit.to_string(),
        kind: MetricKind::Sum,
        temporality: DELTA,
        is_monotonic: true,
    })
}

impl MetricSet {
    pub(crate) fn new() -> MetricSet {
        MetricSet {
            cpu_time: info(&CPU_TIME),
            cpu_util: info(&CPU_UTIL),
            disk_io: info(&DISK_IO),
            disk_ops: info(&DISK_OPS),
            threads: info(&THREADS),
            mem_usage: info(&MEM_USAGE),
            mem_util: info(&MEM_UTIL),
            mem_virtual: info(&MEM_VIRTUAL),
            ready: info(&READY),
            tcp: [delta("tcp.bytes", "By"), delta("tcp.packets", "1")],
            udp: [delta("udp.bytes", "By"), delta("udp.packets", "1")],
        }
    }
}

/// Calls `f` with every point of one sample, in the order the exports carry them.
pub(crate) fn points<'a>(m: &'a MetricSet, inc: &'a Incarnation, s: &Sample, mut f: impl FnMut(PointRef<'a>)) {
    let point = |metric: &'a Arc<MetricInfo>, attrs: AttrsRef<'a>, value: f64| PointRef {
        origin: &inc.origin,
        metric,
        attrs,
        start_time_unix_nano: inc.start_ns,
        time_unix_nano: s.time_ns,
        value,
    };
    for (n, v) in STATES.iter().zip(s.cpu) {
        f(point(&m.cpu_time, AttrsRef::One("state", n), v));
    }
    if let Some(u) = s.cpu_util {
        for (n, v) in STATES.iter().zip(u) {
            f(point(&m.cpu_util, AttrsRef::One("state", n), v));
        }
    }
    for (n, v) in DIRECTIONS.iter().zip(s.io) {
        f(point(&m.disk_io, AttrsRef::One("direction", n), v as f64));
    }
    for (n, v) in DIRECTIONS.iter().zip(s.ops) {
        f(point(&m.disk_ops, AttrsRef::One("direction", n), v as f64));
    }
    f(point(&m.mem_usage, AttrsRef::None, s.rss as f64));
    if let Some(u) = s.mem_util {
        f(point(&m.mem_util, AttrsRef::None, u));
    }
    f(point(&m.mem_virtual, AttrsRef::None, s.vms as f64));
    f(point(&m.threads, AttrsRef::None, s.threads as f64));
}

/// The point of one container readiness reading.
pub(crate) fn ready_point<'a>(m: &'a MetricSet, r: &'a ReadyPoint, start: u64) -> PointRef<'a> {
    PointRef {
        origin: &r.res.origin,
        metric: &m.ready,
        attrs: AttrsRef::None,
        start_time_unix_nano: start,
        time_unix_nano: r.time_ns,
        value: f64::from(u8::from(r.ready)),
    }
}

/// Calls `f` with every point of the reducer's last tick, in export order.
pub(crate) fn flow_points<'a>(m: &'a MetricSet, c: &'a ClusterSim, mut f: impl FnMut(PointRef<'a>)) {
    for fl in &c.flows {
        let e = &c.edges[fl.edge];
        let infos = match e.proto {
            Proto::Tcp => &m.tcp,
            Proto::Udp => &m.udp,
        };
        for (metric, v) in infos.iter().zip([fl.bytes, fl.packets]) {
            f(PointRef {
                origin: &c.origin,
                metric,
                attrs: AttrsRef::List(&e.attrs),
                start_time_unix_nano: 0,
                time_unix_nano: c.tick_ns,
                value: v as f64,
            });
        }
    }
}
