//! The real binary: help, exit codes, outputs, errors.

use crate::common::*;

#[test]
fn every_subcommand_has_help() {
    let dir = tempfile::tempdir().expect("tmp");
    for sub in ["land", "detect", "backfill", "generate", "demo"] {
        let out = kubeseen(&[sub, "--help"], dir.path());
        assert_eq!(out.status.code(), Some(0), "{sub} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: kubeseen"),
            "{sub}"
        );
    }
    let out = kubeseen(&["--help"], dir.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
    let out = kubeseen(&["detect", "--bogus"], dir.path());
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

fn small_lake() -> TestLake {
    let l = TestLake::new();
    let at = t("2026-11-20T12:00:00Z");
    let mut v = Vec::new();
    for h in [24 * 29 + 23, 24 * 10, 5] {
        v.push(P::new("prod", "n1", "/usr/bin/kubelet", 1, at - hours(h)));
    }
    v.push(P::new(
        "prod",
        "n1",
        "/tmp/.x/xmrig",
        7,
        at - chrono::Duration::minutes(59),
    ));
    v.push(P::new(
        "prod",
        "n1",
        "/dev/shm/sh",
        8,
        at - chrono::Duration::minutes(90),
    ));
    l.land("e.jsonl", &v);
    l
}

#[test]
fn detect_json_output_exit_codes_and_files() {
    let l = small_lake();
    let lake = l.path().display().to_string();
    let out = kubeseen(
        &[
            "detect",
            "--detection",
            "process_new_path",
            "--lake",
            &lake,
            "--at",
            "2026-11-20T12:00:00Z",
            "--format",
            "json",
        ],
        l.dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let run = &v["runs"][0];
    assert_eq!(run["findings_count"], 1);
    assert_eq!(run["findings"][0]["process_executable_path"], "/tmp/.x/xmrig");
    assert_eq!(run["window_start"], "2026-11-20T11:00:00Z");
    assert!(l
        .path()
        .join("findings/detection=process_new_path/date=2026-11-20/20261120T120000Z-1h.parquet")
        .is_file());
    assert!(l
        .path()
        .join("reports/detect/detection=process_new_path/date=2026-11-20/20261120T120000Z-1h.md")
        .is_file());

    let out = kubeseen(
        &[
            "detect",
            "--detection",
            "process_new_path",
            "--lake",
            &lake,
            "--at",
            "2026-11-20T12:00:00Z",
            "--fail-on-findings",
        ],
        l.dir.path(),
    );
    assert_eq!(out.status.code(), Some(4));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("/tmp/.x/xmrig") && table.contains("1 finding(s)"),
        "{table}"
    );

    let out = kubeseen(
        &["detect", "--lake", &lake, "--at", "2031-01-01T00:00:00Z"],
        l.dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in the future"));

    let bad = l.dir.path().join("allow.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nname = 'x'\nreason = 'y'\nexpiress = 1\n[rule.match]\nk8s_node_name = 'n1'\n",
    )
    .expect("write");
    let out = kubeseen(
        &[
            "detect",
            "--detection",
            "process_new_path",
            "--lake",
            &lake,
            "--at",
            "2026-11-20T12:00:00Z",
            "--allowlist",
            &bad.display().to_string(),
        ],
        l.dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("allow.toml") && err.contains("expiress"), "{err}");

    let out = kubeseen(
        &[
            "backfill",
            "--detection",
            "process_new_path",
            "--lake",
            &lake,
            "--from",
            "2030-12-31T20:00:00Z",
            "--to",
            "2031-01-01T02:00:00Z",
        ],
        l.dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "windows that have not happened yet are an error, not empty findings"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("in the future"));

    let out = kubeseen(&["detect", "--lake", &lake, "--detection", "nope"], l.dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("process_new_path"));
}

#[test]
fn backfill_writes_what_separate_detect_runs_write() {
    let l = small_lake();
    let lake = l.path().display().to_string();
    let out = kubeseen(
        &[
            "backfill",
            "--detection",
            "process_new_path",
            "--lake",
            &lake,
            "--from",
            "2026-11-20T09:00:00Z",
            "--to",
            "2026-11-20T12:00:00Z",
            "--format",
            "json",
        ],
        l.dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["windows"], 3);
    assert_eq!(
        v["findings"], 2,
        "/dev/shm/sh in the 11:00 window, xmrig in the 12:00 one: {v:#}"
    );
    let dir = l.path().join("findings/detection=process_new_path/date=2026-11-20");
    let backfilled: Vec<Vec<u8>> = ["20261120T100000Z-1h", "20261120T110000Z-1h", "20261120T120000Z-1h"]
        .iter()
        .map(|s| std::fs::read(dir.join(format!("{s}.parquet"))).expect("window file"))
        .collect();
    for (i, at) in ["2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z"]
        .iter()
        .enumerate()
    {
        let out = kubeseen(
            &["detect", "--detection", "process_new_path", "--lake", &lake, "--at", at],
            l.dir.path(),
        );
        assert_eq!(out.status.code(), Some(0));
        let again = std::fs::read(dir.join(format!(
            "{}.parquet",
            ["20261120T100000Z-1h", "20261120T110000Z-1h", "20261120T120000Z-1h"][i]
        )))
        .expect("file");
        assert_eq!(again, backfilled[i], "byte-identical findings for {at}");
    }
}

#[test]
fn late_data_marks_windows_stale_and_detect_stale_reruns_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake").display().to_string();
    let at = t("2026-11-20T12:00:00Z");
    let mut first = Vec::new();
    for h in [24 * 29 + 23, 24 * 10, 5] {
        first.push(P::new("prod", "n1", "/usr/bin/kubelet", 1, at - hours(h)));
    }
    first.push(P::new(
        "prod",
        "n1",
        "/tmp/.x/xmrig",
        7,
        at - chrono::Duration::minutes(59),
    ));
    std::fs::write(dir.path().join("a.jsonl"), otlp_lines(&first)).expect("write");
    let out = kubeseen(&["land", "--lake", &lake, "a.jsonl"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kubeseen(
        &[
            "detect",
            "--detection",
            "process_new_path",
            "--lake",
            &lake,
            "--at",
            "2026-11-20T12:00:00Z",
            "--format",
            "json",
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["runs"][0]["findings_count"], 1);
    assert_eq!(
        v["runs"][0]["data_freshness"]["last_point_in_window"],
        "2026-11-20T11:01:00Z"
    );
    assert_eq!(v["runs"][0]["data_freshness"]["seconds_before_window_end"], 3540.0);

    // A late export: xmrig already ran there a day earlier, inside the window's baseline.
    std::fs::write(
        dir.path().join("late.jsonl"),
        otlp_lines(&[P::new("prod", "n1", "/tmp/.x/xmrig", 6, at - hours(24))]),
    )
    .expect("write");
    let out = kubeseen(&["land", "--lake", &lake, "--json", "late.jsonl"], dir.path());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["stale_windows_marked"], 1, "{r:#}");

    let out = kubeseen(
        &[
            "detect",
            "--detection",
            "process_new_path",
            "--lake",
            &lake,
            "--stale",
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["runs"][0]["window_end"], "2026-11-20T12:00:00Z");
    assert_eq!(v["runs"][0]["findings_count"], 0, "the re-run sees the late sighting");
    let out = kubeseen(
        &[
            "detect",
            "--detection",
            "process_new_path",
            "--lake",
            &lake,
            "--stale",
            "--format",
            "json",
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["runs"].as_array().map(Vec::len), Some(0), "nothing stale any more");
}

#[test]
fn backfill_resume_skips_up_to_date_windows_but_not_stale_ones() {
    let l = small_lake();
    let lake = l.path().display().to_string();
    let args = [
        "backfill",
        "--detection",
        "process_new_path",
        "--lake",
        &lake,
        "--from",
        "2026-11-20T06:00:00Z",
        "--to",
        "2026-11-20T12:00:00Z",
        "--format",
        "json",
    ];
    let out = kubeseen(&args, l.dir.path());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (v["windows"].as_u64(), v["skipped_up_to_date"].as_u64()),
        (Some(6), Some(0))
    );
    let resume = [&args[..], &["--resume"]].concat();
    let out = kubeseen(&resume, l.dir.path());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["skipped_up_to_date"], 6, "everything was written: {v:#}");
    assert_eq!(v["per_window"].as_array().map(Vec::len), Some(0));
    // Late data makes the windows it falls into stale: --resume runs exactly those again.
    std::fs::write(
        l.dir.path().join("late.jsonl"),
        otlp_lines(&[P::new("prod", "n1", "/usr/bin/late", 9, t("2026-11-20T10:30:00Z"))]),
    )
    .expect("write");
    let out = kubeseen(&["land", "--lake", &lake, "late.jsonl"], l.dir.path());
    assert_eq!(out.status.code(), Some(0));
    let out = kubeseen(&resume, l.dir.path());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["skipped_up_to_date"], 4,
        "windows ending 11:00 and 12:00 cover 10:30: {v:#}"
    );
    assert_eq!(v["per_window"].as_array().map(Vec::len), Some(2));
}
