//! Detection specs: the files of `queries/`, parsed strictly.
//!
//! In: TOML text (the built-in files are embedded in the binary; `--queries DIR` reads a folder
//! instead). Out: validated [`Spec`]s. Invariant: an unknown field, a missing field, a column
//! that is not in the points table or a bad duration is an error naming the file and the field.

use std::path::Path;

use chrono::Duration;
use serde::Deserialize;

use crate::config::parse_duration;
use crate::lake::schema::PROMOTED;

/// The detections shipped with kubeseen: (file name, text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("new_tcp_edge.toml", include_str!("../../queries/new_tcp_edge.toml")),
    ("new_udp_edge.toml", include_str!("../../queries/new_udp_edge.toml")),
    (
        "process_new_path.toml",
        include_str!("../../queries/process_new_path.toml"),
    ),
    (
        "shell_on_worker_node.toml",
        include_str!("../../queries/shell_on_worker_node.toml"),
    ),
    (
        "shell_on_worker_node_cpu.toml",
        include_str!("../../queries/shell_on_worker_node_cpu.toml"),
    ),
    (
        "unseen_container_image.toml",
        include_str!("../../queries/unseen_container_image.toml"),
    ),
    ("unseen_process.toml", include_str!("../../queries/unseen_process.toml")),
    (
        "process_resource_anomaly.toml",
        include_str!("../../queries/process_resource_anomaly.toml"),
    ),
    (
        "process_resource_ratio_anomaly.toml",
        include_str!("../../queries/process_resource_ratio_anomaly.toml"),
    ),
];

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
    pub rule: Option<Rule>,
    /// The statistical family's table (see `detect::statistical::spec`).
    #[serde(default)]
    pub statistical: Option<crate::detect::statistical::spec::Statistical>,
    #[serde(default)]
    pub splunk_compat: Option<SplunkCompat>,
    /// The risk object each finding puts risk on (see `risk_object`).
    pub risk: super::risk_object::RiskSpec,
    /// The durations above, parsed once when the spec is loaded.
    #[serde(skip)]
    pub lengths: Lengths,
}

/// A spec's durations, parsed and checked at load: nothing after [`Spec::parse`] parses the
/// text of `windows`, `rule` or `splunk_compat` durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lengths {
    /// `windows.current`.
    pub current: Duration,
    /// `windows.baseline` (new_value).
    pub baseline: Option<Duration>,
    /// `splunk_compat.current` and `splunk_compat.baseline_gap` (new_value).
    pub compat_current: Option<Duration>,
    pub compat_baseline_gap: Option<Duration>,
    /// `rule.bucket` and `rule.lookback` (rule), `statistical.bucket` and
    /// `statistical.lookback` (statistical); zero otherwise.
    pub bucket: Duration,
    pub lookback: Duration,
    /// `splunk_compat.lookup.bucket` (statistical): the `span` of the SPL's lookup baseline.
    pub compat_lookup_bucket: Option<Duration>,
}

impl Default for Lengths {
    fn default() -> Self {
        Lengths {
            current: Duration::zero(),
            baseline: None,
            compat_current: None,
            compat_baseline_gap: None,
            bucket: Duration::zero(),
            lookback: Duration::zero(),
            compat_lookup_bucket: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// A key present in the current window and absent from the baseline (anti-join).
    NewValue,
    /// A condition on the current window alone (no baseline).
    Rule,
    /// Values far above the entity's own baseline (z-score).
    Statistical,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::NewValue => "new_value",
            Family::Rule => "rule",
            Family::Statistical => "statistical",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    pub current: String,
    /// The history a new value is compared against (new_value only).
    #[serde(default)]
    pub baseline: Option<String>,
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
    #[serde(default)]
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

/// The rule family: a key whose `match_column` is one of `match_values` and which is active
/// in some `bucket` of the window. A bucket is active when one of the `active_when` signals is:
/// a gauge signal when the bucket's average of its metric is above `above`, a counter signal
/// when its metric increased by more than `above` in the bucket.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub key: Vec<String>,
    pub match_column: String,
    pub match_values: Vec<String>,
    pub bucket: String,
    /// How far before the window a counter's previous point is looked for.
    #[serde(default = "default_lookback")]
    pub lookback: String,
    pub signals: Vec<Signal>,
    pub active_when: Vec<String>,
    #[serde(default)]
    pub context: Vec<String>,
}

fn default_lookback() -> String {
    "5m".into()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub name: String,
    pub metric: String,
    pub kind: SignalKind,
    #[serde(default)]
    pub above: f64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// The bucket's average value.
    Gauge,
    /// The increase since the series' previous point (a cumulative counter).
    Counter,
}

/// What `--splunk-compat` replaces (the SPL taken literally).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplunkCompat {
    pub key: Vec<String>,
    #[serde(default)]
    pub presence_metrics: Vec<String>,
    #[serde(default)]
    pub presence_metric_prefixes: Vec<String>,
    /// new_value: the key columns the current window is compared on (default: all of `key`;
    /// the edge detections' history ignores the cluster).
    #[serde(default)]
    pub match_on: Option<Vec<String>>,
    /// new_value: the SPL's current window, when it differs…
    #[serde(default)]
    pub current: Option<String>,
    /// …and how long before `--at` its history ends (default: at the current window's start).
    #[serde(default)]
    pub baseline_gap: Option<String>,
    /// rule: the signals and which of them make a bucket active.
    #[serde(default)]
    pub signals: Option<Vec<Signal>>,
    #[serde(default)]
    pub active_when: Option<Vec<String>>,
    // statistical: see `detect::statistical::spec::StatisticalCompat`.
    #[serde(default)]
    pub metrics: Option<Vec<crate::detect::statistical::spec::Metric>>,
    #[serde(default)]
    pub ratios: Option<Vec<crate::detect::statistical::spec::Ratio>>,
    #[serde(default)]
    pub combine: Option<crate::detect::statistical::spec::Combine>,
    #[serde(default)]
    pub baseline_key: Option<Vec<String>>,
    #[serde(default)]
    pub lookup: Option<crate::detect::statistical::spec::Lookup>,
    #[serde(default)]
    pub fillnull: Option<crate::detect::statistical::spec::FillNull>,
    #[serde(default)]
    pub stdev_as_avg: Option<Vec<String>>,
}

impl SplunkCompat {
    /// The statistical family's overrides.
    pub fn statistical(&self) -> crate::detect::statistical::spec::StatisticalCompat {
        crate::detect::statistical::spec::StatisticalCompat {
            metrics: self.metrics.clone(),
            ratios: self.ratios.clone(),
            combine: self.combine,
            baseline_key: self.baseline_key.clone(),
            lookup: self.lookup.clone(),
            fillnull: self.fillnull,
            stdev_as_avg: self.stdev_as_avg.clone(),
        }
    }

    fn has_statistical(&self) -> bool {
        self.statistical() != Default::default()
    }
}

impl Spec {
    pub fn parse(file: &str, text: &str) -> Result<Spec, SpecError> {
        let invalid = |message: String| SpecError::Invalid {
            file: file.to_string(),
            message,
        };
        let mut spec: Spec = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        spec.lengths = spec.parse_lengths().map_err(&invalid)?;
        spec.validate().map_err(invalid)?;
        Ok(spec)
    }

    /// The durations of the spec, parsed (an error names the field).
    fn parse_lengths(&self) -> Result<Lengths, String> {
        let d = |what: &str, s: &str| parse_duration(s).map_err(|e| format!("{what}: {e}"));
        let opt = |what: &str, s: Option<&String>| s.map(|s| d(what, s)).transpose();
        let compat = self.splunk_compat.as_ref();
        let mut lengths = Lengths {
            current: d("windows.current", &self.windows.current)?,
            baseline: opt("windows.baseline", self.windows.baseline.as_ref())?,
            compat_current: opt("splunk_compat.current", compat.and_then(|c| c.current.as_ref()))?,
            compat_baseline_gap: opt(
                "splunk_compat.baseline_gap",
                compat.and_then(|c| c.baseline_gap.as_ref()),
            )?,
            ..Lengths::default()
        };
        if let Some(r) = &self.rule {
            lengths.bucket = d("rule.bucket", &r.bucket)?;
            lengths.lookback = d("rule.lookback", &r.lookback)?;
        }
        if let Some(st) = &self.statistical {
            lengths.bucket = d("statistical.bucket", &st.bucket)?;
            lengths.lookback = d("statistical.lookback", &st.lookback)?;
            let lookup_bucket = compat.and_then(|c| c.lookup.as_ref()).and_then(|l| l.bucket.as_ref());
            lengths.compat_lookup_bucket = opt("splunk_compat.lookup.bucket", lookup_bucket)?;
        }
        Ok(lengths)
    }

    fn validate(&self) -> Result<(), String> {
        let spec = self;
        if spec.impact > 100 || spec.confidence > 100 {
            return Err("impact and confidence are 0..=100".into());
        }
        spec.risk.validate(&spec.mitre_attack)?;
        let known = |c: &str| PROMOTED.iter().any(|(_, col)| *col == c) || c == "metric";
        let mut columns: Vec<(&str, &String)> = Vec::new();
        let statistical_columns = spec.validate_statistical()?;
        columns.extend(statistical_columns.iter().map(|(w, c)| (*w, c)));
        match (spec.family, &spec.new_value, &spec.rule) {
            (Family::Statistical, None, None) => spec.validate_statistical_compat()?,
            (Family::NewValue, Some(nv), None) => spec.validate_new_value(nv, &mut columns)?,
            (Family::Rule, None, Some(r)) => spec.validate_rule(r, &mut columns)?,
            (f, _, _) => {
                return Err(format!(
                    "family {} needs exactly its own table ([{}]) and not the other family's",
                    f.as_str(),
                    f.as_str()
                ))
            }
        }
        if let Some(sc) = &spec.splunk_compat {
            columns.extend(sc.key.iter().map(|c| ("splunk_compat.key", c)));
        }
        for (field, c) in columns {
            if !known(c) {
                return Err(format!("{field}: {c:?} is not a column of the points table"));
            }
        }
        for (i, ch) in spec.message.match_indices('{') {
            let rest = &spec.message[i + ch.len()..];
            let Some(end) = rest.find('}') else {
                return Err("message: unclosed {".into());
            };
            if !known(&rest[..end]) {
                return Err(format!("message: {{{}}} is not a column", &rest[..end]));
            }
        }
        let slug_ok = !spec.slug.is_empty()
            && spec.slug.len() <= 64
            && spec
                .slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !slug_ok {
            return Err(format!("slug {:?}: use a-z, 0-9 and _ (at most 64)", spec.slug));
        }
        Ok(())
    }

    /// The checks of a new-value spec; adds the columns it names to `columns`.
    /// The `[statistical]` table: present exactly for the family, valid; the columns it names.
    fn validate_statistical(&self) -> Result<Vec<(&'static str, String)>, String> {
        let spec = self;
        if spec.statistical.is_some() != (spec.family == Family::Statistical)
            || (spec.family != Family::Statistical && spec.splunk_compat.as_ref().is_some_and(|c| c.has_statistical()))
        {
            return Err(format!(
                "family {}: [statistical] and the statistical [splunk_compat] fields belong to family statistical",
                spec.family.as_str()
            ));
        }
        match &spec.statistical {
            Some(st) => {
                if spec.windows.baseline.is_none() {
                    return Err("family statistical needs windows.baseline (the intent's inline baseline)".into());
                }
                let compat = spec.splunk_compat.as_ref().map(|c| (c.key.as_slice(), c.statistical()));
                st.validate(compat.as_ref().map(|(k, c)| (*k, c)))
            }
            None => Ok(Vec::new()),
        }
    }

    /// A statistical detection's `[splunk_compat]` has only `key` and the statistical fields.
    fn validate_statistical_compat(&self) -> Result<(), String> {
        if let Some(sc) = &self.splunk_compat {
            if sc.signals.is_some()
                || sc.active_when.is_some()
                || sc.match_on.is_some()
                || sc.current.is_some()
                || sc.baseline_gap.is_some()
                || !sc.presence_metrics.is_empty()
                || !sc.presence_metric_prefixes.is_empty()
            {
                return Err("splunk_compat: only key and the statistical fields apply to family statistical".into());
            }
        }
        Ok(())
    }

    fn validate_new_value<'a>(
        &'a self,
        nv: &'a NewValue,
        columns: &mut Vec<(&'static str, &'a String)>,
    ) -> Result<(), String> {
        let spec = self;
        if spec.windows.baseline.is_none() {
            return Err("family new_value needs windows.baseline".into());
        }
        columns.extend(nv.key.iter().map(|c| ("new_value.key", c)));
        columns.extend(nv.scope.iter().map(|c| ("new_value.scope", c)));
        columns.extend(nv.prevalence_of.iter().map(|c| ("new_value.prevalence_of", c)));
        columns.extend(nv.context.iter().map(|c| ("new_value.context", c)));
        columns.push(("new_value.entity", &nv.entity));
        columns.extend(nv.pids.iter().map(|c| ("new_value.pids", c)));
        if nv.key.is_empty() {
            return Err("new_value.key is empty".into());
        }
        if nv.presence_metrics.is_empty() && nv.presence_metric_prefixes.is_empty() {
            return Err("new_value needs presence_metrics or presence_metric_prefixes".into());
        }
        for c in nv.scope.iter().chain([&nv.entity]) {
            if !nv.key.contains(c) {
                return Err(format!(
                    "new_value.scope/entity column {c:?} must be part of new_value.key"
                ));
            }
        }
        if let Some(sc) = &spec.splunk_compat {
            if sc.signals.is_some() || sc.active_when.is_some() {
                return Err("splunk_compat.signals/active_when belong to the rule family".into());
            }
            for m in sc.match_on.iter().flatten() {
                if !sc.key.contains(m) {
                    return Err(format!(
                        "splunk_compat.match_on column {m:?} must be part of splunk_compat.key"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The checks of a rule spec; adds the columns it names to `columns`.
    fn validate_rule<'a>(&'a self, r: &'a Rule, columns: &mut Vec<(&'static str, &'a String)>) -> Result<(), String> {
        let spec = self;
        if spec.windows.baseline.is_some() {
            return Err("family rule has no baseline: remove windows.baseline".into());
        }
        columns.extend(r.key.iter().map(|c| ("rule.key", c)));
        columns.push(("rule.match_column", &r.match_column));
        columns.extend(r.context.iter().map(|c| ("rule.context", c)));
        if r.key.is_empty() {
            return Err("rule.key is empty".into());
        }
        if r.match_values.is_empty() {
            return Err("rule.match_values is empty".into());
        }
        let compat_signals = spec.splunk_compat.as_ref().and_then(|sc| sc.signals.as_ref());
        let compat_active = spec.splunk_compat.as_ref().and_then(|sc| sc.active_when.as_ref());
        for (what, signals, active) in [
            ("rule", Some(&r.signals), Some(&r.active_when)),
            ("splunk_compat", compat_signals, compat_active),
        ] {
            let signals = signals.unwrap_or(&r.signals);
            let active = active.unwrap_or(&r.active_when);
            if signals.is_empty() || active.is_empty() {
                return Err(format!("{what}: signals and active_when must not be empty"));
            }
            for a in active {
                if !signals.iter().any(|s| &s.name == a) {
                    return Err(format!("{what}.active_when: {a:?} is not the name of a signal"));
                }
            }
            for s in signals {
                if !s.above.is_finite() {
                    return Err(format!("{what}.signals: {}: above must be finite", s.metric));
                }
            }
        }
        if let Some(sc) = &spec.splunk_compat {
            if sc.match_on.is_some() || sc.current.is_some() || sc.baseline_gap.is_some() {
                return Err("splunk_compat.match_on/current/baseline_gap belong to the new_value family".into());
            }
        }
        Ok(())
    }

    /// impact × confidence / 100, as ESCU computes it, unless `risk.score` overrides it.
    pub fn risk_score(&self) -> i64 {
        self.risk.score.unwrap_or(self.impact * self.confidence / 100) as i64
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
        if let (Some(_), Some(sc)) = (&s.new_value, &s.splunk_compat) {
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
            let files = crate::config::toml_files(dir).map_err(|(file, source)| SpecError::Read { file, source })?;
            for (name, text) in files {
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
        // The nine detections of the story implemented so far, each with its ESCU id.
        let ids: Vec<(&str, &str)> = specs.iter().map(|s| (s.slug.as_str(), s.id.as_str())).collect();
        assert_eq!(
            ids,
            vec![
                ("new_tcp_edge", "13f081d6-7052-428a-bbb0-892c79ca7c65"),
                ("new_udp_edge", "49b7daca-4e3c-4899-ba15-9a175e056fa9"),
                ("process_new_path", "454076fb-0e9e-4adf-b93a-da132621c5e6"),
                ("process_resource_anomaly", "25ca9594-7a0d-4a95-a5e5-3228d7398ec8"),
                ("process_resource_ratio_anomaly", "0d42b295-0f1f-4183-b75e-377975f47c65"),
                ("shell_on_worker_node", "efebf0c4-dcf4-496f-85a2-5ab7ad8fa876"),
                ("shell_on_worker_node_cpu", "cc1448e3-cc7a-4518-bc9f-2fa48f61a22b"),
                ("unseen_container_image", "fea515a4-b1d8-4cd6-80d6-e0d71397b891"),
                ("unseen_process", "c8119b2f-d7f7-40be-940a-1c582870e8e2"),
            ]
        );
        // Every file name is its slug.
        for (file, text) in BUILTIN {
            let s = Spec::parse(file, text).expect("parses");
            assert_eq!(Some(s.slug.as_str()), file.strip_suffix(".toml"));
        }
    }

    #[test]
    fn family_tables_are_checked() {
        let shell = builtin("shell_on_worker_node");
        let err = Spec::parse("x.toml", &shell.replace("family = \"rule\"", "family = \"new_value\""))
            .expect_err("a rule table under new_value");
        assert!(err.to_string().contains("new_value"), "{err}");
        let err = Spec::parse(
            "x.toml",
            &shell.replace("active_when = [\"cpu\", \"memory\"]", "active_when = [\"disk\"]"),
        )
        .expect_err("unknown signal");
        assert!(err.to_string().contains("\"disk\""), "{err}");
        let err =
            Spec::parse("x.toml", &shell.replace("bucket = \"10s\"", "bucket = \"10 s\"")).expect_err("bad bucket");
        assert!(err.to_string().contains("rule.bucket"), "{err}");
        let err = Spec::parse(
            "x.toml",
            &builtin("new_tcp_edge").replace(
                "match_on = [\"source_workload_name\", \"dest_workload_name\"]",
                "match_on = [\"k8s_node_name\"]",
            ),
        )
        .expect_err("match_on outside the key");
        assert!(err.to_string().contains("match_on"), "{err}");
    }

    #[test]
    fn statistical_tables_are_checked() {
        let p = builtin("process_resource_ratio_anomaly");
        let err = Spec::parse(
            "x.toml",
            &p.replacen("denominator = \"mem\" }", "denominator = \"memory\" }", 1),
        )
        .expect_err("a ratio of an unknown metric");
        assert!(err.to_string().contains("\"memory\""), "{err}");
        let err = Spec::parse("x.toml", &p.replace("k = 4.0", "k = -1.0")).expect_err("negative k");
        assert!(err.to_string().contains("statistical.k"), "{err}");
        let err = Spec::parse("x.toml", &p.replace("count = \"rows\"", "count = \"buckets\"")).expect_err("count mode");
        assert!(err.to_string().contains("buckets"), "{err}");
        let err = Spec::parse("x.toml", &p.replace("family = \"statistical\"", "family = \"rule\""))
            .expect_err("a statistical table under rule");
        assert!(err.to_string().contains("statistical"), "{err}");
        let err = Spec::parse(
            "x.toml",
            &p.replace(
                "key = [\"k8s_cluster_name\", \"host_name\", \"process_executable_name\"]",
                "key = [\"k8s_cluster_name\", \"k8s_pod_name\", \"process_executable_name\"]",
            ),
        )
        .expect_err("a lookup key outside the compat key");
        assert!(err.to_string().contains("lookup.key"), "{err}");
        let err =
            Spec::parse("x.toml", &p.replace("lookback = \"15m\"", "lookback = \"15 m\"")).expect_err("bad lookback");
        assert!(err.to_string().contains("statistical.lookback"), "{err}");
        // Each of the two built-in statistical detections parses with its compat lookup.
        for slug in ["process_resource_anomaly", "process_resource_ratio_anomaly"] {
            let s = Spec::parse("x.toml", builtin(slug)).expect("parses");
            assert_eq!(s.family, Family::Statistical);
            assert!(s.splunk_compat.and_then(|c| c.lookup).is_some());
        }
    }

    fn builtin(slug: &str) -> &'static str {
        BUILTIN
            .iter()
            .find(|(f, _)| f.strip_suffix(".toml") == Some(slug))
            .map(|(_, t)| *t)
            .expect("a built-in detection")
    }

    #[test]
    fn unknown_field_is_an_error_naming_it() {
        let text = builtin("process_new_path").replace("impact = 50", "impact = 50\nimpactt = 1");
        let err = Spec::parse("x.toml", &text).expect_err("unknown field");
        assert!(err.to_string().contains("impactt"), "{err}");
        assert!(err.to_string().starts_with("x.toml"));
    }

    #[test]
    fn unknown_column_and_bad_duration_are_errors() {
        let text = builtin("process_new_path").replace(
            "\"process_executable_path\"]\npresence",
            "\"process_exe_path\"]\npresence",
        );
        assert!(Spec::parse("x.toml", &text)
            .expect_err("column")
            .to_string()
            .contains("process_exe_path"));
        let text = builtin("process_new_path").replace("current = \"1h\"", "current = \"1 hour\"");
        assert!(Spec::parse("x.toml", &text)
            .expect_err("duration")
            .to_string()
            .contains("windows.current"));
    }
}
