//! `kubeseen compact`: build the missing or stale hourly rollups of the lake's hours.

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
    let shape = detect::spec::rollup_shape(&detect::spec::load(a.queries.as_deref())?);
    let r = rollup::compact(lake, &shape, &parts)?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    Ok(exit::OK)
}
