//! Object-store faults: `land` and `detect` on an S3 lake through [`FaultProxy`], between the
//! binary and the moto server (scripts/s3-server.sh; KUBESEEN_TEST_S3_ENDPOINT).
//!
//! Transient faults (each request fails fewer times than the retry budget) must change nothing:
//! the lake holds the same object keys as after a fault-free run, every object but the reports
//! with the same bytes (reports carry timings and the lake's URL: they are compared by key
//! only), and the findings rows are the same. Persistent faults must fail
//! the run with exit code 5 and an error naming the object, without credentials; the lake then
//! holds no partial object, keeps everything landed before, and a re-run once the faults stop
//! completes it to the fault-free result.
//! With KUBESEEN_RELIABILITY_OUT set, each scenario appends one result line (suite "faults").

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kubeseen::storage::{Location, StoreOptions};
use polars::prelude::*;

use crate::common::*;
use crate::proxy::{Fault, FaultProxy, Rule};

/// Handed to the child processes as the AWS secret: it must never appear in their output.
pub const SECRET: &str = "kubeseen-fault-secret-3d9f";

pub const AT: &str = "2026-11-20T12:00:00Z";

/// The S3 test server, or None (a visible skip, see `common::s3_server`) when none is configured.
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl S3 {
    /// `what`: the part of the test that needs the server ("" for all of it).
    pub fn from_env(what: &str) -> Option<S3> {
        let S3Server { endpoint, bucket } = s3_server(what)?;
        Some(S3 { endpoint, bucket })
    }

    /// A fresh lake URL in the bucket (`name` reduced to letters, digits and dashes).
    pub fn url(&self, name: &str) -> String {
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        format!(
            "s3://{}/{name}-{}-{}",
            self.bucket,
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// `url` opened directly on the server (no proxy): what is really there.
    pub fn open(&self, url: &str) -> Location {
        let opts = StoreOptions {
            s3_endpoint: Some(self.endpoint.clone()),
            ..StoreOptions::default()
        };
        Location::open(url, &opts, true).expect("open the S3 location")
    }
}

/// Appends a result line to KUBESEEN_RELIABILITY_OUT (when set).
pub fn record(suite: &str, fault: &str, target: &str, count: u64, outcome: &str, ok: bool) {
    let Ok(path) = std::env::var("KUBESEEN_RELIABILITY_OUT") else {
        return;
    };
    let line = serde_json::json!({
        "suite": suite, "fault": fault, "target": target, "count": count, "outcome": outcome, "ok": ok,
    });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open KUBESEEN_RELIABILITY_OUT");
    writeln!(f, "{line}").expect("append a result line");
}

/// Checks of one scenario: every failed one is reported, then the scenario fails.
pub struct Checks {
    failed: Vec<String>,
}

impl Checks {
    pub fn new() -> Checks {
        Checks { failed: Vec::new() }
    }

    pub fn check(&mut self, ok: bool, what: impl Into<String>) -> bool {
        if !ok {
            self.failed.push(what.into());
        }
        ok
    }

    /// Records the scenario's line, then fails the test if any check failed.
    pub fn finish(self, suite: &str, fault: &str, target: &str, count: u64, outcome: &str) {
        let ok = self.failed.is_empty();
        let outcome = if ok {
            outcome.to_string()
        } else {
            format!("FAILED: {}", self.failed.join("; "))
        };
        record(suite, fault, target, count, &outcome, ok);
        assert!(ok, "{fault} / {target}: {outcome}");
    }
}

/// Background processes of two nodes over the 36 hours before [`AT`], every 20 minutes, plus
/// two new paths (one in the window, one in the baseline): four export files by time.
pub fn dataset() -> Vec<Vec<P>> {
    let at = t(AT);
    let mut files: Vec<Vec<P>> = vec![Vec::new(); 4];
    for step in 1..=(36 * 3) {
        let time = at - chrono::Duration::minutes(20 * step);
        let file = (step as usize - 1) * 3 / (36 * 3);
        for node in ["n1", "n2"] {
            for (pid, path) in [
                "/usr/bin/kubelet",
                "/usr/bin/containerd",
                "/usr/sbin/sshd",
                "/usr/bin/node-exporter",
            ]
            .iter()
            .enumerate()
            {
                files[file].push(P::new("prod", node, path, pid as i64 + 1, time));
            }
        }
    }
    files[3].push(P::new("prod", "n2", "/opt/tool", 50, at - hours(20)));
    files[3].push(P::new(
        "prod",
        "n1",
        "/tmp/.x/xmrig",
        51,
        at - chrono::Duration::minutes(59),
    ));
    files[3].push(P::new(
        "prod",
        "n1",
        "/tmp/.x/xmrig",
        51,
        at - chrono::Duration::minutes(1),
    ));
    files
}

/// The dataset written as export files in `dir`; their paths.
pub fn write_inputs(dir: &Path) -> Vec<String> {
    dataset()
        .iter()
        .enumerate()
        .map(|(i, pts)| {
            let f = dir.join(format!("export-{i}.jsonl"));
            std::fs::write(&f, otlp_lines(pts)).expect("write export");
            f.display().to_string()
        })
        .collect()
}

/// Client settings of the transient scenarios: a short timeout, a generous retry budget.
pub const TRANSIENT: &[&str] = &[
    "--s3-timeout",
    "1500ms",
    "--s3-retries",
    "8",
    "--s3-retry-backoff",
    "10ms",
    "--s3-retry-timeout",
    "60s",
];

/// Client settings of the persistent scenarios: the budget runs out quickly.
pub const PERSISTENT: &[&str] = &[
    "--s3-timeout",
    "1s",
    "--s3-retries",
    "2",
    "--s3-retry-backoff",
    "10ms",
    "--s3-retry-timeout",
    "20s",
];

/// Runs the binary against `endpoint` with the test credentials (secret: [`SECRET`]).
pub fn ks(endpoint: &str, settings: &[&str], args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--s3-endpoint")
        .arg(endpoint)
        .args(settings)
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("KUBESEEN_NOW", "2030-01-01T00:00:00Z")
        .env_remove("KUBESEEN_LAKE")
        .env_remove("KUBESEEN_S3_ENDPOINT")
        .output()
        .expect("run kubeseen")
}

pub fn land_args<'a>(lake: &'a str, inputs: &'a [String]) -> Vec<&'a str> {
    let mut v = vec!["land", "--lake", lake, "--json"];
    v.extend(inputs.iter().map(String::as_str));
    v
}

pub fn detect_args(lake: &str) -> Vec<&str> {
    vec!["detect", "--lake", lake, "--at", AT, "--format", "json"]
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Every object of a lake with its bytes, by key.
pub fn snapshot(lake: &Location) -> BTreeMap<String, Vec<u8>> {
    lake.list("")
        .expect("list the lake")
        .into_iter()
        .map(|(k, _)| {
            let b = lake.get(&k).expect("read an object").to_vec();
            (k, b)
        })
        .collect()
}

/// Differences between two snapshots: keys on one side only, and keys whose bytes differ
/// (reports are compared by key only: they carry timings and the lake's name).
pub fn diff(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut out = Vec::new();
    for k in a.keys().filter(|k| !b.contains_key(*k)) {
        out.push(format!("only in the first: {k}"));
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(format!("only in the second: {k}"));
    }
    for (k, v) in a {
        if !k.starts_with("reports/") && b.get(k).is_some_and(|w| w != v) {
            out.push(format!("bytes differ: {k}"));
        }
    }
    out
}

/// Objects that are not whole: Parquet that does not parse, JSON that does not parse.
pub fn partial_objects(snap: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    snap.iter()
        .filter(|(k, v)| {
            if k.ends_with(".parquet") {
                ParquetReader::new(std::io::Cursor::new(v.to_vec())).finish().is_err()
            } else if k.ends_with(".json") {
                serde_json::from_slice::<serde_json::Value>(v).is_err()
            } else {
                false
            }
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Every landed row of a lake snapshot, sorted by `point_id`.
pub fn points(snap: &BTreeMap<String, Vec<u8>>) -> DataFrame {
    let frames: Vec<LazyFrame> = snap
        .iter()
        .filter(|(k, _)| k.starts_with("metrics/") && k.ends_with(".parquet"))
        .map(|(_, v)| {
            ParquetReader::new(std::io::Cursor::new(v.to_vec()))
                .finish()
                .expect("a landed part file")
                .lazy()
        })
        .collect();
    if frames.is_empty() {
        return DataFrame::empty();
    }
    concat(frames, UnionArgs::default())
        .expect("concat")
        .sort(["point_id"], SortMultipleOptions::default())
        .collect()
        .expect("collect")
}

/// Whether `df` holds some `point_id` twice.
pub fn has_duplicate_points(df: &DataFrame) -> bool {
    df.column("point_id")
        .ok()
        .and_then(|c| c.as_materialized_series().n_unique().ok())
        .is_some_and(|n| n != df.height())
}

/// The findings rows of a `detect --format json` output, by detection.
pub fn findings_rows(o: &Output) -> Vec<(String, Vec<serde_json::Value>)> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["detection"].as_str().unwrap_or("").to_string(),
                r["findings"].as_array().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// The fault-free result every scenario is compared with (built once per test binary).
struct Baseline {
    lake: BTreeMap<String, Vec<u8>>,
    findings: Vec<(String, Vec<serde_json::Value>)>,
    land_requests: usize,
    _inputs: tempfile::TempDir,
    inputs: Vec<String>,
}

fn baseline(s3: &S3) -> &'static Baseline {
    static B: OnceLock<Baseline> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tmp");
        let inputs = write_inputs(dir.path());
        let proxy = FaultProxy::start(&s3.endpoint, 1);
        proxy.set_rules(Vec::new());
        let url = s3.url("faults-base");
        let land = ks(&proxy.endpoint(), TRANSIENT, &land_args(&url, &inputs));
        assert_eq!(land.status.code(), Some(0), "fault-free land: {}", stderr(&land));
        let land_requests = proxy.requests();
        let detect = ks(&proxy.endpoint(), TRANSIENT, &detect_args(&url));
        assert_eq!(detect.status.code(), Some(0), "fault-free detect: {}", stderr(&detect));
        let findings = findings_rows(&detect);
        assert!(
            findings
                .iter()
                .any(|(_, rows)| rows.iter().any(|r| r["process_executable_path"] == "/tmp/.x/xmrig")),
            "the fault-free run finds the new path: {findings:?}"
        );
        Baseline {
            lake: snapshot(&s3.open(&url)),
            findings,
            land_requests,
            _inputs: dir,
            inputs,
        }
    })
}

/// Lands and detects through the proxy with `rules`; checks the result equals the baseline.
fn transient_scenario(s3: &S3, name: &str, rules: Vec<Rule>) {
    let base = baseline(s3);
    let proxy = FaultProxy::start(&s3.endpoint, 7);
    let url = s3.url(name);
    let mut c = Checks::new();
    let started = Instant::now();
    proxy.set_rules(rules.clone());
    let land = ks(&proxy.endpoint(), TRANSIENT, &land_args(&url, &base.inputs));
    let land_faults = proxy.injected();
    let land_requests = proxy.requests();
    let mut by_type = proxy.injected_by_fault();
    c.check(
        land.status.code() == Some(0),
        format!("land exit {:?}: {}", land.status.code(), stderr(&land)),
    );
    proxy.set_rules(rules);
    let detect = ks(&proxy.endpoint(), TRANSIENT, &detect_args(&url));
    let detect_faults = proxy.injected();
    for (k, v) in proxy.injected_by_fault() {
        *by_type.entry(k).or_default() += v;
    }
    c.check(
        detect.status.code() == Some(0),
        format!("detect exit {:?}: {}", detect.status.code(), stderr(&detect)),
    );
    let snap = snapshot(&s3.open(&url));
    let d = diff(&base.lake, &snap);
    c.check(d.is_empty(), format!("lake differs from the fault-free run: {d:?}"));
    let partial = partial_objects(&snap);
    c.check(partial.is_empty(), format!("partial objects: {partial:?}"));
    c.check(
        findings_rows(&detect) == base.findings,
        "findings rows differ from the fault-free run",
    );
    c.check(
        land_faults > 0 && detect_faults > 0,
        "faults were injected into both runs",
    );
    c.check(
        !stderr(&land).contains(SECRET) && !stderr(&detect).contains(SECRET),
        "no credentials in output",
    );
    c.finish(
        "faults",
        name,
        "land + detect, s3 lake",
        land_faults + detect_faults,
        &format!(
            "{land_faults} faults in {land_requests} land requests (fault-free: {}), {detect_faults} in detect{}; both exit 0; the lake holds the {} object keys of a fault-free run, each of the {} that are not reports byte-identical to it (the {} reports carry timings and the lake's URL: compared by key only); no partial object; same findings rows; {:.1}s",
            base.land_requests,
            if by_type.len() > 1 { format!(" (by type: {by_type:?})") } else { String::new() },
            snap.len(),
            snap.keys().filter(|k| !k.starts_with("reports/")).count(),
            snap.keys().filter(|k| k.starts_with("reports/")).count(),
            started.elapsed().as_secs_f64()
        ),
    );
}

#[test]
fn transient_server_errors_and_throttling_change_nothing() {
    let Some(s3) = S3::from_env("") else { return };
    transient_scenario(
        &s3,
        "500 InternalError every 3rd request",
        vec![Rule::every(3, Fault::Status(500, "InternalError"))],
    );
    transient_scenario(
        &s3,
        "503 SlowDown on the first 6 requests for part files",
        vec![Rule::every(1, Fault::Status(503, "SlowDown")).target("part-").limit(6)],
    );
    // Polars reads this file (rollup build in land, the window in detect): more failures in a
    // row than Polars' own default budget (2 retries, and one more round) — so this passes
    // only with kubeseen's retry settings handed to Polars.
    transient_scenario(
        &s3,
        "503 SlowDown on the first 7 GETs of one part file",
        vec![Rule::every(1, Fault::Status(503, "SlowDown"))
            .method("GET")
            .target("hour%3D11/part-")
            .limit(7)],
    );
    transient_scenario(
        &s3,
        "503 SlowDown every 2nd PUT",
        vec![Rule::every(2, Fault::Status(503, "SlowDown")).method("PUT")],
    );
    transient_scenario(
        &s3,
        "503 ServiceUnavailable every 4th request",
        vec![Rule::every(4, Fault::Status(503, "ServiceUnavailable"))],
    );
    transient_scenario(
        &s3,
        "429 SlowDown every 3rd GET",
        vec![Rule::every(3, Fault::Status(429, "SlowDown")).method("GET")],
    );
    transient_scenario(
        &s3,
        "500 InternalError after applying every 2nd PUT or DELETE",
        vec![
            Rule::every(2, Fault::StatusAfterApply(500, "InternalError")).method("PUT"),
            Rule::every(2, Fault::StatusAfterApply(500, "InternalError")).method("DELETE"),
        ],
    );
}

#[test]
fn transient_connection_faults_change_nothing() {
    let Some(s3) = S3::from_env("") else { return };
    transient_scenario(
        &s3,
        "connection reset before forwarding, every 4th request",
        vec![Rule::every(4, Fault::ResetBeforeForward)],
    );
    transient_scenario(
        &s3,
        "connection reset after applying, every 3rd PUT or DELETE",
        vec![
            Rule::every(3, Fault::ResetAfterApply).method("PUT"),
            Rule::every(3, Fault::ResetAfterApply).method("DELETE"),
        ],
    );
    transient_scenario(
        &s3,
        "truncated response body, every 3rd GET",
        vec![Rule::every(3, Fault::TruncateResponse).method("GET")],
    );
    transient_scenario(
        &s3,
        "truncated upload, every 3rd PUT",
        vec![Rule::every(3, Fault::TruncateRequest).method("PUT")],
    );
    transient_scenario(
        &s3,
        "response delayed 4s past a 1.5s timeout, every 30th request",
        vec![Rule::every(30, Fault::Slow(Duration::from_secs(4)))],
    );
}

#[test]
fn a_seeded_mix_of_faults_changes_nothing() {
    let Some(s3) = S3::from_env("") else { return };
    let mix = Rule {
        chance: Some(0.12),
        faults: vec![
            Fault::Status(500, "InternalError"),
            Fault::Status(503, "SlowDown"),
            Fault::Status(429, "SlowDown"),
            Fault::StatusAfterApply(503, "ServiceUnavailable"),
            Fault::ResetBeforeForward,
            Fault::ResetAfterApply,
            Fault::TruncateResponse,
            Fault::TruncateRequest,
            Fault::Slow(Duration::from_secs(3)),
        ],
        ..Rule::every(1, Fault::ResetBeforeForward)
    };
    transient_scenario(&s3, "seeded mix of every fault type, 12% of requests", vec![mix]);
}

/// What a persistent failure must leave: exit 5, the message naming an object of `url` and
/// the request, no credentials, no partial object, nothing landed before lost.
/// Returns the error line, shortened, for the result line.
fn check_failed_run(
    c: &mut Checks,
    out: &Output,
    url: &str,
    what: &str,
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) -> String {
    let err = stderr(out);
    c.check(
        out.status.code() == Some(5),
        format!("{what}: exit {:?} (want 5): {err}", out.status.code()),
    );
    c.check(
        err.contains(url),
        format!("{what}: the error names an object of {url}: {err}"),
    );
    c.check(
        err.contains("127.0.0.1"),
        format!("{what}: the error names the request URL: {err}"),
    );
    c.check(!err.contains(SECRET), format!("{what}: no credentials in the error"));
    let partial = partial_objects(after);
    c.check(partial.is_empty(), format!("{what}: partial objects {partial:?}"));
    let lost: Vec<&String> = before
        .iter()
        .filter(|(k, v)| !k.starts_with("_kubeseen/locks/") && after.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    c.check(
        lost.is_empty(),
        format!("{what}: objects landed before were lost or changed: {lost:?}"),
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("kubeseen: error:"))
        .unwrap_or("")
        .to_string();
    let short: String = line.chars().take(220).collect();
    if short.len() < line.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// Lands everything again without faults and checks the lake holds the fault-free run's
/// points, each once, and gives its findings. (Its objects may differ: what landed before the
/// failure sits in part files of its own.)
fn rerun_completes(c: &mut Checks, s3: &S3, proxy: &FaultProxy, url: &str, base: &Baseline) {
    proxy.set_rules(Vec::new());
    let out = ks(&proxy.endpoint(), TRANSIENT, &land_args(url, &base.inputs));
    c.check(
        out.status.code() == Some(0),
        format!("re-run: exit {:?}: {}", out.status.code(), stderr(&out)),
    );
    let out = ks(&proxy.endpoint(), TRANSIENT, &detect_args(url));
    c.check(out.status.code() == Some(0), format!("re-run detect: {}", stderr(&out)));
    c.check(
        findings_rows(&out) == base.findings,
        "re-run findings equal the fault-free run's",
    );
    let got = points(&snapshot(&s3.open(url)));
    c.check(
        !has_duplicate_points(&got),
        "after the re-run a point is in the lake twice",
    );
    c.check(
        got.equals_missing(&points(&base.lake)),
        format!(
            "after the re-run the lake's points differ from the fault-free run ({} rows)",
            got.height()
        ),
    );
}

#[test]
fn persistent_write_failures_fail_cleanly_and_a_rerun_completes() {
    let Some(s3) = S3::from_env("") else { return };
    let base = baseline(&s3);
    let proxy = FaultProxy::start(&s3.endpoint, 11);

    // 1. Every write of a part file is refused.
    let url = s3.url("persistent-put");
    let mut c = Checks::new();
    proxy.set_rules(vec![Rule::every(1, Fault::Status(503, "SlowDown"))
        .method("PUT")
        .target("part-")]);
    let out = ks(&proxy.endpoint(), PERSISTENT, &land_args(&url, &base.inputs));
    let n = proxy.injected();
    let after = snapshot(&s3.open(&url));
    let msg = check_failed_run(&mut c, &out, &url, "land", &BTreeMap::new(), &after);
    c.check(
        stderr(&out).contains("part-"),
        format!("names the part file: {}", stderr(&out)),
    );
    c.check(
        n == 3,
        format!("1 attempt + 2 retries of the first part file, then stop: {n} faults"),
    );
    c.check(
        !after.keys().any(|k| k.starts_with("metrics/")),
        "no part file is in the lake",
    );
    rerun_completes(&mut c, &s3, &proxy, &url, base);
    c.finish(
        "faults",
        "503 SlowDown on every part-file PUT (persistent)",
        "land, s3 lake",
        n,
        &format!("exit 5 naming the part file and the request URL, no credentials; no part file and no partial object in the lake; a fault-free re-run lands everything: the fault-free run's points, each once, and its findings. Error: {msg}"),
    );

    // 2. A first landing succeeds; a second one fails in the middle: what landed first stays.
    let url = s3.url("persistent-midway");
    let mut c = Checks::new();
    proxy.set_rules(Vec::new());
    let first = ks(&proxy.endpoint(), TRANSIENT, &land_args(&url, &base.inputs[..2]));
    c.check(
        first.status.code() == Some(0),
        format!("first landing: {}", stderr(&first)),
    );
    let before = snapshot(&s3.open(&url));
    // The day of the last file's data: its parts come after some of the earlier partitions'.
    proxy.set_rules(vec![
        Rule::every(1, Fault::Status(500, "InternalError"))
            .method("PUT")
            .target("date%3D2026-11-20/hour%3D11"),
        Rule::every(1, Fault::Status(500, "InternalError"))
            .method("PUT")
            .target("date=2026-11-20/hour=11"),
    ]);
    let out = ks(&proxy.endpoint(), PERSISTENT, &land_args(&url, &base.inputs));
    let n = proxy.injected();
    let after = snapshot(&s3.open(&url));
    let msg = check_failed_run(&mut c, &out, &url, "land", &before, &after);
    c.check(
        stderr(&out).contains("hour=11"),
        format!("names the partition's object: {}", stderr(&out)),
    );
    c.check(n >= 3, format!("{n} faults"));
    rerun_completes(&mut c, &s3, &proxy, &url, base);
    c.finish(
        "faults",
        "500 InternalError on every PUT into one partition (persistent), after a good landing",
        "land, s3 lake",
        n,
        &format!("exit 5 naming the object; every object of the earlier landing unchanged, no partial object; re-run completes: the fault-free points, each once, and the same findings. Error: {msg}"),
    );

    // 3. Uploads cut off half-way, every time: the server must not keep half an object.
    let url = s3.url("persistent-truncated");
    let mut c = Checks::new();
    proxy.set_rules(vec![Rule::every(1, Fault::TruncateRequest)
        .method("PUT")
        .target("part-")]);
    let out = ks(&proxy.endpoint(), PERSISTENT, &land_args(&url, &base.inputs));
    let n = proxy.injected();
    let after = snapshot(&s3.open(&url));
    let msg = check_failed_run(&mut c, &out, &url, "land", &BTreeMap::new(), &after);
    c.check(
        !after.keys().any(|k| k.starts_with("metrics/")),
        format!("no part file is in the lake: {:?}", after.keys().collect::<Vec<_>>()),
    );
    rerun_completes(&mut c, &s3, &proxy, &url, base);
    c.finish(
        "faults",
        "every part-file upload cut off half-way (persistent)",
        "land, s3 lake",
        n,
        &format!("exit 5 naming the object; no part file (whole or partial) in the lake; re-run completes: the fault-free points, each once, and the same findings. Error: {msg}"),
    );
}

#[test]
fn persistent_timeouts_and_read_failures_fail_cleanly() {
    let Some(s3) = S3::from_env("") else { return };
    let base = baseline(&s3);
    let proxy = FaultProxy::start(&s3.endpoint, 13);

    // 1. Listings never answer in time.
    let url = s3.url("persistent-slow");
    let mut c = Checks::new();
    proxy.set_rules(Vec::new());
    let first = ks(&proxy.endpoint(), TRANSIENT, &land_args(&url, &base.inputs[..1]));
    c.check(
        first.status.code() == Some(0),
        format!("first landing: {}", stderr(&first)),
    );
    let before = snapshot(&s3.open(&url));
    // Listings of the points table (landing reads each partition's point ids first).
    let key_prefix = url.trim_start_matches(&format!("s3://{}/", s3.bucket)).to_string();
    proxy.set_rules(vec![
        Rule::every(1, Fault::Slow(Duration::from_secs(3))).target(&format!("prefix={key_prefix}%2Fmetrics"))
    ]);
    let started = Instant::now();
    let out = ks(&proxy.endpoint(), PERSISTENT, &land_args(&url, &base.inputs));
    let took = started.elapsed();
    let n = proxy.injected();
    let after = snapshot(&s3.open(&url));
    let msg = check_failed_run(&mut c, &out, &url, "land", &before, &after);
    c.check(
        stderr(&out).contains("listing s3://") && stderr(&out).contains("/metrics/date="),
        format!("names the partition listed: {}", stderr(&out)),
    );
    c.check(
        stderr(&out).to_lowercase().contains("timed out") || stderr(&out).to_lowercase().contains("timeout"),
        format!("says it timed out: {}", stderr(&out)),
    );
    c.check(took < Duration::from_secs(30), format!("gave up in {took:?}"));
    rerun_completes(&mut c, &s3, &proxy, &url, base);
    c.finish(
        "faults",
        "every LIST of the points table answered 3s late, past a 1s timeout (persistent)",
        "land, s3 lake",
        n,
        &format!("exit 5 after {:.1}s naming the listed partition and saying it timed out; earlier landing intact; re-run completes: the fault-free points, each once, and the same findings. Error: {msg}", took.as_secs_f64()),
    );

    // 2. Detection cannot read the part files.
    let url = s3.url("persistent-read");
    let mut c = Checks::new();
    proxy.set_rules(Vec::new());
    let land = ks(&proxy.endpoint(), TRANSIENT, &land_args(&url, &base.inputs));
    c.check(land.status.code() == Some(0), format!("landing: {}", stderr(&land)));
    let before = snapshot(&s3.open(&url));
    proxy.set_rules(vec![Rule::every(1, Fault::Status(500, "InternalError"))
        .method("GET")
        .target("part-")]);
    let out = ks(&proxy.endpoint(), PERSISTENT, &detect_args(&url));
    let n = proxy.injected();
    let after = snapshot(&s3.open(&url));
    let msg = check_failed_run(&mut c, &out, &url, "detect", &before, &after);
    c.check(
        !after
            .keys()
            .any(|k| k.starts_with("findings/") || k.starts_with("reports/")),
        "no findings or report written for the failed window",
    );
    c.check(
        !after.keys().any(|k| k.starts_with("_kubeseen/locks/")),
        "the writer lock was released",
    );
    proxy.set_rules(Vec::new());
    let out = ks(&proxy.endpoint(), TRANSIENT, &detect_args(&url));
    c.check(out.status.code() == Some(0), format!("re-run detect: {}", stderr(&out)));
    c.check(
        findings_rows(&out) == base.findings,
        "re-run finds what the fault-free run found",
    );
    c.finish(
        "faults",
        "500 InternalError on every GET of a part file (persistent)",
        "detect, s3 lake",
        n,
        &format!("exit 5 naming the part file and the request URL; no findings or report written; lock released; re-run gives the fault-free findings. Error: {msg}"),
    );
}
