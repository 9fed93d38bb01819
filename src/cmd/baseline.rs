//! `kubeseen baseline`: the SPL's weekly lookup tables (B1–B4) as Parquet in the lake.
//!
//! In: the lake, the statistical detections that read a lookup in `--splunk-compat`, and
//! `--at`. Out: for each lookup, `lookups/<name>/<run>.parquet` as of the last weekly run
//! (Sunday 02:00 UTC) before `--at`, over that run's `[−30d@d, −1d@d)` — the fields the SPL
//! writes (`key`, the `by` fields under their OTel names, `avg_*`, `stdev_*`, `count`,
//! `last_seen`, and `first_seen`), readable by DuckDB or pandas like any Parquet file.
//! Invariant: a kept table is only replaced with `--rebuild`, so a compat re-run of a past
//! window reads the same baseline; `detect --splunk-compat` builds and keeps a missing one the
//! same way.

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::config::fmt_instant;
use crate::detect::spec::Spec;
use crate::detect::statistical::{lookup, StatLogic};
use crate::storage::Location;

/// Builds (or, kept already and without `rebuild`, reports) the lookup of every statistical
/// detection of `specs` that reads one, as of the last weekly run before `at`.
pub fn build(lake: &Location, specs: &[Spec], at: DateTime<Utc>, rebuild: bool) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for spec in specs {
        let l = StatLogic::of(spec, true)?;
        let Some(lk) = &l.lookup else { continue };
        if done.contains(&lk.name) {
            continue;
        }
        done.push(lk.name.clone());
        let run = lookup::last_run_before(at);
        let (from, to) = lookup::data_window(run);
        let key = lookup::object_key(lk, run);
        let kept = lake.get_opt(&key)?.is_some();
        let mut rows = None;
        if !kept || rebuild {
            let files = crate::lake::parts_between(lake, from - l.lookback, to)?;
            let columns = crate::detect::statistical::plan::scan_columns(&l, &l.key);
            let scan = crate::detect::scan(lake, &files, &columns).with_context(|| format!("lookup {}", lk.name))?;
            let long = lookup::compute(scan, &l, lk, from, to).with_context(|| format!("lookup {}", lk.name))?;
            let mut wide = crate::detect::plan::collect(lookup::to_wide(long, lk, &l.tested()))
                .with_context(|| format!("lookup {}", lk.name))?;
            rows = Some(wide.height());
            let bytes = crate::lake::parquet_bytes(&mut wide).with_context(|| format!("writing {key}"))?;
            lake.put(&key, bytes)?;
        }
        out.push(json!({
            "lookup": lk.name,
            "baseline_id": lk.id,
            "baseline": lk.title,
            "detection": spec.slug,
            "run": fmt_instant(run),
            "window_start": fmt_instant(from),
            "window_end": fmt_instant(to),
            "object": lake.describe(&key),
            "status": match (kept, rebuild) { (true, false) => "kept", (true, true) => "rebuilt", _ => "built" },
            "rows": rows,
        }));
    }
    Ok(out)
}
