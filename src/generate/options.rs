//! What `generate` is asked for: [`GenerateOptions`] with its output formats and layouts,
//! their validation into a [`Frame`], and what can go wrong ([`GenerateError`]).
//!
//! In: the shared time units and `Frame` of `model`. Out: the options, checked before anything
//! is simulated.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::model::{Frame, DAY, NS};
use crate::config::fmt_instant;
use crate::storage::StorageError;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub clusters: u32,
    /// Per cluster.
    pub nodes: u32,
    /// Application processes per node (host daemons, add-ons and shims come on top).
    pub processes: u32,
    pub days: u32,
    /// Scrape interval (also the cluster receiver's and the reducer's).
    pub interval: Duration,
    /// Data ends just before this instant (exclusive).
    pub end: DateTime<Utc>,
    pub seed: u64,
    pub format: OutputFormat,
    pub layout: Layout,
    /// Also emit `process.cpu.utilization` and `process.memory.utilization` (off by default,
    /// as in the Collector).
    pub utilization: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        let now = crate::config::Clock::system().last_full_hour();
        GenerateOptions {
            clusters: 2,
            nodes: 4,
            processes: 30,
            days: 31,
            interval: Duration::seconds(60),
            end: now,
            seed: 1,
            format: OutputFormat::OtlpJson,
            layout: Layout::FileExporter,
            utilization: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    OtlpJson,
    OtlpJsonGz,
    OtlpProto,
    Lake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    FileExporter,
    S3Exporter,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 4] = [
        OutputFormat::OtlpJson,
        OutputFormat::OtlpJsonGz,
        OutputFormat::OtlpProto,
        OutputFormat::Lake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::OtlpJson => "otlp-json",
            OutputFormat::OtlpJsonGz => "otlp-json-gz",
            OutputFormat::OtlpProto => "otlp-proto",
            OutputFormat::Lake => "lake",
        }
    }
}

impl Layout {
    pub const ALL: [Layout; 2] = [Layout::FileExporter, Layout::S3Exporter];

    pub fn as_str(self) -> &'static str {
        match self {
            Layout::FileExporter => "file-exporter",
            Layout::S3Exporter => "s3-exporter",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown format {s:?} (otlp-json, otlp-json-gz, otlp-proto, lake)"))
    }
}

impl FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown layout {s:?} (file-exporter, s3-exporter)"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid generate options: {0}")]
    Options(String),
    #[error("writing {object}: {source}")]
    Write {
        object: String,
        #[source]
        source: Box<StorageError>,
    },
    #[error("compressing {object}: {source}")]
    Compress {
        object: String,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding Parquet for {object}: {source}")]
    Parquet {
        object: String,
        #[source]
        source: Box<polars::prelude::PolarsError>,
    },
    #[error("encoding {object}: {source}")]
    Json {
        object: String,
        #[source]
        source: serde_json::Error,
    },
    /// The generator's labels and its oracle disagree (a generator bug; nothing is written).
    #[error("ground truth for seed {seed} disagrees with the generated points: {detail}")]
    GroundTruth { seed: u64, detail: String },
}

pub(crate) fn validate(opts: &GenerateOptions) -> Result<Frame, GenerateError> {
    let bad = |m: String| Err(GenerateError::Options(m));
    if opts.clusters == 0 || opts.clusters > 1000 {
        return bad(format!("clusters must be 1 to 1000, not {}", opts.clusters));
    }
    if opts.nodes < 2 || opts.nodes > 10_000 {
        return bad(format!(
            "nodes must be 2 to 10000 per cluster (the last one joins late), not {}",
            opts.nodes
        ));
    }
    if opts.processes > 10_000 {
        return bad(format!(
            "processes must be at most 10000 per node, not {}",
            opts.processes
        ));
    }
    if opts.days < 2 || opts.days > 3660 {
        return bad(format!(
            "days must be 2 to 3660 (daily jobs need a previous day in the baseline), not {}",
            opts.days
        ));
    }
    let interval = opts.interval.num_nanoseconds().unwrap_or(0);
    if !(1_000_000_000..=900_000_000_000).contains(&interval) {
        return bad(format!(
            "interval must be 1 s to 15 min, not {} s",
            opts.interval.num_milliseconds() as f64 / 1000.0
        ));
    }
    let end = opts.end.timestamp_nanos_opt().unwrap_or(-1);
    let span = i64::from(opts.days) * DAY as i64;
    // Nodes booted up to 45 days before the data; the lake rejects points before 2000.
    let earliest = crate::config::CUTOFF_UNIX_SECONDS * NS as i64 + 46 * DAY as i64;
    if end < 0 || end - span < earliest {
        return bad(format!(
            "end {} minus {} days starts before 2000-02-16",
            fmt_instant(opts.end),
            opts.days
        ));
    }
    Ok(Frame {
        start: (end - span) as u64,
        end: end as u64,
        interval: interval as u64,
        days: opts.days,
    })
}
