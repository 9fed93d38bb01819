//! The points table: one row per OTLP data point, the contract every detection reads.
//!
//! Columns (README.md "The points table", extended only by adding):
//! `time` (timestamp µs UTC), `metric`, `value` (f64; histogram-like points: their sum),
//! the promoted attributes ([`PROMOTED`]), `attributes` (every other attribute as a JSON object
//! with sorted keys, resource < scope < point, the most specific wins), then `metric_type`
//! (`gauge|sum|histogram|exponential_histogram|summary`), `unit`, `start_time`, `temporality`
//! (`unspecified|delta|cumulative`), `is_monotonic`, `count`, `min`, `max`, `buckets`
//! (histograms `{"bounds":[…],"counts":[…]}`, exponential histograms
//! `{"scale":…,"zero_count":…,"zero_threshold":…,"positive":{"offset":…,"counts":[…]},"negative":…}`,
//! summaries `{"quantiles":[[q,v],…]}`), `flags`, `scope_name`, `scope_version`, and `point_id`
//! (xxh3-64 of the point's canonical content: what makes landing idempotent).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use polars::prelude::*;
use xxhash_rust::xxh3::Xxh3;

use crate::ingest::model::{AttrValue, MetricInfo, Origin, Point};

/// Attributes promoted to their own columns: (OTLP key, column).
pub const PROMOTED: [(&str, &str); 13] = [
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
    // Network Explorer (NPM) edges: the TCP/UDP edge detections key on them.
    ("source.workload.name", "source_workload_name"),
    ("dest.workload.name", "dest_workload_name"),
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

/// The points table's columns and types (what [`PointsBuilder::finish`] writes).
pub fn points_schema() -> Schema {
    PointsBuilder::default()
        .finish()
        .map(|df| df.schema().as_ref().clone())
        .unwrap_or_default()
}

/// What a point shares with every other point of its time series: the metric, its
/// attributes and its scope. Interned, so a builder stores each series' text once.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub metric: String,
    /// Values of the promoted string attributes (pid excluded), in [`PROMOTED`] order.
    pub promoted: [Option<String>; 13],
    pub pid: Option<i64>,
    pub attributes: String,
    pub metric_type: &'static str,
    pub unit: String,
    pub temporality: &'static str,
    pub is_monotonic: bool,
    pub scope_name: String,
    pub scope_version: String,
    /// xxh3-64 of all of the above.
    pub id: u64,
}

/// What is particular to one data point.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub time_us: i64,
    pub start_time_us: Option<i64>,
    pub value: Option<f64>,
    pub count: Option<i64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub buckets: Option<String>,
    pub flags: i64,
}

/// A point as it is stored: its series, its sample and its content hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub series: Arc<Series>,
    pub sample: Sample,
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

/// Feeds `b` to `h` with its length, so concatenations cannot collide.
fn put(h: &mut Xxh3, b: &[u8]) {
    h.update(&(b.len() as u64).to_le_bytes());
    h.update(b);
}

fn hash_attr(h: &mut Xxh3, v: &AttrValue) {
    match v {
        AttrValue::Str(s) => {
            h.update(&[1]);
            put(h, s.as_bytes());
        }
        AttrValue::Int(i) => {
            h.update(&[2]);
            h.update(&i.to_le_bytes());
        }
        AttrValue::Double(d) => {
            h.update(&[3]);
            h.update(&d.to_bits().to_le_bytes());
        }
        AttrValue::Bool(b) => h.update(&[4, *b as u8]),
        AttrValue::Bytes(b) => {
            h.update(&[5]);
            put(h, b);
        }
        AttrValue::Array(a) => {
            h.update(&[6]);
            h.update(&(a.len() as u64).to_le_bytes());
            a.iter().for_each(|x| hash_attr(h, x));
        }
        AttrValue::KvList(kv) => {
            h.update(&[7]);
            h.update(&(kv.len() as u64).to_le_bytes());
            for (k, x) in kv {
                put(h, k.as_bytes());
                hash_attr(h, x);
            }
        }
        AttrValue::Empty => h.update(&[8]),
    }
}

impl Series {
    /// The series of a decoded point: promotes the well-known attributes, keeps the rest as
    /// JSON (resource < scope < point: the most specific wins).
    pub fn of(p: &Point) -> Series {
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
        let all = merged.clone();
        let mut promoted: [Option<String>; 13] = Default::default();
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
        let mut s = Series {
            metric: p.metric.name.clone(),
            promoted,
            pid,
            attributes,
            metric_type: p.metric.kind.as_str(),
            unit: p.metric.unit.clone(),
            temporality: match p.metric.temporality {
                1 => "delta",
                2 => "cumulative",
                _ => "unspecified",
            },
            is_monotonic: p.metric.is_monotonic,
            scope_name: p.origin.scope_name.clone(),
            scope_version: p.origin.scope_version.clone(),
            id: 0,
        };
        // The identity hashes every attribute as decoded (sorted, most specific wins), not
        // the promoted/JSON split: promoting another attribute later keeps every point_id.
        let mut h = Xxh3::new();
        put(&mut h, s.metric.as_bytes());
        h.update(&(all.len() as u64).to_le_bytes());
        for (k, v) in &all {
            put(&mut h, k.as_bytes());
            hash_attr(&mut h, v);
        }
        put(&mut h, s.metric_type.as_bytes());
        put(&mut h, s.unit.as_bytes());
        put(&mut h, s.temporality.as_bytes());
        put(&mut h, &[s.is_monotonic as u8]);
        put(&mut h, s.scope_name.as_bytes());
        put(&mut h, s.scope_version.as_bytes());
        s.id = h.digest();
        s
    }

    /// Approximate heap bytes of this series' text.
    fn heap_bytes(&self) -> usize {
        200 + self.metric.len()
            + self.attributes.len()
            + self.unit.len()
            + self.scope_name.len()
            + self.scope_version.len()
            + self.promoted.iter().flatten().map(String::len).sum::<usize>()
    }
}

impl Row {
    /// A stored row for `p` in `series` (which must be `Series::of(p)`).
    pub fn new(series: Arc<Series>, p: &Point) -> Row {
        let sample = Sample {
            time_us: (p.time_unix_nano / 1000) as i64,
            start_time_us: (p.start_time_unix_nano != 0).then_some((p.start_time_unix_nano / 1000) as i64),
            value: p.value,
            count: p.count.map(|c| c as i64),
            min: p.min,
            max: p.max,
            buckets: p.buckets.clone(),
            flags: p.flags as i64,
        };
        // The point's identity: its series and its sample, times in nanoseconds.
        let mut h = Xxh3::new();
        h.update(&series.id.to_le_bytes());
        h.update(&p.time_unix_nano.to_le_bytes());
        h.update(&p.start_time_unix_nano.to_le_bytes());
        h.update(&sample.value.map(f64::to_bits).unwrap_or(u64::MAX - 1).to_le_bytes());
        h.update(&[sample.value.is_some() as u8]);
        h.update(&sample.count.unwrap_or(-1).to_le_bytes());
        h.update(&sample.min.map(f64::to_bits).unwrap_or(0).to_le_bytes());
        h.update(&sample.max.map(f64::to_bits).unwrap_or(0).to_le_bytes());
        put(&mut h, sample.buckets.as_deref().unwrap_or("").as_bytes());
        h.update(&sample.flags.to_le_bytes());
        Row {
            point_id: h.digest(),
            series,
            sample,
        }
    }

    /// Flattens a decoded point (computes its series; see [`SeriesCache`] for the fast path).
    pub fn from_point(p: &Point) -> Row {
        Row::new(Arc::new(Series::of(p)), p)
    }
}

/// Computes each series once. A series is identified by the content of its origin (resource
/// and scope), its metric and its point attributes; decoders share one `Arc<Origin>` per
/// resource and one `Arc<MetricInfo>` per metric, and consecutive points mostly share them,
/// so their content hashes are remembered for the last `Arc`s seen.
#[derive(Default)]
pub struct SeriesCache {
    map: HashMap<u64, Arc<Series>>,
    last_origin: Option<(Arc<Origin>, u64)>,
    last_metric: Option<(Arc<MetricInfo>, u64)>,
}

fn origin_hash(o: &Origin) -> u64 {
    let mut h = Xxh3::new();
    for attrs in [&o.resource, &o.scope_attributes] {
        h.update(&(attrs.len() as u64).to_le_bytes());
        for (k, v) in attrs {
            put(&mut h, k.as_bytes());
            hash_attr(&mut h, v);
        }
    }
    put(&mut h, o.scope_name.as_bytes());
    put(&mut h, o.scope_version.as_bytes());
    h.digest()
}

fn metric_hash(m: &MetricInfo) -> u64 {
    let mut h = Xxh3::new();
    put(&mut h, m.name.as_bytes());
    put(&mut h, m.unit.as_bytes());
    put(&mut h, m.kind.as_str().as_bytes());
    h.update(&m.temporality.to_le_bytes());
    h.update(&[m.is_monotonic as u8]);
    h.digest()
}

impl SeriesCache {
    const MAX: usize = 1_000_000;

    /// Series held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn row(&mut self, p: &Point) -> Row {
        let oh = match &self.last_origin {
            Some((o, h)) if Arc::ptr_eq(o, &p.origin) => *h,
            _ => {
                let h = origin_hash(&p.origin);
                self.last_origin = Some((p.origin.clone(), h));
                h
            }
        };
        let mh = match &self.last_metric {
            Some((m, h)) if Arc::ptr_eq(m, &p.metric) => *h,
            _ => {
                let h = metric_hash(&p.metric);
                self.last_metric = Some((p.metric.clone(), h));
                h
            }
        };
        let mut h = Xxh3::new();
        h.update(&oh.to_le_bytes());
        h.update(&mh.to_le_bytes());
        for (k, v) in &p.attributes {
            put(&mut h, k.as_bytes());
            hash_attr(&mut h, v);
        }
        let key = h.digest();
        if let Some(s) = self.map.get(&key) {
            return Row::new(s.clone(), p);
        }
        if self.map.len() >= Self::MAX {
            self.map.clear();
        }
        let s = Arc::new(Series::of(p));
        self.map.insert(key, s.clone());
        Row::new(s, p)
    }
}

/// Column buffers for rows of the points table: samples per row, series text once.
#[derive(Default)]
pub struct PointsBuilder {
    series_index: HashMap<u64, u32>,
    series: Vec<Arc<Series>>,
    row_series: Vec<u32>,
    time: Vec<i64>,
    value: Vec<Option<f64>>,
    start_time: Vec<Option<i64>>,
    count: Vec<Option<i64>>,
    min: Vec<Option<f64>>,
    max: Vec<Option<f64>>,
    buckets: Vec<Option<String>>,
    flags: Vec<i64>,
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
        let idx = match self.series_index.get(&r.series.id) {
            Some(i) => *i,
            None => {
                let i = self.series.len() as u32;
                self.bytes += r.series.heap_bytes();
                self.series_index.insert(r.series.id, i);
                self.series.push(r.series);
                i
            }
        };
        let s = r.sample;
        // Per row: the samples, and in `finish` one 16-byte view per string column.
        self.bytes += 96 + 16 * 19 + s.buckets.as_ref().map_or(0, String::len);
        self.row_series.push(idx);
        self.time.push(s.time_us);
        self.value.push(s.value);
        self.start_time.push(s.start_time_us);
        self.count.push(s.count);
        self.min.push(s.min);
        self.max.push(s.max);
        self.buckets.push(s.buckets);
        self.flags.push(s.flags);
        self.point_id.push(r.point_id);
    }

    /// The rows as a DataFrame of the points schema, sorted by [`SORT_BY`] (ties keep their
    /// arrival order).
    pub fn finish(self) -> PolarsResult<DataFrame> {
        let n = self.time.len();
        // Sort the series by (cluster, node, path, metric), then the rows by (series rank, time).
        let sort_key = |s: &Series| {
            (
                s.promoted[1].clone(),
                s.promoted[2].clone(),
                s.promoted[8].clone(),
                s.metric.clone(),
            )
        };
        let mut order: Vec<u32> = (0..self.series.len() as u32).collect();
        order.sort_by_key(|&i| sort_key(&self.series[i as usize]));
        let mut rank = vec![0u32; self.series.len()];
        let mut r = 0u32;
        for (pos, &i) in order.iter().enumerate() {
            if pos > 0 && sort_key(&self.series[order[pos - 1] as usize]) != sort_key(&self.series[i as usize]) {
                r += 1;
            }
            rank[i as usize] = r;
        }
        let mut perm: Vec<u32> = (0..n as u32).collect();
        perm.sort_by_key(|&i| (rank[self.row_series[i as usize] as usize], self.time[i as usize]));
        fn permute<T: Clone>(v: &[T], perm: &[u32]) -> Vec<T> {
            perm.iter().map(|&i| v[i as usize].clone()).collect()
        }

        // The series table, then one row per point gathered from it.
        let ser = &self.series;
        let texts =
            |f: &dyn Fn(&Series) -> Option<String>| -> Vec<Option<String>> { ser.iter().map(|s| f(s)).collect() };
        let mut scols: Vec<Column> = vec![Column::new("metric".into(), texts(&|s| Some(s.metric.clone())))];
        for (i, (_, col)) in PROMOTED.iter().enumerate() {
            if i == PID {
                scols.push(Column::new(
                    (*col).into(),
                    ser.iter().map(|s| s.pid).collect::<Vec<_>>(),
                ));
            } else {
                scols.push(Column::new((*col).into(), texts(&|s| s.promoted[i].clone())));
            }
        }
        scols.extend([
            Column::new("attributes".into(), texts(&|s| Some(s.attributes.clone()))),
            Column::new(
                "metric_type".into(),
                ser.iter().map(|s| s.metric_type).collect::<Vec<_>>(),
            ),
            Column::new("unit".into(), texts(&|s| Some(s.unit.clone()))),
            Column::new(
                "temporality".into(),
                ser.iter().map(|s| s.temporality).collect::<Vec<_>>(),
            ),
            Column::new(
                "is_monotonic".into(),
                ser.iter().map(|s| s.is_monotonic).collect::<Vec<_>>(),
            ),
            Column::new("scope_name".into(), texts(&|s| Some(s.scope_name.clone()))),
            Column::new("scope_version".into(), texts(&|s| Some(s.scope_version.clone()))),
        ]);
        let series_df = DataFrame::new(ser.len(), scols)?;
        let idx = IdxCa::from_vec("idx".into(), permute(&self.row_series, &perm));
        let gathered = series_df.take(&idx)?;
        let g = |name: &str| gathered.column(name).cloned();

        let ts = |name: &str, v: Vec<Option<i64>>| -> PolarsResult<Column> {
            Column::new(name.into(), v).cast(&time_dtype())
        };
        let mut cols: Vec<Column> = vec![
            Column::new("time".into(), permute(&self.time, &perm)).cast(&time_dtype())?,
            g("metric")?,
            Column::new("value".into(), permute(&self.value, &perm)),
        ];
        for (_, col) in PROMOTED.iter() {
            cols.push(g(col)?);
        }
        cols.extend([
            g("attributes")?,
            g("metric_type")?,
            g("unit")?,
            ts("start_time", permute(&self.start_time, &perm))?,
            g("temporality")?,
            g("is_monotonic")?,
            Column::new("count".into(), permute(&self.count, &perm)),
            Column::new("min".into(), permute(&self.min, &perm)),
            Column::new("max".into(), permute(&self.max, &perm)),
            Column::new("buckets".into(), permute(&self.buckets, &perm)),
            Column::new("flags".into(), permute(&self.flags, &perm)),
            g("scope_name")?,
            g("scope_version")?,
            Column::new("point_id".into(), permute(&self.point_id, &perm)),
        ]);
        DataFrame::new(n, cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::model::MetricKind;

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
        assert_eq!(r.series.promoted[2].as_deref(), Some("point"));
        assert_eq!(r.series.pid, Some(42));
        assert_eq!(r.series.attributes, r#"{"os.type":"linux","state":"user"}"#);
        assert_eq!(r.sample.time_us, 1_700_000_000_123_456);
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
        assert_eq!(r.series.pid, None);
        assert!(r.series.attributes.contains("process.pid"));
    }

    #[test]
    fn cache_gives_the_same_rows_as_the_slow_path_and_builder_sorts() {
        let mut cache = SeriesCache::default();
        let mut b = PointsBuilder::default();
        let mut slow = Vec::new();
        for (i, node) in ["n2", "n1", "n2", "n1"].iter().enumerate() {
            let mut p = point(
                vec![("k8s.node.name", AttrValue::Str(node.to_string()))],
                vec![("state", AttrValue::Str("user".into()))],
            );
            p.time_unix_nano -= i as u64 * 1_000_000_000;
            let r = cache.row(&p);
            assert_eq!(r, Row::from_point(&p));
            slow.push(r.point_id);
            b.push(r);
        }
        assert_eq!(b.len(), 4);
        let df = b.finish().expect("frame");
        let nodes: Vec<&str> = df
            .column("k8s_node_name")
            .expect("c")
            .str()
            .expect("s")
            .iter()
            .flatten()
            .collect();
        assert_eq!(nodes, ["n1", "n1", "n2", "n2"]);
        let times = df.column("time").expect("t").cast(&DataType::Int64).expect("i64");
        let times: Vec<i64> = times.i64().expect("i64").into_no_null_iter().collect();
        assert!(
            times[0] < times[1] && times[2] < times[3],
            "rows sorted by time within a series"
        );
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
