//! Report: a detection [`Run`] → findings Parquet, summary JSON and Markdown, stdout table.
//!
//! In: a finished run. Out:
//! `findings/detection=<slug>/date=<window start date>/<window end>-<window>[-splunk].parquet`
//! and `reports/detect/detection=<slug>/date=<…>/<same stem>.{json,md}`.
//! Invariants: one findings object per (detection, window, mode), written in one `put`, so a
//! re-run replaces it and never duplicates it; an empty result is written too (it replaces an
//! older non-empty one); the report is written after the findings, so a report never names
//! findings that are not there.

use std::collections::BTreeMap;

use chrono::DateTime;
use polars::prelude::*;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::fmt_instant;
use crate::detect::{human, Run};
use crate::lake::{FINDINGS, REPORTS};
use crate::storage::{Location, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("writing findings {key}: {source}")]
    Parquet { key: String, source: PolarsError },
}

/// Where a run's outputs go.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub findings: String,
    pub report_json: String,
    pub report_md: String,
}

fn stem(run: &Run) -> (String, String) {
    let date = run.window.start.format("%Y-%m-%d").to_string();
    let end = run.window.end.format("%Y%m%dT%H%M%SZ").to_string();
    let mode = if run.splunk_compat { "-splunk" } else { "" };
    (
        date,
        format!("{end}-{}{mode}", human(run.window.end - run.window.start)),
    )
}

/// `reports/detect/detection=<slug>/date=<date>`: the folder of a day's reports.
fn reports_folder(slug: &str, date: &str) -> String {
    format!("{REPORTS}/detect/detection={slug}/date={date}")
}

pub fn findings_key(run: &Run) -> String {
    let (date, stem) = stem(run);
    format!("{FINDINGS}/detection={}/date={date}/{stem}.parquet", run.spec.slug)
}

/// Writes the findings and the report of `run` into `lake`.
pub fn write(lake: &Location, run: &Run, timings_extra: &[(&str, u64)]) -> Result<(Written, Value), ReportError> {
    let (date, stem) = stem(run);
    let fkey = findings_key(run);
    let mut df = run.findings.clone();
    let bytes = crate::lake::parquet_bytes(&mut df).map_err(|source| ReportError::Parquet {
        key: fkey.clone(),
        source,
    })?;
    lake.put(&fkey, bytes)?;
    let base = format!("{}/{stem}", reports_folder(&run.spec.slug, &date));
    let written = Written {
        findings: lake.describe(&fkey),
        report_json: lake.describe(&format!("{base}.json")),
        report_md: lake.describe(&format!("{base}.md")),
    };
    let summary = summary_json(lake, run, &written, timings_extra);
    lake.put(
        &format!("{base}.json"),
        serde_json::to_vec_pretty(&summary).unwrap_or_default(),
    )?;
    lake.put(&format!("{base}.md"), markdown(&summary).into_bytes())?;
    Ok((written, summary))
}

/// A cell as JSON: times as RFC 3339 UTC, lists as arrays.
fn cell(v: AnyValue<'_>) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => json!(b),
        AnyValue::String(s) => json!(s),
        AnyValue::StringOwned(s) => json!(s.as_str()),
        AnyValue::Int64(i) => json!(i),
        AnyValue::Int32(i) => json!(i),
        AnyValue::UInt32(i) => json!(i),
        AnyValue::UInt64(i) => json!(i),
        AnyValue::Float64(f) => json!(f),
        AnyValue::Datetime(us, TimeUnit::Microseconds, _) | AnyValue::DatetimeOwned(us, TimeUnit::Microseconds, _) => {
            DateTime::from_timestamp_micros(us)
                .map(|t| json!(fmt_instant(t)))
                .unwrap_or(Value::Null)
        }
        AnyValue::List(s) => Value::Array(s.iter().map(cell).collect()),
        other => json!(other.to_string()),
    }
}

/// The rows of `df` as JSON objects.
pub fn rows_json(df: &DataFrame) -> Vec<Value> {
    (0..df.height())
        .map(|i| {
            let mut m = Map::new();
            for c in df.columns() {
                m.insert(c.name().to_string(), c.get(i).map(cell).unwrap_or(Value::Null));
            }
            Value::Object(m)
        })
        .collect()
}

fn summary_json(lake: &Location, run: &Run, written: &Written, timings_extra: &[(&str, u64)]) -> Value {
    let rows = rows_json(&run.findings);
    let mut by_node: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in &rows {
        let c = r["k8s_cluster_name"].as_str().unwrap_or("").to_string();
        let n = r["k8s_node_name"].as_str().unwrap_or("").to_string();
        *by_node.entry((c, n)).or_default() += 1;
    }
    let mut by_rule: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &run.suppressed {
        *by_rule.entry(s.rule.as_str()).or_default() += 1;
    }
    let mut timings = run.timings_ms.clone();
    for (k, v) in timings_extra {
        timings.insert(k.to_string(), *v);
    }
    json!({
        "kubeseen_version": env!("CARGO_PKG_VERSION"),
        "detection": run.spec.slug,
        "detection_id": run.spec.id,
        "name": run.spec.name,
        "family": run.spec.family.as_str(),
        "mode": if run.splunk_compat { "splunk_compat" } else { "intent" },
        "key": run.logic.key,
        "window_start": fmt_instant(run.window.start),
        "window_end": fmt_instant(run.window.end),
        "baseline_start": fmt_instant(run.window.baseline_start),
        "lake": lake.display(),
        "scanned": run.scanned,
        "unkeyed_points": {"current": run.unkeyed_current, "baseline": run.unkeyed_baseline},
        "coverage": {
            "nodes_in_window": run.nodes_in_window,
            "nodes_with_incomplete_baseline": run.incomplete_nodes,
        },
        "findings_count": rows.len(),
        "findings_by_node": by_node.iter().map(|((c, n), k)| json!({"k8s_cluster_name": c, "k8s_node_name": n, "findings": k})).collect::<Vec<_>>(),
        "suppressed": {"count": run.suppressed.len(), "by_rule": by_rule, "findings": run.suppressed},
        "expired_allowlist_rules": run.expired_rules,
        "warnings": run.warnings,
        "data_freshness": {
            "last_point_in_window": run.last_point.map(fmt_instant),
            "seconds_before_window_end": run.last_point.map(|t| (run.window.end - t).num_milliseconds() as f64 / 1000.0),
        },
        "timings_ms": timings,
        "outputs": written,
        "findings": rows,
    })
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The summary as Markdown.
pub fn markdown(s: &Value) -> String {
    let mut out = String::new();
    let str_of = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    out.push_str(&format!("# {} — {}\n\n", str_of(&s["name"]), str_of(&s["window_end"])));
    out.push_str(&format!(
        "- detection: `{}` ({}), mode {}\n- window: [{}, {})\n- baseline: [{}, {})\n- lake: `{}`\n",
        str_of(&s["detection"]),
        str_of(&s["detection_id"]),
        str_of(&s["mode"]),
        str_of(&s["window_start"]),
        str_of(&s["window_end"]),
        str_of(&s["baseline_start"]),
        str_of(&s["window_start"]),
        str_of(&s["lake"]),
    ));
    let sc = &s["scanned"];
    out.push_str(&format!(
        "- in range: {} partitions, {} files, {} bytes; read: {} raw files ({} bytes) and {} rollups covering {} baseline hours\n- {} points in the window, {} in the baseline ({} baseline keys)\n",
        sc["partitions"], sc["files"], sc["bytes"], sc["raw_files"], sc["raw_bytes"], sc["rollup_objects"], sc["rollup_hours"],
        sc["current_points"], sc["baseline_points"], sc["baseline_keys"]
    ));
    out.push_str(&format!(
        "- findings: **{}**, suppressed by the allowlist: {}\n\n",
        s["findings_count"], s["suppressed"]["count"]
    ));
    if let Some(w) = s["warnings"].as_array().filter(|w| !w.is_empty()) {
        out.push_str("## Warnings\n\n");
        for x in w {
            out.push_str(&format!("- {}\n", str_of(x)));
        }
        out.push('\n');
    }
    if s["findings"].as_array().is_some_and(|r| !r.is_empty()) {
        let cells = grid(s);
        out.push_str("## Findings\n\n");
        for (i, r) in cells.iter().enumerate() {
            let line: Vec<String> = r.iter().map(|c| md_escape(c)).collect();
            out.push_str(&format!("| {} |\n", line.join(" | ")));
            if i == 0 {
                out.push_str(&format!("|{}\n", "---|".repeat(r.len())));
            }
        }
        out.push('\n');
    }
    if let Some(nodes) = s["coverage"]["nodes_with_incomplete_baseline"]
        .as_array()
        .filter(|n| !n.is_empty())
    {
        out.push_str(&format!(
            "## Nodes without full baseline history ({} of {} nodes in the window)\n\nTheir findings carry `baseline_complete = false`: a node that joined recently makes everything look new.\n\n| cluster | node | first data in baseline |\n|---|---|---|\n",
            nodes.len(),
            s["coverage"]["nodes_in_window"]
        ));
        for n in nodes {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                md_escape(&str_of(&n["k8s_cluster_name"])),
                md_escape(&str_of(&n["k8s_node_name"])),
                if n["first_seen"].is_null() {
                    "none".to_string()
                } else {
                    str_of(&n["first_seen"])
                }
            ));
        }
        out.push('\n');
    }
    for (title, key) in [("in the window", "current"), ("in the baseline", "baseline")] {
        if let Some(m) = s["unkeyed_points"][key].as_object().filter(|m| !m.is_empty()) {
            out.push_str(&format!(
                "## Points without a key attribute {title}\n\n| reason | points |\n|---|---|\n"
            ));
            for (k, v) in m {
                out.push_str(&format!("| {} | {} |\n", md_escape(k), v));
            }
            out.push('\n');
        }
    }
    if s["suppressed"]["count"].as_u64().unwrap_or(0) > 0 {
        out.push_str("## Suppressed by the allowlist\n\n| rule | findings |\n|---|---|\n");
        if let Some(m) = s["suppressed"]["by_rule"].as_object() {
            for (k, v) in m {
                out.push_str(&format!("| {} | {} |\n", md_escape(k), v));
            }
        }
        out.push('\n');
    }
    if let Some(e) = s["expired_allowlist_rules"].as_array().filter(|e| !e.is_empty()) {
        out.push_str(&format!(
            "Expired allowlist rules (no longer applied): {}\n\n",
            e.iter().map(str_of).collect::<Vec<_>>().join(", ")
        ));
    }
    out.push_str("## Timings (ms)\n\n");
    if let Some(m) = s["timings_ms"].as_object() {
        out.push_str(&m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
    }
    out.push_str(&format!("\n\nkubeseen {}\n", str_of(&s["kubeseen_version"])));
    out
}

/// The findings of a summary as a grid of text cells, header first: the key columns, then the
/// family's evidence.
fn grid(s: &Value) -> Vec<Vec<String>> {
    let str_of = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    let rows = s["findings"].as_array().cloned().unwrap_or_default();
    // The key, then the family's evidence.
    let key: Vec<String> = s["key"]
        .as_array()
        .map(|k| k.iter().filter_map(|c| c.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let title = |c: &str| match c {
        "k8s_cluster_name" => "CLUSTER".to_string(),
        "k8s_node_name" => "NODE".into(),
        "host_name" => "HOST".into(),
        "process_executable_path" => "PATH".into(),
        "process_executable_name" => "PROCESS".into(),
        "process_pid" => "PID".into(),
        "container_image_name" => "IMAGE".into(),
        "source_workload_name" => "SOURCE".into(),
        "dest_workload_name" => "DEST".into(),
        other => other.to_uppercase(),
    };
    let rule = s["family"] == "rule";
    let mut header: Vec<String> = key.iter().map(|c| title(c)).collect();
    let evidence: Vec<(&str, &str)> = if rule {
        vec![
            ("FIRST SEEN", "first_seen"),
            ("ACTIVE 10s", "active_buckets"),
            ("CPU", "cpu_active"),
            ("MEMORY", "memory_active"),
            ("COMMAND", "process_command"),
        ]
    } else {
        let mut e = Vec::new();
        if rows.iter().any(|r| !r["process_pids"].is_null()) {
            e.push(("PIDS", "process_pids"));
        }
        e.extend([
            ("FIRST SEEN", "first_seen"),
            ("SAMPLES", "samples"),
            ("ELSEWHERE", "cluster_prevalence"),
        ]);
        e
    };
    header.extend(evidence.iter().map(|(h, _)| h.to_string()));
    if !rule {
        header.push("BASELINE".into());
    }
    let mut cells: Vec<Vec<String>> = vec![header];
    for r in &rows {
        let mut line: Vec<String> = key.iter().map(|c| str_of(&r[c.as_str()])).collect();
        line.extend(evidence.iter().map(|(_, c)| str_of(&r[*c])));
        if !rule {
            line.push(if r["baseline_complete"] == Value::Bool(true) {
                "complete".into()
            } else {
                "INCOMPLETE".into()
            });
        }
        cells.push(line);
    }
    cells
}

/// The summary as a table for the terminal.
pub fn table(s: &Value) -> String {
    let str_of = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    let mut out = format!(
        "{} [{} .. {}): {} finding(s), {} suppressed\n",
        str_of(&s["detection"]),
        str_of(&s["window_start"]),
        str_of(&s["window_end"]),
        s["findings_count"],
        s["suppressed"]["count"]
    );
    let rows = s["findings"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return out;
    }
    let cells = grid(s);
    let header = &cells[0];
    let widths: Vec<usize> = (0..header.len())
        .map(|i| cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in cells {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Late data: windows whose findings were written before points landed inside their range.
///
/// `_kubeseen/stale/<slug>.json` lists them (window end, window length, mode). Landing into
/// hour `h` marks every written window of the detection whose range `[end − baseline, end)`
/// overlaps `h`; `detect --stale` and `backfill --stale-only` re-run exactly those and clear
/// them. Read-modify-write of one small object, safe because every writer of a lake holds its
/// writer lock (`lake::lock`) for the whole run.
pub mod stale {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::{DateTime, Duration, NaiveDateTime, Utc};
    use serde::{Deserialize, Serialize};

    use crate::lake::{HourPartition, FINDINGS};
    use crate::storage::{Location, StorageError};

    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
    pub struct StaleWindow {
        pub window_end: DateTime<Utc>,
        /// As in the findings file name: `1h`.
        pub window: String,
        pub splunk_compat: bool,
    }

    fn key(slug: &str) -> String {
        format!("_kubeseen/stale/{slug}.json")
    }

    pub fn read(lake: &Location, slug: &str) -> Result<BTreeSet<StaleWindow>, StorageError> {
        Ok(lake
            .get_opt(&key(slug))?
            .and_then(|b| serde_json::from_slice::<BTreeSet<StaleWindow>>(&b).ok())
            .unwrap_or_default())
    }

    fn write(lake: &Location, slug: &str, set: &BTreeSet<StaleWindow>) -> Result<(), StorageError> {
        if set.is_empty() {
            return lake.delete(&key(slug));
        }
        lake.put(&key(slug), serde_json::to_vec_pretty(set).unwrap_or_default())
    }

    /// Parses `20261123T150000Z-1h[-splunk]` (a findings file stem).
    pub fn parse_stem(stem: &str) -> Option<StaleWindow> {
        let (end, rest) = stem.split_once('-')?;
        let t = NaiveDateTime::parse_from_str(end, "%Y%m%dT%H%M%SZ").ok()?.and_utc();
        let (window, compat) = match rest.strip_suffix("-splunk") {
            Some(w) => (w, true),
            None => (rest, false),
        };
        Some(StaleWindow {
            window_end: t,
            window: window.to_string(),
            splunk_compat: compat,
        })
    }

    /// Marks the written windows of `slug` that `partitions` fall into (baseline `baseline`).
    pub fn mark(
        lake: &Location,
        slug: &str,
        baseline: Duration,
        partitions: &[HourPartition],
    ) -> Result<usize, StorageError> {
        Marker::new(slug, baseline).mark(lake, partitions)
    }

    /// Marks windows stale for one landing run: `land` calls it before each batch of part files
    /// is written (so a crash can never leave landed points whose windows are not marked),
    /// listing each date's findings once per run.
    pub struct Marker {
        slug: String,
        baseline: Duration,
        /// Written windows by findings date, as listed earlier in this run.
        listed: BTreeMap<String, Vec<StaleWindow>>,
    }

    impl Marker {
        pub fn new(slug: &str, baseline: Duration) -> Self {
            Marker {
                slug: slug.to_string(),
                baseline,
                listed: BTreeMap::new(),
            }
        }

        /// Marks the written windows that `partitions` fall into; the number newly marked.
        pub fn mark(&mut self, lake: &Location, partitions: &[HourPartition]) -> Result<usize, StorageError> {
            if partitions.is_empty() {
                return Ok(0);
            }
            let baseline = self.baseline;
            let dates: BTreeSet<String> = partitions
                .iter()
                .flat_map(|p| {
                    let start = p.start();
                    (0..=baseline.num_days() + 1)
                        .map(move |d| (start + Duration::days(d)).format("%Y-%m-%d").to_string())
                })
                .collect();
            let mut hit = BTreeSet::new();
            for date in dates {
                if !self.listed.contains_key(&date) {
                    let mut windows = Vec::new();
                    for (k, _) in lake.list(&format!("{FINDINGS}/detection={}/date={date}", self.slug))? {
                        let Some(stem) = k.rsplit('/').next().and_then(|f| f.strip_suffix(".parquet")) else {
                            continue;
                        };
                        windows.extend(parse_stem(stem));
                    }
                    self.listed.insert(date.clone(), windows);
                }
                for w in self.listed.get(&date).into_iter().flatten() {
                    // A point at t changes window `end` iff end − baseline ≤ t < end.
                    if partitions
                        .iter()
                        .any(|p| w.window_end > p.start() && w.window_end - baseline < p.start() + Duration::hours(1))
                    {
                        hit.insert(w.clone());
                    }
                }
            }
            if hit.is_empty() {
                return Ok(0);
            }
            let mut set = read(lake, &self.slug)?;
            let before = set.len();
            set.extend(hit);
            let added = set.len() - before;
            if added > 0 {
                write(lake, &self.slug, &set)?;
            }
            Ok(added)
        }
    }

    /// Windows of `slug` whose findings and both reports are written and that are not stale:
    /// up to date, so an interrupted backfill resumed with `--resume` skips them. (A run killed
    /// between the findings and the reports left a window that is not.)
    pub fn up_to_date(
        lake: &Location,
        slug: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BTreeSet<StaleWindow>, StorageError> {
        let stale = read(lake, slug)?;
        let mut out = BTreeSet::new();
        let mut day = from - Duration::days(1);
        while day <= to {
            let date = day.format("%Y-%m-%d").to_string();
            let reports: BTreeSet<String> = lake
                .list(&super::reports_folder(slug, &date))?
                .into_iter()
                .filter_map(|(k, _)| k.rsplit('/').next().map(str::to_string))
                .collect();
            for (k, _) in lake.list(&format!("{FINDINGS}/detection={slug}/date={date}"))? {
                let Some(stem) = k.rsplit('/').next().and_then(|f| f.strip_suffix(".parquet")) else {
                    continue;
                };
                let reported = reports.contains(&format!("{stem}.json")) && reports.contains(&format!("{stem}.md"));
                if let Some(w) = parse_stem(stem).filter(|_| reported) {
                    if w.window_end > from && w.window_end <= to && !stale.contains(&w) {
                        out.insert(w);
                    }
                }
            }
            day += Duration::days(1);
        }
        Ok(out)
    }

    /// Removes windows from the stale list once they have been re-run.
    pub fn clear(lake: &Location, slug: &str, done: &[StaleWindow]) -> Result<(), StorageError> {
        let mut set = read(lake, slug)?;
        let before = set.len();
        for d in done {
            set.remove(d);
        }
        if set.len() != before {
            write(lake, slug, &set)?;
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_findings_stems() {
            let w = parse_stem("20261123T150000Z-1h-splunk").expect("stem");
            assert!(w.splunk_compat);
            assert_eq!(w.window, "1h");
            assert_eq!(crate::config::fmt_instant(w.window_end), "2026-11-23T15:00:00Z");
            assert!(parse_stem("garbage").is_none());
        }
    }
}
