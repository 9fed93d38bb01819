//! The run summary: one report per `detect` run, over every detection it ran.
//!
//! In: the [`Summary`] of each detection the run ran (whatever detections were loaded: this
//! module names none) and the incidents of the run's risk step ([`IncidentLine`], mapped by
//! `risk`, which sits above `report`). Out: a typed [`RunSummary`] — findings per detection
//! and per node, suppressed (allowlist), skipped entities and points by reason, data freshness
//! (last point vs the window end), baseline coverage, timings, incidents — written as JSON,
//! Markdown and one self-contained HTML page (inline CSS and SVG) under
//! `reports/runs/date=<date>/<run stem>.{json,md,html}` (`lake::keys::run_report`).
//! Invariants: every count is the sum of the per-detection summaries' counts (never recounted);
//! every value from the monitored systems is escaped in the Markdown (`text::markdown`) and the
//! HTML (`html::text`); the JSON keeps exact values. The per-window reports stay as they are.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::html::{self, Cell};
use super::summary::Summary;
use crate::config::parse_instant;
use crate::lake::keys;
use crate::storage::Location;

/// Findings rows shown per detection in the HTML and Markdown (all are in the findings
/// Parquet and the per-window report; the page says how many are left out).
pub const MAX_ROWS: usize = 100;

/// The summary of one `detect` run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub kubeseen_version: String,
    /// The latest window end of the run (`--at`).
    pub at: String,
    /// `intent` or `splunk_compat`.
    pub mode: String,
    pub lake: String,
    /// A re-run of the windows marked stale (`detect --stale`).
    pub stale: bool,
    pub detections_count: usize,
    pub findings_count: u64,
    pub suppressed_count: u64,
    pub detections: Vec<DetectionLine>,
    /// Every (cluster, node) with findings, most findings first.
    pub findings_by_node: Vec<NodeLine>,
    pub incidents: Vec<IncidentLine>,
    /// Per detection: its run's timings (the same as its per-window report's).
    pub timings_ms: BTreeMap<String, BTreeMap<String, u64>>,
    pub outputs: RunSummaryWritten,
    /// The detections' summaries (their findings rows are what the pages show).
    #[serde(skip)]
    pub runs: Vec<Summary>,
}

/// One detection's line of the run summary (one window of it).
#[derive(Debug, Clone, Serialize)]
pub struct DetectionLine {
    pub detection: String,
    pub detection_id: String,
    pub name: String,
    pub family: String,
    pub window_start: String,
    pub window_end: String,
    pub findings: u64,
    pub suppressed: u64,
    pub suppressed_by_rule: BTreeMap<String, u64>,
    /// Statistical entities not judged, by reason (`no_baseline`, …); empty for other families.
    pub skipped_entities: BTreeMap<String, u64>,
    /// Points in the window without a key attribute, by reason.
    pub unkeyed_points: BTreeMap<String, i64>,
    /// The last data point in the window and how long before the window end it was.
    pub last_point_in_window: Option<String>,
    pub seconds_before_window_end: Option<f64>,
    pub nodes_in_window: u64,
    pub nodes_with_incomplete_baseline: u64,
    pub warnings: Vec<String>,
}

/// The findings of one node, per detection.
#[derive(Debug, Clone, Serialize)]
pub struct NodeLine {
    pub k8s_cluster_name: String,
    pub k8s_node_name: String,
    pub findings: u64,
    pub by_detection: BTreeMap<String, u64>,
}

/// An incident the run's risk step raised (see `risk::RiskSummary::incident_lines`).
#[derive(Debug, Clone, Serialize)]
pub struct IncidentLine {
    pub incident_uid: String,
    pub window_end: String,
    pub risk_object: String,
    pub risk_object_type: String,
    pub k8s_cluster_name: Option<String>,
    pub total_score: i64,
    pub finding_count: usize,
    pub detections: Vec<String>,
    pub rules: Vec<String>,
}

/// Where the run summary went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummaryWritten {
    pub json: String,
    pub markdown: String,
    pub html: String,
}

/// How the run was asked for: the parts of the summary's name that the summaries don't hold.
#[derive(Debug, Clone, Default)]
pub struct RunKind {
    pub stale: bool,
    /// `Some(slugs)` when `--detection` chose some detections.
    pub subset: Option<Vec<String>>,
    pub splunk_compat: bool,
}

fn line(s: &Summary) -> DetectionLine {
    DetectionLine {
        detection: s.detection.clone(),
        detection_id: s.detection_id.clone(),
        name: s.name.clone(),
        family: s.family.clone(),
        window_start: s.window_start.clone(),
        window_end: s.window_end.clone(),
        findings: s.findings_count as u64,
        suppressed: s.suppressed.count as u64,
        suppressed_by_rule: s.suppressed.by_rule.clone(),
        skipped_entities: s
            .statistical
            .as_ref()
            .map(|j| j.entities_not_judged.clone())
            .unwrap_or_default(),
        unkeyed_points: s.unkeyed_points.current.clone(),
        last_point_in_window: s.data_freshness.last_point_in_window.clone(),
        seconds_before_window_end: s.data_freshness.seconds_before_window_end,
        nodes_in_window: s.coverage.nodes_in_window,
        nodes_with_incomplete_baseline: s.coverage.nodes_with_incomplete_baseline.len() as u64,
        warnings: s.warnings.clone(),
    }
}

/// The findings per (cluster, node) of `runs`, most first (then by name).
fn by_node(runs: &[Summary]) -> Vec<NodeLine> {
    let mut m: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for s in runs {
        for n in &s.findings_by_node {
            *m.entry((n.k8s_cluster_name.clone(), n.k8s_node_name.clone()))
                .or_default()
                .entry(s.detection.clone())
                .or_default() += n.findings;
        }
    }
    let mut v: Vec<NodeLine> = m
        .into_iter()
        .map(|((c, n), by)| NodeLine {
            k8s_cluster_name: c,
            k8s_node_name: n,
            findings: by.values().sum(),
            by_detection: by,
        })
        .collect();
    v.sort_by_key(|n| std::cmp::Reverse(n.findings));
    v
}

impl RunSummary {
    /// The summary of a run of `runs` (in the order they ran) with the risk step's incidents.
    pub fn of(lake: &Location, runs: Vec<Summary>, incidents: Vec<IncidentLine>, kind: &RunKind) -> RunSummary {
        let detections: Vec<DetectionLine> = runs.iter().map(line).collect();
        RunSummary {
            kubeseen_version: env!("CARGO_PKG_VERSION").to_string(),
            at: runs.iter().map(|s| s.window_end.clone()).max().unwrap_or_default(),
            mode: if kind.splunk_compat { "splunk_compat" } else { "intent" }.to_string(),
            lake: lake.display().to_string(),
            stale: kind.stale,
            detections_count: detections.len(),
            findings_count: detections.iter().map(|d| d.findings).sum(),
            suppressed_count: detections.iter().map(|d| d.suppressed).sum(),
            findings_by_node: by_node(&runs),
            detections,
            incidents,
            timings_ms: runs
                .iter()
                .map(|r| (r.detection.clone(), r.timings_ms.clone()))
                .collect(),
            outputs: RunSummaryWritten::default(),
            runs,
        }
    }
}

/// Writes `s` as JSON, Markdown and HTML under `reports/runs/`; `None` when the run ran no
/// window (a `--stale` run with nothing stale), so there is nothing to summarize.
pub fn write(lake: &Location, s: &mut RunSummary, kind: &RunKind) -> Result<Option<()>, super::ReportError> {
    let (Some(end), Some(start)) = (
        s.runs.iter().filter_map(|r| parse_instant(&r.window_end).ok()).max(),
        s.runs.iter().filter_map(|r| parse_instant(&r.window_start).ok()).min(),
    ) else {
        return Ok(None);
    };
    let stem = keys::run_stem(end, kind.splunk_compat, kind.stale, kind.subset.as_deref());
    let date = keys::date(start);
    let key = |ext: &str| keys::run_report(&date, &stem, ext);
    s.outputs = RunSummaryWritten {
        json: lake.describe(&key("json")),
        markdown: lake.describe(&key("md")),
        html: lake.describe(&key("html")),
    };
    let json = super::sorted_json(s).unwrap_or_default();
    lake.put(&key("json"), json.into_bytes())?;
    lake.put(&key("md"), markdown(s).into_bytes())?;
    lake.put(&key("html"), html_page(s).into_bytes())?;
    Ok(Some(()))
}

fn md(s: &str) -> String {
    crate::text::markdown(s)
}

/// `12.0 s`, `3.5 min`, `2.0 h`: how far before the window end the last point was.
fn lag(seconds: Option<f64>) -> String {
    match seconds {
        None => "no data".to_string(),
        Some(s) if s < 120.0 => format!("{s:.0} s"),
        Some(s) if s < 7200.0 => format!("{:.1} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

/// `2026-11-20 11:00 – 12:00Z`: a window, the end's date left out when it is the start's.
fn window_text(start: &str, end: &str) -> String {
    let short = |s: &str| s.replacen('T', " ", 1).replace(":00Z", "Z");
    let (s, e) = (short(start), short(end));
    match (s.split_once(' '), e.split_once(' ')) {
        (Some((sd, st)), Some((ed, et))) if sd == ed => format!("{sd} {} – {et}", st.trim_end_matches('Z')),
        _ => format!("{s} – {e}"),
    }
}

/// `11:59:07Z (52 s before the end)`: the last point, its date left out when it is the end's.
fn freshness_text(d: &DetectionLine) -> String {
    let Some(last) = &d.last_point_in_window else {
        return "no data".to_string();
    };
    let time = match (last.split_once('T'), d.window_end.split_once('T')) {
        (Some((ld, lt)), Some((ed, _))) if ld == ed => {
            let (hms, _) = lt.split_once('.').unwrap_or((lt.trim_end_matches('Z'), ""));
            format!("{hms}Z")
        }
        _ => last.clone(),
    };
    format!("{time} ({} before)", lag(d.seconds_before_window_end))
}

/// `reason 3, other 1` (or `-`).
fn reasons<V: std::fmt::Display>(m: &BTreeMap<String, V>) -> String {
    if m.is_empty() {
        return "-".to_string();
    }
    m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

/// The timings of every detection, a line each (the last section: they differ run to run).
fn timings(s: &RunSummary) -> Vec<(String, String)> {
    s.timings_ms
        .iter()
        .map(|(d, t)| {
            let v: Vec<String> = t.iter().map(|(k, v)| format!("{k} {v}")).collect();
            (d.clone(), v.join(", "))
        })
        .collect()
}

/// The run summary as Markdown.
pub fn markdown(s: &RunSummary) -> String {
    let mut o = format!(
        "# kubeseen run — {}\n\n- mode {}, {} detection(s){}\n- lake: {}\n- findings: **{}**, suppressed by the allowlist: {}, incidents: {}\n\n",
        s.at,
        s.mode,
        s.detections_count,
        if s.stale { ", re-run of stale windows" } else { "" },
        md(&s.lake),
        s.findings_count,
        s.suppressed_count,
        s.incidents.len()
    );
    o.push_str("## Detections\n\n| detection | family | window | findings | suppressed | skipped entities | points without key | last point | before window end | nodes | incomplete baseline |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for d in &s.detections {
        let _ = writeln!(
            o,
            "| {} (`{}`) | {} | [{}, {}) | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&d.name),
            md(&d.detection),
            d.family,
            d.window_start,
            d.window_end,
            d.findings,
            d.suppressed,
            md(&reasons(&d.skipped_entities)),
            md(&reasons(&d.unkeyed_points)),
            d.last_point_in_window.as_deref().unwrap_or("-"),
            lag(d.seconds_before_window_end),
            d.nodes_in_window,
            d.nodes_with_incomplete_baseline,
        );
    }
    if !s.findings_by_node.is_empty() {
        o.push_str("\n## Findings by node\n\n| cluster | node | findings | detections |\n|---|---|---|---|\n");
        for n in &s.findings_by_node {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                md(&n.k8s_cluster_name),
                md(&n.k8s_node_name),
                n.findings,
                md(&reasons(&n.by_detection))
            );
        }
    }
    o.push_str(&incidents_md(s));
    o.push_str(&notes_md(s));
    for r in s.runs.iter().filter(|r| !r.findings.is_empty()) {
        let _ = write!(o, "\n## {} — {} finding(s)\n\n", md(&r.name), r.findings_count);
        let grid = super::text::grid(r);
        for (i, row) in grid.iter().take(MAX_ROWS + 1).enumerate() {
            let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
            let _ = writeln!(o, "| {} |", cells.join(" | "));
            if i == 0 {
                let _ = writeln!(o, "|{}", "---|".repeat(row.len()));
            }
        }
        if r.findings.len() > MAX_ROWS {
            let _ = writeln!(
                o,
                "\n{} more in {}",
                r.findings.len() - MAX_ROWS,
                md(&r.outputs.findings)
            );
        }
    }
    o.push_str("\n## Timings (ms)\n\n");
    for (d, t) in timings(s) {
        let _ = writeln!(o, "- {}: {t}", md(&d));
    }
    let _ = write!(
        o,
        "\nPer-window reports: `reports/detect/`. This summary: {}\n\nkubeseen {}\n",
        md(&s.outputs.json),
        s.kubeseen_version
    );
    o
}

fn incidents_md(s: &RunSummary) -> String {
    if s.incidents.is_empty() {
        return String::new();
    }
    let mut o = String::from(
        "\n## Risk incidents\n\n| object | type | cluster | score | findings | detections | rules | at |\n|---|---|---|---|---|---|---|---|\n",
    );
    for i in &s.incidents {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&i.risk_object),
            md(&i.risk_object_type),
            md(i.k8s_cluster_name.as_deref().unwrap_or("-")),
            i.total_score,
            i.finding_count,
            md(&i.detections.join(", ")),
            md(&i.rules.join(", ")),
            i.window_end
        );
    }
    o
}

/// Warnings and suppression rules, per detection.
fn notes_md(s: &RunSummary) -> String {
    let mut o = String::new();
    for d in &s.detections {
        for w in &d.warnings {
            let _ = writeln!(o, "- {}: warning: {}", md(&d.detection), md(w));
        }
        if !d.suppressed_by_rule.is_empty() {
            let _ = writeln!(
                o,
                "- {}: suppressed by rule: {}",
                md(&d.detection),
                md(&reasons(&d.suppressed_by_rule))
            );
        }
    }
    if o.is_empty() {
        o
    } else {
        format!("\n## Notes\n\n{o}")
    }
}

/// Horizontal bars: findings per detection (every detection a row, zero ones too).
fn bars_svg(s: &RunSummary) -> String {
    let max = s.detections.iter().map(|d| d.findings).max().unwrap_or(0).max(1) as f64;
    let (label_w, bar_w, row) = (300.0, 520.0, 20.0);
    let h = row * s.detections.len() as f64 + 10.0;
    let mut o = format!(
        "<svg role=\"img\" aria-label=\"findings per detection\" width=\"{}\" height=\"{h}\" viewBox=\"0 0 {} {h}\">",
        label_w + bar_w + 60.0,
        label_w + bar_w + 60.0
    );
    for (i, d) in s.detections.iter().enumerate() {
        let y = 5.0 + i as f64 * row;
        let w = if d.findings == 0 {
            0.0
        } else {
            (d.findings as f64 / max * bar_w).max(2.0)
        };
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{}\" width=\"{bar_w}\" height=\"{}\" fill=\"#f4f6f9\"/><rect x=\"{label_w}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"#b42318\"/><text x=\"{}\" y=\"{}\"{}>{}</text>",
            label_w - 8.0,
            y + 14.0,
            html::text(&d.detection),
            y + 3.0,
            row - 6.0,
            y + 3.0,
            row - 6.0,
            label_w + w + 6.0,
            y + 14.0,
            if d.findings == 0 { " class=\"muted\"" } else { "" },
            d.findings
        );
    }
    o.push_str("</svg>\n");
    o
}

/// The run summary as one self-contained HTML page.
pub fn html_page(s: &RunSummary) -> String {
    let mut b = format!(
        "<h1>kubeseen run — {}</h1>\n<p class=\"meta\">mode {} · {} detection(s){} · lake <code>{}</code> · kubeseen {}</p>\n<div class=\"cards\">",
        html::text(&s.at),
        html::text(&s.mode),
        s.detections_count,
        if s.stale { " · re-run of stale windows" } else { "" },
        html::text(&s.lake),
        html::text(&s.kubeseen_version)
    );
    let with = s.detections.iter().filter(|d| d.findings > 0).count();
    b.push_str(&html::card(
        &s.findings_count.to_string(),
        "findings",
        s.findings_count > 0,
    ));
    b.push_str(&html::card(
        &format!("{with} / {}", s.detections_count),
        "detections with findings",
        with > 0,
    ));
    b.push_str(&html::card(
        &s.findings_by_node.len().to_string(),
        "nodes with findings",
        false,
    ));
    b.push_str(&html::card(
        &s.suppressed_count.to_string(),
        "suppressed (allowlist)",
        false,
    ));
    b.push_str(&html::card(
        &s.incidents.len().to_string(),
        "risk incidents",
        !s.incidents.is_empty(),
    ));
    let worst = s
        .detections
        .iter()
        .map(|d| d.seconds_before_window_end.unwrap_or(f64::INFINITY))
        .fold(None::<f64>, |a, x| Some(a.map_or(x, |a| a.max(x))));
    if let Some(w) = worst {
        b.push_str(&html::card(
            &lag(w.is_finite().then_some(w)),
            "oldest last point before window end",
            false,
        ));
    }
    b.push_str("</div>\n<h2>Findings per detection</h2>\n");
    b.push_str(&bars_svg(s));
    b.push_str(&detections_html(s));
    b.push_str(&nodes_html(s));
    b.push_str(&incidents_html(s));
    b.push_str(&findings_html(s));
    b.push_str("<h2>Timings (ms)</h2>\n<ul class=\"note\">");
    for (d, t) in timings(s) {
        let _ = write!(b, "<li><code>{}</code>: {}</li>", html::text(&d), html::text(&t));
    }
    b.push_str("</ul>\n");
    let _ = writeln!(
        b,
        "<footer>This page: <code>{}</code> (also <code>{}</code>, <code>{}</code>). Per detection and window: the findings Parquet and the reports under <code>reports/detect/</code>. Values from the monitored systems are shown escaped: hidden characters as <code>\\u{{…}}</code>.</footer>",
        html::text(&s.outputs.html),
        html::text(&s.outputs.markdown),
        html::text(&s.outputs.json)
    );
    html::page(&format!("kubeseen run {}", s.at), &b)
}

fn detections_html(s: &RunSummary) -> String {
    let mut rows: Vec<Vec<Cell>> = s
        .detections
        .iter()
        .map(|d| {
            let mut notes: Vec<String> = d.warnings.iter().map(|w| format!("warning: {w}")).collect();
            if !d.suppressed_by_rule.is_empty() {
                notes.push(format!("suppressed by rule: {}", reasons(&d.suppressed_by_rule)));
            }
            vec![
                Cell::Raw(format!(
                    "{}<br><code class=\"k\">{}</code>",
                    html::text(&d.name),
                    html::text(&d.detection)
                )),
                Cell::Text(d.family.clone()),
                Cell::NoWrap(window_text(&d.window_start, &d.window_end)),
                Cell::Count(d.findings, true),
                Cell::Count(d.suppressed, false),
                Cell::Text(reasons(&d.skipped_entities)),
                Cell::Text(reasons(&d.unkeyed_points)),
                Cell::NoWrap(freshness_text(d)),
                Cell::Count(d.nodes_in_window, false),
                Cell::Count(d.nodes_with_incomplete_baseline, false),
                Cell::Text(notes.join("; ")),
            ]
        })
        .collect();
    // The notes column only when a detection has a note.
    let notes = s
        .detections
        .iter()
        .any(|d| !d.warnings.is_empty() || !d.suppressed_by_rule.is_empty());
    if !notes {
        for r in &mut rows {
            r.pop();
        }
    }
    let mut header = vec![
        "detection",
        "family",
        "window",
        "#findings",
        "#suppressed",
        "skipped entities",
        "points without key",
        "last point in window",
        "#nodes",
        "#incomplete baseline",
        "notes",
    ];
    if !notes {
        header.pop();
    }
    let mut o = String::from("<h2>Detections</h2>\n");
    o.push_str(&html::table(&header, &rows));
    o
}

/// An empty key value (a network edge has no node) as `-`.
fn or_none(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s.to_string()
    }
}

fn nodes_html(s: &RunSummary) -> String {
    if s.findings_by_node.is_empty() {
        return "<h2>Findings by node</h2>\n<p class=\"note\">No findings.</p>\n".to_string();
    }
    let rows: Vec<Vec<Cell>> = s
        .findings_by_node
        .iter()
        .map(|n| {
            vec![
                Cell::Code(or_none(&n.k8s_cluster_name)),
                Cell::Code(or_none(&n.k8s_node_name)),
                Cell::Count(n.findings, true),
                Cell::Text(reasons(&n.by_detection)),
            ]
        })
        .collect();
    format!(
        "<h2>Findings by node</h2>\n{}",
        html::table(&["cluster", "node", "#findings", "detections"], &rows)
    )
}

fn incidents_html(s: &RunSummary) -> String {
    if s.incidents.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<Cell>> = s
        .incidents
        .iter()
        .map(|i| {
            vec![
                Cell::Code(i.risk_object.clone()),
                Cell::Text(i.risk_object_type.clone()),
                Cell::Code(i.k8s_cluster_name.clone().unwrap_or_else(|| "-".into())),
                Cell::Count(i.total_score.max(0) as u64, true),
                Cell::Count(i.finding_count as u64, false),
                Cell::Text(i.detections.join(", ")),
                Cell::Text(i.rules.join(", ")),
                Cell::NoWrap(i.window_end.clone()),
            ]
        })
        .collect();
    format!(
        "<h2>Risk incidents</h2>\n{}",
        html::table(
            &[
                "object",
                "type",
                "cluster",
                "#score",
                "#findings",
                "detections",
                "rules",
                "at"
            ],
            &rows
        )
    )
}

fn findings_html(s: &RunSummary) -> String {
    let mut o = String::new();
    for r in s.runs.iter().filter(|r| !r.findings.is_empty()) {
        let _ = writeln!(
            o,
            "<h3>{} — {} finding(s) <span class=\"note\"><code>{}</code></span></h3>",
            html::text(&r.name),
            r.findings_count,
            html::text(&r.detection)
        );
        let grid = super::text::grid(r);
        let header: Vec<&str> = grid[0].iter().map(String::as_str).collect();
        let rows: Vec<Vec<Cell>> = grid[1..]
            .iter()
            .take(MAX_ROWS)
            .map(|row| row.iter().map(|c| Cell::Code(c.clone())).collect())
            .collect();
        o.push_str(&html::table(&header, &rows));
        if r.findings.len() > MAX_ROWS {
            let _ = writeln!(
                o,
                "<p class=\"note\">{} more in <code>{}</code></p>",
                r.findings.len() - MAX_ROWS,
                html::text(&r.outputs.findings)
            );
        }
    }
    if o.is_empty() {
        o
    } else {
        format!("<h2>Findings</h2>\n{o}")
    }
}
