//! Concurrent runs on one lake (see `lake::lock`): processes of the real binary started at
//! once, on a local lake and on an S3 lake (moto), each scenario repeated.
//!
//! Two `land`s over overlapping inputs must land every point once (the lake's points equal a
//! single landing of all inputs) with counts that add up; two `detect`s of one window give the
//! single run's findings, byte for byte; a `detect` racing a late `land` leaves its window
//! either up to date or marked stale — both orders forced once with the binary's test-only
//! pause points (`KUBESEEN_TEST_PAUSE_AFTER`, see `src/testhook.rs`), then a free race; `land`
//! racing `compact` loses nothing; a run killed with SIGKILL while it holds the lock does not
//! block the next one (with a lock validity of 2 minutes, the re-run must take it over at once,
//! not wait for it to expire); a live foreign lock makes a run give up after `--lock-timeout`
//! with exit code 6, an expired one is taken over.
//! With KUBESEEN_RELIABILITY_OUT set, each scenario appends one line (suite "concurrency").

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kubeseen::lake::lock::{LockRecord, Owner, WRITER};
use kubeseen::storage::Location;
use polars::prelude::*;

use crate::common::*;
use crate::faults::{
    detect_args, findings_rows, has_duplicate_points, land_args, points, snapshot, write_inputs, Checks, AT, S3,
};

const REPEAT: usize = 3;

/// Where a scenario's lake lives: a local folder, or an S3 prefix (the server directly).
enum Lake {
    Local(tempfile::TempDir),
    S3 { s3: S3, url: String },
}

impl Lake {
    fn local() -> Lake {
        Lake::Local(tempfile::tempdir().expect("tmp"))
    }

    fn spec(&self) -> String {
        match self {
            Lake::Local(d) => d.path().join("lake").display().to_string(),
            Lake::S3 { url, .. } => url.clone(),
        }
    }

    fn open(&self) -> Location {
        match self {
            Lake::Local(d) => Location::open(&d.path().join("lake").display().to_string(), &Default::default(), true)
                .expect("open the lake"),
            Lake::S3 { s3, url } => s3.open(url),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Lake::Local(_) => "local lake",
            Lake::S3 { .. } => "s3 lake",
        }
    }

    /// The binary, pointed at this lake's store.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        if let Lake::S3 { s3, .. } = self {
            c.arg("--s3-endpoint")
                .arg(&s3.endpoint)
                .env("AWS_ENDPOINT_URL", &s3.endpoint);
        }
        // A short lock validity: the lock is renewed (every 500 ms) while the runs last.
        c.args(args)
            .env("KUBESEEN_LOCK_TTL", "2s")
            .env("KUBESEEN_NOW", "2030-01-01T00:00:00Z")
            .env_remove("KUBESEEN_LAKE")
            .env_remove("KUBESEEN_S3_ENDPOINT")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("start kubeseen")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run kubeseen")
    }
}

/// The lakes every scenario runs on: local, and S3 when a server is configured.
fn lakes(s3_name: &str) -> Vec<Box<dyn Fn() -> Lake>> {
    let mut v: Vec<Box<dyn Fn() -> Lake>> = vec![Box::new(Lake::local)];
    if S3::from_env("its S3 lake").is_some() {
        let name = s3_name.to_string();
        v.push(Box::new(move || {
            let s3 = S3::from_env("its S3 lake").expect("S3 server");
            let url = s3.url(&name);
            Lake::S3 { s3, url }
        }));
    }
    v
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_default()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn n(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(u64::MAX)
}

/// The export files and the points of a single landing of all of them.
struct Inputs {
    _dir: tempfile::TempDir,
    files: Vec<String>,
    reference: DataFrame,
    reference_findings: Vec<(String, Vec<serde_json::Value>)>,
}

fn inputs() -> &'static Inputs {
    static I: std::sync::OnceLock<Inputs> = std::sync::OnceLock::new();
    I.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tmp");
        let files = write_inputs(dir.path());
        let lake = Lake::local();
        let out = lake.run(&land_args(&lake.spec(), &files));
        assert_eq!(out.status.code(), Some(0), "reference landing: {}", err(&out));
        let det = lake.run(&detect_args(&lake.spec()));
        assert_eq!(det.status.code(), Some(0), "reference detect: {}", err(&det));
        Inputs {
            _dir: dir,
            files,
            reference: points(&snapshot(&lake.open())),
            reference_findings: findings_rows(&det),
        }
    })
}

#[test]
fn two_lands_over_overlapping_inputs_land_every_point_once() {
    let inp = inputs();
    let a: Vec<String> = inp.files[..3].to_vec();
    let b: Vec<String> = inp.files[1..].to_vec();
    for make in lakes("two-lands") {
        let mut c = Checks::new();
        let mut kind = "";
        let mut waits = 0;
        let started = Instant::now();
        for round in 0..REPEAT {
            let lake = make();
            kind = lake.kind();
            let spec = lake.spec();
            let ca = lake.spawn(&land_args(&spec, &a));
            let cb = lake.spawn(&land_args(&spec, &b));
            let (oa, ob) = (
                ca.wait_with_output().expect("land a"),
                cb.wait_with_output().expect("land b"),
            );
            c.check(
                oa.status.code() == Some(0),
                format!("round {round}: land a: {}", err(&oa)),
            );
            c.check(
                ob.status.code() == Some(0),
                format!("round {round}: land b: {}", err(&ob)),
            );
            waits += [&oa, &ob].iter().filter(|o| err(o).contains("waiting up to")).count();
            let (ja, jb) = (json(&oa), json(&ob));
            for (name, j) in [("a", &ja), ("b", &jb)] {
                c.check(
                    n(j, "points_read") == n(j, "points_landed") + n(j, "points_duplicate") + n(j, "points_rejected"),
                    format!("round {round}: land {name}: counts do not add up: {j}"),
                );
            }
            let got = points(&snapshot(&lake.open()));
            c.check(
                !has_duplicate_points(&got),
                format!("round {round}: a point landed twice"),
            );
            c.check(
                got.equals_missing(&inp.reference),
                format!(
                    "round {round}: the lake's points ({}) differ from a single landing ({})",
                    got.height(),
                    inp.reference.height()
                ),
            );
            c.check(
                n(&ja, "points_landed") + n(&jb, "points_landed") == inp.reference.height() as u64,
                format!(
                    "round {round}: landed {} + {} != {} points",
                    n(&ja, "points_landed"),
                    n(&jb, "points_landed"),
                    inp.reference.height()
                ),
            );
            c.check(
                lake.open().list(WRITER).expect("list locks").is_empty(),
                format!("round {round}: a writer lock was left behind"),
            );
        }
        c.finish(
            "concurrency",
            "two `land`s over overlapping inputs (3 of 4 files each) started at once",
            &format!("land, {kind}"),
            REPEAT as u64,
            &format!(
                "{REPEAT} rounds: both exit 0, one waited for the other's lock in {waits} of them; every point once (the lake equals a single landing of the 4 files, {} points); landed counts add up to it; no lock left (lock validity 2s, renewed every 0.5s); {:.1}s",
                inp.reference.height(),
                started.elapsed().as_secs_f64()
            ),
        );
    }
}

#[test]
fn two_detects_of_one_window_write_the_single_run_findings() {
    let inp = inputs();
    for make in lakes("two-detects") {
        let mut c = Checks::new();
        let mut kind = "";
        for round in 0..REPEAT {
            let lake = make();
            kind = lake.kind();
            let spec = lake.spec();
            let out = lake.run(&land_args(&spec, &inp.files));
            c.check(out.status.code() == Some(0), format!("landing: {}", err(&out)));
            let single = lake.run(&detect_args(&spec));
            let single_objects: BTreeMap<String, Vec<u8>> = snapshot(&lake.open())
                .into_iter()
                .filter(|(k, _)| k.starts_with("findings/"))
                .collect();
            let d1 = lake.spawn(&detect_args(&spec));
            let d2 = lake.spawn(&detect_args(&spec));
            let (o1, o2) = (
                d1.wait_with_output().expect("detect 1"),
                d2.wait_with_output().expect("detect 2"),
            );
            for (name, o) in [("1", &o1), ("2", &o2)] {
                c.check(
                    o.status.code() == Some(0),
                    format!("round {round}: detect {name}: {}", err(o)),
                );
                c.check(
                    findings_rows(o) == inp.reference_findings,
                    format!("round {round}: detect {name}: findings differ from a single run"),
                );
            }
            c.check(
                findings_rows(&single) == inp.reference_findings,
                "the single run's findings",
            );
            let snap = snapshot(&lake.open());
            let after: BTreeMap<String, Vec<u8>> = snap
                .iter()
                .filter(|(k, _)| k.starts_with("findings/"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            c.check(
                after == single_objects,
                format!("round {round}: findings objects are not the single run's, byte for byte"),
            );
            c.check(
                !snap
                    .keys()
                    .any(|k| k.starts_with("_kubeseen/stale/") || k.starts_with("_kubeseen/locks/")),
                format!("round {round}: no stale mark and no lock left"),
            );
            let reports = snap.keys().filter(|k| k.starts_with("reports/detect/")).count();
            c.check(
                reports == 2 * after.len(),
                format!("round {round}: one JSON and one Markdown report per findings object"),
            );
            // The risk step of both runs evaluated the same instant: one incidents object and
            // one report pair.
            let risk = |p: &str| snap.keys().filter(|k| k.starts_with(p)).count();
            c.check(
                risk("risk/incidents/") == 1 && risk("reports/risk/") == 2,
                format!("round {round}: one risk evaluation written"),
            );
        }
        c.finish(
            "concurrency",
            "two `detect`s of the same window started at once",
            &format!("detect, {kind}"),
            REPEAT as u64,
            &format!("{REPEAT} rounds: both exit 0 with the single run's findings rows; findings objects byte-identical to a single run's; one report pair per findings object; no stale mark, no lock left"),
        );
    }
}

/// A started run whose stderr is read line by line as it comes (to see it wait for a lock).
struct Watched {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<String>,
}

impl Watched {
    fn start(mut cmd: Command) -> Watched {
        let mut child = cmd.spawn().expect("start kubeseen");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        Watched { child, lines, reader }
    }

    /// Whether a line containing `needle` appears within `limit` (false when the run ends first).
    fn says(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// Waits for the end; its output with the whole stderr.
    fn finish(self) -> Output {
        let mut out = self.child.wait_with_output().expect("wait for kubeseen");
        out.stderr = self.reader.join().expect("stderr reader").into_bytes();
        out
    }
}

/// A run paused at a test pause point (see `kubeseen::testhook`, KUBESEEN_TEST_PAUSE_AFTER).
fn paused_command(lake: &Lake, args: &[&str], stage: &str, dir: &std::path::Path) -> Command {
    let mut c = lake.command(args);
    c.env("KUBESEEN_TEST_PAUSE_AFTER", stage)
        .env("KUBESEEN_TEST_PAUSE_DIR", dir);
    c
}

/// Waits until `path` exists or `child` ends; whether it appeared.
fn appears(path: &std::path::Path, child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        if child.try_wait().ok().flatten().is_some() {
            return path.exists();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn a_detect_racing_a_late_land_leaves_its_window_up_to_date_or_stale() {
    let inp = inputs();
    let late_dir = tempfile::tempdir().expect("tmp");
    let late = late_dir.path().join("late.jsonl");
    std::fs::write(
        &late,
        otlp_lines(&[P::new(
            "prod",
            "n2",
            "/tmp/late",
            77,
            t(AT) - chrono::Duration::minutes(30),
        )]),
    )
    .expect("write late export");
    let late = late.display().to_string();
    // Round 0 forces the interleaving that would lose the late point without the lock: the
    // detection has read the lake and not yet written its findings (a test pause point holds
    // it there) when the land starts; the land must wait for the lock, then find the findings
    // and mark the window stale. Round 1 forces the other order (the land holds the lock when
    // the detection starts: the detection must wait and see the late point). Round 2 races
    // freely.
    const DETECT_FIRST: usize = 0;
    const LAND_FIRST: usize = 1;
    let wait = Duration::from_secs(60);
    for make in lakes("detect-vs-land") {
        let mut c = Checks::new();
        let mut kind = "";
        let (mut stale, mut fresh) = (0, 0);
        let mut free = "";
        for round in 0..REPEAT {
            let lake = make();
            kind = lake.kind();
            let spec = lake.spec();
            let out = lake.run(&land_args(&spec, &inp.files));
            c.check(out.status.code() == Some(0), format!("landing: {}", err(&out)));
            // No findings yet: landing marks the window stale only if the detection wrote its
            // findings first; otherwise the detection must see the late point. Interleaved
            // (the detection reads, the land writes and finds no findings to mark, the
            // detection writes), neither would hold.
            let pauses = tempfile::tempdir().expect("tmp");
            let (od, ol) = match round {
                DETECT_FIRST => {
                    let stage = "detected-process_new_path";
                    let mut d = Watched::start(paused_command(&lake, &detect_args(&spec), stage, pauses.path()));
                    let reached = appears(&pauses.path().join(format!("{stage}.paused")), &mut d.child, wait);
                    c.check(reached, format!("round {round}: detect reached its pause point"));
                    let l = Watched::start(lake.command(&land_args(&spec, std::slice::from_ref(&late))));
                    c.check(
                        l.says("is locked by `kubeseen detect`", wait),
                        format!("round {round}: the late land waited for the paused detect's lock"),
                    );
                    std::fs::write(pauses.path().join(format!("{stage}.resume")), b"").expect("resume");
                    (d.finish(), l.finish())
                }
                LAND_FIRST => {
                    let stage = "locked";
                    let mut l = Watched::start(paused_command(
                        &lake,
                        &land_args(&spec, std::slice::from_ref(&late)),
                        stage,
                        pauses.path(),
                    ));
                    let reached = appears(&pauses.path().join(format!("{stage}.paused")), &mut l.child, wait);
                    c.check(reached, format!("round {round}: land reached its pause point"));
                    let d = Watched::start(lake.command(&detect_args(&spec)));
                    c.check(
                        d.says("is locked by `kubeseen land`", wait),
                        format!("round {round}: the detect waited for the paused land's lock"),
                    );
                    std::fs::write(pauses.path().join(format!("{stage}.resume")), b"").expect("resume");
                    (d.finish(), l.finish())
                }
                _ => {
                    let d = lake.spawn(&detect_args(&spec));
                    let l = lake.spawn(&land_args(&spec, std::slice::from_ref(&late)));
                    (
                        d.wait_with_output().expect("detect"),
                        l.wait_with_output().expect("land"),
                    )
                }
            };
            c.check(
                od.status.code() == Some(0),
                format!("round {round}: detect: {}", err(&od)),
            );
            c.check(
                ol.status.code() == Some(0),
                format!("round {round}: late land: {}", err(&ol)),
            );
            // Of process_new_path, the detection the pause point holds between read and write
            // (the others read before or after the late land, whatever the order).
            let snap = snapshot(&lake.open());
            let marked = snap
                .get("_kubeseen/stale/process_new_path.json")
                .is_some_and(|v| String::from_utf8_lossy(v).contains("2026-11-20T12:00:00Z"));
            let found_late = findings_rows(&od)
                .iter()
                .filter(|(d, _)| d == "process_new_path")
                .any(|(_, rows)| rows.iter().any(|r| r["process_executable_path"] == "/tmp/late"));
            if marked {
                stale += 1;
            }
            if found_late {
                fresh += 1;
            }
            match round {
                DETECT_FIRST => c.check(
                    marked && !found_late,
                    format!("round {round} (detect first): the window is marked stale ({marked}) and its findings lack the late point ({})", !found_late),
                ),
                LAND_FIRST => c.check(
                    found_late && !marked,
                    format!("round {round} (land first): the detection saw the late point ({found_late}) and nothing was marked stale ({})", !marked),
                ),
                _ => {
                    free = if marked { "marked stale" } else { "detected with the late point" };
                    c.check(
                        marked || found_late,
                        format!("round {round}: the window's findings miss the late point and the window is not marked stale"),
                    )
                }
            };
            // Whatever the order, re-running the stale windows gives the late point's finding.
            let out = lake.run(&["detect", "--lake", &spec, "--stale", "--format", "json"]);
            c.check(
                out.status.code() == Some(0),
                format!("round {round}: detect --stale: {}", err(&out)),
            );
            let out = lake.run(&detect_args(&spec));
            c.check(
                findings_rows(&out)
                    .iter()
                    .any(|(_, rows)| rows.iter().any(|r| r["process_executable_path"] == "/tmp/late")),
                format!("round {round}: the late point's finding"),
            );
        }
        c.check(
            stale > 0 && fresh > 0,
            format!("both orders happened: stale {stale}, fresh {fresh}"),
        );
        c.finish(
            "concurrency",
            "`detect` and a `land` of late data into its window, both orders forced by a test pause point, then a free race",
            &format!("detect + land, {kind}"),
            REPEAT as u64,
            &format!("{REPEAT} rounds, all exit 0. Forced detect-first (detect paused after reading the lake, before writing its findings; the land started then and waited for its lock): window marked stale, findings without the late point. Forced land-first (land paused holding the lock; the detect waited): the detection saw the late point, nothing marked. Free race: {free}. Marked stale {stale} times, detected with the late point {fresh} times, never neither; `detect --stale` then finds it"),
        );
    }
}

#[test]
fn land_racing_compact_loses_nothing() {
    let inp = inputs();
    for make in lakes("land-vs-compact") {
        let mut c = Checks::new();
        let mut kind = "";
        for round in 0..REPEAT {
            let lake = make();
            kind = lake.kind();
            let spec = lake.spec();
            let out = lake.run(&["land", "--lake", &spec, "--no-rollups", &inp.files[0], &inp.files[1]]);
            c.check(out.status.code() == Some(0), format!("first landing: {}", err(&out)));
            let l = lake.spawn(&land_args(&spec, &inp.files));
            let k = lake.spawn(&["compact", "--lake", &spec]);
            let (ol, ok) = (
                l.wait_with_output().expect("land"),
                k.wait_with_output().expect("compact"),
            );
            c.check(
                ol.status.code() == Some(0),
                format!("round {round}: land: {}", err(&ol)),
            );
            c.check(
                ok.status.code() == Some(0),
                format!("round {round}: compact: {}", err(&ok)),
            );
            let got = points(&snapshot(&lake.open()));
            c.check(
                !has_duplicate_points(&got),
                format!("round {round}: a point landed twice"),
            );
            c.check(
                got.equals_missing(&inp.reference),
                format!("round {round}: points differ from a single landing"),
            );
            let det = lake.run(&detect_args(&spec));
            c.check(
                findings_rows(&det) == inp.reference_findings,
                format!(
                    "round {round}: findings (read through the rollups) differ: {}",
                    err(&det)
                ),
            );
            let raw = lake.run(&[
                "detect",
                "--lake",
                &spec,
                "--at",
                AT,
                "--format",
                "json",
                "--no-rollups",
            ]);
            c.check(
                findings_rows(&raw) == inp.reference_findings,
                format!("round {round}: raw findings differ"),
            );
        }
        c.finish(
            "concurrency",
            "`land` and `compact` started at once on a lake holding half the data",
            &format!("land + compact, {kind}"),
            REPEAT as u64,
            &format!("{REPEAT} rounds: both exit 0; every point once (equal to a single landing); findings through the rollups and from raw points equal the reference"),
        );
    }
}

/// The pid-file-free way to see that a run holds the lock: its generation object exists.
fn lock_held(lake: &Location) -> bool {
    lake.list(WRITER).map(|v| !v.is_empty()).unwrap_or(false)
}

/// The lock validity of the killed-run scenario: long, so that a re-run that waited for the
/// killed run's lock to expire (instead of seeing its process gone) is told from one that took
/// it over at once.
const LONG_TTL: Duration = Duration::from_secs(120);

#[test]
fn a_killed_run_does_not_block_the_next_one() {
    let inp = inputs();
    let ttl = format!("{}s", LONG_TTL.as_secs());
    let timeout = format!("{}s", 3 * LONG_TTL.as_secs());
    for make in lakes("killed") {
        let mut c = Checks::new();
        let mut kind = "";
        let mut killed_holding = 0;
        let mut worst = Duration::ZERO;
        for round in 0..REPEAT {
            let lake = make();
            kind = lake.kind();
            let spec = lake.spec();
            let loc = lake.open();
            let mut child = lake
                .command(&land_args(&spec, &inp.files))
                .env("KUBESEEN_LOCK_TTL", &ttl)
                .spawn()
                .expect("start kubeseen");
            let deadline = Instant::now() + Duration::from_secs(20);
            while !lock_held(&loc) && Instant::now() < deadline && child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
            // A moment later, at a different point of the run each round.
            std::thread::sleep(Duration::from_millis(40 * round as u64));
            let pid = child.id();
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            // The killed run's lock object, left behind (valid for LONG_TTL from its last renewal).
            let left_behind = lock_held(&loc);
            if left_behind {
                killed_holding += 1;
            }
            let started = Instant::now();
            let out = lake
                .command(&[
                    "--lock-timeout",
                    &timeout,
                    "land",
                    "--lake",
                    &spec,
                    "--json",
                    &inp.files[0],
                    &inp.files[1],
                    &inp.files[2],
                    &inp.files[3],
                ])
                .env("KUBESEEN_LOCK_TTL", &ttl)
                .output()
                .expect("run kubeseen");
            let took = started.elapsed();
            worst = worst.max(took);
            let e = err(&out);
            c.check(out.status.code() == Some(0), format!("round {round}: the re-run: {e}"));
            if left_behind {
                c.check(
                    e.contains("taking over the writer lock") && e.contains(&format!("process {pid} is gone")),
                    format!("round {round}: the re-run says it took over the lock of the killed pid {pid}: {e}"),
                );
                c.check(
                    !e.contains("waiting up to"),
                    format!("round {round}: the re-run waited for the killed run's lock: {e}"),
                );
            }
            c.check(
                took < LONG_TTL / 4,
                format!(
                    "round {round}: the re-run took {:.1}s, not well under the lock's {}s validity",
                    took.as_secs_f64(),
                    LONG_TTL.as_secs()
                ),
            );
            let got = points(&snapshot(&loc));
            c.check(
                !has_duplicate_points(&got),
                format!("round {round}: a point landed twice"),
            );
            c.check(
                got.equals_missing(&inp.reference),
                format!("round {round}: points differ from a single landing"),
            );
            c.check(!lock_held(&loc), format!("round {round}: a lock was left behind"));
        }
        c.check(killed_holding > 0, "at least one run was killed while it held the lock");
        c.finish(
            "concurrency",
            "SIGKILL of a `land` holding the writer lock, re-run at once",
            &format!("land, {kind}"),
            REPEAT as u64,
            &format!(
                "{killed_holding} of {REPEAT} runs killed holding the lock (valid {}s, --lock-timeout {timeout}); each re-run saw the killed pid gone and took the lock over without waiting (slowest re-run {:.1}s, under a quarter of the validity) and completed: every point once; no lock left",
                LONG_TTL.as_secs(),
                worst.as_secs_f64()
            ),
        );
    }
}

#[test]
fn a_live_foreign_lock_makes_a_run_give_up_and_an_expired_one_is_taken_over() {
    let inp = inputs();
    for make in lakes("foreign") {
        let mut c = Checks::new();
        let lake = make();
        let kind = lake.kind();
        let spec = lake.spec();
        let loc = lake.open();
        let mut owner = Owner::current("land");
        owner.host = "some-other-host".into();
        owner.pid = 4242;
        let now = chrono::Utc::now();
        let mut rec = LockRecord {
            owner,
            acquired: now,
            expires: now + chrono::Duration::hours(1),
            kubeseen_version: "test".into(),
        };
        let key = format!("{WRITER}/00000000000000000003.json");
        loc.put(&key, serde_json::to_vec(&rec).expect("json"))
            .expect("put a foreign lock");
        let started = Instant::now();
        let out = lake.run(&["--lock-timeout", "2s", "land", "--lake", &spec, &inp.files[0]]);
        let took = started.elapsed();
        let e = err(&out);
        c.check(
            out.status.code() == Some(6),
            format!("exit {:?} (want 6): {e}", out.status.code()),
        );
        c.check(
            e.contains("pid 4242 on host some-other-host") && e.contains("00000000000000000003.json"),
            format!("names the holder and the lock object: {e}"),
        );
        c.check((2..10).contains(&took.as_secs()), format!("gave up after {took:?}"));
        c.check(
            !snapshot(&loc).keys().any(|k| k.starts_with("metrics/")),
            "nothing landed while the lock was held",
        );
        // The same lock, expired: taken over at once.
        rec.expires = chrono::Utc::now() - chrono::Duration::seconds(1);
        loc.put(&key, serde_json::to_vec(&rec).expect("json"))
            .expect("put an expired lock");
        let out = lake.run(&["--lock-timeout", "2s", "land", "--lake", &spec, "--json", &inp.files[0]]);
        c.check(out.status.code() == Some(0), format!("expired lock: {}", err(&out)));
        c.check(
            err(&out).contains("taking over"),
            format!("says it took the lock over: {}", err(&out)),
        );
        c.check(!lock_held(&loc), "the taken-over lock and ours are both gone");
        c.finish(
            "concurrency",
            "a live lock of another host, then the same lock expired",
            &format!("land, {kind}"),
            2,
            &format!("live: exit 6 after {:.1}s (--lock-timeout 2s) naming holder and lock object, nothing landed; expired: taken over at once, landed, no lock left", took.as_secs_f64()),
        );
    }
}
