//! A statistical detection's logic with `--splunk-compat` applied: what every part of the
//! family (plan, baseline, lookups, rollups) reads.

use chrono::Duration;

use super::spec::{Combine, CountMode, FillNull, Lookup, Metric, Ratio};
use crate::detect::outcome::DetectError;
use crate::detect::spec::Spec;

/// The column holding the lookup's `key` on both sides of a compat join.
pub const LOOKUP_KEY: &str = "__lookup_key";

/// A statistical detection with `--splunk-compat` applied.
#[derive(Debug, Clone)]
pub struct StatLogic {
    pub key: Vec<String>,
    /// What the baseline is grouped and joined on ([`LOOKUP_KEY`] with a lookup).
    pub baseline_key: Vec<String>,
    pub series: Vec<String>,
    pub bucket: Duration,
    pub lookback: Duration,
    pub k: f64,
    pub min_anomalies: u32,
    pub count: CountMode,
    pub min_baseline_buckets: u32,
    pub combine: Combine,
    pub metrics: Vec<Metric>,
    pub ratios: Vec<Ratio>,
    pub top: u32,
    pub context: Vec<String>,
    /// `None`: the intent.
    pub fillnull: Option<FillNull>,
    pub lookup: Option<Lookup>,
    /// The lookup's `span` (none: statistics over raw points).
    pub lookup_bucket: Option<Duration>,
    pub stdev_as_avg: Vec<String>,
}

impl StatLogic {
    pub fn of(spec: &Spec, splunk_compat: bool) -> Result<StatLogic, DetectError> {
        let st = spec
            .statistical
            .as_ref()
            .ok_or_else(|| DetectError::Invalid(format!("{}: not a statistical detection", spec.slug)))?;
        let compat = spec
            .splunk_compat
            .as_ref()
            .filter(|_| splunk_compat)
            .map(|c| (c.key.clone(), c.statistical()));
        let key = compat
            .as_ref()
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| st.key.clone());
        let c = compat.map(|(_, c)| c).unwrap_or_default();
        let baseline_key = match (&c.lookup, &c.baseline_key, &st.baseline_key) {
            (Some(_), _, _) => vec![LOOKUP_KEY.to_string()],
            (None, Some(b), _) if splunk_compat => b.clone(),
            (None, _, Some(b)) => b.iter().filter(|x| key.contains(x)).cloned().collect(),
            _ => key.clone(),
        };
        Ok(StatLogic {
            context: st.context.iter().filter(|x| !key.contains(x)).cloned().collect(),
            baseline_key,
            series: st.series.clone(),
            bucket: spec.lengths.bucket,
            lookback: spec.lengths.lookback,
            lookup_bucket: spec.lengths.compat_lookup_bucket,
            k: st.k,
            min_anomalies: st.min_anomalies,
            count: st.count,
            // The SPL has no learning period.
            min_baseline_buckets: if splunk_compat {
                1
            } else {
                st.min_baseline_buckets.max(1)
            },
            combine: c.combine.filter(|_| splunk_compat).unwrap_or(st.combine),
            metrics: c.metrics.clone().unwrap_or_else(|| st.metrics.clone()),
            ratios: c.ratios.clone().unwrap_or_else(|| st.ratios.clone()),
            top: st.top,
            fillnull: if splunk_compat {
                Some(c.fillnull.unwrap_or(FillNull::None))
            } else {
                None
            },
            lookup: c.lookup.clone(),
            stdev_as_avg: c.stdev_as_avg.clone().unwrap_or_default(),
            key,
        })
    }

    /// The names tested: the ratios when there are any, else the metrics.
    pub fn tested(&self) -> Vec<String> {
        if self.ratios.is_empty() {
            self.metrics.iter().map(|m| m.name.clone()).collect()
        } else {
            self.ratios.iter().map(|r| r.name.clone()).collect()
        }
    }
}

/// The intent logics of the statistical detections among `specs`: what `land` and `compact`
/// keep moment rollups for.
pub fn rollup_logics(specs: &[Spec]) -> Vec<StatLogic> {
    specs
        .iter()
        .filter(|s| s.statistical.is_some())
        .filter_map(|s| StatLogic::of(s, false).ok())
        .collect()
}
