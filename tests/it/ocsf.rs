//! OCSF Detection Findings: every golden finding of every family mapped and checked field by
//! field, every record validated by a real OCSF implementation (py-ocsf-models from PyPI, see
//! scripts/py-env.sh), a broken record rejected by the same validator, and `detect` end to end
//! (files, `--format ocsf`, re-runs replacing their objects).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use kubeseen::detect::spec::{self, Family, Spec};
use kubeseen::lake::keys;
use kubeseen::report::ocsf;
use serde_json::{Map, Value};

use crate::common::*;

static PY_SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// The Python with py-ocsf-models (`KUBESEEN_TEST_PYTHON`, set by scripts/test.sh), or `None`
/// after a visible skip; under `KUBESEEN_REQUIRE_PYTHON` a missing one fails the test.
fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("KUBESEEN_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("an OCSF test");
    assert!(
        std::env::var_os("KUBESEEN_REQUIRE_PYTHON").is_none(),
        "{test}: KUBESEEN_REQUIRE_PYTHON is set but KUBESEEN_TEST_PYTHON is not (scripts/py-env.sh)"
    );
    let n = PY_SKIPPED.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED: {test} (the OCSF validation) needs KUBESEEN_TEST_PYTHON (run scripts/test.sh); {n} Python skip(s) so far"
    );
    None
}

/// Runs tests/python/validate_ocsf.py on `paths`: (exit code, its JSON verdict).
fn validate(py: &Path, paths: &[&Path]) -> (i32, Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/validate_ocsf.py");
    let out = Command::new(py)
        .arg(script)
        .args(paths)
        .output()
        .expect("run the validator");
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "validator printed no verdict: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), verdict)
}

/// Every golden case: (spec, compat, finding row).
fn golden_rows() -> Vec<(Spec, bool, Map<String, Value>)> {
    let specs = spec::load(None).expect("specs");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("goldens")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for f in files {
        let name = f.file_stem().and_then(|s| s.to_str()).expect("name").to_string();
        let (slug, compat) = match name.strip_suffix("-splunk") {
            Some(s) => (s.to_string(), true),
            None => (name.clone(), false),
        };
        let spec = specs
            .iter()
            .find(|s| s.slug == slug)
            .unwrap_or_else(|| panic!("no spec for {name}"))
            .clone();
        for line in std::fs::read_to_string(&f).expect("golden").lines() {
            let row: Value = serde_json::from_str(line).expect("golden row");
            out.push((spec.clone(), compat, row.as_object().expect("object").clone()));
        }
    }
    out
}

fn ms(v: &Value) -> Option<i64> {
    Some(
        chrono::DateTime::parse_from_rfc3339(v.as_str()?)
            .ok()?
            .timestamp_millis(),
    )
}

/// The resource of `type` in a record.
fn resource<'a>(rec: &'a Value, ty: &str) -> Option<&'a Value> {
    rec["resources"].as_array()?.iter().find(|r| r["type"] == ty)
}

/// Checks one record against its row and spec, field by field.
fn check_mapping(spec: &Spec, compat: bool, row: &Map<String, Value>, rec: &Value) {
    let uid = row["finding_uid"].as_str().expect("uid");
    let at = |f: &str| format!("{} {uid}: {f}", spec.slug);
    assert_eq!(rec["class_uid"], 2004, "{}", at("class_uid"));
    assert_eq!(rec["category_uid"], 2, "{}", at("category_uid"));
    assert_eq!(rec["activity_id"], 1, "{}", at("activity_id"));
    assert_eq!(rec["type_uid"], 200401, "{}", at("type_uid"));
    assert_eq!(rec["status_id"], 1, "{}", at("status_id"));
    assert_eq!(rec["metadata"]["version"], "1.5.0", "{}", at("metadata.version"));
    assert_eq!(rec["metadata"]["product"]["name"], "kubeseen");
    assert_eq!(rec["metadata"]["product"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(rec["metadata"]["uid"], uid);
    assert_eq!(rec["metadata"]["correlation_uid"], format!("{}/stem", spec.slug));
    let fi = &rec["finding_info"];
    assert_eq!(fi["uid"], uid, "{}", at("finding_info.uid"));
    assert_eq!(fi["title"], row["message"], "{}", at("finding_info.title"));
    assert_eq!(fi["desc"], spec.description.as_str());
    assert_eq!(fi["analytic"]["uid"], row["detection_id"], "{}", at("analytic.uid"));
    assert_eq!(fi["analytic"]["name"], spec.name.as_str());
    let want_type = match spec.family {
        Family::Rule => 1,
        Family::NewValue => 2,
        Family::Statistical => 3,
    };
    assert_eq!(fi["analytic"]["type_id"], want_type, "{}", at("analytic.type_id"));
    assert_eq!(fi["types"], serde_json::json!([spec.family.as_str()]));
    assert_eq!(fi["attacks"][0]["technique"]["uid"], "T1204", "{}", at("attacks"));
    assert_eq!(fi["attacks"][0]["tactic"]["uid"], "TA0002", "{}", at("attacks"));
    assert_eq!(fi["attacks"][0]["tactic"]["name"], "Execution");
    let (first, last) = match spec.family {
        Family::Statistical => ("first_anomaly", "last_anomaly"),
        _ => ("first_seen", "last_seen"),
    };
    assert_eq!(
        fi["first_seen_time"].as_i64(),
        ms(&row[first]),
        "{}",
        at("first_seen_time")
    );
    assert_eq!(
        fi["last_seen_time"].as_i64(),
        ms(&row[last]),
        "{}",
        at("last_seen_time")
    );
    assert_eq!(rec["time"].as_i64(), ms(&row[last]), "{}", at("time"));
    assert_eq!(rec["start_time"].as_i64(), ms(&row["window_start"]));
    assert_eq!(rec["end_time"].as_i64(), ms(&row["window_end"]));
    // The specs' risk score (25) is Low.
    assert_eq!(rec["risk_score"], row["risk_score"], "{}", at("risk_score"));
    assert_eq!(rec["risk_score"], spec.risk_score());
    assert_eq!(rec["severity_id"], 2, "{}", at("severity_id"));
    assert_eq!(rec["severity"], "Low");
    // Resources: exactly those the row names.
    let present = |c: &str| row.get(c).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    for (col, ty) in [
        ("k8s_cluster_name", "kubernetes_cluster"),
        ("k8s_node_name", "kubernetes_node"),
        ("k8s_pod_name", "kubernetes_pod"),
        ("container_image_name", "container_image"),
        ("process_executable_name", "process"),
    ] {
        match resource(rec, ty) {
            Some(r) => {
                assert!(present(col), "{}", at(ty));
                assert_eq!(r["name"], row[col], "{}", at(ty));
            }
            None => assert!(!present(col), "{}", at(&format!("{ty} missing"))),
        }
    }
    if let Some(p) = resource(rec, "kubernetes_pod") {
        assert_eq!(p["namespace"], row["k8s_namespace_name"], "{}", at("pod namespace"));
    }
    if let Some(p) = resource(rec, "process") {
        assert_eq!(p["data"]["process_executable_path"], row["process_executable_path"]);
    }
    let workloads: Vec<&Value> = rec["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter(|r| r["type"] == "kubernetes_workload")
        .collect();
    assert_eq!(
        workloads.len(),
        usize::from(present("source_workload_name")) + usize::from(present("dest_workload_name"))
    );
    // Evidence: the family's evidence columns.
    let ev = &rec["evidences"][0]["data"];
    for col in [
        "process_executable_path",
        "process_pids",
        "cluster_prevalence",
        "baseline_complete",
        "samples",
        "node_first_seen",
    ] {
        if row.get(col).is_some_and(|v| !v.is_null()) {
            assert_eq!(ev[col], row[col], "{}", at(&format!("evidence {col}")));
        }
    }
    match spec.family {
        Family::NewValue => assert!(ev.get("cluster_prevalence").is_some(), "{}", at("prevalence")),
        Family::Rule => assert!(ev.get("active_buckets").is_some(), "{}", at("active_buckets")),
        Family::Statistical => {
            let top = row["top_anomalies"].as_array().expect("top_anomalies");
            let anomalies: Vec<&Value> = rec["evidences"].as_array().expect("evidences")[1..].iter().collect();
            assert_eq!(anomalies.len(), top.len(), "{}", at("anomalies"));
            for (a, t) in anomalies.iter().zip(top) {
                assert_eq!(a["name"], "anomaly");
                assert_eq!(&a["data"], t);
            }
            assert_eq!(ev["anomaly_count"], row["anomaly_count"]);
        }
    }
    let un = &rec["unmapped"]["kubeseen"];
    assert_eq!(un["mode"], if compat { "splunk_compat" } else { "intent" });
    assert_eq!(un["detection"], row["detection"]);
    assert_eq!(un["suspicious_characters"], row["suspicious_characters"]);
}

#[test]
fn every_golden_finding_maps_field_by_field_and_validates() {
    let rows = golden_rows();
    let families: BTreeSet<&str> = rows.iter().map(|(s, ..)| s.family.as_str()).collect();
    assert_eq!(families.len(), 3, "goldens of every family: {families:?}");
    let mut records = Vec::new();
    for (spec, compat, row) in &rows {
        let rec = ocsf::record(spec, *compat, &format!("{}/stem", spec.slug), row);
        check_mapping(spec, *compat, row, &rec);
        records.push(rec);
    }
    assert!(records.len() >= 30, "{} golden findings", records.len());
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let jl = dir.path().join("golden.jsonl");
    std::fs::write(&jl, ocsf::jsonl(&records)).expect("write");
    let pq = dir.path().join("golden.parquet");
    let mut df = ocsf::frame(&records).expect("frame");
    std::fs::write(&pq, kubeseen::lake::parquet_bytes(&mut df).expect("parquet")).expect("write");
    let (code, verdict) = validate(&py, &[&jl, &pq]);
    assert_eq!(verdict["errors"], serde_json::json!([]), "{verdict}");
    assert_eq!(code, 0);
    assert_eq!(verdict["records"], records.len() * 2);
}

/// A change that makes a record invalid.
type Breaker = Box<dyn Fn(&mut Value)>;

#[test]
fn the_validator_rejects_broken_records() {
    let Some(py) = python() else { return };
    let (spec, compat, row) = golden_rows().into_iter().next().expect("a golden");
    let good = ocsf::record(&spec, compat, "c", &row);
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "no finding_info.uid",
            Box::new(|r| drop(r["finding_info"].as_object_mut().map(|o| o.remove("uid")))),
        ),
        ("a bad severity_id", Box::new(|r| r["severity_id"] = 42.into())),
        (
            "an unknown field",
            Box::new(|r| r["finding_info"]["colour"] = "red".into()),
        ),
        ("another class", Box::new(|r| r["class_uid"] = 2001.into())),
    ];
    for (what, break_it) in cases {
        let mut bad = good.clone();
        break_it(&mut bad);
        let f = dir.path().join("bad.jsonl");
        std::fs::write(&f, ocsf::jsonl(&[good.clone(), bad])).expect("write");
        let (code, verdict) = validate(&py, &[&f]);
        assert_eq!(code, 1, "{what}: {verdict}");
        let errors = verdict["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "{what}: only the broken record: {verdict}");
        assert!(
            errors[0].as_str().is_some_and(|e| e.contains("bad.jsonl:2")),
            "{what}: {verdict}"
        );
    }
}

/// Every object under `ocsf/` of a lake, relative to it.
fn ocsf_objects(lake: &Path) -> BTreeSet<String> {
    fn walk(d: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if let Ok(r) = p.strip_prefix(root) {
                out.insert(r.display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&lake.join("ocsf"), lake, &mut out);
    out
}

#[test]
fn detect_writes_validated_ocsf_and_reruns_replace_their_objects() {
    let l = crate::detect::golden_lake();
    let lake = l.path();
    let lake_s = lake.display().to_string();
    let d = l.dir.path();
    let out = kubeseen(
        &[
            "detect",
            "--lake",
            &lake_s,
            "--detection",
            "process_new_path",
            "--at",
            crate::detect::AT,
            "--format",
            "ocsf",
        ],
        d,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(printed.len(), 6, "the golden window's six findings");
    assert!(printed.iter().all(|r| r["class_uid"] == 2004));
    let stem = "20261120T120000Z-1h";
    let account = |c: &str| keys::ocsf_account(c);
    let want: BTreeSet<String> = [
        keys::ocsf_jsonl("process_new_path", "2026-11-20", stem),
        keys::ocsf_parquet("local", &account("prod"), "20261120", "process_new_path", stem),
        keys::ocsf_parquet("local", &account("staging"), "20261120", "process_new_path", stem),
    ]
    .into_iter()
    .collect();
    assert_eq!(ocsf_objects(&lake), want);
    let jl =
        std::fs::read_to_string(lake.join(keys::ocsf_jsonl("process_new_path", "2026-11-20", stem))).expect("jsonl");
    let written: Vec<Value> = jl.lines().map(|l| serde_json::from_str(l).expect("line")).collect();
    assert_eq!(written, printed, "the lake holds what was printed");
    // The run summary lists them.
    let out = kubeseen(
        &[
            "detect",
            "--lake",
            &lake_s,
            "--detection",
            "process_new_path",
            "--at",
            crate::detect::AT,
            "--format",
            "json",
        ],
        d,
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary");
    let o = &summary["runs"][0]["outputs"]["ocsf"];
    assert!(
        o["jsonl"]
            .as_str()
            .is_some_and(|j| j.ends_with(&format!("{stem}.jsonl"))),
        "{o}"
    );
    assert_eq!(o["parquet"].as_array().map(Vec::len), Some(2), "{o}");
    assert_eq!(ocsf_objects(&lake), want, "a re-run replaces, never duplicates");
    if let Some(py) = python() {
        let (code, verdict) = validate(&py, &[&lake.join("ocsf")]);
        assert_eq!(verdict["errors"], serde_json::json!([]), "{verdict}");
        assert_eq!(
            (code, verdict["files"].as_u64(), verdict["records"].as_u64()),
            (0, Some(3), Some(12))
        );
    }
    // Without the staging findings (allowlisted), the re-run deletes staging's object.
    let allow = d.join("allow.toml");
    std::fs::write(
        &allow,
        "[[rule]]\nname = \"staging\"\nreason = \"test\"\ndetection = \"process_new_path\"\n[rule.match]\nk8s_cluster_name = \"staging\"\n",
    )
    .expect("allowlist");
    let out = kubeseen(
        &[
            "detect",
            "--lake",
            &lake_s,
            "--detection",
            "process_new_path",
            "--at",
            crate::detect::AT,
            "--allowlist",
            &allow.display().to_string(),
        ],
        d,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut fewer = want.clone();
    fewer.remove(&keys::ocsf_parquet(
        "local",
        &account("staging"),
        "20261120",
        "process_new_path",
        stem,
    ));
    assert_eq!(ocsf_objects(&lake), fewer);
}

#[test]
fn backfill_writes_ocsf_for_every_window() {
    let l = crate::detect::golden_lake();
    let lake = l.path();
    let lake_s = lake.display().to_string();
    let args = [
        "backfill",
        "--lake",
        &lake_s,
        "--detection",
        "process_new_path",
        "--from",
        "2026-11-20T10:00:00Z",
        "--to",
        crate::detect::AT,
    ];
    let mut with_format = args.to_vec();
    with_format.extend(["--format", "ocsf"]);
    let out = kubeseen(&with_format, l.dir.path());
    assert!(
        !out.status.success(),
        "backfill prints no records: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format ocsf"));
    let out = kubeseen(&args, l.dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let objects = ocsf_objects(&lake);
    for stem in ["20261120T110000Z-1h", "20261120T120000Z-1h"] {
        assert!(
            objects.contains(&keys::ocsf_jsonl("process_new_path", "2026-11-20", stem)),
            "{stem}: {objects:?}"
        );
    }
    let jl = std::fs::read_to_string(lake.join(keys::ocsf_jsonl(
        "process_new_path",
        "2026-11-20",
        "20261120T120000Z-1h",
    )))
    .expect("jsonl");
    assert_eq!(jl.lines().count(), 6, "the golden window's six findings");
    if let Some(py) = python() {
        let (code, verdict) = validate(&py, &[&lake.join("ocsf")]);
        assert_eq!((code, &verdict["errors"]), (0, &serde_json::json!([])), "{verdict}");
    }
}
