//! process_new_path: window edges, keys, evidence, allowlist, coverage — and the reference.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use kubeseen::detect::{self, allowlist::Allowlist};
use polars::prelude::*;
use proptest::prelude::*;

use crate::common::*;

pub const AT: &str = "2026-11-20T12:00:00Z";

/// The hand-made lake of the golden test: one case per edge the detection must get right.
fn golden_points() -> Vec<P> {
    let at = t(AT);
    let ws = at - hours(1);
    let bs = at - Duration::days(30);
    let us = Duration::microseconds(1);
    let s = Duration::seconds(1);
    let mut v = Vec::new();
    // Nodes n1 and n2 of cluster prod have data from the very start of the baseline.
    for node in ["n1", "n2"] {
        v.push(P::new("prod", node, "/usr/bin/kubelet", 1, bs));
        v.push(P::new("prod", node, "/usr/bin/kubelet", 1, ws + Duration::minutes(5)));
    }
    // 1. Current-window edges: start inclusive (new), end exclusive (not seen at all).
    v.push(P::new("prod", "n1", "/edge/at-window-start", 10, ws));
    v.push(P::new("prod", "n1", "/edge/at-window-end", 11, at));
    // 2. Baseline edges: seen exactly at baseline_start (known), one second before (new).
    v.push(P::new("prod", "n1", "/edge/baseline-start", 12, bs));
    v.push(P::new(
        "prod",
        "n1",
        "/edge/baseline-start",
        12,
        ws + Duration::minutes(1),
    ));
    v.push(P::new("prod", "n1", "/edge/before-baseline", 13, bs - s));
    v.push(P::new(
        "prod",
        "n1",
        "/edge/before-baseline",
        13,
        ws + Duration::minutes(2),
    ));
    // 3. One microsecond before the window belongs to the baseline.
    v.push(P::new("prod", "n1", "/edge/just-before-window", 14, ws - us));
    v.push(P::new(
        "prod",
        "n1",
        "/edge/just-before-window",
        14,
        ws + Duration::minutes(3),
    ));
    // 4. A new pid of a known path: not new (the intent), new in --splunk-compat.
    v.push(P::new("prod", "n1", "/usr/bin/app", 100, bs + Duration::days(3)).metric("process.memory.utilization"));
    v.push(P::new("prod", "n1", "/usr/bin/app", 200, ws + Duration::minutes(10)).metric("process.memory.utilization"));
    // 4b. The SPL's key holds the pid and its presence is process.memory.utilization alone:
    //     the same pid of a utilization-reporting path in both windows is known in both modes;
    //     a kubelet utilization point in the window is new there (its baseline points are
    //     memory.usage only, which the SPL does not read) and known in the intent.
    v.push(P::new("prod", "n1", "/usr/bin/steady", 300, bs + Duration::days(4)).metric("process.memory.utilization"));
    v.push(
        P::new("prod", "n1", "/usr/bin/steady", 300, ws + Duration::minutes(12)).metric("process.memory.utilization"),
    );
    v.push(
        P::new("prod", "n2", "/usr/bin/kubelet", 1, ws + Duration::minutes(13)).metric("process.memory.utilization"),
    );
    // 5. Known on another node of the cluster: new here, prevalence 1.
    v.push(P::new("prod", "n2", "/opt/tool", 30, bs + Duration::days(10)));
    v.push(P::new("prod", "n1", "/opt/tool", 31, ws + Duration::minutes(20)));
    v.push(P::new("prod", "n1", "/opt/tool", 32, ws + Duration::minutes(40)));
    // 6. Same node names in two clusters: known in prod/n1, new in staging/n1.
    v.push(P::new("staging", "n1", "/usr/bin/kubelet", 1, bs));
    v.push(P::new(
        "staging",
        "n1",
        "/usr/bin/kubelet",
        1,
        ws + Duration::minutes(5),
    ));
    v.push(P::new("prod", "n1", "/shared/name", 40, bs + Duration::days(1)));
    v.push(P::new("staging", "n1", "/shared/name", 41, ws + Duration::minutes(30)));
    // 7. A point without a path is not keyed (counted), and a non-process metric is no sighting.
    let mut nopath = P::new("prod", "n1", "/x", 50, ws + Duration::minutes(7));
    nopath.path = None;
    v.push(nopath);
    v.push(P::new("prod", "n1", "/not/a/process/metric", 51, ws + Duration::minutes(8)).metric("system.cpu.time"));
    // 8. Non-ASCII path with spaces.
    v.push(P::new("prod", "n2", "/tmp/été dir/x y", 60, ws + Duration::minutes(9)));
    // 9. A node that joined mid-baseline: everything it runs is new, baseline incomplete.
    v.push(P::new("prod", "n3", "/usr/bin/kubelet", 1, at - Duration::days(2)));
    v.push(P::new("prod", "n3", "/usr/bin/late", 70, ws + Duration::minutes(11)));
    v
}

fn run_golden(l: &TestLake, compat: bool, allowlist: Option<Allowlist>) -> detect::Run {
    let mut o = opts(AT);
    o.splunk_compat = compat;
    o.allowlist = allowlist;
    detect::run(&l.lake, &spec(), &o).expect("detect")
}

pub fn golden_lake() -> TestLake {
    let l = TestLake::new();
    let pts = golden_points();
    l.land("golden.jsonl", &pts);
    // The duplicated export adds nothing.
    let r = l.land("golden-again.jsonl", &pts);
    assert_eq!(r.points_landed, 0);
    l
}

#[test]
fn window_edges_keys_and_evidence() {
    let l = golden_lake();
    let run = run_golden(&l, false, None);
    let k = keys(&run.findings);
    let want: Vec<(String, String, String)> = [
        ("prod", "n1", "/edge/at-window-start"),
        ("prod", "n1", "/edge/before-baseline"),
        ("prod", "n1", "/opt/tool"),
        ("prod", "n2", "/tmp/été dir/x y"),
        ("prod", "n3", "/usr/bin/late"),
        ("staging", "n1", "/shared/name"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(k, want);

    let row = |path: &str| -> usize {
        let c = run
            .findings
            .column("process_executable_path")
            .expect("c")
            .str()
            .expect("s")
            .clone();
        let i = c.iter().position(|p| p == Some(path)).expect("row");
        i
    };
    let get = |c: &str, i: usize| run.findings.column(c).expect(c).get(i).expect("cell").into_static();
    let tool = row("/opt/tool");
    assert_eq!(get("samples", tool), AnyValue::Int64(2));
    assert_eq!(get("cluster_prevalence", tool), AnyValue::Int64(1));
    assert_eq!(get("baseline_complete", tool), AnyValue::Boolean(true));
    assert_eq!(
        get("message", tool).get_str(),
        Some("Kubernetes Process Running From New Path on host n1")
    );
    assert_eq!(get("risk_score", tool), AnyValue::Int64(25));
    let pids = run
        .findings
        .column("process_pids")
        .expect("pids")
        .get(tool)
        .expect("cell");
    assert_eq!(
        pids.to_string(),
        AnyValue::List(Series::new("".into(), [31i64, 32])).to_string()
    );
    let late = row("/usr/bin/late");
    assert_eq!(get("baseline_complete", late), AnyValue::Boolean(false));
    assert_eq!(get("cluster_prevalence", late), AnyValue::Int64(0));
    assert_eq!(run.incomplete_nodes.len(), 1);
    assert_eq!(run.incomplete_nodes[0].k8s_node_name, "n3");
    assert_eq!(run.unkeyed_current.get("missing process_executable_path"), Some(&1));
    // Points read are counted, not guessed: presence points of each window.
    let (at, ws, bs) = (t(AT), t(AT) - hours(1), t(AT) - Duration::days(30));
    let count = |from, to| {
        golden_points()
            .iter()
            .filter(|p| p.metric.starts_with("process.") && p.time >= from && p.time < to)
            .count() as i64
    };
    assert_eq!(run.scanned.current_points, count(ws, at));
    assert_eq!(run.scanned.baseline_points, count(bs, ws));
    let shared = row("/shared/name");
    assert_eq!(get("k8s_cluster_name", shared).get_str(), Some("staging"));
    assert_eq!(
        get("cluster_prevalence", shared),
        AnyValue::Int64(0),
        "prevalence stays inside the cluster"
    );

    // Contract columns and types.
    for (c, dt) in [
        ("detection_id", DataType::String),
        ("detection", DataType::String),
        (
            "window_start",
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        ),
        (
            "window_end",
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        ),
        (
            "baseline_start",
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        ),
        ("k8s_cluster_name", DataType::String),
        ("k8s_node_name", DataType::String),
        ("process_executable_path", DataType::String),
        ("host_name", DataType::String),
        ("process_executable_name", DataType::String),
        ("process_pids", DataType::List(Box::new(DataType::Int64))),
        (
            "first_seen",
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        ),
        (
            "last_seen",
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        ),
        ("samples", DataType::Int64),
        ("baseline_complete", DataType::Boolean),
        ("risk_score", DataType::Int64),
        ("message", DataType::String),
    ] {
        assert_eq!(
            run.findings.column(c).unwrap_or_else(|_| panic!("column {c}")).dtype(),
            &dt,
            "{c}"
        );
    }
}

#[test]
fn golden_findings_file() {
    let l = golden_lake();
    assert_golden(&run_golden(&l, false, None));
    assert_golden(&run_golden(&l, true, None));
}

#[test]
fn splunk_compat_keys_on_pid_and_utilization_only() {
    let l = golden_lake();
    let run = run_golden(&l, true, None);
    let k = keys(&run.findings);
    assert_eq!(
        k,
        vec![
            ("prod".into(), "n1".into(), "/usr/bin/app".into()),
            ("prod".into(), "n2".into(), "/usr/bin/kubelet".into()),
        ],
        "only the utilization metric counts (in the baseline too), and the new pid is new; \
         the same pid on a known path is not"
    );
    assert_eq!(
        run.logic.key,
        [
            "host_name",
            "k8s_cluster_name",
            "k8s_node_name",
            "process_pid",
            "process_executable_name",
            "process_executable_path"
        ],
        "the SPL's key"
    );
    let rows = kubeseen::report::rows_json(&run.findings);
    let by_path = |p: &str| {
        rows.iter()
            .find(|r| r["process_executable_path"] == p)
            .unwrap_or_else(|| panic!("{p}"))
    };
    let app = by_path("/usr/bin/app");
    assert_eq!(
        app["process_pid"], 200,
        "pid in the key: the new pid, not the baseline's 100"
    );
    assert_eq!(app["host_name"], "n1");
    assert_eq!(app["samples"], 1);
    let kubelet = by_path("/usr/bin/kubelet");
    assert_eq!(
        (kubelet["process_pid"].clone(), kubelet["samples"].clone()),
        (serde_json::json!(1), serde_json::json!(1)),
        "one utilization point; kubelet's memory.usage points in the window are not samples"
    );
    assert_eq!(
        kubelet["first_seen"], "2026-11-20T11:13:00Z",
        "the utilization point, not the earlier memory.usage one"
    );
}

#[test]
fn rerun_is_identical_and_replaces_its_findings() {
    let l = golden_lake();
    let a = run_golden(&l, false, None);
    let b = run_golden(&l, false, None);
    assert!(
        a.findings.equals_missing(&b.findings),
        "same lake + same --at → same rows in the same order"
    );
    let (w1, _) = kubeseen::report::write(&l.lake, &a, &[]).expect("write");
    let (w2, _) = kubeseen::report::write(&l.lake, &b, &[]).expect("write");
    assert_eq!(w1.findings, w2.findings);
    let dir = l.path().join("findings/detection=process_new_path/date=2026-11-20");
    let files: Vec<_> = std::fs::read_dir(&dir).expect("findings dir").flatten().collect();
    assert_eq!(files.len(), 1, "one file per window");
    let mut args = ScanArgsParquet::default();
    args.hive_options.enabled = Some(false);
    let back = LazyFrame::scan_parquet(PlRefPath::new(files[0].path().display().to_string()), args)
        .expect("scan")
        .collect()
        .expect("read");
    assert_eq!(back.schema(), a.findings.schema());
    assert!(back.equals_missing(&a.findings), "{back:?}\n{:?}", a.findings);
}

#[test]
fn allowlist_suppresses_counts_and_expires() {
    let l = golden_lake();
    let rules = r#"
[[rule]]
name = "ops-tools"
reason = "ops tooling rolled out by hand"
expires = "2026-11-20"
[rule.match]
process_executable_path = "/opt/*"
k8s_cluster_name = "prod"
"#;
    let a = Allowlist::parse("allow.toml", rules).expect("parse");
    let run = run_golden(&l, false, Some(a.clone()));
    assert_eq!(run.findings.height(), 5);
    assert_eq!(run.suppressed.len(), 1);
    assert_eq!(run.suppressed[0].rule, "ops-tools");
    // The same rule, expired before the window's end: nothing suppressed, and it says so.
    let expired = Allowlist::parse("allow.toml", &rules.replace("2026-11-20", "2026-11-19")).expect("parse");
    let run = run_golden(&l, false, Some(expired));
    assert_eq!((run.findings.height(), run.suppressed.len()), (6, 0));
    assert_eq!(run.expired_rules, vec!["ops-tools".to_string()]);
}

#[test]
fn bad_windows_and_empty_lakes_are_clear_errors() {
    let l = TestLake::new();
    let err = detect::run(&l.lake, &spec(), &opts(AT))
        .err()
        .expect("empty lake")
        .to_string();
    assert!(err.contains("no landed points"), "{err}");
    l.land("x.jsonl", &[P::new("c", "n", "/a", 1, t("2026-11-01T00:00:00Z"))]);
    let mut o = opts("2031-01-01T00:00:00Z");
    let err = detect::run(&l.lake, &spec(), &o).err().expect("future").to_string();
    assert!(err.contains("in the future"), "{err}");
    o = opts(AT);
    o.window = Some(Duration::days(31));
    let err = detect::run(&l.lake, &spec(), &o)
        .err()
        .expect("window > baseline")
        .to_string();
    assert!(err.contains("shorter than the baseline"), "{err}");
    // No data in the window: an empty result that says why.
    let run = detect::run(&l.lake, &spec(), &opts(AT)).expect("run");
    assert_eq!(run.findings.height(), 0);
    assert!(
        run.warnings.iter().any(|w| w.contains("no data in the current window")),
        "{:?}",
        run.warnings
    );
}

#[test]
fn corrupt_parquet_is_named() {
    let l = TestLake::new();
    l.land("x.jsonl", &[P::new("c", "n", "/a", 1, t("2026-11-20T11:30:00Z"))]);
    let bad = l.path().join("metrics/date=2026-11-20/hour=11/part-garbage.parquet");
    std::fs::write(&bad, b"PAR1 this is not parquet PAR1").expect("write");
    let err = detect::run(&l.lake, &spec(), &opts(AT))
        .err()
        .expect("corrupt")
        .to_string();
    assert!(err.contains("part-garbage.parquet"), "{err}");
}

#[test]
fn rollups_are_used_for_whole_hours_and_ignored_when_stale() {
    let l = golden_lake();
    compact(&l);
    let mut o = opts(AT);
    o.rollups = Some(shape());
    let with = detect::run(&l.lake, &spec(), &o).expect("with rollups");
    assert!(with.scanned.rollup_hours > 0);
    o.rollups = None;
    let raw = detect::run(&l.lake, &spec(), &o).expect("raw");
    assert!(with.findings.equals_missing(&raw.findings));
    // Late data into a baseline hour that has a rollup: that rollup no longer matches the
    // hour's files, so that hour is read raw, and the late sighting counts.
    let late = P::new("prod", "n1", "/opt/tool", 33, t(AT) - Duration::days(2));
    l.land("late.jsonl", &[late]);
    o.rollups = Some(shape());
    let after = detect::run(&l.lake, &spec(), &o).expect("after late data");
    assert_eq!(after.scanned.rollup_hours, with.scanned.rollup_hours - 1);
    assert!(
        !keys(&after.findings).iter().any(|k| k.2 == "/opt/tool"),
        "the late sighting makes /opt/tool known"
    );
    // A rollup of another layout version or column set is never read.
    let mut other = shape();
    other.columns.push("k8s_pod_name".into());
    o.rollups = Some(other);
    assert_eq!(
        detect::run(&l.lake, &spec(), &o)
            .expect("other shape")
            .scanned
            .rollup_hours,
        0
    );
}

#[test]
fn time_predicate_reaches_the_parquet_scan() {
    let l = golden_lake();
    let spec = spec();
    let logic = detect::plan::Logic::of(&spec, false);
    let w = detect::plan::Window::ending_at(t(AT), hours(1), Duration::days(30));
    let files = kubeseen::lake::parts_between(&l.lake, w.baseline_start, w.start).expect("list");
    let paths: Vec<PlRefPath> = files.iter().map(|f| PlRefPath::new(l.lake.scan_path(&f.key))).collect();
    let mut args = ScanArgsParquet::default();
    args.hive_options.enabled = Some(false);
    let scan = LazyFrame::scan_parquet_files(paths.into_iter().collect(), args).expect("scan");
    let plan = detect::plan::baseline_presence(scan, &logic, &w)
        .describe_optimized_plan()
        .expect("plan");
    // The filter sits on the scan (SELECTION), not above it, and only the needed columns are read.
    let scan_part = plan
        .split("Parquet SCAN")
        .nth(1)
        .unwrap_or_else(|| panic!("a parquet scan in:\n{plan}"));
    assert!(
        scan_part.contains("SELECTION") && scan_part.contains("time"),
        "predicate not pushed to the scan:\n{plan}"
    );
    assert!(!plan.contains("attributes"), "projection pushed down:\n{plan}");
    // Partition pruning: only partitions overlapping the baseline are listed.
    assert!(files
        .iter()
        .all(|f| f.partition.start() + hours(1) > w.baseline_start && f.partition.start() < w.start));
}

// ---- The reference: a plain anti-join written independently of the engine, with every
// evidence column (samples, first/last seen, pids, node_first_seen, cluster_prevalence,
// cluster_first_seen, baseline_complete). ----

type Key = (String, String, String);

#[derive(Debug, PartialEq)]
struct RefFinding {
    samples: i64,
    first_us: i64,
    last_us: i64,
    pids: BTreeSet<i64>,
    /// The node's earliest keyed baseline point.
    node_first_us: Option<i64>,
    /// Other nodes of the cluster that ran the path in the baseline, and the earliest of those.
    cluster_prevalence: i64,
    cluster_first_us: Option<i64>,
    /// The node's history reaches back to within one window length of the baseline's start.
    baseline_complete: bool,
}

fn reference(points: &[P], at: chrono::DateTime<chrono::Utc>) -> BTreeMap<Key, RefFinding> {
    let (ws, bs) = (
        (at - hours(1)).timestamp_micros(),
        (at - Duration::days(30)).timestamp_micros(),
    );
    let at = at.timestamp_micros();
    let key = |p: &P| -> Option<Key> {
        let (c, n, path) = (p.cluster.clone()?, p.node.clone()?, p.path.clone()?);
        (!c.is_empty() && !n.is_empty() && !path.is_empty() && p.metric.starts_with("process.")).then_some((c, n, path))
    };
    let mut baseline = BTreeSet::new();
    let mut node_first: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut path_first: BTreeMap<(String, String), BTreeMap<String, i64>> = BTreeMap::new();
    for p in points {
        let us = p.time.timestamp_micros();
        if let Some(k) = key(p) {
            if us >= bs && us < ws {
                let n = node_first.entry((k.0.clone(), k.1.clone())).or_insert(us);
                *n = (*n).min(us);
                let f = path_first
                    .entry((k.0.clone(), k.2.clone()))
                    .or_default()
                    .entry(k.1.clone())
                    .or_insert(us);
                *f = (*f).min(us);
                baseline.insert(k);
            }
        }
    }
    let mut out: BTreeMap<Key, RefFinding> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for p in points {
        let us = p.time.timestamp_micros();
        let Some(k) = key(p) else { continue };
        if us < ws || us >= at || baseline.contains(&k) {
            continue;
        }
        // Duplicated points (same content) are landed once.
        if !seen.insert((k.clone(), p.pid, us, p.metric.clone())) {
            continue;
        }
        let node_first_us = node_first.get(&(k.0.clone(), k.1.clone())).copied();
        let others: Vec<i64> = path_first
            .get(&(k.0.clone(), k.2.clone()))
            .map(|by_node| by_node.iter().filter(|(n, _)| **n != k.1).map(|(_, t)| *t).collect())
            .unwrap_or_default();
        let f = out.entry(k).or_insert(RefFinding {
            samples: 0,
            first_us: i64::MAX,
            last_us: i64::MIN,
            pids: BTreeSet::new(),
            node_first_us,
            cluster_prevalence: others.len() as i64,
            cluster_first_us: others.iter().min().copied(),
            baseline_complete: node_first_us.is_some_and(|t| t < bs + (at - ws)),
        });
        f.samples += 1;
        f.first_us = f.first_us.min(us);
        f.last_us = f.last_us.max(us);
        f.pids.insert(p.pid);
    }
    out
}

fn engine(run: &detect::Run) -> BTreeMap<Key, RefFinding> {
    let df = &run.findings;
    let mut out = BTreeMap::new();
    let ks = keys(df);
    let us = |c: &str, i: usize| match df.column(c).expect(c).get(i).expect("cell") {
        AnyValue::Datetime(v, _, _) | AnyValue::DatetimeOwned(v, _, _) => v,
        other => panic!("{c}: {other:?}"),
    };
    let opt_us = |c: &str, i: usize| match df.column(c).expect(c).get(i).expect("cell") {
        AnyValue::Null => None,
        AnyValue::Datetime(v, _, _) | AnyValue::DatetimeOwned(v, _, _) => Some(v),
        other => panic!("{c}: {other:?}"),
    };
    // keys() sorts; look each row up by its own key.
    let s = |c: &str, i: usize| {
        df.column(c)
            .expect(c)
            .get(i)
            .expect("row")
            .get_str()
            .unwrap_or("")
            .to_string()
    };
    for i in 0..df.height() {
        let k = (
            s("k8s_cluster_name", i),
            s("k8s_node_name", i),
            s("process_executable_path", i),
        );
        let pids: BTreeSet<i64> = match df.column("process_pids").expect("pids").get(i).expect("cell") {
            AnyValue::List(l) => l.i64().expect("i64").into_no_null_iter().collect(),
            other => panic!("{other:?}"),
        };
        let samples = match df.column("samples").expect("s").get(i).expect("cell") {
            AnyValue::Int64(v) => v,
            other => panic!("{other:?}"),
        };
        out.insert(
            k,
            RefFinding {
                samples,
                first_us: us("first_seen", i),
                last_us: us("last_seen", i),
                pids,
                node_first_us: opt_us("node_first_seen", i),
                cluster_prevalence: match df.column("cluster_prevalence").expect("c").get(i).expect("cell") {
                    AnyValue::Int64(v) => v,
                    other => panic!("cluster_prevalence: {other:?}"),
                },
                cluster_first_us: opt_us("cluster_first_seen", i),
                baseline_complete: match df.column("baseline_complete").expect("c").get(i).expect("cell") {
                    AnyValue::Boolean(v) => v,
                    other => panic!("baseline_complete: {other:?}"),
                },
            },
        );
    }
    assert_eq!(ks.len(), out.len(), "one row per key");
    out
}

fn arb_points() -> impl Strategy<Value = (Vec<P>, i64)> {
    // Times are offsets from a base hour, concentrated on the edges that matter.
    let base = t("2026-10-01T00:00:00Z");
    let at_hours = 31 * 24 + 5i64;
    let edge_offsets = move |at_off: i64| {
        let h = 3_600_000_000i64;
        let d = 24 * h;
        vec![
            at_off - h,
            at_off - h - 1,
            at_off - h + 1,
            at_off - 1,
            at_off,
            at_off - 30 * d,
            at_off - 30 * d - 1,
            at_off - 30 * d + 1,
            at_off - 30 * d - 1_000_000,
        ]
    };
    (
        0i64..3,
        prop::collection::vec(
            (
                0usize..2,
                0usize..3,
                0usize..5,
                1i64..4,
                0usize..12,
                0i64..3_600_000_000,
                any::<bool>(),
                0usize..10,
            ),
            1..60,
        ),
    )
        .prop_map(move |(at_shift, raw)| {
            let at_off = (at_hours + at_shift) * 3_600_000_000 + if at_shift == 2 { 1_234_567 } else { 0 };
            let edges = edge_offsets(at_off);
            let pts = raw
                .into_iter()
                .map(|(c, n, p, pid, which, rnd, dup_metric, odd)| {
                    let off = if which < edges.len() {
                        edges[which]
                    } else {
                        at_off - 40 * 24 * 3_600_000_000 + rnd * 24 * 45
                    };
                    let time = base + Duration::microseconds(off);
                    let mut pt = P::new(
                        ["c1", "c2"][c],
                        ["n1", "n2", "n3"][n],
                        ["/a", "/b", "/c d", "/é", ""][p],
                        pid,
                        time,
                    );
                    if dup_metric {
                        pt = pt.metric("process.cpu.time");
                    }
                    match odd {
                        0 => pt.path = None,
                        1 => pt = pt.metric("system.cpu.time"),
                        2 => pt.node = None,
                        _ => {}
                    }
                    pt
                })
                .collect();
            (pts, at_off)
        })
}

fn shape() -> kubeseen::lake::rollup::RollupShape {
    detect::spec::rollup_shape(&detect::spec::load(None).expect("specs"))
}

fn compact(l: &TestLake) {
    let (parts, _) = kubeseen::lake::list_parts(&l.lake).expect("list");
    kubeseen::lake::rollup::compact(&l.lake, &shape(), &parts).expect("compact");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    /// Rollups for whole hours, raw points for partial hours and for hours whose rollup went
    /// stale when late data landed: the same answer as the plain anti-join, for any --at.
    #[test]
    fn rollups_with_late_data_equal_the_plain_anti_join((points, at_off) in arb_points(), late_split in 0usize..60) {
        let at = t("2026-10-01T00:00:00Z") + Duration::microseconds(at_off);
        let l = TestLake::new();
        let split = late_split.min(points.len());
        l.land("early.jsonl", &points[..split]);
        compact(&l);
        l.land("late.jsonl", &points[split..]);
        let mut o = opts(AT);
        o.at = Some(at);
        o.rollups = Some(shape());
        let with = detect::run(&l.lake, &spec(), &o).expect("detect with rollups");
        prop_assert_eq!(engine(&with), reference(&points, at));
        o.rollups = None;
        let raw = detect::run(&l.lake, &spec(), &o).expect("detect raw");
        prop_assert!(with.findings.equals_missing(&raw.findings), "rollup and raw findings differ");
        prop_assert_eq!(with.scanned.baseline_points, raw.scanned.baseline_points);
        prop_assert_eq!(&with.unkeyed_baseline, &raw.unkeyed_baseline);
    }

    #[test]
    fn engine_equals_the_plain_anti_join((points, at_off) in arb_points()) {
        let at = t("2026-10-01T00:00:00Z") + Duration::microseconds(at_off);
        let l = TestLake::new();
        l.land("p.jsonl", &points);
        let mut o = opts(AT);
        o.at = Some(at);
        let run = detect::run(&l.lake, &spec(), &o).expect("detect");
        prop_assert_eq!(engine(&run), reference(&points, at));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    /// Backfill's single pass decides exactly which windows have findings: every window it
    /// clears has none when run on its own, and every window it keeps has some — with rollups
    /// for part of the hours and raw points for the rest.
    #[test]
    fn single_pass_finds_exactly_the_windows_with_findings((points, _) in arb_points(), late_split in 0usize..60) {
        let l = TestLake::new();
        let split = late_split.min(points.len());
        l.land("early.jsonl", &points[..split]);
        compact(&l);
        l.land("late.jsonl", &points[split..]);
        let last = t("2026-10-01T00:00:00Z") + hours(31 * 24 + 8);
        let ends: Vec<_> = (0..40).map(|i| last - hours(i)).collect();
        let mut o = opts(AT);
        o.rollups = Some(shape());
        let found = detect::windows_with_new_keys(&l.lake, &spec(), &o, &ends).expect("single pass").expect("aligned windows");
        for end in &ends {
            o.at = Some(*end);
            let run = detect::run(&l.lake, &spec(), &o).expect("detect");
            prop_assert_eq!(run.findings.height() > 0, found.contains(end), "window ending {}", end);
            if run.findings.height() == 0 {
                let empty = detect::empty_findings(&spec(), &o, *end).expect("empty");
                prop_assert_eq!(empty.findings.schema(), run.findings.schema());
            }
        }
    }
}
