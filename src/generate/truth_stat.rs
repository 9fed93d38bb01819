//! The ground-truth oracle of the statistical detections (#9 `process_resource_anomaly`, #10
//! `process_resource_ratio_anomaly`, intent mode): the plain computation over every emitted
//! process point, with hash maps and Welford accumulators — no Polars, no lake.
//!
//! Semantics (the built-in query files): the entity is (cluster, node, executable name); a
//! series is the entity, the pid, the metric and its attribute (state, direction). Gauges are
//! their value; cumulative counters their per-second rate since the series' previous point at
//! most 15 minutes before (reset-aware: after a fall or a new start time, the value over the
//! time since the new start when it lies between the two points, else since the previous
//! point; a series' first point counts from its start when that is within 15 minutes). Points
//! are taken by their own time, in µs as the lake stores them, into 10 s buckets of the
//! baseline `[end − 30d, end − 1h)` or the window `[end − 1h, end)`; a bucket's value per
//! metric is the average process's: each pid's sum over its attributes of each series' mean,
//! averaged over the pids. #10 tests cpu:mem, cpu:disk,
//! mem:disk, cpu:threads, disk:threads of the bucket values (cpu = rate of
//! `process.cpu.time`, mem = `process.memory.usage`, disk = rate of `process.disk.operations`,
//! threads = `process.threads`), no value when an operand is missing or the denominator is 0.
//! A value is anomalous when its (entity, name) has at least 100 baseline buckets, σ > 0 and
//! `x > avg + 4σ` (σ with n − 1); an entity is reported with more than 5 anomalous buckets.
//! Points of one node arrive in time order, so a bucket is complete when a later one starts.

use std::collections::{BTreeSet, HashMap};

use crate::ingest::model::{AttrValue, Origin};

use super::encode::{AttrsRef, PointRef};
use super::names::{PROCESS_RESOURCE_ANOMALY, PROCESS_RESOURCE_RATIO_ANOMALY};

/// #9's metrics, and whether each is a cumulative counter.
const METRICS: [(&str, bool); 8] = [
    ("process.cpu.time", true),
    ("process.cpu.utilization", false),
    ("process.disk.io", true),
    ("process.disk.operations", true),
    ("process.memory.usage", false),
    ("process.memory.utilization", false),
    ("process.memory.virtual", false),
    ("process.threads", false),
];
const CPU: usize = 0;
const DISK_OPS: usize = 3;
const MEM: usize = 4;
const THREADS: usize = 7;
/// #10's ratios as (numerator, denominator) indices into [`METRICS`].
const RATIOS: [(usize, usize); 5] = [
    (CPU, MEM),
    (CPU, DISK_OPS),
    (MEM, DISK_OPS),
    (CPU, THREADS),
    (DISK_OPS, THREADS),
];

const BUCKET_US: i64 = 10_000_000;
const LOOKBACK_US: i64 = 15 * 60 * 1_000_000;
const MIN_BUCKETS: u64 = 100;
const K: f64 = 4.0;
const MIN_ANOMALIES: usize = 5;

const BASELINE: u8 = 1;
const WINDOW: u8 = 2;

type Entity = [String; 3];
/// A series: the entity, the pid, the metric (index) and its attribute.
type SeriesKey = (Entity, i64, usize, String);
/// One window bucket's values: the metrics and the ratios.
type Row = ([Option<f64>; 8], [Option<f64>; 5]);

#[derive(Default, Clone, Copy)]
struct Welford {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    fn add(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// `Some(threshold)` when judged: enough buckets and σ > 0.
    fn threshold(&self) -> Option<f64> {
        if self.n < MIN_BUCKETS || self.n < 2 {
            return None;
        }
        let sd = (self.m2 / (self.n - 1) as f64).sqrt();
        (sd > 0.0).then_some(self.mean + K * sd)
    }
}

/// The open bucket of an entity: per (pid, metric, attribute) the sum and count of values.
struct Open {
    class: u8,
    bucket: i64,
    series: HashMap<(i64, usize, String), (f64, u32)>,
}

/// The detections' windows in ns since the epoch: baseline start, window start, end.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bounds {
    pub baseline_start: u64,
    pub window_start: u64,
    pub end: u64,
}

#[derive(Default)]
pub(crate) struct StatOracle {
    w: Option<Bounds>,
    /// Previous point per series: (time µs, value, start µs).
    prev: HashMap<SeriesKey, (i64, f64, i64)>,
    open: HashMap<Entity, Open>,
    base: HashMap<Entity, ([Welford; 8], [Welford; 5])>,
    /// The window's bucket values per entity: metrics and ratios.
    current: HashMap<Entity, Vec<Row>>,
}

fn text<'a>(origin: &'a Origin, key: &str) -> &'a str {
    origin
        .resource
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| match v {
            AttrValue::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

fn pid(origin: &Origin) -> i64 {
    origin
        .resource
        .iter()
        .find(|(k, _)| k == "process.pid")
        .and_then(|(_, v)| match v {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        })
        .unwrap_or(0)
}

impl StatOracle {
    pub(crate) fn new(w: Bounds) -> StatOracle {
        StatOracle {
            w: Some(w),
            ..StatOracle::default()
        }
    }

    fn class(&self, t_us: i64) -> u8 {
        let Some(w) = self.w else { return 0 };
        let us = |ns: u64| (ns / 1000) as i64;
        if t_us >= us(w.window_start) && t_us < us(w.end) {
            WINDOW
        } else if t_us >= us(w.baseline_start) && t_us < us(w.window_start) {
            BASELINE
        } else {
            0
        }
    }

    /// One emitted point (any metric; only the process metrics of [`METRICS`] count).
    pub(crate) fn point(&mut self, p: &PointRef<'_>) {
        let Some(m) = METRICS.iter().position(|(n, _)| *n == p.metric.name) else {
            return;
        };
        let origin: &Origin = p.origin;
        let entity: Entity = [
            text(origin, "k8s.cluster.name").to_string(),
            text(origin, "k8s.node.name").to_string(),
            text(origin, "process.executable.name").to_string(),
        ];
        if entity.iter().any(String::is_empty) {
            return;
        }
        let attr = match p.attrs {
            AttrsRef::One(_, v) => v.to_string(),
            AttrsRef::List(a) => format!("{a:?}"),
            AttrsRef::None => String::new(),
        };
        let pid = pid(origin);
        // The lake keeps µs.
        let t = (p.time_unix_nano / 1000) as i64;
        let st = (p.start_time_unix_nano / 1000) as i64;
        let v = p.value;
        let value = if METRICS[m].1 {
            let key = (entity.clone(), pid, m, attr.clone());
            let prev = self.prev.insert(key, (t, v, st));
            let secs = |us: i64| us as f64 / 1e6;
            let fresh = st > 0 && st < t;
            match prev.filter(|(pt, _, _)| t - pt <= LOOKBACK_US) {
                Some((pt, pv, pst)) => {
                    let reset = v < pv || st != pst;
                    if !reset {
                        Some((v - pv) / secs(t - pt))
                    } else if fresh && st > pt {
                        Some(v / secs(t - st))
                    } else {
                        Some(v / secs(t - pt))
                    }
                }
                None if fresh && st >= t - LOOKBACK_US => Some(v / secs(t - st)),
                None => None,
            }
        } else {
            Some(v)
        };
        let class = self.class(t);
        let bucket = t.div_euclid(BUCKET_US);
        let stale = self
            .open
            .get(&entity)
            .is_some_and(|o| o.bucket != bucket || o.class != class);
        if stale {
            if let Some(o) = self.open.remove(&entity) {
                self.close(&entity, o);
            }
        }
        let (Some(x), true) = (value, class != 0) else { return };
        if x.is_nan() {
            return;
        }
        let open = self.open.entry(entity).or_insert_with(|| Open {
            class,
            bucket,
            series: HashMap::new(),
        });
        let e = open.series.entry((pid, m, attr)).or_insert((0.0, 0));
        e.0 += x;
        e.1 += 1;
    }

    fn close(&mut self, entity: &Entity, o: Open) {
        // Each process's total over its attributes, then the average over processes.
        let mut per_process: HashMap<(i64, usize), f64> = HashMap::new();
        for ((pid, m, _), (sum, n)) in o.series {
            *per_process.entry((pid, m)).or_default() += sum / f64::from(n);
        }
        let mut totals = [(0.0f64, 0u32); 8];
        for ((_, m), v) in per_process {
            totals[m].0 += v;
            totals[m].1 += 1;
        }
        let mut values = [None; 8];
        for (v, (sum, n)) in values.iter_mut().zip(totals) {
            if n > 0 {
                *v = Some(sum / f64::from(n));
            }
        }
        let mut ratios = [None; 5];
        for (i, (a, b)) in RATIOS.iter().enumerate() {
            if let (Some(x), Some(y)) = (values[*a], values[*b]) {
                if y != 0.0 {
                    ratios[i] = Some(x / y);
                }
            }
        }
        match o.class {
            BASELINE => {
                let (b9, b10) = self.base.entry(entity.clone()).or_default();
                for (w, x) in b9.iter_mut().zip(values) {
                    if let Some(x) = x {
                        w.add(x);
                    }
                }
                for (w, x) in b10.iter_mut().zip(ratios) {
                    if let Some(x) = x {
                        w.add(x);
                    }
                }
            }
            WINDOW => self.current.entry(entity.clone()).or_default().push((values, ratios)),
            _ => {}
        }
    }

    /// The entities each detection reports.
    pub(crate) fn finish(mut self) -> [(&'static str, BTreeSet<Vec<String>>); 2] {
        for (e, o) in std::mem::take(&mut self.open) {
            self.close(&e, o);
        }
        let none = ([Welford::default(); 8], [Welford::default(); 5]);
        let mut nine = BTreeSet::new();
        let mut ten = BTreeSet::new();
        for (e, rows) in &self.current {
            let (b9, b10) = self.base.get(e).unwrap_or(&none);
            let anomalous = |xs: &[Option<f64>], base: &[Welford]| {
                xs.iter()
                    .zip(base)
                    .any(|(x, w)| matches!((x, w.threshold()), (Some(x), Some(th)) if *x > th))
            };
            if rows.iter().filter(|(v, _)| anomalous(v, b9)).count() > MIN_ANOMALIES {
                nine.insert(e.to_vec());
            }
            if rows.iter().filter(|(_, r)| anomalous(r, b10)).count() > MIN_ANOMALIES {
                ten.insert(e.to_vec());
            }
        }
        [(PROCESS_RESOURCE_ANOMALY, nine), (PROCESS_RESOURCE_RATIO_ANOMALY, ten)]
    }
}
