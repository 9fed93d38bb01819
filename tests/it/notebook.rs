//! README's notebook recipe, run exactly as written: the Python block between the
//! `notebook-recipe` markers is extracted from README.md and run (polars and duckdb from
//! scripts/py-env.sh) on a lake that `detect` wrote; what it prints must equal the run's own
//! JSON summary: findings per detection, one OCSF record per finding (JSON Lines and Security
//! Lake Parquet), one run summary with a line per detection.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// The recipe: the fenced Python block between the README's markers.
fn recipe() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let start = readme
        .find("<!-- notebook-recipe:start -->")
        .expect("README has the recipe's start marker");
    let end = readme
        .find("<!-- notebook-recipe:end -->")
        .expect("README has the recipe's end marker");
    let block = &readme[start..end];
    let code = block
        .split_once("```python\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(code, _)| code)
        .expect("a ```python block between the markers");
    code.to_string()
}

/// The Python with polars and duckdb, or `None` after a visible skip (a failure under
/// `KUBESEEN_REQUIRE_PYTHON`, as scripts/test.sh sets it).
fn python() -> Option<PathBuf> {
    let required = std::env::var_os("KUBESEEN_REQUIRE_PYTHON").is_some();
    let py = std::env::var("KUBESEEN_TEST_PYTHON").ok().map(PathBuf::from);
    let ok = py.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import polars, duckdb"])
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(
        ok || !required,
        "KUBESEEN_REQUIRE_PYTHON is set but {py:?} (KUBESEEN_TEST_PYTHON) lacks polars or duckdb (scripts/py-env.sh)"
    );
    if !ok {
        eprintln!(
            "SKIPPED: the notebook recipe needs KUBESEEN_TEST_PYTHON with polars and duckdb (run scripts/test.sh)"
        );
    }
    ok.then(|| py.expect("checked"))
}

#[test]
fn the_readme_notebook_recipe_reads_what_detect_wrote() {
    let code = recipe();
    assert!(code.contains("import duckdb") && code.contains("import polars"));
    let Some(py) = python() else { return };
    let l = crate::detect::golden_lake();
    let lake = l.path();
    let out = kubeseen(
        &[
            "detect",
            "--lake",
            &lake.display().to_string(),
            "--at",
            crate::detect::AT,
            "--format",
            "json",
        ],
        l.dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    let runs = j["runs"].as_array().expect("runs");
    let per: BTreeMap<String, u64> = runs
        .iter()
        .map(|r| {
            (
                r["detection"].as_str().expect("slug").to_string(),
                r["findings_count"].as_u64().expect("n"),
            )
        })
        .collect();
    let total: u64 = per.values().sum();
    assert!(total > 0);
    let script = l.dir.path().join("recipe.py");
    std::fs::write(&script, &code).expect("write the recipe");
    let out = Command::new(&py)
        .arg(&script)
        .arg(&lake)
        .output()
        .expect("run the recipe");
    assert!(
        out.status.success(),
        "the README's recipe failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let got_per: BTreeMap<String, u64> = got["per_detection"]
        .as_object()
        .expect("per_detection")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("n")))
        .collect();
    let with: BTreeMap<String, u64> = per.into_iter().filter(|(_, n)| *n > 0).collect();
    assert_eq!(got_per, with, "findings per detection");
    assert_eq!(got["findings"].as_u64(), Some(total));
    assert_eq!(got["ocsf_jsonl"].as_u64(), Some(total), "an OCSF record per finding");
    assert_eq!(
        got["ocsf_parquet"].as_u64(),
        Some(total),
        "in Security Lake's Parquet too"
    );
    assert_eq!(got["runs"].as_u64(), Some(1), "one run summary");
    assert_eq!(got["run_detections"].as_u64(), Some(runs.len() as u64));
    assert!(got["nodes"].as_u64().is_some_and(|n| n >= 1));
}
