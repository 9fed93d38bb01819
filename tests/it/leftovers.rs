//! Reliability leftovers, each pinned by a test named after what broke: symbolic links in input
//! folders, a corrupt stale-window list, the exit-code rule between rejected inputs (3) and
//! storage failures (5), writers that did not take the lake's lock (`generate --format lake`,
//! `demo`), a ground truth among the exports, and an `s3://` lake without credentials.
//! (An S3 prefix needing percent-encoding is in `s3.rs`; a file name with a newline in text
//! logs in `untrusted.rs`.)

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubeseen::lake::lock::{LockOptions, WriterLock};
use kubeseen::storage::{Location, StoreOptions};

use crate::common::*;

const AT: &str = "2026-11-20T12:00:00Z";

fn small_points() -> Vec<P> {
    let at = t(AT);
    vec![
        P::new("prod", "n1", "/usr/bin/kubelet", 1, at - hours(48)),
        P::new("prod", "n1", "/usr/bin/kubelet", 1, at - hours(2)),
        P::new("prod", "n1", "/tmp/.x/xmrig", 7, at - chrono::Duration::minutes(30)),
        P::new("prod", "n1", "/tmp/.y/other", 8, at - chrono::Duration::minutes(90)),
    ]
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn symlinked_inputs_are_rejected_and_recorded_not_skipped_silently() {
    let dir = tempfile::tempdir().expect("tmp");
    let exports = dir.path().join("exports");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&exports).expect("mkdir");
    std::fs::create_dir_all(outside.join("sub")).expect("mkdir");
    std::fs::write(exports.join("real.jsonl"), otlp_lines(&small_points())).expect("write");
    let other = vec![P::new("prod", "n9", "/opt/elsewhere", 3, t(AT) - hours(3))];
    std::fs::write(outside.join("other.jsonl"), otlp_lines(&other)).expect("write");
    std::fs::write(outside.join("sub/more.jsonl"), otlp_lines(&other)).expect("write");
    std::os::unix::fs::symlink(outside.join("other.jsonl"), exports.join("link.jsonl")).expect("symlink");
    std::os::unix::fs::symlink(outside.join("sub"), exports.join("linked-dir")).expect("symlink");
    let lake = dir.path().join("lake").display().to_string();

    let out = kubeseen(
        &["land", "--json", "--lake", &lake, &exports.display().to_string()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(s["input_errors_by_reason"]["symlink"], 2, "{s}");
    assert_eq!(
        s["points_landed"],
        small_points().len(),
        "the links were not followed: {s}"
    );
    let problems = s["inputs_with_problems"].as_array().expect("problems");
    let link = problems
        .iter()
        .find(|p| p["input"].as_str().is_some_and(|n| n.ends_with("link.jsonl")))
        .expect("the link is reported");
    let detail = link["problems"][0]["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("symbolic link") && detail.contains("outside/other.jsonl"),
        "{detail}"
    );
    // The rejects record says so too.
    let rejects: Vec<String> = std::fs::read_dir(Path::new(&lake).join("_kubeseen/rejects"))
        .expect("rejects")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect();
    assert_eq!(
        rejects.iter().filter(|r| r.contains("\"symlink\"")).count(),
        2,
        "{rejects:?}"
    );

    // The human summary names them.
    let out = kubeseen(&["land", "--lake", &lake, &exports.display().to_string()], dir.path());
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("link.jsonl") && stderr(&out).contains("symbolic link"),
        "{}",
        stderr(&out)
    );

    // A link named on the command line is followed: the user chose it.
    let out = kubeseen(
        &[
            "land",
            "--json",
            "--lake",
            &lake,
            &exports.join("link.jsonl").display().to_string(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(s["points_landed"], 1);
}

#[test]
fn a_corrupt_stale_list_is_rebuilt_from_the_findings_not_read_as_empty() {
    let l = TestLake::new();
    l.land("e.jsonl", &small_points());
    let lake = l.path().display().to_string();
    for at in ["2026-11-20T11:00:00Z", AT] {
        let out = kubeseen(
            &["detect", "--lake", &lake, "--at", at, "--detection", "process_new_path"],
            l.dir.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let stale = l.path().join("_kubeseen/stale/process_new_path.json");
    std::fs::create_dir_all(stale.parent().expect("parent")).expect("mkdir");
    std::fs::write(&stale, b"[{\"window_end\": \"2026-11-20T1").expect("corrupt it");
    let out = kubeseen(
        &[
            "detect",
            "--lake",
            &lake,
            "--stale",
            "--detection",
            "process_new_path",
            "--format",
            "json",
        ],
        l.dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ends: Vec<&str> = v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["window_end"].as_str())
        .collect();
    assert_eq!(ends, ["2026-11-20T11:00:00Z", AT], "every written window re-run");
    let err = stderr(&out);
    assert!(
        err.contains("_kubeseen/stale/process_new_path.json") && err.contains("corrupt"),
        "the warning names the object: {err}"
    );
    // Re-run and cleared: the list is gone, nothing is stale any more.
    assert!(!stale.exists());
}

/// Row `code` of README's exit-code table.
fn readme_exit_row(readme: &str, code: u32) -> String {
    let section = readme.split("## Exit codes").nth(1).expect("an Exit codes section");
    section
        .lines()
        .find(|l| l.starts_with(&format!("| {code} |")))
        .unwrap_or_else(|| panic!("README has no row for exit code {code}"))
        .to_string()
}

#[test]
fn exit_codes_for_unreadable_inputs_and_storage_failures_say_the_same_in_readme_and_help() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let dir = tempfile::tempdir().expect("tmp");
    let help = String::from_utf8_lossy(&kubeseen(&["--help"], dir.path()).stdout).to_string();
    let help_of = |code: u32| -> String {
        let from = help
            .find(&format!("; {code} "))
            .or_else(|| help.find(&format!(": {code} ")));
        let from = from.unwrap_or_else(|| panic!("help has no exit code {code}: {help}"));
        let rest = &help[from + 2..];
        let end = rest[2..].find(';').map_or(rest.len(), |i| i + 2);
        rest[..end].to_string()
    };
    for code in 0..=6 {
        readme_exit_row(&readme, code);
        help_of(code);
    }
    // An input that stays unreadable after the retries is a rejected input (3), named as such;
    // the lake failing is storage (5).
    for (what, text) in [("README", readme_exit_row(&readme, 3)), ("--help", help_of(3))] {
        assert!(
            text.contains("unreadable") && text.contains("retries"),
            "{what}: {text}"
        );
        assert!(
            text.contains("symlink") || text.contains("symbolic link"),
            "{what}: {text}"
        );
    }
    for (what, text) in [("README", readme_exit_row(&readme, 5)), ("--help", help_of(5))] {
        assert!(text.contains("lake") && text.contains("input prefix"), "{what}: {text}");
    }
    for (what, text) in [("README", &readme), ("--help", &help)] {
        assert!(text.contains("The rule between 3 and 5"), "{what} states the rule");
    }
}

#[test]
fn an_input_object_unreadable_after_the_retries_is_a_rejected_input_exit_3() {
    use crate::proxy::{Fault, FaultProxy, Rule};
    let Some(s3) = crate::faults::S3::from_env("unreadable input") else {
        return;
    };
    let url = s3.url("unreadable-input");
    let src = s3.open(&url);
    let points = small_points();
    src.put("in/good.jsonl", otlp_lines(&points).into_bytes()).expect("put");
    src.put("in/broken.jsonl", otlp_lines(&points[..1]).into_bytes())
        .expect("put");
    let proxy = FaultProxy::start(&s3.endpoint, 7);
    proxy.set_rules(vec![Rule::every(1, Fault::Status(500, "InternalError"))
        .method("GET")
        .target("broken.jsonl")]);
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake").display().to_string();
    let input = format!("{url}/in/");
    let out = crate::faults::ks(
        &proxy.endpoint(),
        crate::faults::PERSISTENT,
        &["land", "--json", "--lake", &lake, &input],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(s["input_errors_by_reason"]["unreadable"], 1, "{s}");
    assert_eq!(s["points_landed"], points.len(), "the readable input landed: {s}");
    let p = &s["inputs_with_problems"][0];
    assert!(
        p["input"].as_str().is_some_and(|n| n.ends_with("in/broken.jsonl")),
        "{p}"
    );
    assert!(proxy.injected() >= 3, "retried before giving up: {}", proxy.injected());
}

fn hold_lock(lake_dir: &Path) -> (Location, WriterLock) {
    let lake = Location::open(&lake_dir.display().to_string(), &StoreOptions::default(), true).expect("lake");
    let opts = LockOptions {
        timeout: Duration::from_secs(5),
        ttl: Duration::from_secs(60),
        command: "test".into(),
    };
    let held = WriterLock::acquire(&lake, &opts, None).expect("hold the lock");
    (lake, held)
}

fn generate_lake_args(out: &str) -> Vec<&str> {
    vec![
        "generate",
        "--format",
        "lake",
        "--out",
        out,
        "--clusters",
        "1",
        "--nodes",
        "2",
        "--processes",
        "2",
        "--days",
        "2",
        "--interval",
        "900s",
        "--end",
        AT,
    ]
}

#[test]
fn generate_format_lake_takes_the_writer_lock() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake_dir = dir.path().join("gen-lake");
    let lake_s = lake_dir.display().to_string();
    let (lake, held) = hold_lock(&lake_dir);
    let mut args = generate_lake_args(&lake_s);
    args.extend(["--lock-timeout", "1s"]);
    let out = kubeseen(&args, dir.path());
    assert_eq!(
        out.status.code(),
        Some(6),
        "generate --format lake waits for the lock: {}",
        stderr(&out)
    );
    assert!(
        !lake_dir.join("metrics").exists(),
        "nothing written while another run held the lock"
    );
    held.release().expect("release");
    // Free again: it writes the lake, and releases the lock.
    let out = kubeseen(&generate_lake_args(&lake_s), dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(lake_dir.join("metrics").is_dir());
    assert!(lake.list("_kubeseen/locks").expect("list").is_empty(), "released");
}

#[test]
fn demo_takes_the_writer_lock_before_clearing_its_folder() {
    let dir = tempfile::tempdir().expect("tmp");
    let demo = dir.path().join("demo");
    let (_lake, held) = hold_lock(&demo.join("lake"));
    std::fs::write(demo.join("keep.txt"), "not cleared while locked").expect("write");
    let started = Instant::now();
    let out = kubeseen(
        &["demo", "--dir", &demo.display().to_string(), "--lock-timeout", "1s"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(6), "demo waits for the lock: {}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "before generating anything"
    );
    assert!(demo.join("keep.txt").exists() && !demo.join("exports").exists());
    held.release().expect("release");
}

#[test]
fn generate_keeps_the_ground_truth_beside_the_exports_so_landing_them_is_clean() {
    let dir = tempfile::tempdir().expect("tmp");
    let exports = dir.path().join("exports");
    let out = kubeseen(
        &[
            "generate",
            "--out",
            &exports.display().to_string(),
            "--clusters",
            "1",
            "--nodes",
            "2",
            "--processes",
            "2",
            "--days",
            "2",
            "--interval",
            "900s",
            "--end",
            AT,
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    let beside = std::fs::canonicalize(dir.path())
        .expect("canonical")
        .join("exports.ground_truth.json");
    assert_eq!(summary["ground_truth"], beside.display().to_string());
    assert!(beside.is_file());
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&beside).expect("read")).expect("ground truth parses");
    assert!(truth["scenarios"].as_array().is_some_and(|s| !s.is_empty()));
    let lake = dir.path().join("lake").display().to_string();
    let out = kubeseen(
        &["land", "--json", "--lake", &lake, &exports.display().to_string()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "the exports land cleanly: {}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(s["files_with_rejections"], 0, "{s}");
    assert_eq!(s["points_landed"], summary["points"]);
}

/// Runs `kubeseen detect` on an `s3://` lake with no credentials in the environment, the S3
/// endpoint and the instance-metadata endpoint both on loopback (never the real metadata
/// address, even if kubeseen asked it). Returns the output and whether the metadata listener
/// was contacted.
fn detect_without_credentials(extra: &[&str]) -> (std::process::Output, bool) {
    let metadata = TcpListener::bind("127.0.0.1:0").expect("bind");
    metadata.set_nonblocking(true).expect("nonblocking");
    let md_url = format!("http://127.0.0.1:{}", metadata.local_addr().expect("addr").port());
    let s3 = TcpListener::bind("127.0.0.1:0").expect("bind");
    let s3_port = s3.local_addr().expect("addr").port();
    drop(s3);
    let dir = tempfile::tempdir().expect("tmp");
    let mut args = vec![
        "detect",
        "--lake",
        "s3://kubeseen-nocreds/lake",
        "--at",
        AT,
        "--s3-retries",
        "0",
        "--s3-timeout",
        "2s",
        "--lock-timeout",
        "2s",
    ];
    args.extend(extra);
    let mut child = Command::new(bin())
        .args(&args)
        .current_dir(dir.path())
        .env_clear()
        .env("AWS_METADATA_ENDPOINT", &md_url)
        .env("KUBESEEN_S3_ENDPOINT", format!("http://127.0.0.1:{s3_port}"))
        .env("AWS_REGION", "us-east-1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("KUBESEEN_NOW", "2030-01-01T00:00:00Z")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut contacted = false;
    let started = Instant::now();
    loop {
        if let Ok((mut conn, _)) = metadata.accept() {
            contacted = true;
            let mut buf = [0u8; 512];
            let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = conn.read(&mut buf);
            drop(conn);
        }
        if child.try_wait().expect("wait").is_some() || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    (child.wait_with_output().expect("output"), contacted)
}

#[test]
fn s3_lake_without_credentials_says_what_was_looked_for_and_never_asks_instance_metadata() {
    let (out, contacted) = detect_without_credentials(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!contacted, "the instance-metadata endpoint was contacted: {err}");
    for looked_for in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "--s3-instance-credentials",
    ] {
        assert!(err.contains(looked_for), "names {looked_for}: {err}");
    }
    assert!(err.contains("s3://kubeseen-nocreds/lake"), "names the lake: {err}");
    // Asked for, the instance profile is used: the (loopback) metadata endpoint is contacted.
    let (out, contacted) = detect_without_credentials(&["--s3-instance-credentials"]);
    assert!(contacted, "opted in, the metadata endpoint is asked: {}", stderr(&out));
    assert_ne!(out.status.code(), Some(0));
}
