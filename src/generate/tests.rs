//! Tests of the generator: determinism, exact counts, format equivalence, and the ground truth
//! checked against a plain re-implementation of the detection over the generated points.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Cursor;
use std::path::Path;

use chrono::TimeZone;
use polars::prelude::{ParquetReader, SerReader};

use super::output::Output;
use super::sim::{NodeSim, DAY, HOUR};
use super::*;
use crate::ingest::model::{AttrValue, Point, VecSink};
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

fn generate_into(opts: &GenerateOptions) -> (tempfile::TempDir, GenerateSummary) {
    let dir = tempfile::tempdir().expect("tempdir");
    let loc = Location::open(
        dir.path().to_str().expect("utf-8 temp path"),
        &StoreOptions::default(),
        true,
    )
    .expect("open output");
    let summary = generate(opts, &loc, false).expect("generate");
    (dir, summary)
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

fn data_files(tree: &BTreeMap<String, Vec<u8>>) -> impl Iterator<Item = (&String, &Vec<u8>)> {
    tree.iter().filter(|(k, _)| k.as_str() != GROUND_TRUTH)
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
}

impl Output for Tap {
    fn scrape(&mut self, node: &NodeSim) -> Result<(), GenerateError> {
        for s in &node.samples {
            let inc = node.slots[s.slot].cur.as_ref().expect("running");
            self.seen.push((
                node.cluster().to_string(),
                node.node().to_string(),
                node.slots[s.slot].exe.path.to_string(),
                s.time_ns,
                inc.pid,
            ));
            self.points += s.points();
        }
        Ok(())
    }
    fn end_node_hour(&mut self, _: &NodeSim, _: u64) -> Result<(), GenerateError> {
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

type Key = (String, String, String);

/// The detection, the plain way: keys of `[end − 1h, end)` absent from `[end − 30d, end − 1h)`,
/// and for each node whether its first baseline sighting is within the baseline's first hour.
fn oracle(seen: &Seen, end_ns: u64) -> (BTreeSet<Key>, HashMap<(String, String), bool>) {
    let (ws, bs) = (end_ns - HOUR, end_ns.saturating_sub(30 * DAY));
    let mut current = BTreeSet::new();
    let mut baseline = BTreeSet::new();
    let mut first: HashMap<(String, String), u64> = HashMap::new();
    for (c, n, p, t, _) in seen {
        assert!(*t < end_ns, "a point at or after the end");
        let key = (c.clone(), n.clone(), p.clone());
        if *t >= ws {
            current.insert(key);
        } else if *t >= bs {
            baseline.insert(key);
            let f = first.entry((c.clone(), n.clone())).or_insert(u64::MAX);
            *f = (*f).min(*t);
        }
    }
    let complete = first.into_iter().map(|(k, f)| (k, f < bs + HOUR)).collect();
    (current.difference(&baseline).cloned().collect(), complete)
}

fn check_ground_truth(seen: &Seen, scenarios: &[Scenario], frame: Frame, opts: &GenerateOptions) {
    let (new, complete) = oracle(seen, frame.end);
    let expected: BTreeSet<Key> = scenarios
        .iter()
        .filter(|s| s.expect_finding)
        .map(|s| {
            (
                s.k8s_cluster_name.clone(),
                s.k8s_node_name.clone(),
                s.process_executable_path.clone(),
            )
        })
        .collect();
    assert_eq!(new, expected, "exactly the expected keys are new in the last hour");
    for s in scenarios.iter().filter(|s| s.expect_finding) {
        let node = (s.k8s_cluster_name.clone(), s.k8s_node_name.clone());
        assert_eq!(
            complete.get(&node).copied().unwrap_or(false),
            s.expect_baseline_complete,
            "{}: baseline completeness",
            s.name
        );
    }
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            MINER_IN_TMP,
            SHELL_IN_DEV_SHM,
            KNOWN_BINARY_UNUSUAL_PATH,
            RETURNS_AFTER_30_DAYS,
            COMMON_IN_CLUSTER_NEW_ON_NODE,
            NEW_PID_KNOWN_PATH,
            NEW_PATH_ON_LATE_NODE
        ]
    );
    let by_name = |n: &str| scenarios.iter().find(|s| s.name == n).expect("scenario listed");
    fn sightings<'a>(
        seen: &'a Seen,
        path: &'a str,
    ) -> impl Iterator<Item = &'a (String, String, String, u64, i64)> + 'a {
        seen.iter().filter(move |(_, _, p, _, _)| p == path)
    }

    // Dropped tools: only on their node, only in the last hour.
    for n in [
        MINER_IN_TMP,
        SHELL_IN_DEV_SHM,
        KNOWN_BINARY_UNUSUAL_PATH,
        NEW_PATH_ON_LATE_NODE,
    ] {
        let s = by_name(n);
        assert!(
            sightings(seen, &s.process_executable_path).count() > 0,
            "{n} is observed"
        );
        for (c, node, _, t, _) in sightings(seen, &s.process_executable_path) {
            assert_eq!(
                (c, node),
                (&s.k8s_cluster_name, &s.k8s_node_name),
                "{n} runs on its node only"
            );
            assert!(*t >= frame.end - HOUR, "{n} runs in the last hour only");
        }
    }
    // Returning path: the earlier sighting exists exactly when the data reaches back to it.
    let r = by_name(RETURNS_AFTER_30_DAYS);
    let early: Vec<u64> = sightings(seen, &r.process_executable_path)
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
    let d = by_name(COMMON_IN_CLUSTER_NEW_ON_NODE);
    let others: BTreeSet<&String> = sightings(seen, &d.process_executable_path)
        .filter(|(c, n, _, t, _)| *c == d.k8s_cluster_name && *n != d.k8s_node_name && *t < frame.end - HOUR)
        .map(|x| &x.1)
        .collect();
    assert_eq!(
        others.len() as u32,
        opts.nodes - 1,
        "node-exporter runs on every other node"
    );
    assert!(sightings(seen, &d.process_executable_path)
        .filter(|x| x.1 == d.k8s_node_name)
        .all(|x| x.3 >= frame.end - HOUR));
    // Restart: two pids of the same path on the node in the last hour, and the path is known.
    let r = by_name(NEW_PID_KNOWN_PATH);
    let pids: BTreeSet<i64> = sightings(seen, &r.process_executable_path)
        .filter(|x| x.0 == r.k8s_cluster_name && x.1 == r.k8s_node_name && x.3 >= frame.end - HOUR)
        .map(|x| x.4)
        .collect();
    assert!(pids.len() >= 2, "the restart gives a new pid: {pids:?}");
    assert!(!r.expect_finding);
    // The late node has no data before it joined.
    let late = by_name(NEW_PATH_ON_LATE_NODE);
    assert!(!late.expect_baseline_complete);
    let first_late = seen
        .iter()
        .filter(|x| x.1 == late.k8s_node_name)
        .map(|x| x.3)
        .min()
        .expect("late node has data");
    assert!(first_late >= frame.late_join());
    for s in scenarios {
        assert_eq!(s.window_end, fmt_instant(opts.end));
        assert_eq!(s.detection, DETECTION);
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
    assert_eq!(summary.ground_truth, format!("{}/{GROUND_TRUTH}", dir.path().display()));

    // Layout: <cluster>/<node>/metrics-YYYYMMDDTHH.jsonl, one request per scrape and line.
    let mut lines = 0;
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
        lines += bytes.iter().filter(|b| **b == b'\n').count();
    }
    // systemd (pid 1) is read once per scrape.
    let scrapes = sink
        .points
        .iter()
        .filter(|p| pid(p) == 1 && p.metric.name == "process.memory.virtual")
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
    assert_eq!(summary.first_point, fmt_instant(output::utc(lo)));
    assert_eq!(summary.last_point, fmt_instant(output::utc(hi)));
    assert!(sink
        .points
        .iter()
        .all(|p| p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano));

    // The pdata marshaler's shape.
    let first_line = data_files(&tree)
        .next()
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
            "process.memory.usage",
            "process.memory.virtual"
        ]
    );
    assert_eq!(metrics[0]["sum"]["aggregationTemporality"], 2);
    assert_eq!(metrics[0]["sum"]["isMonotonic"], true);
    assert!(metrics[0]["sum"]["dataPoints"][0]["asDouble"].is_number());
    assert!(metrics[2]["sum"].get("isMonotonic").is_none(), "false is omitted");
    assert!(metrics[2]["sum"]["dataPoints"][0]["asInt"].is_string());
    assert!(metrics[2]["sum"]["dataPoints"][0]["timeUnixNano"].is_string());

    // Pod processes carry pod attributes, host processes do not; owners may be absent.
    let with_pod = sink
        .points
        .iter()
        .filter(|p| resource(p, "k8s.pod.name").is_some())
        .count();
    assert!(with_pod > 0 && with_pod < sink.points.len());
    assert!(sink.points.iter().any(|p| resource(p, "process.owner").is_none()));
    let paths: BTreeSet<String> = sink.points.iter().map(|p| text(p, "process.executable.path")).collect();
    for p in [
        "/usr/bin/kubelet",
        "/usr/bin/containerd",
        "/usr/bin/containerd-shim-runc-v2",
        "/usr/sbin/sshd",
        "/usr/lib/systemd/systemd-journald",
        "/usr/local/bin/kube-proxy",
        "/usr/bin/find",
        "/usr/sbin/logrotate",
    ] {
        assert!(paths.contains(p), "{p} runs");
    }
}

#[test]
fn ground_truth_and_detection_agree_on_tiny_json_data() {
    let opts = tiny(OutputFormat::OtlpJson, Layout::FileExporter);
    let (dir, summary) = generate_into(&opts);
    let tree = read_tree(dir.path());
    let truth = GroundTruth::from_json(&tree[GROUND_TRUTH]).expect("ground truth parses");
    assert_eq!(truth.scenarios, summary.scenarios);
    assert_eq!(truth.nodes.len(), 2);
    assert_eq!(truth.nodes.iter().filter(|n| n.joined_late).count(), 1);
    assert_eq!(truth.end, fmt_instant(opts.end));
    assert!(
        truth.scenarios.iter().all(|s| !s.expect_baseline_complete),
        "2 days of data never cover a 30-day baseline"
    );
    assert_eq!(
        truth
            .scenarios
            .iter()
            .filter(|s| !s.expect_finding)
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        [NEW_PID_KNOWN_PATH]
    );
    let sink = decode_all(&tree);
    let frame = validate(&opts).expect("valid");
    check_ground_truth(&seen_from_points(&sink.points), &truth.scenarios, frame, &opts);
}

#[test]
fn ground_truth_holds_over_long_baselines() {
    // 37 days: the returning path's early sighting is 35 days back; 31 days: just before the
    // baseline. 3 nodes per cluster and 2 clusters spread the scenarios over several nodes.
    for (days, clusters, nodes) in [(37, 1, 3), (31, 2, 4)] {
        let opts = GenerateOptions {
            days,
            clusters,
            nodes,
            processes: 6,
            interval: Duration::seconds(900),
            ..tiny(OutputFormat::OtlpJson, Layout::FileExporter)
        };
        let (t, run, frame) = tap(&opts);
        assert_eq!(t.points, run.points);
        check_ground_truth(&t.seen, &run.scenarios, frame, &opts);
        let complete: Vec<bool> = run
            .scenarios
            .iter()
            .filter(|s| s.name != NEW_PATH_ON_LATE_NODE)
            .map(|s| s.expect_baseline_complete)
            .collect();
        assert!(
            complete.iter().all(|c| *c),
            "full-history nodes have a complete baseline with {days} days"
        );
        let nodes_used: BTreeSet<&str> = run.scenarios.iter().map(|s| s.k8s_node_name.as_str()).collect();
        assert_eq!(
            nodes_used.len(),
            if clusters == 1 { 3 } else { 7 },
            "scenarios spread over nodes"
        );
    }
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
        .find(|s| s.slug == DETECTION)
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
        let found: BTreeSet<(String, String, String, bool)> = (0..f.height())
            .map(|i| (clusters[i].clone(), nodes[i].clone(), paths[i].clone(), complete[i]))
            .collect();
        let expected: BTreeSet<(String, String, String, bool)> = summary
            .scenarios
            .iter()
            .filter(|s| s.expect_finding)
            .map(|s| {
                (
                    s.k8s_cluster_name.clone(),
                    s.k8s_node_name.clone(),
                    s.process_executable_path.clone(),
                    s.expect_baseline_complete,
                )
            })
            .collect();
        assert_eq!(found, expected, "days {}: findings = the expected scenarios", opts.days);
        let common = summary
            .scenarios
            .iter()
            .find(|s| s.name == COMMON_IN_CLUSTER_NEW_ON_NODE)
            .expect("listed");
        let i = (0..f.height())
            .find(|i| paths[*i] == common.process_executable_path)
            .expect("found");
        assert!(prevalence[i] > 0, "common in the cluster");
        let miner = summary
            .scenarios
            .iter()
            .find(|s| s.name == MINER_IN_TMP)
            .expect("listed");
        let i = (0..f.height())
            .find(|i| paths[*i] == miner.process_executable_path)
            .expect("found");
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
    let t = std::time::Instant::now();
    let s = generate(&opts, &loc, false).expect("generate");
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
