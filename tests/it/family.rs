//! The other six detections: window edges, keys, intent vs `--splunk-compat`, golden files.
//!
//! Each test lands hand-made OTLP/JSON exports (one case per edge the detection must get
//! right), runs the detection through the library, checks the keys it must and must not
//! report, and compares every findings row with `tests/golden/<slug>[-splunk].jsonl`
//! (bless with `UPDATE_GOLDEN=1`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use kubeseen::detect;
use polars::prelude::SerReader;
use serde_json::{json, Value};

use crate::common::*;

const AT: &str = "2026-11-20T12:00:00Z";

/// One data point with free-form resource and point attributes.
#[derive(Clone)]
struct G {
    metric: String,
    gauge: bool,
    resource: Vec<(String, Value)>,
    attrs: Vec<(String, Value)>,
    time: DateTime<Utc>,
    start: Option<DateTime<Utc>>,
    value: f64,
}

fn s(v: &str) -> Value {
    json!({ "stringValue": v })
}

impl G {
    fn new(metric: &str, time: DateTime<Utc>) -> G {
        G {
            metric: metric.into(),
            gauge: true,
            resource: Vec::new(),
            attrs: Vec::new(),
            time,
            start: None,
            value: 1.0,
        }
    }
    fn res(mut self, k: &str, v: &str) -> G {
        self.resource.push((k.into(), s(v)));
        self
    }
    fn attr(mut self, k: &str, v: &str) -> G {
        self.attrs.push((k.into(), s(v)));
        self
    }
    fn value(mut self, v: f64) -> G {
        self.value = v;
        self
    }
    fn counter(mut self, start: DateTime<Utc>) -> G {
        self.gauge = false;
        self.start = Some(start);
        self
    }
}

fn lines(points: &[G]) -> String {
    let ns = |t: DateTime<Utc>| t.timestamp_nanos_opt().expect("time in range").to_string();
    let kvs = |v: &[(String, Value)]| -> Vec<Value> { v.iter().map(|(k, v)| json!({"key": k, "value": v})).collect() };
    let mut out = String::new();
    for p in points {
        let mut dp = json!({"timeUnixNano": ns(p.time), "asDouble": p.value, "attributes": kvs(&p.attrs)});
        if let Some(st) = p.start {
            dp["startTimeUnixNano"] = json!(ns(st));
        }
        let metric = if p.gauge {
            json!({"name": p.metric, "gauge": {"dataPoints": [dp]}})
        } else {
            json!({"name": p.metric, "sum": {"dataPoints": [dp], "aggregationTemporality": 2, "isMonotonic": true}})
        };
        let doc = json!({"resourceMetrics": [{
            "resource": {"attributes": kvs(&p.resource)},
            "scopeMetrics": [{"scope": {"name": "test"}, "metrics": [metric]}]
        }]});
        out.push_str(&doc.to_string());
        out.push('\n');
    }
    out
}

// ---- The plain reference of the evidence columns: hash maps over the points, no Polars. ----

/// A point as the lake's columns see it: attribute `a.b.c` → column `a_b_c`, a point attribute
/// over a resource attribute of the same name.
fn columns_of(p: &G) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in p.resource.iter().chain(&p.attrs) {
        if let Some(s) = v["stringValue"].as_str() {
            m.insert(k.replace('.', "_"), s.to_string());
        }
    }
    m
}

/// A point with its columns.
type Sighting<'a> = (&'a G, BTreeMap<String, String>);

/// The points once each, as landing keeps them (an identical point landed twice is one).
fn distinct(points: &[G]) -> Vec<&G> {
    let mut seen = BTreeSet::new();
    points
        .iter()
        .filter(|p| seen.insert(lines(std::slice::from_ref(*p))))
        .collect()
}

/// The values of `cols` of a point, `None` unless every one is present and not empty.
fn values(m: &BTreeMap<String, String>, cols: &[String]) -> Option<Vec<String>> {
    cols.iter()
        .map(|c| m.get(c).filter(|v| !v.is_empty()).cloned())
        .collect()
}

/// The evidence of one finding, as the findings contract defines it.
#[derive(Debug, PartialEq)]
struct Evidence {
    samples: i64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    pids: Option<Vec<i64>>,
    node_first_seen: Option<DateTime<Utc>>,
    cluster_prevalence: i64,
    cluster_first_seen: Option<DateTime<Utc>>,
    baseline_complete: bool,
}

/// New-value findings computed plainly from `points` for `run`'s detection, mode and window,
/// by key (its values joined by `|`): keyed presence points of the window whose `match_on`
/// values have no keyed presence point in the baseline; samples, first/last seen and pids over
/// the window's points of the key; `node_first_seen` the entity's earliest keyed baseline
/// point; `cluster_prevalence`/`cluster_first_seen` over the other entities of the scope with
/// the same value in the baseline; `baseline_complete` when the entity's history starts within
/// one window length of the baseline's start.
fn plain_new_value(points: &[G], run: &detect::Run) -> BTreeMap<String, Evidence> {
    let l = detect::plan::Logic::of(&run.spec, run.splunk_compat);
    let w = &run.window;
    let presence = |m: &str| {
        l.presence_metrics.iter().any(|x| x == m) || l.presence_metric_prefixes.iter().any(|x| m.starts_with(x))
    };
    let keyed: Vec<Sighting> = distinct(points)
        .into_iter()
        .filter(|p| presence(&p.metric))
        .map(|p| (p, columns_of(p)))
        .filter(|(_, m)| values(m, &l.key).is_some() && values(m, &l.match_on).is_some())
        .collect();
    let in_baseline = |p: &G| p.time >= w.baseline_start && p.time < w.baseline_end;
    let known: BTreeSet<Vec<String>> = keyed
        .iter()
        .filter(|(p, _)| in_baseline(p))
        .filter_map(|(_, m)| values(m, &l.match_on))
        .collect();
    let mut scope_entity = l.scope.clone();
    scope_entity.push(l.entity.clone());
    let mut scope_value = l.scope.clone();
    scope_value.extend(l.prevalence_of.iter().cloned());
    // Entity → its earliest baseline point; (scope, value) → entity → earliest baseline point.
    let mut entity_first: BTreeMap<Vec<String>, DateTime<Utc>> = BTreeMap::new();
    let mut value_first: BTreeMap<Vec<String>, BTreeMap<String, DateTime<Utc>>> = BTreeMap::new();
    for (p, m) in keyed.iter().filter(|(p, _)| in_baseline(p)) {
        if let Some(e) = values(m, &scope_entity) {
            let f = entity_first.entry(e).or_insert(p.time);
            *f = (*f).min(p.time);
        }
        if let (Some(v), Some(e)) = (values(m, &scope_value), m.get(&l.entity)) {
            let f = value_first.entry(v).or_default().entry(e.clone()).or_insert(p.time);
            *f = (*f).min(p.time);
        }
    }
    let mut out: BTreeMap<String, Evidence> = BTreeMap::new();
    let mut pid_sets: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for (p, m) in keyed.iter().filter(|(p, _)| p.time >= w.start && p.time < w.end) {
        if known.contains(&values(m, &l.match_on).expect("keyed")) {
            continue;
        }
        let k = values(m, &l.key).expect("keyed").join("|");
        // Scope, entity and prevalence values are key columns in every built-in detection.
        for c in scope_entity.iter().chain(&scope_value) {
            assert!(l.key.contains(c), "{c} is not in the key of {}", run.spec.slug);
        }
        let node_first_seen = values(m, &scope_entity).and_then(|e| entity_first.get(&e).copied());
        let me = m.get(&l.entity).cloned().unwrap_or_default();
        let others: Vec<DateTime<Utc>> = values(m, &scope_value)
            .and_then(|v| value_first.get(&v))
            .map(|by_entity| by_entity.iter().filter(|(e, _)| **e != me).map(|(_, t)| *t).collect())
            .unwrap_or_default();
        let e = out.entry(k.clone()).or_insert(Evidence {
            samples: 0,
            first_seen: p.time,
            last_seen: p.time,
            pids: l.pids.as_ref().map(|_| Vec::new()),
            node_first_seen,
            cluster_prevalence: others.len() as i64,
            cluster_first_seen: others.iter().min().copied(),
            baseline_complete: node_first_seen.is_some_and(|t| t < w.baseline_start + (w.end - w.start)),
        });
        e.samples += 1;
        e.first_seen = e.first_seen.min(p.time);
        e.last_seen = e.last_seen.max(p.time);
        if let Some(pid) = l.pids.as_ref().and_then(|c| m.get(c)) {
            pid_sets
                .entry(k)
                .or_default()
                .insert(pid.parse().expect("a decimal pid"));
        }
    }
    for (k, pids) in pid_sets {
        if let Some(e) = out.get_mut(&k) {
            e.pids = Some(pids.into_iter().collect());
        }
    }
    out
}

fn time_of(v: &Value, c: &str) -> Option<DateTime<Utc>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(t(s)),
        other => panic!("{c}: not a time: {other}"),
    }
}

/// The engine's findings of `run` in the reference's shape.
fn engine_new_value(run: &detect::Run) -> BTreeMap<String, Evidence> {
    let key = &run.logic.key;
    kubeseen::report::rows_json(&run.findings)
        .iter()
        .map(|r| {
            let k = key
                .iter()
                .map(|c| match &r[c.as_str()] {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join("|");
            let ev = Evidence {
                samples: r["samples"].as_i64().expect("samples"),
                first_seen: time_of(&r["first_seen"], "first_seen").expect("first_seen"),
                last_seen: time_of(&r["last_seen"], "last_seen").expect("last_seen"),
                pids: run.logic.pids.as_ref().map(|_| {
                    r["process_pids"]
                        .as_array()
                        .expect("process_pids")
                        .iter()
                        .map(|p| p.as_i64().expect("pid"))
                        .collect()
                }),
                node_first_seen: time_of(&r["node_first_seen"], "node_first_seen"),
                cluster_prevalence: r["cluster_prevalence"].as_i64().expect("cluster_prevalence"),
                cluster_first_seen: time_of(&r["cluster_first_seen"], "cluster_first_seen"),
                baseline_complete: r["baseline_complete"].as_bool().expect("baseline_complete"),
            };
            (k, ev)
        })
        .collect()
}

/// Every findings row's evidence equals the plain reference's, and no key is missing or extra.
fn assert_evidence(points: &[G], run: &detect::Run) {
    let want = plain_new_value(points, run);
    assert!(!want.is_empty(), "{}: the fixture has findings", run.spec.slug);
    assert_eq!(
        engine_new_value(run),
        want,
        "{} (splunk_compat={}): evidence differs from the plain reference",
        run.spec.slug,
        run.splunk_compat
    );
}

/// The rule family's findings and evidence computed plainly from the points (README, "The rule
/// family"): per key (a matching process), 10 s buckets of the window; a gauge signal is active
/// in a bucket when the average of its metric's points there is above its threshold; a counter
/// signal when the sum of its points' increases there is (a point's increase: its value minus
/// the previous point of its series — key, metric, other attributes — read from
/// `[start − lookback, end)`, or for a series' first point its value when it started at most
/// `lookback` before the window); a bucket is active when a signal of `active_when` is. Checked:
/// the keys found, and per finding `samples` (the window's points of the signal metrics),
/// `active_buckets`, `first_seen` and `last_seen` (the first and last point of the active
/// buckets).
fn assert_rule_evidence(points: &[G], run: &detect::Run) {
    use kubeseen::detect::spec::SignalKind;
    let r = detect::rule::RuleLogic::of(&run.spec, run.splunk_compat).expect("a rule");
    let w = &run.window;
    let read_from = w.start - r.lookback;
    let bucket = |t: DateTime<Utc>| {
        t.timestamp_micros()
            .div_euclid(r.bucket.num_microseconds().expect("bucket"))
    };
    // Key → its points of the signal metrics read (time order).
    let mut by_key: BTreeMap<String, Vec<Sighting>> = BTreeMap::new();
    for p in distinct(points) {
        if !r.signals.iter().any(|s| s.metric == p.metric) || p.time < read_from || p.time >= w.end {
            continue;
        }
        let m = columns_of(p);
        if !m.get(&r.match_column).is_some_and(|v| r.match_values.contains(v)) {
            continue;
        }
        let Some(k) = values(&m, &r.key) else { continue };
        by_key.entry(k.join("|")).or_default().push((p, m));
    }
    let mut want: BTreeMap<String, (i64, i64, DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for (k, mut pts) in by_key {
        pts.sort_by_key(|(p, _)| p.time);
        // (bucket, metric) → gauge values, and counter increases.
        let mut gauges: BTreeMap<(i64, String), Vec<f64>> = BTreeMap::new();
        let mut increases: BTreeMap<(i64, String), f64> = BTreeMap::new();
        let mut last_of_series: BTreeMap<(String, String), f64> = BTreeMap::new();
        for (p, _) in &pts {
            let s = r
                .signals
                .iter()
                .find(|s| s.metric == p.metric)
                .expect("a signal metric");
            let in_window = p.time >= w.start;
            match s.kind {
                SignalKind::Gauge => {
                    if in_window {
                        gauges
                            .entry((bucket(p.time), p.metric.clone()))
                            .or_default()
                            .push(p.value);
                    }
                }
                SignalKind::Counter => {
                    let series = (
                        p.metric.clone(),
                        lines(std::slice::from_ref(&G {
                            time: w.start,
                            start: None,
                            value: 0.0,
                            ..(*p).clone()
                        })),
                    );
                    let inc = match last_of_series.insert(series, p.value) {
                        Some(prev) => Some(p.value - prev),
                        None => p.start.filter(|st| *st >= read_from).map(|_| p.value),
                    };
                    if let (true, Some(inc)) = (in_window, inc) {
                        *increases.entry((bucket(p.time), p.metric.clone())).or_default() += inc;
                    }
                }
            }
        }
        let active = |b: i64| {
            r.signals
                .iter()
                .filter(|s| r.active_when.contains(&s.name))
                .any(|s| match s.kind {
                    SignalKind::Gauge => gauges
                        .get(&(b, s.metric.clone()))
                        .is_some_and(|v| v.iter().sum::<f64>() / v.len() as f64 > s.above),
                    SignalKind::Counter => increases.get(&(b, s.metric.clone())).is_some_and(|x| *x > s.above),
                })
        };
        let window: Vec<&G> = pts.iter().map(|(p, _)| *p).filter(|p| p.time >= w.start).collect();
        let in_active: Vec<DateTime<Utc>> = window
            .iter()
            .filter(|p| active(bucket(p.time)))
            .map(|p| p.time)
            .collect();
        if let (Some(first), Some(last)) = (in_active.iter().min(), in_active.iter().max()) {
            let buckets: BTreeSet<i64> = in_active.iter().map(|t| bucket(*t)).collect();
            want.insert(k, (window.len() as i64, buckets.len() as i64, *first, *last));
        }
    }
    assert!(!want.is_empty(), "{}: the fixture has findings", run.spec.slug);
    let got: BTreeMap<String, (i64, i64, DateTime<Utc>, DateTime<Utc>)> = kubeseen::report::rows_json(&run.findings)
        .iter()
        .map(|row| {
            let k = r
                .key
                .iter()
                .map(|c| match &row[c.as_str()] {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join("|");
            let n = |c: &str| row[c].as_i64().unwrap_or_else(|| panic!("{c}"));
            let at = |c: &str| time_of(&row[c], c).unwrap_or_else(|| panic!("{c}"));
            (
                k,
                (n("samples"), n("active_buckets"), at("first_seen"), at("last_seen")),
            )
        })
        .collect();
    assert_eq!(
        got, want,
        "{} (splunk_compat={}): keys and (samples, active_buckets, first_seen, last_seen) differ from the plain reference",
        run.spec.slug, run.splunk_compat
    );
}

fn lake_of(points: &[G]) -> TestLake {
    let l = TestLake::new();
    let f = l.dir.path().join("export.jsonl");
    std::fs::write(&f, lines(points)).expect("write export");
    let r = land_files(&l.lake, &[f.display().to_string()]);
    assert_eq!(r.points_landed as usize, points.len(), "every point lands");
    l
}

fn spec_of(slug: &str) -> detect::spec::Spec {
    detect::spec::load(None)
        .expect("specs")
        .into_iter()
        .find(|s| s.slug == slug)
        .expect("spec")
}

fn run(l: &TestLake, slug: &str, compat: bool) -> detect::Run {
    let mut o = opts(AT);
    o.splunk_compat = compat;
    detect::run(&l.lake, &spec_of(slug), &o).expect("detect")
}

/// The findings' values of `cols`, joined by `|`, as a set.
fn keys_of(run: &detect::Run, cols: &[&str]) -> BTreeSet<String> {
    kubeseen::report::rows_json(&run.findings)
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| match &r[*c] {
                    Value::String(s) => s.clone(),
                    Value::Null => "∅".into(),
                    v => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn bounds() -> (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) {
    let at = t(AT);
    (at, at - hours(1), at - Duration::days(30))
}

fn proc(cluster: &str, node: &str, exe: &str, path: &str, pid: i64, metric: &str, time: DateTime<Utc>) -> G {
    G::new(metric, time)
        .res("k8s.cluster.name", cluster)
        .res("k8s.node.name", node)
        .res("host.name", node)
        .res("process.executable.name", exe)
        .res("process.executable.path", path)
        .res("process.command", path)
        .res("process.pid", &pid.to_string())
}

#[test]
fn unseen_process_is_per_node_name_with_exact_edges() {
    let (at, ws, bs) = bounds();
    let m = "process.memory.usage";
    let u = "process.memory.utilization";
    let us = Duration::microseconds(1);
    let mut v = Vec::new();
    for node in ["n1", "n2"] {
        v.push(proc("prod", node, "kubelet", "/usr/bin/kubelet", 1, m, bs));
        v.push(proc("prod", node, "kubelet", "/usr/bin/kubelet", 1, m, ws + hours(0)));
    }
    // Edges: window start inclusive, window end exclusive, baseline start inclusive,
    // one microsecond before the window belongs to the baseline.
    v.push(proc("prod", "n1", "atstart", "/x/atstart", 10, u, ws));
    v.push(proc("prod", "n1", "atend", "/x/atend", 11, u, at));
    v.push(proc("prod", "n1", "bstart", "/x/bstart", 12, u, bs));
    v.push(proc(
        "prod",
        "n1",
        "bstart",
        "/x/bstart",
        12,
        u,
        ws + Duration::minutes(1),
    ));
    v.push(proc(
        "prod",
        "n1",
        "early",
        "/x/early",
        13,
        u,
        bs - Duration::seconds(1),
    ));
    v.push(proc(
        "prod",
        "n1",
        "early",
        "/x/early",
        13,
        u,
        ws + Duration::minutes(2),
    ));
    v.push(proc("prod", "n1", "justbefore", "/x/justbefore", 14, u, ws - us));
    v.push(proc(
        "prod",
        "n1",
        "justbefore",
        "/x/justbefore",
        14,
        u,
        ws + Duration::minutes(3),
    ));
    // A known name from a new path: not new here (process_new_path reports it).
    v.push(proc(
        "prod",
        "n1",
        "python3",
        "/usr/bin/python3",
        20,
        m,
        bs + Duration::days(2),
    ));
    v.push(proc(
        "prod",
        "n1",
        "python3",
        "/var/tmp/python3",
        21,
        m,
        ws + Duration::minutes(4),
    ));
    // Known on two other nodes: new on this one, prevalence 2, first seen elsewhere on n4.
    v.push(proc("prod", "n2", "tool", "/opt/tool", 30, m, bs + Duration::days(10)));
    v.push(proc("prod", "n4", "tool", "/opt/tool", 32, m, bs + Duration::days(5)));
    v.push(proc(
        "prod",
        "n1",
        "tool",
        "/opt/tool",
        31,
        u,
        ws + Duration::minutes(20),
    ));
    // Same node name in another cluster.
    v.push(proc("staging", "n1", "kubelet", "/usr/bin/kubelet", 1, m, bs));
    v.push(proc(
        "staging",
        "n1",
        "tool",
        "/opt/tool",
        41,
        m,
        ws + Duration::minutes(30),
    ));
    // A node that joined two days ago (incomplete baseline): a new name with two pids and
    // three samples.
    v.push(proc(
        "prod",
        "n3",
        "kubelet",
        "/usr/bin/kubelet",
        1,
        m,
        at - Duration::days(2),
    ));
    for (pid, min) in [(70, 15), (71, 16), (70, 17)] {
        v.push(proc(
            "prod",
            "n3",
            "late",
            "/x/late",
            pid,
            u,
            ws + Duration::minutes(min),
        ));
    }
    // Two metrics at one instant: two samples (one in the SPL's, utilization only).
    v.push(proc("prod", "n3", "late", "/x/late", 70, m, ws + Duration::minutes(15)));
    // Not a process metric: no sighting.
    v.push(proc(
        "prod",
        "n1",
        "sys",
        "/x/sys",
        50,
        "system.cpu.time",
        ws + Duration::minutes(5),
    ));
    // Without host.name: keyed in intent mode, unkeyed ("missing host_name") in the SPL's.
    let mut nohost = proc("prod", "n2", "nohost", "/x/nohost", 60, u, ws + Duration::minutes(6));
    nohost.resource.retain(|(k, _)| k != "host.name");
    v.push(nohost);
    let l = lake_of(&v);

    let cols = ["k8s_cluster_name", "k8s_node_name", "process_executable_name"];
    let intent = run(&l, "unseen_process", false);
    assert_eq!(
        keys_of(&intent, &cols),
        set(&[
            "prod|n1|atstart",
            "prod|n1|early",
            "prod|n1|tool",
            "prod|n2|nohost",
            "prod|n3|late",
            "staging|n1|tool",
        ])
    );
    assert_eq!(
        keys_of(&intent, &["process_executable_name", "cluster_prevalence"]),
        set(&["atstart|0", "early|0", "late|0", "nohost|0", "tool|2", "tool|0"])
    );
    assert_golden(&intent);
    assert_evidence(&v, &intent);

    // The SPL: process.memory.utilization only, host.name in the key.
    let compat = run(&l, "unseen_process", true);
    assert_eq!(
        keys_of(
            &compat,
            &[
                "host_name",
                "k8s_cluster_name",
                "k8s_node_name",
                "process_executable_name"
            ]
        ),
        // kubelet has only memory.usage points: every node's kubelet is absent from the SPL's
        // history and window alike; "tool" and "early" are new; "nohost" has no host.name.
        set(&[
            "n1|prod|n1|atstart",
            "n1|prod|n1|early",
            "n1|prod|n1|tool",
            "n3|prod|n3|late"
        ])
    );
    assert_eq!(compat.unkeyed_current.get("missing host_name"), Some(&1));
    assert_golden(&compat);
    assert_evidence(&v, &compat);
}

fn container(cluster: &str, node: &str, image: &str, tag: &str, pod: &str, time: DateTime<Utc>) -> G {
    G::new("k8s.container.ready", time)
        .res("k8s.cluster.name", cluster)
        .res("k8s.node.name", node)
        .res("k8s.namespace.name", "shop")
        .res("k8s.pod.name", pod)
        .res("k8s.container.name", "main")
        .res("container.image.name", image)
        .res("container.image.tag", tag)
}

#[test]
fn unseen_container_image_is_the_last_hour_in_both_modes() {
    let (_, ws, bs) = bounds();
    let mut v = Vec::new();
    for node in ["n1", "n2"] {
        v.push(container("prod", node, "registry.k8s.io/pause", "3.9", "sys", bs));
        v.push(container(
            "prod",
            node,
            "registry.k8s.io/pause",
            "3.9",
            "sys",
            ws + Duration::minutes(1),
        ));
    }
    // A new image on n1.
    v.push(container(
        "prod",
        "n1",
        "ghcr.io/evil/miner",
        "latest",
        "miner-1",
        ws + Duration::minutes(10),
    ));
    // Common in the cluster (n2 all along), new on n1: a finding with prevalence 1.
    v.push(container(
        "prod",
        "n2",
        "docker.io/library/nginx",
        "1.25",
        "web-a",
        bs + Duration::days(1),
    ));
    v.push(container(
        "prod",
        "n1",
        "docker.io/library/nginx",
        "1.25",
        "web-b",
        ws + Duration::minutes(20),
    ));
    // A tag bump of a known image name: not new.
    v.push(container(
        "prod",
        "n1",
        "docker.io/library/redis",
        "7.0",
        "cache-a",
        bs + Duration::days(5),
    ));
    v.push(container(
        "prod",
        "n1",
        "docker.io/library/redis",
        "7.2",
        "cache-b",
        ws + Duration::minutes(30),
    ));
    // First seen five hours ago: inside the SPL's 24 h window, but also in its history
    // [at − 30d, at − 1h): new in neither mode.
    v.push(container("prod", "n2", "quay.io/x/agent", "1", "agent", ws - hours(4)));
    v.push(container(
        "prod",
        "n2",
        "quay.io/x/agent",
        "1",
        "agent",
        ws + Duration::minutes(2),
    ));
    // With host.name (some pipelines add it): the only kind the SPL can key.
    v.push(
        container(
            "prod",
            "n2",
            "ghcr.io/evil/miner",
            "latest",
            "miner-2",
            ws + Duration::minutes(40),
        )
        .res("host.name", "n2"),
    );
    let l = lake_of(&v);
    let cols = ["k8s_cluster_name", "k8s_node_name", "container_image_name"];
    let intent = run(&l, "unseen_container_image", false);
    assert_eq!(
        keys_of(&intent, &cols),
        set(&[
            "prod|n1|docker.io/library/nginx",
            "prod|n1|ghcr.io/evil/miner",
            "prod|n2|ghcr.io/evil/miner",
        ])
    );
    assert_eq!(
        keys_of(
            &intent,
            &[
                "k8s_node_name",
                "container_image_name",
                "cluster_prevalence",
                "k8s_pod_name"
            ]
        ),
        set(&[
            "n1|docker.io/library/nginx|1|web-b",
            "n1|ghcr.io/evil/miner|0|miner-1",
            "n2|ghcr.io/evil/miner|0|miner-2",
        ])
    );
    assert_eq!(
        intent
            .findings
            .column("message")
            .expect("message")
            .str()
            .expect("str")
            .get(0),
        Some("Kubernetes Previously Unseen Container Image Name on host n1")
    );
    assert_golden(&intent);
    assert_evidence(&v, &intent);

    let compat = run(&l, "unseen_container_image", true);
    assert_eq!(
        compat.window.end - compat.window.start,
        hours(24),
        "the SPL's 24 h window"
    );
    assert_eq!(compat.window.baseline_end, t(AT) - hours(1), "history ends at −1h");
    assert_eq!(keys_of(&compat, &cols), set(&["prod|n2|ghcr.io/evil/miner"]));
    assert!(compat.unkeyed_current.get("missing host_name").copied().unwrap_or(0) > 0);
    assert_golden(&compat);
    assert_evidence(&v, &compat);
}

fn edge(proto: &str, cluster: &str, src: &str, dst: &str, time: DateTime<Utc>) -> G {
    G::new(&format!("{proto}.packets"), time)
        .counter(time - Duration::seconds(30))
        .res("k8s.cluster.name", cluster)
        .attr("source.workload.name", src)
        .attr("dest.workload.name", dst)
        .attr("source.namespace.name", "shop")
        .attr("dest.namespace.name", "shop")
        .value(12.0)
}

#[test]
fn new_edges_are_per_cluster_pairs_and_the_spl_ignores_the_cluster() {
    let (at, ws, bs) = bounds();
    let mut v = Vec::new();
    for c in ["prod", "staging"] {
        v.push(edge("tcp", c, "frontend", "cart", bs));
        v.push(edge("tcp", c, "frontend", "cart", ws + Duration::minutes(1)));
        v.push(edge("udp", c, "frontend", "coredns", bs));
        v.push(edge("udp", c, "frontend", "coredns", ws + Duration::minutes(1)));
    }
    // Lateral movement: frontend → postgres, new in prod.
    v.push(edge("tcp", "prod", "frontend", "postgres", ws + Duration::minutes(5)));
    // Known in staging all along, new in prod: intent finding, not in the SPL.
    v.push(edge("tcp", "staging", "cart", "redis", bs + Duration::days(3)));
    v.push(edge("tcp", "prod", "cart", "redis", ws + Duration::minutes(6)));
    // The reverse direction of a known pair is another edge.
    v.push(edge("tcp", "prod", "cart", "frontend", ws + Duration::minutes(7)));
    // A UDP sighting does not make the TCP edge known, and vice versa.
    v.push(edge("udp", "prod", "frontend", "cart", ws + Duration::minutes(8)));
    // Window end is exclusive.
    v.push(edge("tcp", "prod", "late", "cart", at));
    // A point without a destination workload (an external peer) is not keyed.
    let mut ext = edge("tcp", "prod", "frontend", "x", ws + Duration::minutes(9));
    ext.attrs.retain(|(k, _)| k != "dest.workload.name");
    v.push(ext);
    let l = lake_of(&v);
    let cols = ["k8s_cluster_name", "source_workload_name", "dest_workload_name"];

    let tcp = run(&l, "new_tcp_edge", false);
    assert_eq!(
        keys_of(&tcp, &cols),
        set(&["prod|cart|frontend", "prod|cart|redis", "prod|frontend|postgres"])
    );
    assert_eq!(
        keys_of(
            &tcp,
            &["source_workload_name", "dest_workload_name", "cluster_prevalence"]
        ),
        set(&["cart|frontend|0", "cart|redis|1", "frontend|postgres|0"])
    );
    assert_eq!(tcp.unkeyed_current.get("missing dest_workload_name"), Some(&1));
    assert_golden(&tcp);
    assert_evidence(&v, &tcp);
    let tcp_spl = run(&l, "new_tcp_edge", true);
    assert_eq!(
        keys_of(&tcp_spl, &cols),
        set(&["prod|cart|frontend", "prod|frontend|postgres"]),
        "the SPL compares pairs across clusters"
    );
    assert_golden(&tcp_spl);
    assert_evidence(&v, &tcp_spl);

    let udp = run(&l, "new_udp_edge", false);
    assert_eq!(keys_of(&udp, &cols), set(&["prod|frontend|cart"]));
    assert_eq!(
        udp.findings
            .column("message")
            .expect("message")
            .str()
            .expect("str")
            .get(0),
        Some("Kubernetes newly seen UDP edge in kubernetes cluster prod")
    );
    assert_golden(&udp);
    assert_evidence(&v, &udp);
}

#[test]
fn shell_rules_need_activity_in_a_bucket_and_intent_reads_the_default_metrics() {
    let (at, ws, _) = bounds();
    let cpu_u = "process.cpu.utilization";
    let mem_u = "process.memory.utilization";
    let mem = "process.memory.usage";
    let cpu_t = "process.cpu.time";
    let m = |x: i64| ws + Duration::minutes(x);
    let p = |exe: &str, pid: i64, metric: &str, time: DateTime<Utc>| {
        proc("prod", "n1", exe, &format!("/bin/{exe}"), pid, metric, time)
    };
    let mut v = vec![
        // 1. bash with CPU utilization in one bucket (averaged over states: 0 and 0.02).
        p("bash", 100, cpu_u, m(10)).attr("state", "user").value(0.0),
        p("bash", 100, cpu_u, m(10)).attr("state", "system").value(0.02),
        p("bash", 100, mem_u, m(10)).value(0.5),
        // 2. sh with memory utilization only: #11, not #12.
        p("sh", 200, cpu_u, m(11)).attr("state", "user").value(0.0),
        p("sh", 200, mem_u, m(11)).value(0.3),
        // 3. sh with the default metrics only (utilization off): memory.usage > 0 and a
        //    cpu.time rise from a point 2 minutes before the window: intent #11 and #12,
        //    nothing in the SPL.
        p("sh", 300, mem, m(12)).value(4096.0),
        p("sh", 300, cpu_t, ws - Duration::minutes(2))
            .counter(ws - hours(5))
            .attr("state", "user")
            .value(1.0),
        p("sh", 300, cpu_t, m(12))
            .counter(ws - hours(5))
            .attr("state", "user")
            .value(1.5),
        // 4. csh whose cpu.time does not rise and whose memory is 0: not active.
        p("csh", 400, cpu_t, m(1))
            .counter(ws - hours(5))
            .attr("state", "user")
            .value(3.0),
        p("csh", 400, cpu_t, m(2))
            .counter(ws - hours(5))
            .attr("state", "user")
            .value(3.0),
        p("csh", 400, mem, m(2)).value(0.0),
        // 5. tcsh started in the window: its first cpu.time point counts from its start.
        p("tcsh", 500, cpu_t, m(30))
            .counter(m(29))
            .attr("state", "system")
            .value(0.25),
        // 6. zsh is not in the list (users add it to match_values).
        p("zsh", 600, cpu_u, m(13)).attr("state", "user").value(0.5),
        // 7. Window edges: at the window end (excluded), and a bash whose only activity is
        //    one microsecond before the window (excluded).
        p("bash", 700, cpu_u, at).attr("state", "user").value(0.5),
        p("bash", 800, cpu_u, ws - Duration::microseconds(1))
            .attr("state", "user")
            .value(0.5),
        p("bash", 800, cpu_u, m(20)).attr("state", "user").value(0.0),
        // 1b. bash 100 active again in a later bucket (same average): two active buckets.
        p("bash", 100, cpu_u, m(50)).attr("state", "user").value(0.01),
        // 8. A second bash process (another pid) is another finding.
        p("bash", 101, mem_u, m(40)).value(0.1),
    ];
    // 9. A rise after a previous point older than the lookback (5 min) is not counted.
    v.push(
        p("bash", 900, cpu_t, ws - Duration::minutes(10))
            .counter(ws - hours(9))
            .value(1.0),
    );
    v.push(p("bash", 900, cpu_t, m(0)).counter(ws - hours(9)).value(9.0));
    let l = lake_of(&v);
    let cols = ["k8s_node_name", "process_pid", "process_executable_name"];

    let any = run(&l, "shell_on_worker_node", false);
    assert_eq!(
        keys_of(&any, &cols),
        set(&["n1|100|bash", "n1|101|bash", "n1|200|sh", "n1|300|sh", "n1|500|tcsh"])
    );
    assert_eq!(
        keys_of(&any, &["process_pid", "cpu_active", "memory_active", "active_buckets"]),
        set(&[
            "100|true|true|2",
            "101|false|true|1",
            "200|false|true|1",
            "300|true|true|1",
            "500|true|false|1"
        ])
    );
    assert_golden(&any);
    assert_rule_evidence(&v, &any);
    let cpu = run(&l, "shell_on_worker_node_cpu", false);
    assert_eq!(keys_of(&cpu, &cols), set(&["n1|100|bash", "n1|300|sh", "n1|500|tcsh"]));
    assert_eq!(
        keys_of(
            &cpu,
            &["process_pid", "process_cpu_utilization", "process_cpu_time_increase"]
        ),
        set(&["100|0.01|∅", "300|∅|0.5", "500|∅|0.25"])
    );
    assert_golden(&cpu);
    assert_rule_evidence(&v, &cpu);

    // The SPL: utilization metrics only, host.name in the key.
    let any_spl = run(&l, "shell_on_worker_node", true);
    assert_eq!(
        keys_of(&any_spl, &cols),
        set(&["n1|100|bash", "n1|101|bash", "n1|200|sh"])
    );
    assert_eq!(
        keys_of(
            &any_spl,
            &["process_pid", "process_cpu_utilization", "process_memory_utilization"]
        ),
        set(&["100|0.01|0.5", "101|∅|0.1", "200|0.0|0.3"])
    );
    assert_golden(&any_spl);
    assert_rule_evidence(&v, &any_spl);
    let cpu_spl = run(&l, "shell_on_worker_node_cpu", true);
    assert_eq!(keys_of(&cpu_spl, &cols), set(&["n1|100|bash"]));
    assert_golden(&cpu_spl);
    assert_rule_evidence(&v, &cpu_spl);
}

#[test]
fn every_detection_backfills_what_separate_runs_find() {
    // One lake with a bit of everything, then backfill (single pass where it applies) against
    // one detect run per window, for every detection and both modes.
    let (_, ws, bs) = bounds();
    let mut v = vec![proc(
        "prod",
        "n1",
        "kubelet",
        "/usr/bin/kubelet",
        1,
        "process.memory.utilization",
        bs,
    )];
    for h in [0i64, 3, 5] {
        let t0 = ws - hours(h) + Duration::minutes(7);
        v.push(proc(
            "prod",
            "n1",
            &format!("tool{h}"),
            &format!("/opt/tool{h}"),
            10 + h,
            "process.memory.utilization",
            t0,
        ));
        v.push(proc("prod", "n1", "bash", "/bin/bash", 20 + h, "process.cpu.utilization", t0).value(0.1));
        // With host.name, so that the SPL's container key has findings too.
        v.push(container("prod", "n1", &format!("img{h}"), "1", "p", t0).res("host.name", "n1"));
        v.push(edge("tcp", "prod", "a", &format!("b{h}"), t0));
        v.push(edge("udp", "prod", &format!("c{h}"), "d", t0));
    }
    let l = lake_of(&v);
    let from = t(AT) - hours(7);
    let to = t(AT);
    // Every detection in both modes finds something in exactly the windows holding the points
    // at −5h, −3h and −0h (+7 min), so the comparison is of findings, not of empty windows.
    let want_found: BTreeSet<DateTime<Utc>> = [5, 3, 0].iter().map(|h| to - hours(*h)).collect();
    let mut checked = 0;
    for compat in [false, true] {
        let mut args = vec![
            "backfill".to_string(),
            "--lake".into(),
            l.path().display().to_string(),
            "--from".into(),
            kubeseen::config::fmt_instant(from),
            "--to".into(),
            kubeseen::config::fmt_instant(to),
            "--format".into(),
            "json".into(),
            "--now".into(),
            "2030-01-01T00:00:00Z".into(),
        ];
        if compat {
            args.push("--splunk-compat".into());
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = kubeseen(&a, l.dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for spec in detect::spec::load(None).expect("specs") {
            let mut found = BTreeSet::new();
            let mut end = from + hours(1);
            while end <= to {
                let mut o = opts(AT);
                o.at = Some(end);
                o.splunk_compat = compat;
                let r = detect::run(&l.lake, &spec, &o).expect("detect");
                let key = kubeseen::report::findings_key(&r);
                let bytes = l.lake.get(&key).unwrap_or_else(|e| panic!("backfill wrote {key}: {e}"));
                let df = polars::prelude::ParquetReader::new(std::io::Cursor::new(bytes))
                    .finish()
                    .expect("findings parquet");
                let cols: Vec<String> = r.logic.key.clone();
                let key_set = |d: &polars::prelude::DataFrame| -> BTreeSet<String> {
                    kubeseen::report::rows_json(d)
                        .iter()
                        .map(|row| {
                            cols.iter()
                                .map(|c| row[c.as_str()].to_string())
                                .collect::<Vec<_>>()
                                .join("|")
                        })
                        .collect()
                };
                assert_eq!(
                    key_set(&df),
                    key_set(&r.findings),
                    "{} compat={compat} window ending {end}",
                    spec.slug
                );
                if df.height() > 0 {
                    found.insert(end);
                }
                end += hours(1);
            }
            assert_eq!(
                found, want_found,
                "{} compat={compat}: the windows with findings",
                spec.slug
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * detect::spec::BUILTIN.len(), "every detection, both modes");
}
