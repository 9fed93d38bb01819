//! Shared helpers: hand-made OTLP exports, lakes in temp folders or S3 buckets, the binary.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use kubeseen::config::{parse_instant, Clock};
use kubeseen::detect::{self, DetectOptions};
use kubeseen::lake::land::{self, LandOptions, LandReport};
use kubeseen::storage::{Location, StoreOptions};
use polars::prelude::*;

pub fn t(s: &str) -> DateTime<Utc> {
    parse_instant(s).expect("test instant")
}

/// One process sighting: a `process.*` data point with the process scraper's attributes.
#[derive(Debug, Clone)]
pub struct P {
    pub cluster: Option<String>,
    pub node: Option<String>,
    pub host: String,
    pub path: Option<String>,
    pub exe: String,
    pub pid: i64,
    pub metric: String,
    pub time: DateTime<Utc>,
}

impl P {
    pub fn new(cluster: &str, node: &str, path: &str, pid: i64, time: DateTime<Utc>) -> P {
        P {
            cluster: Some(cluster.to_string()),
            node: Some(node.to_string()),
            host: node.to_string(),
            path: Some(path.to_string()),
            exe: path.rsplit('/').next().unwrap_or(path).to_string(),
            pid,
            metric: "process.memory.usage".into(),
            time,
        }
    }

    pub fn metric(mut self, m: &str) -> P {
        self.metric = m.to_string();
        self
    }
}

fn kv(key: &str, value: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"key": key, "value": value})
}

/// One `ExportMetricsServiceRequest` line per point, as the Collector's file exporter writes.
pub fn otlp_lines(points: &[P]) -> String {
    let mut out = String::new();
    for p in points {
        let mut attrs = vec![
            kv("host.name", serde_json::json!({"stringValue": p.host})),
            kv("process.pid", serde_json::json!({"intValue": p.pid.to_string()})),
            kv("process.executable.name", serde_json::json!({"stringValue": p.exe})),
            kv(
                "process.command",
                serde_json::json!({"stringValue": p.path.clone().unwrap_or_default()}),
            ),
            kv("process.owner", serde_json::json!({"stringValue": "root"})),
        ];
        if let Some(c) = &p.cluster {
            attrs.push(kv("k8s.cluster.name", serde_json::json!({"stringValue": c})));
        }
        if let Some(n) = &p.node {
            attrs.push(kv("k8s.node.name", serde_json::json!({"stringValue": n})));
        }
        if let Some(path) = &p.path {
            attrs.push(kv("process.executable.path", serde_json::json!({"stringValue": path})));
        }
        let ns = p.time.timestamp_nanos_opt().expect("time in range");
        let doc = serde_json::json!({"resourceMetrics": [{
            "resource": {"attributes": attrs},
            "scopeMetrics": [{"scope": {"name": "otelcol/hostmetricsreceiver/process"}, "metrics": [{
                "name": p.metric, "unit": "By",
                "sum": {"dataPoints": [{"timeUnixNano": ns.to_string(), "asInt": "1024"}], "aggregationTemporality": 2}
            }]}]
        }]});
        out.push_str(&doc.to_string());
        out.push('\n');
    }
    out
}

/// A lake in a temp folder.
pub struct TestLake {
    pub dir: tempfile::TempDir,
    pub lake: Location,
}

impl TestLake {
    pub fn new() -> TestLake {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Location::open(
            &dir.path().join("lake").display().to_string(),
            &StoreOptions::default(),
            true,
        )
        .expect("lake");
        TestLake { dir, lake }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    /// Writes `points` as one export file and lands it.
    pub fn land(&self, name: &str, points: &[P]) -> LandReport {
        let f = self.dir.path().join(name);
        std::fs::write(&f, otlp_lines(points)).expect("write export");
        land_files(&self.lake, &[f.display().to_string()])
    }
}

pub fn land_files(lake: &Location, inputs: &[String]) -> LandReport {
    let inputs = kubeseen::ingest::discover(inputs, &StoreOptions::default()).expect("discover");
    let opts = LandOptions {
        now: t("2030-01-01T00:00:00Z"),
        ..LandOptions::default()
    };
    land::land(lake, &inputs, &opts).expect("land")
}

pub fn opts(at: &str) -> DetectOptions {
    DetectOptions {
        at: Some(t(at)),
        window: None,
        baseline: None,
        splunk_compat: false,
        allowlist: None,
        clock: Clock::fixed(t("2030-01-01T00:00:00Z")),
        rollups: None,
    }
}

pub fn spec() -> detect::spec::Spec {
    detect::spec::load(None)
        .expect("specs")
        .into_iter()
        .find(|s| s.slug == "process_new_path")
        .expect("spec")
}

/// The (cluster, node, path) keys of a findings frame, sorted.
pub fn keys(df: &DataFrame) -> Vec<(String, String, String)> {
    let s = |c: &str, i: usize| {
        df.column(c)
            .expect(c)
            .get(i)
            .expect("row")
            .get_str()
            .unwrap_or("")
            .to_string()
    };
    let mut v: Vec<_> = (0..df.height())
        .map(|i| {
            (
                s("k8s_cluster_name", i),
                s("k8s_node_name", i),
                s("process_executable_path", i),
            )
        })
        .collect();
    v.sort();
    v
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kubeseen")
}

pub fn kubeseen(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("KUBESEEN_LAKE")
        .env("KUBESEEN_NOW", "2030-01-01T00:00:00Z")
        .output()
        .expect("run kubeseen")
}

pub fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

/// Every landed row of a local lake, read back with Polars as Hive-partitioned Parquet.
pub fn read_lake(lake: &Path) -> DataFrame {
    let glob = format!("{}/metrics/**/*.parquet", lake.display());
    let mut args = ScanArgsParquet::default();
    args.hive_options.enabled = Some(true);
    LazyFrame::scan_parquet(PlRefPath::new(glob), args)
        .expect("scan")
        .collect()
        .expect("collect")
}

/// Whether this run blesses golden files: `UPDATE_GOLDEN=1` exactly (`0`, empty or any other
/// value compares, so a stray or disabled setting never rewrites what the tests check).
pub fn blessing() -> bool {
    std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1")
}

/// Compares the rows of a run's findings (as JSON, in any order) with
/// `tests/golden/<slug>[-splunk].jsonl`; `UPDATE_GOLDEN=1` blesses the file instead.
pub fn assert_golden(run: &detect::Run) {
    let mut rows: Vec<String> = kubeseen::report::rows_json(&run.findings)
        .iter()
        .map(|r| r.to_string())
        .collect();
    rows.sort();
    let name = format!(
        "tests/golden/{}{}.jsonl",
        run.spec.slug,
        if run.splunk_compat { "-splunk" } else { "" }
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(&name);
    let got = rows.join("\n") + "\n";
    if blessing() {
        std::fs::write(&path, &got).expect("bless");
    }
    assert_schema(run);
    let want = std::fs::read_to_string(&path).expect("golden file (bless with UPDATE_GOLDEN=1)");
    let mut want_rows: Vec<&str> = want.lines().collect();
    want_rows.sort();
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        want_rows,
        "findings differ from {name} (UPDATE_GOLDEN=1 to bless)"
    );
}

/// The columns `kubeseen schema findings` prints for the run's detection and mode (from a run
/// without rows) are the columns and types this run (with rows) has, each with a meaning.
pub fn assert_schema(run: &detect::Run) {
    use kubeseen::report::schema;
    let printed = schema::findings(std::slice::from_ref(&run.spec), run.splunk_compat).expect("schema");
    let written = schema::columns_of(&run.findings);
    assert_eq!(
        printed[0].columns,
        written,
        "{}{}: `kubeseen schema findings` differs from the columns written",
        run.spec.slug,
        if run.splunk_compat { " (splunk-compat)" } else { "" }
    );
    let undocumented: Vec<&str> = written
        .iter()
        .filter(|c| c.meaning.is_none())
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        undocumented.is_empty(),
        "{}: findings columns without a meaning in report::schema::meaning: {undocumented:?}",
        run.spec.slug
    );
}

/// The S3-compatible test server (scripts/test.sh starts moto on loopback and exports
/// `KUBESEEN_TEST_S3_ENDPOINT` and `KUBESEEN_TEST_S3_BUCKET`).
#[derive(Debug, Clone)]
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
}

/// How many S3 tests (or S3 halves of tests) this test binary skipped.
static S3_SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// The S3 test server, or `None` after a visible skip. Every test that needs S3 asks here.
///
/// - With `KUBESEEN_TEST_S3_ENDPOINT` set: that server (loopback only, checked) and the bucket.
/// - Without it, under `KUBESEEN_REQUIRE_S3` (scripts/test.sh, CI): the test fails.
/// - Without it otherwise (a plain `cargo test`): prints
///   `SKIPPED: <test> needs an S3 server (run scripts/test.sh)` with the running count of skips,
///   straight to the process's stderr, past the test harness's output capture, so the skip
///   shows in the summary of a passing run instead of passing silently.
///
/// `what` names the part skipped when it is not the whole test (e.g. "the S3 lake of").
pub fn s3_server(what: &str) -> Option<S3Server> {
    match std::env::var("KUBESEEN_TEST_S3_ENDPOINT") {
        Ok(endpoint) => {
            assert!(
                endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
                "loopback only: {endpoint}"
            );
            let bucket = std::env::var("KUBESEEN_TEST_S3_BUCKET").unwrap_or_else(|_| "kubeseen-test".into());
            Some(S3Server { endpoint, bucket })
        }
        Err(_) => {
            let thread = std::thread::current();
            let test = thread.name().filter(|n| *n != "main").unwrap_or("an S3 test");
            assert!(
                std::env::var_os("KUBESEEN_REQUIRE_S3").is_none(),
                "{test}: KUBESEEN_REQUIRE_S3 is set but no S3 server is configured (KUBESEEN_TEST_S3_ENDPOINT)"
            );
            let n = S3_SKIPPED.fetch_add(1, Ordering::SeqCst) + 1;
            let part = if what.is_empty() {
                String::new()
            } else {
                format!(" ({what})")
            };
            // Not eprintln!: the harness captures that and shows it only for failed tests.
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED: {test}{part} needs an S3 server (run scripts/test.sh); {n} S3 skip(s) so far in this run"
            );
            None
        }
    }
}
