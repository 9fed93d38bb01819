//! The storage suite against a real S3-compatible server on loopback (scripts/test.sh starts
//! one and exports KUBESEEN_TEST_S3_ENDPOINT / KUBESEEN_TEST_S3_BUCKET). Under scripts/test.sh
//! (KUBESEEN_REQUIRE_S3=1) a missing server is a failure; under a plain `cargo test` each test
//! prints a `SKIPPED:` line (see `common::s3_server`).

use std::sync::atomic::{AtomicU32, Ordering};

use kubeseen::detect;
use kubeseen::lake::land::{self, LandOptions};
use kubeseen::storage::{Location, StoreOptions};

use crate::common::*;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A fresh prefix in the test bucket, or None (a visible skip) when no server is configured.
fn s3_prefix(name: &str) -> Option<(String, StoreOptions)> {
    let S3Server { endpoint, bucket } = s3_server("")?;
    let run = format!("{}-{}-{}", name, std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
    Some((
        format!("s3://{bucket}/{run}"),
        StoreOptions {
            s3_endpoint: Some(endpoint),
            ..StoreOptions::default()
        },
    ))
}

fn golden_like() -> Vec<P> {
    let at = t("2026-11-20T12:00:00Z");
    let mut v = Vec::new();
    for h in [24 * 29, 24 * 10, 5, 2] {
        v.push(P::new("prod", "n1", "/usr/bin/kubelet", 1, at - hours(h)));
        v.push(P::new("prod", "n2", "/usr/bin/kubelet", 1, at - hours(h)));
    }
    v.push(P::new("prod", "n2", "/opt/tool", 5, at - hours(24 * 3)));
    v.push(P::new("prod", "n1", "/opt/tool", 6, at - chrono::Duration::minutes(30)));
    v.push(P::new(
        "prod",
        "n1",
        "/tmp/.x/xmrig",
        7,
        at - chrono::Duration::minutes(59),
    ));
    v.push(P::new("prod", "n1", "/tmp/.x/xmrig", 7, at));
    v
}

#[test]
fn s3_lake_lands_idempotently_and_detects_like_a_local_lake() {
    let Some((url, store)) = s3_prefix("lake") else { return };
    let lake = Location::open(&url, &store, true).expect("s3 lake");
    let local = TestLake::new();
    let pts = golden_like();
    let f = local.dir.path().join("e.jsonl");
    std::fs::write(&f, otlp_lines(&pts)).expect("write");
    let inputs = kubeseen::ingest::discover(&[f.display().to_string()], &store).expect("discover");
    let o = LandOptions {
        now: t("2030-01-01T00:00:00Z"),
        ..LandOptions::default()
    };
    let r = land::land(&lake, &inputs, &o).expect("land to s3");
    assert_eq!(r.points_landed as usize, pts.len());
    let objects = lake.list("metrics").expect("list").len();
    let r2 = land::land(&lake, &inputs, &o).expect("land again");
    assert_eq!((r2.points_landed, r2.points_duplicate), (0, pts.len() as u64));
    assert_eq!(lake.list("metrics").expect("list").len(), objects);

    local.land("e.jsonl", &pts);
    let on_s3 = detect::run(&lake, &spec(), &opts("2026-11-20T12:00:00Z")).expect("detect on s3");
    let on_disk = detect::run(&local.lake, &spec(), &opts("2026-11-20T12:00:00Z")).expect("detect locally");
    assert_eq!(
        keys(&on_s3.findings),
        vec![
            ("prod".into(), "n1".into(), "/opt/tool".into()),
            ("prod".into(), "n1".into(), "/tmp/.x/xmrig".into())
        ]
    );
    assert!(
        on_s3.findings.equals_missing(&on_disk.findings),
        "same findings on S3 and on disk"
    );
    let (written, _) = kubeseen::report::write(&lake, &on_s3, &[]).expect("write findings to s3");
    assert!(written.findings.starts_with(&url), "{}", written.findings);
    assert_eq!(lake.list("findings").expect("list").len(), 1);
    assert_eq!(lake.list("reports").expect("list").len(), 2);
}

#[test]
fn s3_prefix_as_input_lands_into_a_local_lake() {
    let Some((url, store)) = s3_prefix("input") else { return };
    let src = Location::open(&url, &store, true).expect("s3 input");
    let pts = golden_like();
    let text = otlp_lines(&pts);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, text.as_bytes()).expect("gz");
    // The awss3exporter's key layout (upload time), one document per object.
    src.put(
        "metric/year=2026/month=11/day=20/hour=12/minute=01/metrics_482913374.json.gz",
        gz.finish().expect("gz"),
    )
    .expect("put");
    src.put(
        "metric/year=2026/month=11/day=20/hour=12/minute=02/metrics_100000001.json",
        b"{not json".to_vec(),
    )
    .expect("put");
    let local = TestLake::new();
    let inputs = kubeseen::ingest::discover(&[format!("{url}/metric/")], &store).expect("discover s3 prefix");
    assert_eq!(inputs.len(), 2);
    let r = land::land(
        &local.lake,
        &inputs,
        &LandOptions {
            now: t("2030-01-01T00:00:00Z"),
            ..LandOptions::default()
        },
    )
    .expect("land");
    assert_eq!(r.points_landed as usize, pts.len());
    assert_eq!(r.files_with_rejections, 1);
    assert!(r.inputs_with_problems[0].input.ends_with("metrics_100000001.json"));
    assert!(
        !r.inputs_with_problems[0].input.contains("testing"),
        "no credentials in names"
    );
    // A single object URL works too.
    let one = kubeseen::ingest::discover(
        &[format!(
            "{url}/metric/year=2026/month=11/day=20/hour=12/minute=01/metrics_482913374.json.gz"
        )],
        &store,
    )
    .expect("one object");
    assert_eq!(one.len(), 1);
}

#[test]
fn s3_prefix_with_spaces_and_percent_encoding_lands_and_detects() {
    let Some((url, store)) = s3_prefix("pct") else { return };
    // A lake prefix holding a space, a `%` and a `+`: as typed, and percent-encoded.
    let typed = format!("{url}/team lake/100%25 k8s+x");
    let encoded = format!("{url}/team%20lake/100%25%20k8s+x");
    let lake = Location::open(&typed, &store, true).expect("s3 lake with a spaced prefix");
    let local = TestLake::new();
    let f = local.dir.path().join("e.jsonl");
    std::fs::write(&f, otlp_lines(&golden_like())).expect("write");
    let inputs = kubeseen::ingest::discover(&[f.display().to_string()], &store).expect("discover");
    let o = LandOptions {
        now: t("2030-01-01T00:00:00Z"),
        ..LandOptions::default()
    };
    let r = land::land(&lake, &inputs, &o).expect("land");
    assert_eq!(r.points_landed as usize, golden_like().len());
    // The objects are under the decoded prefix, not a doubly encoded one (`team%2520lake`).
    let root = Location::open(&url, &store, false).expect("run prefix");
    let objects: Vec<String> = root.list("").expect("list").into_iter().map(|(k, _)| k).collect();
    assert!(
        !objects.is_empty() && objects.iter().all(|k| k.starts_with("team lake/100% k8s+x/metrics/")),
        "{objects:?}"
    );
    // Both spellings name the same lake, and Polars' scans find its points.
    let same = Location::open(&encoded, &store, false).expect("encoded spelling");
    assert_eq!(same.list("metrics").expect("list").len(), objects.len());
    let run = detect::run(&same, &spec(), &opts("2026-11-20T12:00:00Z")).expect("detect");
    assert_eq!(
        keys(&run.findings),
        vec![
            ("prod".into(), "n1".into(), "/opt/tool".into()),
            ("prod".into(), "n1".into(), "/tmp/.x/xmrig".into())
        ]
    );
    let (written, _) = kubeseen::report::write(&lake, &run, &[]).expect("write findings");
    // Named as the user spelled the lake.
    assert!(written.findings.starts_with(&typed), "{}", written.findings);
    assert_eq!(same.list("findings").expect("list").len(), 1);
    // An input prefix with a space lists too, and one object of it by its encoded URL.
    let inputs = kubeseen::ingest::discover(&[format!("{encoded}/metrics/")], &store).expect("discover input prefix");
    assert_eq!(inputs.len(), objects.len());
}
