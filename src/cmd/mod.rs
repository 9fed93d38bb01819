//! The subcommands, one file each: typed flags (parsed by `cli`) → validated options → the
//! library's stages → an exit code and what the user reads on stdout.
//!
//! In: a `cli::Command`'s arguments and the run's [`StoreOptions`]. Out: an exit code
//! ([`exit`]). Invariants: a command that writes to the lake opens it once and holds its writer
//! lock ([`locked`]) around that one handle for the whole run; pipeline decisions (what landing
//! marks stale, which windows a backfill runs) live in the library, not here.

pub mod backfill;
pub mod baseline;
pub mod compact;
pub mod demo;
pub mod detect;
pub mod generate;
pub mod land;
pub mod risk;
pub mod schema;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use crate::cli;
use crate::config::{cutoff, fmt_instant, Clock};
use crate::lake::lock::{LockError, LockOptions, WriterLock};
use crate::storage::{Location, RetrySettings, StoreOptions};

/// Exit codes (documented in README.md and `kubeseen --help`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const REJECTED_INPUT: i32 = 3;
    pub const FINDINGS: i32 = 4;
    /// The object store (or local folder) of the lake or an input failed, after the retries.
    pub const STORAGE: i32 = 5;
    /// Another run held the lake's writer lock past `--lock-timeout`, or this run lost it.
    pub const LOCKED: i32 = 6;
}

/// The object-store settings of the global flags.
pub fn store_options(cli: &cli::Cli) -> StoreOptions {
    StoreOptions {
        s3_endpoint: cli.s3_endpoint.clone(),
        retry: RetrySettings {
            timeout: cli.s3_timeout,
            connect_timeout: cli.s3_connect_timeout,
            max_retries: cli.s3_retries,
            retry_timeout: cli.s3_retry_timeout,
            backoff: cli.s3_retry_backoff,
        },
        lock_timeout: cli.lock_timeout,
        lock_ttl: cli.lock_ttl,
        s3_instance_credentials: cli.s3_instance_credentials,
    }
}

/// Opens the lake `spec` (`--lake`), once per run.
pub fn open_lake(spec: &str, store: &StoreOptions, create: bool) -> Result<Location> {
    // The error names the lake without credentials; `spec` may carry them.
    Location::open(spec, store, create).context("--lake")
}

/// Runs `f` on `lake` holding its writer lock (see `lake::lock`), after sweeping the staging
/// files killed writers left. If the lock is lost while held, the process stops at once with
/// exit code 6 (5 if the store failed).
pub fn locked(
    lake: &Location,
    store: &StoreOptions,
    command: &str,
    f: impl FnOnce(&Location) -> Result<i32>,
) -> Result<i32> {
    let opts = LockOptions {
        timeout: store.lock_timeout,
        ttl: store.lock_ttl,
        command: command.to_string(),
    };
    let lock = WriterLock::acquire(
        lake,
        &opts,
        Some(Box::new(|e: &LockError| {
            eprintln!("kubeseen: error: {}", crate::text::Escaped(&e.to_string()));
            std::process::exit(match e {
                LockError::Lost { storage: true, .. } => exit::STORAGE,
                _ => exit::LOCKED,
            });
        })),
    )?;
    crate::testhook::pause(|| "locked".into());
    crate::lake::sweep_staging(lake, crate::lake::STAGING_MAX_AGE);
    let code = f(lake)?;
    match lock.release() {
        Err(LockError::Storage(e)) => {
            // The work is done; the next run takes the lock over (at once on this host).
            tracing::warn!("could not release the writer lock of {}: {e}", lake.display());
        }
        other => other?,
    }
    Ok(code)
}

/// The run's clock: `--now` when given, else the system's.
pub fn clock(now: Option<DateTime<Utc>>) -> Clock {
    now.map_or_else(Clock::system, Clock::fixed)
}

/// Windows end after 2000: land rejects earlier points, and findings and reports are named by
/// the window's date (see [`crate::config::CUTOFF_UNIX_SECONDS`]).
pub fn not_before_2000(t: DateTime<Utc>, flag: &str) -> Result<()> {
    if t < cutoff() {
        bail!(
            "{flag} {}: before 2000-01-01, where the lake holds no data (land rejects earlier points)",
            fmt_instant(t)
        );
    }
    Ok(())
}

/// [`exit::FINDINGS`] when `--fail-on-findings` asked for it and there are findings.
pub fn findings_exit(fail_on_findings: bool, total: u64) -> i32 {
    if fail_on_findings && total > 0 {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

/// Prints `value` as pretty JSON with every object's keys sorted (what the summaries built as
/// `serde_json::Value` always printed; struct outputs such as `LandReport` keep field order).
pub fn print_sorted_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", crate::report::sorted_json(value)?);
    Ok(())
}
