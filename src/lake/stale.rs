//! Late data: windows whose findings were written before points landed inside their range.
//!
//! `_kubeseen/stale/<slug>.json` lists them (window end, window length, mode). Landing into
//! hour `h` marks every written window of the detection whose range `[end − baseline, end)`
//! overlaps `h`; `detect --stale` and `backfill --stale-only` re-run exactly those and clear
//! them. Read-modify-write of one small object, safe because every writer of a lake holds its
//! writer lock (`lake::lock`) for the whole run.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use super::keys;
pub use super::keys::{parse_stem, StaleWindow};
use super::layout::HourPartition;
use crate::storage::{Location, StorageError};

/// The stale windows of `slug`. A list that does not parse (corrupt, truncated by hand,
/// another tool's file) is not read as empty, which would silently forget windows to
/// re-run: it is rebuilt from the findings — every written window of the detection is
/// marked stale, so re-running them (`detect --stale`) is never less than what was lost —
/// written back, and a warning names the object and what was done.
pub fn read(lake: &Location, slug: &str) -> Result<BTreeSet<StaleWindow>, StorageError> {
    let Some(bytes) = lake.get_opt(&keys::stale(slug))? else {
        return Ok(BTreeSet::new());
    };
    match serde_json::from_slice::<BTreeSet<StaleWindow>>(&bytes) {
        Ok(set) => Ok(set),
        Err(e) => {
            let mut set = BTreeSet::new();
            for (k, _) in lake.list(&keys::findings_of(slug))? {
                set.extend(keys::stem_of(&k, ".parquet").and_then(parse_stem));
            }
            tracing::warn!(
                "{} is corrupt ({e}): rebuilt from the findings, every written window of {slug} ({}) is now \
                 marked stale; `kubeseen detect --stale` re-runs them",
                lake.describe(&keys::stale(slug)),
                set.len()
            );
            write(lake, slug, &set)?;
            Ok(set)
        }
    }
}

fn write(lake: &Location, slug: &str, set: &BTreeSet<StaleWindow>) -> Result<(), StorageError> {
    if set.is_empty() {
        return lake.delete(&keys::stale(slug));
    }
    lake.put(&keys::stale(slug), serde_json::to_vec_pretty(set).unwrap_or_default())
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
                (0..=baseline.num_days() + 1).map(move |d| keys::date(start + Duration::days(d)))
            })
            .collect();
        let mut hit = BTreeSet::new();
        for date in dates {
            if !self.listed.contains_key(&date) {
                let mut windows = Vec::new();
                for (k, _) in lake.list(&keys::findings_folder(&self.slug, &date))? {
                    let Some(stem) = keys::stem_of(&k, ".parquet") else {
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
        let date = keys::date(day);
        let reports: BTreeSet<String> = lake
            .list(&keys::reports_folder(slug, &date))?
            .into_iter()
            .filter_map(|(k, _)| k.rsplit('/').next().map(str::to_string))
            .collect();
        for (k, _) in lake.list(&keys::findings_folder(slug, &date))? {
            let Some(stem) = keys::stem_of(&k, ".parquet") else {
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
