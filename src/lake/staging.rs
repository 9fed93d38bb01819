//! The staging files of a local lake: a local `put` stages the bytes in `<name>#<n>` and
//! renames it; a writer killed in between leaves that file, which no listing shows
//! (object_store skips `#<digits>` names, and `*.parquet` globs do not match it).
//! [`sweep_staging`] removes those of dead writers.

use super::layout::{FINDINGS, METRICS, REPORTS};
use crate::storage::Location;

/// A staging file untouched for this long belongs to a writer that died: a live one writes its
/// staging file in one go and renames it at once.
pub const STAGING_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// `true` for a local store's staging file name, `<name>#<digits>`.
fn is_staging(file_name: &str) -> bool {
    file_name
        .rsplit_once('#')
        .is_some_and(|(base, n)| !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the staging files (`<name>#<n>`) that writers killed mid-`put` left in a local lake,
/// once older than `older_than`, and the folders that leaves empty. Only kubeseen's own folders
/// are searched; object stores have nothing to sweep (a `put` there is one request). Returns how
/// many were removed; what cannot be removed is logged and left for the next run.
pub fn sweep_staging(lake: &Location, older_than: std::time::Duration) -> u64 {
    fn sweep(dir: &std::path::Path, older_than: std::time::Duration, removed: &mut u64) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut swept_here = false;
        for e in entries.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                sweep(&path, older_than, removed);
                continue;
            }
            if !ft.is_file() || !is_staging(&e.file_name().to_string_lossy()) {
                continue;
            }
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= older_than);
            if !old {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    *removed += 1;
                    swept_here = true;
                    tracing::info!(file = %path.display(), "removed a staging file left by a killed writer");
                }
                Err(err) => tracing::warn!(file = %path.display(), %err, "cannot remove a stale staging file"),
            }
        }
        if swept_here {
            // Fails (and is meant to) unless the folder is now empty.
            let _ = std::fs::remove_dir(dir);
        }
    }
    let Some(root) = lake.local_root() else { return 0 };
    let mut removed = 0;
    for folder in [METRICS, "rollups", FINDINGS, REPORTS, "risk", "_kubeseen"] {
        sweep(&root.join(folder), older_than, &mut removed);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_only_old_staging_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Location::open(&dir.path().display().to_string(), &Default::default(), true).expect("lake");
        let hour = dir.path().join("metrics/date=2026-01-01/hour=01");
        let lone = dir.path().join("findings/detection=x/date=2026-01-01");
        std::fs::create_dir_all(&hour).expect("mkdir");
        std::fs::create_dir_all(&lone).expect("mkdir");
        let write = |p: std::path::PathBuf, age_s: u64| {
            std::fs::write(&p, b"x").expect("write");
            let f = std::fs::OpenOptions::new().write(true).open(&p).expect("open");
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(age_s))
                .expect("mtime");
            p
        };
        let old = write(hour.join("part-a.parquet#1"), 3600);
        let fresh = write(hour.join("part-a.parquet#2"), 0);
        let kept = write(hour.join("part-b.parquet"), 3600);
        let not_staging = write(hour.join("notes#v1"), 3600);
        let lone_old = write(lone.join("20260101T010000Z-1h.parquet#1"), 3600);
        assert_eq!(sweep_staging(&lake, STAGING_MAX_AGE), 2);
        assert!(!old.exists() && !lone_old.exists());
        assert!(fresh.exists() && kept.exists() && not_staging.exists());
        assert!(!lone.exists(), "a folder emptied by the sweep is removed");
        assert!(hour.exists());
        // What the sweep leaves, object_store's listing hides; what it lists, it keeps.
        let listed: Vec<String> = lake
            .list("metrics")
            .expect("list")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            listed,
            vec![
                "metrics/date=2026-01-01/hour=01/notes#v1".to_string(),
                "metrics/date=2026-01-01/hour=01/part-b.parquet".to_string()
            ]
        );
        assert_eq!(
            sweep_staging(&lake, std::time::Duration::ZERO),
            1,
            "fresh ones go with a zero age"
        );
    }
}
