//! Crash safety: `land` (with the rollup refresh and stale marking it does), `compact`, `detect`
//! and `backfill` killed with SIGKILL at seeded random moments, then re-run; after every kill and
//! every clean re-run the lake must hold only complete objects, and after the re-run it must be
//! what an uninterrupted run leaves.
//!
//! Data: a generated dataset (2 clusters × 2 nodes, 3 days, file-exporter layout) split into an
//! on-time batch and a late batch (ten hours of one node). Reference lakes come from
//! uninterrupted runs of each step (land → backfill → land late → detect --stale; detect --at;
//! compact of the landed lake without its rollups). Each target starts from a copy of the reference state before
//! it, is killed once or twice in a row at delays drawn from a seeded RNG over its measured
//! uninterrupted duration (half uniform over the whole run, half over its last third, where
//! commands that read first and write last do their writing), then re-run to completion
//! (`backfill` re-runs with `--resume`).
//!
//! Checked after every kill: every listed `.parquet` under metrics/, rollups/, findings/ reads in
//! full, every `.json` under reports/ and _kubeseen/ parses, no point_id twice. Checked after
//! every clean re-run, in addition: no file in the lake folder that the object listing does not
//! show (the local store stages each put in `<name>#<n>`; the harness ages the ones a kill left
//! past `lake::STAGING_MAX_AGE`, so the re-run must sweep them); the set of point_ids equals the
//! reference's; every other object (rollups, findings, reports, stale marks, rejects) is the
//! reference's: same keys, same rows, same report contents apart from timings and the lake name.
//! Part files are named by their points, so a re-run may legitimately cut them differently from
//! the uninterrupted run (other flush boundaries); the rollups, named by their part files, then
//! have other names, and are compared by the rows of each hour and day instead. The outcome
//! line says how many re-runs were compared each way.
//!
//! Env: `KUBESEEN_CRASH_KILLS` (kills over the local targets, default 12),
//! `KUBESEEN_CRASH_SEED` (default 20260301; printed with every failure),
//! `KUBESEEN_CRASH_S3_KILLS` (default 2, over `land` and `backfill`; only with
//! `KUBESEEN_TEST_S3_ENDPOINT`),
//! `KUBESEEN_RELIABILITY_OUT` (append one JSON line per target, see scripts/reliability.sh).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use kubeseen::storage::{Location, StoreOptions};
use polars::prelude::*;

use crate::common::bin;

const NOW: &str = "2030-01-01T00:00:00Z";
const FROM: &str = "2026-03-01T00:00:00Z";
const TO: &str = "2026-03-04T00:00:00Z";
/// The last window: the generator's scenarios put their findings there.
const AT: &str = "2026-03-04T00:00:00Z";
/// Export files of the late batch: hours 10–19 of the second day.
const LATE_HOURS: &str = "metrics-20260302T1";
const FAULT: &str = "SIGKILL at a seeded random moment, then a clean re-run";

/// splitmix64: small, seeded, the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a non-negative integer")),
        Err(_) => default,
    }
}

/// The binary the harness runs: a private copy, so a rebuild of the shared target folder during
/// a long run cannot swap it (`KUBESEEN_BIN` overrides the build's own).
static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn kubeseen(args: &[String], s3_endpoint: Option<&str>) -> Command {
    let mut c = Command::new(EXE.get().map_or_else(|| PathBuf::from(bin()), PathBuf::clone));
    c.args(args)
        .env_remove("KUBESEEN_LAKE")
        .env("KUBESEEN_NOW", NOW)
        .env("KUBESEEN_LOG", "error")
        .stdin(Stdio::null());
    if let Some(ep) = s3_endpoint {
        c.env("KUBESEEN_S3_ENDPOINT", ep);
    }
    c
}

/// Runs to completion; the wall time, or what went wrong.
fn run_clean(args: &[String], s3: Option<&str>) -> Result<Duration, String> {
    let started = Instant::now();
    let out = kubeseen(args, s3)
        .output()
        .map_err(|e| format!("cannot start kubeseen: {e}"))?;
    let took = started.elapsed();
    if out.status.code() == Some(0) {
        Ok(took)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        Err(format!("exited with {}:\n{tail}", out.status))
    }
}

/// Starts the command and SIGKILLs it after `delay`. `None` when the kill ended it; the run's
/// wall time when it finished first (a fresh measurement of its duration).
fn run_killed(args: &[String], s3: Option<&str>, delay: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut child = kubeseen(args, s3)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kubeseen");
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return Some(started.elapsed());
        }
        let left = delay.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(1)));
    }
    // Child::kill sends SIGKILL on unix.
    let _ = child.kill();
    let status = child.wait().expect("wait for kubeseen");
    match status.signal() {
        Some(9) => None,
        _ => Some(started.elapsed()),
    }
}

/// Every file under `dir`, as `/`-separated paths relative to it.
fn walk(dir: &Path) -> Vec<String> {
    fn go(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                go(base, &p, out);
            } else if let Ok(rel) = p.strip_prefix(base) {
                out.push(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out.sort();
    out
}

/// A lake a command runs against: a local folder or an S3 prefix.
struct Lake {
    /// The `--lake` argument.
    spec: String,
    loc: Location,
    /// The folder of a local lake (its staging files are visible only there).
    root: Option<PathBuf>,
    s3: Option<String>,
}

impl Lake {
    fn local(dir: &Path) -> Lake {
        std::fs::create_dir_all(dir).expect("lake folder");
        Lake {
            spec: dir.display().to_string(),
            loc: Location::open(&dir.display().to_string(), &StoreOptions::default(), true).expect("open lake"),
            root: Some(dir.to_path_buf()),
            s3: None,
        }
    }

    fn s3(url: &str, endpoint: &str) -> Lake {
        let store = StoreOptions {
            s3_endpoint: Some(endpoint.to_string()),
            ..StoreOptions::default()
        };
        Lake {
            spec: url.to_string(),
            loc: Location::open(url, &store, true).expect("open s3 lake"),
            root: None,
            s3: Some(endpoint.to_string()),
        }
    }

    fn args(&self, template: &[&str]) -> Vec<String> {
        template
            .iter()
            .map(|a| {
                if *a == "{lake}" {
                    self.spec.clone()
                } else {
                    a.to_string()
                }
            })
            .collect()
    }

    /// Writes the objects of `state` (the lake must be empty).
    fn fill(&self, state: &State) {
        match &self.root {
            Some(root) => {
                for (k, v) in &state.objects {
                    let p = root.join(k);
                    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                    std::fs::write(p, v).expect("write object");
                }
            }
            None => {
                for (k, v) in &state.objects {
                    self.loc.put(k, v.clone()).expect("upload object");
                }
            }
        }
    }

    fn clear(&self) {
        match &self.root {
            Some(root) => {
                let _ = std::fs::remove_dir_all(root);
            }
            None => {
                for (k, _) in self.loc.list("").unwrap_or_default() {
                    let _ = self.loc.delete(&k);
                }
            }
        }
    }

    /// Every object the store lists, with its bytes, and the files it does not list.
    fn state(&self) -> Result<State, String> {
        let mut objects = BTreeMap::new();
        for (k, _) in self.loc.list("").map_err(|e| format!("listing the lake: {e}"))? {
            let b = self.loc.get(&k).map_err(|e| format!("reading {k}: {e}"))?;
            objects.insert(k, b.to_vec());
        }
        let stray = match &self.root {
            Some(root) => walk(root).into_iter().filter(|f| !objects.contains_key(f)).collect(),
            None => Vec::new(),
        };
        Ok(State { objects, stray })
    }

    /// Sets the modification time of the stray files of a local lake an hour back, as if the
    /// killed run had died long ago: the next run must sweep them.
    fn age_stray(&self, stray: &[String]) {
        let Some(root) = &self.root else { return };
        let past = SystemTime::now() - Duration::from_secs(3600);
        for f in stray {
            if let Ok(file) = std::fs::OpenOptions::new().write(true).open(root.join(f)) {
                let _ = file.set_modified(past);
            }
        }
    }
}

#[derive(Clone, Default)]
struct State {
    objects: BTreeMap<String, Vec<u8>>,
    stray: Vec<String>,
}

fn is_checked_parquet(key: &str) -> bool {
    key.ends_with(".parquet") && ["metrics/", "rollups/", "findings/"].iter().any(|p| key.starts_with(p))
}

fn read_parquet(bytes: &[u8]) -> PolarsResult<DataFrame> {
    ParquetReader::new(Cursor::new(bytes.to_vec())).finish()
}

/// Problems with what is visible, and the point_ids of metrics/.
fn integrity(s: &State) -> (Vec<String>, Vec<u64>) {
    let mut problems = Vec::new();
    let mut ids = Vec::new();
    for (k, v) in &s.objects {
        if is_checked_parquet(k) {
            match read_parquet(v) {
                Ok(df) if k.starts_with("metrics/") => match df.column("point_id").and_then(|c| c.u64().cloned()) {
                    Ok(c) => ids.extend(c.into_no_null_iter()),
                    Err(e) => problems.push(format!("{k}: no u64 point_id column: {e}")),
                },
                Ok(_) => {}
                Err(e) => problems.push(format!(
                    "partial or corrupt Parquet object {k} ({} bytes): {e}",
                    v.len()
                )),
            }
        } else if k.ends_with(".json") && (k.starts_with("reports/") || k.starts_with("_kubeseen/")) {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(v) {
                problems.push(format!("partial or corrupt JSON object {k} ({} bytes): {e}", v.len()));
            }
        }
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    let dups = sorted.windows(2).filter(|w| w[0] == w[1]).count();
    if dups > 0 {
        problems.push(format!(
            "{dups} duplicate point_id(s) in metrics/ (of {} points)",
            ids.len()
        ));
    }
    (problems, sorted)
}

fn report_json(v: &[u8]) -> Option<serde_json::Value> {
    let mut j: serde_json::Value = serde_json::from_slice(v).ok()?;
    if let Some(m) = j.as_object_mut() {
        // How long it took and where the lake is are not what it found.
        for k in ["timings_ms", "lake", "outputs", "elapsed_seconds"] {
            m.remove(k);
        }
    }
    Some(j)
}

fn report_md(v: &[u8]) -> String {
    let text = String::from_utf8_lossy(v);
    let body = text.split("## Timings (ms)").next().unwrap_or_default();
    body.lines()
        .filter(|l| !l.starts_with("- lake:"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn frame_diff(a: &DataFrame, b: &DataFrame) -> Option<String> {
    if a.equals_missing(b) {
        return None;
    }
    Some(format!(
        "{} rows × {} columns, reference {} rows × {} columns (columns {:?} vs {:?})",
        a.height(),
        a.width(),
        b.height(),
        b.width(),
        a.get_column_names(),
        b.get_column_names()
    ))
}

/// Moment rollups: the same rows, floats equal to 1e-9 relative.
fn moments_diff(a: &DataFrame, b: &DataFrame) -> Option<String> {
    let (ra, rb) = (kubeseen::report::rows_json(a), kubeseen::report::rows_json(b));
    if ra.len() != rb.len() {
        return frame_diff(a, b);
    }
    for (x, y) in ra.iter().zip(&rb) {
        // M2 of nearly constant values is rounding noise around 0: compare it at the scale of
        // the values themselves (n · mean²).
        let n = x["n"].as_f64().unwrap_or(1.0).max(1.0);
        let mean2 = (x["sum"].as_f64().unwrap_or(0.0) / n).powi(2);
        for (k, v) in x.as_object()? {
            let w = &y[k.as_str()];
            let same = match (v.as_f64(), w.as_f64()) {
                (Some(p), Some(q)) if k == "m2" => (p - q).abs() <= 1e-9 * (p.abs().max(q.abs()) + n * mean2),
                (Some(p), Some(q)) => (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1e-300),
                _ => v == w,
            };
            if !same {
                return Some(format!("{k}: {v} vs the reference's {w}"));
            }
        }
    }
    None
}

/// Whether two lakes hold the same objects with the same content (see [`same_content`]).
fn same_objects(a: &State, b: &State) -> bool {
    a.objects.keys().eq(b.objects.keys())
        && a.objects
            .iter()
            .all(|(k, v)| same_content(k, v, &b.objects[k]).is_none())
}

/// What differs between two lakes' objects (for messages).
fn object_diffs(a: &State, b: &State) -> Vec<String> {
    let keys: BTreeSet<&String> = a.objects.keys().chain(b.objects.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (a.objects.get(k), b.objects.get(k)) {
            (Some(x), Some(y)) => same_content(k, x, y).map(|d| format!("{k}: {d}")),
            (Some(_), None) => Some(format!("{k}: only in the first")),
            (None, _) => Some(format!("{k}: only in the second")),
        })
        .take(5)
        .collect()
}

fn same_content(key: &str, a: &[u8], b: &[u8]) -> Option<String> {
    if a == b {
        return None;
    }
    if key.ends_with(".parquet") {
        return match (read_parquet(a), read_parquet(b)) {
            // Moment rollups hold float sums whose last bits depend on the order the parallel
            // engine added them in: the same within rounding.
            (Ok(x), Ok(y)) if key.starts_with("rollups/moments/") => moments_diff(&x, &y),
            (Ok(x), Ok(y)) => frame_diff(&x, &y),
            (x, y) => Some(format!("unreadable: {:?} / {:?}", x.err(), y.err())),
        };
    }
    if key.starts_with("reports/") && key.ends_with(".json") {
        return (report_json(a) != report_json(b)).then(|| "report differs (beyond timings and lake name)".into());
    }
    if key.starts_with("reports/") && key.ends_with(".md") {
        return (report_md(a) != report_md(b)).then(|| "Markdown report differs (beyond timings and lake name)".into());
    }
    if key.ends_with(".json") {
        let (x, y) = (
            serde_json::from_slice::<serde_json::Value>(a).ok(),
            serde_json::from_slice::<serde_json::Value>(b).ok(),
        );
        return (x.is_none() || x != y).then(|| "JSON differs".into());
    }
    Some(format!("{} bytes differ from the reference's {}", a.len(), b.len()))
}

fn listed(keys: &BTreeSet<&String>) -> String {
    let v: Vec<&str> = keys.iter().take(4).map(|s| s.as_str()).collect();
    format!("{}{}", v.join(", "), if keys.len() > 4 { ", …" } else { "" })
}

/// The rollups of a lake by what each covers (one hour, or one day, of one shape), with the
/// rows of that group's objects together, sorted: comparable between lakes whose part files
/// were cut differently (rollup objects are named by their part files, their rows are not).
fn rollup_rows(st: &State) -> BTreeMap<String, Result<DataFrame, String>> {
    let mut groups: BTreeMap<String, Vec<(&String, &Vec<u8>)>> = BTreeMap::new();
    for (k, v) in st.objects.iter().filter(|(k, _)| k.starts_with("rollups/")) {
        let (dir, file) = k.rsplit_once('/').unwrap_or(("", k.as_str()));
        let what = if file.starts_with("day-") {
            format!("{dir}/day")
        } else {
            dir.to_string()
        };
        groups.entry(what).or_default().push((k, v));
    }
    groups
        .into_iter()
        .map(|(what, objects)| {
            let rows = (|| -> Result<DataFrame, String> {
                let mut all: Option<DataFrame> = None;
                for (k, v) in objects {
                    let df = read_parquet(v).map_err(|e| format!("{k}: {e}"))?;
                    match &mut all {
                        None => all = Some(df),
                        Some(a) => {
                            a.vstack_mut(&df).map_err(|e| format!("{k}: {e}"))?;
                        }
                    }
                }
                let all = all.unwrap_or_default();
                let by: Vec<String> = all.get_column_names().iter().map(|c| c.to_string()).collect();
                all.sort(by, SortMultipleOptions::default().with_nulls_last(true))
                    .map_err(|e| format!("sorting the rows of {what}: {e}"))
            })();
            (what, rows)
        })
        .collect()
}

/// What [`compare`] compared the rollups by.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RollupsBy {
    /// The same part files as the reference: every rollup object, key and rows.
    Object,
    /// Part files cut differently (legitimate): per hour and day, the rows of its rollups.
    Rows,
}

/// Problems of the lake after a clean re-run, against the uninterrupted reference, and how the
/// rollups were compared.
fn compare(s: &State, ids: &[u64], r: &State, ref_ids: &[u64]) -> (Vec<String>, RollupsBy) {
    let mut problems = Vec::new();
    if !s.stray.is_empty() {
        problems.push(format!(
            "{} file(s) in the lake folder that no listing shows (staging left behind): {}",
            s.stray.len(),
            s.stray.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let (a, b): (BTreeSet<u64>, BTreeSet<u64>) = (ids.iter().copied().collect(), ref_ids.iter().copied().collect());
    if a != b {
        problems.push(format!(
            "point_ids differ from an uninterrupted run's: {} missing, {} extra (of {})",
            b.difference(&a).count(),
            a.difference(&b).count(),
            b.len()
        ));
    }
    let metrics = |st: &State| -> BTreeSet<String> {
        st.objects
            .keys()
            .filter(|k| k.starts_with("metrics/"))
            .cloned()
            .collect()
    };
    // Part files are named by their points: with the same flushes they are the same files, and
    // the rollups (named by their part files) must be too. Other flush boundaries are
    // legitimate; then the part files are compared by their points (above), and the rollups by
    // the rows of each hour's and day's.
    let same_parts = metrics(s) == metrics(r);
    if !same_parts {
        let (mine, theirs) = (rollup_rows(s), rollup_rows(r));
        let only = |a: &BTreeMap<String, Result<DataFrame, String>>,
                    b: &BTreeMap<String, Result<DataFrame, String>>| {
            a.keys().filter(|k| !b.contains_key(*k)).cloned().collect::<Vec<_>>()
        };
        let (missing, extra) = (only(&theirs, &mine), only(&mine, &theirs));
        if !missing.is_empty() {
            problems.push(format!(
                "part files cut differently; no rollup for {} hour(s)/day(s) an uninterrupted run rolls up: {}",
                missing.len(),
                missing.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if !extra.is_empty() {
            problems.push(format!(
                "part files cut differently; rollups for {} hour(s)/day(s) an uninterrupted run does not roll up: {}",
                extra.len(),
                extra.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        for (what, rows) in &mine {
            let Some(want) = theirs.get(what) else { continue };
            match (rows, want) {
                (Ok(a), Ok(b)) => {
                    if let Some(d) = frame_diff(a, b) {
                        problems.push(format!(
                            "part files cut differently; the rollup rows of {what} differ: {d}"
                        ));
                    }
                }
                (a, b) => problems.push(format!(
                    "rollups of {what} unreadable: {:?} / reference {:?}",
                    a.as_ref().err(),
                    b.as_ref().err()
                )),
            }
        }
    }
    // A run or range summary (reports/runs/, reports/backfill/) describes the run that wrote
    // it: a re-run after a kill runs only what the killed run left (the windows still marked
    // stale, those `--resume` finds not up to date), so its summary legitimately differs from an
    // uninterrupted run's, or is not written when nothing was left. Their JSON must parse
    // after every kill (`integrity`); their content is tested in tests/it/run_summary.rs.
    let summary = |k: &str| k.starts_with("reports/runs/") || k.starts_with("reports/backfill/");
    let compared =
        |k: &&String| !k.starts_with("metrics/") && !summary(k.as_str()) && (same_parts || !k.starts_with("rollups/"));
    let mine: BTreeSet<&String> = s.objects.keys().filter(compared).collect();
    let theirs: BTreeSet<&String> = r.objects.keys().filter(compared).collect();
    let missing: BTreeSet<&String> = theirs.difference(&mine).copied().collect();
    let extra: BTreeSet<&String> = mine.difference(&theirs).copied().collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{} object(s) of an uninterrupted run missing: {}",
            missing.len(),
            listed(&missing)
        ));
    }
    if !extra.is_empty() {
        problems.push(format!(
            "{} object(s) an uninterrupted run does not leave: {}",
            extra.len(),
            listed(&extra)
        ));
    }
    for k in mine.intersection(&theirs) {
        if let Some(d) = same_content(k, &s.objects[*k], &r.objects[*k]) {
            problems.push(format!("{k}: {d}"));
        }
    }
    let by = if same_parts { RollupsBy::Object } else { RollupsBy::Rows };
    (problems, by)
}

/// How far a killed run got: objects it changed against the start, of those an uninterrupted
/// run changes.
/// The objects of `x` that are not those of `base` (new, changed or gone), plus its staging
/// files that `base` did not have.
fn changed(x: &State, base: &State) -> usize {
    let keys: BTreeSet<&String> = x.objects.keys().chain(base.objects.keys()).collect();
    let objects = keys
        .into_iter()
        .filter(|k| x.objects.get(*k) != base.objects.get(*k))
        .count();
    objects + x.stray.iter().filter(|f| !base.stray.contains(f)).count()
}

struct Target {
    name: &'static str,
    start: &'static str,
    first: Vec<&'static str>,
    rerun: Vec<&'static str>,
    reference: &'static str,
}

struct Ctx {
    seed: u64,
    dir: PathBuf,
    states: BTreeMap<&'static str, State>,
    /// The sorted point_ids of each reference state.
    ids: BTreeMap<&'static str, Vec<u64>>,
    durations: BTreeMap<&'static str, Duration>,
    failures: Vec<String>,
    lines: Vec<serde_json::Value>,
    trials: u64,
}

/// Generates the exports and runs every step uninterrupted: the reference states and the
/// duration of each target.
fn references(ctx: &mut Ctx, targets: &[Target]) -> (PathBuf, PathBuf) {
    let gen = ctx.dir.join("gen");
    let args: Vec<String> = [
        "generate",
        "--out",
        &gen.display().to_string(),
        "--clusters",
        "2",
        "--nodes",
        "2",
        "--days",
        "3",
        "--processes",
        "1",
        "--interval",
        "900s",
        "--end",
        TO,
        "--seed",
        "1",
        "--format",
        "otlp-json-gz",
        "--layout",
        "file-exporter",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_clean(&args, None).expect("generate the dataset");
    let (on_time, late) = (ctx.dir.join("exports"), ctx.dir.join("late"));
    let files: Vec<String> = walk(&gen).into_iter().filter(|f| f.starts_with("prod-")).collect();
    let late_node = files
        .first()
        .and_then(|f| f.rsplit_once('/'))
        .map(|(node, _)| node.to_string())
        .expect("generated files");
    for f in files {
        let late_file =
            f.starts_with(&format!("{late_node}/")) && f.rsplit('/').next().is_some_and(|n| n.starts_with(LATE_HOURS));
        let to = if late_file { late.join(&f) } else { on_time.join(&f) };
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::rename(gen.join(&f), to).expect("move export");
    }
    assert_eq!(walk(&late).len(), 10, "the late batch is ten hourly files");

    let work = Lake::local(&ctx.dir.join("ref-work"));
    let step = |ctx: &mut Ctx, lake: &Lake, template: &[&str], name: Option<&'static str>, save: &'static str| {
        let args = lake.args(template);
        let took = run_clean(&args, None).unwrap_or_else(|e| panic!("reference run `{}`: {e}", args.join(" ")));
        if let Some(n) = name {
            ctx.durations.insert(n, took);
        }
        let st = lake.state().expect("reference state");
        let (problems, ids) = integrity(&st);
        assert!(problems.is_empty(), "reference state {save}: {problems:?}");
        ctx.states.insert(save, st);
        ctx.ids.insert(save, ids);
    };
    let exports = on_time.display().to_string();
    let late_s = late.display().to_string();
    ctx.states.insert("empty", State::default());
    ctx.ids.insert("empty", Vec::new());
    step(
        ctx,
        &work,
        &["land", "--lake", "{lake}", &exports],
        Some("land"),
        "landed",
    );
    step(
        ctx,
        &work,
        &["backfill", "--lake", "{lake}", "--from", FROM, "--to", TO],
        Some("backfill"),
        "backfilled",
    );
    step(
        ctx,
        &work,
        &["land", "--lake", "{lake}", &late_s],
        Some("land (late data)"),
        "late",
    );
    step(
        ctx,
        &work,
        &["detect", "--lake", "{lake}", "--stale"],
        Some("detect --stale"),
        "restaled",
    );
    let d = Lake::local(&ctx.dir.join("ref-detect"));
    d.fill(&ctx.states["landed"]);
    step(
        ctx,
        &d,
        &["detect", "--lake", "{lake}", "--at", AT],
        Some("detect"),
        "detected",
    );
    // What `land --no-rollups` leaves: the landed lake without its rollups.
    let mut raw = ctx.states["landed"].clone();
    raw.objects.retain(|k, _| !k.starts_with("rollups/"));
    ctx.ids.insert("raw", ctx.ids["landed"].clone());
    let c = Lake::local(&ctx.dir.join("ref-compact"));
    c.fill(&raw);
    ctx.states.insert("raw", raw);
    step(ctx, &c, &["compact", "--lake", "{lake}"], Some("compact"), "compacted");
    assert!(
        same_objects(&ctx.states["compacted"], &ctx.states["landed"]),
        "compact builds the rollups landing builds: {:?}",
        object_diffs(&ctx.states["compacted"], &ctx.states["landed"])
    );
    for l in [work, d, c] {
        l.clear();
    }
    // The references must differ from their starts, or a kill could not be told from a no-op.
    for t in targets {
        assert_ne!(
            ctx.states[t.start].objects, ctx.states[t.reference].objects,
            "{}: the uninterrupted run changes nothing",
            t.name
        );
    }
    let stale = ctx.states["late"]
        .objects
        .keys()
        .filter(|k| k.starts_with("_kubeseen/stale/"))
        .count();
    assert!(stale > 0, "landing the late batch marks windows stale");
    (on_time, late)
}

fn targets(exports: &str, late: &str) -> Vec<Target> {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let (exports, late) = (leak(exports), leak(late));
    let backfill = vec!["backfill", "--lake", "{lake}", "--from", FROM, "--to", TO];
    let mut resume = backfill.clone();
    resume.push("--resume");
    vec![
        Target {
            name: "land",
            start: "empty",
            first: vec!["land", "--lake", "{lake}", exports],
            rerun: vec!["land", "--lake", "{lake}", exports],
            reference: "landed",
        },
        Target {
            name: "land (late data)",
            start: "backfilled",
            first: vec!["land", "--lake", "{lake}", late],
            rerun: vec!["land", "--lake", "{lake}", late],
            reference: "late",
        },
        Target {
            name: "compact",
            start: "raw",
            first: vec!["compact", "--lake", "{lake}"],
            rerun: vec!["compact", "--lake", "{lake}"],
            reference: "compacted",
        },
        Target {
            name: "detect",
            start: "landed",
            first: vec!["detect", "--lake", "{lake}", "--at", AT],
            rerun: vec!["detect", "--lake", "{lake}", "--at", AT],
            reference: "detected",
        },
        Target {
            name: "detect --stale",
            start: "late",
            first: vec!["detect", "--lake", "{lake}", "--stale"],
            rerun: vec!["detect", "--lake", "{lake}", "--stale"],
            reference: "restaled",
        },
        Target {
            name: "backfill",
            start: "landed",
            first: backfill,
            rerun: resume,
            reference: "backfilled",
        },
    ]
}

/// What the kills of one target did.
#[derive(Default)]
struct Tally {
    kills: u64,
    trials: u64,
    doubles: u64,
    missed: u64,
    before_write: u64,
    mid_write: u64,
    after_write: u64,
    staging_left: u64,
    min_delay: Option<Duration>,
    max_delay: Option<Duration>,
    problems: u64,
    /// Clean re-runs whose lake had the reference's part files (rollups compared object by
    /// object) and those whose part files were cut differently (rollups compared by rows).
    rollups_by_object: u64,
    rollups_by_rows: u64,
}

/// Kills `t` `kills` times (some trials twice in a row) on fresh copies of its start state.
fn attack(ctx: &mut Ctx, t: &Target, kills: u64, rng: &mut Rng, s3: Option<(&str, &str)>) -> Tally {
    let mut tally = Tally::default();
    let mut budget_us = ctx.durations[t.name].as_micros().max(1) as u64;
    let mut attempts = 0;
    while tally.kills < kills && attempts < kills * 4 + 4 {
        attempts += 1;
        ctx.trials += 1;
        tally.trials += 1;
        let want = if tally.trials % 3 == 1 && kills - tally.kills >= 2 {
            2
        } else {
            1
        };
        let lake = match s3 {
            None => Lake::local(&ctx.dir.join(format!("trial-{}", ctx.trials))),
            Some((endpoint, bucket)) => Lake::s3(
                &format!("s3://{bucket}/crash-{}-{}", std::process::id(), ctx.trials),
                endpoint,
            ),
        };
        let start = &ctx.states[t.start];
        let reference = &ctx.states[t.reference];
        lake.fill(start);
        // The lake before each killed run.
        let mut before = start.clone();
        let mut delays = Vec::new();
        let mut problems = Vec::new();
        let mut killed_here = 0;
        for k in 0..want {
            let args = lake.args(if k == 0 { &t.first } else { &t.rerun });
            // Half the kills anywhere in the run, half in its last third, where a run that
            // reads first and writes at the end (detect, backfill) does its writing.
            let delay = Duration::from_micros(if rng.below(2) == 0 {
                rng.below(budget_us)
            } else {
                budget_us * 2 / 3 + rng.below(budget_us / 3)
            });
            delays.push(delay);
            if let Some(took) = run_killed(&args, lake.s3.as_deref(), delay) {
                // Finished first: the machine is faster now than when measured.
                eprintln!(
                    "crash: {} trial {} kill {}: finished after {took:?}, before its kill at {delay:?}",
                    t.name,
                    ctx.trials,
                    k + 1
                );
                tally.missed += 1;
                if k == 0 {
                    budget_us = took.as_micros().max(1) as u64;
                }
                if let Ok(now) = lake.state() {
                    before = now;
                }
                continue;
            }
            killed_here += 1;
            tally.min_delay = Some(tally.min_delay.map_or(delay, |m| m.min(delay)));
            tally.max_delay = Some(tally.max_delay.map_or(delay, |m| m.max(delay)));
            match lake.state() {
                Ok(after) => {
                    let (p, _) = integrity(&after);
                    problems.extend(
                        p.into_iter()
                            .map(|p| format!("after kill {} (before any re-run): {p}", k + 1)),
                    );
                    // Where the kill landed: what this run changed, and how far the trial is
                    // from an uninterrupted run's changes.
                    let (by_run, done, total) = (
                        changed(&after, &before),
                        changed(&after, start),
                        changed(reference, start),
                    );
                    eprintln!(
                        "crash: {} trial {} kill {} at {delay:?}: {by_run} object(s) changed by the run, {done} of {total} in all, {} staging file(s)",
                        t.name,
                        ctx.trials,
                        k + 1,
                        after.stray.len()
                    );
                    if by_run == 0 {
                        tally.before_write += 1;
                    } else if done < total {
                        tally.mid_write += 1;
                    } else {
                        tally.after_write += 1;
                    }
                    tally.staging_left += after.stray.iter().filter(|f| !before.stray.contains(f)).count() as u64;
                    lake.age_stray(&after.stray);
                    before = after;
                }
                Err(e) => problems.push(format!("after kill {}: {e}", k + 1)),
            }
        }
        tally.kills += killed_here;
        if killed_here == 2 {
            tally.doubles += 1;
        }
        if killed_here > 0 {
            let rerun = lake.args(&t.rerun);
            match run_clean(&rerun, lake.s3.as_deref()) {
                Err(e) => problems.push(format!("clean re-run `{}` failed: {e}", rerun.join(" "))),
                Ok(_) => match lake.state() {
                    Err(e) => problems.push(format!("after the re-run: {e}")),
                    Ok(after) => {
                        let (mut p, ids) = integrity(&after);
                        let (c, by) = compare(&after, &ids, reference, &ctx.ids[t.reference]);
                        p.extend(c);
                        match by {
                            RollupsBy::Object => tally.rollups_by_object += 1,
                            RollupsBy::Rows => tally.rollups_by_rows += 1,
                        }
                        problems.extend(p.into_iter().map(|p| format!("after the clean re-run: {p}")));
                    }
                },
            }
        }
        if !problems.is_empty() {
            tally.problems += problems.len() as u64;
            let msg = format!(
                "crash harness FAILED (seed {}, trial {}): target {:?} on {}: command `kubeseen {}` killed after {:?} (then re-run `kubeseen {}`):\n  - {}",
                ctx.seed,
                ctx.trials,
                t.name,
                lake.spec,
                lake.args(&t.first).join(" "),
                delays,
                lake.args(&t.rerun).join(" "),
                problems.join("\n  - ")
            );
            eprintln!("{msg}");
            ctx.failures.push(msg);
        } else {
            lake.clear();
        }
    }
    if tally.kills < kills {
        let msg = format!(
            "crash harness FAILED (seed {}): target {:?}: only {} of {} kills landed before the command finished ({} attempts)",
            ctx.seed, t.name, tally.kills, kills, attempts
        );
        eprintln!("{msg}");
        ctx.failures.push(msg);
        tally.problems += 1;
    }
    tally
}

fn outcome(seed: u64, tally: &Tally, duration: Duration, local: bool) -> String {
    let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis());
    let mut s = format!(
        "seed {seed}: {} kills in {} runs ({} killed twice in a row), delays {}–{} ms of a {} ms run: {} before any write, {} mid-write, {} after the last write",
        tally.kills,
        tally.trials,
        tally.doubles,
        ms(tally.min_delay),
        ms(tally.max_delay),
        duration.as_millis(),
        tally.before_write,
        tally.mid_write,
        tally.after_write,
    );
    if local {
        s.push_str(&format!("; {} staging file(s) left by kills", tally.staging_left));
    }
    if tally.problems == 0 {
        s.push_str(if local && tally.staging_left > 0 {
            ", all swept by the re-run"
        } else {
            ""
        });
        s.push_str(&format!(
            "; every visible object complete after each kill; after each of the {} re-runs: no duplicate point_id, \
             no staging file left, the point_ids of an uninterrupted run; rollups {}; findings (same keys, same rows), \
             reports (same content apart from timings and the lake's name), stale marks and rejects as an \
             uninterrupted run's",
            tally.rollups_by_object + tally.rollups_by_rows,
            match (tally.rollups_by_object, tally.rollups_by_rows) {
                (_, 0) => "identical object for object (the part files were the reference's each time)".to_string(),
                (0, r) => format!("compared by rows per hour and day in all {r} (the part files were cut differently each time), equal"),
                (o, r) => format!(
                    "identical object for object in {o} (same part files), and in the {r} whose part files were cut differently compared by rows per hour and day, equal"
                ),
            }
        ));
    } else {
        s.push_str(&format!("; FAILED: {} problem(s), see the test output", tally.problems));
    }
    if tally.missed > 0 {
        s.push_str(&format!(" ({} run(s) finished before their kill)", tally.missed));
    }
    s
}

fn record(lines: &[serde_json::Value]) {
    let Ok(path) = std::env::var("KUBESEEN_RELIABILITY_OUT") else {
        return;
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("KUBESEEN_RELIABILITY_OUT {path}: {e}"));
    for l in lines {
        writeln!(f, "{l}").unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
}

#[test]
fn sigkill_at_random_moments_leaves_a_consistent_lake() {
    let seed = env_u64("KUBESEEN_CRASH_SEED", 20_260_301);
    let kills = env_u64("KUBESEEN_CRASH_KILLS", 12);
    let s3_kills = env_u64("KUBESEEN_CRASH_S3_KILLS", 2);
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = std::env::var("KUBESEEN_BIN").unwrap_or_else(|_| bin().to_string());
    let exe = tmp.path().join("kubeseen");
    std::fs::copy(&source, &exe).unwrap_or_else(|e| panic!("copying the binary {source}: {e}"));
    EXE.set(exe).expect("one harness per process");
    let mut ctx = Ctx {
        seed,
        dir: tmp.path().to_path_buf(),
        states: BTreeMap::new(),
        ids: BTreeMap::new(),
        durations: BTreeMap::new(),
        failures: Vec::new(),
        lines: Vec::new(),
        trials: 0,
    };
    let started = Instant::now();
    let probe = targets("exports", "late");
    let (exports, late) = references(&mut ctx, &probe);
    let targets = targets(&exports.display().to_string(), &late.display().to_string());
    eprintln!(
        "crash harness: seed {seed}, {kills} local kills; references in {:.1}s; uninterrupted durations: {}",
        started.elapsed().as_secs_f64(),
        ctx.durations
            .iter()
            .map(|(k, v)| format!("{k} {} ms", v.as_millis()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut rng = Rng(seed);
    let local_started = Instant::now();
    let n = targets.len() as u64;
    for (i, t) in targets.iter().enumerate() {
        let share = kills / n + u64::from((i as u64) < kills % n);
        if share == 0 {
            continue;
        }
        let tally = attack(&mut ctx, t, share, &mut rng, None);
        let line = serde_json::json!({
            "suite": "crash", "fault": FAULT, "target": t.name, "count": tally.kills,
            "outcome": outcome(seed, &tally, ctx.durations[t.name], true), "ok": tally.problems == 0,
        });
        eprintln!("crash harness: {line}");
        ctx.lines.push(line);
    }

    eprintln!(
        "crash harness: local kills in {:.1}s",
        local_started.elapsed().as_secs_f64()
    );
    if let Some(crate::common::S3Server { endpoint, bucket }) = crate::common::s3_server("its S3 kills") {
        let s3_targets: Vec<&Target> = targets
            .iter()
            .filter(|t| t.name == "land" || t.name == "backfill")
            .collect();
        for (i, t) in s3_targets.iter().enumerate() {
            let share = s3_kills / 2 + u64::from((i as u64) < s3_kills % 2);
            if share == 0 {
                continue;
            }
            // Measure the uninterrupted run on S3 first (it is slower than on disk); it must
            // leave the same lake as on disk.
            ctx.trials += 1;
            let lake = Lake::s3(
                &format!("s3://{bucket}/crash-{}-ref-{}", std::process::id(), ctx.trials),
                &endpoint,
            );
            lake.fill(&ctx.states[t.start]);
            let args = lake.args(&t.first);
            let took =
                run_clean(&args, Some(&endpoint)).unwrap_or_else(|e| panic!("`kubeseen {}`: {e}", args.join(" ")));
            let st = lake.state().expect("s3 state");
            let (mut p, ids) = integrity(&st);
            p.extend(compare(&st, &ids, &ctx.states[t.reference], &ctx.ids[t.reference]).0);
            assert!(
                p.is_empty(),
                "uninterrupted `{}` on S3 differs from the local run: {p:?}",
                t.name
            );
            lake.clear();
            let name: &'static str = Box::leak(format!("{} (s3)", t.name).into_boxed_str());
            ctx.durations.insert(t.name, took);
            let tally = attack(&mut ctx, t, share, &mut rng, Some((&endpoint, &bucket)));
            let line = serde_json::json!({
                "suite": "crash", "fault": FAULT, "target": name, "count": tally.kills,
                "outcome": outcome(seed, &tally, took, false),
                "ok": tally.problems == 0,
            });
            eprintln!("crash harness: {line}");
            ctx.lines.push(line);
        }
    }
    record(&ctx.lines);
    eprintln!(
        "crash harness: {} trials in {:.1}s",
        ctx.trials,
        started.elapsed().as_secs_f64()
    );
    assert!(
        ctx.failures.is_empty(),
        "{} crash trial(s) failed (re-run with KUBESEEN_CRASH_SEED={seed} KUBESEEN_CRASH_KILLS={kills}):\n{}",
        ctx.failures.len(),
        ctx.failures.join("\n")
    );
}

// Deterministic tests of the states the kills above found, reproduced without timing.

/// Points over three hours of one node, the last one a new path.
fn three_hours() -> Vec<crate::common::P> {
    use crate::common::{t, P};
    let at = t("2026-11-20T12:00:00Z");
    let mut v = Vec::new();
    for h in [1, 2, 3] {
        v.push(P::new(
            "prod",
            "n1",
            "/usr/bin/kubelet",
            1,
            at - crate::common::hours(h),
        ));
    }
    v.push(P::new(
        "prod",
        "n1",
        "/tmp/.x/xmrig",
        7,
        at - chrono::Duration::minutes(30),
    ));
    v
}

fn keys_under(lake: &Location, prefix: &str) -> BTreeSet<String> {
    lake.list(prefix).expect("list").into_iter().map(|(k, _)| k).collect()
}

#[test]
fn relanding_after_a_kill_between_parts_and_rollups_finishes_the_rollups() {
    use crate::common::{kubeseen as run, otlp_lines, TestLake};
    let whole = TestLake::new();
    let killed = TestLake::new();
    for l in [&whole, &killed] {
        std::fs::write(l.dir.path().join("e.jsonl"), otlp_lines(&three_hours())).expect("write");
    }
    let lake_arg = |l: &TestLake| l.path().display().to_string();
    let out = run(&["land", "--lake", &lake_arg(&whole), "e.jsonl"], whole.dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // A run killed after its part files and before its rollups: the library's land writes
    // exactly the parts.
    crate::common::land_files(&killed.lake, &[killed.dir.path().join("e.jsonl").display().to_string()]);
    assert!(keys_under(&killed.lake, "rollups").is_empty());
    let out = run(
        &["land", "--lake", &lake_arg(&killed), "--json", "e.jsonl"],
        killed.dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (r["points_landed"].as_u64(), r["points_duplicate"].as_u64()),
        (Some(0), Some(4))
    );
    let presence = keys_under(&whole.lake, "rollups/presence");
    assert_eq!(presence.len(), 4, "three hour rollups and a day rollup: {presence:?}");
    // And the statistical detections' moments: one per hour and logic shape, and a day's.
    let moments = keys_under(&whole.lake, "rollups/moments");
    assert_eq!(moments.len(), (3 + 1) * 2, "{moments:?}");
    let rollups = keys_under(&whole.lake, "rollups");
    assert_eq!(keys_under(&killed.lake, "rollups"), rollups, "the re-run rebuilt them");
}

/// The harness's comparison itself: two lakes of the same points whose part files were cut
/// differently (one land, or two lands of halves) compare equal by rollup rows; a rollup whose
/// rows are not the reference's, or a missing one, is reported.
#[test]
fn the_harness_compares_rollup_rows_when_part_files_differ() {
    use crate::common::{kubeseen as run, otlp_lines, TestLake};
    let mut pts = three_hours();
    // A second point in the 11:00 hour, landed apart: that hour gets two part files.
    pts.push(crate::common::P::new(
        "prod",
        "n1",
        "/usr/bin/kubelet",
        1,
        crate::common::t("2026-11-20T11:45:00Z"),
    ));
    let (whole, halves) = (TestLake::new(), TestLake::new());
    std::fs::write(whole.dir.path().join("all.jsonl"), otlp_lines(&pts)).expect("write");
    let (a, b) = pts.split_at(pts.len() - 1);
    std::fs::write(halves.dir.path().join("a.jsonl"), otlp_lines(a)).expect("write");
    std::fs::write(halves.dir.path().join("b.jsonl"), otlp_lines(b)).expect("write");
    let land = |l: &TestLake, f: &str| {
        let out = run(&["land", "--lake", &l.path().display().to_string(), f], l.dir.path());
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    };
    land(&whole, "all.jsonl");
    land(&halves, "a.jsonl");
    land(&halves, "b.jsonl");
    let lake = |l: &TestLake| Lake::local(&l.path());
    let (reference, state) = (
        lake(&whole).state().expect("state"),
        lake(&halves).state().expect("state"),
    );
    let (ref_problems, ref_ids) = integrity(&reference);
    let (problems, ids) = integrity(&state);
    assert!(
        ref_problems.is_empty() && problems.is_empty(),
        "{ref_problems:?} {problems:?}"
    );
    let parts = |st: &State| st.objects.keys().filter(|k| k.starts_with("metrics/")).count();
    assert!(
        parts(&state) > parts(&reference),
        "the halves cut the part files differently"
    );
    let (p, by) = compare(&state, &ids, &reference, &ref_ids);
    assert_eq!((p, by), (Vec::<String>::new(), RollupsBy::Rows));

    // One rollup holding another hour's rows, then one missing: both reported.
    let rollups: Vec<String> = state
        .objects
        .keys()
        .filter(|k| k.starts_with("rollups/") && !k.contains("/day-"))
        .cloned()
        .collect();
    assert!(rollups.len() >= 2, "{rollups:?}");
    let mut wrong = state.clone();
    wrong
        .objects
        .insert(rollups[0].clone(), state.objects[&rollups[1]].clone());
    let (p, _) = compare(&wrong, &ids, &reference, &ref_ids);
    assert!(
        p.iter()
            .any(|x| x.contains("the rollup rows of") && x.contains("differ")),
        "{p:?}"
    );
    let mut gone = state.clone();
    gone.objects.remove(&rollups[0]);
    let (p, _) = compare(&gone, &ids, &reference, &ref_ids);
    assert!(p.iter().any(|x| x.contains("no rollup for 1 hour")), "{p:?}");
}

#[test]
fn stale_marks_are_written_before_the_points_they_cover() {
    use crate::common::{kubeseen as run, otlp_lines, t, TestLake, P};
    use kubeseen::lake::land::{land_with, LandOptions};
    use kubeseen::lake::stale::{self, Marker};
    let l = TestLake::new();
    let lake_arg = l.path().display().to_string();
    std::fs::write(l.dir.path().join("e.jsonl"), otlp_lines(&three_hours())).expect("write");
    let out = run(&["land", "--lake", &lake_arg, "e.jsonl"], l.dir.path());
    assert_eq!(out.status.code(), Some(0));
    let out = run(
        &["detect", "--lake", &lake_arg, "--at", "2026-11-20T12:00:00Z"],
        l.dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stale::read(&l.lake, "process_new_path").expect("read").is_empty());

    // Late points an hour before the window: the landing is "killed" right after its hook ran
    // (the hook fails), so no point of it lands, yet the window is already marked.
    let late = [P::new("prod", "n1", "/tmp/.x/xmrig", 6, t("2026-11-20T09:30:00Z"))];
    let f = l.dir.path().join("late.jsonl");
    std::fs::write(&f, otlp_lines(&late)).expect("write");
    let inputs = kubeseen::ingest::discover(&[f.display().to_string()], &StoreOptions::default()).expect("discover");
    let opts = LandOptions {
        now: t("2030-01-01T00:00:00Z"),
        ..LandOptions::default()
    };
    let parts_before = keys_under(&l.lake, "metrics");
    let mut marker = Marker::new("process_new_path", chrono::Duration::days(30));
    let mut seen = Vec::new();
    let res = land_with(&l.lake, &inputs, &opts, &mut |partitions| {
        assert_eq!(
            keys_under(&l.lake, "metrics"),
            parts_before,
            "nothing written before the hook"
        );
        seen.extend_from_slice(partitions);
        marker.mark(&l.lake, partitions)?;
        Err(kubeseen::storage::StorageError::Open {
            location: "test".into(),
            message: "killed right after the hook".into(),
        })
    });
    assert!(res.is_err());
    assert_eq!(seen.len(), 1, "one partition: {seen:?}");
    assert_eq!(
        keys_under(&l.lake, "metrics"),
        parts_before,
        "the killed run landed nothing"
    );
    let marked = stale::read(&l.lake, "process_new_path").expect("read");
    assert_eq!(marked.len(), 1, "{marked:?}");
    // The re-run lands the points and leaves the same mark.
    let out = run(&["land", "--lake", &lake_arg, "--json", "late.jsonl"], l.dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["points_landed"], 1);
    assert_eq!(stale::read(&l.lake, "process_new_path").expect("read"), marked);
}

#[test]
fn resume_reruns_a_window_whose_report_a_kill_left_unwritten() {
    use crate::common::{kubeseen as run, otlp_lines, TestLake};
    let l = TestLake::new();
    let lake_arg = l.path().display().to_string();
    std::fs::write(l.dir.path().join("e.jsonl"), otlp_lines(&three_hours())).expect("write");
    assert_eq!(
        run(&["land", "--lake", &lake_arg, "e.jsonl"], l.dir.path())
            .status
            .code(),
        Some(0)
    );
    let args = [
        "backfill",
        "--detection",
        "process_new_path",
        "--lake",
        &lake_arg,
        "--from",
        "2026-11-20T08:00:00Z",
        "--to",
        "2026-11-20T12:00:00Z",
        "--format",
        "json",
    ];
    assert_eq!(run(&args, l.dir.path()).status.code(), Some(0));
    // Killed between the findings put and the report puts of the window ending 12:00.
    let base = "reports/detect/detection=process_new_path/date=2026-11-20/20261120T120000Z-1h";
    for ext in ["json", "md"] {
        std::fs::remove_file(l.path().join(format!("{base}.{ext}"))).expect("remove report");
    }
    let resume = [&args[..], &["--resume"]].concat();
    let out = run(&resume, l.dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["skipped_up_to_date"], 3, "{v:#}");
    assert_eq!(v["per_window"][0]["window_end"], "2026-11-20T12:00:00Z");
    for ext in ["json", "md"] {
        assert!(
            l.path().join(format!("{base}.{ext}")).exists(),
            "report .{ext} rewritten"
        );
    }
}
