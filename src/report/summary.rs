//! The typed summary of a run: what the JSON and Markdown reports, the terminal table and the
//! CLI all read. Field names are the JSON report's keys (printed sorted).

use std::collections::BTreeMap;

use chrono::DateTime;
use polars::prelude::*;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::fmt_instant;
use crate::detect::allowlist::Suppressed;
use crate::detect::{NodeCoverage, Run, Scanned};
use crate::storage::Location;

/// The summary of one detection run over one window.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub kubeseen_version: String,
    pub detection: String,
    pub detection_id: String,
    pub name: String,
    pub family: String,
    /// `intent` or `splunk_compat`.
    pub mode: String,
    pub key: Vec<String>,
    pub window_start: String,
    pub window_end: String,
    pub baseline_start: String,
    pub lake: String,
    pub scanned: Scanned,
    pub unkeyed_points: UnkeyedPoints,
    pub coverage: Coverage,
    pub findings_count: usize,
    pub findings_by_node: Vec<NodeFindings>,
    pub suppressed: SuppressedSummary,
    pub expired_allowlist_rules: Vec<String>,
    pub warnings: Vec<String>,
    pub data_freshness: DataFreshness,
    pub timings_ms: BTreeMap<String, u64>,
    pub outputs: Written,
    /// The findings rows (columns vary by detection), times as RFC 3339.
    pub findings: Vec<Value>,
    /// The statistical family: how the baseline was read, entities evaluated and not judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistical: Option<crate::detect::statistical::Judged>,
    /// The statistical family: a chart per finding, beside the report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<ChartLink>,
    /// The findings as OCSF Detection Findings (`detect --format ocsf`); in the lake, not in
    /// the summary.
    #[serde(skip)]
    pub ocsf: Vec<Value>,
}

/// A finding's chart: the finding, its key values (exact; escaped where shown), the file name
/// beside the report and where it is.
#[derive(Debug, Clone, Serialize)]
pub struct ChartLink {
    pub finding_uid: String,
    pub entity: Vec<String>,
    pub file: String,
    pub chart: String,
}

/// Points lacking a key attribute, by reason, in the window and in the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct UnkeyedPoints {
    pub current: BTreeMap<String, i64>,
    pub baseline: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub nodes_in_window: u64,
    pub nodes_with_incomplete_baseline: Vec<NodeCoverage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeFindings {
    pub k8s_cluster_name: String,
    pub k8s_node_name: String,
    pub findings: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuppressedSummary {
    pub count: usize,
    pub by_rule: BTreeMap<String, u64>,
    pub findings: Vec<Suppressed>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataFreshness {
    pub last_point_in_window: Option<String>,
    pub seconds_before_window_end: Option<f64>,
}

impl Summary {
    /// The summary of `run`, written to `written`; `timings_extra` adds to the run's timings.
    pub fn of(lake: &Location, run: &Run, written: &Written, timings_extra: &[(&str, u64)]) -> Summary {
        let rows = rows_json(&run.findings);
        let mut by_node: BTreeMap<(String, String), u64> = BTreeMap::new();
        for r in &rows {
            let c = r["k8s_cluster_name"].as_str().unwrap_or("").to_string();
            let n = r["k8s_node_name"].as_str().unwrap_or("").to_string();
            *by_node.entry((c, n)).or_default() += 1;
        }
        let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
        for s in &run.suppressed {
            *by_rule.entry(s.rule.clone()).or_default() += 1;
        }
        let mut timings = run.timings_ms.clone();
        for (k, v) in timings_extra {
            timings.insert(k.to_string(), *v);
        }
        Summary {
            kubeseen_version: env!("CARGO_PKG_VERSION").to_string(),
            detection: run.spec.slug.clone(),
            detection_id: run.spec.id.clone(),
            name: run.spec.name.clone(),
            family: run.spec.family.as_str().to_string(),
            mode: if run.splunk_compat { "splunk_compat" } else { "intent" }.to_string(),
            key: run.logic.key.clone(),
            window_start: fmt_instant(run.window.start),
            window_end: fmt_instant(run.window.end),
            baseline_start: fmt_instant(run.window.baseline_start),
            lake: lake.display().to_string(),
            scanned: run.scanned.clone(),
            unkeyed_points: UnkeyedPoints {
                current: run.unkeyed_current.clone(),
                baseline: run.unkeyed_baseline.clone(),
            },
            coverage: Coverage {
                nodes_in_window: run.nodes_in_window,
                nodes_with_incomplete_baseline: run.incomplete_nodes.clone(),
            },
            findings_count: rows.len(),
            findings_by_node: by_node
                .into_iter()
                .map(|((c, n), k)| NodeFindings {
                    k8s_cluster_name: c,
                    k8s_node_name: n,
                    findings: k,
                })
                .collect(),
            suppressed: SuppressedSummary {
                count: run.suppressed.len(),
                by_rule,
                findings: run.suppressed.clone(),
            },
            expired_allowlist_rules: run.expired_rules.clone(),
            warnings: run.warnings.clone(),
            data_freshness: DataFreshness {
                last_point_in_window: run.last_point.map(fmt_instant),
                seconds_before_window_end: run
                    .last_point
                    .map(|t| (run.window.end - t).num_milliseconds() as f64 / 1000.0),
            },
            timings_ms: timings,
            outputs: written.clone(),
            findings: rows,
            statistical: run.statistical.clone(),
            charts: Vec::new(),
            ocsf: Vec::new(),
        }
    }
}

/// Where a run's outputs go.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub findings: String,
    pub report_json: String,
    pub report_md: String,
    /// The findings as OCSF Detection Findings (JSON Lines and Security Lake Parquet).
    pub ocsf: OcsfWritten,
}

/// Where a run's OCSF records went (`report::ocsf`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OcsfWritten {
    pub jsonl: String,
    /// One Parquet object per cluster and event day (none for a run without findings).
    pub parquet: Vec<String>,
}

/// A cell as JSON: times as RFC 3339 UTC, lists as arrays.
fn cell(v: AnyValue<'_>) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => json!(b),
        AnyValue::String(s) => json!(s),
        AnyValue::StringOwned(s) => json!(s.as_str()),
        AnyValue::Int64(i) => json!(i),
        AnyValue::Int32(i) => json!(i),
        AnyValue::UInt32(i) => json!(i),
        AnyValue::UInt64(i) => json!(i),
        AnyValue::Float64(f) => json!(f),
        AnyValue::Datetime(us, TimeUnit::Microseconds, _) | AnyValue::DatetimeOwned(us, TimeUnit::Microseconds, _) => {
            DateTime::from_timestamp_micros(us)
                .map(|t| json!(fmt_instant(t)))
                .unwrap_or(Value::Null)
        }
        AnyValue::List(s) => Value::Array(s.iter().map(cell).collect()),
        AnyValue::Float32(f) => json!(f),
        v @ (AnyValue::Struct(..) | AnyValue::StructOwned(..)) => match v.into_static() {
            AnyValue::StructOwned(b) => {
                let (values, fields) = *b;
                Value::Object(
                    fields
                        .iter()
                        .zip(values)
                        .map(|(f, v)| (f.name().to_string(), cell(v)))
                        .collect(),
                )
            }
            other => json!(other.to_string()),
        },
        other => json!(other.to_string()),
    }
}

/// The rows of `df` as JSON objects.
pub fn rows_json(df: &DataFrame) -> Vec<Value> {
    (0..df.height())
        .map(|i| {
            let mut m = Map::new();
            for c in df.columns() {
                m.insert(c.name().to_string(), c.get(i).map(cell).unwrap_or(Value::Null));
            }
            Value::Object(m)
        })
        .collect()
}
