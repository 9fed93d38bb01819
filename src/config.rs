//! Configuration: durations, instants and the clock.
//!
//! In: flag and environment values (clap resolves flag > env > default). Out: validated
//! values. Invariant: `Utc::now()` is called in one place only ([`Clock::system`]); every
//! window is computed from `--at` or from that one reading, so runs are reproducible.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// 2000-01-01T00:00:00Z in seconds since the epoch: the earliest instant the lake holds. Land
/// rejects earlier points, and findings and reports are named by the window's date, which must
/// stay `YYYY-MM-DD` (year 0 would make `date=-0001-12-31`).
pub const CUTOFF_UNIX_SECONDS: i64 = 946_684_800;

/// [`CUTOFF_UNIX_SECONDS`] as an instant.
pub fn cutoff() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(CUTOFF_UNIX_SECONDS, 0).unwrap_or_default()
}

/// Parses `90s`, `15m`, `1h`, `30d`, `2w` (a whole number and one unit).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 15m, 1h, 30d"))?;
    let d = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
    .ok_or_else(|| format!("{s:?} is not a duration like 90s, 15m, 1h, 30d (units s, m, h, d, w)"))?;
    if d <= Duration::zero() {
        return Err(format!("{s:?}: a duration must be positive"));
    }
    Ok(d)
}

/// Parses an RFC 3339 instant (`2026-11-23T14:00:00Z`, `2026-11-23T15:00:00+01:00`).
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time like 2026-11-23T14:00:00Z: {e}"))
}

/// A parsed flag value and the text it was given as (echoed back in summaries).
#[derive(Debug, Clone, PartialEq)]
pub struct Given<T> {
    pub value: T,
    pub text: String,
}

impl Given<Duration> {
    /// [`parse_duration`], keeping the text.
    pub fn parse_duration(s: &str) -> Result<Self, String> {
        Ok(Given {
            value: parse_duration(s)?,
            text: s.to_string(),
        })
    }
}

/// Every `*.toml` file of `dir`, sorted by path, as (display name, text): the reader behind
/// `--queries` folders of detections and of incident rules. An error names the folder or file.
pub fn toml_files(dir: &std::path::Path) -> Result<Vec<(String, String)>, (String, std::io::Error)> {
    let rd = std::fs::read_dir(dir).map_err(|e| (dir.display().to_string(), e))?;
    let mut files: Vec<_> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let name = f.display().to_string();
            match std::fs::read_to_string(&f) {
                Ok(text) => Ok((name, text)),
                Err(e) => Err((name, e)),
            }
        })
        .collect()
}

/// Renders an instant the way every output of kubeseen does: RFC 3339, UTC, `Z`.
pub fn fmt_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The source of "now".
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    now: DateTime<Utc>,
}

impl Clock {
    /// The one place kubeseen reads the system clock.
    pub fn system() -> Self {
        Clock { now: Utc::now() }
    }

    pub fn fixed(now: DateTime<Utc>) -> Self {
        Clock { now }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The end of the last full hour: the default `--at`.
    pub fn last_full_hour(&self) -> DateTime<Utc> {
        self.now.duration_trunc(Duration::hours(1)).unwrap_or(self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(Duration::hours(1)));
        assert_eq!(parse_duration("30d"), Ok(Duration::days(30)));
        assert_eq!(parse_duration("90s"), Ok(Duration::seconds(90)));
        assert!(parse_duration("1 hour").is_err());
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn instants() {
        let t = parse_instant("2026-11-23T15:00:00+01:00").expect("parse");
        assert_eq!(fmt_instant(t), "2026-11-23T14:00:00Z");
        assert!(parse_instant("yesterday").is_err());
        let c = Clock::fixed(parse_instant("2026-11-23T14:59:59.9Z").expect("t"));
        assert_eq!(fmt_instant(c.last_full_hour()), "2026-11-23T14:00:00Z");
    }
}
