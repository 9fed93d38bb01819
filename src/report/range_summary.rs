//! The backfill's range summary: one report for a whole range of windows, so a month reads at
//! a glance.
//!
//! In: the range, the detections the backfill ran (slug and name, whatever was loaded: this
//! module names none) and the findings count of every window it wrote. Out: a typed
//! [`RangeSummary`] — totals per detection, findings per day, the windows with findings — as
//! JSON, Markdown and one self-contained HTML page under
//! `reports/backfill/<range stem>.{json,md,html}` (`lake::keys::backfill_report`), whose charts
//! are inline SVG: a strip of findings per detection and day, and for every detection with
//! findings a heatmap of day × hour (the hour holding the window's last instant).
//! Invariants: a window the backfill did not run (`--resume` found it up to date) is drawn as
//! not run, never as zero; the totals are sums of the windows' counts; every name is escaped
//! (`html::text`, `text::markdown`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde::Serialize;

use super::html::{self, Cell};
use crate::config::fmt_instant;
use crate::lake::keys;
use crate::storage::Location;

/// The range summary of one backfill.
#[derive(Debug, Clone, Serialize)]
pub struct RangeSummary {
    pub kubeseen_version: String,
    pub from: String,
    pub to: String,
    pub every: String,
    /// `intent` or `splunk_compat`.
    pub mode: String,
    pub lake: String,
    /// Window ends in the range (per detection).
    pub windows: usize,
    pub findings_count: u64,
    pub windows_run: u64,
    pub detections: Vec<RangeDetection>,
    /// Findings per detection and UTC day (`YYYY-MM-DD`), every day of the range.
    pub per_day: BTreeMap<String, BTreeMap<String, u64>>,
    /// The windows with findings, in time order.
    pub windows_with_findings: Vec<RangeWindow>,
    pub outputs: super::run_summary::RunSummaryWritten,
    /// Every written window: (end, detection slug, findings).
    #[serde(skip)]
    pub cells: Vec<(DateTime<Utc>, String, u64)>,
    #[serde(skip)]
    range: (DateTime<Utc>, DateTime<Utc>),
}

/// One detection's totals over the range.
#[derive(Debug, Clone, Serialize)]
pub struct RangeDetection {
    pub detection: String,
    pub name: String,
    pub windows_run: u64,
    pub windows_with_findings: u64,
    pub findings: u64,
    /// The window end with the most findings (the earliest of equals).
    pub busiest_window_end: Option<String>,
    pub busiest_window_findings: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RangeWindow {
    pub window_end: String,
    pub detection: String,
    pub findings: u64,
}

/// What the backfill ran: its range and detections, and what it wrote.
pub struct RangeInput<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub every: &'a str,
    pub windows: usize,
    pub splunk_compat: bool,
    /// (slug, name) of every detection the backfill ran, in its order.
    pub detections: Vec<(String, String)>,
    /// (window end, slug, findings) of every window written.
    pub cells: Vec<(DateTime<Utc>, String, u64)>,
}

/// The UTC day and hour a window ending at `end` is drawn in: those of its last instant.
fn day_hour(end: DateTime<Utc>) -> (NaiveDate, u32) {
    let t = end - Duration::microseconds(1);
    (t.date_naive(), t.hour())
}

/// Every UTC day of `[from, to)`.
fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<NaiveDate> {
    let (first, last) = (from.date_naive(), day_hour(to).0);
    first.iter_days().take_while(|d| *d <= last).collect()
}

impl RangeSummary {
    pub fn of(lake: &Location, i: RangeInput<'_>) -> RangeSummary {
        let day_list = days(i.from, i.to);
        let mut per_day: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut detections = Vec::new();
        for (slug, name) in &i.detections {
            let mine: Vec<&(DateTime<Utc>, String, u64)> = i.cells.iter().filter(|c| &c.1 == slug).collect();
            let mut days_of: BTreeMap<String, u64> = day_list.iter().map(|d| (d.to_string(), 0)).collect();
            for c in &mine {
                *days_of.entry(day_hour(c.0).0.to_string()).or_default() += c.2;
            }
            per_day.insert(slug.clone(), days_of);
            let busiest = mine
                .iter()
                .filter(|c| c.2 > 0)
                .min_by_key(|c| (std::cmp::Reverse(c.2), c.0));
            detections.push(RangeDetection {
                detection: slug.clone(),
                name: name.clone(),
                windows_run: mine.len() as u64,
                windows_with_findings: mine.iter().filter(|c| c.2 > 0).count() as u64,
                findings: mine.iter().map(|c| c.2).sum(),
                busiest_window_end: busiest.map(|c| fmt_instant(c.0)),
                busiest_window_findings: busiest.map_or(0, |c| c.2),
            });
        }
        let mut cells = i.cells;
        cells.sort();
        RangeSummary {
            kubeseen_version: env!("CARGO_PKG_VERSION").to_string(),
            from: fmt_instant(i.from),
            to: fmt_instant(i.to),
            every: i.every.to_string(),
            mode: if i.splunk_compat { "splunk_compat" } else { "intent" }.to_string(),
            lake: lake.display().to_string(),
            windows: i.windows,
            findings_count: detections.iter().map(|d| d.findings).sum(),
            windows_run: detections.iter().map(|d| d.windows_run).sum(),
            detections,
            per_day,
            windows_with_findings: cells
                .iter()
                .filter(|c| c.2 > 0)
                .map(|c| RangeWindow {
                    window_end: fmt_instant(c.0),
                    detection: c.1.clone(),
                    findings: c.2,
                })
                .collect(),
            outputs: Default::default(),
            cells,
            range: (i.from, i.to),
        }
    }
}

/// Writes `s` as JSON, Markdown and HTML under `reports/backfill/`.
pub fn write(lake: &Location, s: &mut RangeSummary, subset: Option<&[String]>) -> Result<(), super::ReportError> {
    let (from, to) = s.range;
    let stem = keys::backfill_stem(from, to, &s.every, s.mode == "splunk_compat", subset);
    let key = |ext: &str| keys::backfill_report(&stem, ext);
    s.outputs = super::run_summary::RunSummaryWritten {
        json: lake.describe(&key("json")),
        markdown: lake.describe(&key("md")),
        html: lake.describe(&key("html")),
    };
    lake.put(&key("json"), super::sorted_json(s).unwrap_or_default().into_bytes())?;
    lake.put(&key("md"), markdown(s).into_bytes())?;
    lake.put(&key("html"), html_page(s).into_bytes())?;
    Ok(())
}

/// The range summary as Markdown: totals, findings per day (days with findings), the windows
/// with findings.
pub fn markdown(s: &RangeSummary) -> String {
    let md = crate::text::markdown;
    let mut o = format!(
        "# kubeseen backfill — [{}, {})\n\n- every {}, mode {}, {} window(s) × {} detection(s), {} run\n- lake: {}\n- findings: **{}**\n\n## Detections\n\n| detection | windows run | windows with findings | findings | busiest window |\n|---|---|---|---|---|\n",
        s.from,
        s.to,
        md(&s.every),
        s.mode,
        s.windows,
        s.detections.len(),
        s.windows_run,
        md(&s.lake),
        s.findings_count
    );
    for d in &s.detections {
        let _ = writeln!(
            o,
            "| {} (`{}`) | {} | {} | {} | {} |",
            md(&d.name),
            md(&d.detection),
            d.windows_run,
            d.windows_with_findings,
            d.findings,
            d.busiest_window_end
                .as_ref()
                .map_or("-".to_string(), |e| format!("{e} ({})", d.busiest_window_findings))
        );
    }
    let with: Vec<&RangeDetection> = s.detections.iter().filter(|d| d.findings > 0).collect();
    if !with.is_empty() {
        let days: Vec<&String> = s
            .per_day
            .values()
            .next()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        let _ = write!(
            o,
            "\n## Findings per day (days with findings)\n\n| day | {} |\n|---|{}\n",
            with.iter().map(|d| md(&d.detection)).collect::<Vec<_>>().join(" | "),
            "---|".repeat(with.len())
        );
        for day in days {
            let n: Vec<u64> = with.iter().map(|d| s.per_day[&d.detection][day]).collect();
            if n.iter().any(|n| *n > 0) {
                let cells: Vec<String> = n.iter().map(u64::to_string).collect();
                let _ = writeln!(o, "| {day} | {} |", cells.join(" | "));
            }
        }
        o.push_str("\n## Windows with findings\n\n| window end | detection | findings |\n|---|---|---|\n");
        for w in &s.windows_with_findings {
            let _ = writeln!(o, "| {} | {} | {} |", w.window_end, md(&w.detection), w.findings);
        }
    }
    let _ = write!(o, "\nkubeseen {}\n", s.kubeseen_version);
    o
}

/// A cell's fill: grey for not run, pale for zero, then light to dark red by log scale.
fn fill(n: Option<u64>, max: u64) -> &'static str {
    const REDS: [&str; 5] = ["#fcd9d4", "#f7a596", "#ec6a55", "#cd3a26", "#8f1d12"];
    match n {
        None => "#ffffff",
        Some(0) => "#e9edf2",
        Some(n) => {
            let f = (n as f64).ln_1p() / (max.max(1) as f64).ln_1p();
            REDS[((f * REDS.len() as f64).ceil() as usize).clamp(1, REDS.len()) - 1]
        }
    }
}

/// The strip: one row per detection, one cell per day (findings that day).
fn strip_svg(s: &RangeSummary) -> String {
    let days: Vec<&String> = s
        .per_day
        .values()
        .next()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let cw = (900.0 / days.len().max(1) as f64).clamp(4.0, 28.0);
    let (left, row, top) = (300.0, 18.0, 34.0);
    let width = left + cw * days.len() as f64 + 70.0;
    let height = top + row * s.detections.len() as f64 + 8.0;
    let max = s.per_day.values().flat_map(|m| m.values()).copied().max().unwrap_or(0);
    let mut o = format!(
        "<svg role=\"img\" aria-label=\"findings per detection and day\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    // Day labels: the first of the range and each Monday (every day when there are few).
    for (i, day) in days.iter().enumerate() {
        let monday = NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .is_ok_and(|d| chrono::Datelike::weekday(&d) == chrono::Weekday::Mon);
        if i == 0 || days.len() <= 10 || monday {
            let x = left + cw * i as f64;
            let _ = write!(
                o,
                "<text x=\"{x}\" y=\"{}\" class=\"muted\">{}</text><line x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\" stroke=\"#b8c0cc\"/>",
                top - 16.0,
                html::text(day.get(5..).unwrap_or(day)),
                top - 12.0,
                top - 2.0
            );
        }
    }
    for (r, d) in s.detections.iter().enumerate() {
        let y = top + row * r as f64;
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y + 12.5,
            html::text(&d.detection)
        );
        let ran: std::collections::BTreeSet<String> = s
            .cells
            .iter()
            .filter(|c| c.1 == d.detection)
            .map(|c| day_hour(c.0).0.to_string())
            .collect();
        for (i, day) in days.iter().enumerate() {
            let n = s.per_day[&d.detection][*day];
            let shown = ran.contains(*day).then_some(n);
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\" stroke=\"#fff\"><title>{} {}: {}</title></rect>",
                left + cw * i as f64,
                cw,
                row - 2.0,
                fill(shown, max),
                html::text(&d.detection),
                day,
                shown.map_or("not run".to_string(), |n| format!("{n} finding(s)"))
            );
        }
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\"{}>{}</text>",
            left + cw * days.len() as f64 + 6.0,
            y + 12.5,
            if d.findings == 0 { " class=\"muted\"" } else { "" },
            d.findings
        );
    }
    o.push_str("</svg>\n");
    o
}

/// A detection's heatmap: a row per day, a column per UTC hour (sum of its windows there).
fn heatmap_svg(s: &RangeSummary, d: &RangeDetection) -> String {
    let days: Vec<NaiveDate> = days(s.range.0, s.range.1);
    let mut grid: BTreeMap<(NaiveDate, u32), u64> = BTreeMap::new();
    for c in s.cells.iter().filter(|c| c.1 == d.detection) {
        *grid.entry(day_hour(c.0)).or_default() += c.2;
    }
    let max = grid.values().copied().max().unwrap_or(0);
    let (left, top, cw) = (78.0, 30.0, 12.0);
    let ch = (420.0 / days.len().max(1) as f64).clamp(3.0, 12.0);
    let width = left + cw * 24.0 + 8.0;
    let height = top + ch * days.len() as f64 + 6.0;
    let mut o = format!(
        "<svg role=\"img\" aria-label=\"findings by day and hour\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\"><text x=\"0\" y=\"12\">{} · {} finding(s)</text><text x=\"{width}\" y=\"12\" text-anchor=\"end\" class=\"muted\">darkest: {max}</text>",
        html::text(&d.detection),
        d.findings
    );
    for h in (0..24).step_by(6) {
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" class=\"muted\">{h:02}h</text>",
            left + cw * h as f64,
            top - 4.0
        );
    }
    let label_every = (days.len() / 12).max(1);
    for (r, day) in days.iter().enumerate() {
        let y = top + ch * r as f64;
        if r % label_every == 0 {
            let _ = write!(
                o,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" class=\"muted\">{day}</text>",
                left - 6.0,
                y + ch.min(10.0)
            );
        }
        for h in 0..24u32 {
            let n = grid.get(&(*day, h)).copied();
            let _ = write!(
                o,
                "<rect x=\"{}\" y=\"{y:.1}\" width=\"{}\" height=\"{ch:.1}\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"0.5\"><title>{day} {h:02}:00 {}</title></rect>",
                left + cw * h as f64,
                cw,
                fill(n, max),
                n.map_or("not run".to_string(), |n| format!("{n} finding(s)"))
            );
        }
    }
    o.push_str("</svg>");
    o
}

/// The range summary as one self-contained HTML page.
pub fn html_page(s: &RangeSummary) -> String {
    let with: Vec<&RangeDetection> = s.detections.iter().filter(|d| d.findings > 0).collect();
    let mut b = format!(
        "<h1>kubeseen backfill — [{}, {})</h1>\n<p class=\"meta\">every {} · mode {} · lake <code>{}</code> · kubeseen {}</p>\n<div class=\"cards\">{}{}{}{}</div>\n",
        html::text(&s.from),
        html::text(&s.to),
        html::text(&s.every),
        html::text(&s.mode),
        html::text(&s.lake),
        html::text(&s.kubeseen_version),
        html::card(&s.findings_count.to_string(), "findings", s.findings_count > 0),
        html::card(&format!("{} / {}", with.len(), s.detections.len()), "detections with findings", !with.is_empty()),
        html::card(&s.windows_with_findings.len().to_string(), "windows with findings", false),
        html::card(&format!("{} × {}", s.windows, s.detections.len()), "windows × detections", false),
    );
    b.push_str("<h2>Findings per detection and day</h2>\n<p class=\"note\">Darker is more (log scale); white: not run in this backfill (up to date, <code>--resume</code>); grey: run, no findings. Hover a cell for its count.</p>\n");
    b.push_str(&strip_svg(s));
    if !with.is_empty() {
        b.push_str("<h2>By day and hour (UTC)</h2>\n<div class=\"cards\">");
        for d in &with {
            let _ = write!(b, "<div>{}</div>", heatmap_svg(s, d));
        }
        b.push_str("</div>\n");
    }
    let rows: Vec<Vec<Cell>> = s
        .detections
        .iter()
        .map(|d| {
            vec![
                Cell::Raw(format!(
                    "{}<br><code class=\"k\">{}</code>",
                    html::text(&d.name),
                    html::text(&d.detection)
                )),
                Cell::Count(d.windows_run, false),
                Cell::Count(d.windows_with_findings, false),
                Cell::Count(d.findings, true),
                Cell::Text(
                    d.busiest_window_end
                        .as_ref()
                        .map_or("-".to_string(), |e| format!("{e} ({})", d.busiest_window_findings)),
                ),
            ]
        })
        .collect();
    b.push_str("<h2>Detections</h2>\n");
    b.push_str(&html::table(
        &[
            "detection",
            "#windows run",
            "#windows with findings",
            "#findings",
            "busiest window",
        ],
        &rows,
    ));
    let _ = writeln!(
        b,
        "<footer>This page: <code>{}</code> (also <code>{}</code>, <code>{}</code>). Every window's findings and report stay under <code>findings/</code> and <code>reports/detect/</code>.</footer>",
        html::text(&s.outputs.html),
        html::text(&s.outputs.markdown),
        html::text(&s.outputs.json)
    );
    html::page(&format!("kubeseen backfill {} – {}", s.from, s.to), &b)
}
