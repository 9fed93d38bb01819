//! `kubeseen compact`: build the missing or stale hourly rollups (presence, and the statistical
//! family's moments) of the lake's hours.

use anyhow::Result;
use chrono::Duration;

use super::exit;
use crate::cli::CompactArgs;
use crate::detect;
use crate::lake::{self, rollup};
use crate::storage::{Location, StoreOptions};

pub fn run(a: CompactArgs, store: &StoreOptions) -> Result<i32> {
    let lake = super::open_lake(&a.lake, store, false)?;
    super::locked(&lake, store, "compact", |lake| compact(&a, lake))
}

fn compact(a: &CompactArgs, lake: &Location) -> Result<i32> {
    let (parts, _) = lake::list_parts(lake)?;
    let parts: Vec<_> = parts
        .into_iter()
        .filter(|p| {
            a.from.is_none_or(|f| p.partition.start() + Duration::hours(1) > f)
                && a.to.is_none_or(|t| p.partition.start() < t)
        })
        .collect();
    let specs = detect::spec::load(a.queries.as_deref())?;
    let shape = detect::spec::rollup_shape(&specs);
    let r = rollup::compact(lake, &shape, &parts)?;
    // Moment rollups read the hour before each hour too (counters' lookback).
    let hours: std::collections::BTreeSet<_> = parts.iter().map(|p| p.partition).collect();
    let (all, _) = lake::list_parts(lake)?;
    let logics = detect::statistical::rollup_logics(&specs);
    let m = detect::statistical::rollups::compact(lake, &logics, &all, &hours)?;
    let mut out = serde_json::to_value(&r)?;
    out["moments"] = serde_json::to_value(&m)?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(exit::OK)
}
