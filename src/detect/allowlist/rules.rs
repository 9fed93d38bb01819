//! Allowlist rules: the TOML file → validated [`Rule`]s (parsing, globs, expiry).
//!
//! In: the text of an allowlist file. Out: an [`Allowlist`] or an error naming the file and
//! the rule. Invariant: pure — no Polars, no I/O beyond [`Allowlist::load`] reading the file —
//! so the fuzz targets in `fuzz/` build it on its own; applying rules to findings lives in the
//! parent module. Unknown fields, empty matches and empty reasons are errors.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use globset::GlobMatcher;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    #[error("allowlist {file}: {message}")]
    Invalid { file: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rule: Vec<RuleText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    name: String,
    reason: String,
    #[serde(default)]
    detection: Option<String>,
    #[serde(default)]
    expires: Option<String>,
    #[serde(rename = "match")]
    matches: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub reason: String,
    pub(super) detection: Option<GlobMatcher>,
    /// The rule applies to windows ending at or before this instant.
    pub expires: Option<DateTime<Utc>>,
    pub(super) matches: Vec<(String, String, GlobMatcher)>,
}

#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    pub file: String,
    pub rules: Vec<Rule>,
}

fn glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

impl Allowlist {
    pub fn load(path: &Path) -> Result<Allowlist, AllowlistError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| AllowlistError::Invalid {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Allowlist, AllowlistError> {
        let invalid = |message: String| AllowlistError::Invalid {
            file: file.to_string(),
            message,
        };
        let parsed: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut rules = Vec::new();
        for r in parsed.rule {
            let at = |m: String| invalid(format!("rule {:?}: {m}", r.name));
            if r.matches.is_empty() {
                return Err(at("[rule.match] is empty: it would suppress every finding".into()));
            }
            if r.reason.trim().is_empty() {
                return Err(at("reason is empty: say why these findings are known good".into()));
            }
            let expires = match &r.expires {
                None => None,
                Some(s) => Some(parse_expiry(s).map_err(at)?),
            };
            let detection = match &r.detection {
                None => None,
                Some(d) => Some(glob(d).map_err(|e| at(format!("detection: {e}")))?),
            };
            let mut matches = Vec::new();
            for (col, pat) in &r.matches {
                matches.push((
                    col.clone(),
                    pat.clone(),
                    glob(pat).map_err(|e| at(format!("match.{col}: {e}")))?,
                ));
            }
            rules.push(Rule {
                name: r.name.clone(),
                reason: r.reason.clone(),
                detection,
                expires,
                matches,
            });
        }
        Ok(Allowlist {
            file: file.to_string(),
            rules,
        })
    }

    /// Rules that expired before `window_end`.
    pub fn expired(&self, window_end: DateTime<Utc>) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| r.expires.is_some_and(|e| window_end > e))
            .collect()
    }
}

fn parse_expiry(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        // A date means "through the end of that day", UTC.
        return d
            .succ_opt()
            .and_then(|n| n.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .ok_or_else(|| format!("expires {s:?} is out of range"));
    }
    crate::config::parse_instant(s).map_err(|e| format!("expires: {e}"))
}
