//! kubeseen: Splunk's "Abnormal Kubernetes Behavior" detections on a plain Parquet data lake.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! ingest   OTLP/JSON, OTLP/protobuf, Splunk CSV (plain, gzip, zstd) → decoded points
//!   │      files, folders, object-store prefixes; every problem a counted rejection
//! lake     points → <lake>/metrics/date=YYYY-MM-DD/hour=HH/part-<hash>.parquet (data time, UTC)
//!   │      idempotent (content-hashed point ids), atomic (one put per object)
//! detect   queries/<detection>.toml → lazy Polars plan (current window anti-join baseline)
//!   │
//! report   findings Parquet + summary JSON/Markdown under the lake + a table on stdout
//!   │
//! risk     each finding → a risk event on its object; per object over 24 h → incidents
//! ```
//!
//! `storage` hides local folders and object stores behind one `Location`; `config` holds the
//! clock (read once) and duration parsing; `generate` writes realistic synthetic exports with
//! labelled attack scenarios; `cmd` holds one file per subcommand (flags → options → stages)
//! and `app` dispatches to them; `text` escapes every untrusted value a person reads (terminal,
//! reports, logs, errors). ARCHITECTURE.md has the map.

pub mod app;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod detect;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod report;
pub mod risk;
pub mod storage;
/// Test-only pause points (see the module): not part of the product.
mod testhook;
pub mod text;
