//! Test-only pause points, so the concurrency tests can force an interleaving of two runs
//! instead of hoping a race produces it. Not a user feature: nothing documents it outside the
//! tests, and without the environment variable a pause point costs one cached environment
//! lookup per process.
//!
//! In: `KUBESEEN_TEST_PAUSE_AFTER=<stage>` and `KUBESEEN_TEST_PAUSE_DIR=<folder>`. The first
//! time the run reaches `<stage>` it creates `<folder>/<stage>.paused` (holding its pid), then
//! waits until `<folder>/<stage>.resume` exists — at most [`MAX_PAUSE`], then it goes on with a
//! warning, so a test that forgets to resume cannot hang a run forever. Stages:
//! - `locked`: a writing command (land, detect, backfill, compact) has just taken the lake's
//!   writer lock;
//! - `detected-<slug>`: `detect` has read the lake for detection `<slug>` and not yet written
//!   its findings.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The longest a pause point waits for its resume file.
pub const MAX_PAUSE: Duration = Duration::from_secs(120);

struct Armed {
    stage: String,
    dir: PathBuf,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let stage = std::env::var("KUBESEEN_TEST_PAUSE_AFTER").ok()?;
            let dir = PathBuf::from(std::env::var_os("KUBESEEN_TEST_PAUSE_DIR")?);
            Some(Armed { stage, dir })
        })
        .as_ref()
}

/// A pause point: `stage` (built only when a pause is armed) names it.
pub fn pause(stage: impl FnOnce() -> String) {
    static PAUSED: AtomicBool = AtomicBool::new(false);
    let Some(a) = armed() else { return };
    if stage() != a.stage || PAUSED.swap(true, Ordering::SeqCst) {
        return;
    }
    let paused = a.dir.join(format!("{}.paused", a.stage));
    if let Err(e) = std::fs::write(&paused, std::process::id().to_string()) {
        tracing::warn!("test pause point {}: cannot create {}: {e}", a.stage, paused.display());
        return;
    }
    let resume = a.dir.join(format!("{}.resume", a.stage));
    let started = Instant::now();
    while !resume.exists() {
        if started.elapsed() > MAX_PAUSE {
            tracing::warn!(
                "test pause point {}: no {} after {}s; going on",
                a.stage,
                resume.display(),
                MAX_PAUSE.as_secs()
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
