//! The `[risk]` table of a detection spec: which object each finding puts risk on, its score,
//! time and ATT&CK tactics (read by `risk`, which turns findings into risk events).
//!
//! In: the table, parsed with the spec. Out: a validated [`RiskSpec`]. Invariant: an unknown
//! column, technique or tactic, or a score out of range, is an error naming the field.

use serde::Deserialize;

use crate::lake::schema::PROMOTED;

/// The `[risk]` table of a detection spec: which object each finding puts risk on.
///
/// ```toml
/// [risk]
/// object = "k8s_node_name"          # the node, always qualified by k8s_cluster_name
/// object_type = "node"
/// splunk_compat_object = "host_name" # the SPL's `host`: the bare value, as Splunk ES sees it
/// source = "process_metrics"         # the telemetry the finding comes from
/// # score = 25                       # default: impact × confidence / 100
/// # time = "first_seen"              # the finding's timestamp column the event is placed at
/// # tactics = ["TA0002"]             # default: from the techniques of mitre_attack
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RiskSpec {
    /// The findings column holding the risk object. Unless it is `k8s_cluster_name` itself,
    /// the object is qualified by the finding's cluster (node names repeat across clusters).
    pub object: String,
    /// What the object is: `node`, `cluster`, `workload`, … (the intent's type).
    pub object_type: String,
    /// `--splunk-compat`: the column the SPL renames to `host` (bare, never qualified; its
    /// type is ESCU's `system`).
    pub splunk_compat_object: String,
    /// The telemetry behind the finding (`process_metrics`, `container_metrics`,
    /// `network_explorer`, `kubelet_stats`, …): distinct sources are counted per object.
    pub source: String,
    /// Overrides impact × confidence / 100.
    #[serde(default)]
    pub score: Option<u32>,
    /// The finding's timestamp column the risk event is placed at (default `first_seen`: the
    /// first sighting inside the detection window, so always in `[window_start, window_end)`).
    #[serde(default)]
    pub time: Option<String>,
    /// ATT&CK tactic ids, when a technique of `mitre_attack` is not in [`TECHNIQUES`].
    #[serde(default)]
    pub tactics: Option<Vec<String>>,
}

/// The event time column when the spec names none.
pub const DEFAULT_TIME: &str = "first_seen";

/// ATT&CK techniques kubeseen knows the tactics of: (technique, tactic id, tactic name).
/// Sub-techniques (`T1204.003`) take their parent's.
pub const TECHNIQUES: &[(&str, &str, &str)] = &[
    ("T1204", "TA0002", "Execution"),
    ("T1059", "TA0002", "Execution"),
    ("T1609", "TA0002", "Execution"),
    ("T1610", "TA0002", "Execution"),
    ("T1610", "TA0005", "Defense Evasion"),
    ("T1611", "TA0004", "Privilege Escalation"),
    ("T1496", "TA0040", "Impact"),
    ("T1046", "TA0007", "Discovery"),
    ("T1021", "TA0008", "Lateral Movement"),
    ("T1071", "TA0011", "Command and Control"),
    ("T1048", "TA0010", "Exfiltration"),
];

/// Tactic names by id (for the tactics a spec gives itself).
pub const TACTICS: &[(&str, &str)] = &[
    ("TA0001", "Initial Access"),
    ("TA0002", "Execution"),
    ("TA0003", "Persistence"),
    ("TA0004", "Privilege Escalation"),
    ("TA0005", "Defense Evasion"),
    ("TA0006", "Credential Access"),
    ("TA0007", "Discovery"),
    ("TA0008", "Lateral Movement"),
    ("TA0009", "Collection"),
    ("TA0010", "Exfiltration"),
    ("TA0011", "Command and Control"),
    ("TA0040", "Impact"),
    ("TA0042", "Resource Development"),
    ("TA0043", "Reconnaissance"),
];

/// The tactic ids of `techniques` (sorted, distinct), or an error naming the unknown one.
pub fn tactics_of(techniques: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for t in techniques {
        let parent = t.split('.').next().unwrap_or(t);
        let found: Vec<&str> = TECHNIQUES
            .iter()
            .filter(|(tech, _, _)| *tech == parent)
            .map(|(_, id, _)| *id)
            .collect();
        if found.is_empty() {
            return Err(format!(
                "mitre_attack {t:?}: kubeseen does not know its tactic; list it in risk.tactics (e.g. [\"TA0002\"])"
            ));
        }
        out.extend(found.into_iter().map(str::to_string));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The name of tactic `id` (`TA0002` → `Execution`).
pub fn tactic_name(id: &str) -> &'static str {
    TACTICS.iter().find(|(t, _)| *t == id).map(|(_, n)| *n).unwrap_or("")
}

impl RiskSpec {
    /// Checks the table against its detection: known columns, a score in range, known tactics.
    pub fn validate(&self, mitre_attack: &[String]) -> Result<(), String> {
        let known = |c: &str| PROMOTED.iter().any(|(_, col)| *col == c);
        for (field, c) in [
            ("risk.object", &self.object),
            ("risk.splunk_compat_object", &self.splunk_compat_object),
        ] {
            if !known(c) {
                return Err(format!("{field}: {c:?} is not a column of the points table"));
            }
        }
        let word = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !word(&self.object_type) {
            return Err(format!("risk.object_type {:?}: use a-z, 0-9 and _", self.object_type));
        }
        if !word(&self.source) {
            return Err(format!("risk.source {:?}: use a-z, 0-9 and _", self.source));
        }
        if self.score.is_some_and(|s| s > 100) {
            return Err("risk.score is 0..=100".into());
        }
        if let Some(t) = &self.time {
            if t.is_empty() {
                return Err("risk.time: empty column name".into());
            }
        }
        match &self.tactics {
            Some(ts) => {
                if ts.is_empty() {
                    return Err("risk.tactics is empty".into());
                }
                for t in ts {
                    if tactic_name(t).is_empty() {
                        return Err(format!("risk.tactics: {t:?} is not an ATT&CK tactic id (TA0002, …)"));
                    }
                }
            }
            None => {
                tactics_of(mitre_attack)?;
            }
        }
        Ok(())
    }

    /// The tactic ids of a detection with `mitre_attack` (validated at load).
    pub fn tactic_ids(&self, mitre_attack: &[String]) -> Vec<String> {
        match &self.tactics {
            Some(t) => {
                let mut t = t.clone();
                t.sort();
                t.dedup();
                t
            }
            None => tactics_of(mitre_attack).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn techniques_map_to_tactics_and_unknown_ones_are_errors() {
        assert_eq!(tactics_of(&["T1204".into()]).expect("known"), vec!["TA0002"]);
        assert_eq!(
            tactics_of(&["T1204.003".into()]).expect("sub-technique"),
            vec!["TA0002"]
        );
        assert_eq!(tactic_name("TA0002"), "Execution");
        let err = tactics_of(&["T9999".into()]).expect_err("unknown");
        assert!(err.contains("risk.tactics"), "{err}");
    }
}
