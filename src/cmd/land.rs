//! `kubeseen land`: decode the inputs and land them into the lake, then (unless
//! `--no-rollups`) mark the stale windows and refresh the rollups of the detections loaded.

use anyhow::Result;

use super::exit;
use crate::cli::LandArgs;
use crate::detect;
use crate::ingest;
use crate::lake::followup::{self, FollowUp};
use crate::lake::land::{self, LandOptions, LandReport};
use crate::storage::{Location, StoreOptions};
use crate::text::Escaped;

pub fn run(a: LandArgs, store: &StoreOptions) -> Result<i32> {
    if a.decode_only {
        let inputs = ingest::discover(&a.inputs, store)?;
        let r = land::decode_only(&inputs, a.max_input_bytes);
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(exit::OK);
    }
    let lake = super::open_lake(&a.lake, store, true)?;
    super::locked(&lake, store, "land", |lake| land_locked(&a, lake, store))
}

fn land_locked(a: &LandArgs, lake: &Location, store: &StoreOptions) -> Result<i32> {
    let clock = super::clock(a.now);
    let inputs = ingest::discover(&a.inputs, store)?;
    let opts = LandOptions {
        max_input_bytes: a.max_input_bytes,
        now: clock.now(),
        max_future: a.max_future,
        progress: !a.json,
        flush_bytes: a.flush_bytes,
    };
    let mut report = if a.no_rollups {
        land::land(lake, &inputs, &opts)?
    } else {
        let specs = detect::spec::load(a.queries.as_deref())?;
        followup::land_and_roll(lake, &inputs, &opts, &follow_up(&specs))?
    };
    report.peak_rss_bytes = land::peak_rss_bytes();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.had_rejections() {
        exit::REJECTED_INPUT
    } else {
        exit::OK
    })
}

/// What landing owes the detections `specs`: their stale marks and their rollups' shape.
pub fn follow_up(specs: &[detect::spec::Spec]) -> FollowUp {
    FollowUp {
        detections: specs.iter().map(|s| (s.slug.clone(), detect::reach(s))).collect(),
        shape: detect::spec::rollup_shape(specs),
    }
}

/// The one-line summary of a landing, and a line per input with problems (on stderr).
pub fn print_report(r: &LandReport) {
    println!(
        "landed {} of {} points from {} files into {} ({} duplicates skipped, {} rejected) — {} objects in {} partitions, {:.1}s, {:.0} points/s",
        r.points_landed,
        r.points_read,
        r.files_read,
        Escaped(&r.lake),
        r.points_duplicate,
        r.points_rejected,
        r.objects_written,
        r.partitions_written,
        r.elapsed_seconds,
        r.points_per_second
    );
    for p in &r.inputs_with_problems {
        let first = p
            .problems
            .first()
            .map(|x| format!("{} at {}: {}", x.reason, x.position, x.detail))
            .unwrap_or_default();
        eprintln!(
            "rejected (in part or whole): {}: {}",
            Escaped(&p.input),
            Escaped(&first)
        );
    }
}
