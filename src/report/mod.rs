//! Report: a detection [`Run`] → findings Parquet, a typed [`Summary`] written as JSON and
//! Markdown, and a table for the terminal.
//!
//! In: a finished run. Out: the findings and report objects named by `lake::keys`
//! (`findings/detection=<slug>/date=<window start date>/<window end>-<window>[-splunk].parquet`
//! and `reports/detect/detection=<slug>/date=<…>/<same stem>.{json,md}`), the findings as OCSF
//! Detection Findings ([`ocsf`]: `ocsf/jsonl/…` and Security Lake Parquet `ocsf/ext/kubeseen/…`)
//! and the [`Summary`]. Over a whole run, [`run_summary`] writes one report of every
//! detection it ran (`reports/runs/…{json,md,html}`, the HTML page self-contained: [`html`]).
//! Invariants: one findings object per (detection, window, mode), written in one `put`, so a
//! re-run replaces it and never duplicates it; an empty result is written too (it replaces an
//! older non-empty one); the report is written after the findings, so a report never names
//! findings that are not there. JSON outputs list every object's keys sorted ([`sorted_json`]).

pub mod chart;
pub mod html;
pub mod ocsf;
pub mod range_summary;
pub mod run_summary;
pub mod schema;
mod statistical;
mod summary;
mod suspicious;
mod text;

use polars::prelude::*;
use serde::Serialize;

use crate::detect::{human, Run};
use crate::lake::keys;
use crate::storage::{Location, StorageError};

pub use summary::{
    rows_json, ChartLink, Coverage, DataFreshness, NodeFindings, OcsfWritten, Summary, SuppressedSummary,
    UnkeyedPoints, Written,
};
pub use text::{markdown, table};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("writing findings {key}: {source}")]
    Parquet { key: String, source: PolarsError },
    #[error(transparent)]
    Ocsf(#[from] ocsf::OcsfError),
}

/// The `date=` folder and the file stem of a run's objects.
fn stem(run: &Run) -> (String, String) {
    (
        keys::date(run.window.start),
        keys::stem(
            run.window.end,
            &human(run.window.end - run.window.start),
            run.splunk_compat,
        ),
    )
}

/// The key of a run's findings object.
pub fn findings_key(run: &Run) -> String {
    let (date, stem) = stem(run);
    keys::findings(&run.spec.slug, &date, &stem)
}

/// Writes the findings and the report of `run` into `lake`.
pub fn write(lake: &Location, run: &Run, timings_extra: &[(&str, u64)]) -> Result<(Written, Summary), ReportError> {
    let (date, stem) = stem(run);
    let fkey = findings_key(run);
    // A weekly lookup the run had to build is kept first (once: a kept one is never replaced).
    if let Some((key, table)) = run.statistical.as_ref().and_then(|s| s.lookup_table.as_ref()) {
        let mut t = table.clone();
        let bytes = crate::lake::parquet_bytes(&mut t).map_err(|source| ReportError::Parquet {
            key: key.clone(),
            source,
        })?;
        lake.put_if_absent(key, bytes)?;
    }
    let mut df = run.findings.clone();
    let bytes = crate::lake::parquet_bytes(&mut df).map_err(|source| ReportError::Parquet {
        key: fkey.clone(),
        source,
    })?;
    lake.put(&fkey, bytes)?;
    let records = ocsf::records(run, &stem);
    let ocsf_written = ocsf::write(lake, run, &date, &stem, &records)?;
    let json_key = keys::report(&run.spec.slug, &date, &stem, "json");
    let md_key = keys::report(&run.spec.slug, &date, &stem, "md");
    let written = Written {
        findings: lake.describe(&fkey),
        report_json: lake.describe(&json_key),
        report_md: lake.describe(&md_key),
        ocsf: ocsf_written,
    };
    let mut summary = Summary::of(lake, run, &written, timings_extra);
    summary.ocsf = records;
    // Charts beside the report, written before it so its links are never dangling.
    for (uid, entity, svg) in chart::charts(run) {
        let file = keys::chart_file(&stem, &uid);
        let key = format!("{}/{file}", keys::reports_folder(&run.spec.slug, &date));
        lake.put(&key, svg.into_bytes())?;
        summary.charts.push(ChartLink {
            finding_uid: uid,
            entity,
            file,
            chart: lake.describe(&key),
        });
    }
    lake.put(
        &json_key,
        serde_json::to_value(&summary)
            .and_then(|v| serde_json::to_vec_pretty(&v))
            .unwrap_or_default(),
    )?;
    lake.put(&md_key, markdown(&summary).into_bytes())?;
    Ok((written, summary))
}

/// `value` as pretty JSON with the keys of every object sorted (through `serde_json::Value`,
/// whose maps are ordered): the form every JSON summary of kubeseen has.
pub fn sorted_json(value: &impl Serialize) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&serde_json::to_value(value)?)
}
