//! Charts of statistical findings: SVG pictures beside the report.
//!
//! In: a finished statistical run (its per-bucket values of the findings' entities). Out: one
//! SVG per finding — for each of its anomalous metrics (at most [`MAX_PANELS`], largest z
//! first) the entity's 10 s values over the window against the baseline's avg and avg + K·σ,
//! the anomalous buckets marked. Invariant: every text from the monitored systems (entity
//! values, metric names) is XML-escaped, so a hostile name cannot inject markup or script.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use polars::prelude::*;

use crate::config::fmt_instant;
use crate::detect::Run;

/// Panels per chart: the metrics with the largest anomalies.
pub const MAX_PANELS: usize = 4;
const WIDTH: f64 = 960.0;
const PANEL: f64 = 230.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const HEAD: f64 = 86.0;

/// Escapes `&`, `<`, `>`, `"` and `'`, and replaces control characters (invalid in XML 1.0)
/// with U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// One bucket of one metric.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    bucket: i64,
    x: f64,
    anomalous: bool,
}

/// One metric's panel.
#[derive(Debug, Clone)]
struct Panel {
    name: String,
    avg: Option<f64>,
    stdev: Option<f64>,
    points: Vec<Point>,
}

/// (finding_uid, key values, SVG) for every finding of `run` (statistical runs only).
pub fn charts(run: &Run) -> Vec<(String, Vec<String>, String)> {
    let Some(series) = run.statistical.as_ref().and_then(|s| s.series.as_ref()) else {
        return Vec::new();
    };
    let k = run.statistical.as_ref().map_or(0.0, |s| s.k);
    let rows = super::summary::rows_json(&run.findings);
    let mut out = Vec::new();
    for row in rows {
        let Some(uid) = row["finding_uid"].as_str() else {
            continue;
        };
        let panels = panels_of(series, uid);
        if panels.is_empty() {
            continue;
        }
        let values: Vec<String> = run
            .logic
            .key
            .iter()
            .map(|c| match &row[c.as_str()] {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect();
        let key: Vec<String> = run
            .logic
            .key
            .iter()
            .zip(&values)
            .map(|(c, v)| format!("{c}={v}"))
            .collect();
        out.push((
            uid.to_string(),
            values,
            svg(
                &run.spec.name,
                &key.join("  "),
                &panels,
                k,
                run.window.start,
                run.window.end,
            ),
        ));
    }
    out
}

fn panels_of(series: &DataFrame, uid: &str) -> Vec<Panel> {
    let Ok(df) = series
        .clone()
        .lazy()
        .filter(col("finding_uid").eq(lit(uid)))
        .select([
            col("name"),
            col("bucket").cast(DataType::Int64),
            col("x"),
            col("avg"),
            col("stdev"),
            col("anomalous"),
            col("z"),
        ])
        .collect()
    else {
        return Vec::new();
    };
    let get = |c: &str| df.column(c).ok().cloned();
    let (Some(name), Some(bucket), Some(x), Some(avg), Some(sd), Some(an), Some(z)) = (
        get("name"),
        get("bucket"),
        get("x"),
        get("avg"),
        get("stdev"),
        get("anomalous"),
        get("z"),
    ) else {
        return Vec::new();
    };
    let f = |c: &Column, i: usize| c.get(i).ok().and_then(|v| v.extract::<f64>());
    let mut panels: Vec<(f64, Panel)> = Vec::new();
    for i in 0..df.height() {
        let n = name.get(i).ok().map(|v| v.str_value().to_string()).unwrap_or_default();
        let idx = match panels.iter().position(|(_, p)| p.name == n) {
            Some(j) => j,
            None => {
                panels.push((
                    f64::NEG_INFINITY,
                    Panel {
                        name: n,
                        avg: f(&avg, i),
                        stdev: f(&sd, i),
                        points: Vec::new(),
                    },
                ));
                panels.len() - 1
            }
        };
        let anomalous = an.get(i).ok().is_some_and(|v| v == AnyValue::Boolean(true));
        if anomalous {
            if let Some(zv) = f(&z, i) {
                panels[idx].0 = panels[idx].0.max(zv);
            }
        }
        if let (Some(b), Some(xv)) = (bucket.get(i).ok().and_then(|v| v.extract::<i64>()), f(&x, i)) {
            panels[idx].1.points.push(Point {
                bucket: b,
                x: xv,
                anomalous,
            });
        }
    }
    // Metrics with anomalies first, largest z first; then the name.
    panels.retain(|(z, _)| z.is_finite());
    panels.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    panels.into_iter().take(MAX_PANELS).map(|(_, p)| p).collect()
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn svg(title: &str, entity: &str, panels: &[Panel], k: f64, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let height = HEAD + PANEL * panels.len() as f64 + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        xml_escape(title)
    );
    let _ = write!(s, r#"<text x="{LEFT}" y="40">{}</text>"#, xml_escape(entity));
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="58" fill="#444">10 s values in [{}, {}): blue value, grey dashed baseline avg, red dashed avg + {}·σ, red dots anomalous</text>"##,
        fmt_instant(start),
        fmt_instant(end),
        fmt_num(k)
    );
    let (t0, t1) = (start.timestamp_micros() as f64, end.timestamp_micros() as f64);
    let plot_w = WIDTH - LEFT - RIGHT;
    for (i, p) in panels.iter().enumerate() {
        let top = HEAD + PANEL * i as f64 + 10.0;
        let h = PANEL - 50.0;
        let threshold = match (p.avg, p.stdev) {
            (Some(a), Some(sd)) => Some(a + k * sd),
            _ => None,
        };
        let mut lo = p.points.iter().map(|q| q.x).fold(f64::INFINITY, f64::min);
        let mut hi = p.points.iter().map(|q| q.x).fold(f64::NEG_INFINITY, f64::max);
        for v in [p.avg, threshold].into_iter().flatten() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        lo = lo.min(0.0);
        if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
            hi = lo + 1.0;
        }
        hi += (hi - lo) * 0.05;
        let y = |v: f64| top + h - (v - lo) / (hi - lo) * h;
        let xpos = |b: i64| LEFT + ((b as f64 - t0) / (t1 - t0)).clamp(0.0, 1.0) * plot_w;
        let _ = write!(
            s,
            r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{h}" fill="none" stroke="#bbb"/>"##
        );
        let _ = write!(
            s,
            r#"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"#,
            top - 2.0,
            xml_escape(&p.name)
        );
        for v in [lo, (lo + hi) / 2.0, hi] {
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" text-anchor="end" fill="#444">{}</text>"##,
                LEFT - 6.0,
                y(v) + 4.0,
                fmt_num(v)
            );
        }
        for frac in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let t = t0 + (t1 - t0) * frac;
            let label = DateTime::<Utc>::from_timestamp_micros(t as i64)
                .map(|d| d.format("%H:%M").to_string())
                .unwrap_or_default();
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" text-anchor="middle" fill="#444">{label}</text>"##,
                LEFT + plot_w * frac,
                top + h + 16.0
            );
        }
        if let Some(a) = p.avg {
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#888" stroke-dasharray="6 4"/>"##,
                LEFT + plot_w,
                y = y(a)
            );
        }
        if let Some(th) = threshold {
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#d62728" stroke-dasharray="6 4"/>"##,
                LEFT + plot_w,
                y = y(th)
            );
        }
        let mut pts = p.points.clone();
        pts.sort_by_key(|q| q.bucket);
        let line: Vec<String> = pts
            .iter()
            .map(|q| format!("{:.1},{:.1}", xpos(q.bucket), y(q.x)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{}"/>"##,
            line.join(" ")
        );
        for q in pts.iter().filter(|q| q.anomalous) {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="#d62728"/>"##,
                xpos(q.bucket),
                y(q.x)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        let e = xml_escape("<script>alert('x')</script>&\"\u{1}");
        assert_eq!(
            e,
            "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;&amp;&quot;\u{fffd}"
        );
        let p = Panel {
            name: "process.cpu.time\"/><script>".into(),
            avg: Some(1.0),
            stdev: Some(0.5),
            points: vec![
                Point {
                    bucket: 0,
                    x: 1.0,
                    anomalous: false,
                },
                Point {
                    bucket: 10_000_000,
                    x: 9.0,
                    anomalous: true,
                },
            ],
        };
        let t0 = DateTime::<Utc>::from_timestamp(0, 0).expect("t");
        let svg = svg(
            "<evil> & co",
            "node=<b>",
            &[p],
            4.0,
            t0,
            t0 + chrono::Duration::seconds(20),
        );
        assert!(!svg.contains("<script>") && !svg.contains("<evil>") && !svg.contains("<b>"));
        assert!(svg.contains("&lt;evil&gt; &amp; co") && svg.contains("<circle"));
    }
}
