//! What a risk evaluation reports: the typed [`RiskSummary`] (written as JSON under
//! `reports/risk/` and printed by `risk --format json`), and its Markdown and terminal forms.
//!
//! In: an [`Evaluation`]. Out: the summary, text. Invariant: values from the monitored systems
//! (object names, key values) are escaped in every human-facing form (`text::escape`,
//! `text::markdown`) and exact in JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{mode, Evaluation, Event, Incident, ObjectRisk, Written};
use crate::config::fmt_instant;
use crate::detect::human;
use crate::detect::risk_object;

/// One evaluation (or, from `detect`/`backfill`, a series: every instant's incidents).
#[derive(Debug, Clone, Serialize)]
pub struct RiskSummary {
    pub kubeseen_version: String,
    pub window_start: String,
    pub window_end: String,
    /// The window length (`1d`).
    pub window: String,
    /// `intent` or `splunk_compat`.
    pub mode: String,
    pub rules: Vec<RuleSummary>,
    /// Risk events in the window (for a series: the most of any instant).
    pub events: usize,
    pub objects_count: usize,
    pub incidents_count: usize,
    pub incidents: Vec<IncidentSummary>,
    pub suppressed_repeats: Vec<IncidentSummary>,
    /// Every object with risk in the window, highest total first (one instant only).
    pub objects: Vec<ObjectRisk>,
    /// For a series: how many instants were evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluations: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Written>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleSummary {
    pub name: String,
    pub title: String,
    /// The conditions of this mode (`total_score ≥ 100`).
    pub when: String,
}

/// An incident (or a suppressed repeat): the object's risk, the contract's `findings` (uids in
/// time order) and each contributing finding.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentSummary {
    #[serde(flatten)]
    pub risk: ObjectRisk,
    pub incident_uid: String,
    /// The instant it was raised at.
    pub window_end: String,
    pub detection_count: usize,
    pub mitre_tactics: Vec<String>,
    pub findings: Vec<String>,
    pub contributions: Vec<Contribution>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<String>,
}

/// One contributing finding.
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    pub time: String,
    pub detection: String,
    pub detection_id: String,
    pub finding_uid: String,
    pub risk_score: i64,
    pub window_end: String,
    pub k8s_cluster_name: Option<String>,
    /// The finding's key columns (and `host_name`).
    pub key: BTreeMap<String, Option<String>>,
    pub message: String,
}

fn contribution(e: &Event) -> Contribution {
    Contribution {
        time: fmt_instant(e.time),
        detection: e.detection.clone(),
        detection_id: e.detection_id.clone(),
        finding_uid: e.finding_uid.clone(),
        risk_score: e.risk_score,
        window_end: fmt_instant(e.window_end),
        k8s_cluster_name: e.k8s_cluster_name.clone(),
        key: e.key.iter().cloned().collect(),
        message: e.message.clone(),
    }
}

fn incident(i: &Incident, at: &str) -> IncidentSummary {
    IncidentSummary {
        risk: i.risk.clone(),
        incident_uid: i.incident_uid.clone(),
        window_end: at.to_string(),
        detection_count: i.risk.detections.len(),
        mitre_tactics: i
            .risk
            .mitre_tactic_ids
            .iter()
            .map(|t| risk_object::tactic_name(t).to_string())
            .collect(),
        findings: i.risk.events.iter().map(|e| e.finding_uid.clone()).collect(),
        contributions: i.risk.events.iter().map(contribution).collect(),
        suppressed_by: i.suppressed_by.clone(),
    }
}

impl RiskSummary {
    /// The summary of one evaluation (`outputs` set once written).
    pub fn of(e: &Evaluation) -> RiskSummary {
        let at = fmt_instant(e.at);
        RiskSummary {
            kubeseen_version: env!("CARGO_PKG_VERSION").to_string(),
            window_start: fmt_instant(e.window_start()),
            window_end: at.clone(),
            window: human(e.window),
            mode: mode(e.splunk_compat).to_string(),
            rules: e
                .rules
                .iter()
                .map(|r| RuleSummary {
                    name: r.name.clone(),
                    title: r.title.clone(),
                    when: r.conditions(e.splunk_compat).describe(),
                })
                .collect(),
            events: e.events,
            objects_count: e.objects.len(),
            incidents_count: e.incidents.len(),
            incidents: e.incidents.iter().map(|i| incident(i, &at)).collect(),
            suppressed_repeats: e.suppressed.iter().map(|i| incident(i, &at)).collect(),
            objects: e.objects.clone(),
            evaluations: None,
            outputs: None,
        }
    }

    /// The incidents as the run summary lists them (`report::run_summary`).
    pub fn incident_lines(&self) -> Vec<crate::report::run_summary::IncidentLine> {
        self.incidents
            .iter()
            .map(|i| crate::report::run_summary::IncidentLine {
                incident_uid: i.incident_uid.clone(),
                window_end: i.window_end.clone(),
                risk_object: i.risk.risk_object.clone(),
                risk_object_type: i.risk.risk_object_type.clone(),
                k8s_cluster_name: i.risk.k8s_cluster_name.clone(),
                total_score: i.risk.total_score,
                finding_count: i.risk.finding_count,
                detections: i.risk.detections.clone(),
                rules: i.risk.rules.clone(),
            })
            .collect()
    }

    /// A series of summaries (ascending instants) as one: every instant's incidents and
    /// repeats; per-object totals belong to one instant and stay in each instant's report.
    pub fn series(all: Vec<RiskSummary>) -> Option<RiskSummary> {
        let n = all.len();
        let first_start = all.first()?.window_start.clone();
        let events = all.iter().map(|s| s.events).max().unwrap_or(0);
        let objects = all.iter().map(|s| s.objects_count).max().unwrap_or(0);
        let mut incidents = Vec::new();
        let mut suppressed = Vec::new();
        let mut last = None;
        for s in all {
            incidents.extend(s.incidents.iter().cloned());
            suppressed.extend(s.suppressed_repeats.iter().cloned());
            last = Some(s);
        }
        let mut s = last?;
        if n > 1 {
            s.window_start = first_start;
            s.events = events;
            s.objects_count = objects;
            s.incidents_count = incidents.len();
            s.incidents = incidents;
            s.suppressed_repeats = suppressed;
            s.objects = Vec::new();
            s.evaluations = Some(n);
        }
        Some(s)
    }
}

/// Untrusted text for a terminal (`text::escape`, the one escaping rule).
pub fn escape(s: &str) -> String {
    crate::text::escape(s).into_owned()
}

/// Untrusted text inside a Markdown table cell or code span (`text::markdown`).
fn md(s: &str) -> String {
    crate::text::markdown(s)
}

/// `col=value` pairs of a contribution's key (values escaped), without what the object line
/// already says (its cluster and node, a host name equal to the node) and without nulls.
fn key_text(c: &Contribution) -> String {
    let node = c.key.get("k8s_node_name").cloned().flatten();
    c.key
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .filter(|(k, v)| {
            let said = matches!(k.as_str(), "k8s_cluster_name" | "k8s_node_name")
                || (k.as_str() == "host_name" && Some(*v) == node.as_ref());
            !said
        })
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The evaluation for the terminal: one line per incident, then its findings in time order.
pub fn table(s: &RiskSummary) -> String {
    let mut out = format!(
        "risk [{} .. {}) {}: {} event(s) on {} object(s), {} incident(s), {} repeat(s) suppressed\n",
        s.window_start,
        s.window_end,
        s.mode,
        s.events,
        s.objects_count,
        s.incidents_count,
        s.suppressed_repeats.len()
    );
    for (title, list) in [
        ("INCIDENT", &s.incidents),
        ("repeat (suppressed)", &s.suppressed_repeats),
    ] {
        for i in list {
            out.push_str(&format!(
                "{title} {} {} score {} from {} detection(s) [{}] rules {} at {}\n",
                i.risk.risk_object_type,
                escape(&i.risk.risk_object),
                i.risk.total_score,
                i.detection_count,
                i.risk.detections.join(", "),
                i.risk.rules.join(", "),
                i.window_end,
            ));
            for c in &i.contributions {
                out.push_str(&format!(
                    "  {}  {:<26} +{:<3} {}\n",
                    c.time,
                    c.detection,
                    c.risk_score,
                    key_text(c)
                ));
            }
        }
    }
    out
}

/// The evaluation as Markdown (the report under `reports/risk/`).
pub fn markdown(s: &RiskSummary) -> String {
    let rules: Vec<String> = s.rules.iter().map(|r| format!("`{}` ({})", r.name, r.when)).collect();
    let mut out = format!(
        "# Risk — {} ({} window, {})\n\n- window: [{}, {})\n- {} risk event(s) on {} object(s)\n- incidents: **{}**, repeats suppressed: {}\n- rules: {}\n\n",
        s.window_end,
        s.window,
        s.mode,
        s.window_start,
        s.window_end,
        s.events,
        s.objects_count,
        s.incidents_count,
        s.suppressed_repeats.len(),
        rules.join(", ")
    );
    for (title, list) in [("Incident", &s.incidents), ("Suppressed repeat", &s.suppressed_repeats)] {
        for i in list {
            let r = &i.risk;
            out.push_str(&format!(
                "## {title}: {} {} — score {}\n\n- detections ({}): {}\n- tactics: {}; sources: {}\n- first/last finding: {} / {}\n- rules: {}\n- incident: `{}` at {}\n\n| time | detection | score | key |\n|---|---|---|---|\n",
                r.risk_object_type,
                md(&r.risk_object),
                r.total_score,
                i.detection_count,
                r.detections.join(", "),
                r.mitre_tactic_ids.join(", "),
                r.sources.join(", "),
                r.first_seen,
                r.last_seen,
                r.rules.join(", "),
                i.incident_uid,
                i.window_end,
            ));
            for c in &i.contributions {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    c.time,
                    c.detection,
                    c.risk_score,
                    md(&key_text(c))
                ));
            }
            out.push('\n');
        }
    }
    if !s.objects.is_empty() {
        out.push_str("## Risk by object\n\n| object | type | score | findings | detections | first | last |\n|---|---|---|---|---|---|---|\n");
        for o in &s.objects {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                md(&o.risk_object),
                o.risk_object_type,
                o.total_score,
                o.finding_count,
                o.detections.join(", "),
                o.first_seen,
                o.last_seen,
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!("kubeseen {}\n", s.kubeseen_version));
    out
}
