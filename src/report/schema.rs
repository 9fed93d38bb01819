//! The findings schema of every detection, for notebooks and other readers of the lake:
//! `kubeseen schema findings` prints it (column, type, meaning; `--format json`).
//!
//! In: the detections loaded (whatever `queries/` holds: this module names none) and the mode.
//! Out: per detection, the columns its findings Parquet has, in order, with a stable type name
//! ([`type_name`]) and what the column means ([`meaning`], one dictionary for every family).
//! Invariants: the columns and types are the ones the code writes — each detection is run once
//! on an empty scratch lake (a run without rows has the same columns and types as one with
//! rows; tests/it checks that against every golden run of every detection and mode) — and a
//! column without a documented meaning is reported as such, never invented.

use polars::prelude::*;
use serde::Serialize;

use crate::config::{parse_instant, Clock};
use crate::detect::spec::Spec;
use crate::detect::{self, DetectOptions};
use crate::storage::{Location, StoreOptions};

/// One column of a detection's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnDoc {
    pub name: String,
    /// `string`, `int64`, `float64`, `bool`, `timestamp[us, UTC]`, `list<…>`, `struct<…>`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// What it holds; `null` when the column is not documented yet.
    pub meaning: Option<String>,
}

/// The findings columns of one detection in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct FindingsSchema {
    pub detection: String,
    pub detection_id: String,
    pub family: String,
    /// `intent` or `splunk_compat`.
    pub mode: String,
    pub columns: Vec<ColumnDoc>,
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the scratch lake {path}: {source}")]
    Scratch { path: String, source: std::io::Error },
    #[error("running {detection} on the empty scratch lake: {source}")]
    Run {
        detection: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A stable name of a findings column's type (Arrow's spelling, lower case).
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::String => "string".into(),
        DataType::Boolean => "bool".into(),
        DataType::Int64 => "int64".into(),
        DataType::Int32 => "int32".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float64 => "float64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Datetime(unit, tz) => format!(
            "timestamp[{}, {}]",
            match unit {
                TimeUnit::Nanoseconds => "ns",
                TimeUnit::Microseconds => "us",
                TimeUnit::Milliseconds => "ms",
            },
            tz.as_ref().map_or("naive", |z| z.as_str())
        ),
        DataType::List(inner) => format!("list<{}>", type_name(inner)),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), type_name(f.dtype())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The columns of a findings frame with their types and meanings.
pub fn columns_of(df: &DataFrame) -> Vec<ColumnDoc> {
    df.columns()
        .iter()
        .map(|c| ColumnDoc {
            name: c.name().to_string(),
            type_name: type_name(c.dtype()),
            meaning: meaning(c.name()).map(str::to_string),
        })
        .collect()
}

/// What a findings column means (every family's columns; `None`: undocumented).
pub fn meaning(column: &str) -> Option<&'static str> {
    Some(match column {
        "detection_id" => "the ESCU detection id (UUID)",
        "detection" => "the detection's slug (its file in queries/)",
        "window_start" | "window_end" => "the window judged, [window_start, window_end), UTC",
        "baseline_start" => "the baseline starts here (it ends at window_start, or at baseline_end)",
        "baseline_end" => "the baseline ends here, exclusive (statistical: the SPL's weekly lookup may end earlier)",
        "k8s_cluster_name" => "k8s.cluster.name",
        "k8s_node_name" => "k8s.node.name",
        "k8s_namespace_name" => "k8s.namespace.name",
        "k8s_pod_name" => "k8s.pod.name",
        "host_name" => "host.name (context: the first value seen)",
        "container_image_name" => "container.image.name",
        "process_executable_path" => "process.executable.path",
        "process_executable_name" => "process.executable.name",
        "process_command" => "process.command (context: the first value seen)",
        "process_owner" => "process.owner (context: the first value seen)",
        "process_pid" => "process.pid",
        "process_pids" => "the distinct pids seen in the window",
        "source_workload_name" => "the edge's source workload",
        "dest_workload_name" => "the edge's destination workload",
        "first_seen" | "last_seen" => "the key's first and last data point in the window",
        "samples" => "data points of the key's presence (or tested) metrics in the window",
        "baseline_complete" => "the lake covers the whole baseline for this node (false: it may only look new)",
        "cluster_prevalence" => "other nodes of the cluster that had the key in the baseline",
        "cluster_first_seen" => "the key's first sighting anywhere in the cluster in the baseline",
        "node_first_seen" => "the node's first data point in the baseline",
        "active_buckets" => "10 s buckets in which the process was active",
        "cpu_active" | "memory_active" => "the rule's CPU / memory activity signal fired",
        "process_cpu_time_increase" => "increase of process.cpu.time over the window (s)",
        "process_cpu_utilization" => "largest process.cpu.utilization in the window",
        "process_memory_usage" => "largest process.memory.usage in the window (bytes)",
        "process_memory_utilization" => "largest process.memory.utilization in the window",
        "anomaly_count" => "anomalies counted (per the spec's count mode)",
        "anomalous_buckets" => "10 s buckets with at least one anomalous value",
        "first_anomaly" | "last_anomaly" => "the first and last anomalous bucket",
        "top_anomalies" => "the largest anomalies: metric, bucket, value, baseline avg and stdev, z",
        "baseline_buckets" => "baseline 10 s buckets the entity was judged against",
        "k" => "the z threshold: anomalous when x > avg + k·σ",
        "risk_score" => "impact × confidence / 100 from the spec",
        "message" => "the spec's message with the finding's values",
        "finding_uid" => "deterministic id: xxh3-128 of detection, window start and key",
        "suspicious_characters" => {
            "control, bidi or invisible characters in the key or context (`column: U+XXXX class`)"
        }
        _ => return None,
    })
}

/// A scratch lake with a `metrics/` partition and no points, removed on drop.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The findings schema of each of `specs` in the mode `splunk_compat`.
pub fn findings(specs: &[Spec], splunk_compat: bool) -> Result<Vec<FindingsSchema>, SchemaError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = Scratch(std::env::temp_dir().join(format!("kubeseen-schema-{}-{nanos}", std::process::id())));
    let scratch_err = |source| SchemaError::Scratch {
        path: dir.0.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir.0.join("metrics/date=2001-01-01/hour=00")).map_err(scratch_err)?;
    let run_err = |detection: &str| {
        let detection = detection.to_string();
        move |source: Box<dyn std::error::Error + Send + Sync>| SchemaError::Run { detection, source }
    };
    let lake = Location::open(&dir.0.display().to_string(), &StoreOptions::default(), false)
        .map_err(|e| run_err("every detection")(Box::new(e)))?;
    // Any instant works: the scratch lake has no points, so no run has rows.
    let at = parse_instant("2001-02-01T00:00:00Z").ok();
    let opts = DetectOptions {
        at,
        window: None,
        baseline: None,
        splunk_compat,
        allowlist: None,
        clock: Clock::fixed(at.unwrap_or_default()),
        rollups: None,
    };
    specs
        .iter()
        .map(|spec| {
            let run = detect::run(&lake, spec, &opts).map_err(|e| run_err(&spec.slug)(Box::new(e)))?;
            Ok(FindingsSchema {
                detection: spec.slug.clone(),
                detection_id: spec.id.clone(),
                family: spec.family.as_str().to_string(),
                mode: if splunk_compat { "splunk_compat" } else { "intent" }.to_string(),
                columns: columns_of(&run.findings),
            })
        })
        .collect()
}

/// The schemas as a table for the terminal: a block per detection.
pub fn table(schemas: &[FindingsSchema]) -> String {
    let mut out = String::new();
    for s in schemas {
        out.push_str(&format!(
            "{} ({}, {}): {} columns\n",
            crate::text::escape(&s.detection),
            s.family,
            s.mode,
            s.columns.len()
        ));
        let w = s.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let tw = s.columns.iter().map(|c| c.type_name.len()).max().unwrap_or(0).min(24);
        for c in &s.columns {
            out.push_str(&format!(
                "  {:<w$}  {:<tw$}  {}\n",
                c.name,
                c.type_name,
                c.meaning.as_deref().unwrap_or("(undocumented)")
            ));
        }
    }
    out
}
