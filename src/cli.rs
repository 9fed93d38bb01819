//! Command-line interface: clap derive structs only. Precedence: flag > environment > default.
//!
//! Durations and instants are parsed here, by clap's `value_parser`s (a malformed one is a
//! usage error, exit code 2); nothing below the CLI parses duration or instant strings.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{parse_duration, parse_instant, Given};
use crate::storage::parse_timeout;

#[derive(Debug, Parser)]
#[command(
    name = "kubeseen",
    version,
    about = "Splunk's Abnormal Kubernetes Behavior detections on a plain Parquet data lake",
    long_about = "Lands OpenTelemetry metric exports as a Hive-partitioned Parquet lake and runs the \
ESCU \"Abnormal Kubernetes Behavior\" detections on it as lazy Polars queries.\n\n\
Exit codes: 0 success; 1 error; 2 usage error; 3 land: some input was rejected in part or whole, \
its content or the input itself (unreadable even after the retries, or a symlink or special file \
in an input folder; the rest landed, _kubeseen/rejects/ says why); 4 detect/backfill with \
--fail-on-findings: findings were produced (risk with --fail-on-incidents: an incident was raised); 5 storage failed: the lake's object store or folder \
(after the retries), or the listing of an input prefix in an object store (nothing partial was \
written, re-run); 6 the lake is locked by another run (--lock-timeout passed) or this run lost its lock. \
The rule between 3 and 5: one input's bytes are that input's problem (3, the rest lands); the lake, \
or the listing of which inputs there are, is the run's problem (5).\n\n\
Untrusted text: every value from the monitored systems (paths, names, commands) and every input \
name is shown escaped in the table, reports, text logs and errors (\\x1b, \\u{202e}, \\\\); \
Parquet and JSON outputs keep the exact value."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text", env = "KUBESEEN_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `kubeseen=debug`.
    #[arg(long, global = true, default_value = "warn", env = "KUBESEEN_LOG")]
    pub log: String,
    /// S3-compatible endpoint for s3:// URLs, e.g. http://127.0.0.1:9000 (credentials come from
    /// the standard AWS_* environment variables and are never printed).
    #[arg(long, global = true, env = "KUBESEEN_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// With no AWS credentials in the environment, take the EC2 instance profile's from the
    /// instance-metadata service (169.254.169.254). Off: such a run stops and says which
    /// credentials it looked for; the metadata address is never contacted.
    #[arg(long, global = true, env = "KUBESEEN_S3_INSTANCE_CREDENTIALS")]
    pub s3_instance_credentials: bool,
    /// Time limit of one object-store request (s3, gs, az), response body included: 500ms, 30s, 2m.
    #[arg(long, global = true, env = "KUBESEEN_S3_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub s3_timeout: std::time::Duration,
    /// Time limit for connecting to the object store.
    #[arg(long, global = true, env = "KUBESEEN_S3_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_timeout)]
    pub s3_connect_timeout: std::time::Duration,
    /// Retries of a failed object-store request (5xx, 429, reset connection, timeout), with
    /// exponential backoff; 0 disables them.
    #[arg(long, global = true, env = "KUBESEEN_S3_RETRIES", default_value_t = 10)]
    pub s3_retries: usize,
    /// No retry of a request starts later than this after its first attempt.
    #[arg(long, global = true, env = "KUBESEEN_S3_RETRY_TIMEOUT", default_value = "3m", value_parser = parse_timeout)]
    pub s3_retry_timeout: std::time::Duration,
    /// The first retry backoff (then up to twice the previous one, at most 15s).
    #[arg(
        long,
        global = true,
        env = "KUBESEEN_S3_RETRY_BACKOFF",
        default_value = "100ms",
        value_parser = parse_timeout,
        hide = true
    )]
    pub s3_retry_backoff: std::time::Duration,
    /// How long a run that writes to the lake (land, detect, backfill, compact) waits for
    /// another run's writer lock before failing with exit code 6.
    #[arg(long, global = true, env = "KUBESEEN_LOCK_TIMEOUT", default_value = "5m", value_parser = parse_timeout)]
    pub lock_timeout: std::time::Duration,
    /// How long the writer lock stays valid without renewal (renewed every quarter of it); a
    /// run killed on another host blocks the lake at most this long.
    #[arg(long, global = true, env = "KUBESEEN_LOCK_TTL", default_value = "60s", value_parser = parse_timeout, hide = true)]
    pub lock_ttl: std::time::Duration,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Land metric exports (OTLP/JSON, OTLP/protobuf, Splunk CSV; plain, gzip or zstd) into the lake.
    Land(LandArgs),
    /// Run detections for one window.
    Detect(DetectArgs),
    /// Run detections for every window in a range.
    Backfill(BackfillArgs),
    /// Write realistic synthetic OpenTelemetry exports with labelled attack scenarios.
    Generate(GenerateArgs),
    /// Generate a small dataset, land it, detect, and check every injected scenario was found.
    Demo(DemoArgs),
    /// Build the missing or stale hourly rollups of a lake (landing keeps them up to date).
    Compact(CompactArgs),
    /// Add up the findings' risk per object over a sliding window (24 h) and raise incidents.
    Risk(RiskArgs),
    /// Build the SPL's weekly lookup baselines (B1–B4) that --splunk-compat reads, as Parquet.
    Baseline(BaselineArgs),
    /// Print the stable schema of what kubeseen writes: `schema findings` (column, type, meaning).
    Schema(SchemaArgs),
}

/// What `kubeseen schema` describes.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SchemaWhat {
    /// The findings Parquet of every detection.
    Findings,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SchemaFormat {
    Table,
    Json,
}

/// `kubeseen schema` (see `report::schema`).
#[derive(Debug, Args)]
pub struct SchemaArgs {
    pub what: SchemaWhat,
    /// Output on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: SchemaFormat,
    /// The columns under --splunk-compat (the SPL's keys).
    #[arg(long)]
    pub splunk_compat: bool,
    /// Only these detections (slugs); default: every detection.
    #[arg(long = "detection")]
    pub detections: Vec<String>,
    /// Read detections from this folder instead of the built-in queries/.
    #[arg(long, env = "KUBESEEN_QUERIES")]
    pub queries: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// The lake: a local folder or an object-store URL.
    #[arg(long, env = "KUBESEEN_LAKE", default_value = "./data/lake")]
    pub lake: String,
    /// The lookups as of the last weekly run (Sunday 02:00 UTC) before this instant (RFC 3339);
    /// default: now.
    #[arg(long, value_parser = parse_instant)]
    pub at: Option<DateTime<Utc>>,
    /// Only the lookups of these detections (slugs); default: every detection that reads one.
    #[arg(long = "detection")]
    pub detections: Vec<String>,
    /// Recompute a lookup the lake already keeps (default: keep it, so compat re-runs agree).
    #[arg(long)]
    pub rebuild: bool,
    /// Read detections from this folder instead of the built-in queries/.
    #[arg(long, env = "KUBESEEN_QUERIES")]
    pub queries: Option<PathBuf>,
    /// Take "now" from here instead of the system clock (RFC 3339), for reproducible runs.
    #[arg(long, env = "KUBESEEN_NOW", hide = true, value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The lake: a local folder or an object-store URL.
    #[arg(long, env = "KUBESEEN_LAKE", default_value = "./data/lake")]
    pub lake: String,
    /// Only hours overlapping [from, to) (RFC 3339); default: every hour of the lake.
    #[arg(long, value_parser = parse_instant)]
    pub from: Option<DateTime<Utc>>,
    #[arg(long, value_parser = parse_instant)]
    pub to: Option<DateTime<Utc>>,
    /// Build rollups for the detections of this folder instead of the built-in queries/.
    #[arg(long, env = "KUBESEEN_QUERIES")]
    pub queries: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LandArgs {
    /// The lake: a local folder or an object-store URL.
    #[arg(long, env = "KUBESEEN_LAKE", default_value = "./data/lake")]
    pub lake: String,
    /// Files, folders (recursive) or object-store URLs/prefixes.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Reject inputs that decompress to more than this many bytes.
    #[arg(long, default_value_t = 2u64 << 30)]
    pub max_input_bytes: u64,
    /// Reject points more than this far past the clock (e.g. 1d).
    #[arg(long, default_value = "1d", value_parser = parse_duration)]
    pub max_future: Duration,
    /// Take "now" from here instead of the system clock (RFC 3339), for reproducible runs.
    #[arg(long, env = "KUBESEEN_NOW", hide = true, value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
    /// Benchmarks only: decode and count the inputs, write nothing.
    #[arg(long, hide = true)]
    pub decode_only: bool,
    /// Do not rebuild the rollups of the landed hours (run `kubeseen compact` later).
    #[arg(long)]
    pub no_rollups: bool,
    /// The detections whose stale windows landing marks and whose rollups it refreshes: this
    /// folder instead of the built-in queries/.
    #[arg(long, env = "KUBESEEN_QUERIES")]
    pub queries: Option<PathBuf>,
    /// Buffered points are written out past about this many bytes (memory vs file size).
    #[arg(long, hide = true, default_value_t = 64 << 20)]
    pub flush_bytes: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    /// `detect` only: one OCSF Detection Finding per finding, as JSON Lines.
    Ocsf,
}

#[derive(Debug, Args, Clone)]
pub struct DetectCommon {
    /// The lake: a local folder or an object-store URL.
    #[arg(long, env = "KUBESEEN_LAKE", default_value = "./data/lake")]
    pub lake: String,
    /// Run only these detections (slugs); default: all of them.
    #[arg(long = "detection")]
    pub detections: Vec<String>,
    /// Current window length (default: the detection's, 1h).
    #[arg(long, value_parser = parse_duration)]
    pub window: Option<Duration>,
    /// Baseline length before the window (default: the detection's, 30d).
    #[arg(long, value_parser = parse_duration)]
    pub baseline: Option<Duration>,
    /// Reproduce Splunk's SPL literally (pid in the key, process.memory.utilization only).
    #[arg(long)]
    pub splunk_compat: bool,
    /// Allowlist of known-good findings (TOML rules with globs, reason and expiry).
    #[arg(long, env = "KUBESEEN_ALLOWLIST")]
    pub allowlist: Option<PathBuf>,
    /// Read detections from this folder instead of the built-in queries/.
    #[arg(long, env = "KUBESEEN_QUERIES")]
    pub queries: Option<PathBuf>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Exit with code 4 when any finding is produced.
    #[arg(long)]
    pub fail_on_findings: bool,
    /// Read raw points only, ignoring rollups (the reference; slower).
    #[arg(long)]
    pub no_rollups: bool,
    /// Take "now" from here instead of the system clock (RFC 3339), for reproducible runs.
    #[arg(long, env = "KUBESEEN_NOW", hide = true, value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// End of the window (RFC 3339, exclusive); default: the end of the last full hour.
    #[arg(long, value_parser = parse_instant)]
    pub at: Option<DateTime<Utc>>,
    /// Re-run the windows whose findings late data made stale (see `land`), instead of one window.
    #[arg(long)]
    pub stale: bool,
    #[command(flatten)]
    pub common: DetectCommon,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Backfill windows inside [from, to): the first ends at from + every.
    #[arg(long, value_parser = parse_instant)]
    pub from: DateTime<Utc>,
    #[arg(long, value_parser = parse_instant)]
    pub to: DateTime<Utc>,
    /// Step between window ends.
    #[arg(long, default_value = "1h", value_parser = Given::<Duration>::parse_duration)]
    pub every: Given<Duration>,
    /// Only re-run the windows in range that late data made stale.
    #[arg(long)]
    pub stale_only: bool,
    /// Skip windows whose findings are already written and not stale (resume an interrupted backfill).
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub common: DetectCommon,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GenFormat {
    OtlpJson,
    OtlpJsonGz,
    OtlpProto,
    Lake,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GenLayout {
    FileExporter,
    S3Exporter,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output folder or object-store URL.
    #[arg(long)]
    pub out: String,
    #[arg(long, default_value_t = 2)]
    pub clusters: u32,
    /// Nodes per cluster.
    #[arg(long, default_value_t = 4)]
    pub nodes: u32,
    /// Application processes per node (system daemons come on top).
    #[arg(long, default_value_t = 30)]
    pub processes: u32,
    #[arg(long, default_value_t = 31)]
    pub days: u32,
    /// Scrape interval.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub interval: Duration,
    /// End of the data (exclusive, RFC 3339); default: the end of the last full hour.
    #[arg(long, value_parser = parse_instant)]
    pub end: Option<DateTime<Utc>>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "otlp-json-gz")]
    pub format: GenFormat,
    #[arg(long, value_enum, default_value = "file-exporter")]
    pub layout: GenLayout,
    /// Also emit process.cpu.utilization and process.memory.utilization (off by default in the Collector).
    #[arg(long)]
    pub utilization: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo keeps its exports and lake.
    #[arg(long, default_value = "./data/demo")]
    pub dir: PathBuf,
    /// Regenerate the data even if the folder already holds this demo's data.
    #[arg(long)]
    pub fresh: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RiskFormat {
    Table,
    Json,
    Markdown,
}

/// `kubeseen risk` (see `cmd::risk`).
#[derive(Debug, Args)]
pub struct RiskArgs {
    /// The lake: a local folder or an object-store URL.
    #[arg(long, env = "KUBESEEN_LAKE", default_value = "./data/lake")]
    pub lake: String,
    /// End of the risk window (RFC 3339, exclusive); default: the end of the last full hour.
    #[arg(long, value_parser = parse_instant)]
    pub at: Option<DateTime<Utc>>,
    /// The sliding window each object's risk is added up over: [at − window, at).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub window: Duration,
    /// Output on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: RiskFormat,
    /// Read the events of --splunk-compat runs (bare host values) and use the stock rules (> 100).
    #[arg(long)]
    pub splunk_compat: bool,
    /// Incident rules from this folder instead of the built-in queries/risk/.
    #[arg(long, env = "KUBESEEN_RISK_RULES")]
    pub rules: Option<PathBuf>,
    /// Exit with code 4 when an incident is raised.
    #[arg(long)]
    pub fail_on_incidents: bool,
    /// Take "now" from here instead of the system clock (RFC 3339), for reproducible runs.
    #[arg(long, env = "KUBESEEN_NOW", hide = true, value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
}
