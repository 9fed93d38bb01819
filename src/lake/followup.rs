//! Landing's follow-up work: the stale marks of the findings late points change, and the
//! rollups of the hours a landing touched.
//!
//! In: the lake, the inputs, and for each detection loaded (`--queries` or the built-in ones)
//! its slug and reach, plus the rollup shape of those detections. Out: the [`LandReport`], with
//! the windows marked and the rollup time. Invariants: a window's mark is written before any
//! point that changes it (a crash cannot lose a mark); rollups are rebuilt for every hour
//! touched, not only written, so a re-run of a killed landing still finishes them.

use std::time::Instant;

use chrono::Duration;

use super::land::{self, LandOptions, LandReport};
use super::rollup::{self, RollupShape};
use super::stale::Marker;
use crate::ingest::Input;
use crate::storage::{Location, StorageError};

/// A failure of landing or of its follow-up work.
#[derive(Debug, thiserror::Error)]
pub enum FollowUpError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Land(#[from] land::LandError),
    #[error(transparent)]
    Rollup(#[from] rollup::RollupError),
}

/// What landing owes the detections loaded.
#[derive(Debug, Clone)]
pub struct FollowUp {
    /// Each detection's slug and reach (how far back from a window's end its data reaches).
    pub detections: Vec<(String, Duration)>,
    /// The rollups the detections read.
    pub shape: RollupShape,
}

/// Lands `inputs`, marking the findings already written for windows these points fall into as
/// stale before the points are written, then rebuilds the rollups of the hours it touched.
pub fn land_and_roll(
    lake: &Location,
    inputs: &[Input],
    opts: &LandOptions,
    follow: &FollowUp,
) -> Result<LandReport, FollowUpError> {
    let mut markers: Vec<Marker> = follow
        .detections
        .iter()
        .map(|(slug, reach)| Marker::new(slug, *reach))
        .collect();
    let mut marked = 0u64;
    let mut report = land::land_with(lake, inputs, opts, &mut |partitions| {
        for m in &mut markers {
            marked += m.mark(lake, partitions)? as u64;
        }
        Ok(())
    })?;
    report.stale_windows_marked = marked;
    let t = Instant::now();
    rollup::refresh(lake, &follow.shape, &report.touched)?;
    report.rollup_seconds = t.elapsed().as_secs_f64();
    Ok(report)
}
