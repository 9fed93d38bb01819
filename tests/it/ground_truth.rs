//! The generator's ground truth against every detection, through the real binary: a small
//! generated dataset (`kubeseen generate --format lake`: 2 clusters × 2 nodes — one with a full
//! history, one that joined late — 4 application processes per node, 31 days at the coarsest
//! scrape interval, about 2 M points: every scenario of the generator, and baselines both
//! complete and not), `kubeseen detect --at <end>` for all detections, and per detection
//! the findings' keys equal the entries the ground truth expects exactly (none missing, none
//! extra), every negative entry is absent, and each finding carries the `baseline_complete` its
//! entry expects. What `kubeseen demo` checks by hand, in CI, in seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kubeseen::generate::{GroundTruth, Scenario, DETECTIONS};
use serde_json::Value;

use crate::common::*;

const END: &str = "2026-03-10T12:00:00Z";

/// The ground truth a `kubeseen generate` run wrote, found where its summary (stdout) says:
/// the one place this test depends on the file's location.
fn ground_truth_of(summary: &Value, cwd: &Path) -> GroundTruth {
    let at = summary["ground_truth"]
        .as_str()
        .unwrap_or_else(|| panic!("the generate summary names its ground truth: {summary}"));
    let path = cwd.join(at);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    GroundTruth::from_json(&bytes).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[test]
fn generated_ground_truth_equals_every_detections_findings() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let lake_s = lake.display().to_string();
    let out = kubeseen(
        &[
            "generate",
            "--out",
            &lake_s,
            "--format",
            "lake",
            "--clusters",
            "2",
            "--nodes",
            "2",
            "--processes",
            "4",
            "--days",
            "31",
            "--interval",
            "900s",
            "--end",
            END,
            "--seed",
            "11",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("generate prints its summary as JSON");
    let truth = ground_truth_of(&summary, dir.path());
    assert!(
        truth.scenarios.iter().all(|s| s.window_end == END),
        "every expectation is about the window ending at {END}"
    );

    let out = kubeseen(
        &["detect", "--lake", &lake_s, "--at", END, "--format", "json"],
        dir.path(),
    );
    assert!(out.status.success(), "detect: {}", String::from_utf8_lossy(&out.stderr));
    let runs: Value = serde_json::from_slice(&out.stdout).expect("detect --format json");
    let findings: BTreeMap<String, Vec<Value>> = runs["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| {
            (
                text(&r["detection"]),
                r["findings"].as_array().cloned().unwrap_or_default(),
            )
        })
        .collect();
    let covered: BTreeSet<&str> = DETECTIONS.into_iter().collect();
    let ran: BTreeSet<&str> = findings.keys().map(String::as_str).collect();
    assert_eq!(ran, covered, "the ground truth covers every built-in detection");

    let complete: BTreeSet<Option<bool>> = truth
        .scenarios
        .iter()
        .filter(|s| s.expect_finding)
        .map(|s| s.expect_baseline_complete)
        .collect();
    assert!(
        complete.contains(&Some(true)) && complete.contains(&Some(false)),
        "findings with a complete and with an incomplete baseline are expected: {complete:?}"
    );
    let mut report = Vec::new();
    for d in DETECTIONS {
        let entries: Vec<&Scenario> = truth.scenarios.iter().filter(|s| s.detection == d).collect();
        let columns: Vec<&String> = entries.first().map(|s| s.key.keys().collect()).unwrap_or_default();
        let expected: BTreeMap<Vec<String>, &Scenario> = entries
            .iter()
            .filter(|s| s.expect_finding)
            .map(|s| (s.key.values().cloned().collect(), *s))
            .collect();
        assert!(!expected.is_empty(), "{d}: the ground truth expects a finding");
        let found: BTreeMap<Vec<String>, &Value> = findings[d]
            .iter()
            .map(|f| (columns.iter().map(|c| text(&f[c.as_str()])).collect(), f))
            .collect();
        let missing: Vec<_> = expected.keys().filter(|k| !found.contains_key(*k)).collect();
        let extra: Vec<_> = found.keys().filter(|k| !expected.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{d}: findings differ from the ground truth: missing {missing:?}, extra {extra:?}"
        );
        for s in entries.iter().filter(|s| !s.expect_finding) {
            let k: Vec<String> = s.key.values().cloned().collect();
            assert!(!found.contains_key(&k), "{d}: {} must not be reported: {k:?}", s.name);
        }
        for (k, s) in &expected {
            if let Some(want) = s.expect_baseline_complete {
                assert_eq!(
                    found[k]["baseline_complete"].as_bool(),
                    Some(want),
                    "{d}: {} {k:?}: baseline_complete",
                    s.name
                );
            }
        }
        report.push(format!(
            "{d}: {} found, {} negative",
            expected.len(),
            entries.len() - expected.len()
        ));
    }
    eprintln!("ground truth vs detections: {}", report.join("; "));
}
