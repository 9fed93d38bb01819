//! Lake: the Hive-partitioned Parquet layout every stage shares.
//!
//! ```text
//! <lake>/metrics/date=YYYY-MM-DD/hour=HH/part-<content hash>.parquet   landed points (DATA time, UTC)
//! <lake>/findings/detection=<slug>/date=YYYY-MM-DD/<window end>.parquet  one file per window
//! <lake>/rollups/presence/<cols>/date=/hour=/<sources>.parquet       per-hour presence tables
//! <lake>/rollups/moments/<shape>/date=/hour=/<sources>.parquet       per-hour statistical moments
//! <lake>/rollups/moments/<shape>/date=/day-<sources>.parquet          per-day merge of those hours
//! <lake>/lookups/<name>/<run>.parquet                                  the SPL's weekly lookups (compat)
//! <lake>/reports/…                                                     run summaries
//! <lake>/risk/events/…, risk/incidents/…                              risk events and incidents ([`risk`])
//! <lake>/_kubeseen/rejects/<input hash>.json                           why an input was (partly) rejected
//! <lake>/_kubeseen/locks/writer/<generation>.json                      the writer lock (see `lock`)
//! ```
//! Invariant: an object is visible only when complete (one `put` each, see `storage`); object
//! names are derived from content, so writing the same thing twice writes the same name.
//! A local lake's `put` stages the bytes in `<name>#<n>` and renames it; a writer killed in
//! between leaves that file, which no listing shows (object_store skips `#<digits>` names, and
//! `*.parquet` globs do not match it); [`sweep_staging`] removes those of dead writers.
//! This module is the only place that knows these paths: [`layout`] the partitions and their
//! listings, [`keys`] the names of findings, reports and state objects, [`scan`] every Polars
//! scan of the lake, [`stale`] the stale-window state, [`followup`] landing's follow-up work
//! (stale marks, rollups), [`staging`] the sweep of killed writers' staging files, [`risk`] the
//! risk events', incidents' and risk reports' keys and listings. The items
//! re-exported here are for the stages above `lake`; the submodules import each other's
//! modules directly, never this one.

pub mod error;
pub mod followup;
pub mod keys;
pub mod land;
pub mod layout;
pub mod lock;
pub mod moments;
pub mod risk;
pub mod rollup;
pub mod scan;
pub mod schema;
pub mod staging;
pub mod stale;

pub use error::LakeError;
pub use layout::{
    list_parts, parquet_bytes, parts_between, HourPartition, PartFile, FINDINGS, METRICS, REJECTS, REPORTS,
};
pub use staging::{sweep_staging, STAGING_MAX_AGE};
