//! Tests of the generator: determinism, exact counts, format equivalence, the shape of every
//! stream, and the ground truth checked against the oracle over the decoded exports and against
//! the real process_new_path detection.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use polars::prelude::{ParquetReader, SerReader};

use super::encode::PointRef;
use super::model::{DAY, HOUR, MINUTE};
use super::output::{Batch, Output, Stream};
use super::*;
use crate::ingest::model::{AttrValue, MetricInfo, MetricKind, Origin, Point, VecSink};
use crate::lake::schema::Row;
use crate::storage::StoreOptions;

fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
        .single()
        .expect("a valid instant")
}

fn tiny(format: OutputFormat, layout: Layout) -> GenerateOptions {
    GenerateOptions {
        clusters: 1,
        nodes: 2,
        processes: 3,
        days: 2,
        interval: Duration::seconds(300),
        end: end(),
        seed: 42,
        format,
        layout,
        utilization: false,
    }
}

/// Two clusters of three nodes, enough processes for every kind of workload: every scenario.
fn two_clusters(days: u32, utilization: bool) -> GenerateOptions {
    GenerateOptions {
        clusters: 2,
        nodes: 3,
        processes: 10,
        days,
        interval: Duration::seconds(900),
        utilization,
        ..tiny(OutputFormat::OtlpJson, Layout::FileExporter)
    }
}

/// A generated output folder (`out` inside a temp folder, the ground truth beside it).
struct Generated {
    _tmp: tempfile::TempDir,
    out: std::path::PathBuf,
}

impl Generated {
    /// The output folder: the exports or the lake, and nothing else.
    fn path(&self) -> &Path {
        &self.out
    }
}

fn generate_into(opts: &GenerateOptions) -> (Generated, GenerateSummary) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let spec = out.to_str().expect("utf-8 temp path").to_string();
    let loc = Location::open(&spec, &StoreOptions::default(), true).expect("open output");
    let truth = ground_truth_beside(&spec, &loc, &StoreOptions::default()).expect("beside");
    let summary = generate(opts, &loc, &truth, false).expect("generate");
    (Generated { _tmp: tmp, out }, summary)
}

fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The files of an output folder: all of them are data (the ground truth is beside it).
fn data_files(tree: &BTreeMap<String, Vec<u8>>) -> impl Iterator<Item = (&String, &Vec<u8>)> {
    tree.iter()
}

/// Whether a file-exporter key belongs to a node's agent (not a cluster-wide collector).
fn is_node_file(key: &str) -> bool {
    let collector = key.split('/').nth(1).unwrap_or("");
    collector != RECEIVER_STREAM && collector != GATEWAY_STREAM
}

fn decode_all(tree: &BTreeMap<String, Vec<u8>>) -> VecSink {
    let mut sink = VecSink::default();
    for (_, bytes) in data_files(tree) {
        crate::ingest::decode(bytes, 1 << 34, &mut sink);
    }
    sink
}

fn resource<'a>(p: &'a Point, key: &str) -> Option<&'a AttrValue> {
    p.origin.resource.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn text(p: &Point, key: &str) -> String {
    match resource(p, key) {
        Some(AttrValue::Str(s)) => s.clone(),
        other => panic!("{key} is not a string: {other:?}"),
    }
}

fn pid(p: &Point) -> i64 {
    match resource(p, "process.pid") {
        Some(AttrValue::Int(i)) => *i,
        other => panic!("process.pid is not an int: {other:?}"),
    }
}

fn ids(points: &[Point]) -> BTreeSet<u64> {
    points.iter().map(|p| Row::from_point(p).point_id).collect()
}

fn process_points(points: &[Point]) -> impl Iterator<Item = &Point> {
    points.iter().filter(|p| p.metric.name.starts_with("process."))
}

/// The oracle over decoded points: what the files say each detection must report.
fn verdict_of(points: &[Point], frame: Frame) -> truth::Verdict {
    let mut o = truth::Oracle::new(frame.windows());
    for p in points {
        o.point(&PointRef::of(p).expect("generated points carry a value"));
    }
    o.finish()
}

/// (cluster, node, path, time, pid) of every process sample.
type Seen = Vec<(String, String, String, u64, i64)>;

fn seen_from_points(points: &[Point]) -> Seen {
    points
        .iter()
        .filter(|p| p.metric.name == "process.memory.virtual")
        .map(|p| {
            (
                text(p, "k8s.cluster.name"),
                text(p, "k8s.node.name"),
                text(p, "process.executable.path"),
                p.time_unix_nano,
                pid(p),
            )
        })
        .collect()
}

/// An output that only records what was sampled (fast: nothing is encoded).
#[derive(Default)]
struct Tap {
    seen: Seen,
    points: u64,
    /// (cluster, source, destination, protocol) → hours (since the epoch) with a report.
    edges: BTreeMap<(String, String, String, String), BTreeSet<u64>>,
    /// Container readings: (cluster, node, image) → tags seen.
    images: BTreeMap<(String, String, String), BTreeSet<String>>,
    ready_ticks: BTreeSet<(String, u64)>,
}

impl Output for Tap {
    fn write(&mut self, stream: Stream<'_>, batch: Batch<'_>) -> Result<(), GenerateError> {
        let m = encode::MetricSet::new();
        batch.for_each_point(&m, |_| self.points += 1);
        match batch {
            Batch::Scrape(node) => {
                for s in &node.samples {
                    let inc = node.slots[s.slot].cur.as_ref().expect("running");
                    self.seen.push((
                        node.cluster().to_string(),
                        node.node().to_string(),
                        node.slots[s.slot].exe.path.to_string(),
                        s.time_ns,
                        inc.pid,
                    ));
                }
            }
            Batch::Ready { points, .. } => {
                for r in points {
                    let res = &r.res.origin.resource;
                    let get = |k: &str| match res.iter().find(|(key, _)| key == k) {
                        Some((_, AttrValue::Str(s))) => s.clone(),
                        _ => panic!("container attribute {k} missing"),
                    };
                    self.images
                        .entry((
                            get("k8s.cluster.name"),
                            get("k8s.node.name"),
                            get("container.image.name"),
                        ))
                        .or_default()
                        .insert(get("container.image.tag"));
                    self.ready_ticks.insert((stream.cluster.to_string(), r.time_ns));
                }
            }
            Batch::Flows(c) => {
                for f in &c.flows {
                    let e = &c.edges[f.edge];
                    let get = |k: &str| match e.attrs.iter().find(|(key, _)| key == k) {
                        Some((_, AttrValue::Str(s))) => s.clone(),
                        _ => panic!("edge attribute {k} missing"),
                    };
                    let proto = format!("{:?}", e.proto);
                    self.edges
                        .entry((
                            c.name.clone(),
                            get("source.workload.name"),
                            get("dest.workload.name"),
                            proto,
                        ))
                        .or_default()
                        .insert(c.tick_ns / HOUR);
                }
            }
        }
        Ok(())
    }
    fn end_stream_hour(&mut self, _: Stream<'_>, _: u64) -> Result<(), GenerateError> {
        Ok(())
    }
    fn end_hour(&mut self, _: u64) -> Result<(), GenerateError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<Written, GenerateError> {
        Ok(Written::default())
    }
}

fn tap(opts: &GenerateOptions) -> (Tap, Run, Frame) {
    let frame = validate(opts).expect("valid options");
    let mut t = Tap::default();
    let run = run(opts, frame, Want::default(), &mut t, false).expect("run");
    (t, run, frame)
}

fn by_name<'a>(scenarios: &'a [Scenario], name: &str, detection: &str) -> &'a Scenario {
    scenarios
        .iter()
        .find(|s| s.name == name && s.detection == detection)
        .unwrap_or_else(|| panic!("{name} has a {detection} entry"))
}

fn key<'a>(s: &'a Scenario, column: &str) -> &'a str {
    s.key
        .get(column)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("{} has no {column}", s.name))
}

/// Structural checks of the process scenarios on the sightings (which the oracle cannot see:
/// where and when things run).
fn check_process_scenarios(seen: &Seen, scenarios: &[Scenario], frame: Frame, opts: &GenerateOptions) {
    let path = |n: &str| by_name(scenarios, n, PROCESS_NEW_PATH);
    fn sightings<'a>(
        seen: &'a Seen,
        path: &'a str,
    ) -> impl Iterator<Item = &'a (String, String, String, u64, i64)> + 'a {
        seen.iter().filter(move |(_, _, p, _, _)| p == path)
    }
    let at = |s: &Scenario| {
        (
            key(s, "k8s_cluster_name").to_string(),
            key(s, "k8s_node_name").to_string(),
        )
    };

    // Dropped tools: only on their node, only in the last hour.
    for n in [
        MINER_IN_TMP,
        SHELL_IN_DEV_SHM,
        KNOWN_BINARY_UNUSUAL_PATH,
        NEW_PATH_ON_LATE_NODE,
        INTERACTIVE_SHELL,
        NEW_IMAGE_ON_NODE,
        MULTI_STAGE_ATTACK,
    ] {
        let s = path(n);
        let p = key(s, "process_executable_path");
        assert!(sightings(seen, p).count() > 0, "{n} is observed");
        for (c, node, _, t, _) in sightings(seen, p) {
            assert_eq!((c.clone(), node.clone()), at(s), "{n} runs on its node only");
            assert!(*t >= frame.end - HOUR, "{n} runs in the last hour only");
        }
    }
    // Returning path: the earlier sighting exists exactly when the data reaches back to it.
    let r = path(RETURNS_AFTER_30_DAYS);
    let early: Vec<u64> = sightings(seen, key(r, "process_executable_path"))
        .map(|x| x.3)
        .filter(|t| *t < frame.end - HOUR)
        .collect();
    assert_eq!(!early.is_empty(), opts.days >= 31, "early tcpdump sighting");
    assert!(
        early.iter().all(|t| *t < frame.end - 30 * DAY),
        "the early sighting is outside the baseline"
    );
    if opts.days >= 36 {
        assert!(early
            .iter()
            .all(|t| *t >= frame.end - 35 * DAY && *t < frame.end - 35 * DAY + HOUR));
    }
    // Common in the cluster: every other node ran it in the baseline; this node only now.
    let d = path(COMMON_IN_CLUSTER_NEW_ON_NODE);
    let (dc, dn) = at(d);
    let others: BTreeSet<&String> = sightings(seen, key(d, "process_executable_path"))
        .filter(|(c, n, _, t, _)| *c == dc && *n != dn && *t < frame.end - HOUR)
        .map(|x| &x.1)
        .collect();
    assert_eq!(
        others.len() as u32,
        opts.nodes - 1,
        "node-exporter runs on every other node"
    );
    assert!(sightings(seen, key(d, "process_executable_path"))
        .filter(|x| x.1 == dn)
        .all(|x| x.3 >= frame.end - HOUR));
    // Restart: two pids of the same path on the node in the last hour, and the path is known.
    let r = path(NEW_PID_KNOWN_PATH);
    let (rc, rn) = at(r);
    let pids: BTreeSet<i64> = sightings(seen, key(r, "process_executable_path"))
        .filter(|x| x.0 == rc && x.1 == rn && x.3 >= frame.end - HOUR)
        .map(|x| x.4)
        .collect();
    assert!(pids.len() >= 2, "the restart gives a new pid: {pids:?}");
    assert!(!r.expect_finding);
    // The idle shell ran before the window too (so it is not new).
    let idle = path(IDLE_SHELL);
    assert!(sightings(seen, key(idle, "process_executable_path")).any(|x| x.3 < frame.end - 2 * HOUR));
    // The late node has no data before it joined.
    let late = path(NEW_PATH_ON_LATE_NODE);
    assert_eq!(late.expect_baseline_complete, Some(false));
    let first_late = seen
        .iter()
        .filter(|x| x.1 == key(late, "k8s_node_name"))
        .map(|x| x.3)
        .min()
        .expect("late node has data");
    assert!(first_late >= frame.late_join());
    for s in scenarios {
        assert_eq!(s.window_end, fmt_instant(opts.end));
        assert!(DETECTIONS.contains(&s.detection.as_str()), "{}", s.detection);
        let columns: Vec<&str> = s.key.keys().map(String::as_str).collect();
        let mut expected = key_columns(&s.detection).to_vec();
        expected.sort_unstable();
        assert_eq!(columns, expected, "{}: key columns", s.name);
        assert_eq!(
            s.expect_baseline_complete.is_some(),
            [
                PROCESS_NEW_PATH,
                UNSEEN_PROCESS,
                UNSEEN_CONTAINER_IMAGE,
                NEW_TCP_EDGE,
                NEW_UDP_EDGE
            ]
            .contains(&s.detection.as_str()),
            "{}: baseline completeness for new-value detections only",
            s.name
        );
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    for layout in Layout::ALL {
        let opts = tiny(OutputFormat::OtlpJsonGz, layout);
        let (a, _) = generate_into(&opts);
        let (b, _) = generate_into(&opts);
        let (c, _) = generate_into(&GenerateOptions {
            seed: 43,
            ..opts.clone()
        });
        let (ta, tb, tc) = (read_tree(a.path()), read_tree(b.path()), read_tree(c.path()));
        assert!(ta.len() > 3);
        assert_eq!(ta, tb, "{layout}: same seed, same bytes");
        assert_ne!(ta, tc, "{layout}: another seed, other data");
    }
}

#[test]
fn json_export_decodes_to_exactly_the_summary() {
    let opts = tiny(OutputFormat::OtlpJson, Layout::FileExporter);
    let (dir, summary) = generate_into(&opts);
    let tree = read_tree(dir.path());
    let sink = decode_all(&tree);
    assert!(
        sink.rejections.is_empty(),
        "{:?}",
        &sink.rejections[..sink.rejections.len().min(3)]
    );
    assert_eq!(sink.points.len() as u64, summary.points);
    assert_eq!(ids(&sink.points).len(), sink.points.len(), "every point is distinct");
    assert_eq!(data_files(&tree).count() as u64, summary.files);
    assert_eq!(
        data_files(&tree).map(|(_, b)| b.len() as u64).sum::<u64>(),
        summary.bytes
    );
    // Beside the exports, not among them: `kubeseen land <out>` lands exactly the exports.
    let canonical = std::fs::canonicalize(dir.path()).expect("canonical");
    assert_eq!(
        summary.ground_truth,
        format!("{}/out.{GROUND_TRUTH}", canonical.parent().expect("parent").display())
    );
    assert!(Path::new(&summary.ground_truth).is_file());
    assert!(!tree.keys().any(|k| k.contains(GROUND_TRUTH)), "{:?}", tree.keys());

    // Layout: <cluster>/<node or collector>/metrics-YYYYMMDDTHH.jsonl, one request per line:
    // per scrape for nodes, per tick for the cluster receiver and the reducer.
    let mut lines = 0;
    let mut collectors = BTreeSet::new();
    for (key, bytes) in data_files(&tree) {
        let segs: Vec<&str> = key.split('/').collect();
        assert_eq!(segs.len(), 3, "{key}");
        assert_eq!(segs[0], "prod-eu-west-1");
        assert!(
            segs[2].starts_with("metrics-2026")
                && segs[2].ends_with(".jsonl")
                && segs[2].len() == "metrics-20260310T11.jsonl".len(),
            "{key}"
        );
        assert!(bytes.ends_with(b"\n"));
        if is_node_file(key) {
            lines += bytes.iter().filter(|b| **b == b'\n').count();
        } else {
            collectors.insert(segs[1]);
        }
    }
    assert_eq!(collectors, BTreeSet::from([GATEWAY_STREAM, RECEIVER_STREAM]));
    // systemd (pid 1) is read once per scrape.
    let scrapes = sink
        .points
        .iter()
        .filter(|p| p.metric.name == "process.memory.virtual" && pid(p) == 1)
        .count();
    assert_eq!(lines, scrapes, "one line per scrape");

    // Times: inside [end − days, end), reported in the summary.
    let times: Vec<u64> = sink.points.iter().map(|p| p.time_unix_nano).collect();
    let (lo, hi) = (
        *times.iter().min().expect("points"),
        *times.iter().max().expect("points"),
    );
    let end_ns = end().timestamp_nanos_opt().expect("in range") as u64;
    assert!(hi < end_ns && lo >= end_ns - 2 * DAY);
    assert_eq!(summary.first_point, fmt_instant(model::utc(lo)));
    assert_eq!(summary.last_point, fmt_instant(model::utc(hi)));
    for p in &sink.points {
        if p.metric.temporality == 1 {
            assert_eq!(p.start_time_unix_nano, 0, "the reducer sets no start time");
        } else {
            assert!(p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano);
        }
    }

    // The pdata marshaler's shape.
    let first_line = data_files(&tree)
        .find(|(k, _)| is_node_file(k))
        .and_then(|(_, b)| b.split(|c| *c == b'\n').next())
        .expect("a line");
    let doc: serde_json::Value = serde_json::from_slice(first_line).expect("JSON");
    let rm = &doc["resourceMetrics"][0];
    let keys: Vec<&str> = rm["resource"]["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(|a| a["key"].as_str())
        .collect();
    assert_eq!(
        &keys[..6],
        [
            "process.pid",
            "process.parent_pid",
            "process.executable.name",
            "process.executable.path",
            "process.command",
            "process.command_line"
        ]
    );
    assert_eq!(
        &keys[keys.len() - 4..],
        ["host.name", "os.type", "k8s.node.name", "k8s.cluster.name"]
    );
    assert_eq!(
        rm["resource"]["attributes"][0]["value"]["intValue"]
            .as_str()
            .map(|s| s == "1"),
        Some(true),
        "pid 1 first, as a string"
    );
    assert_eq!(rm["schemaUrl"], "https://opentelemetry.io/schemas/1.9.0");
    let metrics = rm["scopeMetrics"][0]["metrics"].as_array().expect("metrics");
    let names: Vec<&str> = metrics.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "process.cpu.time",
            "process.disk.io",
            "process.disk.operations",
            "process.memory.usage",
            "process.memory.virtual",
            "process.threads"
        ]
    );
    assert_eq!(metrics[0]["sum"]["aggregationTemporality"], 2);
    assert_eq!(metrics[0]["sum"]["isMonotonic"], true);
    assert!(metrics[0]["sum"]["dataPoints"][0]["asDouble"].is_number());
    assert_eq!(metrics[2]["sum"]["isMonotonic"], true, "disk operations are a counter");
    assert!(metrics[3]["sum"].get("isMonotonic").is_none(), "false is omitted");
    assert!(metrics[5]["sum"].get("isMonotonic").is_none(), "threads go up and down");
    assert!(metrics[2]["sum"]["dataPoints"][0]["asInt"].is_string());
    assert!(metrics[2]["sum"]["dataPoints"][0]["timeUnixNano"].is_string());

    // Pod processes carry pod attributes, host processes do not; owners may be absent.
    let procs: Vec<&Point> = process_points(&sink.points).collect();
    let with_pod = procs.iter().filter(|p| resource(p, "k8s.pod.name").is_some()).count();
    assert!(with_pod > 0 && with_pod < procs.len());
    assert!(procs.iter().any(|p| resource(p, "process.owner").is_none()));
    let paths: BTreeSet<String> = procs.iter().map(|p| text(p, "process.executable.path")).collect();
    for p in [
        "/usr/bin/kubelet",
        "/usr/bin/containerd",
        "/usr/bin/containerd-shim-runc-v2",
        "/usr/sbin/sshd",
        "/usr/lib/systemd/systemd-journald",
        "/usr/local/bin/kube-proxy",
        "/usr/bin/find",
        "/usr/sbin/logrotate",
        "/srv/kernel-collector",
        "/srv/opentelemetry-ebpf-reducer",
    ] {
        assert!(paths.contains(p), "{p} runs");
    }
}

#[test]
fn container_readiness_follows_the_cluster_receiver() {
    let opts = tiny(OutputFormat::OtlpJson, Layout::FileExporter);
    let (dir, _) = generate_into(&opts);
    let tree = read_tree(dir.path());
    let (key, bytes) = data_files(&tree)
        .find(|(k, _)| k.contains(&format!("/{RECEIVER_STREAM}/")))
        .expect("a cluster receiver file");
    let first = bytes.split(|c| *c == b'\n').next().expect("a line");
    let doc: serde_json::Value = serde_json::from_slice(first).expect("JSON");
    let rms = doc["resourceMetrics"].as_array().expect("resource metrics");
    assert!(
        rms.len() > 5,
        "{key}: one request per tick holds every container of the cluster"
    );
    let rm = &rms[0];
    let keys: Vec<&str> = rm["resource"]["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(|a| a["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "k8s.pod.uid",
            "k8s.pod.name",
            "k8s.node.name",
            "k8s.namespace.name",
            "container.id",
            "k8s.container.name",
            "container.image.name",
            "container.image.tag",
            "k8s.cluster.name"
        ],
        "the receiver's order, then the pipeline's cluster name; no host.name"
    );
    assert_eq!(rm["schemaUrl"], "https://opentelemetry.io/schemas/1.18.0");
    let scope = &rm["scopeMetrics"][0]["scope"];
    assert_eq!(
        scope["name"],
        "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/k8sclusterreceiver"
    );
    let m = &rm["scopeMetrics"][0]["metrics"][0];
    assert_eq!(m["name"], "k8s.container.ready");
    assert!(m.get("unit").is_none(), "an empty unit is omitted");
    let dp = &m["gauge"]["dataPoints"][0];
    assert!(dp["asInt"] == "1" || dp["asInt"] == "0");
    assert!(dp["startTimeUnixNano"].is_string());

    let sink = decode_all(&tree);
    let ready: Vec<&Point> = sink
        .points
        .iter()
        .filter(|p| p.metric.name == "k8s.container.ready")
        .collect();
    assert!(ready.iter().all(|p| p.value == Some(1.0) || p.value == Some(0.0)));
    assert!(ready.iter().any(|p| p.value == Some(1.0)));
    assert!(ready.iter().all(|p| resource(p, "host.name").is_none()));
    // One tick: every container of the cluster at the same instant.
    let ticks: BTreeSet<u64> = ready.iter().map(|p| p.time_unix_nano).collect();
    assert!(ticks.len() >= 2 * 12, "a tick every interval");
    let id = |p: &Point| text(p, "container.id");
    assert!(ready
        .iter()
        .all(|p| id(p).len() == 64 && id(p).bytes().all(|b| b.is_ascii_hexdigit())));
    let uid = text(ready[0], "k8s.pod.uid");
    assert_eq!(uid.len(), 36, "{uid}");
    assert_eq!(&uid[14..15], "4", "a version 4 UUID: {uid}");
    // Every pod process runs in a container the receiver reports on its node.
    let pods: BTreeSet<(String, String)> = process_points(&sink.points)
        .filter(|p| resource(p, "k8s.pod.name").is_some())
        .map(|p| (text(p, "k8s.node.name"), text(p, "k8s.pod.name")))
        .collect();
    let reported: BTreeSet<(String, String)> = ready
        .iter()
        .map(|p| (text(p, "k8s.node.name"), text(p, "k8s.pod.name")))
        .collect();
    let missing: Vec<_> = pods.difference(&reported).collect();
    assert!(missing.is_empty(), "pods without a container reading: {missing:?}");
}

#[test]
fn network_flows_follow_the_reducer_and_edges_are_stable() {
    let opts = two_clusters(3, false);
    let (dir, _) = generate_into(&opts);
    let tree = read_tree(dir.path());
    let (_, bytes) = data_files(&tree)
        .find(|(k, _)| k.contains(&format!("/{GATEWAY_STREAM}/")))
        .expect("a gateway file");
    let first = bytes.split(|c| *c == b'\n').next().expect("a line");
    let doc: serde_json::Value = serde_json::from_slice(first).expect("JSON");
    let rm = &doc["resourceMetrics"][0];
    assert_eq!(rm["resource"]["attributes"].as_array().map(Vec::len), Some(1));
    assert_eq!(rm["resource"]["attributes"][0]["key"], "k8s.cluster.name");
    assert_eq!(rm["scopeMetrics"][0]["scope"], serde_json::json!({}));
    let m = &rm["scopeMetrics"][0]["metrics"][0];
    assert!(m.get("description").is_none());
    assert_eq!(m["sum"]["aggregationTemporality"], 1, "delta");
    assert_eq!(m["sum"]["isMonotonic"], true);
    let dp = &m["sum"]["dataPoints"][0];
    assert!(dp.get("startTimeUnixNano").is_none());
    assert!(dp["asInt"].is_string());
    let keys: Vec<&str> = dp["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(|a| a["key"].as_str())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "the reducer's labels are a sorted map");
    for k in [
        "source.workload.name",
        "dest.workload.name",
        "source.namespace.name",
        "dest.namespace.name",
        "sf_product",
    ] {
        assert!(keys.contains(&k), "{k}");
    }

    // Every edge of the topology reports in every hour of the data.
    let (t, run, frame) = tap(&opts);
    let hours: BTreeSet<u64> = (frame.start / HOUR..frame.end.div_ceil(HOUR)).collect();
    let scenario_edges: BTreeSet<(String, String, String)> = run
        .scenarios
        .iter()
        .filter(|s| s.detection == NEW_TCP_EDGE || s.detection == NEW_UDP_EDGE)
        .map(|s| {
            (
                key(s, "k8s_cluster_name").to_string(),
                key(s, "source_workload_name").to_string(),
                key(s, "dest_workload_name").to_string(),
            )
        })
        .collect();
    let mut stable = 0;
    for ((c, s, d, proto), seen) in &t.edges {
        if scenario_edges.contains(&(c.clone(), s.clone(), d.clone())) {
            assert!(
                seen.iter().all(|h| *h + 1 >= frame.end / HOUR),
                "{s} → {d} in the last hour only"
            );
        } else {
            assert_eq!(seen, &hours, "{c}: {s} → {d} ({proto}) in every hour");
            stable += 1;
        }
    }
    assert!(stable > 20, "a topology per cluster: {stable} edges");
    for c in ["prod-eu-west-1", "prod-us-central1"] {
        let dns = t
            .edges
            .keys()
            .filter(|(cl, _, d, p)| cl == c && d == "coredns" && p == "Udp")
            .count();
        assert!(dns >= 5, "{c}: everyone resolves names through coredns");
        assert!(t
            .edges
            .contains_key(&(c.into(), "otel-agent".into(), "otel-gateway".into(), "Tcp".into())));
    }
    // Image names stay the same across rollouts; the tag bump adds a tag.
    let bump = by_name(&run.scenarios, IMAGE_TAG_BUMP, UNSEEN_CONTAINER_IMAGE);
    let tags = &t.images[&(
        key(bump, "k8s_cluster_name").to_string(),
        key(bump, "k8s_node_name").to_string(),
        key(bump, "container_image_name").to_string(),
    )];
    assert!(tags.len() >= 2, "the rollout adds a tag: {tags:?}");
    assert!(tags
        .iter()
        .any(|t| t.ends_with("-hotfix") || t.chars().last().is_some_and(|c| c.is_ascii_digit())));
}

#[test]
fn ground_truth_and_oracle_agree_on_decoded_exports() {
    // The generator checks its labels against the oracle as it writes; here the oracle reads
    // the exports back from disk, so the encodings are covered too.
    for opts in [
        tiny(OutputFormat::OtlpJson, Layout::FileExporter),
        GenerateOptions {
            format: OutputFormat::OtlpProto,
            ..two_clusters(3, true)
        },
    ] {
        let (dir, summary) = generate_into(&opts);
        let tree = read_tree(dir.path());
        let truth = GroundTruth::from_json(&std::fs::read(&summary.ground_truth).expect("ground truth beside"))
            .expect("ground truth parses");
        assert_eq!(truth.scenarios, summary.scenarios);
        let sink = decode_all(&tree);
        assert!(sink.rejections.is_empty());
        let frame = validate(&opts).expect("valid");
        let verdict = verdict_of(&sink.points, frame);
        verdict
            .check(&truth.scenarios)
            .expect("the exports say what the labels say");
        check_process_scenarios(&seen_from_points(&sink.points), &truth.scenarios, frame, &opts);
        // A wrong label is caught.
        let mut wrong = truth.scenarios.clone();
        let i = wrong
            .iter()
            .position(|s| s.name == IDLE_SHELL && s.detection == SHELL_ON_WORKER_NODE_CPU)
            .expect("idle shell listed");
        wrong[i].expect_finding = true;
        let err = verdict.check(&wrong).expect_err("a wrong label is caught");
        assert!(
            err.contains("shell_on_worker_node_cpu: labelled but not reported"),
            "{err}"
        );
        // (Another scenario may expect the same key: drop every entry of it.)
        let miner = key_values(by_name(&truth.scenarios, MINER_IN_TMP, UNSEEN_PROCESS));
        let mut missing = truth.scenarios.clone();
        missing.retain(|s| !(s.detection == UNSEEN_PROCESS && key_values(s) == miner));
        let err = verdict.check(&missing).expect_err("a missing label is caught");
        assert!(err.contains("unseen_process: reported but not labelled"), "{err}");
    }
}

#[test]
fn every_detection_has_scenarios_with_their_truth() {
    let opts = two_clusters(31, false);
    let (t, run, frame) = tap(&opts);
    assert_eq!(t.points, run.points);
    let s = &run.scenarios;
    check_process_scenarios(&t.seen, s, frame, &opts);
    let names: BTreeSet<&str> = s.iter().map(|e| e.name.as_str()).collect();
    for n in SCENARIOS {
        assert!(
            names.contains(n) || n == BENIGN_SHELL_WORKLOAD || n == STATISTICAL_NOISE,
            "{n} is in the ground truth"
        );
    }
    let order: Vec<usize> = s
        .iter()
        .map(|e| SCENARIOS.iter().position(|n| *n == e.name).expect("a known scenario"))
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "entries in scenario order");
    // The statistical detections need more than 5 scrapes in the window: at 15-minute scrapes
    // (4 an hour) they report nothing (see `statistical_scenarios_at_five_minute_scrapes`).
    for d in DETECTIONS.iter().filter(|d| !d.starts_with("process_resource")) {
        assert!(
            s.iter().any(|e| e.detection == *d && e.expect_finding),
            "{d} has an expected finding"
        );
    }
    for n in [
        PROCESS_CPU_BURST,
        PROCESS_RATIO_FLIP,
        PROCESS_SHORT_SPIKE,
        PROCESS_DIURNAL_PEAK,
    ] {
        for d in [PROCESS_RESOURCE_ANOMALY, PROCESS_RESOURCE_RATIO_ANOMALY] {
            assert!(!by_name(s, n, d).expect_finding, "{n} {d}: at most 4 scrapes an hour");
        }
    }
    let expect = |n: &str, d: &str| by_name(s, n, d).expect_finding;
    // New-value detections.
    assert!(expect(MINER_IN_TMP, PROCESS_NEW_PATH) && expect(MINER_IN_TMP, UNSEEN_PROCESS));
    assert!(expect(RETURNS_AFTER_30_DAYS, UNSEEN_PROCESS));
    assert!(!expect(NEW_PID_KNOWN_PATH, PROCESS_NEW_PATH) && !expect(NEW_PID_KNOWN_PATH, UNSEEN_PROCESS));
    assert!(expect(NEW_IMAGE_ON_NODE, UNSEEN_CONTAINER_IMAGE));
    assert_eq!(
        key(
            by_name(s, NEW_IMAGE_ON_NODE, UNSEEN_CONTAINER_IMAGE),
            "container_image_name"
        ),
        "ghcr.io/evil/miner"
    );
    assert!(expect(COMMON_IN_CLUSTER_NEW_ON_NODE, UNSEEN_CONTAINER_IMAGE));
    assert!(expect(IMAGE_COMMON_IN_CLUSTER_NEW_ON_NODE, UNSEEN_CONTAINER_IMAGE));
    assert!(!expect(IMAGE_TAG_BUMP, UNSEEN_CONTAINER_IMAGE));
    assert!(expect(NEW_TCP_EDGE_LATERAL, NEW_TCP_EDGE));
    assert!(expect(NEW_UDP_EDGE_STATSD, NEW_UDP_EDGE));
    let known = by_name(s, EDGE_KNOWN_IN_OTHER_CLUSTER, NEW_TCP_EDGE);
    assert!(known.expect_finding);
    assert_eq!(key(known, "k8s_cluster_name"), "prod-us-central1");
    // The pair ran in the other cluster all along.
    let pair = (
        key(known, "source_workload_name").to_string(),
        key(known, "dest_workload_name").to_string(),
    );
    let hours_a = &t.edges[&(
        "prod-eu-west-1".to_string(),
        pair.0.clone(),
        pair.1.clone(),
        "Tcp".to_string(),
    )];
    assert!(hours_a.len() as u64 >= 24 * 30, "{pair:?} in cluster A all along");
    // Shells: the interactive one uses CPU, the idle one does not; /dev/shm/sh is a shell.
    assert!(expect(INTERACTIVE_SHELL, SHELL_ON_WORKER_NODE) && expect(INTERACTIVE_SHELL, SHELL_ON_WORKER_NODE_CPU));
    assert!(expect(IDLE_SHELL, SHELL_ON_WORKER_NODE) && !expect(IDLE_SHELL, SHELL_ON_WORKER_NODE_CPU));
    assert!(!expect(IDLE_SHELL, PROCESS_NEW_PATH) && !expect(IDLE_SHELL, UNSEEN_PROCESS));
    assert!(expect(SHELL_IN_DEV_SHM, SHELL_ON_WORKER_NODE) && expect(SHELL_IN_DEV_SHM, SHELL_ON_WORKER_NODE_CPU));
    let bash = by_name(s, INTERACTIVE_SHELL, SHELL_ON_WORKER_NODE);
    assert_eq!(key(bash, "process_executable_name"), "bash");
    let pid: i64 = key(bash, "process_pid").parse().expect("a decimal pid");
    assert!(
        t.seen.iter().any(|x| x.2 == "/usr/bin/bash" && x.4 == pid),
        "the labelled pid is bash's"
    );
    // Baseline completeness: full-history nodes and clusters with 31 days (the late nodes'
    // scenarios are not).
    for e in s
        .iter()
        .filter(|e| e.expect_finding && e.expect_baseline_complete.is_some())
    {
        assert_eq!(
            e.expect_baseline_complete,
            Some(e.name != NEW_PATH_ON_LATE_NODE && e.name != MULTI_STAGE_ATTACK),
            "{} {}",
            e.name,
            e.detection
        );
    }
}

#[test]
fn statistical_scenarios_at_five_minute_scrapes() {
    // Scraped every 5 minutes (the demo's interval): 12 scrapes in the window. The oracle has
    // checked every label against the points (generation fails otherwise); here the labels
    // say what each scenario is for.
    let opts = GenerateOptions {
        days: 3,
        interval: Duration::seconds(300),
        ..two_clusters(3, false)
    };
    let (_, run, _) = tap(&opts);
    let s = &run.scenarios;
    let expect = |n: &str, d: &str| by_name(s, n, d).expect_finding;
    let (nine, ten) = (PROCESS_RESOURCE_ANOMALY, PROCESS_RESOURCE_RATIO_ANOMALY);
    assert!(
        expect(PROCESS_CPU_BURST, nine) && expect(PROCESS_CPU_BURST, ten),
        "the miner's burst"
    );
    assert!(
        !expect(PROCESS_RATIO_FLIP, nine) && expect(PROCESS_RATIO_FLIP, ten),
        "only the ratio flips"
    );
    for n in [PROCESS_SHORT_SPIKE, PROCESS_DIURNAL_PEAK, MINER_IN_TMP] {
        assert!(!expect(n, nine) && !expect(n, ten), "{n}: negative control");
    }
    // The burst and the flip are on long-running processes the node ran all along.
    for n in [PROCESS_CPU_BURST, PROCESS_RATIO_FLIP] {
        let e = by_name(s, n, nine);
        assert_eq!(key_columns(nine).len(), e.key.len());
        assert!(!s
            .iter()
            .any(|x| x.detection == UNSEEN_PROCESS && x.expect_finding && x.key == e.key));
    }
}

#[test]
fn benign_shells_fire_every_hour() {
    // Enough application processes that config-sync (busybox sh) runs somewhere.
    let opts = GenerateOptions {
        processes: 40,
        ..two_clusters(3, true)
    };
    let (t, run, _) = tap(&opts);
    let benign: Vec<&Scenario> = run
        .scenarios
        .iter()
        .filter(|s| s.name == BENIGN_SHELL_WORKLOAD)
        .collect();
    assert!(!benign.is_empty(), "busybox sh runs in some config-sync pod");
    for s in &benign {
        if s.detection == SHELL_ON_WORKER_NODE {
            assert!(s.expect_finding, "a live shell always has memory");
        }
        let pid: i64 = key(s, "process_pid").parse().expect("pid");
        assert!(t
            .seen
            .iter()
            .any(|x| x.2 == "/bin/busybox" && x.4 == pid && x.1 == key(s, "k8s_node_name")));
    }
}

/// Points of one shell for the oracle's rule tests.
struct ShellPoints {
    origin: Arc<Origin>,
    cpu: Arc<MetricInfo>,
    util: Arc<MetricInfo>,
    mem: Arc<MetricInfo>,
}

impl ShellPoints {
    fn new(pid: i64) -> ShellPoints {
        let s = |v: &str| AttrValue::Str(v.to_string());
        let info = |name: &str, kind| {
            Arc::new(MetricInfo {
                name: name.to_string(),
                unit: String::new(),
                kind,
                temporality: 2,
                is_monotonic: true,
            })
        };
        ShellPoints {
            origin: Arc::new(Origin {
                resource: vec![
                    ("process.pid".into(), AttrValue::Int(pid)),
                    ("process.executable.name".into(), s("bash")),
                    ("process.executable.path".into(), s("/usr/bin/bash")),
                    ("k8s.node.name".into(), s("n")),
                    ("k8s.cluster.name".into(), s("c")),
                ],
                scope_name: String::new(),
                scope_version: String::new(),
                scope_attributes: Vec::new(),
            }),
            cpu: info("process.cpu.time", MetricKind::Sum),
            util: info("process.cpu.utilization", MetricKind::Gauge),
            mem: info("process.memory.usage", MetricKind::Sum),
        }
    }

    fn point(&self, metric: &Arc<MetricInfo>, start: u64, time: u64, value: f64) -> Point {
        Point {
            origin: self.origin.clone(),
            metric: metric.clone(),
            attributes: if Arc::ptr_eq(metric, &self.mem) {
                Vec::new()
            } else {
                vec![("state".into(), AttrValue::Str("user".into()))]
            },
            start_time_unix_nano: start,
            time_unix_nano: time,
            value: Some(value),
            count: None,
            min: None,
            max: None,
            buckets: None,
            flags: 0,
        }
    }
}

#[test]
fn the_oracle_applies_the_shell_cpu_rule() {
    let end_ns = 100 * DAY;
    let frame = Frame {
        start: end_ns - 2 * DAY,
        end: end_ns,
        interval: 60 * 1_000_000_000,
        days: 2,
    };
    let ws = end_ns - HOUR;
    // (case, points as (metric 0 cpu.time / 1 utilization, start, time, value), cpu-active)
    type Case = (&'static str, Vec<(u8, u64, u64, f64)>, bool);
    let cases: Vec<Case> = vec![
        (
            "flat since long ago",
            vec![(0, 0, ws - 4 * MINUTE, 2.0), (0, 0, ws + MINUTE, 2.0)],
            false,
        ),
        (
            "moves in the window",
            vec![(0, 0, ws + MINUTE, 2.0), (0, 0, ws + 2 * MINUTE, 2.5)],
            true,
        ),
        (
            "moves against a point 4 min before",
            vec![(0, 0, ws - 4 * MINUTE, 2.0), (0, 0, ws + MINUTE, 2.1)],
            true,
        ),
        // The previous point is 6 minutes before the window: it does not count, and the
        // process is old, so the first point in the window is not activity.
        (
            "previous point too old",
            vec![(0, 0, ws - 6 * MINUTE, 2.0), (0, 0, ws + MINUTE, 2.1)],
            false,
        ),
        ("fresh process", vec![(0, ws - 4 * MINUTE, ws + MINUTE, 0.3)], true),
        (
            "fresh process with no CPU",
            vec![(0, ws - 4 * MINUTE, ws + MINUTE, 0.0)],
            false,
        ),
        (
            "started 6 minutes before the window",
            vec![(0, ws - 6 * MINUTE, ws + MINUTE, 0.3)],
            false,
        ),
        (
            "increase before the window only",
            vec![
                (0, 0, ws - 3 * MINUTE, 1.0),
                (0, 0, ws - 2 * MINUTE, 2.0),
                (0, 0, ws + MINUTE, 2.0),
            ],
            false,
        ),
        (
            "utilization above 0",
            vec![
                (0, 0, ws - 30 * MINUTE, 2.0),
                (0, 0, ws + MINUTE, 2.0),
                (1, 0, ws + MINUTE, 0.001),
            ],
            true,
        ),
        ("utilization 0", vec![(1, 0, ws + MINUTE, 0.0)], false),
    ];
    for (pid, (case, pts, active)) in cases.into_iter().enumerate() {
        let sp = ShellPoints::new(pid as i64 + 100);
        let mut points: Vec<Point> = pts
            .iter()
            .map(|(m, start, time, v)| sp.point(if *m == 0 { &sp.cpu } else { &sp.util }, *start, *time, *v))
            .collect();
        // Memory in the window: the non-CPU rule holds for every case.
        points.push(sp.point(&sp.mem, 0, ws + MINUTE, 4096.0));
        let v = verdict_of(&points, frame);
        let k = vec![
            "c".to_string(),
            "n".to_string(),
            (pid + 100).to_string(),
            "bash".to_string(),
        ];
        assert!(
            v.found[SHELL_ON_WORKER_NODE].contains(&k),
            "{case}: memory makes it active"
        );
        assert_eq!(v.found[SHELL_ON_WORKER_NODE_CPU].contains(&k), active, "{case}");
    }
    // Without memory nor CPU in the window, neither rule fires.
    let sp = ShellPoints::new(7);
    let v = verdict_of(&[sp.point(&sp.cpu, 0, ws - 10 * MINUTE, 1.0)], frame);
    assert!(v.found[SHELL_ON_WORKER_NODE].is_empty());
}

#[test]
fn lake_equals_landing_the_json() {
    let (jdir, jsum) = generate_into(&tiny(OutputFormat::OtlpJson, Layout::FileExporter));
    let (ldir, lsum) = generate_into(&tiny(OutputFormat::Lake, Layout::FileExporter));
    assert_eq!(jsum.points, lsum.points);
    assert_eq!(jsum.scenarios, lsum.scenarios);
    let json_ids = ids(&decode_all(&read_tree(jdir.path())).points);
    let mut lake_ids = BTreeSet::new();
    let mut rows = 0;
    let tree = read_tree(ldir.path());
    for (key, bytes) in data_files(&tree) {
        let segs: Vec<&str> = key.split('/').collect();
        assert_eq!(segs.len(), 4, "{key}");
        let partition = crate::lake::HourPartition::parse(segs[1], segs[2]).expect("partition folders");
        assert!(
            segs[0] == "metrics" && segs[3].starts_with("part-") && segs[3].ends_with(".parquet"),
            "{key}"
        );
        let df = ParquetReader::new(Cursor::new(bytes.clone()))
            .finish()
            .expect("parquet");
        rows += df.height();
        let ids = df.column("point_id").expect("point_id").u64().expect("u64").clone();
        lake_ids.extend(ids.into_no_null_iter());
        let times = df.column("time").expect("time").datetime().expect("datetime").clone();
        for us in times.physical().into_no_null_iter() {
            assert_eq!(
                crate::lake::HourPartition::from_micros(us),
                Some(partition),
                "{key}: rows by data time"
            );
        }
    }
    assert_eq!(rows as u64, lsum.points);
    assert_eq!(
        lake_ids, json_ids,
        "the generated lake holds exactly the landed JSON's points"
    );
    assert_eq!(data_files(&tree).count() as u64, lsum.files);
}

#[test]
fn s3_layout_objects_are_single_requests_keyed_by_upload_time() {
    let (jdir, _) = generate_into(&tiny(OutputFormat::OtlpJson, Layout::FileExporter));
    let json_ids = ids(&decode_all(&read_tree(jdir.path())).points);
    let (dir, summary) = generate_into(&tiny(OutputFormat::OtlpJsonGz, Layout::S3Exporter));
    let tree = read_tree(dir.path());
    let mut all = Vec::new();
    for (key, bytes) in data_files(&tree) {
        let segs: Vec<&str> = key.split('/').collect();
        assert_eq!(segs.len(), 6, "{key}");
        let field = |i: usize, name: &str| -> u32 {
            segs[i]
                .strip_prefix(&format!("{name}="))
                .and_then(|v| v.parse().ok())
                .expect("partition field")
        };
        let folder = Utc
            .with_ymd_and_hms(
                field(0, "year") as i32,
                field(1, "month"),
                field(2, "day"),
                field(3, "hour"),
                field(4, "minute"),
                0,
            )
            .single()
            .expect("valid folder time");
        let digits = segs[5]
            .strip_prefix("metrics_")
            .and_then(|r| r.strip_suffix(".json.gz"))
            .expect("object name");
        assert!(digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit()), "{key}");
        let mut sink = VecSink::default();
        let d = crate::ingest::decode(bytes, 1 << 30, &mut sink);
        assert_eq!(d.compression, crate::ingest::Compression::Gzip);
        assert!(sink.rejections.is_empty());
        let latest = sink.points.iter().map(|p| p.time_unix_nano).max().expect("points");
        let uploaded_minute = folder.timestamp_nanos_opt().expect("in range") as u64;
        assert!(
            uploaded_minute + 60_000_000_000 > latest,
            "{key}: uploaded after its data"
        );
        assert!(uploaded_minute < latest + 16_000_000_000, "{key}: soon after");
        all.extend(sink.points);
    }
    assert_eq!(all.len() as u64, summary.points);
    assert_eq!(ids(&all), json_ids, "the layout does not change the points");
}

#[test]
fn protobuf_exports_carry_the_same_points() {
    let (jdir, _) = generate_into(&tiny(OutputFormat::OtlpJson, Layout::FileExporter));
    let json_ids = ids(&decode_all(&read_tree(jdir.path())).points);
    for layout in Layout::ALL {
        let (dir, summary) = generate_into(&tiny(OutputFormat::OtlpProto, layout));
        let tree = read_tree(dir.path());
        assert!(data_files(&tree).all(|(k, _)| k.ends_with(".binpb")));
        let sink = decode_all(&tree);
        assert!(sink.rejections.is_empty(), "{layout}: {:?}", sink.rejections.first());
        assert_eq!(sink.points.len() as u64, summary.points);
        assert_eq!(ids(&sink.points), json_ids, "{layout}");
    }
}

#[test]
fn utilization_metrics_follow_the_collector() {
    let opts = GenerateOptions {
        utilization: true,
        ..tiny(OutputFormat::OtlpJson, Layout::FileExporter)
    };
    let (dir, summary) = generate_into(&opts);
    let sink = decode_all(&read_tree(dir.path()));
    assert!(sink.rejections.is_empty());
    assert_eq!(sink.points.len() as u64, summary.points);
    let of = |name: &str| sink.points.iter().filter(|p| p.metric.name == name).collect::<Vec<_>>();
    let (cpu, mem, virt) = (
        of("process.cpu.utilization"),
        of("process.memory.utilization"),
        of("process.memory.virtual"),
    );
    assert_eq!(mem.len(), virt.len(), "memory utilization on every scrape");
    assert!(cpu.len() % 3 == 0 && !cpu.is_empty());
    // A process's first scrape has no CPU utilization: the late node's first scrape, new
    // processes, restarts.
    assert!(cpu.len() / 3 < mem.len());
    assert!(cpu.iter().all(|p| p.value.is_some_and(|v| (0.0..=1.0).contains(&v))));
    assert!(mem.iter().all(|p| p.value.is_some_and(|v| v > 0.0 && v <= 100.0)));
    assert!(cpu
        .iter()
        .all(|p| p.metric.kind == crate::ingest::model::MetricKind::Gauge));
    let (_, lsum) = generate_into(&GenerateOptions {
        format: OutputFormat::Lake,
        ..opts.clone()
    });
    assert_eq!(lsum.points, summary.points);
}

#[test]
fn options_are_validated() {
    let ok = tiny(OutputFormat::OtlpJson, Layout::FileExporter);
    assert!(validate(&ok).is_ok());
    for bad in [
        GenerateOptions { nodes: 1, ..ok.clone() },
        GenerateOptions {
            clusters: 0,
            ..ok.clone()
        },
        GenerateOptions { days: 1, ..ok.clone() },
        GenerateOptions {
            interval: Duration::milliseconds(500),
            ..ok.clone()
        },
        GenerateOptions {
            interval: Duration::minutes(16),
            ..ok.clone()
        },
        GenerateOptions {
            end: Utc.with_ymd_and_hms(2000, 1, 2, 0, 0, 0).single().expect("valid"),
            ..ok.clone()
        },
    ] {
        assert!(matches!(validate(&bad), Err(GenerateError::Options(_))), "{bad:?}");
    }
    assert_eq!("otlp-json-gz".parse::<OutputFormat>(), Ok(OutputFormat::OtlpJsonGz));
    assert_eq!("s3-exporter".parse::<Layout>(), Ok(Layout::S3Exporter));
    assert!("csv".parse::<OutputFormat>().is_err());
}

#[test]
fn the_detection_finds_exactly_the_expected_scenarios() {
    use crate::detect::{self, DetectOptions};
    let spec = detect::spec::load(None)
        .expect("built-in specs")
        .into_iter()
        .find(|s| s.slug == PROCESS_NEW_PATH)
        .expect("process_new_path spec");
    for opts in [
        GenerateOptions {
            days: 31,
            nodes: 3,
            interval: Duration::seconds(900),
            ..tiny(OutputFormat::Lake, Layout::FileExporter)
        },
        GenerateOptions {
            clusters: 2,
            ..tiny(OutputFormat::Lake, Layout::FileExporter)
        },
    ] {
        let (dir, summary) = generate_into(&opts);
        let lake = Location::open(dir.path().to_str().expect("utf-8"), &StoreOptions::default(), false).expect("lake");
        let run = detect::run(
            &lake,
            &spec,
            &DetectOptions {
                at: Some(opts.end),
                window: None,
                baseline: None,
                splunk_compat: false,
                allowlist: None,
                clock: crate::config::Clock::fixed(opts.end),
                rollups: None,
            },
        )
        .expect("detect");
        let f = &run.findings;
        let col = |name: &str| -> Vec<String> {
            f.column(name)
                .expect("column")
                .str()
                .expect("text")
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect()
        };
        let (clusters, nodes, paths) = (
            col("k8s_cluster_name"),
            col("k8s_node_name"),
            col("process_executable_path"),
        );
        let complete: Vec<bool> = f
            .column("baseline_complete")
            .expect("column")
            .bool()
            .expect("bool")
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect();
        let prevalence: Vec<i64> = f
            .column("cluster_prevalence")
            .expect("column")
            .i64()
            .expect("i64")
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect();
        let found: BTreeSet<(Vec<String>, bool)> = (0..f.height())
            .map(|i| {
                (
                    vec![clusters[i].clone(), nodes[i].clone(), paths[i].clone()],
                    complete[i],
                )
            })
            .collect();
        let expected: BTreeSet<(Vec<String>, bool)> = summary
            .scenarios
            .iter()
            .filter(|s| s.detection == PROCESS_NEW_PATH && s.expect_finding)
            .map(|s| (key_values(s), s.expect_baseline_complete.expect("new-value entry")))
            .collect();
        assert_eq!(found, expected, "days {}: findings = the expected scenarios", opts.days);
        let path_of = |name: &str| {
            key(
                by_name(&summary.scenarios, name, PROCESS_NEW_PATH),
                "process_executable_path",
            )
            .to_string()
        };
        let common = path_of(COMMON_IN_CLUSTER_NEW_ON_NODE);
        let i = (0..f.height()).find(|i| paths[*i] == common).expect("found");
        assert!(prevalence[i] > 0, "common in the cluster");
        let miner = path_of(MINER_IN_TMP);
        let i = (0..f.height()).find(|i| paths[*i] == miner).expect("found");
        assert_eq!(prevalence[i], 0, "new everywhere");
    }
}

/// Throughput measurement until `kubeseen generate` is wired:
/// `KUBESEEN_GEN_OUT=/tmp/x KUBESEEN_GEN_FORMAT=otlp-json-gz KUBESEEN_GEN_SIZE=1x5x30x3 <test binary>
/// generate::tests::bench_generate --ignored --nocapture` (size: clusters×nodes×processes×days).
#[test]
#[ignore = "benchmark; needs KUBESEEN_GEN_OUT"]
fn bench_generate() {
    let Ok(out) = std::env::var("KUBESEEN_GEN_OUT") else {
        return;
    };
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let size: Vec<u32> = var("KUBESEEN_GEN_SIZE", "1x5x30x3")
        .split('x')
        .map(|v| v.parse().expect("a number"))
        .collect();
    let opts = GenerateOptions {
        clusters: size[0],
        nodes: size[1],
        processes: size[2],
        days: size[3],
        interval: Duration::seconds(var("KUBESEEN_GEN_INTERVAL", "60").parse().expect("seconds")),
        end: end(),
        seed: 1,
        format: var("KUBESEEN_GEN_FORMAT", "otlp-json-gz").parse().expect("format"),
        layout: var("KUBESEEN_GEN_LAYOUT", "file-exporter").parse().expect("layout"),
        utilization: false,
    };
    let loc = Location::open(&out, &StoreOptions::default(), true).expect("open output");
    let truth = ground_truth_beside(&out, &loc, &StoreOptions::default()).expect("beside");
    let t = std::time::Instant::now();
    let s = generate(&opts, &loc, &truth, false).expect("generate");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{} {}: {} points, {} files, {:.1} MB in {secs:.2} s = {:.0} points/s",
        opts.format,
        opts.layout,
        s.points,
        s.files,
        s.bytes as f64 / 1e6,
        s.points as f64 / secs
    );
}

#[test]
fn multi_stage_attack_is_labelled_one_incident_and_the_benign_node_none() {
    // The demo's shape and a smaller one: the labels must hold as designed (score 25 each:
    // an incident is ≥ 100 or ≥ 4 distinct detections, the built-in rules).
    for opts in [
        two_clusters(31, false),
        GenerateOptions {
            processes: 12,
            interval: Duration::seconds(300),
            seed: 7,
            ..two_clusters(31, false)
        },
    ] {
        let frame = validate(&opts).expect("valid options");
        let (_, run, _) = tap(&opts);
        let labels = super::risk_truth::labels(
            &run.nodes,
            &run.scenarios,
            &crate::config::fmt_instant(super::model::utc(frame.end)),
        );
        let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, vec![MULTI_STAGE_ATTACK, super::NOISY_BENIGN_NODE]);
        fn detections(l: &super::RiskTruth) -> BTreeSet<&str> {
            l.findings.iter().map(|f| f.detection.as_str()).collect()
        }
        let m = &labels[0];
        assert!(m.expect_incident);
        assert_eq!(m.k8s_cluster_name, run.nodes.last().expect("nodes").k8s_cluster_name);
        assert_eq!(
            detections(m),
            [
                PROCESS_NEW_PATH,
                UNSEEN_PROCESS,
                SHELL_ON_WORKER_NODE,
                SHELL_ON_WORKER_NODE_CPU
            ]
            .into_iter()
            .collect(),
            "every stage is found: {:?}",
            m.findings
        );
        // The miner, bash and kinsing paths, each new on the node.
        for path in ["/tmp/kdevtmpfsi", "/bin/bash", "/var/tmp/.ssh/kinsing"] {
            assert!(
                m.findings
                    .iter()
                    .any(|f| f.key.get("process_executable_path").map(String::as_str) == Some(path)),
                "{path}"
            );
        }
        let b = &labels[1];
        assert!(!b.expect_incident);
        assert!(
            b.findings.len() < 4 && detections(b).len() < 4,
            "the benign node's findings never add up: {:?}",
            b.findings
        );
        assert!(!b.findings.is_empty(), "it is noisy: {:?}", b.findings);
        // Every stage with findings is labelled; the resource spike waits for its family.
        assert_eq!(MULTI_STAGE_STAGES[3], ("resource_spike", &[][..]));
    }
}
