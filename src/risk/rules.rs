//! Incident rules as data: `queries/risk/*.toml` (the `[risk]` table of each detection spec is
//! `detect::risk_object`).
//!
//! In: TOML text (built-in files embedded in the binary, or a folder). Out: validated
//! [`IncidentRule`]s. Invariant: parsed as strictly as the detection specs — an unknown field,
//! a missing field, an unknown measure, or a rule without a condition is an error naming the
//! file and the field.

use std::path::Path;

use serde::Deserialize;

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
            let files = crate::config::toml_files(dir).map_err(|(file, source)| RuleError::Read { file, source })?;
            for (name, text) in files {
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
}
