//! Window and baseline arithmetic: the lengths a run uses, the window ending at `--at`, how far
//! back a detection reads, and the window ends of a range.
//!
//! Invariants: windows are half-open UTC intervals `[start, end)`; the baseline ends where the
//! window starts (or `baseline_gap` before `--at` for the SPL of a detection whose window
//! overlaps its history); no window ends after the clock.

use chrono::{DateTime, Duration, Utc};

use super::outcome::{DetectError, DetectOptions};
use super::plan::Window;
use super::spec::{self, Spec};
use crate::config::fmt_instant;

/// The window and baseline lengths of `spec` under `opts` (flags override the spec; a rule
/// has no baseline: zero), validated.
pub fn lengths(spec: &Spec, opts: &DetectOptions) -> Result<(Duration, Duration), DetectError> {
    let invalid = |m: String| DetectError::Invalid(m);
    let compat_current = spec.lengths.compat_current.filter(|_| opts.splunk_compat);
    let current = opts.window.or(compat_current).unwrap_or(spec.lengths.current);
    if spec.family == spec::Family::Rule {
        return Ok((current, Duration::zero()));
    }
    let baseline = match (opts.baseline, spec.lengths.baseline) {
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => return Err(invalid(format!("{}: no baseline length", spec.slug))),
    };
    if current >= baseline {
        return Err(invalid(format!(
            "the window ({}) must be shorter than the baseline ({}): the baseline is [at − baseline, at − window)",
            human(current),
            human(baseline)
        )));
    }
    Ok((current, baseline))
}

/// How far back from a window's end the data it reads reaches (in either mode, with the
/// spec's lengths): a point at `t` can change the findings of the windows ending in
/// `(t, t + reach]`.
pub fn reach(spec: &Spec) -> Duration {
    let l = &spec.lengths;
    let mut reach = l.current;
    if let Some(b) = l.baseline {
        reach = reach.max(b);
    }
    if let Some(c) = l.compat_current {
        reach = reach.max(c);
    }
    if spec.rule.is_some() {
        reach += l.lookback;
    }
    reach
}

/// How long before `--at` the baseline ends, when that is not the window's start (the SPL of
/// a detection whose current window overlaps its history).
pub fn baseline_gap(spec: &Spec, opts: &DetectOptions) -> Option<Duration> {
    spec.lengths
        .compat_baseline_gap
        .filter(|_| opts.splunk_compat && opts.window.is_none())
}

/// The window of a run, validated against the clock.
pub fn window_for(spec: &Spec, opts: &DetectOptions) -> Result<Window, DetectError> {
    let (current, baseline) = lengths(spec, opts)?;
    let at = opts.at.unwrap_or_else(|| opts.clock.last_full_hour());
    if at > opts.clock.now() {
        return Err(DetectError::Invalid(format!(
            "--at {} is in the future (now is {}): its window would be incomplete",
            fmt_instant(at),
            fmt_instant(opts.clock.now())
        )));
    }
    Ok(match baseline_gap(spec, opts) {
        Some(gap) => Window::with_gap(at, current, baseline, gap),
        // A rule has no baseline: it is empty, [start, start).
        None => Window::ending_at(at, current, baseline.max(current)),
    })
}

/// The window of `spec` ending at `at` under `opts`.
pub fn window_at(spec: &Spec, opts: &DetectOptions, at: DateTime<Utc>) -> Result<Window, DetectError> {
    window_for(
        spec,
        &DetectOptions {
            at: Some(at),
            ..opts.clone()
        },
    )
}

/// The window ends of a backfill of `[from, to)` every `every`: the first ends at
/// `from + every`, the last at or before `to`.
pub fn ends(from: DateTime<Utc>, to: DateTime<Utc>, every: Duration) -> Vec<DateTime<Utc>> {
    let mut ends = Vec::new();
    let mut t = from + every;
    while t <= to {
        ends.push(t);
        t += every;
    }
    ends
}

/// A duration as the findings file names spell it: `1h`, `30d`, `90s`.
pub fn human(d: Duration) -> String {
    let s = d.num_seconds();
    if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
