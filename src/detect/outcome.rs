//! What a detection run produces, for every family: the [`Run`], its counts, its errors and
//! the options it ran with.
//!
//! Invariants: every family builds its `Run` through [`Run::new`] (one constructor, one
//! literal); `last_point` is computed one way ([`last_point`]) for every family.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use polars::prelude::*;
use serde::Serialize;

use super::allowlist::{self, Allowlist, Suppressed};
use super::plan::{Logic, Window};
use super::spec::Spec;
use crate::config::Clock;
use crate::lake::rollup::RollupShape;
use crate::lake::LakeError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("{0}")]
    Invalid(String),
    #[error("{detection}: query failed: {source}")]
    Query { detection: String, source: PolarsError },
    #[error(transparent)]
    Allowlist(#[from] allowlist::AllowlistError),
    #[error("a writer thread panicked")]
    WriterPanicked,
}

#[derive(Debug, Clone)]
pub struct DetectOptions {
    pub at: Option<DateTime<Utc>>,
    pub window: Option<Duration>,
    pub baseline: Option<Duration>,
    pub splunk_compat: bool,
    pub allowlist: Option<Allowlist>,
    pub clock: Clock,
    /// Read whole baseline hours from rollups of this shape where a valid one exists
    /// (`None`: raw points only — the reference every rollup read must match).
    pub rollups: Option<RollupShape>,
}

/// What was read for a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scanned {
    pub partitions: u64,
    pub files: u64,
    pub bytes: u64,
    pub current_files: u64,
    pub current_points: i64,
    pub baseline_points: i64,
    pub baseline_keys: u64,
    /// Baseline hours read from rollups (through `rollup_objects` hour and day rollups), and
    /// baseline hours (whole or partial) read from raw points.
    pub rollup_hours: u64,
    pub rollup_objects: u64,
    pub raw_hours: u64,
    /// Raw part files (and their bytes) actually read: the window's and the raw baseline hours'.
    /// `files`/`bytes` count every part file in range.
    pub raw_files: u64,
    pub raw_bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeCoverage {
    pub k8s_cluster_name: String,
    pub k8s_node_name: String,
    /// The node's first sighting in the baseline, if any.
    pub first_seen: Option<String>,
}

/// One detection run over one window.
#[derive(Clone)]
pub struct Run {
    pub spec: Spec,
    pub logic: Logic,
    pub splunk_compat: bool,
    pub window: Window,
    pub findings: DataFrame,
    pub scanned: Scanned,
    /// Presence points of the window / baseline lacking a key attribute, by reason.
    pub unkeyed_current: BTreeMap<String, i64>,
    pub unkeyed_baseline: BTreeMap<String, i64>,
    pub nodes_in_window: u64,
    pub incomplete_nodes: Vec<NodeCoverage>,
    pub suppressed: Vec<Suppressed>,
    pub expired_rules: Vec<String>,
    pub warnings: Vec<String>,
    pub timings_ms: BTreeMap<String, u64>,
    /// The latest presence point in the window: how fresh the data was when the run read it.
    pub last_point: Option<DateTime<Utc>>,
}

impl Run {
    /// A run of `spec` over `window` with these findings and nothing counted yet: each family
    /// fills in what it measured.
    pub fn new(spec: &Spec, opts: &DetectOptions, window: Window, findings: DataFrame) -> Run {
        Run {
            spec: spec.clone(),
            logic: Logic::of(spec, opts.splunk_compat),
            splunk_compat: opts.splunk_compat,
            window,
            findings,
            scanned: Scanned::default(),
            unkeyed_current: BTreeMap::new(),
            unkeyed_baseline: BTreeMap::new(),
            nodes_in_window: 0,
            incomplete_nodes: Vec::new(),
            suppressed: Vec::new(),
            expired_rules: Vec::new(),
            warnings: Vec::new(),
            timings_ms: BTreeMap::new(),
            last_point: None,
        }
    }

    /// This run's result moved to the window ending at `end` (for empty results, which are
    /// the same for every window).
    pub fn clone_for(&self, end: DateTime<Utc>) -> Run {
        let mut r = self.clone();
        let (current, baseline) = (
            self.window.end - self.window.start,
            self.window.end - self.window.baseline_start,
        );
        r.window = Window::ending_at(end, current, baseline);
        r
    }

    /// Applies the allowlist of `opts` (if any) to the findings: keeps the others, records the
    /// suppressed ones and the names of the rules expired at the window's end.
    pub fn allowlist(&mut self, opts: &DetectOptions, key: &[String]) -> Result<(), DetectError> {
        let Some(a) = &opts.allowlist else { return Ok(()) };
        self.expired_rules = a.expired(self.window.end).iter().map(|r| r.name.clone()).collect();
        let found = std::mem::replace(&mut self.findings, DataFrame::empty());
        let (kept, sup) = a.apply(&self.spec.slug, self.window.end, found, key)?;
        self.findings = kept;
        self.suppressed = sup;
        Ok(())
    }
}

/// The latest `time` of the points `current`: how fresh the data was when a run read it.
pub fn last_point(current: LazyFrame) -> Option<DateTime<Utc>> {
    let df = current
        .select([col("time").max().cast(DataType::Int64)])
        .collect()
        .ok()?;
    let us = df.column("time").ok()?.i64().ok()?.get(0)?;
    DateTime::from_timestamp_micros(us)
}

/// A one-row frame of counts as a map (column → count).
pub fn counts(df: &DataFrame) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for c in df.columns() {
        let v = c.get(0).ok().and_then(|v| v.extract::<i64>()).unwrap_or(0);
        out.insert(c.name().to_string(), v);
    }
    out
}

/// The error of a failed query of `slug`.
pub fn query_error(slug: &str) -> impl Fn(PolarsError) -> DetectError + '_ {
    move |source| DetectError::Query {
        detection: slug.to_string(),
        source,
    }
}
