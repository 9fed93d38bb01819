//! Risk objects of the lake: where risk events, incidents and risk reports live, and their
//! listing by time.
//!
//! ```text
//! <lake>/risk/events/date=<window start date>/detection=<slug>/<window end>-<window>[-splunk].parquet
//! <lake>/risk/incidents/date=<at date>/<at>-<risk window>[-splunk].parquet
//! <lake>/reports/risk/date=<at date>/<at>-<risk window>[-splunk].{json,md}
//! ```
//! In: frames from `risk`. Out: objects, and the keys a risk window must read.
//! Invariants: one events object per (detection, detection window, mode), exactly like the
//! findings, so re-running a window replaces its events (a window without events has no
//! object: the re-run deletes it); one incidents object per (risk `--at`, risk window, mode);
//! every object is written in one `put`. Listings touch only the dates a window can reach.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use polars::prelude::*;

use crate::storage::{Location, StorageError};

pub const EVENTS: &str = "risk/events";
pub const INCIDENTS: &str = "risk/incidents";
pub const RISK_REPORTS: &str = "reports/risk";

/// The longest detection window whose events a risk window reads: events are filed under their
/// detection window's start date, so a risk window `[from, to)` lists the dates from
/// `from − MAX_DETECTION_WINDOW` on. The built-in detections use 1 h (24 h for one SPL).
pub const MAX_DETECTION_WINDOW: Duration = Duration::days(2);

#[derive(Debug, thiserror::Error)]
pub enum RiskLakeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{key}: {source}")]
    Parquet { key: String, source: PolarsError },
    #[error("a risk reader thread panicked")]
    Thread,
}

use super::keys::{date, parse_stem, stem, stem_of};

/// The events object of one detection window `[start, end)` of length `len` (`1h`).
pub fn events_key(slug: &str, start: DateTime<Utc>, end: DateTime<Utc>, len: &str, splunk_compat: bool) -> String {
    format!(
        "{EVENTS}/date={}/detection={slug}/{}.parquet",
        date(start),
        stem(end, len, splunk_compat)
    )
}

/// The incidents object of one risk evaluation at `at` over a window of length `window` (`1d`).
pub fn incidents_key(at: DateTime<Utc>, window: &str, splunk_compat: bool) -> String {
    format!(
        "{INCIDENTS}/date={}/{}.parquet",
        date(at),
        stem(at, window, splunk_compat)
    )
}

/// The report of one risk evaluation, `ext` = `json` or `md`.
pub fn report_key(at: DateTime<Utc>, window: &str, splunk_compat: bool, ext: &str) -> String {
    format!(
        "{RISK_REPORTS}/date={}/{}.{ext}",
        date(at),
        stem(at, window, splunk_compat)
    )
}

/// A frame as Parquet bytes (the lake's settings).
fn bytes_of(df: &mut DataFrame, key: &str) -> Result<Vec<u8>, RiskLakeError> {
    super::parquet_bytes(df).map_err(|source| RiskLakeError::Parquet {
        key: key.to_string(),
        source,
    })
}

/// Writes the events of one detection window, or deletes the object when there are none.
pub fn write_events(lake: &Location, key: &str, events: &mut DataFrame) -> Result<(), RiskLakeError> {
    if events.height() == 0 {
        lake.delete(key)?;
        return Ok(());
    }
    let bytes = bytes_of(events, key)?;
    lake.put(key, bytes)?;
    Ok(())
}

/// Writes the incidents of one risk evaluation (an empty frame too: "evaluated, nothing").
pub fn write_incidents(lake: &Location, key: &str, incidents: &mut DataFrame) -> Result<(), RiskLakeError> {
    let bytes = bytes_of(incidents, key)?;
    lake.put(key, bytes)?;
    Ok(())
}

fn date_of(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Dates `from ..= to`.
fn dates(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut d = from.date_naive();
    while d <= to.date_naive() {
        out.push(d);
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    out
}

/// The events objects of `mode` whose detection window overlaps `[from, to)`: exactly those
/// that can hold an event timed inside it (events lie inside their detection window).
pub fn events_between(
    lake: &Location,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    splunk_compat: bool,
) -> Result<Vec<String>, StorageError> {
    let present: std::collections::BTreeSet<String> = lake.list_dirs(EVENTS)?.into_iter().collect();
    let mut out = Vec::new();
    for day in dates(from - MAX_DETECTION_WINDOW, to) {
        let dir = format!("date={}", date_of(day));
        if !present.contains(&dir) {
            continue;
        }
        for (key, _) in lake.list(&format!("{EVENTS}/{dir}"))? {
            let Some(w) = stem_of(&key, ".parquet").and_then(parse_stem) else {
                continue;
            };
            let Ok(len) = crate::config::parse_duration(&w.window) else {
                continue;
            };
            if w.splunk_compat == splunk_compat && w.window_end > from && w.window_end - len < to {
                out.push(key);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The incidents objects of `mode` and risk window `window` evaluated at an instant in
/// `(from, to)` (open at both ends: the ones that can suppress a repeat at `to`).
pub fn incidents_between(
    lake: &Location,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: &str,
    splunk_compat: bool,
) -> Result<Vec<String>, StorageError> {
    let mut out = Vec::new();
    for day in dates(from, to) {
        for (key, _) in lake.list(&format!("{INCIDENTS}/date={}", date_of(day)))? {
            let Some(w) = stem_of(&key, ".parquet").and_then(parse_stem) else {
                continue;
            };
            if w.splunk_compat == splunk_compat && w.window == window && w.window_end > from && w.window_end < to {
                out.push(key);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the Parquet objects `keys` (a few threads: they are many and small), in key order.
pub fn read_all(lake: &Location, keys: &[String]) -> Result<Vec<DataFrame>, RiskLakeError> {
    let read = |key: &String| -> Result<DataFrame, RiskLakeError> {
        let bytes = lake.get(key)?;
        ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .map_err(|source| RiskLakeError::Parquet {
                key: lake.describe(key),
                source,
            })
    };
    if keys.len() < 8 {
        return keys.iter().map(read).collect();
    }
    let chunks: Vec<&[String]> = keys.chunks(keys.len().div_ceil(4)).collect();
    let results: Vec<Vec<Result<DataFrame, RiskLakeError>>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| s.spawn(move || chunk.iter().map(read).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| vec![Err(RiskLakeError::Thread)]))
            .collect()
    });
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_instant;

    #[test]
    fn keys_follow_the_findings_naming() {
        let t = |s: &str| parse_instant(s).expect("instant");
        assert_eq!(
            events_key(
                "process_new_path",
                t("2026-11-23T14:00:00Z"),
                t("2026-11-23T15:00:00Z"),
                "1h",
                false
            ),
            "risk/events/date=2026-11-23/detection=process_new_path/20261123T150000Z-1h.parquet"
        );
        assert_eq!(
            incidents_key(t("2026-11-24T00:00:00Z"), "1d", true),
            "risk/incidents/date=2026-11-24/20261124T000000Z-1d-splunk.parquet"
        );
    }
}
