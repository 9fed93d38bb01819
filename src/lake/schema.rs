//! The points table: one row per OTLP data point, the contract every detection reads.
//!
//! Columns (DESIGN.md "Landed points", extended only by adding):
//! `time` (timestamp µs UTC), `metric`, `value` (f64; histogram-like points: their sum),
//! the promoted attributes ([`PROMOTED`]), `attributes` (every other attribute as a JSON object
//! with sorted keys, resource < scope < point, the most specific wins), then `metric_type`
//! (`gauge|sum|histogram|exponential_histogram|summary`), `unit`, `start_time`, `temporality`
//! (`unspecified|delta|cumulative`), `is_monotonic`, `count`, `min`, `max`, `buckets`
//! (histograms `{"bounds":[…],"counts":[…]}`, exponential histograms
//! `{"scale":…,"zero_count":…,"zero_threshold":…,"positive":{"offset":…,"counts":[…]},"negative":…}`,
//! summaries `{"quantiles":[[q,v],…]}`), `flags`, `scope_name`, `scope_version`, and `point_id`
//! (xxh3-64 of the point's canonical content: what makes landing idempotent).

use std::collections::BTreeMap;

use polars::prelude::*;
use xxhash_rust::xxh3::Xxh3;

use crate::ingest::model::{AttrValue, Point};

/// Attributes promoted to their own columns: (OTLP key, column).
pub const PROMOTED: [(&str, &str); 11] = [
    ("host.name", "host_name"),
    ("k8s.cluster.name", "k8s_cluster_name"),
    ("k8s.node.name", "k8s_node_name"),
    ("k8s.namespace.name", "k8s_namespace_name"),
    ("k8s.pod.name", "k8s_pod_name"),
    ("container.image.name", "container_image_name"),
    ("process.pid", "process_pid"),
    ("process.executable.name", "process_executable_name"),
    ("process.executable.path", "process_executable_path"),
    ("process.command", "process_command"),
    ("process.owner", "process_owner"),
];

/// Index of `process.pid` in [`PROMOTED`]: the one integer column.
const PID: usize = 6;

/// Rows inside each landed file are sorted by these, so a node's paths sit together and the
/// detection's keys compress and prune well.
pub const SORT_BY: [&str; 5] = [
    "k8s_cluster_name",
    "k8s_node_name",
    "process_executable_path",
    "metric",
    "time",
];

/// The timestamp type of every time column of the lake.
pub fn time_dtype() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

/// A point as it is stored, before it is put in a column.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub time_us: i64,
    pub metric: String,
    pub value: Option<f64>,
    /// Values of the promoted string attributes (pid excluded), in [`PROMOTED`] order.
    pub promoted: [Option<String>; 11],
    pub pid: Option<i64>,
    pub attributes: String,
    pub metric_type: &'static str,
    pub unit: String,
    pub start_time_us: Option<i64>,
    pub temporality: &'static str,
    pub is_monotonic: bool,
    pub count: Option<i64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub buckets: Option<String>,
    pub flags: i64,
    pub scope_name: String,
    pub scope_version: String,
    pub point_id: u64,
}

fn attr_json(v: &AttrValue) -> serde_json::Value {
    match v {
        AttrValue::Str(s) => serde_json::Value::String(s.clone()),
        AttrValue::Int(i) => serde_json::json!(i),
        AttrValue::Double(d) => crate::ingest::otlp_json::json_f64(*d),
        AttrValue::Bool(b) => serde_json::Value::Bool(*b),
        AttrValue::Bytes(b) => serde_json::Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        AttrValue::Array(a) => serde_json::Value::Array(a.iter().map(attr_json).collect()),
        AttrValue::KvList(kv) => serde_json::Value::Object(kv.iter().map(|(k, v)| (k.clone(), attr_json(v))).collect()),
        AttrValue::Empty => serde_json::Value::Null,
    }
}

/// The text of an attribute for a promoted string column.
fn attr_text(v: &AttrValue) -> Option<String> {
    match v {
        AttrValue::Str(s) => Some(s.clone()),
        AttrValue::Empty => None,
        other => Some(match attr_json(other) {
            serde_json::Value::String(s) => s,
            j => j.to_string(),
        }),
    }
}

impl Row {
    /// Flattens a decoded point: promotes the well-known attributes, keeps the rest as JSON.
    pub fn from_point(p: &Point) -> Row {
        let mut merged: BTreeMap<&str, &AttrValue> = BTreeMap::new();
        for (k, v) in p
            .origin
            .resource
            .iter()
            .chain(&p.origin.scope_attributes)
            .chain(&p.attributes)
        {
            merged.insert(k.as_str(), v);
        }
        let mut promoted: [Option<String>; 11] = Default::default();
        let mut pid = None;
        for (i, (key, _)) in PROMOTED.iter().enumerate() {
            if let Some(v) = merged.get(key) {
                if i == PID {
                    pid = match v {
                        AttrValue::Int(n) => Some(*n),
                        AttrValue::Str(s) => s.trim().parse().ok(),
                        AttrValue::Double(d) if d.fract() == 0.0 => Some(*d as i64),
                        _ => None,
                    };
                    // A pid that is not an integer stays in `attributes`, so nothing is lost.
                    if pid.is_some() {
                        merged.remove(key);
                    }
                } else {
                    promoted[i] = attr_text(v);
                    merged.remove(key);
                }
            }
        }
        let attributes =
            serde_json::Value::Object(merged.iter().map(|(k, v)| (k.to_string(), attr_json(v))).collect()).to_string();
        let time_us = (p.time_unix_nano / 1000) as i64;
        let mut row = Row {
            time_us,
            metric: p.metric.name.clone(),
            value: p.value,
            promoted,
            pid,
            attributes,
            metric_type: p.metric.kind.as_str(),
            unit: p.metric.unit.clone(),
            start_time_us: (p.start_time_unix_nano != 0).then_some((p.start_time_unix_nano / 1000) as i64),
            temporality: match p.metric.temporality {
                1 => "delta",
                2 => "cumulative",
                _ => "unspecified",
            },
            is_monotonic: p.metric.is_monotonic,
            count: p.count.map(|c| c as i64),
            min: p.min,
            max: p.max,
            buckets: p.buckets.clone(),
            flags: p.flags as i64,
            scope_name: p.origin.scope_name.clone(),
            scope_version: p.origin.scope_version.clone(),
            point_id: 0,
        };
        row.point_id = row.fingerprint(p.time_unix_nano, p.start_time_unix_nano);
        row
    }

    /// xxh3-64 over the canonical content of the point (nanosecond times, sorted attributes).
    fn fingerprint(&self, time_ns: u64, start_ns: u64) -> u64 {
        let mut h = Xxh3::new();
        let mut s = |b: &[u8]| {
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        };
        s(&time_ns.to_le_bytes());
        s(&start_ns.to_le_bytes());
        s(self.metric.as_bytes());
        s(&self.value.map(f64::to_bits).unwrap_or(u64::MAX - 1).to_le_bytes());
        s(&[self.value.is_some() as u8]);
        for v in &self.promoted {
            match v {
                Some(v) => s(v.as_bytes()),
                None => s(&[0xff]),
            }
        }
        s(&self.pid.map(|p| p.to_le_bytes()).unwrap_or([0xff; 8]));
        s(self.attributes.as_bytes());
        s(self.metric_type.as_bytes());
        s(self.unit.as_bytes());
        s(self.temporality.as_bytes());
        s(&[self.is_monotonic as u8]);
        s(&self.count.unwrap_or(-1).to_le_bytes());
        s(&self.min.map(f64::to_bits).unwrap_or(0).to_le_bytes());
        s(&self.max.map(f64::to_bits).unwrap_or(0).to_le_bytes());
        s(self.buckets.as_deref().unwrap_or("").as_bytes());
        s(&self.flags.to_le_bytes());
        s(self.scope_name.as_bytes());
        s(self.scope_version.as_bytes());
        h.digest()
    }
}

/// Column buffers for rows of the points table.
#[derive(Default)]
pub struct PointsBuilder {
    time: Vec<i64>,
    metric: Vec<String>,
    value: Vec<Option<f64>>,
    promoted: [Vec<Option<String>>; 11],
    pid: Vec<Option<i64>>,
    attributes: Vec<String>,
    metric_type: Vec<&'static str>,
    unit: Vec<String>,
    start_time: Vec<Option<i64>>,
    temporality: Vec<&'static str>,
    is_monotonic: Vec<bool>,
    count: Vec<Option<i64>>,
    min: Vec<Option<f64>>,
    max: Vec<Option<f64>>,
    buckets: Vec<Option<String>>,
    flags: Vec<i64>,
    scope_name: Vec<String>,
    scope_version: Vec<String>,
    point_id: Vec<u64>,
    /// Approximate heap bytes held, to bound memory.
    bytes: usize,
}

impl PointsBuilder {
    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.bytes
    }

    pub fn point_ids(&self) -> &[u64] {
        &self.point_id
    }

    pub fn push(&mut self, r: Row) {
        self.bytes += 160
            + r.metric.len()
            + r.attributes.len()
            + r.unit.len()
            + r.scope_name.len()
            + r.scope_version.len()
            + r.buckets.as_ref().map_or(0, String::len)
            + r.promoted.iter().flatten().map(String::len).sum::<usize>();
        self.time.push(r.time_us);
        self.metric.push(r.metric);
        self.value.push(r.value);
        for (col, v) in self.promoted.iter_mut().zip(r.promoted) {
            col.push(v);
        }
        self.pid.push(r.pid);
        self.attributes.push(r.attributes);
        self.metric_type.push(r.metric_type);
        self.unit.push(r.unit);
        self.start_time.push(r.start_time_us);
        self.temporality.push(r.temporality);
        self.is_monotonic.push(r.is_monotonic);
        self.count.push(r.count);
        self.min.push(r.min);
        self.max.push(r.max);
        self.buckets.push(r.buckets);
        self.flags.push(r.flags);
        self.scope_name.push(r.scope_name);
        self.scope_version.push(r.scope_version);
        self.point_id.push(r.point_id);
    }

    /// The rows as a DataFrame of the points schema, sorted by [`SORT_BY`].
    pub fn finish(self) -> PolarsResult<DataFrame> {
        let n = self.time.len();
        let ts = |name: &str, v: Vec<Option<i64>>| -> PolarsResult<Column> {
            Column::new(name.into(), v).cast(&time_dtype())
        };
        let mut cols: Vec<Column> = vec![
            Column::new("time".into(), self.time).cast(&time_dtype())?,
            Column::new("metric".into(), self.metric),
            Column::new("value".into(), self.value),
        ];
        for (i, (col, values)) in PROMOTED.iter().zip(self.promoted).enumerate() {
            if i == PID {
                cols.push(Column::new(col.1.into(), &self.pid));
            } else {
                cols.push(Column::new(col.1.into(), values));
            }
        }
        cols.extend([
            Column::new("attributes".into(), self.attributes),
            Column::new("metric_type".into(), self.metric_type),
            Column::new("unit".into(), self.unit),
            ts("start_time", self.start_time)?,
            Column::new("temporality".into(), self.temporality),
            Column::new("is_monotonic".into(), self.is_monotonic),
            Column::new("count".into(), self.count),
            Column::new("min".into(), self.min),
            Column::new("max".into(), self.max),
            Column::new("buckets".into(), self.buckets),
            Column::new("flags".into(), self.flags),
            Column::new("scope_name".into(), self.scope_name),
            Column::new("scope_version".into(), self.scope_version),
            Column::new("point_id".into(), self.point_id),
        ]);
        let df = DataFrame::new(n, cols)?;
        df.sort(SORT_BY, SortMultipleOptions::default().with_maintain_order(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::model::{MetricInfo, MetricKind, Origin};
    use std::sync::Arc;

    fn point(resource: Vec<(&str, AttrValue)>, attrs: Vec<(&str, AttrValue)>) -> Point {
        Point {
            origin: Arc::new(Origin {
                resource: resource.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                ..Default::default()
            }),
            metric: Arc::new(MetricInfo {
                name: "process.cpu.time".into(),
                unit: "s".into(),
                kind: MetricKind::Sum,
                temporality: 2,
                is_monotonic: true,
            }),
            attributes: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            start_time_unix_nano: 0,
            time_unix_nano: 1_700_000_000_123_456_789,
            value: Some(1.5),
            count: None,
            min: None,
            max: None,
            buckets: None,
            flags: 0,
        }
    }

    #[test]
    fn most_specific_attribute_wins_and_the_rest_is_kept() {
        let p = point(
            vec![
                ("k8s.node.name", AttrValue::Str("res".into())),
                ("process.pid", AttrValue::Int(42)),
                ("os.type", AttrValue::Str("linux".into())),
            ],
            vec![
                ("k8s.node.name", AttrValue::Str("point".into())),
                ("state", AttrValue::Str("user".into())),
            ],
        );
        let r = Row::from_point(&p);
        assert_eq!(r.promoted[2].as_deref(), Some("point"));
        assert_eq!(r.pid, Some(42));
        assert_eq!(r.attributes, r#"{"os.type":"linux","state":"user"}"#);
        assert_eq!(r.time_us, 1_700_000_000_123_456);
    }

    #[test]
    fn point_id_ignores_attribute_order_but_not_values() {
        let a = point(vec![("a", AttrValue::Int(1)), ("b", AttrValue::Int(2))], vec![]);
        let b = point(vec![("b", AttrValue::Int(2)), ("a", AttrValue::Int(1))], vec![]);
        let c = point(vec![("b", AttrValue::Int(3)), ("a", AttrValue::Int(1))], vec![]);
        assert_eq!(Row::from_point(&a).point_id, Row::from_point(&b).point_id);
        assert_ne!(Row::from_point(&a).point_id, Row::from_point(&c).point_id);
    }

    #[test]
    fn non_integer_pid_stays_in_attributes() {
        let r = Row::from_point(&point(vec![("process.pid", AttrValue::Str("abc".into()))], vec![]));
        assert_eq!(r.pid, None);
        assert!(r.attributes.contains("process.pid"));
    }

    #[test]
    fn builder_produces_the_contract_schema() {
        let mut b = PointsBuilder::default();
        b.push(Row::from_point(&point(vec![], vec![])));
        let df = b.finish().expect("frame");
        assert_eq!(df.height(), 1);
        assert_eq!(df.column("time").expect("time").dtype(), &time_dtype());
        assert_eq!(df.column("process_pid").expect("pid").dtype(), &DataType::Int64);
        assert_eq!(df.column("value").expect("value").dtype(), &DataType::Float64);
    }
}
