//! Landing: real samples, idempotency, bad input, the lake's shape.

use std::io::Write;

use crate::common::*;
use polars::prelude::*;

fn samples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples")
}

/// OTLP-YAML (the samples' rendering of OTLP/JSON) → compact OTLP/JSON, with every timestamp
/// moved from the test harness's 1970 values to `base_ns` + the original offset.
fn yaml_to_json(name: &str, base_ns: Option<u64>) -> String {
    let text = std::fs::read_to_string(samples().join(name)).expect("sample");
    let mut v: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
    fn shift(v: &mut serde_json::Value, base: u64) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "timeUnixNano" || k == "startTimeUnixNano" {
                        if let Some(n) = x.as_str().and_then(|s| s.parse::<u64>().ok()) {
                            *x = serde_json::Value::String((base + n).to_string());
                        }
                    } else {
                        shift(x, base);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| shift(x, base)),
            _ => {}
        }
    }
    if let Some(b) = base_ns {
        shift(&mut v, b);
    }
    v.to_string()
}

#[test]
fn proto_example_sample_lands_every_point() {
    let l = TestLake::new();
    let r = land_files(
        &l.lake,
        &[samples()
            .join("opentelemetry-proto__metrics.json")
            .display()
            .to_string()],
    );
    assert_eq!(r.points_read, 4, "{r:?}");
    assert_eq!(r.points_landed, 4);
    assert_eq!(r.points_read, r.points_landed + r.points_duplicate + r.points_rejected);
    let df = read_lake(&l.path());
    assert_eq!(df.height(), 4);
    let kinds: Vec<String> = df
        .column("metric_type")
        .expect("col")
        .str()
        .expect("str")
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    for k in ["sum", "gauge", "histogram", "exponential_histogram"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    // Partitioned by the points' own time: 2018-12-13 14:51 UTC.
    assert!(l.path().join("metrics/date=2018-12-13/hour=14").is_dir());
}

#[test]
fn process_scraper_sample_accounts_for_every_point() {
    let l = TestLake::new();
    // As published: the harness's 1970 timestamps are absurd and rejected, but counted.
    let raw = l.dir.path().join("process.json");
    std::fs::write(
        &raw,
        yaml_to_json("opentelemetry-collector-contrib__expected_process.yaml", None),
    )
    .expect("write");
    let r = land_files(&l.lake, &[raw.display().to_string()]);
    assert_eq!(r.points_read, 10);
    assert_eq!(r.points_landed, 0);
    assert_eq!(r.points_rejected_by_reason.get("time_before_2000"), Some(&10));
    assert_eq!(r.points_read, r.points_landed + r.points_duplicate + r.points_rejected);
    assert_eq!(r.files_with_rejections, 1);
    let rejects = std::fs::read_dir(l.path().join("_kubeseen/rejects"))
        .expect("rejects folder")
        .count();
    assert_eq!(rejects, 1);

    // Moved to 2026: every point lands, with the process attributes promoted.
    let moved = l.dir.path().join("process-2026.json");
    std::fs::write(
        &moved,
        yaml_to_json(
            "opentelemetry-collector-contrib__expected_process.yaml",
            Some(1_790_000_000_000_000_000),
        ),
    )
    .expect("write");
    let r = land_files(&l.lake, &[moved.display().to_string()]);
    assert_eq!((r.points_read, r.points_landed, r.points_rejected), (10, 10, 0));
    let df = read_lake(&l.path());
    let paths: std::collections::BTreeSet<String> = df
        .column("process_executable_path")
        .expect("col")
        .str()
        .expect("str")
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    // The second process of the real capture reports its path as plain "sleep".
    assert_eq!(
        paths.into_iter().collect::<Vec<_>>(),
        vec!["/bin/sleep".to_string(), "sleep".to_string()]
    );
    let pids: Vec<i64> = df
        .column("process_pid")
        .expect("pid")
        .i64()
        .expect("i64")
        .into_no_null_iter()
        .collect();
    assert!(pids.contains(&95041));
    let attrs = df
        .column("attributes")
        .expect("attrs")
        .str()
        .expect("str")
        .get(0)
        .expect("row")
        .to_string();
    assert!(attrs.contains("process.parent_pid"), "{attrs}");
}

#[test]
fn splunk_chart_sample_promotes_point_level_k8s_attributes() {
    let l = TestLake::new();
    let f = l.dir.path().join("host.json");
    std::fs::write(
        &f,
        yaml_to_json(
            "splunk-otel-collector-chart__expected_host_metrics.yaml",
            Some(1_790_000_000_000_000_000),
        ),
    )
    .expect("write");
    let r = land_files(&l.lake, &[f.display().to_string()]);
    assert!(r.points_read > 100, "{r:?}");
    assert_eq!(r.points_read, r.points_landed + r.points_duplicate + r.points_rejected);
    let df = read_lake(&l.path());
    let nodes = df.column("k8s_node_name").expect("col").str().expect("str").clone();
    assert!(
        nodes.iter().all(|n| n == Some("kind-control-plane")),
        "k8s.node.name sits on the points here"
    );
    let clusters = df.column("k8s_cluster_name").expect("col").str().expect("str").clone();
    assert!(clusters.iter().all(|n| n == Some("dev-operator")));
}

#[test]
fn landing_twice_under_another_name_and_compression_adds_nothing() {
    let l = TestLake::new();
    let pts: Vec<P> = (0..50)
        .map(|i| {
            P::new(
                "c",
                "n1",
                "/usr/bin/a",
                10 + i,
                t("2026-11-20T10:00:00Z") + hours(i % 5),
            )
        })
        .collect();
    let r1 = l.land("a.jsonl", &pts);
    assert_eq!(r1.points_landed, 50);
    let files_before = walk(&l.path().join("metrics"));

    // The same export again, gzip-compressed, under another name.
    let gz = l.dir.path().join("other-name.bin");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(otlp_lines(&pts).as_bytes()).expect("gz");
    std::fs::write(&gz, e.finish().expect("gz")).expect("write");
    let r2 = land_files(&l.lake, &[gz.display().to_string()]);
    assert_eq!((r2.points_read, r2.points_landed, r2.points_duplicate), (50, 0, 50));
    assert_eq!(walk(&l.path().join("metrics")), files_before, "no new object");
    assert_eq!(read_lake(&l.path()).height(), 50);

    // A partly overlapping export lands only its new points.
    let mut more = pts[..10].to_vec();
    more.push(P::new("c", "n1", "/usr/bin/b", 99, t("2026-11-20T11:30:00Z")));
    let r3 = l.land("more.jsonl", &more);
    assert_eq!((r3.points_landed, r3.points_duplicate), (1, 10));
    assert_eq!(read_lake(&l.path()).height(), 51);
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn bad_inputs_are_rejected_with_positions_and_the_rest_lands() {
    let l = TestLake::new();
    let good = otlp_lines(&[P::new("c", "n", "/bin/x", 1, t("2026-11-20T10:00:00Z"))]);
    let dir = l.dir.path().join("in");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("good.jsonl"), &good).expect("w");
    std::fs::write(
        dir.join("bad-line.jsonl"),
        format!(
            "{good}{{\"resourceMetrics\": [nope\n{}",
            good.replace("/bin/x", "/bin/y")
        ),
    )
    .expect("w");
    std::fs::write(dir.join("empty.json"), "").expect("w");
    std::fs::write(dir.join("garbage.bin"), [0xffu8, 0x00, 0x13, 0x37, 0x42, 0x99, 0x01]).expect("w");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(good.repeat(100).as_bytes()).expect("gz");
    let gz = e.finish().expect("gz");
    std::fs::write(dir.join("truncated.json.gz"), &gz[..gz.len() / 2]).expect("w");
    std::fs::write(
        dir.join("future.jsonl"),
        otlp_lines(&[P::new("c", "n", "/bin/z", 1, t("2031-01-01T00:00:00Z"))]),
    )
    .expect("w");

    let out = kubeseen(
        &[
            "land",
            "--lake",
            &l.path().display().to_string(),
            "--json",
            &dir.display().to_string(),
        ],
        l.dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit code 3 when some input is rejected; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(r["files_read"], 6);
    assert_eq!(r["files_with_rejections"], 5, "{r:#}");
    let read = r["points_read"].as_u64().expect("n");
    let sum = r["points_landed"].as_u64().expect("n")
        + r["points_duplicate"].as_u64().expect("n")
        + r["points_rejected"].as_u64().expect("n");
    assert_eq!(read, sum, "counts add up");
    assert_eq!(r["points_rejected_by_reason"]["time_in_future"], 1);
    let problems = r["inputs_with_problems"].as_array().expect("array");
    let find = |name: &str| {
        problems
            .iter()
            .find(|p| p["input"].as_str().is_some_and(|i| i.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    let pos = find("bad-line.jsonl")["problems"][0]["position"]
        .as_str()
        .expect("position")
        .to_string();
    assert!(pos.starts_with("line 2, column "), "{pos}");
    assert_eq!(
        find("bad-line.jsonl")["points_landed"],
        2,
        "the good lines around the bad one land"
    );
    assert_eq!(find("empty.json")["problems"][0]["reason"], "empty");
    assert_eq!(find("garbage.bin")["problems"][0]["reason"], "invalid_protobuf");
    assert!(find("truncated.json.gz")["reasons"]["truncated_compression"]
        .as_u64()
        .is_some());
    // The lake holds the good points: /bin/x (deduplicated), /bin/y, and whatever of the
    // truncated gzip decoded whole (all duplicates of /bin/x).
    let df = read_lake(&l.path());
    let mut paths: Vec<String> = df
        .column("process_executable_path")
        .expect("c")
        .str()
        .expect("s")
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    paths.sort();
    assert_eq!(paths, vec!["/bin/x", "/bin/y"]);
    // Each problem input has a rejects record naming it.
    let recs: Vec<String> = walk(&l.path().join("_kubeseen/rejects"))
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect();
    assert_eq!(recs.len(), 5);
    assert!(recs.iter().any(|r| r.contains("garbage.bin")));
}

#[test]
fn landed_files_are_partitioned_by_data_time_and_sorted() {
    let l = TestLake::new();
    let mut pts = Vec::new();
    for (i, node) in ["n2", "n1", "n3"].iter().enumerate() {
        for j in 0..20 {
            pts.push(P::new(
                "c",
                node,
                &format!("/p/{}", 20 - j),
                i as i64 * 100 + j,
                t("2026-11-20T10:00:00Z") + chrono::Duration::seconds(j * 60),
            ));
        }
    }
    l.land("x.jsonl", &pts);
    let files = walk(&l.path().join("metrics"));
    assert_eq!(files.len(), 1);
    assert!(files[0].contains("metrics/date=2026-11-20/hour=10/part-"));
    let df = LazyFrame::scan_parquet(PlRefPath::new(files[0].as_str()), ScanArgsParquet::default())
        .expect("scan")
        .collect()
        .expect("read");
    let nodes: Vec<&str> = df
        .column("k8s_node_name")
        .expect("c")
        .str()
        .expect("s")
        .iter()
        .flatten()
        .collect();
    let mut sorted = nodes.clone();
    sorted.sort();
    assert_eq!(nodes, sorted, "rows sorted by node");
    assert_eq!(
        df.column("time").expect("t").dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    );
}
