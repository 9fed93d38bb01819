//! Security of the real binary: credentials never reach output or the lake; nothing derived from
//! data or input escapes the lake root or makes odd object names; config files are strict.
//!
//! Secrets are planted everywhere a user might put them (URL user info, signed-URL queries,
//! AWS_*/AZURE_* environment, an endpoint with user info) for land, detect, backfill, compact
//! and generate, with `--log debug` in JSON and text, in successful and failing runs (a closed
//! loopback port, a missing bucket). Every byte of stdout, stderr and of every file and object
//! written (Parquet decoded cell by cell) is searched for every secret.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kubeseen::storage::{Location, StoreOptions};
use polars::prelude::*;

use crate::common::*;

const URL_KEY_ID: &str = "AKIAKSURLUSER7Q2Z";
const URL_SECRET: &str = "urlSecr3tPw9x";
const SIGNATURE: &str = "SigSecr3t0e1f2a3b";
const SIGNED_CRED: &str = "AKIAKSSIGNEDCRED5";
const ENV_KEY_ID: &str = "AKIAKSENVKEYID8M4";
const ENV_SECRET: &str = "envSecr3tAccessKey";
const ENV_TOKEN: &str = "envSecr3tSessionToken";
const EP_USER: &str = "epUserSecr3t";
const EP_PASS: &str = "epPassSecr3t";
const AZ_KEY: &str = "azSecr3tAccountKey";
const AZ_PASS: &str = "azUrlSecr3tPw";
/// Every planted secret, as searched for.
const SECRETS: &[&str] = &[
    URL_KEY_ID,
    URL_SECRET,
    SIGNATURE,
    SIGNED_CRED,
    ENV_KEY_ID,
    ENV_SECRET,
    ENV_TOKEN,
    EP_USER,
    EP_PASS,
    AZ_KEY,
    AZ_PASS,
    // Any fragment of the secret markers above, in case one is cut or re-encoded.
    "Secr3t",
];

/// `s3://KEY:SECRET@bucket/prefix?X-Amz-Signature=…&X-Amz-Credential=…`
fn secret_url(bucket: &str, prefix: &str) -> String {
    format!(
        "s3://{URL_KEY_ID}:{URL_SECRET}@{bucket}/{prefix}?X-Amz-Signature={SIGNATURE}&X-Amz-Credential={SIGNED_CRED}%2F20261123%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=900"
    )
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("addr").port()
}

/// Runs the binary with only the planted environment (no real credentials can leak in or be
/// used, and no instance-metadata lookups: AWS keys are always set).
fn run(args: &[String], extra_env: &[(&str, &str)], cwd: &Path) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", ENV_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ENV_SECRET)
        .env("AWS_SESSION_TOKEN", ENV_TOKEN)
        .env("AWS_REGION", "us-east-1")
        .env("AZURE_STORAGE_ACCOUNT_KEY", AZ_KEY)
        .env("KUBESEEN_NOW", "2030-01-01T00:00:00Z")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.output().expect("run kubeseen")
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "secret {s:?} appears in {what}:\n{text}");
    }
}

/// Runs `args` with `--log debug` in both log formats; checks stdout and stderr; returns the
/// outputs (JSON format first).
fn run_checked(args: &[String], env: &[(&str, &str)], cwd: &Path) -> Vec<Output> {
    let mut outs = Vec::new();
    for format in ["json", "text"] {
        let mut full: Vec<String> = vec!["--log".into(), "debug".into(), "--log-format".into(), format.into()];
        full.extend(args.iter().cloned());
        let out = run(&full, env, cwd);
        let what = format!("`kubeseen {}` ({format} logs)", full.join(" "));
        assert_no_secret(&format!("stdout of {what}"), &String::from_utf8_lossy(&out.stdout));
        assert_no_secret(&format!("stderr of {what}"), &String::from_utf8_lossy(&out.stderr));
        outs.push(out);
    }
    outs
}

/// The text of every cell of a Parquet file (strings in full, lists element by element).
fn parquet_text(bytes: &[u8]) -> String {
    fn value_text(v: AnyValue<'_>, out: &mut String) {
        match v {
            AnyValue::List(s) => {
                for x in s.iter() {
                    value_text(x, out);
                }
            }
            v => match v.get_str() {
                Some(s) => out.push_str(s),
                None => out.push_str(&v.to_string()),
            },
        }
        out.push('\n');
    }
    let df = ParquetReader::new(std::io::Cursor::new(bytes.to_vec()))
        .finish()
        .expect("a Parquet file the lake wrote");
    let mut out = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for c in df.columns() {
        for i in 0..df.height() {
            value_text(c.get(i).expect("row"), &mut out);
        }
    }
    out
}

/// The searchable text of one written file or object.
fn content_text(name: &str, bytes: &[u8]) -> String {
    if name.ends_with(".parquet") {
        parquet_text(bytes)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Exports with a finding in the window ending 2026-11-20T12:00Z and one unparseable line
/// (so a rejects record is written too).
fn export_text() -> String {
    let at = t("2026-11-20T12:00:00Z");
    let mut v = Vec::new();
    for h in [24 * 20, 24 * 2, 5] {
        v.push(P::new("prod", "n1", "/usr/bin/kubelet", 1, at - hours(h)));
    }
    v.push(P::new(
        "prod",
        "n1",
        "/tmp/.x/xmrig",
        7,
        at - chrono::Duration::minutes(30),
    ));
    format!("{}{{\"resourceMetrics\": [\n", otlp_lines(&v))
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The land/detect/backfill/compact commands against `lake`, each with `extra` global flags.
fn pipeline(lake: &str, input: &str, extra: &[String]) -> Vec<Vec<String>> {
    let with = |args: &[&str]| -> Vec<String> {
        let mut v = extra.to_vec();
        v.extend(strs(args));
        v
    };
    vec![
        with(&["land", "--lake", lake, input]),
        with(&[
            "detect",
            "--lake",
            lake,
            "--at",
            "2026-11-20T12:00:00Z",
            "--format",
            "json",
        ]),
        with(&["detect", "--lake", lake, "--at", "2026-11-20T12:00:00Z"]),
        with(&[
            "backfill",
            "--lake",
            lake,
            "--from",
            "2026-11-20T09:00:00Z",
            "--to",
            "2026-11-20T12:00:00Z",
        ]),
        with(&["compact", "--lake", lake]),
    ]
}

#[test]
fn secrets_stay_out_of_logs_errors_and_the_local_lake() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in/export.jsonl");
    std::fs::create_dir_all(input.parent().expect("parent")).expect("mkdir");
    std::fs::write(&input, export_text()).expect("write export");
    let lake = dir.path().join("lake").display().to_string();
    // The endpoint (with credentials) is given but unused by a local lake: it must not be
    // echoed either.
    let ep = format!("http://{EP_USER}:{EP_PASS}@127.0.0.1:{}", closed_port());
    let extra = strs(&["--s3-endpoint", &ep]);
    let mut codes = Vec::new();
    for args in pipeline(&lake, &input.display().to_string(), &extra) {
        let outs = run_checked(&args, &[("KUBESEEN_S3_ENDPOINT", ep.as_str())], dir.path());
        codes.push(outs[0].status.code());
        if args.contains(&"land".to_string()) {
            // The debug logs really were on (the check above looked at something).
            let err = String::from_utf8_lossy(&outs[0].stderr);
            assert!(
                err.contains("\"level\":\"DEBUG\""),
                "no debug logs in JSON format:\n{err}"
            );
        }
    }
    // land: rejected input (exit 3); the rest succeed.
    assert_eq!(codes, vec![Some(3), Some(0), Some(0), Some(0), Some(0)]);
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    let lake_files: Vec<_> = files.iter().filter(|f| f.starts_with(&lake)).collect();
    for kind in ["/findings/", "/reports/", "/_kubeseen/rejects/", "/metrics/"] {
        assert!(
            lake_files.iter().any(|f| f.display().to_string().contains(kind)),
            "nothing under {kind} in {lake_files:?}"
        );
    }
    for f in &files {
        let bytes = std::fs::read(f).expect("read written file");
        assert_no_secret(
            &f.display().to_string(),
            &content_text(&f.display().to_string(), &bytes),
        );
    }
}

#[test]
fn secrets_stay_out_of_failing_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("export.jsonl");
    std::fs::write(&input, export_text()).expect("write export");
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let ep_with_creds = format!("http://{EP_USER}:{EP_PASS}@127.0.0.1:{}", closed_port());
    let lake = secret_url("kubeseen-unreachable", "lake");
    let input_url = secret_url("kubeseen-unreachable", "in/export.jsonl");
    let local_lake = dir.path().join("lake").display().to_string();
    // (arguments, extra environment)
    type Run = (Vec<String>, Vec<(&'static str, String)>);
    let mut runs: Vec<Run> = Vec::new();
    // Unreachable endpoint (a closed loopback port): every subcommand fails after its retries.
    for args in pipeline(&lake, &input.display().to_string(), &strs(&["--s3-endpoint", &closed])) {
        runs.push((args, vec![]));
    }
    runs.push((
        strs(&["--s3-endpoint", &closed, "land", "--lake", &local_lake, &input_url]),
        vec![],
    ));
    runs.push((
        strs(&[
            "--s3-endpoint",
            &closed,
            "generate",
            "--out",
            &secret_url("kubeseen-unreachable", "gen"),
            "--clusters",
            "1",
            "--nodes",
            "2",
            "--processes",
            "1",
            "--days",
            "2",
            "--interval",
            "900s",
        ]),
        vec![],
    ));
    // An endpoint with credentials, as a flag and from the environment: refused up front.
    for args in pipeline(
        &lake,
        &input.display().to_string(),
        &strs(&["--s3-endpoint", &ep_with_creds]),
    ) {
        runs.push((args, vec![]));
    }
    for var in ["KUBESEEN_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"] {
        runs.push((
            strs(&["land", "--lake", &lake, &input.display().to_string()]),
            vec![(var, ep_with_creds.clone())],
        ));
    }
    // Azure with a password and a SAS-like query in the URL (no account: fails before any I/O).
    let az = format!("az://azuser:{AZ_PASS}@container/lake?sig={SIGNATURE}");
    runs.push((strs(&["land", "--lake", &az, &input.display().to_string()]), vec![]));
    // A secret with characters that break URL syntax (AWS secret keys hold `/`).
    let broken = format!("s3://{URL_KEY_ID}:{URL_SECRET}/x+y@bucket/lake?X-Amz-Signature={SIGNATURE}");
    runs.push((strs(&["--s3-endpoint", &closed, "detect", "--lake", &broken]), vec![]));
    for (args, env) in &runs {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for out in run_checked(args, &env, dir.path()) {
            // 1: refused before any I/O; 5: the store kept failing after the retries.
            assert!(
                matches!(out.status.code(), Some(1) | Some(5)),
                "`kubeseen {}` should fail:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        assert_no_secret(
            &f.display().to_string(),
            &content_text(&f.display().to_string(), &bytes),
        );
    }
}

#[test]
fn secrets_stay_out_of_s3_runs_reports_and_findings() {
    let Some(S3Server { endpoint: ep, bucket }) = s3_server("") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let prefix = format!("security-{}", std::process::id());
    let store = StoreOptions {
        s3_endpoint: Some(ep.clone()),
        ..StoreOptions::default()
    };
    // Moto accepts any key; the run signs with the planted ones. The test's own client uses
    // the server's (scripts/s3-server.sh exports them).
    let root = Location::open(&format!("s3://{bucket}/{prefix}"), &store, true).expect("s3 root");
    root.put("in/export.jsonl", export_text().into_bytes())
        .expect("upload export");
    let lake = secret_url(&bucket, &format!("{prefix}/lake"));
    let input = secret_url(&bucket, &format!("{prefix}/in/export.jsonl"));
    let extra = strs(&["--s3-endpoint", &ep]);
    let mut codes = Vec::new();
    for args in pipeline(&lake, &input, &extra) {
        let outs = run_checked(&args, &[], dir.path());
        codes.push(outs[0].status.code());
        if codes.len() == 1 {
            assert_eq!(
                codes[0],
                Some(3),
                "land from a signed s3 URL: {}",
                String::from_utf8_lossy(&outs[0].stderr)
            );
        }
    }
    assert_eq!(codes, vec![Some(3), Some(0), Some(0), Some(0), Some(0)]);
    let objects = root.list("lake").expect("list lake");
    for kind in ["findings/", "reports/", "_kubeseen/rejects/", "metrics/"] {
        assert!(
            objects.iter().any(|(k, _)| k.starts_with(&format!("lake/{kind}"))),
            "nothing under {kind}: {objects:?}"
        );
    }
    for (key, _) in &objects {
        let bytes = root.get(key).expect("read object");
        assert_no_secret(key, &content_text(key, &bytes));
    }
    // A bucket that does not exist: every subcommand fails, naming no secret.
    let missing = secret_url(&format!("kubeseen-missing-{}", std::process::id()), "lake");
    for args in pipeline(&missing, &input, &extra) {
        for out in run_checked(&args, &[], dir.path()) {
            assert!(
                matches!(out.status.code(), Some(1) | Some(5)),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

// ---- Names derived from data or input never escape the lake or make odd object names --------

/// Values an attacker controls in an export: attribute values, names, file names.
const HOSTILE: &[&str] = &[
    "../../../../escape-dotdot",
    "/abs/escape-slash",
    "a/b/../../../escape-mixed",
    "%2F..%2F..%2Fescape-pct",
    "..%2fescape-pct-lower",
    "nul\0escape-nul",
    "new\nline\rescape-crlf",
    "ノード☃-escape-unicode/..",
    "C:\\Windows\\..\\escape-backslash",
    "$(touch escape-shell)",
    "..",
    ".",
    "",
];

fn long_value() -> String {
    format!("escape-long-{}", "x".repeat(5000))
}

/// Every path component under `lake` is a plain, short, printable ASCII name, and the known
/// partition-like components have their exact shapes.
fn assert_plain_keys(lake: &Path, files: &[PathBuf]) {
    for f in files {
        let rel = f.strip_prefix(lake).expect("under the lake");
        let top = rel
            .components()
            .next()
            .expect("component")
            .as_os_str()
            .to_string_lossy()
            .to_string();
        assert!(
            [
                "metrics",
                "rollups",
                "findings",
                "reports",
                "lookups",
                "risk",
                "ocsf",
                "_kubeseen"
            ]
            .contains(&top.as_str()),
            "unexpected top-level folder in the lake: {}",
            rel.display()
        );
        for c in rel.components() {
            let c = c.as_os_str().to_str().expect("UTF-8 name");
            assert!(
                !c.is_empty() && c.len() <= 100 && c != ".." && c != ".",
                "odd component {c:?} in {}",
                rel.display()
            );
            assert!(
                c.bytes().all(|b| b.is_ascii_alphanumeric() || b"=-_.".contains(&b)),
                "odd character in {c:?} of {}",
                rel.display()
            );
            assert!(
                !c.contains("escape"),
                "a hostile value became a name: {}",
                rel.display()
            );
            if let Some(d) = c.strip_prefix("date=") {
                assert!(
                    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() && d.len() == 10,
                    "{c}"
                );
            }
            if let Some(h) = c.strip_prefix("hour=") {
                assert!(h.len() == 2 && h.parse::<u32>().is_ok_and(|h| h < 24), "{c}");
            }
            // OCSF's Security Lake layout: a cluster is a hash, never its name.
            if let Some(a) = c.strip_prefix("accountId=") {
                assert!(
                    a.len() == 17 && a.starts_with('c') && a[1..].bytes().all(|b| b.is_ascii_hexdigit()),
                    "{c}"
                );
            }
            if let Some(d) = c.strip_prefix("eventDay=") {
                assert!(
                    chrono::NaiveDate::parse_from_str(d, "%Y%m%d").is_ok() && d.len() == 8,
                    "{c}"
                );
            }
            if let Some(s) = c.strip_prefix("detection=") {
                assert!(
                    s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{c}"
                );
            }
        }
    }
}

#[test]
fn hostile_values_and_names_stay_inside_the_lake() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("root");
    let inputs = root.join("inputs");
    let lake = root.join("lake");
    let cwd = root.join("cwd");
    for d in [&inputs, &cwd] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let at = t("2026-11-20T12:00:00Z");
    let long = long_value();
    let mut values: Vec<&str> = HOSTILE.to_vec();
    values.push(&long);
    let mut points = Vec::new();
    for (i, v) in values.iter().enumerate() {
        // Hostile cluster, node and path; each has a baseline and a new path in the window.
        let path = format!("/usr/bin/{v}");
        points.push(P::new(v, v, "/usr/bin/kubelet", 1, at - hours(48)));
        points.push(P::new(v, v, &path, 10 + i as i64, at - chrono::Duration::minutes(20)));
        points.push(P::new(
            "prod",
            "n1",
            v,
            100 + i as i64,
            at - chrono::Duration::minutes(10),
        ));
    }
    let mut text = otlp_lines(&points);
    // Hostile times: before 2000, past the clock, the largest u64; a hostile metric name and
    // attribute key.
    for ts in ["1", "946684799999999999", "4102444800000000000", "18446744073709551615"] {
        text.push_str(&format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"process.memory.usage","gauge":{{"dataPoints":[{{"timeUnixNano":"{ts}","asInt":"1"}}]}}}}]}}]}}]}}"#
        ));
        text.push('\n');
    }
    text.push_str(&otlp_lines(&[
        P::new("prod", "n1", "/bin/x", 1, at).metric("../../escape-metric/\0\n")
    ]));
    // File names an attacker might choose (no `/` or NUL: the OS refuses those).
    let names = [
        "..%2F..%2Fescape-file.jsonl",
        "new\nline escape ☃.jsonl",
        "-escape-dash.jsonl",
        "..escape-dots.jsonl",
    ];
    for n in names {
        std::fs::write(inputs.join(n), &text).expect("write export");
    }
    // An allowlist whose rule names and reasons are hostile too.
    let allow = root.join("allow.toml");
    std::fs::write(
        &allow,
        "[[rule]]\nname = \"../../escape-rule/\\u0000\\n\"\nreason = \"../escape-reason\"\n[rule.match]\nk8s_node_name = \"n1\"\n",
    )
    .expect("write allowlist");
    let lake_s = lake.display().to_string();
    let allow_s = allow.display().to_string();
    let out = run(
        &strs(&["land", "--lake", &lake_s, &inputs.display().to_string()]),
        &[],
        &cwd,
    );
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    for args in [
        strs(&[
            "detect",
            "--lake",
            &lake_s,
            "--at",
            "2026-11-20T12:00:00Z",
            "--allowlist",
            &allow_s,
            "--format",
            "json",
        ]),
        strs(&[
            "backfill",
            "--lake",
            &lake_s,
            "--from",
            "2026-11-20T10:00:00Z",
            "--to",
            "2026-11-20T12:00:00Z",
            "--allowlist",
            &allow_s,
        ]),
        strs(&[
            "detect",
            "--lake",
            &lake_s,
            "--at",
            "2026-11-20T12:00:00Z",
            "--splunk-compat",
        ]),
        strs(&["compact", "--lake", &lake_s]),
    ] {
        let out = run(&args, &[], &cwd);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The hostile values did land (as data, not as names) and made findings.
    let df = read_lake(&lake);
    let nodes = df.column("k8s_node_name").expect("column").str().expect("str").clone();
    for v in [
        "../../../../escape-dotdot",
        "/abs/escape-slash",
        "%2F..%2F..%2Fescape-pct",
        "ノード☃-escape-unicode/..",
    ] {
        assert!(nodes.iter().any(|n| n == Some(v)), "node {v:?} did not land as data");
    }
    let findings_dir = lake.join("findings/detection=process_new_path/date=2026-11-20");
    assert!(findings_dir.join("20261120T120000Z-1h.parquet").is_file());

    // Names from user input: a detection slug and --detection values.
    let queries = root.join("queries");
    std::fs::create_dir_all(&queries).expect("mkdir");
    let builtin = kubeseen::detect::spec::BUILTIN
        .iter()
        .find(|(f, _)| *f == "process_new_path.toml")
        .expect("process_new_path is built in")
        .1;
    for (i, slug) in ["../../escape-slug", "a/b", "UPPER", "x\ny", ""].iter().enumerate() {
        let q = builtin.replace(
            "slug = \"process_new_path\"",
            &format!("slug = {}", serde_json::to_string(slug).expect("toml string")),
        );
        std::fs::write(queries.join("q.toml"), &q).expect("write spec");
        let out = run(
            &strs(&[
                "detect",
                "--lake",
                &lake_s,
                "--at",
                "2026-11-20T12:00:00Z",
                "--queries",
                &queries.display().to_string(),
            ]),
            &[],
            &cwd,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "slug #{i} {slug:?} accepted: {err}");
        assert!(err.contains("q.toml") && err.contains("slug"), "slug #{i}: {err}");
    }
    // Window ends whose date would not be YYYY-MM-DD (year 0 formats as -0001).
    for args in [
        strs(&["detect", "--lake", &lake_s, "--at", "0000-01-01T00:00:00Z"]),
        strs(&["detect", "--lake", &lake_s, "--at", "1999-12-31T23:00:00Z"]),
        strs(&[
            "backfill",
            "--lake",
            &lake_s,
            "--from",
            "0001-01-01T00:00:00Z",
            "--to",
            "0001-01-02T00:00:00Z",
        ]),
    ] {
        let out = run(&args, &[], &cwd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", args.join(" "));
        assert!(err.contains("before 2000-01-01"), "{err}");
    }
    for d in ["../../escape-detection", "process_new_path/../x", "%2F"] {
        let out = run(&strs(&["detect", "--lake", &lake_s, "--detection", d]), &[], &cwd);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no such detection"));
    }

    // Nothing was written outside the lake (the inputs, allowlist and queries are ours), and
    // every name inside it is plain.
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    for f in &files {
        assert!(
            f.starts_with(&lake) || f.starts_with(&inputs) || f.starts_with(&queries) || *f == allow,
            "written outside the lake: {}",
            f.display()
        );
    }
    assert_eq!(
        std::fs::read_dir(&cwd).expect("cwd").count(),
        0,
        "files appeared in the working dir"
    );
    let lake_files: Vec<PathBuf> = files.into_iter().filter(|f| f.starts_with(&lake)).collect();
    assert!(lake_files.len() > 5, "{lake_files:?}");
    assert_plain_keys(&lake, &lake_files);
    for d in ["escape-dotdot", "escape-slash", "escape-mixed", "abs"] {
        assert!(!Path::new("/").join(d).exists() && !root.join(d).exists() && !dir.path().join(d).exists());
    }
}

#[test]
fn generated_exports_stay_under_the_output_folder() {
    let dir = tempfile::tempdir().expect("tmp");
    let out_dir = dir.path().join("out");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    for layout in ["file-exporter", "s3-exporter"] {
        let out = run(
            &strs(&[
                "generate",
                "--out",
                &out_dir.join(layout).display().to_string(),
                "--clusters",
                "2",
                "--nodes",
                "2",
                "--processes",
                "1",
                "--days",
                "2",
                "--interval",
                "900s",
                "--end",
                "2026-11-20T00:00:00Z",
                "--layout",
                layout,
            ]),
            &[],
            &cwd,
        );
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    assert!(files.len() > 10);
    for f in &files {
        let rel = f.strip_prefix(&out_dir).expect("written under --out");
        for c in rel.components() {
            let c = c.as_os_str().to_str().expect("UTF-8 name");
            assert!(
                c != ".." && !c.is_empty() && c.bytes().all(|b| b.is_ascii_graphic()),
                "odd name {c:?} in {}",
                rel.display()
            );
        }
    }
}

// ---- Config files are strict ---------------------------------------------------------------

#[test]
fn allowlists_and_detection_specs_reject_unknown_fields() {
    let dir = tempfile::tempdir().expect("tmp");
    let l = TestLake::new();
    l.land(
        "e.jsonl",
        &[P::new("prod", "n1", "/bin/x", 1, t("2026-11-20T11:30:00Z"))],
    );
    let lake = l.path().display().to_string();
    let good = "[[rule]]\nname = \"ci\"\nreason = \"CI\"\n[rule.match]\nk8s_node_name = \"ci-*\"\n";
    // (allowlist text, the word the error must name)
    let allowlists = [
        (format!("{good}colour = \"red\"\n"), "colour"),
        (good.replace("reason =", "reasons ="), "reasons"),
        (format!("[settings]\nstrict = true\n{good}"), "settings"),
        (format!("[[rules]]\nname = \"x\"\n{good}"), "rules"),
        (
            good.replace("k8s_node_name = \"ci-*\"", "k8s_node_name = { glob = \"ci-*\" }"),
            "k8s_node_name",
        ),
        (
            good.replace("name = \"ci\"\n", "name = \"ci\"\nname = \"again\"\n"),
            "name",
        ),
    ];
    for (i, (text, word)) in allowlists.iter().enumerate() {
        let f = dir.path().join(format!("allow-{i}.toml"));
        std::fs::write(&f, text).expect("write");
        let out = kubeseen(
            &[
                "detect",
                "--lake",
                &lake,
                "--at",
                "2026-11-20T12:00:00Z",
                "--allowlist",
                &f.display().to_string(),
            ],
            dir.path(),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "allowlist #{i} accepted:\n{text}\n{err}");
        assert!(
            err.contains(&format!("allow-{i}.toml")) && err.contains(word),
            "allowlist #{i}: the error should name the file and {word:?}: {err}"
        );
    }
    // The good one is accepted (the cases above fail for their one change).
    let f = dir.path().join("good.toml");
    std::fs::write(&f, good).expect("write");
    let out = kubeseen(
        &[
            "detect",
            "--lake",
            &lake,
            "--at",
            "2026-11-20T12:00:00Z",
            "--allowlist",
            &f.display().to_string(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    // Detection specs: an unknown field in every table.
    let builtin = kubeseen::detect::spec::BUILTIN
        .iter()
        .find(|(f, _)| *f == "process_new_path.toml")
        .expect("process_new_path is built in")
        .1;
    let specs = [
        (builtin.replace("impact = 50", "impact = 50\nseverity = 3"), "severity"),
        (
            builtin.replace("current = \"1h\"", "current = \"1h\"\nlag = \"5m\""),
            "lag",
        ),
        (
            builtin.replace("entity = ", "entities = [\"x\"]\nentity = "),
            "entities",
        ),
        (
            builtin.replace(
                "presence_metric_prefixes = []",
                "presence_metric_prefixes = []\nextra = 1",
            ),
            "extra",
        ),
        (format!("{builtin}\n[output]\nformat = \"csv\"\n"), "output"),
    ];
    for (i, (text, word)) in specs.iter().enumerate() {
        let q = dir.path().join(format!("queries-{i}"));
        std::fs::create_dir_all(&q).expect("mkdir");
        std::fs::write(q.join("spec.toml"), text).expect("write");
        let out = kubeseen(
            &[
                "detect",
                "--lake",
                &lake,
                "--at",
                "2026-11-20T12:00:00Z",
                "--queries",
                &q.display().to_string(),
            ],
            dir.path(),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "spec #{i} accepted: {err}");
        assert!(
            err.contains("spec.toml") && err.contains(word),
            "spec #{i}: the error should name the file and {word:?}: {err}"
        );
    }
}
