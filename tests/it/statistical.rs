//! The statistical family (#9, #10): counters as rates, the > 5 threshold at the window's
//! edges, entities not judged (no baseline, learning period, σ = 0), intent vs
//! `--splunk-compat` (the weekly lookup), golden files.
//!
//! The lake holds hand-made process scrapes: 31 days of history (two scrapes five minutes
//! apart every hour, so counters have rates) and the last hour every 10 s.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use kubeseen::detect;
use serde_json::{json, Value};

use crate::common::*;

const AT: &str = "2026-11-20T12:00:00Z";
const MEM_TOTAL: f64 = 16.0 * 1024.0 * 1024.0 * 1024.0;

/// A process: how its resources move over time (`t` in seconds since the epoch).
struct Proc {
    cluster: &'static str,
    node: &'static str,
    exe: &'static str,
    /// (from, pid, start): the pid running from `from` on (a restart starts a new one).
    pids: Vec<(DateTime<Utc>, i64, DateTime<Utc>)>,
    cpu: Box<dyn Fn(DateTime<Utc>) -> f64>,
    mem: Box<dyn Fn(DateTime<Utc>) -> f64>,
    threads: Box<dyn Fn(DateTime<Utc>) -> f64>,
    ops: Box<dyn Fn(DateTime<Utc>) -> f64>,
}

/// Deterministic noise in [−1, 1] for (name, t).
fn noise(name: &str, t: DateTime<Utc>, salt: u64) -> f64 {
    let mut h = xorshift(t.timestamp() as u64 ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    for b in name.bytes() {
        h = xorshift(h ^ b as u64);
    }
    (h % 2_000_001) as f64 / 1_000_000.0 - 1.0
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn kv(k: &str, v: Value) -> Value {
    json!({"key": k, "value": v})
}

fn ns(t: DateTime<Utc>) -> String {
    t.timestamp_nanos_opt().expect("time in range").to_string()
}

/// One scrape of `p` at `t` (cumulative counters `cum` = [cpu seconds, disk operations]).
fn scrape(p: &Proc, pid: i64, start: DateTime<Utc>, t: DateTime<Utc>, cum: [f64; 2]) -> String {
    let res = vec![
        kv("k8s.cluster.name", json!({"stringValue": p.cluster})),
        kv("k8s.node.name", json!({"stringValue": p.node})),
        kv("host.name", json!({"stringValue": p.node})),
        kv("process.executable.name", json!({"stringValue": p.exe})),
        kv(
            "process.executable.path",
            json!({"stringValue": format!("/usr/bin/{}", p.exe)}),
        ),
        kv("process.pid", json!({"intValue": pid.to_string()})),
    ];
    let gauge =
        |name: &str, v: f64| json!({"name": name, "gauge": {"dataPoints": [{"timeUnixNano": ns(t), "asDouble": v}]}});
    let sum = |name: &str, attr: (&str, &str), v: f64, mono: bool| {
        json!({"name": name, "sum": {"aggregationTemporality": 2, "isMonotonic": mono, "dataPoints": [{
            "attributes": [kv(attr.0, json!({"stringValue": attr.1}))],
            "startTimeUnixNano": ns(start), "timeUnixNano": ns(t), "asDouble": v}]}})
    };
    let mem = (p.mem)(t);
    let metrics = vec![
        sum("process.cpu.time", ("state", "user"), cum[0] * 0.75, true),
        sum("process.cpu.time", ("state", "system"), cum[0] * 0.25, true),
        gauge("process.cpu.utilization", (p.cpu)(t)),
        sum("process.disk.operations", ("direction", "read"), cum[1], true),
        json!({"name": "process.memory.usage", "sum": {"aggregationTemporality": 2, "dataPoints": [{"startTimeUnixNano": ns(start), "timeUnixNano": ns(t), "asDouble": mem}]}}),
        gauge("process.memory.utilization", 100.0 * mem / MEM_TOTAL),
        json!({"name": "process.threads", "sum": {"aggregationTemporality": 2, "dataPoints": [{"startTimeUnixNano": ns(start), "timeUnixNano": ns(t), "asDouble": (p.threads)(t)}]}}),
    ];
    json!({"resourceMetrics": [{"resource": {"attributes": res},
        "scopeMetrics": [{"scope": {"name": "otelcol/hostmetricsreceiver/process"}, "metrics": metrics}]}]})
    .to_string()
}

/// The scrape times: two five minutes apart every hour of `[from, to)`, then every 10 s of
/// `[dense, until]` (`until` included: a point exactly at `--at` lies outside the window).
fn times(from: DateTime<Utc>, to: DateTime<Utc>, dense: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut v = Vec::new();
    let mut t = from;
    while t < to {
        v.push(t);
        v.push(t + Duration::minutes(5));
        t += hours(1);
    }
    let mut t = dense;
    while t <= until {
        v.push(t);
        t += Duration::seconds(10);
    }
    v
}

fn export(p: &Proc, ts: &[DateTime<Utc>]) -> String {
    let mut out = String::new();
    let mut cum = [0.0f64; 2];
    let mut last: Option<(i64, DateTime<Utc>)> = None;
    for &t in ts {
        let Some(&(_, pid, start)) = p.pids.iter().rev().find(|(from, _, _)| *from <= t) else {
            continue;
        };
        if t < start {
            continue;
        }
        // Counters grow at the rates of the interval ending at t; a new pid starts from 0.
        match last {
            Some((lp, lt)) if lp == pid => {
                let dt = (t - lt).num_milliseconds() as f64 / 1000.0;
                cum[0] += (p.cpu)(t) * dt;
                cum[1] += (p.ops)(t) * dt;
            }
            _ => {
                let dt = (t - start).num_milliseconds() as f64 / 1000.0;
                cum = [(p.cpu)(t) * dt, (p.ops)(t) * dt];
            }
        }
        last = Some((pid, t));
        out.push_str(&scrape(p, pid, start, t, cum));
        out.push('\n');
    }
    out
}

fn normal(name: &'static str, base: f64, spread: f64, salt: u64) -> Box<dyn Fn(DateTime<Utc>) -> f64> {
    Box::new(move |t| base + spread * noise(name, t, salt))
}

/// `normal` with `high` inside the given [from, to) ranges.
fn burst(
    name: &'static str,
    base: f64,
    spread: f64,
    high: f64,
    ranges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
) -> Box<dyn Fn(DateTime<Utc>) -> f64> {
    Box::new(move |t| {
        if ranges.iter().any(|(a, b)| t >= *a && t < *b) {
            high + spread * noise(name, t, 7)
        } else {
            base + spread * noise(name, t, 1)
        }
    })
}

const MB: f64 = 1024.0 * 1024.0;

/// The lake of the scenarios, landed.
fn lake() -> TestLake {
    let at = t(AT);
    let ws = at - hours(1);
    let hist = at - Duration::days(31);
    let dense = ws - Duration::minutes(10);
    let all = times(hist, dense, dense, at);
    let long = |pid: i64| -> Vec<(DateTime<Utc>, i64, DateTime<Utc>)> {
        vec![(hist - Duration::days(2), pid, hist - Duration::days(2))]
    };
    let procs = vec![
        // A steady process, restarted in the window (new pid, counters from 0): no finding.
        Proc {
            cluster: "prod",
            node: "n1",
            exe: "steady",
            pids: vec![
                (hist - Duration::days(2), 100, hist - Duration::days(2)),
                (ws + Duration::minutes(30), 101, ws + Duration::minutes(30)),
            ],
            cpu: normal("steady", 0.5, 0.1, 1),
            mem: normal("steady-m", 200.0 * MB, 10.0 * MB, 2),
            threads: Box::new(|t| 10.0 + (noise("steady-t", t, 3) > 0.0) as i64 as f64),
            ops: normal("steady-o", 5.0, 1.0, 4),
        },
        // The miner: CPU ×15 for the last 40 minutes (#9; cpu:mem and cpu:threads flip for #10).
        Proc {
            cluster: "prod",
            node: "n1",
            exe: "miner",
            pids: long(200),
            cpu: burst(
                "miner",
                0.2,
                0.05,
                3.0,
                vec![(ws + Duration::minutes(20), at + hours(1))],
            ),
            mem: normal("miner-m", 300.0 * MB, 15.0 * MB, 2),
            threads: Box::new(|t| 8.0 + (noise("miner-t", t, 3) > 0.5) as i64 as f64),
            ops: normal("miner-o", 20.0, 4.0, 4),
        },
        // A 30 s spike: 3 anomalous buckets, not more than 5.
        Proc {
            cluster: "prod",
            node: "n1",
            exe: "spike",
            pids: long(300),
            cpu: burst(
                "spike",
                0.3,
                0.05,
                5.0,
                vec![(
                    ws + Duration::minutes(40),
                    ws + Duration::minutes(40) + Duration::seconds(30),
                )],
            ),
            mem: normal("spike-m", 100.0 * MB, 5.0 * MB, 2),
            threads: Box::new(|t| 4.0 + (noise("spike-t", t, 3) > 0.0) as i64 as f64),
            ops: normal("spike-o", 2.0, 0.5, 4),
        },
        // Five anomalous buckets at the end and one exactly at --at (outside): 5, no finding.
        Proc {
            cluster: "prod",
            node: "n1",
            exe: "edge_out",
            pids: long(400),
            cpu: burst(
                "edge_out",
                0.3,
                0.05,
                5.0,
                vec![(at - Duration::seconds(50), at + Duration::seconds(1))],
            ),
            mem: normal("edge_out-m", 100.0 * MB, 5.0 * MB, 2),
            threads: Box::new(|t| 4.0 + (noise("edge_out-t", t, 3) > 0.0) as i64 as f64),
            ops: normal("edge_out-o", 2.0, 0.5, 4),
        },
        // The same five and one exactly at the window's start (inside): 6, a finding.
        Proc {
            cluster: "prod",
            node: "n1",
            exe: "edge_in",
            pids: long(500),
            cpu: burst(
                "edge_in",
                0.3,
                0.05,
                5.0,
                vec![
                    (ws, ws + Duration::seconds(1)),
                    (at - Duration::seconds(50), at + Duration::seconds(1)),
                ],
            ),
            mem: normal("edge_in-m", 100.0 * MB, 5.0 * MB, 2),
            threads: Box::new(|t| 4.0 + (noise("edge_in-t", t, 3) > 0.0) as i64 as f64),
            ops: normal("edge_in-o", 2.0, 0.5, 4),
        },
        // New in the window: no baseline.
        Proc {
            cluster: "prod",
            node: "n2",
            exe: "newbie",
            pids: vec![(ws, 600, ws)],
            cpu: normal("newbie", 2.0, 0.5, 1),
            mem: normal("newbie-m", 500.0 * MB, 50.0 * MB, 2),
            threads: Box::new(|_| 30.0),
            ops: normal("newbie-o", 50.0, 10.0, 4),
        },
        // Ten hours of history (20 baseline buckets < the learning period of 100), then a burst.
        Proc {
            cluster: "prod",
            node: "n2",
            exe: "young",
            pids: vec![(ws - hours(10), 700, ws - hours(10))],
            cpu: burst("young", 0.2, 0.05, 3.0, vec![(ws, at + hours(1))]),
            mem: normal("young-m", 100.0 * MB, 5.0 * MB, 2),
            threads: Box::new(|t| 4.0 + (noise("young-t", t, 3) > 0.0) as i64 as f64),
            ops: normal("young-o", 2.0, 0.5, 4),
        },
        // Constant everything (σ = 0), then memory doubles in the window.
        Proc {
            cluster: "prod",
            node: "n2",
            exe: "flat",
            pids: long(800),
            cpu: Box::new(|_| 0.0),
            mem: Box::new(move |t| if t >= ws { 100.0 * MB } else { 50.0 * MB }),
            threads: Box::new(|_| 2.0),
            ops: Box::new(|_| 0.0),
        },
    ];
    let l = TestLake::new();
    let mut files = Vec::new();
    for p in &procs {
        let f = l.dir.path().join(format!("{}.jsonl", p.exe));
        std::fs::write(&f, export(p, &all)).expect("write export");
        files.push(f.display().to_string());
    }
    let r = land_files(&l.lake, &files);
    assert_eq!(r.points_rejected, 0, "every point lands");
    l
}

fn spec_of(slug: &str) -> detect::spec::Spec {
    detect::spec::load(None)
        .expect("specs")
        .into_iter()
        .find(|s| s.slug == slug)
        .expect("spec")
}

fn run(l: &TestLake, slug: &str, compat: bool) -> detect::Run {
    let mut o = opts(AT);
    o.splunk_compat = compat;
    detect::run(&l.lake, &spec_of(slug), &o).expect("detect")
}

fn exes(run: &detect::Run) -> BTreeSet<String> {
    kubeseen::report::rows_json(&run.findings)
        .iter()
        .map(|r| r["process_executable_name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn process_anomalies_need_more_than_five_buckets_and_a_baseline() {
    let l = lake();
    let at = t(AT);

    // #9, intent: the miner, and the edge case whose sixth bucket is the window's first.
    let r9 = run(&l, "process_resource_anomaly", false);
    assert_eq!(exes(&r9), set(&["edge_in", "miner"]));
    let rows = kubeseen::report::rows_json(&r9.findings);
    let miner = rows
        .iter()
        .find(|r| r["process_executable_name"] == "miner")
        .expect("miner");
    assert_eq!(miner["detection_id"], "25ca9594-7a0d-4a95-a5e5-3228d7398ec8");
    assert_eq!(miner["host_name"], "n1");
    assert_eq!(
        miner["message"],
        "Kubernetes Process with Anomalous Resource Utilisation on host n1"
    );
    assert_eq!(miner["baseline_complete"], true);
    assert_eq!(miner["risk_score"], 25);
    // 40 minutes of 10 s buckets (the rate of the first burst bucket covers it too).
    assert_eq!(miner["anomaly_count"], 240, "{miner}");
    assert_eq!(miner["first_anomaly"], "2026-11-20T11:20:00Z");
    assert_eq!(miner["last_anomaly"], "2026-11-20T11:59:50Z");
    let top = miner["top_anomalies"].as_array().expect("list");
    assert_eq!(top.len(), 10);
    let names: BTreeSet<&str> = top.iter().filter_map(|a| a["metric"].as_str()).collect();
    assert!(names.iter().all(|n| n.starts_with("process.cpu.")), "{names:?}");
    for a in top {
        let (x, avg, sd, z) = (
            a["value"].as_f64(),
            a["baseline_avg"].as_f64(),
            a["baseline_stdev"].as_f64(),
            a["z"].as_f64(),
        );
        let (x, avg, sd, z) = (x.expect("x"), avg.expect("avg"), sd.expect("sd"), z.expect("z"));
        assert!(x > avg + 4.0 * sd && ((x - avg) / sd - z).abs() < 1e-6 * z, "{a}");
    }
    let edge = rows
        .iter()
        .find(|r| r["process_executable_name"] == "edge_in")
        .expect("edge_in");
    assert_eq!(edge["anomaly_count"], 6);
    assert_eq!(edge["first_anomaly"], "2026-11-20T11:00:00Z");
    // Not judged: the new process, the young one (learning period) and the flat one (σ = 0).
    let j = r9.statistical.as_ref().expect("counts");
    assert_eq!(j.entities_in_window, 8);
    assert_eq!(j.entities_evaluated, 5);
    assert_eq!(j.entities_not_judged["no_baseline"], 1);
    assert_eq!(j.entities_not_judged["too_few_baseline_buckets"], 1);
    assert_eq!(j.entities_not_judged["zero_stdev"], 1);
    assert_eq!(r9.window.baseline_start, at - Duration::days(30));
    assert_eq!(r9.window.baseline_end, at - hours(1));
    assert_golden(&r9);

    // #10, intent: the miner's CPU per memory and per thread flip; nothing else moves.
    let r10 = run(&l, "process_resource_ratio_anomaly", false);
    assert_eq!(exes(&r10), set(&["edge_in", "miner"]));
    let rows = kubeseen::report::rows_json(&r10.findings);
    let miner = rows
        .iter()
        .find(|r| r["process_executable_name"] == "miner")
        .expect("miner");
    let names: BTreeSet<&str> = miner["top_anomalies"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["metric"].as_str())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("cpu:")), "{names:?}");
    assert_golden(&r10);

    // --splunk-compat: the weekly lookup of Sunday 2026-11-15 02:00 over [10-16, 11-14).
    let c9 = run(&l, "process_resource_anomaly", true);
    assert_eq!(c9.window.baseline_start, t("2026-10-16T00:00:00Z"));
    assert_eq!(c9.window.baseline_end, t("2026-11-14T00:00:00Z"));
    let j = c9.statistical.as_ref().expect("counts");
    assert_eq!(j.lookup_run.as_deref(), Some("2026-11-15T02:00:00Z"));
    // The new and the young process have no lookup row: fillnull makes every value
    // "anomalous" with σ = 0, which nulls the SPL's text: never a finding.
    assert!(!exes(&c9).contains("newbie") && !exes(&c9).contains("young"));
    assert!(exes(&c9).contains("miner"), "{:?}", exes(&c9));
    assert_golden(&c9);
    let c10 = run(&l, "process_resource_ratio_anomaly", true);
    assert!(!exes(&c10).contains("newbie"));
    assert_golden(&c10);

    // Backfill (both modes, through the binary, moment rollups built by `compact`) writes what
    // separate runs find, window by window; the last window has the findings above.
    let lake_arg = l.path().display().to_string();
    let out = kubeseen(&["compact", "--lake", &lake_arg], l.dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for compat in [false, true] {
        let mut args = vec![
            "backfill",
            "--lake",
            &lake_arg,
            "--from",
            "2026-11-20T09:00:00Z",
            "--to",
            AT,
            "--format",
            "json",
            "--detection",
            "process_resource_anomaly",
            "--detection",
            "process_resource_ratio_anomaly",
        ];
        if compat {
            args.push("--splunk-compat");
        }
        let out = kubeseen(&args, l.dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for slug in ["process_resource_anomaly", "process_resource_ratio_anomaly"] {
            for end in ["2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", AT] {
                let mut o = opts(end);
                o.splunk_compat = compat;
                let r = detect::run(&l.lake, &spec_of(slug), &o).expect("detect");
                let bytes = l
                    .lake
                    .get(&kubeseen::report::findings_key(&r))
                    .expect("backfill wrote it");
                let df = {
                    use polars::prelude::SerReader;
                    polars::prelude::ParquetReader::new(std::io::Cursor::new(bytes))
                        .finish()
                        .expect("findings")
                };
                let uids = |d: &polars::prelude::DataFrame| -> BTreeSet<String> {
                    kubeseen::report::rows_json(d)
                        .iter()
                        .map(|r| r["finding_uid"].to_string())
                        .collect()
                };
                assert_eq!(uids(&df), uids(&r.findings), "{slug} compat={compat} {end}");
                assert_eq!(end == AT, df.height() > 0, "{slug} compat={compat} {end}");
            }
        }
    }
}

#[test]
fn the_weekly_lookup_run_is_the_last_sunday_two_am_before_at() {
    use kubeseen::detect::statistical::lookup::{data_window, last_run_before};
    assert_eq!(last_run_before(t("2026-11-20T12:00:00Z")), t("2026-11-15T02:00:00Z"));
    // Exactly at the run: that run has not finished; the week before's is read.
    assert_eq!(last_run_before(t("2026-11-15T02:00:00Z")), t("2026-11-08T02:00:00Z"));
    assert_eq!(last_run_before(t("2026-11-15T02:00:01Z")), t("2026-11-15T02:00:00Z"));
    assert_eq!(last_run_before(t("2026-11-15T01:00:00Z")), t("2026-11-08T02:00:00Z"));
    assert_eq!(
        data_window(t("2026-11-15T02:00:00Z")),
        (t("2026-10-16T00:00:00Z"), t("2026-11-14T00:00:00Z"))
    );
}

mod rollups {
    use super::*;
    use proptest::prelude::*;

    /// Scrapes of two processes over three days at random times: (exe, seconds since T0,
    /// restart, cpu rate, memory MB).
    fn arb_scrapes() -> impl Strategy<Value = Vec<(u8, u32, bool, f64, f64)>> {
        prop::collection::vec(
            (
                0u8..2,
                0u32..(3 * 86_400),
                prop::bool::weighted(0.03),
                0.0f64..4.0,
                50.0f64..400.0,
            ),
            40..160,
        )
    }

    fn export_of(scrapes: &[(u8, u32, bool, f64, f64)]) -> Vec<String> {
        let t0 = t("2026-10-01T00:00:00Z");
        let mut sorted = scrapes.to_vec();
        sorted.sort_by_key(|s| (s.0, s.1));
        let mut lines = Vec::new();
        let mut state: [(i64, DateTime<Utc>, [f64; 2]); 2] =
            [(100, t0 - hours(1), [0.0; 2]), (200, t0 - hours(1), [0.0; 2])];
        let mut last_t: [Option<DateTime<Utc>>; 2] = [None, None];
        for (e, secs, restart, cpu, mem) in sorted {
            let i = e as usize;
            let at = t0 + Duration::seconds(secs as i64) + Duration::microseconds((secs as i64 * 7919) % 1_000_000);
            if restart {
                state[i].0 += 1;
                state[i].1 = at - Duration::seconds(30);
                state[i].2 = [0.0; 2];
            }
            let dt = last_t[i].map_or(30.0, |l| (at - l).num_milliseconds() as f64 / 1000.0);
            state[i].2[0] += cpu * dt.min(3600.0);
            state[i].2[1] += cpu * 3.0 * dt.min(3600.0);
            last_t[i] = Some(at);
            let exe = ["alpha", "beta"][i];
            let p = Proc {
                cluster: "prod",
                node: "n1",
                exe,
                pids: vec![],
                cpu: Box::new(move |_| cpu),
                mem: Box::new(move |_| mem * MB),
                threads: Box::new(move |_| (cpu * 3.0).round() + 1.0),
                ops: Box::new(|_| 0.0),
            };
            lines.push(scrape(&p, state[i].0, state[i].1, at, state[i].2));
        }
        lines
    }

    fn frame_close(a: &polars::prelude::DataFrame, b: &polars::prelude::DataFrame) -> Result<(), String> {
        let (ra, rb) = (kubeseen::report::rows_json(a), kubeseen::report::rows_json(b));
        if ra.len() != rb.len() {
            return Err(format!("{} rows vs {}", ra.len(), rb.len()));
        }
        for (x, y) in ra.iter().zip(&rb) {
            for (k, v) in x.as_object().expect("row") {
                let w = &y[k.as_str()];
                let same = match (v.as_f64(), w.as_f64()) {
                    (Some(p), Some(q)) => (p - q).abs() <= 1e-9 * (1.0 + p.abs().max(q.abs())),
                    _ => v == w,
                };
                if !same {
                    return Err(format!("{k}: {v} vs {w} in {x} / {y}"));
                }
            }
        }
        Ok(())
    }

    /// A baseline that spans whole days reads their day rollups (one object per day instead of
    /// 24), equals the plain computation, and a late point in one hour of a day makes that day
    /// fall back to hours and raw points until `compact` runs again.
    #[test]
    fn day_moment_rollups_replace_whole_days_and_late_data_invalidates_them() {
        // Both processes every 7 minutes over three days, with a slow drift and a restart.
        let mut scrapes: Vec<(u8, u32, bool, f64, f64)> = (0..(3 * 86_400 / 420))
            .flat_map(|i| {
                let secs = i * 420;
                let wave = (i % 17) as f64 / 17.0;
                [
                    (0u8, secs, i == 300, 1.0 + wave, 100.0 + 50.0 * wave),
                    (1u8, secs + 60, false, 2.0 - wave, 300.0),
                ]
            })
            .collect();
        scrapes.sort_by_key(|s| (s.0, s.1));
        let lines = export_of(&scrapes);
        let l = TestLake::new();
        let write = |name: &str, part: &[String]| {
            let f = l.dir.path().join(name);
            std::fs::write(&f, part.iter().map(|s| format!("{s}\n")).collect::<String>()).expect("write");
            land_files(&l.lake, &[f.display().to_string()]);
        };
        // The late slice: the scrapes of 2026-10-02T03 (one line per scrape, in scrape order).
        let late_hour = (27 * 3600)..(28 * 3600);
        let (early, late): (Vec<_>, Vec<_>) = lines.iter().zip(&scrapes).partition(|(_, s)| !late_hour.contains(&s.1));
        let (early, late): (Vec<String>, Vec<String>) = (
            early.into_iter().map(|(l, _)| l.clone()).collect(),
            late.into_iter().map(|(l, _)| l.clone()).collect(),
        );
        assert!(!late.is_empty());
        write("early.jsonl", &early);
        let specs = detect::spec::load(None).expect("specs");
        let logics = kubeseen::detect::statistical::rollup_logics(&specs);
        let compact = || {
            let (parts, _) = kubeseen::lake::list_parts(&l.lake).expect("parts");
            let hours: BTreeSet<_> = parts.iter().map(|p| p.partition).collect();
            kubeseen::detect::statistical::rollups::compact(&l.lake, &logics, &parts, &hours).expect("compact")
        };
        let report = compact();
        assert_eq!(
            report.days_built,
            2 * 3,
            "three dates for each of the two logic shapes: {report:?}"
        );
        let at = t("2026-10-04T00:00:00Z");
        let run = |rollups: bool, slug: &str| {
            let mut o = opts(AT);
            o.at = Some(at);
            o.baseline = Some(Duration::days(3));
            o.rollups = rollups.then(|| detect::spec::rollup_shape(&specs));
            detect::run(&l.lake, &spec_of(slug), &o).expect("detect")
        };
        let base = |r: &detect::Run| {
            r.statistical
                .as_ref()
                .and_then(|s| s.baseline_table.clone())
                .expect("baseline")
        };
        // Objects read: dates 10-01 and 10-02 whole (a day each; 10-02 without its hour 03 until
        // the late data lands), 10-03 up to at − 1h in 23 hours; once the late hour lands, 10-02
        // falls back to 22 hours and reads 03 and 04 (whose counters' lookback reads 03) from
        // raw points, until compact builds them and the day again.
        let cases = [
            (0, (2 + 23, 24 + 23 + 23, 0)),
            (1, (1 + 22 + 23, 24 + 22 + 23, 2)),
            (2, (2 + 23, 24 + 24 + 23, 0)),
        ];
        for (round, expected) in cases {
            if round == 1 {
                write("late.jsonl", &late);
            }
            if round == 2 {
                compact();
            }
            for slug in ["process_resource_anomaly", "process_resource_ratio_anomaly"] {
                let (plain, with) = (run(false, slug), run(true, slug));
                frame_close(&base(&plain), &base(&with)).unwrap_or_else(|e| panic!("round {round}, {slug}: {e}"));
                assert_eq!(exes(&plain), exes(&with), "round {round}, {slug}");
                let s = &with.scanned;
                assert_eq!(
                    (s.rollup_objects, s.rollup_hours, s.raw_hours),
                    expected,
                    "round {round}, {slug}: {s:?}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10, .. ProptestConfig::default() })]
        /// The intent baseline read from hourly moment rollups (whole hours) and raw points
        /// (partial hours, and hours whose rollup late data made stale) equals the plain
        /// computation over raw points, for any --at; so do the findings.
        #[test]
        fn moment_rollups_equal_the_plain_baseline(
            scrapes in arb_scrapes(),
            late_split in 0usize..160,
            at_off in 0i64..(2 * 86_400 * 1_000_000),
        ) {
            let lines = export_of(&scrapes);
            let split = late_split.min(lines.len());
            let l = TestLake::new();
            let write = |name: &str, part: &[String]| {
                let f = l.dir.path().join(name);
                std::fs::write(&f, part.iter().map(|s| format!("{s}\n")).collect::<String>()).expect("write");
                land_files(&l.lake, &[f.display().to_string()]);
            };
            write("early.jsonl", &lines[..split]);
            let specs = detect::spec::load(None).expect("specs");
            let logics = kubeseen::detect::statistical::rollup_logics(&specs);
            let (parts, _) = kubeseen::lake::list_parts(&l.lake).expect("parts");
            let hours: BTreeSet<_> = parts.iter().map(|p| p.partition).collect();
            kubeseen::detect::statistical::rollups::compact(&l.lake, &logics, &parts, &hours).expect("compact");
            write("late.jsonl", &lines[split..]);
            let at = t("2026-10-02T00:00:00Z") + Duration::microseconds(at_off);
            for slug in ["process_resource_anomaly", "process_resource_ratio_anomaly"] {
                let mut o = opts(AT);
                o.at = Some(at);
                o.baseline = Some(Duration::days(2));
                let plain = detect::run(&l.lake, &spec_of(slug), &o).expect("plain");
                o.rollups = Some(detect::spec::rollup_shape(&specs));
                let with = detect::run(&l.lake, &spec_of(slug), &o).expect("rollups");
                let base = |r: &detect::Run| r.statistical.as_ref().and_then(|s| s.baseline_table.clone()).expect("baseline");
                frame_close(&base(&plain), &base(&with)).map_err(|e| TestCaseError::fail(format!("{slug}: {e}")))?;
                prop_assert_eq!(exes(&plain), exes(&with));
                if split > 0 && split < lines.len() {
                    // Some hours came from rollups, unless late data touched every one.
                    prop_assert!(with.scanned.rollup_hours + with.scanned.raw_hours > 0);
                }
            }
        }
    }
}
