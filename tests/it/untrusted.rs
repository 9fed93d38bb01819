//! Untrusted text through the real binary: a corpus of hostile names (escape sequences, CR,
//! NUL, bidi overrides, zero-width characters, a 4 KiB name, invalid UTF-8 arriving via
//! protobuf, hostile file names) landed and detected, then every human-facing output —
//! `land`'s summary lines, the `detect` and `backfill` tables, the Markdown reports, text logs
//! at debug level, error messages — is searched for any raw control, bidi or invisible
//! character; and the exact values are checked in the machine outputs (findings and points
//! Parquet, `detect --format json`, `land --json`), with `suspicious_characters` naming them.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kubeseen::ingest::otlp_proto as pb;
use kubeseen::text::{class_of, escape, escape_bytes};
use polars::prelude::*;

use crate::common::*;

const AT: &str = "2026-11-20T12:00:00Z";

/// The forged line: erase the line, return, print a reassuring verdict.
const FORGED: &str = "/tmp/x\u{1b}[2K\rFORGED: all clear";
/// Displays as `/tmp/exe.jpg`.
const RLO: &str = "/tmp/\u{202e}gpj.exe";

/// Hostile executable paths (each lands and becomes a `process_new_path` finding on node n1).
fn hostile_paths() -> Vec<String> {
    let mut v: Vec<String> = [
        FORGED,
        RLO,
        "/tmp/nul\0byte",
        "/tmp/zero\u{200b}width\u{200d}join\u{feff}bom\u{2060}wj",
        "/tmp/bell\u{7}back\u{8}space\u{7f}del",
        "/tmp/c1\u{9b}31mcsi\u{85}nel",
        "/tmp/line\u{2028}para\u{2029}sep",
        "/tmp/iso\u{2066}late\u{2069}lrm\u{200e}rlm\u{200f}",
        "/tmp/tags\u{e0001}\u{e0041}\u{e007f}soft\u{ad}hyphen",
        "/tmp/new\nFORGED line",
        "/tmp/tab\there",
        "/tmp/osc8\u{1b}]8;;http://evil.example\u{1b}\\link\u{1b}]8;;\u{1b}\\",
        "/tmp/title\u{1b}]0;pwned\u{7}",
        "/tmp/md|pipe<b>bold</b>&#x202e;[x](http://e)`code`",
        "/tmp/ノード☃\\x1b-literal-backslash",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A 4 KiB path (the longest a promoted attribute may be), escapes all along.
    let mut long = String::from("/tmp/long-");
    while long.len() + 2 <= 4096 {
        long.push('A');
        long.push('\u{1b}');
    }
    v.push(long);
    v
}

/// A hostile node name: sets the terminal's title.
const NODE: &str = "n2\u{1b}]0;owned\u{7}\u{202e}";
/// Hostile file names (the OS refuses only `/` and NUL).
const FILE_FORGED: &str = "x\u{1b}[2K\rFORGED: all clear.jsonl";
const FILE_NEWLINE: &str = "new\nline\u{202e}lmth.jsonl";
const FILE_PROTO: &str = "proto\u{200b}.binpb";
/// A valid UTF-8 hostile path carried by protobuf.
const PROTO_PATH: &str = "/tmp/proto\u{202e}hs.fdp";

fn kv(key: &str, value: &str) -> pb::KeyValue {
    pb::KeyValue {
        key: key.to_string(),
        value: Some(pb::AnyValue {
            value: Some(pb::any_value::Value::StringValue(value.to_string())),
        }),
    }
}

/// One process point as the process scraper exports it, in protobuf.
fn proto_request(path: &str, time: chrono::DateTime<chrono::Utc>) -> pb::ExportMetricsServiceRequest {
    let attrs = vec![
        kv("k8s.cluster.name", "prod"),
        kv("k8s.node.name", "n1"),
        kv("host.name", "n1"),
        kv("process.executable.path", path),
        kv("process.executable.name", "proto"),
    ];
    pb::ExportMetricsServiceRequest {
        resource_metrics: vec![pb::ResourceMetrics {
            resource: Some(pb::Resource {
                attributes: attrs,
                dropped_attributes_count: 0,
            }),
            scope_metrics: vec![pb::ScopeMetrics {
                scope: None,
                metrics: vec![pb::Metric {
                    name: "process.memory.usage".into(),
                    description: String::new(),
                    unit: "By".into(),
                    data: Some(pb::metric::Data::Gauge(pb::Gauge {
                        data_points: vec![pb::NumberDataPoint {
                            attributes: Vec::new(),
                            start_time_unix_nano: 0,
                            time_unix_nano: time.timestamp_nanos_opt().expect("in range") as u64,
                            value: Some(pb::number_data_point::Value::AsInt(1024)),
                            flags: 0,
                        }],
                    })),
                    metadata: Vec::new(),
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A framed protobuf export: a good record with [`PROTO_PATH`], then one whose path holds
/// invalid UTF-8 (`ff fe`, with an escape sequence around it).
fn proto_export() -> Vec<u8> {
    let at = t(AT);
    let mut out = Vec::new();
    pb::encode_framed(&proto_request(PROTO_PATH, at - chrono::Duration::minutes(5)), &mut out);
    let mut bad = Vec::new();
    pb::encode_framed(
        &proto_request("/tmp/PLACEHOLDER", at - chrono::Duration::minutes(5)),
        &mut bad,
    );
    let invalid: &[u8] = b"bad\xff\xfe\x1b[2K\r!";
    let i = bad
        .windows(b"PLACEHOLDER".len())
        .position(|w| w == b"PLACEHOLDER")
        .expect("placeholder encoded");
    bad[i..i + invalid.len()].copy_from_slice(invalid);
    out.extend_from_slice(&bad);
    out
}

/// Writes the hostile inputs into `dir`; returns the exact values expected in the findings.
fn write_inputs(dir: &Path) -> BTreeSet<String> {
    let at = t(AT);
    let mut points = vec![
        P::new("prod", "n1", "/usr/bin/kubelet", 1, at - hours(48)),
        P::new("prod", NODE, "/usr/bin/kubelet", 1, at - hours(48)),
        P::new("prod", NODE, "/usr/bin/new-tool", 5, at - chrono::Duration::minutes(10)),
    ];
    let mut expected: BTreeSet<String> = ["/usr/bin/new-tool".to_string(), PROTO_PATH.to_string()].into();
    for (i, p) in hostile_paths().into_iter().enumerate() {
        points.push(P::new(
            "prod",
            "n1",
            &p,
            100 + i as i64,
            at - chrono::Duration::minutes(20),
        ));
        expected.insert(p);
    }
    // Good points, then a line of invalid JSON: the file is rejected in part, so its hostile
    // name appears in land's summary lines, the rejects record and the logs.
    let mut text = otlp_lines(&points);
    text.push_str("{not json\n");
    std::fs::write(dir.join(FILE_FORGED), &text).expect("write");
    std::fs::write(dir.join(FILE_NEWLINE), "{\"resourceMetrics\": 1}\n").expect("write");
    std::fs::write(dir.join(FILE_PROTO), proto_export()).expect("write");
    // A file name that is not UTF-8 at all.
    let name = OsString::from_vec(b"latin1-\xe9t\xe9\x1b.jsonl".to_vec());
    std::fs::write(dir.join(name), "garbage\n").expect("write");
    expected
}

fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("KUBESEEN_LAKE")
        .env("KUBESEEN_NOW", "2030-01-01T00:00:00Z")
        .output()
        .expect("run kubeseen")
}

/// Nothing a person reads holds a raw control (but the line ends), bidi or invisible character,
/// and it is valid UTF-8.
fn assert_nothing_raw(what: &str, bytes: &[u8]) {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => panic!("{what} is not UTF-8 ({e}): {}", escape_bytes(bytes)),
    };
    for (i, c) in text.char_indices() {
        if c != '\n' && class_of(c).is_some() {
            let from = text[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
            let to = text[i..].char_indices().nth(40).map_or(text.len(), |(j, _)| i + j);
            panic!(
                "{what}: a raw U+{:04X} at byte {i}: …{}…",
                c as u32,
                escape(&text[from..to])
            );
        }
    }
    for line in text.lines() {
        assert!(!line.starts_with("FORGED"), "{what}: a forged line: {}", escape(line));
    }
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files_under(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn text_of(c: &Column) -> BTreeSet<String> {
    c.str().expect("strings").iter().flatten().map(str::to_string).collect()
}

#[test]
fn hostile_names_reach_people_escaped_and_machines_exact() {
    let dir = tempfile::tempdir().expect("tmp");
    let inputs = dir.path().join("inputs");
    std::fs::create_dir_all(&inputs).expect("mkdir");
    let expected = write_inputs(&inputs);
    let lake = dir.path().join("lake");
    let lake_s = lake.display().to_string();
    let inputs_s = inputs.display().to_string();
    let debug = ["--log", "debug", "--log-format", "text"];
    let with = |args: &[&str]| -> Vec<String> { debug.iter().chain(args).map(|s| s.to_string()).collect() };
    let run_s = |args: Vec<String>| run(&args.iter().map(String::as_str).collect::<Vec<_>>(), dir.path());

    // land (human summary and text logs), then land --json (machine: exact names).
    let out = run_s(with(&["land", "--lake", &lake_s, &inputs_s]));
    assert_eq!(out.status.code(), Some(3), "{}", escape_bytes(&out.stderr));
    assert_nothing_raw("land stdout", &out.stdout);
    assert_nothing_raw("land stderr (summary lines, text logs)", &out.stderr);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&*escape(FILE_FORGED)) && err.contains(&*escape(FILE_NEWLINE)),
        "the hostile file names are named, escaped: {err}"
    );
    let out = run(&["land", "--json", "--lake", &lake_s, &inputs_s], dir.path());
    assert_eq!(out.status.code(), Some(3));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("land --json");
    let names: BTreeSet<String> = summary["inputs_with_problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| {
            p["input"]
                .as_str()
                .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
        })
        .collect();
    for n in [FILE_FORGED, FILE_NEWLINE, FILE_PROTO] {
        assert!(names.contains(n), "{} exact in land --json: {names:?}", escape(n));
    }
    // The protobuf record with invalid UTF-8 is rejected whole (protobuf strings are UTF-8),
    // counted; the good record beside it landed.
    assert!(
        summary["input_errors_by_reason"]["invalid_protobuf"]
            .as_u64()
            .unwrap_or(0)
            + summary["points_rejected_by_reason"]["invalid_protobuf"]
                .as_u64()
                .unwrap_or(0)
            >= 1,
        "{summary}"
    );

    // The points table holds the exact values.
    let points = read_lake(&lake);
    let landed = text_of(points.column("process_executable_path").expect("column"));
    for p in &expected {
        assert!(landed.contains(p), "{} landed exactly", escape(p));
    }
    assert!(text_of(points.column("k8s_node_name").expect("column")).contains(NODE));

    // detect: the table (and debug text logs), then --format json.
    let out = run_s(with(&["detect", "--lake", &lake_s, "--at", AT]));
    assert_eq!(out.status.code(), Some(0), "{}", escape_bytes(&out.stderr));
    assert_nothing_raw("detect table", &out.stdout);
    assert_nothing_raw("detect text logs", &out.stderr);
    let table = String::from_utf8_lossy(&out.stdout);
    for shown in [
        "/tmp/x\\x1b[2K\\rFORGED: all clear",
        "/tmp/\\u{202e}gpj.exe",
        "/tmp/nul\\x00byte",
    ] {
        assert!(table.contains(shown), "{shown} in the table:\n{}", escape(&table));
    }
    assert!(
        table.contains("ALERT:") && table.contains("HIDDEN CHARACTERS"),
        "the table calls hidden characters out:\n{}",
        escape(&table)
    );

    let out = run_s(with(&["detect", "--lake", &lake_s, "--at", AT, "--format", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", escape_bytes(&out.stderr));
    assert_nothing_raw("detect --format json text logs", &out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let runs = v["runs"].as_array().expect("runs");
    let npp = runs
        .iter()
        .find(|r| r["detection"] == "process_new_path")
        .expect("process_new_path ran");
    let findings = npp["findings"].as_array().expect("findings");
    let found: BTreeSet<String> = findings
        .iter()
        .filter_map(|f| f["process_executable_path"].as_str().map(str::to_string))
        .collect();
    assert_eq!(found, expected, "JSON holds the exact values");
    let rlo = findings
        .iter()
        .find(|f| f["process_executable_path"] == RLO)
        .expect("RLO finding");
    let marks: Vec<&str> = rlo["suspicious_characters"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert!(marks.contains(&"process_executable_path: U+202E bidi"), "{marks:?}");
    let forged = findings
        .iter()
        .find(|f| f["process_executable_path"] == FORGED)
        .expect("forged finding");
    let marks = forged["suspicious_characters"].to_string();
    assert!(
        marks.contains("process_executable_path: U+001B control") && marks.contains("U+000D control"),
        "{marks}"
    );
    let plain = findings
        .iter()
        .find(|f| f["process_executable_path"] == "/usr/bin/new-tool")
        .expect("plain path on the hostile node");
    assert!(
        plain["suspicious_characters"]
            .to_string()
            .contains("k8s_node_name: U+202E bidi"),
        "the hostile node is evidence too: {}",
        plain["suspicious_characters"]
    );
    for r in runs {
        for f in r["findings"].as_array().into_iter().flatten() {
            assert!(f["suspicious_characters"].is_array(), "every finding carries it: {f}");
        }
    }

    // backfill's table.
    let out = run_s(with(&[
        "backfill",
        "--lake",
        &lake_s,
        "--from",
        "2026-11-20T10:00:00Z",
        "--to",
        AT,
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", escape_bytes(&out.stderr));
    assert_nothing_raw("backfill table", &out.stdout);
    assert_nothing_raw("backfill text logs", &out.stderr);

    // The Markdown reports: nothing raw, the values escaped, the hidden characters called out.
    let mut reports = Vec::new();
    files_under(&lake.join("reports"), "md", &mut reports);
    assert!(reports.len() >= 7, "{reports:?}");
    for r in &reports {
        assert_nothing_raw(&r.display().to_string(), &std::fs::read(r).expect("read report"));
    }
    let md = std::fs::read_to_string(
        lake.join("reports/detect/detection=process_new_path/date=2026-11-20/20261120T120000Z-1h.md"),
    )
    .expect("report");
    assert!(md.contains("## ⚠ Hidden characters in"), "{}", escape(&md));
    assert!(md.contains("/tmp/\\\\u{202e}gpj.exe"), "{}", escape(&md));
    assert!(
        md.contains("md\\|pipe\\<b\\>bold\\</b\\>\\&\\#x202e;\\[x\\](http://e)\\`code\\`"),
        "Markdown metacharacters escaped: {}",
        escape(&md)
    );

    // Every findings Parquet (both families) has the column; process_new_path's holds the
    // exact values.
    let mut parquets = Vec::new();
    files_under(&lake.join("findings"), "parquet", &mut parquets);
    assert!(parquets.len() >= 7);
    for f in &parquets {
        let df = ParquetReader::new(std::fs::File::open(f).expect("open"))
            .finish()
            .expect("read findings");
        assert_eq!(
            df.column("suspicious_characters").map(|c| c.dtype().clone()).ok(),
            Some(DataType::List(Box::new(DataType::String))),
            "{}",
            f.display()
        );
    }
    let df = ParquetReader::new(
        std::fs::File::open(
            lake.join("findings/detection=process_new_path/date=2026-11-20/20261120T120000Z-1h.parquet"),
        )
        .expect("open"),
    )
    .finish()
    .expect("read");
    assert_eq!(text_of(df.column("process_executable_path").expect("column")), expected);

    // Error messages quote what they failed on, escaped.
    let missing = dir.path().join("no\u{1b}[2K\rFORGED: lake");
    let missing_s = missing.display().to_string();
    let missing_input = dir.path().join("in\u{202e}put.json").display().to_string();
    for args in [
        vec!["detect", "--lake", missing_s.as_str(), "--at", AT],
        vec!["land", "--lake", lake_s.as_str(), missing_input.as_str()],
        vec![
            "detect",
            "--lake",
            lake_s.as_str(),
            "--at",
            AT,
            "--allowlist",
            missing_s.as_str(),
        ],
    ] {
        let out = run(&args, dir.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", escape_bytes(&out.stderr));
        assert_nothing_raw(&format!("error of {args:?}"), &out.stderr);
        assert!(String::from_utf8_lossy(&out.stderr).contains("kubeseen: error:"));
    }

    // For scripts/reliability.sh: paths, the node, the file names, the two protobuf paths and
    // the three names quoted in errors.
    let names = hostile_paths().len() + 1 + 4 + 2 + 3;
    if let Some(path) = std::env::var_os("KUBESEEN_RELIABILITY_OUT") {
        use std::io::Write;
        let line = serde_json::json!({
            "suite": "untrusted",
            "fault": "hostile names: escape sequences, CR/LF/TAB/NUL, C1, bidi overrides, zero-width and tag characters, a 4 KiB name, file names, invalid UTF-8 via protobuf",
            "target": "land, detect, backfill, reports, text logs, errors",
            "count": names,
            "outcome": format!("{} findings; nothing raw in any human output ({} Markdown reports, tables, debug text logs, 3 errors); exact values in Parquet and JSON; suspicious_characters on every finding", found.len(), reports.len()),
            "ok": true,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open KUBESEEN_RELIABILITY_OUT");
        writeln!(f, "{line}").expect("append reliability line");
    }
}
