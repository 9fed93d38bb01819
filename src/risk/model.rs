//! Risk's data: the events, each object's risk in a window, the incidents and one
//! evaluation's result — what the evaluator (`risk`) builds and the summary
//! (`risk::summary`) reads.
//!
//! In: nothing of `risk` itself (the incident rules' `IncidentRule` and `Measures` come from
//! `risk::rules`). Out: plain data types, serialisable where a report shows them.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::rules::{IncidentRule, Measures};

/// Who a risk event is about: (type, cluster — `None` under `--splunk-compat` —, value).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectId {
    pub risk_object_type: String,
    pub k8s_cluster_name: Option<String>,
    pub value: String,
}

impl ObjectId {
    /// What people read: `cluster/node` (qualified), the cluster alone, or the bare value.
    pub fn display(&self) -> String {
        match &self.k8s_cluster_name {
            Some(c) if *c != self.value || self.risk_object_type != "cluster" => format!("{c}/{}", self.value),
            _ => self.value.clone(),
        }
    }
}

/// One risk event: one finding's contribution to one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub time: DateTime<Utc>,
    pub detection: String,
    pub detection_id: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub splunk_compat: bool,
    pub object: ObjectId,
    /// The finding's cluster (also under `--splunk-compat`, where it is not part of the object).
    pub k8s_cluster_name: Option<String>,
    pub risk_score: i64,
    pub mitre_technique_ids: Vec<String>,
    pub mitre_tactic_ids: Vec<String>,
    pub source: String,
    pub finding_uid: String,
    pub message: String,
    /// The finding's key (and `host_name`), column → value, in key order.
    pub key: Vec<(String, Option<String>)>,
}

/// The mode's name in keys and reports.
pub(crate) fn mode(splunk_compat: bool) -> &'static str {
    if splunk_compat {
        "splunk_compat"
    } else {
        "intent"
    }
}

/// How an evaluation runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub window: Duration,
    pub splunk_compat: bool,
    pub rules: Vec<IncidentRule>,
}

/// One object's risk in the window.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectRisk {
    pub risk_object: String,
    pub risk_object_type: String,
    pub risk_object_value: String,
    /// The object's cluster (default mode); under `--splunk-compat`, `None`.
    pub k8s_cluster_name: Option<String>,
    /// Every cluster its events came from (more than one only under `--splunk-compat`).
    pub k8s_cluster_names: Vec<String>,
    pub total_score: i64,
    pub finding_count: usize,
    pub detections: Vec<String>,
    pub mitre_tactic_ids: Vec<String>,
    pub mitre_technique_ids: Vec<String>,
    pub sources: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    /// The rules this object meets.
    pub rules: Vec<String>,
    #[serde(skip)]
    pub id: ObjectId,
    /// Its events, in time order.
    #[serde(skip)]
    pub events: Vec<Event>,
}

impl ObjectRisk {
    pub fn measures(&self) -> Measures {
        Measures {
            total_score: self.total_score,
            distinct_detections: self.detections.len() as i64,
            distinct_tactics: self.mitre_tactic_ids.len() as i64,
            distinct_sources: self.sources.len() as i64,
            findings: self.finding_count as i64,
        }
    }
}

/// An object that met a rule at `at`.
#[derive(Debug, Clone)]
pub struct Incident {
    pub incident_uid: String,
    pub risk: ObjectRisk,
    /// For a suppressed repeat: the incident raised earlier in the window.
    pub suppressed_by: Option<String>,
}

/// One evaluation at `at`.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub at: DateTime<Utc>,
    pub window: Duration,
    pub splunk_compat: bool,
    pub rules: Vec<IncidentRule>,
    pub events: usize,
    pub objects: Vec<ObjectRisk>,
    pub incidents: Vec<Incident>,
    pub suppressed: Vec<Incident>,
}

impl Evaluation {
    pub fn window_start(&self) -> DateTime<Utc> {
        self.at - self.window
    }
}

/// Where an evaluation's outputs went.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub incidents: String,
    pub report_json: String,
    pub report_md: String,
}
