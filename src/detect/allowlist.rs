//! Allowlist: the ESCU `<detection>_filter` macro, done properly.
//!
//! In: a TOML file of rules; each matches findings by globs on their columns, has a reason and
//! an optional expiry. Out: findings minus the suppressed ones, plus which rule suppressed what.
//! Invariants: unknown fields and unknown columns are errors naming the file and the rule; a
//! suppressed finding is counted per rule and listed in the report, never silently gone; expiry
//! is judged against the window end (`--at`), not the wall clock, so re-runs agree.
//!
//! ```toml
//! [[rule]]
//! name = "ci-build-tools"
//! reason = "CI runners build and run binaries from the workspace (SEC-123)"
//! detection = "process_new_path"          # optional glob over detection slugs
//! expires = "2027-01-31"                  # optional: a date (through its end, UTC) or RFC 3339
//! [rule.match]
//! k8s_node_name = "ci-runner-*"
//! process_executable_path = "/builds/**"
//! ```

mod rules;

use chrono::{DateTime, Utc};
use polars::prelude::*;
use serde::Serialize;

pub use rules::{Allowlist, AllowlistError, Rule};

/// One suppressed finding, for the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suppressed {
    pub rule: String,
    pub reason: String,
    /// The finding's key, as `column=value` pairs.
    pub key: Vec<(String, String)>,
}

impl Allowlist {
    /// Every rule matches on columns findings can have (the points table's promoted columns and
    /// the findings' own text columns): a typo is an error at load, not a rule that silently
    /// never matches.
    pub fn check_columns(&self) -> Result<(), AllowlistError> {
        const FINDING_TEXT: [&str; 4] = ["detection", "detection_id", "message", "finding_uid"];
        for rule in &self.rules {
            for (col, _, _) in &rule.matches {
                let known =
                    crate::lake::schema::PROMOTED.iter().any(|(_, c)| c == col) || FINDING_TEXT.contains(&col.as_str());
                if !known {
                    return Err(AllowlistError::Invalid {
                        file: self.file.clone(),
                        message: format!(
                            "rule {:?}: match.{col}: no findings have this column (use a column of the points table such as k8s_node_name, or detection/message)",
                            rule.name
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Splits `findings` into kept rows and suppressed ones. `key` names the columns listed for
    /// each suppressed finding.
    pub fn apply(
        &self,
        detection: &str,
        window_end: DateTime<Utc>,
        findings: DataFrame,
        key: &[String],
    ) -> Result<(DataFrame, Vec<Suppressed>), AllowlistError> {
        let n = findings.height();
        let mut suppressed_by: Vec<Option<usize>> = vec![None; n];
        for (ri, rule) in self.rules.iter().enumerate() {
            if rule.expires.is_some_and(|e| window_end > e) {
                continue;
            }
            if rule.detection.as_ref().is_some_and(|d| !d.is_match(detection)) {
                continue;
            }
            // A rule for every detection skips the detections whose findings lack one of its
            // columns (a node rule and the edges, keyed by cluster); a rule naming detections
            // must fit them.
            if rule.detection.is_none() && rule.matches.iter().any(|(col, _, _)| findings.column(col).is_err()) {
                continue;
            }
            let mut mask = vec![true; n];
            for (col, _, m) in &rule.matches {
                let values = findings
                    .column(col)
                    .and_then(|c| c.cast(&DataType::String))
                    .map_err(|_| AllowlistError::Invalid {
                        file: self.file.clone(),
                        message: format!(
                            "rule {:?}: match.{col}: {detection} findings have no column {col:?}",
                            rule.name
                        ),
                    })?;
                let values = values.str().map_err(|e| AllowlistError::Invalid {
                    file: self.file.clone(),
                    message: e.to_string(),
                })?;
                for (i, v) in values.iter().enumerate() {
                    mask[i] &= v.is_some_and(|v| m.is_match(v));
                }
            }
            for (i, hit) in mask.into_iter().enumerate() {
                if hit && suppressed_by[i].is_none() {
                    suppressed_by[i] = Some(ri);
                }
            }
        }
        let mut suppressed = Vec::new();
        let key_cols: Vec<Option<StringChunked>> = key
            .iter()
            .map(|k| {
                findings
                    .column(k)
                    .ok()
                    .and_then(|c| c.cast(&DataType::String).ok())
                    .and_then(|c| c.str().ok().cloned())
            })
            .collect();
        for (i, s) in suppressed_by.iter().enumerate() {
            if let Some(ri) = s {
                let rule = &self.rules[*ri];
                suppressed.push(Suppressed {
                    rule: rule.name.clone(),
                    reason: rule.reason.clone(),
                    key: key
                        .iter()
                        .zip(&key_cols)
                        .map(|(k, c)| (k.clone(), c.as_ref().and_then(|c| c.get(i)).unwrap_or("").to_string()))
                        .collect(),
                });
            }
        }
        let keep = BooleanChunked::from_iter_values("keep".into(), suppressed_by.iter().map(Option::is_none));
        let kept = findings.filter(&keep).map_err(|e| AllowlistError::Invalid {
            file: self.file.clone(),
            message: e.to_string(),
        })?;
        Ok((kept, suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        DataFrame::new(
            3,
            vec![
                Column::new("k8s_node_name".into(), ["ci-runner-1", "web-1", "ci-runner-2"]),
                Column::new(
                    "process_executable_path".into(),
                    ["/builds/x/tool", "/builds/x/tool", "/usr/bin/ls"],
                ),
            ],
        )
        .expect("frame")
    }

    const RULES: &str = r#"
[[rule]]
name = "ci"
reason = "CI builds"
expires = "2026-12-31"
[rule.match]
k8s_node_name = "ci-runner-*"
process_executable_path = "/builds/**"
"#;

    fn t(s: &str) -> DateTime<Utc> {
        crate::config::parse_instant(s).expect("t")
    }

    #[test]
    fn suppresses_only_rows_matching_every_glob_until_expiry() {
        let a = Allowlist::parse("a.toml", RULES).expect("parse");
        let key = vec!["k8s_node_name".to_string(), "process_executable_path".to_string()];
        let (kept, sup) = a
            .apply("process_new_path", t("2026-12-31T23:00:00Z"), frame(), &key)
            .expect("apply");
        assert_eq!(kept.height(), 2);
        assert_eq!(sup.len(), 1);
        assert_eq!(sup[0].rule, "ci");
        assert_eq!(sup[0].key[0], ("k8s_node_name".to_string(), "ci-runner-1".to_string()));
        // Expired: the date runs through its end, then the rule no longer applies.
        let (kept, sup) = a
            .apply("process_new_path", t("2027-01-01T01:00:00Z"), frame(), &key)
            .expect("apply");
        assert_eq!((kept.height(), sup.len()), (3, 0));
        assert_eq!(a.expired(t("2027-01-01T01:00:00Z")).len(), 1);
    }

    #[test]
    fn star_does_not_cross_slashes() {
        let a = Allowlist::parse("a.toml", &RULES.replace("/builds/**", "/builds/*")).expect("parse");
        let key = vec![];
        let (kept, _) = a
            .apply("process_new_path", t("2026-01-01T00:00:00Z"), frame(), &key)
            .expect("apply");
        assert_eq!(kept.height(), 3);
    }

    #[test]
    fn errors_name_the_file_rule_and_field() {
        let e = Allowlist::parse("a.toml", &RULES.replace("reason =", "reasn =")).expect_err("unknown field");
        assert!(
            e.to_string().contains("a.toml") && e.to_string().contains("reasn"),
            "{e}"
        );
        let e = Allowlist::parse("a.toml", &RULES.replace("2026-12-31", "soon")).expect_err("expiry");
        assert!(e.to_string().contains("\"ci\""), "{e}");
        // A column no findings have is an error at load…
        let a = Allowlist::parse("a.toml", &RULES.replace("k8s_node_name =", "k8s_nod =")).expect("parse");
        let e = a.check_columns().expect_err("column");
        assert!(
            e.to_string().contains("k8s_nod") && e.to_string().contains("a.toml"),
            "{e}"
        );
        // …and one that only some detections have is skipped by the others (an edge detection
        // has no node), unless the rule names the detection.
        let edge_rule = RULES.replace("k8s_node_name =", "dest_workload_name =");
        let a = Allowlist::parse("a.toml", &edge_rule).expect("parse");
        a.check_columns().expect("a known column");
        let (kept, sup) = a
            .apply("process_new_path", t("2026-01-01T00:00:00Z"), frame(), &[])
            .expect("skipped");
        assert_eq!((kept.height(), sup.len()), (3, 0));
        let named = edge_rule.replace("reason =", "detection = \"process_*\"\nreason =");
        let a = Allowlist::parse("a.toml", &named).expect("parse");
        let e = a
            .apply("process_new_path", t("2026-01-01T00:00:00Z"), frame(), &[])
            .expect_err("a rule naming the detection must fit it");
        assert!(e.to_string().contains("dest_workload_name"), "{e}");
        assert!(Allowlist::parse("a.toml", "[[rule]]\nname='x'\nreason='y'\n[rule.match]\n").is_err());
    }
}
