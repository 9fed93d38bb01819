//! The generator's shared data: time units (ns since the epoch), the run's [`Frame`] and the
//! detections' [`Windows`], and the ground truth's [`Scenario`] and [`NodeTruth`] entries.
//!
//! In: the detection names (`names::key_columns`). Out: plain types every other module of
//! `generate` builds or reads; nothing here simulates or writes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::names::key_columns;

pub(crate) const NS: u64 = 1_000_000_000;
pub(crate) const MINUTE: u64 = 60 * NS;
pub(crate) const HOUR: u64 = 60 * MINUTE;
pub(crate) const DAY: u64 = 24 * HOUR;
/// "Not scheduled" / "runs until the end of the data".
pub(crate) const NEVER: u64 = u64::MAX;

/// An instant in ns since the epoch as a UTC time (saturating past year 2262).
pub(crate) fn utc(ns: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns.min(i64::MAX as u64) as i64)
}

/// Data-time frame of a run, in ns since the epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub start: u64,
    pub end: u64,
    pub interval: u64,
    pub days: u32,
}

impl Frame {
    /// When a node that joins part-way joins: two days before the end (less for short runs,
    /// but always more than a day and an hour, so its daily jobs are already in its baseline).
    pub(crate) fn late_join(&self) -> u64 {
        self.end - (2 * DAY).min(u64::from(self.days) * 18 * HOUR)
    }

    /// A scenario run of nominal length `nominal`, at least one interval and a minute, so at
    /// least one scrape sees it.
    pub(crate) fn len(&self, nominal: u64) -> u64 {
        nominal.max(self.interval + MINUTE)
    }

    pub(crate) fn windows(&self) -> Windows {
        Windows {
            window_start: self.end - HOUR,
            baseline_start: self.end.saturating_sub(30 * DAY),
            end: self.end,
        }
    }
}

/// The detections' windows, ns since the epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Windows {
    pub window_start: u64,
    pub baseline_start: u64,
    pub end: u64,
}

/// One expectation of the ground truth: what a detection reports (or not) for one key of one
/// scenario. A scenario has an entry per detection it is about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The detection slug (one of [`DETECTIONS`]).
    pub detection: String,
    /// The findings key: column → value ([`key_columns`]; `process_pid` as decimal text).
    pub key: BTreeMap<String, String>,
    /// RFC 3339 end of the hourly window in which a correct run finds it (start inclusive/end exclusive)
    pub window_end: String,
    pub expect_finding: bool,
    /// New-value detections: the `baseline_complete` a correct finding carries.
    pub expect_baseline_complete: Option<bool>,
}

/// A node of the dataset, as the ground truth lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeTruth {
    pub k8s_cluster_name: String,
    pub k8s_node_name: String,
    pub host_name: String,
    /// RFC 3339 time of the node's first scrape.
    pub first_scrape: String,
    /// Joined part-way through the data.
    pub joined_late: bool,
    /// What a detection at `end` reports as `baseline_complete` for findings on this node.
    pub expect_baseline_complete: bool,
}

/// One expectation: `values` in [`key_columns`] order.
pub(crate) fn entry(
    name: &str,
    description: &str,
    detection: &str,
    values: Vec<String>,
    window_end: &str,
    expect_finding: bool,
    expect_baseline_complete: Option<bool>,
) -> Scenario {
    Scenario {
        name: name.to_string(),
        description: description.to_string(),
        detection: detection.to_string(),
        key: key_columns(detection)
            .iter()
            .map(|c| c.to_string())
            .zip(values)
            .collect(),
        window_end: window_end.to_string(),
        expect_finding,
        expect_baseline_complete,
    }
}
