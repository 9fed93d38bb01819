//! The `[statistical]` table of a detection and its `[splunk_compat]` overrides, validated.
//!
//! One table describes every detection of the family (the seven of the ESCU story): the entity
//! key, the series a point belongs to, the metrics (gauges, or cumulative counters turned into
//! per-second rates) and the ratios tested, the bucket, K, the minimum count of anomalies and
//! what is counted (10 s rows or single anomalies), the learning period, and, for
//! `--splunk-compat`, the metrics as the SPL reads them, the weekly lookup it joins (or none:
//! an inline baseline) and where the SPL's `fillnull` sits. Invariant: a spec that parses here
//! runs; every name it uses is checked (metric names unique, ratio operands defined, key
//! columns in the points table); its durations are parsed with the spec's others
//! (`spec::Lengths`).

use serde::Deserialize;

/// The family's table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Statistical {
    /// The entity: columns of the points table (findings carry them under the same names).
    pub key: Vec<String>,
    /// The columns the baseline is grouped and joined on (default: `key`). The SPL's join
    /// baselines (#1, #4, #5) leave the cluster out.
    #[serde(default)]
    pub baseline_key: Option<Vec<String>>,
    /// Besides the key, `metric` and `attributes`: what tells two time series apart (a counter's
    /// rate is taken along one series). Default: `process_pid`.
    #[serde(default = "default_series")]
    pub series: Vec<String>,
    /// Bucket width (`10s`, as `span=10s`), aligned to the Unix epoch.
    pub bucket: String,
    /// A value is anomalous when `x > avg + k·σ`.
    pub k: f64,
    /// An entity is a finding when its count is above this (the SPL's `count > 5`).
    pub min_anomalies: u32,
    /// What is counted: anomalous buckets (`rows`) or single (bucket, metric) anomalies.
    pub count: CountMode,
    /// Learning period: a (entity, metric) is judged only with at least this many baseline
    /// buckets (intent only; the SPL has none).
    pub min_baseline_buckets: u32,
    /// How far before a point a counter's previous point is looked for (older: no rate).
    #[serde(default = "default_lookback")]
    pub lookback: String,
    /// How each bucket's value is made from its points (see [`Combine`]).
    pub combine: Combine,
    /// The metrics read; tested themselves unless `ratios` is given.
    pub metrics: Vec<Metric>,
    /// Ratios of two metrics (by name), tested instead of the metrics when present.
    #[serde(default)]
    pub ratios: Vec<Ratio>,
    /// How many of the largest anomalies the evidence lists.
    #[serde(default = "default_top")]
    pub top: u32,
    /// Evidence columns: the value at the entity's first point in the window.
    #[serde(default)]
    pub context: Vec<String>,
}

fn default_series() -> Vec<String> {
    vec!["process_pid".into()]
}
fn default_lookback() -> String {
    "5m".into()
}
fn default_top() -> u32 {
    10
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountMode {
    #[default]
    Rows,
    Anomalies,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// The entity's total: the sum over all its series of each series' mean.
    Sum,
    /// The average process: each `series` group's total over its attributes (a process's
    /// states, directions), averaged over the groups (its pids) — so a second replica of the
    /// same executable on the node is not an anomaly.
    AverageProcess,
    /// The mean of every point (`mstats avg`).
    Mean,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// The point's value.
    Gauge,
    /// A cumulative counter: its reset-aware per-second rate along its series.
    Counter,
}

/// One metric of the points table under the name the findings and lookups use.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub name: String,
    pub metric: String,
    pub kind: MetricKind,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ratio {
    pub name: String,
    pub numerator: String,
    pub denominator: String,
}

/// Where the SPL's `fillnull` (value 0) sits relative to the `x > avg + K·σ` test.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FillNull {
    /// #9, #10: missing values and baselines become 0 before the test; a row whose anomaly
    /// divides by σ = 0 gets a null text and is dropped.
    BeforeTest,
    /// #1, #4, #5: no baseline means no anomaly; a σ = 0 anomaly nulls the row's text, which
    /// `fillnull` turns into "0": one counted anomaly.
    AfterTest,
    /// #2, #3: no fillnull: no baseline means no anomaly; a σ = 0 anomaly drops the row.
    None,
}

/// A weekly Splunk lookup (the SPL's baseline searches B1–B4), built by `kubeseen baseline`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// The lookup's name (`k8s_process_resource_baseline`): its folder in the lake.
    pub name: String,
    /// The baseline search's ESCU id and title.
    pub id: String,
    pub title: String,
    /// The columns its `key` field joins with ":" (`cluster:host.name:exe`).
    pub key: Vec<String>,
    /// What its `stats` groups by (default: `key`).
    #[serde(default)]
    pub by: Option<Vec<String>>,
    /// `span` of its `mstats` (absent: none, statistics over raw points, as B3).
    #[serde(default)]
    pub bucket: Option<String>,
    /// Its own ratio definitions when they differ from the detection's (B4's mem:disk).
    #[serde(default)]
    pub ratios: Option<Vec<Ratio>>,
    /// `fillnull` before `stats` (B4: null ratios count as zeros).
    #[serde(default)]
    pub fillnull_before_stats: bool,
}

/// What `--splunk-compat` replaces in a statistical detection.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatisticalCompat {
    pub metrics: Option<Vec<Metric>>,
    pub ratios: Option<Vec<Ratio>>,
    pub combine: Option<Combine>,
    pub baseline_key: Option<Vec<String>>,
    pub lookup: Option<Lookup>,
    pub fillnull: Option<FillNull>,
    /// Metric names whose σ the SPL computes as their average (#1, #4, #5: `udp.*`).
    pub stdev_as_avg: Option<Vec<String>>,
}

impl Statistical {
    /// The columns it names (for the points-table check) and the checks of its own shape.
    pub fn validate(
        &self,
        compat: Option<(&[String], &StatisticalCompat)>,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let mut cols: Vec<(&'static str, String)> = Vec::new();
        cols.extend(self.key.iter().map(|c| ("statistical.key", c.clone())));
        cols.extend(self.series.iter().map(|c| ("statistical.series", c.clone())));
        cols.extend(self.context.iter().map(|c| ("statistical.context", c.clone())));
        if self.key.is_empty() {
            return Err("statistical.key is empty".into());
        }
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(format!("statistical.k: {} must be a positive number", self.k));
        }
        if self.top == 0 {
            return Err("statistical.top must be at least 1".into());
        }
        let check_bkey = |what: &'static str, bk: &[String], key: &[String]| -> Result<(), String> {
            for c in bk {
                if !key.contains(c) {
                    return Err(format!("{what}: {c:?} must be part of the key"));
                }
            }
            Ok(())
        };
        if let Some(bk) = &self.baseline_key {
            check_bkey("statistical.baseline_key", bk, &self.key)?;
        }
        check_metrics("statistical", &self.metrics, &self.ratios)?;
        if let Some((key, c)) = compat {
            let metrics = c.metrics.as_ref().unwrap_or(&self.metrics);
            let ratios = c.ratios.as_ref().unwrap_or(&self.ratios);
            check_metrics("splunk_compat", metrics, ratios)?;
            if let Some(bk) = &c.baseline_key {
                check_bkey("splunk_compat.baseline_key", bk, key)?;
            }
            if let Some(l) = &c.lookup {
                check_bkey("splunk_compat.lookup.key", &l.key, key)?;
                if let Some(by) = &l.by {
                    check_bkey("splunk_compat.lookup.by", by, key)?;
                    check_bkey("splunk_compat.lookup.key", &l.key, by)?;
                }
                if let Some(r) = &l.ratios {
                    check_metrics("splunk_compat.lookup", metrics, r)?;
                    let names: Vec<&String> = r.iter().map(|r| &r.name).collect();
                    if ratios.iter().any(|x| !names.contains(&&x.name)) || names.len() != ratios.len() {
                        return Err("splunk_compat.lookup.ratios must define the detection's ratios, by name".into());
                    }
                }
                if l.name.is_empty() || !l.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(format!("splunk_compat.lookup.name {:?}: use a-z, 0-9 and _", l.name));
                }
            }
            for n in c.stdev_as_avg.iter().flatten() {
                if !metrics.iter().any(|m| &m.name == n) && !ratios.iter().any(|r| &r.name == n) {
                    return Err(format!(
                        "splunk_compat.stdev_as_avg: {n:?} is not a metric or ratio name"
                    ));
                }
            }
        }
        Ok(cols)
    }
}

fn check_metrics(what: &str, metrics: &[Metric], ratios: &[Ratio]) -> Result<(), String> {
    if metrics.is_empty() {
        return Err(format!("{what}: metrics is empty"));
    }
    for (i, m) in metrics.iter().enumerate() {
        if m.name.is_empty() || m.metric.is_empty() {
            return Err(format!("{what}.metrics: name and metric must not be empty"));
        }
        if metrics[..i].iter().any(|o| o.name == m.name || o.metric == m.metric) {
            return Err(format!(
                "{what}.metrics: {:?} / {:?} appears twice (one entry per metric and name)",
                m.name, m.metric
            ));
        }
    }
    for (i, r) in ratios.iter().enumerate() {
        for operand in [&r.numerator, &r.denominator] {
            if !metrics.iter().any(|m| &m.name == operand) {
                return Err(format!(
                    "{what}.ratios: {:?} uses {operand:?}, which is not the name of a metric",
                    r.name
                ));
            }
        }
        if ratios[..i].iter().any(|o| o.name == r.name) || metrics.iter().any(|m| m.name == r.name) {
            return Err(format!("{what}.ratios: the name {:?} is used twice", r.name));
        }
    }
    Ok(())
}
