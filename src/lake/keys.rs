//! The names of the lake's objects, built in one place.
//!
//! ```text
//! findings/detection=<slug>/date=<window start date>/<stem>.parquet
//! reports/detect/detection=<slug>/date=<window start date>/<stem>.{json,md}
//! reports/runs/date=<date of the earliest window start>/<run stem>.{json,md,html}
//! reports/backfill/<from as %Y%m%dT%H%M%SZ>--<to>-<every>[-splunk][-d<hash>].{json,md,html}
//! _kubeseen/stale/<slug>.json
//! lookups/<name>/<run>.parquet
//! ocsf/jsonl/detection=<slug>/date=<window start date>/<stem>.jsonl
//! ocsf/ext/kubeseen/region=<region>/accountId=c<xxh3 of the cluster>/eventDay=<YYYYMMDD>/<slug>-<stem>.parquet
//! ```
//! where `<stem>` is `<window end as %Y%m%dT%H%M%SZ>-<window length>[-splunk]`.
//! Invariant: one name per (detection, window, mode), so a re-run replaces its objects.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::layout::{FINDINGS, OCSF, REPORTS};

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

/// The summary of one `detect` run over every detection it ran:
/// `reports/runs/date=<date>/<run stem>.<ext>` (`ext`: `json`, `md` or `html`).
pub fn run_report(date: &str, run_stem: &str, ext: &str) -> String {
    format!("{REPORTS}/runs/date={date}/{run_stem}.{ext}")
}

/// The stem of a run's summary: the window stem (latest window end, `-splunk`), then `-stale`
/// for a re-run of stale windows, then `-d<8 hex of the xxh3 of the slugs>` when only some
/// detections ran (`--detection`), so runs of other detection sets never replace it.
pub fn run_stem(end: DateTime<Utc>, splunk_compat: bool, stale: bool, subset: Option<&[String]>) -> String {
    let mut s = format!(
        "{}{}",
        end.format("%Y%m%dT%H%M%SZ"),
        if splunk_compat { "-splunk" } else { "" }
    );
    if stale {
        s.push_str("-stale");
    }
    if let Some(slugs) = subset {
        let mut v = slugs.to_vec();
        v.sort();
        v.dedup();
        s.push_str(&format!(
            "-d{:08x}",
            xxhash_rust::xxh3::xxh3_64(v.join(",").as_bytes()) as u32
        ));
    }
    s
}

/// The summary of one `backfill` over its range: `reports/backfill/<range stem>.<ext>`.
pub fn backfill_report(range_stem: &str, ext: &str) -> String {
    format!("{REPORTS}/backfill/{range_stem}.{ext}")
}

/// The stem of a backfill's summary: `<from>--<to>-<every>[-splunk][-d<hash>]` (instants as
/// `%Y%m%dT%H%M%SZ`, the rest as in [`run_stem`]).
pub fn backfill_stem(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    every: &str,
    splunk_compat: bool,
    subset: Option<&[String]>,
) -> String {
    let tail = run_stem(to, splunk_compat, false, subset);
    let tail = tail.split_once('Z').map_or("", |(_, rest)| rest);
    format!(
        "{}--{}-{every}{tail}",
        from.format("%Y%m%dT%H%M%SZ"),
        to.format("%Y%m%dT%H%M%SZ")
    )
}

/// A chart of one finding, beside its window's report: `<stem>-<first 16 hex of the uid>.svg`
/// (the file name alone, relative to the report's folder).
pub fn chart_file(stem: &str, finding_uid: &str) -> String {
    format!("{stem}-{}.svg", finding_uid.get(..16).unwrap_or(finding_uid))
}

/// The SPL's weekly lookup `name` as built by the run at `run` (`--splunk-compat`):
/// `lookups/<name>/<run, YYYYMMDDTHHMMSSZ>.parquet`.
pub fn lookup(name: &str, run: DateTime<Utc>) -> String {
    format!("lookups/{name}/{}.parquet", run.format("%Y%m%dT%H%M%SZ"))
}

/// The OCSF Detection Findings of a window as JSON Lines:
/// `ocsf/jsonl/detection=<slug>/date=<date>/<stem>.jsonl`.
pub fn ocsf_jsonl(slug: &str, date: &str, stem: &str) -> String {
    format!("{OCSF}/jsonl/detection={slug}/date={date}/{stem}.jsonl")
}

/// The Security Lake custom-source prefix of kubeseen's OCSF Parquet in `region`.
pub fn ocsf_source(region: &str) -> String {
    format!("{OCSF}/ext/kubeseen/region={region}")
}

/// Security Lake's account partition of a cluster: `c` and the 16 hex digits of the xxh3 of
/// its name (the lake has no cloud account; the cluster is the tenant its findings belong to).
pub fn ocsf_account(cluster: &str) -> String {
    format!("c{:016x}", xxhash_rust::xxh3::xxh3_64(cluster.as_bytes()))
}

/// The OCSF Parquet object of a window's findings of one cluster and event day, in Security
/// Lake's custom-source layout:
/// `ocsf/ext/kubeseen/region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/<slug>-<stem>.parquet`.
pub fn ocsf_parquet(region: &str, account: &str, event_day: &str, slug: &str, stem: &str) -> String {
    format!(
        "{}/accountId={account}/eventDay={event_day}/{slug}-{stem}.parquet",
        ocsf_source(region)
    )
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

    #[test]
    fn run_and_backfill_report_keys_name_the_window_mode_and_detection_set() {
        let end = crate::config::parse_instant("2026-11-20T12:00:00Z").expect("instant");
        let from = crate::config::parse_instant("2026-10-21T00:00:00Z").expect("instant");
        assert_eq!(run_stem(end, false, false, None), "20261120T120000Z");
        assert_eq!(run_stem(end, true, true, None), "20261120T120000Z-splunk-stale");
        let ab = run_stem(end, false, false, Some(&["b".into(), "a".into()]));
        assert_eq!(ab, run_stem(end, false, false, Some(&["a".into(), "b".into()])));
        assert_ne!(ab, run_stem(end, false, false, Some(&["a".into()])));
        assert!(ab.starts_with("20261120T120000Z-d") && ab.len() == "20261120T120000Z-d".len() + 8);
        assert_eq!(
            run_report("2026-11-20", "20261120T120000Z", "html"),
            "reports/runs/date=2026-11-20/20261120T120000Z.html"
        );
        assert_eq!(
            backfill_report(&backfill_stem(from, end, "1h", true, None), "md"),
            "reports/backfill/20261021T000000Z--20261120T120000Z-1h-splunk.md"
        );
    }

    #[test]
    fn ocsf_keys_follow_security_lakes_layout() {
        let account = ocsf_account("prod");
        assert_eq!(account.len(), 17);
        assert_ne!(account, ocsf_account("staging"));
        assert_eq!(
            ocsf_parquet("local", &account, "20261120", "unseen_process", "20261120T120000Z-1h"),
            format!("ocsf/ext/kubeseen/region=local/accountId={account}/eventDay=20261120/unseen_process-20261120T120000Z-1h.parquet")
        );
        assert_eq!(
            ocsf_jsonl("unseen_process", "2026-11-20", "20261120T120000Z-1h"),
            "ocsf/jsonl/detection=unseen_process/date=2026-11-20/20261120T120000Z-1h.jsonl"
        );
    }
}
