use super::*;
use crate::config::Clock;
use crate::detect::{spec, DetectOptions};

fn t(s: &str) -> DateTime<Utc> {
    parse_instant(s).expect("instant")
}

const AT: &str = "2026-11-20T12:00:00Z";

fn settings(compat: bool) -> Settings {
    Settings {
        window: Duration::hours(24),
        splunk_compat: compat,
        rules: rules::load(None).expect("built-in rules"),
    }
}

/// An event of the hourly detection window holding `time`.
fn ev(cluster: &str, node: &str, detection: &str, time: DateTime<Utc>, n: usize) -> Event {
    use chrono::DurationRound;
    let start = time.duration_trunc(Duration::hours(1)).expect("hour");
    Event {
        time,
        detection: detection.into(),
        detection_id: format!("id-{detection}"),
        window_start: start,
        window_end: start + Duration::hours(1),
        splunk_compat: false,
        object: ObjectId {
            risk_object_type: "node".into(),
            k8s_cluster_name: Some(cluster.into()),
            value: node.into(),
        },
        k8s_cluster_name: Some(cluster.into()),
        risk_score: 25,
        mitre_technique_ids: vec!["T1204".into()],
        mitre_tactic_ids: vec!["TA0002".into()],
        source: "process_metrics".into(),
        finding_uid: format!("{detection}-{cluster}-{node}-{}-{n}", time.timestamp()),
        message: "m".into(),
        key: vec![("k8s_node_name".into(), Some(node.into()))],
    }
}

fn sorted_events(mut v: Vec<Event>) -> Vec<Event> {
    sort_events(&mut v);
    v
}

fn one(events: &[Event], at: DateTime<Utc>, s: &Settings) -> Evaluation {
    evaluate_series(events, &[at], s, &[]).remove(0)
}

#[test]
fn window_is_half_open_an_event_at_the_start_counts_one_at_at_does_not() {
    let at = t(AT);
    let start = at - Duration::hours(24);
    let s = settings(false);
    // Three events inside, one exactly at the start: 100, an incident.
    let mut v: Vec<Event> = (0..3)
        .map(|i| {
            ev(
                "prod",
                "n1",
                "process_new_path",
                at - Duration::hours(1 + i),
                i as usize,
            )
        })
        .collect();
    v.push(ev("prod", "n1", "unseen_process", start, 9));
    let e = one(&sorted_events(v.clone()), at, &s);
    assert_eq!(e.events, 4);
    assert_eq!(e.incidents.len(), 1, "the event at at − 24h counts");
    assert_eq!(e.incidents[0].risk.total_score, 100);
    assert_eq!(e.incidents[0].risk.first_seen, fmt_instant(start));
    // One microsecond earlier it is out.
    let mut w = v.clone();
    w[3].time = start - Duration::microseconds(1);
    let e = one(&sorted_events(w), at, &s);
    assert_eq!((e.events, e.incidents.len()), (3, 0));
    // An event exactly at `at` belongs to the next window.
    let mut w = v.clone();
    w[3].time = at;
    let e = one(&sorted_events(w.clone()), at, &s);
    assert_eq!((e.events, e.incidents.len()), (3, 0), "an event at `at` does not count");
    let later = one(&sorted_events(w), at + Duration::hours(1), &s);
    assert_eq!(later.incidents.len(), 1, "…it counts one hour later");
}

#[test]
fn default_rule_is_at_least_100_and_splunk_compat_is_above_100() {
    let at = t(AT);
    let four: Vec<Event> = (0..4)
        .map(|i| {
            ev(
                "prod",
                "n1",
                "process_new_path",
                at - Duration::minutes(10 + i),
                i as usize,
            )
        })
        .collect();
    let e = one(&sorted_events(four.clone()), at, &settings(false));
    assert_eq!(e.incidents.len(), 1);
    assert_eq!(e.incidents[0].risk.rules, vec!["risk_threshold_24h"]);
    let e = one(&sorted_events(four.clone()), at, &settings(true));
    assert!(
        e.incidents.is_empty(),
        "the stock rule is > 100: four 25s are not enough"
    );
    let mut five = four;
    five.push(ev("prod", "n1", "process_new_path", at - Duration::minutes(50), 7));
    let e = one(&sorted_events(five), at, &settings(true));
    assert_eq!(e.incidents.len(), 1);
    assert_eq!(e.incidents[0].risk.total_score, 125);
}

#[test]
fn four_distinct_detections_fire_the_second_rule_below_the_score() {
    let at = t(AT);
    let mut s = settings(false);
    for r in &mut s.rules {
        if r.name == "risk_threshold_24h" {
            r.when.total_score = Some(rules::Threshold {
                at_least: Some(1000),
                above: None,
            });
        }
    }
    let dets = ["process_new_path", "unseen_process", "shell_on_worker_node"];
    let three: Vec<Event> = dets
        .iter()
        .enumerate()
        .map(|(i, d)| ev("prod", "n1", d, at - Duration::hours(i as i64 + 1), i))
        .collect();
    assert!(one(&sorted_events(three.clone()), at, &s).incidents.is_empty());
    let mut four = three;
    four.push(ev("prod", "n1", "shell_on_worker_node_cpu", at - Duration::hours(5), 4));
    let e = one(&sorted_events(four), at, &s);
    assert_eq!(e.incidents.len(), 1);
    assert_eq!(e.incidents[0].risk.rules, vec!["distinct_detections_24h"]);
    assert_eq!(e.incidents[0].risk.detections.len(), 4);
}

#[test]
fn a_repeat_within_the_window_is_suppressed_and_fires_again_after_it() {
    let s = settings(false);
    let t0 = t(AT);
    // Four findings in the hour before t0, one more each hour after.
    let mut v: Vec<Event> = (0..4)
        .map(|i| {
            ev(
                "prod",
                "n1",
                "process_new_path",
                t0 - Duration::minutes(10 + i),
                i as usize,
            )
        })
        .collect();
    for h in 0..30 {
        v.push(ev(
            "prod",
            "n1",
            "unseen_process",
            t0 + Duration::hours(h) + Duration::minutes(5),
            100 + h as usize,
        ));
    }
    let v = sorted_events(v);
    let ats: Vec<DateTime<Utc>> = (0..=30).map(|h| t0 + Duration::hours(h)).collect();
    let evs = evaluate_series(&v, &ats, &s, &[]);
    let raised: Vec<DateTime<Utc>> = evs.iter().filter(|e| !e.incidents.is_empty()).map(|e| e.at).collect();
    // Raised at t0; every later hour within (t0, t0 + 24h) is a suppressed repeat; at exactly
    // t0 + 24h the first incident's evidence is out of the window and it fires again.
    assert_eq!(raised, vec![t0, t0 + Duration::hours(24)]);
    for e in &evs[1..24] {
        assert_eq!(e.suppressed.len(), 1, "{}", e.at);
        assert_eq!(
            e.suppressed[0].suppressed_by.as_deref(),
            Some(evs[0].incidents[0].incident_uid.as_str())
        );
    }
    // Priors from the lake suppress the same way as the carried ones.
    let priors = vec![Prior {
        at: t0,
        object: evs[0].incidents[0].risk.id.clone(),
        incident_uid: evs[0].incidents[0].incident_uid.clone(),
    }];
    let again = evaluate_series(&v, &ats[1..], &s, &priors);
    for (a, b) in again.iter().zip(&evs[1..]) {
        assert_eq!(uids(a), uids(b), "{}", a.at);
    }
}

fn uids(e: &Evaluation) -> (Vec<String>, Vec<String>) {
    (
        e.incidents.iter().map(|i| i.incident_uid.clone()).collect(),
        e.suppressed.iter().map(|i| i.incident_uid.clone()).collect(),
    )
}

/// A finding's (cluster, node, host, first_seen).
type Row<'a> = (&'a str, &'a str, &'a str, DateTime<Utc>);

/// A run of `slug` whose findings are `rows`.
fn run_with(slug: &str, compat: bool, rows: &[Row<'_>]) -> Run {
    let specs = spec::load(None).expect("specs");
    let sp = specs.iter().find(|s| s.slug == slug).expect("spec");
    let opts = DetectOptions {
        at: Some(t(AT)),
        window: None,
        baseline: None,
        splunk_compat: compat,
        allowlist: None,
        clock: Clock::fixed(t("2030-01-01T00:00:00Z")),
        rollups: None,
    };
    let mut run = crate::detect::empty_findings(sp, &opts, t(AT)).expect("empty run");
    let s = |f: &dyn Fn(&Row<'_>) -> String| rows.iter().map(f).collect::<Vec<_>>();
    run.findings = DataFrame::new(
        rows.len(),
        vec![
            Column::new("k8s_cluster_name".into(), s(&|r| r.0.to_string())),
            Column::new("k8s_node_name".into(), s(&|r| r.1.to_string())),
            Column::new("host_name".into(), s(&|r| r.2.to_string())),
            Column::new("process_executable_path".into(), s(&|r| format!("/tmp/{}", r.1))),
            ts_column("first_seen", rows.iter().map(|r| r.3.timestamp_micros()).collect()).expect("ts"),
            Column::new("finding_uid".into(), s(&|r| format!("{}-{}-{}", r.0, r.1, r.3))),
            Column::new("message".into(), s(&|r| format!("on host {}", r.2))),
        ],
    )
    .expect("frame");
    run
}

#[test]
fn objects_are_qualified_by_cluster_and_splunk_compat_adds_same_named_nodes_up() {
    let at = t(AT);
    let m = |k: i64| at - Duration::minutes(k);
    let rows = [
        ("prod", "node-1", "node-1", m(5)),
        ("prod", "node-1", "node-1", m(6)),
        ("prod", "node-1", "node-1", m(7)),
        ("stage", "node-1", "node-1", m(8)),
        ("stage", "node-1", "node-1", m(9)),
    ];
    for compat in [false, true] {
        let (events, dropped) = events_of(&run_with("process_new_path", compat, &rows)).expect("events");
        assert_eq!((events.len(), dropped), (5, 0));
        let e = one(&sorted_events(events), at, &settings(compat));
        if compat {
            // The bare host.name: one object "node-1" of type system, 125 > 100.
            assert_eq!(e.objects.len(), 1);
            assert_eq!(e.objects[0].risk_object, "node-1");
            assert_eq!(e.objects[0].risk_object_type, "system");
            assert_eq!(e.objects[0].k8s_cluster_names, vec!["prod", "stage"]);
            assert_eq!(e.incidents.len(), 1);
            assert_eq!(e.incidents[0].risk.total_score, 125);
        } else {
            let names: Vec<(&str, i64)> = e
                .objects
                .iter()
                .map(|o| (o.risk_object.as_str(), o.total_score))
                .collect();
            assert_eq!(names, vec![("prod/node-1", 75), ("stage/node-1", 50)]);
            assert!(e.incidents.is_empty(), "two machines, neither at 100");
        }
    }
}

#[test]
fn events_round_trip_through_the_lake_table_and_edges_put_risk_on_the_cluster() {
    let at = t(AT);
    let run = run_with("new_tcp_edge", false, &[("prod", "n", "h", at - Duration::minutes(3))]);
    let (events, _) = events_of(&run).expect("events");
    assert_eq!(events[0].object.display(), "prod");
    assert_eq!(events[0].object.risk_object_type, "cluster");
    let run = run_with(
        "process_new_path",
        false,
        &[("prod", "n1", "h1", at - Duration::minutes(3))],
    );
    let (events, _) = events_of(&run).expect("events");
    let df = events_frame(&events).expect("frame");
    let bytes = {
        let mut df = df.clone();
        crate::lake::parquet_bytes(&mut df).expect("parquet")
    };
    let back = ParquetReader::new(std::io::Cursor::new(bytes)).finish().expect("read");
    assert_eq!(events_from_frame(&back, "x").expect("events"), events);
    assert_eq!(events[0].object.display(), "prod/n1");
    assert_eq!(events[0].risk_score, 25);
    assert_eq!(events[0].mitre_tactic_ids, vec!["TA0002"]);
    // An empty frame keeps its types.
    assert_eq!(events_frame(&[]).expect("empty").width(), df.width());
}

fn lake() -> (tempfile::TempDir, Location) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Location::open(
        &dir.path().join("lake").display().to_string(),
        &Default::default(),
        true,
    )
    .expect("lake");
    (dir, lake)
}

/// Writes a detection window's events as `write_run` does, for the window ending at `end`.
fn write_window(lake: &Location, slug: &str, end: DateTime<Utc>, rows: &[Row<'_>]) {
    let mut run = run_with(slug, false, rows);
    let len = run.window.end - run.window.start;
    run.window.end = end;
    run.window.start = end - len;
    write_events(lake, &run).expect("write events");
}

#[test]
fn backfill_series_equals_hourly_runs_and_reads_only_the_window() {
    let (_d, lake) = lake();
    let t0 = t(AT);
    // 40 hours of windows; node n1 gets a finding in most hours, n2 a few.
    for h in 0..40i64 {
        let end = t0 + Duration::hours(h);
        let mut rows = Vec::new();
        if h % 3 != 0 {
            rows.push(("prod", "n1", "n1", end - Duration::minutes(30)));
        }
        if h % 11 == 0 {
            rows.push(("prod", "n2", "n2", end - Duration::minutes(59)));
            rows.push(("stage", "n2", "n2", end - Duration::minutes(1)));
        }
        write_window(&lake, "process_new_path", end, &rows);
        if h % 7 == 0 {
            write_window(
                &lake,
                "unseen_process",
                end,
                &[("prod", "n2", "n2", end - Duration::hours(1))],
            );
        }
    }
    // A window with no findings has no events object (re-running one that had some removes it).
    let t3 = t0 + Duration::hours(3);
    let empty_key = keys::events_key("process_new_path", t3 - Duration::hours(1), t3, "1h", false);
    assert!(lake.get_opt(&empty_key).expect("get").is_none());
    write_window(
        &lake,
        "process_new_path",
        t3,
        &[("prod", "n9", "n9", t3 - Duration::minutes(1))],
    );
    assert!(lake.get_opt(&empty_key).expect("get").is_some());
    write_window(&lake, "process_new_path", t3, &[]);
    assert!(lake.get_opt(&empty_key).expect("get").is_none());

    // Only the objects whose detection window overlaps [at − 24h, at) are listed.
    let at = t0 + Duration::hours(30);
    let listed = keys::events_between(&lake, at - Duration::hours(24), at, false).expect("list");
    let ends: Vec<String> = listed
        .iter()
        .map(|k| k.rsplit('/').next().unwrap_or("").to_string())
        .collect();
    assert!(
        ends.iter()
            .all(|e| e.as_str() > "20261120T180000Z" && e.as_str() <= "20261121T180000Z"),
        "{ends:?}"
    );

    let s = settings(false);
    let ats: Vec<DateTime<Utc>> = (1..40).map(|h| t0 + Duration::hours(h)).collect();
    let series = evaluate_lake(&lake, &ats, &s).expect("series");
    assert!(
        series.iter().any(|e| !e.incidents.is_empty()),
        "the data raises incidents"
    );
    assert!(
        series.iter().any(|e| !e.suppressed.is_empty()),
        "and suppresses repeats"
    );
    // Hourly, each instant on its own, writing its incidents for the next one to read.
    let (_d2, lake2) = lake_copy(&lake);
    for (at, expect) in ats.iter().zip(&series) {
        let e = evaluate_lake(&lake2, &[*at], &s).expect("hourly").remove(0);
        write_evaluation(&lake2, &e).expect("write");
        assert_eq!(uids(&e), uids(expect), "at {at}");
        assert_eq!(e.events, expect.events, "at {at}");
        let totals = |e: &Evaluation| {
            e.objects
                .iter()
                .map(|o| (o.risk_object.clone(), o.total_score))
                .collect::<Vec<_>>()
        };
        assert_eq!(totals(&e), totals(expect), "at {at}");
    }
    // Re-running an instant gives the same incidents (its own output is not a prior).
    let again = evaluate_lake(&lake2, &[ats[10]], &s).expect("rerun").remove(0);
    assert_eq!(uids(&again), uids(&series[10]));
}

/// A copy of a local lake in a new folder.
fn lake_copy(src: &Location) -> (tempfile::TempDir, Location) {
    let (d, dst) = lake();
    for (k, _) in src.list("").expect("list") {
        dst.put(&k, src.get(&k).expect("get").to_vec()).expect("put");
    }
    (d, dst)
}

#[test]
fn hostile_object_names_are_escaped_in_the_table_and_markdown_and_exact_in_json() {
    let at = t(AT);
    let node = "n1\u{1b}[2J\u{202e}x";
    let v: Vec<Event> = (0..4)
        .map(|i| {
            ev(
                "prod",
                node,
                "process_new_path",
                at - Duration::minutes(10 + i),
                i as usize,
            )
        })
        .collect();
    let e = one(&sorted_events(v), at, &settings(false));
    let s = RiskSummary::of(&e);
    assert_eq!(s.incidents[0].risk.risk_object_value, node, "exact in JSON");
    for text in [table(&s), markdown(&s)] {
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'), "{text}");
        assert!(text.contains("\\x1b") || text.contains("\\u{1b}"), "{text}");
    }
}
