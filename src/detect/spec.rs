//! Detection specs: the files of `queries/`, parsed strictly.
//!
//! In: TOML text (the built-in files are embedded in the binary; `--queries DIR` reads a folder
//! instead). Out: validated [`Spec`]s. Invariant: an unknown field, a missing field, a column
//! that is not in the points table or a bad duration is an error naming the file and the field.

use std::path::Path;

use serde::Deserialize;

use crate::config::parse_duration;
use crate::lake::schema::PROMOTED;

/// The detections shipped with kubeseen: (file name, text).
pub const BUILTIN: &[(&str, &str)] = &[(
    "process_new_path.toml",
    include_str!("../../queries/process_new_path.toml"),
)];

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Read { file: String, source: std::io::Error },
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub family: Family,
    pub mitre_attack: Vec<String>,
    pub impact: u32,
    pub confidence: u32,
    /// `{column}` placeholders are replaced by the finding's value.
    pub message: String,
    #[serde(default)]
    pub references: Vec<String>,
    pub windows: Windows,
    pub new_value: Option<NewValue>,
    #[serde(default)]
    pub splunk_compat: Option<SplunkCompat>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    NewValue,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    pub current: String,
    pub baseline: String,
}

/// The new-value family: keys present in the current window and absent from the baseline.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NewValue {
    /// Columns of the points table that make the key.
    pub key: Vec<String>,
    /// A point counts as a sighting if its metric is one of these…
    #[serde(default)]
    pub presence_metrics: Vec<String>,
    /// …or starts with one of these.
    #[serde(default)]
    pub presence_metric_prefixes: Vec<String>,
    /// The monitored thing whose history is the baseline (a node): baseline coverage is per
    /// entity, and prevalence counts other entities.
    pub entity: String,
    /// Where prevalence is counted (the cluster).
    pub scope: Vec<String>,
    /// What prevalence is counted of (the path).
    pub prevalence_of: Vec<String>,
    /// Evidence columns: the value at the first sighting in the window.
    #[serde(default)]
    pub context: Vec<String>,
    /// An integer column whose distinct values in the window are listed (`process_pids`).
    #[serde(default)]
    pub pids: Option<String>,
}

/// What `--splunk-compat` replaces in `new_value`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplunkCompat {
    pub key: Vec<String>,
    #[serde(default)]
    pub presence_metrics: Vec<String>,
    #[serde(default)]
    pub presence_metric_prefixes: Vec<String>,
}

impl Spec {
    pub fn parse(file: &str, text: &str) -> Result<Spec, SpecError> {
        let invalid = |message: String| SpecError::Invalid {
            file: file.to_string(),
            message,
        };
        let spec: Spec = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        for (what, d) in [
            ("windows.current", &spec.windows.current),
            ("windows.baseline", &spec.windows.baseline),
        ] {
            parse_duration(d).map_err(|e| invalid(format!("{what}: {e}")))?;
        }
        if spec.impact > 100 || spec.confidence > 100 {
            return Err(invalid("impact and confidence are 0..=100".into()));
        }
        let nv = match (&spec.family, &spec.new_value) {
            (Family::NewValue, Some(nv)) => nv,
            (Family::NewValue, None) => return Err(invalid("family new_value needs a [new_value] table".into())),
        };
        let known = |c: &str| PROMOTED.iter().any(|(_, col)| *col == c) || c == "metric";
        let mut columns: Vec<(&str, &String)> = Vec::new();
        columns.extend(nv.key.iter().map(|c| ("new_value.key", c)));
        columns.extend(nv.scope.iter().map(|c| ("new_value.scope", c)));
        columns.extend(nv.prevalence_of.iter().map(|c| ("new_value.prevalence_of", c)));
        columns.extend(nv.context.iter().map(|c| ("new_value.context", c)));
        columns.push(("new_value.entity", &nv.entity));
        columns.extend(nv.pids.iter().map(|c| ("new_value.pids", c)));
        if let Some(sc) = &spec.splunk_compat {
            columns.extend(sc.key.iter().map(|c| ("splunk_compat.key", c)));
        }
        for (field, c) in columns {
            if !known(c) {
                return Err(invalid(format!("{field}: {c:?} is not a column of the points table")));
            }
        }
        if nv.key.is_empty() {
            return Err(invalid("new_value.key is empty".into()));
        }
        if nv.presence_metrics.is_empty() && nv.presence_metric_prefixes.is_empty() {
            return Err(invalid(
                "new_value needs presence_metrics or presence_metric_prefixes".into(),
            ));
        }
        for c in nv.scope.iter().chain([&nv.entity]) {
            if !nv.key.contains(c) {
                return Err(invalid(format!(
                    "new_value.scope/entity column {c:?} must be part of new_value.key"
                )));
            }
        }
        for (i, ch) in spec.message.match_indices('{') {
            let rest = &spec.message[i + ch.len()..];
            let Some(end) = rest.find('}') else {
                return Err(invalid("message: unclosed {".into()));
            };
            if !known(&rest[..end]) {
                return Err(invalid(format!("message: {{{}}} is not a column", &rest[..end])));
            }
        }
        let slug_ok = !spec.slug.is_empty()
            && spec
                .slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !slug_ok {
            return Err(invalid(format!("slug {:?}: use a-z, 0-9 and _", spec.slug)));
        }
        Ok(spec)
    }

    /// impact × confidence / 100, as ESCU computes it.
    pub fn risk_score(&self) -> i64 {
        (self.impact * self.confidence / 100) as i64
    }
}

/// The rollup shape serving every spec of `specs` in both modes: the union of the columns
/// their baselines group by.
pub fn rollup_shape(specs: &[Spec]) -> crate::lake::rollup::RollupShape {
    let mut cols: Vec<&String> = Vec::new();
    for s in specs {
        if let Some(nv) = &s.new_value {
            cols.extend(
                nv.key
                    .iter()
                    .chain(&nv.scope)
                    .chain(&nv.prevalence_of)
                    .chain([&nv.entity]),
            );
        }
        if let Some(sc) = &s.splunk_compat {
            cols.extend(sc.key.iter());
        }
    }
    crate::lake::rollup::RollupShape::new(cols)
}

/// The built-in specs, or every `*.toml` of `dir`, sorted by slug.
pub fn load(dir: Option<&Path>) -> Result<Vec<Spec>, SpecError> {
    let mut specs = Vec::new();
    match dir {
        None => {
            for (file, text) in BUILTIN {
                specs.push(Spec::parse(file, text)?);
            }
        }
        Some(dir) => {
            let rd = std::fs::read_dir(dir).map_err(|source| SpecError::Read {
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
                let text = std::fs::read_to_string(&f).map_err(|source| SpecError::Read {
                    file: name.clone(),
                    source,
                })?;
                specs.push(Spec::parse(&name, &text)?);
            }
        }
    }
    specs.sort_by(|a, b| a.slug.cmp(&b.slug));
    for w in specs.windows(2) {
        if w[0].slug == w[1].slug {
            return Err(SpecError::Invalid {
                file: w[1].slug.clone(),
                message: "two detections share this slug".into(),
            });
        }
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_queries_parses_strictly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let specs = load(Some(&dir)).expect("queries/ parses");
        assert!(!specs.is_empty());
        // The embedded copies are the files themselves.
        assert_eq!(specs, load(None).expect("builtin"));
        let p = specs
            .iter()
            .find(|s| s.slug == "process_new_path")
            .expect("process_new_path");
        assert_eq!(p.id, "454076fb-0e9e-4adf-b93a-da132621c5e6");
        assert_eq!(p.risk_score(), 25);
        assert_eq!(p.mitre_attack, vec!["T1204"]);
    }

    #[test]
    fn unknown_field_is_an_error_naming_it() {
        let text = BUILTIN[0].1.replace("impact = 50", "impact = 50\nimpactt = 1");
        let err = Spec::parse("x.toml", &text).expect_err("unknown field");
        assert!(err.to_string().contains("impactt"), "{err}");
        assert!(err.to_string().starts_with("x.toml"));
    }

    #[test]
    fn unknown_column_and_bad_duration_are_errors() {
        let text = BUILTIN[0].1.replace(
            "\"process_executable_path\"]\npresence",
            "\"process_exe_path\"]\npresence",
        );
        assert!(Spec::parse("x.toml", &text)
            .expect_err("column")
            .to_string()
            .contains("process_exe_path"));
        let text = BUILTIN[0].1.replace("current = \"1h\"", "current = \"1 hour\"");
        assert!(Spec::parse("x.toml", &text)
            .expect_err("duration")
            .to_string()
            .contains("windows.current"));
    }
}
