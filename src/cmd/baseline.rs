//! `kubeseen baseline`: the SPL's weekly lookup tables (B1–B4) as Parquet in the lake.
//!
//! In: the lake, the statistical detections that read a lookup in `--splunk-compat`, and
//! `--at`. Out: for each lookup, `lookups/<name>/<run>.parquet` as of the last weekly run
//! (Sunday 02:00 UTC) before `--at`, over that run's `[−30d@d, −1d@d)` — the fields the SPL
//! writes (`key`, the `by` fields under their OTel names, `avg_*`, `stdev_*`, `count`,
//! `last_seen`, and `first_seen`), readable by DuckDB or pandas like any Parquet file; a JSON
//! summary on stdout. Invariant: a kept table is only replaced with `--rebuild`, so a compat
//! re-run of a past window reads the same baseline; `detect --splunk-compat` builds and keeps
//! a missing one the same way.

use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::exit;
use crate::cli::BaselineArgs;
use crate::config::fmt_instant;
use crate::detect::spec::{self, Spec};
use crate::detect::statistical::{lookup, plan, StatLogic};
use crate::lake::{self, scan};
use crate::storage::{Location, StoreOptions};

pub fn run(a: BaselineArgs, store: &StoreOptions) -> Result<i32> {
    let lake = super::open_lake(&a.lake, store, false)?;
    super::locked(&lake, store, "baseline", |lake| baseline(&a, lake))
}

fn baseline(a: &BaselineArgs, lake: &Location) -> Result<i32> {
    let at = a.at.unwrap_or_else(|| super::clock(a.now).now());
    super::not_before_2000(at, "--at")?;
    let all = spec::load(a.queries.as_deref())?;
    let specs: Vec<Spec> = if a.detections.is_empty() {
        all
    } else {
        let mut v = Vec::new();
        for d in &a.detections {
            match all.iter().find(|s| &s.slug == d) {
                Some(s) => v.push(s.clone()),
                None => bail!("--detection {d:?}: no such detection"),
            }
        }
        v
    };
    let lookups = build(lake, &specs, at, a.rebuild)?;
    super::print_sorted_json(&json!({"at": fmt_instant(at), "lookups": lookups}))?;
    Ok(exit::OK)
}

/// Builds (or, kept already and without `rebuild`, reports) the lookup of every statistical
/// detection of `specs` that reads one, as of the last weekly run before `at`.
pub fn build(lake: &Location, specs: &[Spec], at: DateTime<Utc>, rebuild: bool) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for spec in specs.iter().filter(|s| s.statistical.is_some()) {
        let l = StatLogic::of(spec, true)?;
        let Some(lk) = &l.lookup else { continue };
        if done.contains(&lk.name) {
            continue;
        }
        done.push(lk.name.clone());
        let run = lookup::last_run_before(at);
        let (from, to) = lookup::data_window(run);
        let key = lake::keys::lookup(&lk.name, run);
        let kept = lake.get_opt(&key)?.is_some();
        let mut rows = None;
        if !kept || rebuild {
            let what = || format!("lookup {}", lk.name);
            let files = lake::parts_between(lake, from - l.lookback, to)?;
            let columns = plan::scan_columns(&l, &l.key);
            let scan = scan::parts(lake, &files, &columns)
                .map_err(anyhow::Error::from)
                .with_context(what)?;
            let long = lookup::compute(scan, &l, lk, from, to)
                .map_err(anyhow::Error::from)
                .with_context(what)?;
            let mut wide = crate::detect::plan::collect(lookup::to_wide(long, lk, &l.tested()))
                .map_err(anyhow::Error::from)
                .with_context(what)?;
            rows = Some(wide.height());
            let bytes = lake::parquet_bytes(&mut wide)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("writing {key}"))?;
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
