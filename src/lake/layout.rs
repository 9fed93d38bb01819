//! The layout of the points table: `metrics/date=YYYY-MM-DD/hour=HH/part-<hash>.parquet`
//! (data time, UTC), the folders of the lake, and the listings of its part files.

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Timelike, Utc};

use crate::storage::{Location, StorageError};

pub const METRICS: &str = "metrics";
pub const FINDINGS: &str = "findings";
pub const REPORTS: &str = "reports";
/// OCSF Detection Findings beside the native findings (`lake::keys::ocsf_*`).
pub const OCSF: &str = "ocsf";
pub const REJECTS: &str = "_kubeseen/rejects";

/// A frame as the lake stores every Parquet object: zstd, full column statistics, row groups of
/// 128 k rows.
pub fn parquet_bytes(df: &mut polars::prelude::DataFrame) -> polars::prelude::PolarsResult<Vec<u8>> {
    use polars::prelude::*;
    let mut out = Vec::new();
    ParquetWriter::new(&mut out)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::full())
        .with_row_group_size(Some(128 * 1024))
        .finish(df)?;
    Ok(out)
}

/// One hour of data time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HourPartition {
    pub date: NaiveDate,
    pub hour: u32,
}

impl HourPartition {
    /// The partition holding instant `t`.
    pub fn of(t: DateTime<Utc>) -> Self {
        HourPartition {
            date: t.date_naive(),
            hour: t.hour(),
        }
    }

    pub fn from_micros(us: i64) -> Option<Self> {
        DateTime::from_timestamp_micros(us).map(Self::of)
    }

    pub fn start(&self) -> DateTime<Utc> {
        // Invariant: hour < 24 by construction.
        self.date
            .and_hms_opt(self.hour, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default()
    }

    /// `metrics/date=YYYY-MM-DD/hour=HH`
    pub fn prefix(&self) -> String {
        format!("{METRICS}/date={}/hour={:02}", self.date.format("%Y-%m-%d"), self.hour)
    }

    /// Parses `date=YYYY-MM-DD` and `hour=HH` folder names.
    pub fn parse(date_dir: &str, hour_dir: &str) -> Option<Self> {
        let date = NaiveDate::parse_from_str(date_dir.strip_prefix("date=")?, "%Y-%m-%d").ok()?;
        let hour: u32 = hour_dir.strip_prefix("hour=")?.parse().ok()?;
        (hour < 24).then_some(HourPartition { date, hour })
    }

    /// Every partition overlapping `[from, to)`.
    pub fn covering(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<HourPartition> {
        let mut out = Vec::new();
        let Ok(mut t) = from.duration_trunc(Duration::hours(1)) else {
            return out;
        };
        while t < to {
            out.push(Self::of(t));
            t += Duration::hours(1);
        }
        out
    }
}

/// A landed Parquet object of the points table.
#[derive(Debug, Clone)]
pub struct PartFile {
    pub partition: HourPartition,
    pub key: String,
    pub size: u64,
}

/// Every landed part file of the lake, sorted by partition then key. Objects that are not
/// `.parquet` files inside a well-formed partition are ignored (and counted by the caller).
pub fn list_parts(lake: &Location) -> Result<(Vec<PartFile>, Vec<String>), StorageError> {
    let mut parts = Vec::new();
    let mut ignored = Vec::new();
    for (key, size) in lake.list(METRICS)? {
        let segs: Vec<&str> = key.split('/').collect();
        match segs.as_slice() {
            [_, d, h, file] if file.ends_with(".parquet") => match HourPartition::parse(d, h) {
                Some(partition) => parts.push(PartFile { partition, key, size }),
                None => ignored.push(key),
            },
            _ => ignored.push(key),
        }
    }
    parts.sort_by(|a, b| (a.partition, &a.key).cmp(&(b.partition, &b.key)));
    Ok((parts, ignored))
}

/// Part files of the partitions overlapping `[from, to)`, listing only the days of that range
/// (a 30-day window costs 31 LIST calls, not one per hour or one over the whole lake).
pub fn parts_between(lake: &Location, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<PartFile>, StorageError> {
    let wanted: std::collections::BTreeSet<HourPartition> = HourPartition::covering(from, to).into_iter().collect();
    let days: std::collections::BTreeSet<NaiveDate> = wanted.iter().map(|p| p.date).collect();
    let present: std::collections::BTreeSet<String> = lake
        .list_dirs(METRICS)?
        .into_iter()
        .filter(|d| d.starts_with("date="))
        .collect();
    let mut out = Vec::new();
    for day in days {
        let date_dir = format!("date={}", day.format("%Y-%m-%d"));
        if !present.contains(&date_dir) {
            continue;
        }
        for (key, size) in lake.list(&format!("{METRICS}/{date_dir}"))? {
            let segs: Vec<&str> = key.split('/').collect();
            if let [_, d, h, file] = segs.as_slice() {
                if let Some(partition) = HourPartition::parse(d, h) {
                    if file.ends_with(".parquet") && wanted.contains(&partition) {
                        out.push(PartFile { partition, key, size });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (a.partition, &a.key).cmp(&(b.partition, &b.key)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn covering_includes_partial_hours_at_both_ends() {
        let from = Utc.with_ymd_and_hms(2026, 1, 1, 22, 30, 0).single().expect("t");
        let to = Utc.with_ymd_and_hms(2026, 1, 2, 1, 0, 0).single().expect("t");
        let c = HourPartition::covering(from, to);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].prefix(), "metrics/date=2026-01-01/hour=22");
        assert_eq!(c[2].prefix(), "metrics/date=2026-01-02/hour=00");
        let to2 = Utc.with_ymd_and_hms(2026, 1, 2, 1, 0, 1).single().expect("t");
        assert_eq!(HourPartition::covering(from, to2).len(), 4);
    }

    #[test]
    fn parses_partition_folders() {
        assert!(HourPartition::parse("date=2026-01-01", "hour=23").is_some());
        assert!(HourPartition::parse("date=2026-01-01", "hour=24").is_none());
        assert!(HourPartition::parse("date=x", "hour=1").is_none());
    }
}
