//! Risk declarations as data: the `[risk]` table of every detection spec, and the incident
//! rules of `queries/risk/*.toml`.
//!
//! In: TOML text (built-in files embedded in the binary, or a folder). Out: validated
//! [`RiskSpec`]s and [`IncidentRule`]s. Invariant: parsed as strictly as the detection specs
//! — an unknown field, a missing field, an unknown column, technique or measure, or a rule
//! without a condition is an error naming the file and the field.

use std::path::Path;

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

/// The incident rules shipped with kubeseen: (file name, text).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "distinct_detections_24h.toml",
        include_str!("../../queries/risk/distinct_detections_24h.toml"),
    ),
    (
        "risk_threshold_24h.toml",
        include_str!("../../queries/risk/risk_threshold_24h.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Read { file: String, source: std::io::Error },
}

/// One incident rule: when an object's risk over the window meets every condition of `when`
/// (or of `splunk_compat.when` under `--splunk-compat`), it is an incident.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IncidentRule {
    /// The file name without `.toml`.
    pub name: String,
    pub title: String,
    pub description: String,
    pub when: Conditions,
    #[serde(default)]
    pub splunk_compat: Option<CompatRule>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CompatRule {
    pub when: Conditions,
}

/// Conditions on an object's risk in the window; all given ones must hold.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The sum of the events' scores.
    #[serde(default)]
    pub total_score: Option<Threshold>,
    /// Distinct detections (ES: distinct sources, i.e. searches).
    #[serde(default)]
    pub distinct_detections: Option<Threshold>,
    /// Distinct ATT&CK tactics.
    #[serde(default)]
    pub distinct_tactics: Option<Threshold>,
    /// Distinct telemetry sources (`[risk] source` of the detections).
    #[serde(default)]
    pub distinct_sources: Option<Threshold>,
    /// Risk events (findings).
    #[serde(default)]
    pub findings: Option<Threshold>,
}

/// `{ at_least = N }` (≥) or `{ above = N }` (>, as the stock SPL writes it).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    #[serde(default)]
    pub at_least: Option<i64>,
    #[serde(default)]
    pub above: Option<i64>,
}

impl Threshold {
    pub fn holds(&self, v: i64) -> bool {
        match (self.at_least, self.above) {
            (Some(n), _) => v >= n,
            (None, Some(n)) => v > n,
            (None, None) => false,
        }
    }

    fn describe(&self) -> String {
        match (self.at_least, self.above) {
            (Some(n), _) => format!("≥ {n}"),
            (None, Some(n)) => format!("> {n}"),
            (None, None) => String::new(),
        }
    }
}

/// The measures of one object's risk that rules test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measures {
    pub total_score: i64,
    pub distinct_detections: i64,
    pub distinct_tactics: i64,
    pub distinct_sources: i64,
    pub findings: i64,
}

impl Conditions {
    fn each(&self) -> [(&'static str, Option<&Threshold>); 5] {
        [
            ("total_score", self.total_score.as_ref()),
            ("distinct_detections", self.distinct_detections.as_ref()),
            ("distinct_tactics", self.distinct_tactics.as_ref()),
            ("distinct_sources", self.distinct_sources.as_ref()),
            ("findings", self.findings.as_ref()),
        ]
    }

    pub fn holds(&self, m: &Measures) -> bool {
        let value = |name: &str| match name {
            "total_score" => m.total_score,
            "distinct_detections" => m.distinct_detections,
            "distinct_tactics" => m.distinct_tactics,
            "distinct_sources" => m.distinct_sources,
            _ => m.findings,
        };
        let given: Vec<_> = self.each().into_iter().filter_map(|(n, t)| t.map(|t| (n, t))).collect();
        !given.is_empty() && given.iter().all(|(n, t)| t.holds(value(n)))
    }

    /// `total_score ≥ 100 and distinct_detections ≥ 4`
    pub fn describe(&self) -> String {
        self.each()
            .into_iter()
            .filter_map(|(n, t)| t.map(|t| format!("{n} {}", t.describe())))
            .collect::<Vec<_>>()
            .join(" and ")
    }

    fn validate(&self, field: &str) -> Result<(), String> {
        let mut any = false;
        for (n, t) in self.each() {
            let Some(t) = t else { continue };
            any = true;
            match (t.at_least, t.above) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(format!("{field}.{n}: give exactly one of at_least (≥) or above (>)"))
                }
                (Some(v), None) | (None, Some(v)) if v < 0 => {
                    return Err(format!("{field}.{n}: the threshold must not be negative"))
                }
                _ => {}
            }
        }
        if !any {
            return Err(format!(
                "{field}: no condition (total_score, distinct_detections, distinct_tactics, distinct_sources, findings)"
            ));
        }
        Ok(())
    }
}

impl IncidentRule {
    pub fn parse(file: &str, text: &str) -> Result<IncidentRule, RuleError> {
        let invalid = |message: String| RuleError::Invalid {
            file: file.to_string(),
            message,
        };
        let rule: IncidentRule = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        rule.when.validate("when").map_err(invalid)?;
        if let Some(c) = &rule.splunk_compat {
            c.when.validate("splunk_compat.when").map_err(invalid)?;
        }
        let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if rule.name != stem {
            return Err(invalid(format!(
                "name {:?} must be the file name without .toml ({stem:?})",
                rule.name
            )));
        }
        Ok(rule)
    }

    /// The conditions of this mode.
    pub fn conditions(&self, splunk_compat: bool) -> &Conditions {
        match (&self.splunk_compat, splunk_compat) {
            (Some(c), true) => &c.when,
            _ => &self.when,
        }
    }
}

/// The built-in rules, or every `*.toml` of `dir`, sorted by name.
pub fn load(dir: Option<&Path>) -> Result<Vec<IncidentRule>, RuleError> {
    let mut rules = Vec::new();
    match dir {
        None => {
            for (file, text) in BUILTIN {
                rules.push(IncidentRule::parse(file, text)?);
            }
        }
        Some(dir) => {
            let rd = std::fs::read_dir(dir).map_err(|source| RuleError::Read {
                file: dir.display().to_string(),
                source,
            })?;
            let mut files: Vec<_> = rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            for f in files {
                let name = f.display().to_string();
                let text = std::fs::read_to_string(&f).map_err(|source| RuleError::Read {
                    file: name.clone(),
                    source,
                })?;
                rules.push(IncidentRule::parse(&name, &text)?);
            }
            if rules.is_empty() {
                return Err(RuleError::Invalid {
                    file: dir.display().to_string(),
                    message: "no *.toml incident rules in this folder".into(),
                });
            }
        }
    }
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_are_the_files_and_parse_strictly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/risk");
        let from_files = load(Some(&dir)).expect("queries/risk parses");
        let builtin = load(None).expect("builtin");
        assert_eq!(from_files, builtin);
        let names: Vec<&str> = builtin.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["distinct_detections_24h", "risk_threshold_24h"]);
        // ≥ 100 by default, the stock `> 100` under --splunk-compat.
        let t = &builtin[1];
        let m = |score| Measures {
            total_score: score,
            distinct_detections: 1,
            distinct_tactics: 1,
            distinct_sources: 1,
            findings: 4,
        };
        assert!(t.conditions(false).holds(&m(100)));
        assert!(!t.conditions(false).holds(&m(99)));
        assert!(!t.conditions(true).holds(&m(100)));
        assert!(t.conditions(true).holds(&m(101)));
    }

    #[test]
    fn rule_errors_name_the_file_and_field() {
        let text = BUILTIN[1].1;
        let err = IncidentRule::parse("risk_threshold_24h.toml", &text.replace("at_least", "at_leats"))
            .expect_err("unknown field");
        assert!(err.to_string().contains("at_leats"), "{err}");
        assert!(err.to_string().starts_with("risk_threshold_24h.toml"), "{err}");
        let err = IncidentRule::parse("other.toml", text).expect_err("name is the file name");
        assert!(err.to_string().contains("\"other\""), "{err}");
        let err = IncidentRule::parse("x.toml", "name = \"x\"\ntitle = \"t\"\ndescription = \"d\"\n[when]\n")
            .expect_err("no condition");
        assert!(err.to_string().contains("no condition"), "{err}");
        let err = IncidentRule::parse(
            "x.toml",
            "name = \"x\"\ntitle = \"t\"\ndescription = \"d\"\n[when]\ntotal_score = { at_least = 1, above = 2 }\n",
        )
        .expect_err("both comparators");
        assert!(err.to_string().contains("when.total_score"), "{err}");
    }

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
