//! Lake: the Hive-partitioned Parquet layout every stage shares.
//!
//! ```text
//! <lake>/metrics/date=YYYY-MM-DD/hour=HH/part-<content hash>.parquet   landed points (DATA time, UTC)
//! <lake>/findings/detection=<slug>/date=YYYY-MM-DD/<window end>.parquet  one file per window
//! <lake>/rollups/presence/<cols>/date=/hour=/<sources>.parquet       per-hour presence tables
//! <lake>/reports/…                                                     run summaries
//! <lake>/risk/events/…, risk/incidents/…                              risk events and incidents (see `risk`)
//! <lake>/_kubeseen/rejects/<input hash>.json                           why an input was (partly) rejected
//! <lake>/_kubeseen/locks/writer/<generation>.json                      the writer lock (see `lock`)
//! ```
//! Invariant: an object is visible only when complete (one `put` each, see `storage`); object
//! names are derived from content, so writing the same thing twice writes the same name.
//! A local lake's `put` stages the bytes in `<name>#<n>` and renames it; a writer killed in
//! between leaves that file, which no listing shows (object_store skips `#<digits>` names, and
//! `*.parquet` globs do not match it); [`sweep_staging`] removes those of dead writers.
//! This module and `detect::plan` are the only places that know these paths.

pub mod land;
pub mod lock;
pub mod risk;
pub mod rollup;
pub mod schema;

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Timelike, Utc};

use crate::storage::{Location, StorageError};

pub const METRICS: &str = "metrics";
pub const FINDINGS: &str = "findings";
pub const REPORTS: &str = "reports";
pub const REJECTS: &str = "_kubeseen/rejects";

/// A staging file untouched for this long belongs to a writer that died: a live one writes its
/// staging file in one go and renames it at once.
pub const STAGING_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// `true` for a local store's staging file name, `<name>#<digits>`.
fn is_staging(file_name: &str) -> bool {
    file_name
        .rsplit_once('#')
        .is_some_and(|(base, n)| !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the staging files (`<name>#<n>`) that writers killed mid-`put` left in a local lake,
/// once older than `older_than`, and the folders that leaves empty. Only kubeseen's own folders
/// are searched; object stores have nothing to sweep (a `put` there is one request). Returns how
/// many were removed; what cannot be removed is logged and left for the next run.
pub fn sweep_staging(lake: &Location, older_than: std::time::Duration) -> u64 {
    fn sweep(dir: &std::path::Path, older_than: std::time::Duration, removed: &mut u64) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut swept_here = false;
        for e in entries.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                sweep(&path, older_than, removed);
                continue;
            }
            if !ft.is_file() || !is_staging(&e.file_name().to_string_lossy()) {
                continue;
            }
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= older_than);
            if !old {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    *removed += 1;
                    swept_here = true;
                    tracing::info!(file = %path.display(), "removed a staging file left by a killed writer");
                }
                Err(err) => tracing::warn!(file = %path.display(), %err, "cannot remove a stale staging file"),
            }
        }
        if swept_here {
            // Fails (and is meant to) unless the folder is now empty.
            let _ = std::fs::remove_dir(dir);
        }
    }
    let Some(root) = lake.local_root() else { return 0 };
    let mut removed = 0;
    for folder in [METRICS, "rollups", FINDINGS, REPORTS, "risk", "_kubeseen"] {
        sweep(&root.join(folder), older_than, &mut removed);
    }
    removed
}

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

/// Scan arguments for the lake's files: cloud options for object stores, hive off (the file
/// list is already pruned to the window's partitions, and the columns come from the files).
/// Polars' object-store clients get the lake's timeouts and retry budget
/// (`storage::RetrySettings`), as kubeseen's own requests do.
pub fn scan_args(lake: &Location) -> polars::prelude::ScanArgsParquet {
    use polars::prelude::cloud::{CloudOptions, CloudRetryConfig};
    let mut args = polars::prelude::ScanArgsParquet::default();
    args.hive_options.enabled = Some(false);
    if let Some(c) = lake.cloud() {
        let mut opts = CloudOptions::default();
        let client = c.retry.client_config();
        if c.scheme.starts_with("s3") {
            use object_store::aws::AmazonS3ConfigKey as K;
            let mut cfg: Vec<(K, String)> = Vec::new();
            if let Some(ep) = &c.s3_endpoint {
                cfg.push((K::Endpoint, ep.clone()));
                cfg.push((
                    K::Client(object_store::ClientConfigKey::AllowHttp),
                    ep.starts_with("http://").to_string(),
                ));
            }
            if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
                cfg.push((K::Region, "us-east-1".into()));
            }
            cfg.extend(client.into_iter().map(|(k, v)| (K::Client(k), v)));
            opts = opts.with_aws(cfg);
        } else if c.scheme.starts_with("gs") {
            use object_store::gcp::GoogleConfigKey as K;
            opts = opts.with_gcp(client.into_iter().map(|(k, v)| (K::Client(k), v)));
        } else {
            use object_store::azure::AzureConfigKey as K;
            opts = opts.with_azure(client.into_iter().map(|(k, v)| (K::Client(k), v)));
        }
        let retry = c.retry.retry_config();
        opts.retry_config = CloudRetryConfig {
            max_retries: Some(retry.max_retries),
            retry_timeout: Some(retry.retry_timeout),
            retry_init_backoff: Some(retry.backoff.init_backoff),
            retry_max_backoff: Some(retry.backoff.max_backoff),
            retry_base_multiplier: None,
        };
        args.cloud_options = Some(opts);
    }
    args
}

/// Scan arguments for part files of the points table: [`scan_args`] with the table's full
/// schema, so part files written before a column was added (a newly promoted attribute) read
/// it as null instead of failing the scan.
pub fn points_scan_args(lake: &Location) -> polars::prelude::ScanArgsParquet {
    let mut args = scan_args(lake);
    args.schema = Some(std::sync::Arc::new(schema::points_schema()));
    args.allow_missing_columns = true;
    args
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
    fn sweeps_only_old_staging_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Location::open(&dir.path().display().to_string(), &Default::default(), true).expect("lake");
        let hour = dir.path().join("metrics/date=2026-01-01/hour=01");
        let lone = dir.path().join("findings/detection=x/date=2026-01-01");
        std::fs::create_dir_all(&hour).expect("mkdir");
        std::fs::create_dir_all(&lone).expect("mkdir");
        let write = |p: std::path::PathBuf, age_s: u64| {
            std::fs::write(&p, b"x").expect("write");
            let f = std::fs::OpenOptions::new().write(true).open(&p).expect("open");
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(age_s))
                .expect("mtime");
            p
        };
        let old = write(hour.join("part-a.parquet#1"), 3600);
        let fresh = write(hour.join("part-a.parquet#2"), 0);
        let kept = write(hour.join("part-b.parquet"), 3600);
        let not_staging = write(hour.join("notes#v1"), 3600);
        let lone_old = write(lone.join("20260101T010000Z-1h.parquet#1"), 3600);
        assert_eq!(sweep_staging(&lake, STAGING_MAX_AGE), 2);
        assert!(!old.exists() && !lone_old.exists());
        assert!(fresh.exists() && kept.exists() && not_staging.exists());
        assert!(!lone.exists(), "a folder emptied by the sweep is removed");
        assert!(hour.exists());
        // What the sweep leaves, object_store's listing hides; what it lists, it keeps.
        let listed: Vec<String> = lake
            .list("metrics")
            .expect("list")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            listed,
            vec![
                "metrics/date=2026-01-01/hour=01/notes#v1".to_string(),
                "metrics/date=2026-01-01/hour=01/part-b.parquet".to_string()
            ]
        );
        assert_eq!(
            sweep_staging(&lake, std::time::Duration::ZERO),
            1,
            "fresh ones go with a zero age"
        );
    }

    #[test]
    fn parses_partition_folders() {
        assert!(HourPartition::parse("date=2026-01-01", "hour=23").is_some());
        assert!(HourPartition::parse("date=2026-01-01", "hour=24").is_none());
        assert!(HourPartition::parse("date=x", "hour=1").is_none());
    }
}
