//! OCSF: every finding of every family as an OCSF 1.5.0 Detection Finding (class 2004,
//! activity Create, type 200401), written beside the native findings.
//!
//! In: a finished [`Run`] (its findings rows, spec, window and mode). Out: one JSON record per
//! finding ([`records`]), the run's JSON Lines object (`lake::keys::ocsf_jsonl`) and its
//! Parquet objects in Security Lake's custom-source layout (`lake::keys::ocsf_parquet`: one per
//! cluster and event day).
//!
//! Mapping (README "OCSF Detection Findings" has the table): `finding_info.uid` =
//! `finding_uid`, `title` = the message, `analytic` = the ESCU detection (type by family: rule →
//! Rule, new_value → Behavioral, statistical → Statistical), `attacks` from the spec's MITRE ids,
//! `risk_score` from the spec and `severity_id` by its band, `resources` from the key and
//! context columns the finding has, `evidences` from the family's evidence columns (one per top
//! anomaly for the statistical family), `unmapped.kubeseen` for the rest.
//!
//! Invariants: records are a pure function of the run (same run, same bytes); null columns are
//! left out (OCSF: absent = unknown); values from monitored systems are data here, never
//! escaped (JSON and Parquet are machine outputs); a re-run of a window replaces its objects
//! and deletes those of its previous run that it no longer writes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use polars::prelude::*;
use serde_json::{json, Map, Value};

use super::summary::{rows_json, OcsfWritten};
use crate::detect::spec::{Family, Spec};
use crate::detect::Run;
use crate::lake::keys;
use crate::storage::{Location, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum OcsfError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("writing OCSF findings {key}: {source}")]
    Parquet { key: String, source: PolarsError },
    #[error("{0}")]
    Invalid(String),
}

/// The OCSF schema version of the records.
pub const OCSF_VERSION: &str = "1.5.0";
/// Detection Finding, category Findings, activity Create.
pub const CLASS_UID: i64 = 2004;
pub const CATEGORY_UID: i64 = 2;
pub const ACTIVITY_CREATE: i64 = 1;
pub const TYPE_UID: i64 = CLASS_UID * 100 + ACTIVITY_CREATE;
/// The environment variable naming the Security Lake region of the Parquet objects.
pub const REGION_ENV: &str = "KUBESEEN_OCSF_REGION";

/// MITRE ATT&CK techniques the specs name: (technique, name, tactic, tactic name).
const TECHNIQUES: &[(&str, &str, &str, &str)] = &[("T1204", "User Execution", "TA0002", "Execution")];

/// Columns a record maps outside `evidences`: identity, times, resources.
const NOT_EVIDENCE: &[&str] = &[
    "detection_id",
    "detection",
    "finding_uid",
    "message",
    "risk_score",
    "window_start",
    "window_end",
    "baseline_start",
    "suspicious_characters",
    "k8s_cluster_name",
    "k8s_node_name",
    "host_name",
    "k8s_namespace_name",
    "k8s_pod_name",
    "container_image_name",
    "process_executable_name",
    "source_workload_name",
    "dest_workload_name",
    "k8s_service_name",
    "first_seen",
    "last_seen",
    "first_anomaly",
    "last_anomaly",
    "top_anomalies",
];

/// The analytic type of a family: OCSF's `analytic.type_id` and its caption.
pub fn analytic_type(family: Family) -> (i64, &'static str) {
    match family {
        Family::Rule => (1, "Rule"),
        Family::NewValue => (2, "Behavioral"),
        Family::Statistical => (3, "Statistical"),
    }
}

/// OCSF `severity_id` and caption of a risk score (0–100), by bands of 20:
/// ≤ 20 Informational, ≤ 40 Low, ≤ 60 Medium, ≤ 80 High, above Critical.
pub fn severity(risk_score: i64) -> (i64, &'static str) {
    match risk_score {
        i64::MIN..=20 => (1, "Informational"),
        21..=40 => (2, "Low"),
        41..=60 => (3, "Medium"),
        61..=80 => (4, "High"),
        _ => (5, "Critical"),
    }
}

/// Milliseconds since the epoch of an RFC 3339 cell.
fn ms(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

/// A non-null, non-empty string cell.
fn text<'a>(row: &'a Map<String, Value>, col: &str) -> Option<&'a str> {
    row.get(col).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The row's non-null cells of `cols` (those it has), as an object.
fn pick(row: &Map<String, Value>, cols: &[&str]) -> Map<String, Value> {
    cols.iter()
        .filter_map(|c| row.get(*c).filter(|v| !v.is_null()).map(|v| (c.to_string(), v.clone())))
        .collect()
}

/// The MITRE ATT&CK entries of the spec's technique ids.
fn attacks(spec: &Spec) -> Vec<Value> {
    spec.mitre_attack
        .iter()
        .map(|t| match TECHNIQUES.iter().find(|(id, ..)| id == t) {
            Some((id, name, tactic, tactic_name)) => json!({
                "technique": {"uid": id, "name": name},
                "tactic": {"uid": tactic, "name": tactic_name},
            }),
            None => json!({"technique": {"uid": t, "name": t}}),
        })
        .collect()
}

/// The resources a finding names: cluster, node (and host), pod, container image, process,
/// workloads and service, those it has.
fn resources(row: &Map<String, Value>) -> Vec<Value> {
    let mut out = Vec::new();
    let cluster = text(row, "k8s_cluster_name");
    if let Some(c) = cluster {
        out.push(json!({"type": "kubernetes_cluster", "name": c, "uid": keys::ocsf_account(c)}));
    }
    let scoped = |name: &str| match cluster {
        Some(c) => format!("{c}/{name}"),
        None => name.to_string(),
    };
    let node = text(row, "k8s_node_name");
    if let Some(n) = node {
        out.push(json!({"type": "kubernetes_node", "name": n, "uid": scoped(n)}));
    }
    if let Some(h) = text(row, "host_name").filter(|h| Some(*h) != node) {
        out.push(json!({"type": "host", "name": h}));
    }
    if let Some(p) = text(row, "k8s_pod_name") {
        let ns = text(row, "k8s_namespace_name");
        let mut r = json!({"type": "kubernetes_pod", "name": p, "uid": scoped(&format!("{}/{p}", ns.unwrap_or("")))});
        if let Some(ns) = ns {
            r["namespace"] = json!(ns);
        }
        out.push(r);
    }
    if let Some(i) = text(row, "container_image_name") {
        out.push(json!({"type": "container_image", "name": i}));
    }
    if let Some(p) = text(row, "process_executable_name") {
        let data = pick(
            row,
            &[
                "process_executable_path",
                "process_command",
                "process_owner",
                "process_pid",
            ],
        );
        let mut r = json!({"type": "process", "name": p});
        if !data.is_empty() {
            r["data"] = Value::Object(data);
        }
        out.push(r);
    }
    for (col, role) in [
        ("source_workload_name", "source"),
        ("dest_workload_name", "destination"),
    ] {
        if let Some(w) = text(row, col) {
            out.push(json!({"type": "kubernetes_workload", "name": w, "labels": [role]}));
        }
    }
    if let Some(s) = text(row, "k8s_service_name") {
        out.push(json!({"type": "kubernetes_service", "name": s}));
    }
    out
}

/// The family's evidence: one artifact with the evidence columns, and for the statistical
/// family one per top anomaly.
fn evidences(spec: &Spec, row: &Map<String, Value>) -> Vec<Value> {
    let data: Map<String, Value> = row
        .iter()
        .filter(|(k, v)| !NOT_EVIDENCE.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut out = vec![json!({"name": format!("{} evidence", spec.family.as_str()), "data": data})];
    if let Some(Value::Array(top)) = row.get("top_anomalies") {
        for a in top {
            out.push(json!({"name": "anomaly", "data": a}));
        }
    }
    out
}

/// The OCSF Detection Finding of one findings row (as `rows_json` gives it) of a run of `spec`;
/// `correlation_uid` names the run (detection and window stem).
pub fn record(spec: &Spec, splunk_compat: bool, correlation_uid: &str, row: &Map<String, Value>) -> Value {
    let risk = row
        .get("risk_score")
        .and_then(Value::as_i64)
        .unwrap_or(spec.risk_score());
    let (sev_id, sev) = severity(risk);
    let (type_id, type_name) = analytic_type(spec.family);
    let uid = row.get("finding_uid").and_then(Value::as_str).unwrap_or_default();
    let first = ms(row.get("first_seen")).or(ms(row.get("first_anomaly")));
    let last = ms(row.get("last_seen")).or(ms(row.get("last_anomaly")));
    let end = ms(row.get("window_end"));
    let mut info = json!({
        "uid": uid,
        "title": row.get("message").and_then(Value::as_str).unwrap_or(&spec.name),
        "desc": spec.description,
        "analytic": {"uid": spec.id, "name": spec.name, "type_id": type_id, "type": type_name, "category": "ESCU"},
        "types": [spec.family.as_str()],
        "attacks": attacks(spec),
        "created_time": end,
    });
    if let Some(u) = spec.references.first() {
        info["src_url"] = json!(u);
    }
    if let Some(t) = first {
        info["first_seen_time"] = json!(t);
    }
    if let Some(t) = last {
        info["last_seen_time"] = json!(t);
    }
    let mode = if splunk_compat { "splunk_compat" } else { "intent" };
    let mut unmapped = pick(row, &["detection", "window_start", "window_end", "baseline_start"]);
    unmapped.insert("family".into(), json!(spec.family.as_str()));
    unmapped.insert("mode".into(), json!(mode));
    unmapped.insert(
        "suspicious_characters".into(),
        row.get("suspicious_characters").cloned().unwrap_or(json!([])),
    );
    json!({
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": TYPE_UID,
        "type_name": "Detection Finding: Create",
        "time": last.or(end).unwrap_or_default(),
        "start_time": ms(row.get("window_start")),
        "end_time": end,
        "message": info["title"],
        "severity_id": sev_id,
        "severity": sev,
        "risk_score": risk,
        "impact_score": spec.impact,
        "confidence_score": spec.confidence,
        "status_id": 1,
        "status": "New",
        "finding_info": info,
        "resources": resources(row),
        "evidences": evidences(spec, row),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "kubeseen", "vendor_name": "kubeseen", "version": env!("CARGO_PKG_VERSION")},
            "uid": uid,
            "correlation_uid": correlation_uid,
            "event_code": spec.slug,
            "labels": [mode],
        },
        "unmapped": {"kubeseen": unmapped},
    })
}

/// The OCSF records of a run's findings, in the findings' order.
pub fn records(run: &Run, stem: &str) -> Vec<Value> {
    let correlation = format!("{}/{stem}", run.spec.slug);
    rows_json(&run.findings)
        .iter()
        .filter_map(Value::as_object)
        .map(|row| record(&run.spec, run.splunk_compat, &correlation, row))
        .collect()
}

/// Records as JSON Lines (one object a line, each ending in a line feed).
pub fn jsonl(records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend(r.to_string().into_bytes());
        out.push(b'\n');
    }
    out
}

/// The Security Lake region of the Parquet objects: `KUBESEEN_OCSF_REGION` or `local`.
pub fn region() -> Result<String, OcsfError> {
    let r = std::env::var(REGION_ENV).unwrap_or_else(|_| "local".to_string());
    let ok = !r.is_empty()
        && r.len() <= 64
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(r)
    } else {
        Err(OcsfError::Invalid(format!(
            "{REGION_ENV}={}: a region is 1 to 64 of a-z, 0-9 and -",
            crate::text::escape(&r)
        )))
    }
}

/// The cluster and the event day (`YYYYMMDD` of `time`) of a record: its Parquet partition.
fn partition(record: &Value) -> (String, String) {
    let cluster = record["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["type"] == "kubernetes_cluster"))
        .and_then(|r| r["name"].as_str())
        .unwrap_or("")
        .to_string();
    let day = DateTime::from_timestamp_millis(record["time"].as_i64().unwrap_or(0))
        .map(|t| t.format("%Y%m%d").to_string())
        .unwrap_or_default();
    (cluster, day)
}

/// Writes a run's records: the Parquet objects, then the JSON Lines object (which also tells the
/// next run of the window which Parquet objects to replace). Objects of the window's previous
/// run that this one does not write are deleted.
pub fn write(lake: &Location, run: &Run, date: &str, stem: &str, records: &[Value]) -> Result<OcsfWritten, OcsfError> {
    let region = region()?;
    let slug = &run.spec.slug;
    let jkey = keys::ocsf_jsonl(slug, date, stem);
    let key_of =
        |(cluster, day): &(String, String)| keys::ocsf_parquet(&region, &keys::ocsf_account(cluster), day, slug, stem);
    let mut before: BTreeSet<String> = BTreeSet::new();
    if let Some(old) = lake.get_opt(&jkey)? {
        for line in old.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(v) = serde_json::from_slice::<Value>(line) {
                before.insert(key_of(&partition(&v)));
            }
        }
    }
    let mut groups: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for r in records {
        groups.entry(partition(r)).or_default().push(r.clone());
    }
    let mut written = OcsfWritten {
        jsonl: lake.describe(&jkey),
        parquet: Vec::new(),
    };
    let mut now: BTreeSet<String> = BTreeSet::new();
    for (part, recs) in &groups {
        let key = key_of(part);
        let mut df = frame(recs).map_err(|source| OcsfError::Parquet {
            key: key.clone(),
            source,
        })?;
        let bytes = crate::lake::parquet_bytes(&mut df).map_err(|source| OcsfError::Parquet {
            key: key.clone(),
            source,
        })?;
        lake.put(&key, bytes)?;
        written.parquet.push(lake.describe(&key));
        now.insert(key);
    }
    for gone in before.difference(&now) {
        lake.delete(gone)?;
    }
    lake.put(&jkey, jsonl(records))?;
    Ok(written)
}

/// The shape of a JSON value across records: the Parquet type of a column.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Null,
    Bool,
    Int,
    Float,
    Str,
    List(Box<Shape>),
    Obj(Vec<(String, Shape)>),
}

impl Shape {
    /// The shape of `self` and `v` together: objects take the union of their fields, integers
    /// and floats give floats; anything else that disagrees is a string (JSON text).
    fn merge(self, v: &Value) -> Shape {
        match (self, v) {
            (s, Value::Null) => s,
            (Shape::Null, v) => Shape::of(v),
            (Shape::Bool, Value::Bool(_)) => Shape::Bool,
            (Shape::Int, Value::Number(n)) if n.is_i64() => Shape::Int,
            (Shape::Int | Shape::Float, Value::Number(_)) => Shape::Float,
            (Shape::Str, Value::String(_)) => Shape::Str,
            (Shape::List(e), Value::Array(a)) => Shape::List(Box::new(a.iter().fold(*e, Shape::merge))),
            (Shape::Obj(mut fields), Value::Object(m)) => {
                for (k, v) in m {
                    match fields.iter_mut().find(|(n, _)| n == k) {
                        Some((_, s)) => *s = std::mem::replace(s, Shape::Null).merge(v),
                        None => fields.push((k.clone(), Shape::of(v))),
                    }
                }
                Shape::Obj(fields)
            }
            _ => Shape::Str,
        }
    }

    fn of(v: &Value) -> Shape {
        match v {
            Value::Null => Shape::Null,
            Value::Bool(_) => Shape::Bool,
            Value::Number(n) if n.is_i64() => Shape::Int,
            Value::Number(_) => Shape::Float,
            Value::String(_) => Shape::Str,
            Value::Array(a) => Shape::List(Box::new(a.iter().fold(Shape::Null, Shape::merge))),
            Value::Object(_) => Shape::Obj(Vec::new()).merge(v),
        }
    }

    fn dtype(&self) -> DataType {
        match self {
            Shape::Bool => DataType::Boolean,
            Shape::Int => DataType::Int64,
            Shape::Float => DataType::Float64,
            Shape::Null | Shape::Str => DataType::String,
            Shape::List(e) => DataType::List(Box::new(e.dtype())),
            Shape::Obj(f) => DataType::Struct(f.iter().map(|(n, s)| Field::new(n.into(), s.dtype())).collect()),
        }
    }

    /// `v` as a value of this shape.
    fn any(&self, v: &Value) -> PolarsResult<AnyValue<'static>> {
        Ok(match (self, v) {
            (_, Value::Null) => AnyValue::Null,
            (Shape::Bool, Value::Bool(b)) => AnyValue::Boolean(*b),
            (Shape::Int, Value::Number(n)) => n.as_i64().map(AnyValue::Int64).unwrap_or(AnyValue::Null),
            (Shape::Float, Value::Number(n)) => n.as_f64().map(AnyValue::Float64).unwrap_or(AnyValue::Null),
            (Shape::Str | Shape::Null, Value::String(s)) => AnyValue::StringOwned(s.as_str().into()),
            (Shape::List(e), Value::Array(a)) => AnyValue::List(column(e, "", a.iter())?),
            (Shape::Obj(fields), Value::Object(m)) => {
                let values = fields
                    .iter()
                    .map(|(n, s)| s.any(m.get(n).unwrap_or(&Value::Null)))
                    .collect::<PolarsResult<Vec<_>>>()?;
                let fs = fields.iter().map(|(n, s)| Field::new(n.into(), s.dtype())).collect();
                AnyValue::StructOwned(Box::new((values, fs)))
            }
            (_, v) => AnyValue::StringOwned(v.to_string().into()),
        })
    }
}

/// A series of `shape` from JSON values.
fn column<'a>(shape: &Shape, name: &str, values: impl Iterator<Item = &'a Value>) -> PolarsResult<Series> {
    let av = values.map(|v| shape.any(v)).collect::<PolarsResult<Vec<_>>>()?;
    Series::from_any_values_and_dtype(name.into(), &av, &shape.dtype(), true)
}

/// Records as a frame: one column per top-level field, nested objects as structs and arrays
/// as lists, typed by the union of the records' shapes.
pub fn frame(records: &[Value]) -> PolarsResult<DataFrame> {
    let Shape::Obj(fields) = records.iter().fold(Shape::Obj(Vec::new()), Shape::merge) else {
        return Err(polars_err!(ComputeError: "OCSF records are objects"));
    };
    let cols = fields
        .iter()
        .map(|(name, s)| column(s, name, records.iter().map(|r| r.get(name).unwrap_or(&Value::Null))).map(Column::from))
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(records.len(), cols)
}
