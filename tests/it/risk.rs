//! Risk-based alerting through the real binary: `risk --format json` (the DESIGN contract),
//! cluster qualification vs `--splunk-compat`, and backfill = hourly `detect` runs.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use kubeseen::config::fmt_instant;
use polars::prelude::{ParquetReader, SerReader};
use serde_json::Value;

use crate::common::*;

const AT: &str = "2026-11-20T12:00:00Z";

/// A process sighting of `process.memory.utilization` (counted in both modes).
fn p(cluster: &str, node: &str, path: &str, pid: i64, time: DateTime<Utc>) -> P {
    P::new(cluster, node, path, pid, time).metric("process.memory.utilization")
}

/// Two clusters, each with a node named `n1`, a month of kubelet, and new paths in the last
/// hours: prod/n1 runs /tmp/a (5 h before AT) and /tmp/b (4 h before), stage/n1 /tmp/c (2 h
/// before). Each new path is two findings (process_new_path, unseen_process) of 25.
fn points() -> Vec<P> {
    let at = t(AT);
    let mut v = Vec::new();
    for c in ["prod", "stage"] {
        let mut tt = at - Duration::days(30);
        while tt < at {
            v.push(p(c, "n1", "/usr/bin/kubelet", 100, tt));
            tt += Duration::hours(6);
        }
    }
    v.push(p("prod", "n1", "/tmp/a", 201, at - hours(5) + Duration::minutes(10)));
    v.push(p("prod", "n1", "/tmp/b", 202, at - hours(4) + Duration::minutes(20)));
    v.push(p("stage", "n1", "/tmp/c", 301, at - hours(2) + Duration::minutes(30)));
    v
}

fn run_ok(args: &[&str], cwd: &Path) -> Value {
    let out = kubeseen(args, cwd);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e})"))
}

/// (window_end, incident_uid, risk_object) of every incidents object in a lake.
fn stored_incidents(lake: &Path) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let dir = lake.join("risk/incidents");
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "parquet") {
                let bytes = std::fs::read(&path).expect("read");
                let df = ParquetReader::new(std::io::Cursor::new(bytes))
                    .finish()
                    .expect("incidents parquet");
                for r in kubeseen::report::rows_json(&df) {
                    out.insert((
                        r["window_end"].as_str().unwrap_or("").to_string(),
                        r["incident_uid"].as_str().unwrap_or("").to_string(),
                        r["risk_object"].as_str().unwrap_or("").to_string(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn risk_json_rolls_findings_up_per_cluster_qualified_node_and_backfill_equals_hourly_runs() {
    let from = t(AT) - hours(6);
    let a = TestLake::new();
    a.land("a.jsonl", &points());
    let lake_a = a.path().display().to_string();

    // Backfill the six hours: the risk step evaluates at every window end.
    let b = run_ok(
        &[
            "backfill",
            "--lake",
            &lake_a,
            "--from",
            &fmt_instant(from),
            "--to",
            AT,
            "--format",
            "json",
        ],
        a.dir.path(),
    );
    assert_eq!(b["risk"]["evaluations"], 6, "{}", b["risk"]);

    // `risk --at AT`: prod/n1 has 100 (four findings) — an incident, raised at the window end
    // after /tmp/b (8 h ago) and a suppressed repeat since; stage/n1 has 50.
    let r = run_ok(
        &["risk", "--lake", &lake_a, "--at", AT, "--format", "json"],
        a.dir.path(),
    );
    assert_eq!(r["window_start"], fmt_instant(t(AT) - hours(24)));
    let objects: Vec<(String, i64)> = r["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            (
                o["risk_object"].as_str().unwrap_or("").to_string(),
                o["total_score"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        objects,
        vec![("prod/n1".to_string(), 100), ("stage/n1".to_string(), 50)]
    );
    assert_eq!(
        r["incidents"].as_array().map(Vec::len),
        Some(0),
        "raised earlier: {}",
        r
    );
    let repeats = r["suppressed_repeats"].as_array().expect("repeats");
    assert_eq!(repeats.len(), 1);
    assert_eq!(repeats[0]["risk_object"], "prod/n1");

    // At the end of the hour of /tmp/b the incident is raised, with the contract's fields and
    // its four findings (the findings files' uids) in time order.
    let at_b = fmt_instant(t(AT) - hours(3));
    let r = run_ok(
        &["risk", "--lake", &lake_a, "--at", &at_b, "--format", "json"],
        a.dir.path(),
    );
    let inc = &r["incidents"][0];
    assert_eq!(r["incidents"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(inc["risk_object"], "prod/n1");
    assert_eq!(inc["risk_object_type"], "node");
    assert_eq!(inc["k8s_cluster_name"], "prod");
    assert_eq!(inc["total_score"], 100);
    assert_eq!(inc["rules"], serde_json::json!(["risk_threshold_24h"]));
    let uids: Vec<&str> = inc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(uids.len(), 4);
    let detect = run_ok(
        &[
            "detect",
            "--lake",
            &lake_a,
            "--at",
            &fmt_instant(t(AT) - hours(4)),
            "--format",
            "json",
        ],
        a.dir.path(),
    );
    let mut from_findings: Vec<String> = detect["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .flat_map(|run| run["findings"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["finding_uid"].as_str().map(str::to_string))
        .collect();
    from_findings.sort();
    let times: Vec<&str> = inc["contributions"]
        .as_array()
        .expect("contributions")
        .iter()
        .filter_map(|c| c["time"].as_str())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order: {times:?}");
    assert!(
        from_findings.iter().all(|u| uids.contains(&u.as_str())),
        "the /tmp/b findings are in it"
    );

    // Table and Markdown name the incident too.
    let out = kubeseen(&["risk", "--lake", &lake_a, "--at", &at_b], a.dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INCIDENT node prod/n1 score 100"), "{text}");
    assert!(text.contains("/tmp/b"), "{text}");
    let out = kubeseen(
        &["risk", "--lake", &lake_a, "--at", &at_b, "--format", "markdown"],
        a.dir.path(),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("## Incident: node prod/n1 — score 100"));

    // Hourly: a second lake, one `detect --at` per hour in order; same incidents, same uids.
    let h = TestLake::new();
    h.land("a.jsonl", &points());
    let lake_h = h.path().display().to_string();
    let mut end = from + hours(1);
    while end <= t(AT) {
        run_ok(
            &[
                "detect",
                "--lake",
                &lake_h,
                "--at",
                &fmt_instant(end),
                "--format",
                "json",
            ],
            h.dir.path(),
        );
        end += hours(1);
    }
    let (sa, sh) = (stored_incidents(&a.path()), stored_incidents(&h.path()));
    assert!(!sa.is_empty());
    assert_eq!(sa, sh, "backfill and hourly runs raise the same incidents");

    // --splunk-compat: the bare host.name adds both clusters' n1 up: 150 > 100.
    run_ok(
        &[
            "backfill",
            "--lake",
            &lake_a,
            "--from",
            &fmt_instant(from),
            "--to",
            AT,
            "--format",
            "json",
            "--splunk-compat",
        ],
        a.dir.path(),
    );
    let at_c = fmt_instant(t(AT) - hours(1));
    let r = run_ok(
        &[
            "risk",
            "--lake",
            &lake_a,
            "--at",
            &at_c,
            "--format",
            "json",
            "--splunk-compat",
        ],
        a.dir.path(),
    );
    assert_eq!(r["incidents"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["incidents"][0]["risk_object"], "n1");
    assert_eq!(r["incidents"][0]["risk_object_type"], "system");
    assert_eq!(r["incidents"][0]["total_score"], 150);
    assert_eq!(
        r["incidents"][0]["k8s_cluster_names"],
        serde_json::json!(["prod", "stage"])
    );
    // The intent at the same instant: two objects, prod's incident already raised.
    let r = run_ok(
        &["risk", "--lake", &lake_a, "--at", &at_c, "--format", "json"],
        a.dir.path(),
    );
    assert_eq!(r["objects"].as_array().map(Vec::len), Some(2));
}

#[test]
fn risk_rules_and_flags_are_checked() {
    let l = TestLake::new();
    l.land("a.jsonl", &points());
    let lake = l.path().display().to_string();
    let rules = l.dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(
        rules.join("x.toml"),
        "name = \"x\"\ntitle = \"t\"\ndescription = \"d\"\n[when]\ntotal_scor = { at_least = 1 }\n",
    )
    .expect("write");
    let out = kubeseen(
        &[
            "risk",
            "--lake",
            &lake,
            "--at",
            AT,
            "--rules",
            &rules.display().to_string(),
        ],
        l.dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.toml") && err.contains("total_scor"), "{err}");
    // A malformed duration is a usage error (clap parses it).
    let out = kubeseen(
        &["risk", "--lake", &lake, "--at", AT, "--window", "1 day"],
        l.dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--window"));
    let out = kubeseen(&["risk", "--lake", &lake, "--at", "2031-01-01T00:00:00Z"], l.dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in the future"));
}
