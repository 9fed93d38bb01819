//! Risk: every finding becomes a risk event on its risk object; per object, over a sliding
//! window, the events add up, and incident rules decide what pages someone (Splunk ES's
//! risk-based alerting, on the lake).
//!
//! In: a detection [`Run`] (its findings after the allowlist, so suppressed findings add no
//! risk) and its spec's `[risk]` table; for an evaluation, the events of the lake and the
//! incident rules of `queries/risk/`. Out: the events table (`lake::risk`, one object per
//! detection window and mode, like the findings) and, per evaluation at `--at`, every risk
//! object's totals and the incidents (Parquet, JSON, Markdown).
//!
//! Invariants:
//! - An event's `time` is its finding's first sighting (`first_seen`, or the spec's
//!   `risk.time`), which lies in the detection window `[window_start, window_end)`. An
//!   evaluation at `at` over window `w` counts exactly the events with
//!   `at − w ≤ time < at` (half-open, UTC) of detection windows ended by `at`: a finding
//!   first seen at `at − w` counts, one at `at` does not, and the hour ending at `at` is
//!   complete once `detect --at at` ran.
//! - Risk objects are qualified by their cluster in the default mode: identity is (type,
//!   cluster, value), so two clusters' `node-1` are two objects. `--splunk-compat` keeps the
//!   SPL's bare `host` value (type `system`), which adds them up, as Splunk does.
//! - A repeat incident for an object that already had one raised at an earlier evaluation
//!   within the window (`at − w < earlier < at`, same window and mode) is suppressed and
//!   listed as such: at `earlier + w` none of the earlier evidence is in the window any more.
//! - Deterministic and incremental: an evaluation reads only the events objects whose
//!   detection window overlaps `[at − w, at)` and the incidents of `(at − w, at)`; a series of
//!   evaluations (backfill) reads once and carries the raised incidents forward, which gives
//!   exactly what one evaluation per instant, in order, gives.

pub mod model;
pub mod rules;
pub mod summary;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use polars::prelude::*;
use serde_json::Value;

use crate::config::{fmt_instant, parse_instant};
pub use crate::detect::risk_object::{self, RiskSpec};
use crate::detect::{human, Run};
use crate::lake::risk as keys;
use crate::lake::risk::RiskLakeError;
use crate::storage::Location;
use model::mode;
pub use model::{Evaluation, Event, Incident, ObjectId, ObjectRisk, Settings, Written};
pub use rules::{IncidentRule, Measures};
pub use summary::{escape, markdown, table, RiskSummary};

#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    #[error(transparent)]
    Lake(#[from] RiskLakeError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("{detection}: risk.time: the findings have no timestamp column {column:?}")]
    TimeColumn { detection: String, column: String },
    #[error("{what}: {source}")]
    Frame { what: String, source: PolarsError },
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("{key}: not a risk table of this kubeseen: {message}")]
    Schema { key: String, message: String },
}

/// The risk object type of every object under `--splunk-compat` (ESCU's `type: system`).
pub const COMPAT_OBJECT_TYPE: &str = "system";

/// Text of a JSON cell (numbers as written, null as `None`).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The risk events of a finished run, and how many findings had no object value (counted,
/// logged: a finding without its node cannot put risk on it).
pub fn events_of(run: &Run) -> Result<(Vec<Event>, u64), RiskError> {
    let spec = &run.spec;
    let risk = &spec.risk;
    let time_col = risk.time.as_deref().unwrap_or(risk_object::DEFAULT_TIME);
    if run.findings.height() > 0 && run.findings.column(time_col).is_err() {
        return Err(RiskError::TimeColumn {
            detection: spec.slug.clone(),
            column: time_col.to_string(),
        });
    }
    let (object_col, object_type) = if run.splunk_compat {
        (risk.splunk_compat_object.as_str(), COMPAT_OBJECT_TYPE)
    } else {
        (risk.object.as_str(), risk.object_type.as_str())
    };
    let tactics = risk.tactic_ids(&spec.mitre_attack);
    let mut key_cols: Vec<String> = run.logic.key.clone();
    if !key_cols.iter().any(|c| c == "host_name") && run.findings.column("host_name").is_ok() {
        key_cols.push("host_name".into());
    }
    let mut events = Vec::new();
    let mut dropped = 0u64;
    for row in crate::report::rows_json(&run.findings) {
        let value = text(&row[object_col]).filter(|v| !v.is_empty());
        let cluster = text(&row["k8s_cluster_name"]).filter(|v| !v.is_empty());
        let qualified = !run.splunk_compat && object_col != "k8s_cluster_name";
        let (Some(value), true) = (value, !qualified || cluster.is_some()) else {
            dropped += 1;
            continue;
        };
        let Some(time) = row[time_col].as_str().and_then(|s| parse_instant(s).ok()) else {
            dropped += 1;
            continue;
        };
        events.push(Event {
            time,
            detection: spec.slug.clone(),
            detection_id: spec.id.clone(),
            window_start: run.window.start,
            window_end: run.window.end,
            splunk_compat: run.splunk_compat,
            object: ObjectId {
                risk_object_type: object_type.to_string(),
                k8s_cluster_name: if run.splunk_compat { None } else { cluster.clone() },
                value,
            },
            k8s_cluster_name: cluster,
            risk_score: spec.risk_score(),
            mitre_technique_ids: spec.mitre_attack.clone(),
            mitre_tactic_ids: tactics.clone(),
            source: risk.source.clone(),
            finding_uid: text(&row["finding_uid"]).unwrap_or_default(),
            message: text(&row["message"]).unwrap_or_default(),
            key: key_cols.iter().map(|c| (c.clone(), text(&row[c.as_str()]))).collect(),
        });
    }
    if dropped > 0 {
        tracing::warn!(
            detection = %spec.slug,
            "{dropped} finding(s) without a {object_col} value (or cluster) add no risk"
        );
    }
    Ok((events, dropped))
}

fn ts_column(name: &str, v: Vec<i64>) -> PolarsResult<Column> {
    Column::new(name.into(), v).cast(&crate::lake::schema::time_dtype())
}

fn list_column(name: &str, v: Vec<Vec<String>>) -> PolarsResult<Column> {
    let series: Vec<Series> = v.iter().map(|x| Series::new("".into(), x.as_slice())).collect();
    Series::new(name.into(), series.as_slice())
        .cast(&DataType::List(Box::new(DataType::String)))
        .map(Column::from)
}

/// The events as the lake stores them (one row per event).
pub fn events_frame(events: &[Event]) -> PolarsResult<DataFrame> {
    let s = |f: &dyn Fn(&Event) -> String| events.iter().map(f).collect::<Vec<String>>();
    let o = |f: &dyn Fn(&Event) -> Option<String>| events.iter().map(f).collect::<Vec<Option<String>>>();
    let t = |f: &dyn Fn(&Event) -> DateTime<Utc>| events.iter().map(|e| f(e).timestamp_micros()).collect::<Vec<_>>();
    let cols = vec![
        ts_column("time", t(&|e| e.time))?,
        Column::new("detection_id".into(), s(&|e| e.detection_id.clone())),
        Column::new("detection".into(), s(&|e| e.detection.clone())),
        ts_column("window_start", t(&|e| e.window_start))?,
        ts_column("window_end", t(&|e| e.window_end))?,
        Column::new("mode".into(), s(&|e| mode(e.splunk_compat).to_string())),
        Column::new("risk_object_type".into(), s(&|e| e.object.risk_object_type.clone())),
        Column::new("risk_object".into(), s(&|e| e.object.display())),
        Column::new("risk_object_value".into(), s(&|e| e.object.value.clone())),
        Column::new("risk_object_cluster".into(), o(&|e| e.object.k8s_cluster_name.clone())),
        Column::new("k8s_cluster_name".into(), o(&|e| e.k8s_cluster_name.clone())),
        Column::new(
            "risk_score".into(),
            events.iter().map(|e| e.risk_score).collect::<Vec<i64>>(),
        ),
        list_column(
            "mitre_technique_ids",
            events.iter().map(|e| e.mitre_technique_ids.clone()).collect(),
        )?,
        list_column(
            "mitre_tactic_ids",
            events.iter().map(|e| e.mitre_tactic_ids.clone()).collect(),
        )?,
        Column::new("source".into(), s(&|e| e.source.clone())),
        Column::new("finding_uid".into(), s(&|e| e.finding_uid.clone())),
        Column::new("message".into(), s(&|e| e.message.clone())),
        Column::new("key".into(), s(&|e| serde_json::to_string(&e.key).unwrap_or_default())),
    ];
    DataFrame::new(events.len(), cols)
}

/// Events back from a stored frame (`key` names the object in errors).
pub fn events_from_frame(df: &DataFrame, key: &str) -> Result<Vec<Event>, RiskError> {
    let bad = |message: String| RiskError::Schema {
        key: key.to_string(),
        message,
    };
    let mut out = Vec::with_capacity(df.height());
    for r in crate::report::rows_json(df) {
        let time = |c: &str| {
            r[c].as_str()
                .and_then(|s| parse_instant(s).ok())
                .ok_or_else(|| bad(format!("{c} is not a time")))
        };
        let s = |c: &str| text(&r[c]).unwrap_or_default();
        let list = |c: &str| -> Vec<String> { r[c].as_array().into_iter().flatten().filter_map(text).collect() };
        let key_pairs: Vec<(String, Option<String>)> =
            serde_json::from_str(&s("key")).map_err(|e| bad(format!("key: {e}")))?;
        out.push(Event {
            time: time("time")?,
            detection: s("detection"),
            detection_id: s("detection_id"),
            window_start: time("window_start")?,
            window_end: time("window_end")?,
            splunk_compat: s("mode") == "splunk_compat",
            object: ObjectId {
                risk_object_type: s("risk_object_type"),
                k8s_cluster_name: text(&r["risk_object_cluster"]),
                value: s("risk_object_value"),
            },
            k8s_cluster_name: text(&r["k8s_cluster_name"]),
            risk_score: r["risk_score"].as_i64().ok_or_else(|| bad("risk_score".into()))?,
            mitre_technique_ids: list("mitre_technique_ids"),
            mitre_tactic_ids: list("mitre_tactic_ids"),
            source: s("source"),
            finding_uid: s("finding_uid"),
            message: s("message"),
            key: key_pairs,
        });
    }
    Ok(out)
}

/// Writes the risk events of `run` (replacing that window's; none: the object is removed).
pub fn write_events(lake: &Location, run: &Run) -> Result<u64, RiskError> {
    let (events, dropped) = events_of(run)?;
    let len = human(run.window.end - run.window.start);
    let key = keys::events_key(
        &run.spec.slug,
        run.window.start,
        run.window.end,
        &len,
        run.splunk_compat,
    );
    let mut df = events_frame(&events).map_err(|source| RiskError::Frame {
        what: key.clone(),
        source,
    })?;
    keys::write_events(lake, &key, &mut df)?;
    Ok(dropped)
}

/// Writes a run's risk events, then its findings and report (`report::write`): every findings
/// object kubeseen writes goes through here, so events and findings agree; events first, so a
/// window whose report exists (up to date for `backfill --resume`) has its events.
pub fn write_run(
    lake: &Location,
    run: &Run,
    timings_extra: &[(&str, u64)],
) -> Result<(crate::report::Written, crate::report::Summary), RiskError> {
    write_events(lake, run)?;
    Ok(crate::report::write(lake, run, timings_extra)?)
}

/// The events of mode `splunk_compat` timed in `[from, to)`, sorted by time, detection, uid.
pub fn read_events(
    lake: &Location,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    splunk_compat: bool,
) -> Result<(Vec<Event>, usize), RiskError> {
    let objects = keys::events_between(lake, from, to, splunk_compat)?;
    let frames = keys::read_all(lake, &objects)?;
    let mut out = Vec::new();
    for (df, key) in frames.iter().zip(&objects) {
        out.extend(
            events_from_frame(df, &lake.describe(key))?
                .into_iter()
                .filter(|e| e.time >= from && e.time < to),
        );
    }
    sort_events(&mut out);
    Ok((out, objects.len()))
}

fn sort_events(v: &mut [Event]) {
    v.sort_by(|a, b| (a.time, &a.detection, &a.finding_uid).cmp(&(b.time, &b.detection, &b.finding_uid)));
}

/// An incident raised earlier, which suppresses repeats for its object within the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    pub at: DateTime<Utc>,
    pub object: ObjectId,
    pub incident_uid: String,
}

/// The incidents raised at instants in `(from, to)` for this window and mode.
pub fn read_priors(
    lake: &Location,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: Duration,
    splunk_compat: bool,
) -> Result<Vec<Prior>, RiskError> {
    let objects = keys::incidents_between(lake, from, to, &human(window), splunk_compat)?;
    let frames = keys::read_all(lake, &objects)?;
    let mut out = Vec::new();
    for (df, key) in frames.iter().zip(&objects) {
        for r in crate::report::rows_json(df) {
            let at = r["window_end"]
                .as_str()
                .and_then(|s| parse_instant(s).ok())
                .ok_or_else(|| RiskError::Schema {
                    key: lake.describe(key),
                    message: "window_end is not a time".into(),
                })?;
            out.push(Prior {
                at,
                object: ObjectId {
                    risk_object_type: text(&r["risk_object_type"]).unwrap_or_default(),
                    k8s_cluster_name: text(&r["risk_object_cluster"]),
                    value: text(&r["risk_object_value"]).unwrap_or_default(),
                },
                incident_uid: text(&r["incident_uid"]).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

fn sorted<I: IntoIterator<Item = String>>(i: I) -> Vec<String> {
    i.into_iter().collect::<BTreeSet<_>>().into_iter().collect()
}

/// The events of `events` (sorted by time) an evaluation at `at` counts: timed in
/// `[at − window, at)`, from detection windows that had ended by `at` (what an hourly run at
/// `at` can have seen: with detection windows longer than the step, a later window may hold
/// an earlier event).
fn counted(events: &[Event], at: DateTime<Utc>, window: Duration) -> impl Iterator<Item = &Event> {
    let lo = events.partition_point(|e| e.time < at - window);
    let hi = events.partition_point(|e| e.time < at);
    events[lo..hi].iter().filter(move |e| e.window_end <= at)
}

/// Per object, the events an evaluation at `at` counts.
fn objects_at(events: &[Event], at: DateTime<Utc>, s: &Settings) -> Vec<ObjectRisk> {
    let mut by: BTreeMap<&ObjectId, Vec<&Event>> = BTreeMap::new();
    for e in counted(events, at, s.window) {
        by.entry(&e.object).or_default().push(e);
    }
    let mut out: Vec<ObjectRisk> = by
        .into_iter()
        .map(|(id, evs)| {
            let mut r = ObjectRisk {
                risk_object: id.display(),
                risk_object_type: id.risk_object_type.clone(),
                risk_object_value: id.value.clone(),
                k8s_cluster_name: id.k8s_cluster_name.clone(),
                k8s_cluster_names: sorted(evs.iter().filter_map(|e| e.k8s_cluster_name.clone())),
                total_score: evs.iter().map(|e| e.risk_score).sum(),
                finding_count: evs.len(),
                detections: sorted(evs.iter().map(|e| e.detection.clone())),
                mitre_tactic_ids: sorted(evs.iter().flat_map(|e| e.mitre_tactic_ids.clone())),
                mitre_technique_ids: sorted(evs.iter().flat_map(|e| e.mitre_technique_ids.clone())),
                sources: sorted(evs.iter().map(|e| e.source.clone())),
                first_seen: evs.first().map(|e| fmt_instant(e.time)).unwrap_or_default(),
                last_seen: evs.last().map(|e| fmt_instant(e.time)).unwrap_or_default(),
                rules: Vec::new(),
                id: id.clone(),
                events: evs.into_iter().cloned().collect(),
            };
            let m = r.measures();
            r.rules = s
                .rules
                .iter()
                .filter(|rule| rule.conditions(s.splunk_compat).holds(&m))
                .map(|rule| rule.name.clone())
                .collect();
            r
        })
        .collect();
    out.sort_by(|a, b| b.total_score.cmp(&a.total_score).then_with(|| a.id.cmp(&b.id)));
    out
}

fn incident_uid(at: DateTime<Utc>, s: &Settings, id: &ObjectId) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [
        mode(s.splunk_compat),
        human(s.window).as_str(),
        at.timestamp_micros().to_string().as_str(),
        id.risk_object_type.as_str(),
        id.k8s_cluster_name.as_deref().unwrap_or("\u{0}none"),
        id.value.as_str(),
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("{:032x}", h.digest128())
}

/// Evaluates at each instant of `ats` (ascending) over `events` (sorted, covering
/// `[ats[0] − window, last)`), suppressing repeats against `priors` and against what the
/// earlier instants raised: exactly what separate evaluations in order give.
pub fn evaluate_series(events: &[Event], ats: &[DateTime<Utc>], s: &Settings, priors: &[Prior]) -> Vec<Evaluation> {
    let mut raised: Vec<Prior> = priors.to_vec();
    let mut out = Vec::new();
    for &at in ats {
        let objects = objects_at(events, at, s);
        let (mut incidents, mut suppressed) = (Vec::new(), Vec::new());
        for o in objects.iter().filter(|o| !o.rules.is_empty()) {
            let uid = incident_uid(at, s, &o.id);
            let earlier = raised
                .iter()
                .filter(|p| p.object == o.id && p.at > at - s.window && p.at < at)
                .min_by_key(|p| p.at);
            match earlier {
                Some(p) => suppressed.push(Incident {
                    incident_uid: uid,
                    risk: o.clone(),
                    suppressed_by: Some(p.incident_uid.clone()),
                }),
                None => incidents.push(Incident {
                    incident_uid: uid,
                    risk: o.clone(),
                    suppressed_by: None,
                }),
            }
        }
        raised.extend(incidents.iter().map(|i| Prior {
            at,
            object: i.risk.id.clone(),
            incident_uid: i.incident_uid.clone(),
        }));
        let n = counted(events, at, s.window).count();
        out.push(Evaluation {
            at,
            window: s.window,
            splunk_compat: s.splunk_compat,
            rules: s.rules.clone(),
            events: n,
            objects,
            incidents,
            suppressed,
        });
    }
    out
}

/// Reads what evaluations at `ats` (ascending) need from the lake and evaluates them.
pub fn evaluate_lake(lake: &Location, ats: &[DateTime<Utc>], s: &Settings) -> Result<Vec<Evaluation>, RiskError> {
    let (Some(first), Some(last)) = (ats.first(), ats.last()) else {
        return Ok(Vec::new());
    };
    let (events, _) = read_events(lake, *first - s.window, *last, s.splunk_compat)?;
    let priors = read_priors(lake, *first - s.window, *first, s.window, s.splunk_compat)?;
    Ok(evaluate_series(&events, ats, s, &priors))
}

/// The incidents of an evaluation as the lake stores them: one row per raised incident.
pub fn incidents_frame(e: &Evaluation) -> PolarsResult<DataFrame> {
    let inc = &e.incidents;
    let s = |f: &dyn Fn(&ObjectRisk) -> String| inc.iter().map(|i| f(&i.risk)).collect::<Vec<String>>();
    let l = |f: &dyn Fn(&ObjectRisk) -> Vec<String>| inc.iter().map(|i| f(&i.risk)).collect::<Vec<_>>();
    let t = |f: &dyn Fn(&ObjectRisk) -> String| {
        inc.iter()
            .map(|i| parse_instant(&f(&i.risk)).map(|t| t.timestamp_micros()).unwrap_or(0))
            .collect::<Vec<i64>>()
    };
    let n = inc.len();
    let cols = vec![
        Column::new(
            "incident_uid".into(),
            inc.iter().map(|i| i.incident_uid.clone()).collect::<Vec<_>>(),
        ),
        ts_column("window_start", vec![e.window_start().timestamp_micros(); n])?,
        ts_column("window_end", vec![e.at.timestamp_micros(); n])?,
        Column::new("mode".into(), vec![mode(e.splunk_compat).to_string(); n]),
        Column::new("risk_object_type".into(), s(&|r| r.risk_object_type.clone())),
        Column::new("risk_object".into(), s(&|r| r.risk_object.clone())),
        Column::new("risk_object_value".into(), s(&|r| r.risk_object_value.clone())),
        Column::new(
            "risk_object_cluster".into(),
            inc.iter().map(|i| i.risk.k8s_cluster_name.clone()).collect::<Vec<_>>(),
        ),
        list_column("k8s_cluster_names", l(&|r| r.k8s_cluster_names.clone()))?,
        Column::new(
            "total_score".into(),
            inc.iter().map(|i| i.risk.total_score).collect::<Vec<i64>>(),
        ),
        Column::new(
            "finding_count".into(),
            inc.iter().map(|i| i.risk.finding_count as i64).collect::<Vec<i64>>(),
        ),
        list_column("detections", l(&|r| r.detections.clone()))?,
        list_column("mitre_tactic_ids", l(&|r| r.mitre_tactic_ids.clone()))?,
        list_column("mitre_technique_ids", l(&|r| r.mitre_technique_ids.clone()))?,
        list_column("sources", l(&|r| r.sources.clone()))?,
        ts_column("first_seen", t(&|r| r.first_seen.clone()))?,
        ts_column("last_seen", t(&|r| r.last_seen.clone()))?,
        list_column("rules", l(&|r| r.rules.clone()))?,
        list_column(
            "finding_uids",
            l(&|r| r.events.iter().map(|e| e.finding_uid.clone()).collect()),
        )?,
        list_column(
            "finding_detections",
            l(&|r| r.events.iter().map(|e| e.detection.clone()).collect()),
        )?,
    ];
    DataFrame::new(n, cols)
}

/// Writes an evaluation's incidents (replacing that instant's) and its report.
pub fn write_evaluation(lake: &Location, e: &Evaluation) -> Result<(Written, RiskSummary), RiskError> {
    let len = human(e.window);
    let key = keys::incidents_key(e.at, &len, e.splunk_compat);
    let mut df = incidents_frame(e).map_err(|source| RiskError::Frame {
        what: key.clone(),
        source,
    })?;
    keys::write_incidents(lake, &key, &mut df)?;
    let json_key = keys::report_key(e.at, &len, e.splunk_compat, "json");
    let md_key = keys::report_key(e.at, &len, e.splunk_compat, "md");
    let written = Written {
        incidents: lake.describe(&key),
        report_json: lake.describe(&json_key),
        report_md: lake.describe(&md_key),
    };
    let mut summary = RiskSummary::of(e);
    summary.outputs = Some(written.clone());
    lake.put(
        &json_key,
        crate::report::sorted_json(&summary).unwrap_or_default().into_bytes(),
    )?;
    lake.put(&md_key, markdown(&summary).into_bytes())?;
    Ok((written, summary))
}

#[cfg(test)]
mod tests;
