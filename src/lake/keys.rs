//! The names of the lake's objects, built in one place.
//!
//! ```text
//! findings/detection=<slug>/date=<window start date>/<stem>.parquet
//! reports/detect/detection=<slug>/date=<window start date>/<stem>.{json,md}
//! _kubeseen/stale/<slug>.json
//! ```
//! where `<stem>` is `<window end as %Y%m%dT%H%M%SZ>-<window length>[-splunk]`.
//! Invariant: one name per (detection, window, mode), so a re-run replaces its objects.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::layout::{FINDINGS, REPORTS};

/// One written window of a detection, as its object names spell it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct StaleWindow {
    pub window_end: DateTime<Utc>,
    /// As in the findings file name: `1h`.
    pub window: String,
    pub splunk_compat: bool,
}

/// `YYYY-MM-DD` of `t`: the `date=` folder of a window starting at `t`.
pub fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// `20261123T150000Z-1h[-splunk]`: the file stem of a window ending at `end` of `length`.
pub fn stem(end: DateTime<Utc>, length: &str, splunk_compat: bool) -> String {
    let mode = if splunk_compat { "-splunk" } else { "" };
    format!("{}-{length}{mode}", end.format("%Y%m%dT%H%M%SZ"))
}

/// Parses `20261123T150000Z-1h[-splunk]` (a findings file stem).
pub fn parse_stem(stem: &str) -> Option<StaleWindow> {
    let (end, rest) = stem.split_once('-')?;
    let t = NaiveDateTime::parse_from_str(end, "%Y%m%dT%H%M%SZ").ok()?.and_utc();
    let (window, compat) = match rest.strip_suffix("-splunk") {
        Some(w) => (w, true),
        None => (rest, false),
    };
    Some(StaleWindow {
        window_end: t,
        window: window.to_string(),
        splunk_compat: compat,
    })
}

/// `findings/detection=<slug>`: every findings object of a detection.
pub fn findings_of(slug: &str) -> String {
    format!("{FINDINGS}/detection={slug}")
}

/// `findings/detection=<slug>/date=<date>`: the folder of a day's findings.
pub fn findings_folder(slug: &str, date: &str) -> String {
    format!("{FINDINGS}/detection={slug}/date={date}")
}

/// The findings object of a window.
pub fn findings(slug: &str, date: &str, stem: &str) -> String {
    format!("{}/{stem}.parquet", findings_folder(slug, date))
}

/// `reports/detect/detection=<slug>/date=<date>`: the folder of a day's reports.
pub fn reports_folder(slug: &str, date: &str) -> String {
    format!("{REPORTS}/detect/detection={slug}/date={date}")
}

/// A report of a window: `ext` is `json` or `md`.
pub fn report(slug: &str, date: &str, stem: &str, ext: &str) -> String {
    format!("{}/{stem}.{ext}", reports_folder(slug, date))
}

/// The stale windows of a detection.
pub fn stale(slug: &str) -> String {
    format!("_kubeseen/stale/{slug}.json")
}

/// The stem of a findings or report object's key (`…/<stem>.parquet` → `<stem>`).
pub fn stem_of<'a>(key: &'a str, ext: &str) -> Option<&'a str> {
    key.rsplit('/').next()?.strip_suffix(ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_findings_stems() {
        let w = parse_stem("20261123T150000Z-1h-splunk").expect("stem");
        assert!(w.splunk_compat);
        assert_eq!(w.window, "1h");
        assert_eq!(crate::config::fmt_instant(w.window_end), "2026-11-23T15:00:00Z");
        assert!(parse_stem("garbage").is_none());
        assert_eq!(stem(w.window_end, "1h", true), "20261123T150000Z-1h-splunk");
    }
}
