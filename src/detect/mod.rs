//! Detect: one window of one detection, from the lake to a findings DataFrame and its counts.
//!
//! In: the lake, a [`Spec`] from `queries/`, `--at` and options. Out: a [`Run`] holding the
//! findings (the columns of the findings contract, sorted by key) and everything the report
//! states: scanned partitions/files/rows, unkeyed points by reason, baseline coverage per node,
//! suppressions, timings. Invariants: only the partitions overlapping `[baseline_start, at)`
//! are listed and scanned, and a time predicate reaches the Parquet scan; the same lake and
//! `--at` give the same rows in the same order; nothing is written here (see `report`).
//!
//! One file per family ([`new_value`], [`rule`], [`statistical`]); [`run`] is the one dispatch on the family.
//! [`window`] holds the window arithmetic, [`outcome`] the [`Run`] every family returns,
//! [`columns`] the findings columns they share, [`backfill`] the single pass over a range.
//! The lake is read only through `lake` (listings, `lake::scan`).

pub mod allowlist;
pub mod backfill;
pub mod columns;
pub mod new_value;
pub mod outcome;
pub mod plan;
pub mod risk_object;
pub mod rule;
pub mod spec;
pub mod statistical;
pub mod suspicious;
pub mod window;

use crate::storage::Location;

pub use backfill::{empty_findings, windows_with_new_keys};
pub use outcome::{DetectError, DetectOptions, NodeCoverage, Run, Scanned};
pub use spec::Spec;
pub use window::{human, lengths, reach, window_for};

/// Runs `spec` for the window of `opts` over `lake`: the family's own run.
pub fn run(lake: &Location, spec: &Spec, opts: &DetectOptions) -> Result<Run, DetectError> {
    match spec.family {
        spec::Family::NewValue => new_value::run(lake, spec, opts),
        spec::Family::Rule => rule::run(lake, spec, opts),
        spec::Family::Statistical => statistical::run(lake, spec, opts),
    }
}
