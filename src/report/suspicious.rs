//! Findings whose key or context values hold control, bidi or invisible characters, called out
//! in the Markdown report and the terminal table.
//!
//! In: a summary (its findings rows carry `suspicious_characters`, see
//! `detect::suspicious`). Out: a Markdown section and a terminal note naming each such finding
//! and the characters, placed before the findings so they are read first. An escape sequence
//! or a right-to-left override in an executable path is no accident: it aims at whoever reads
//! the output, so the finding deserves a look of its own.

use std::collections::BTreeSet;

use serde_json::Value;

use super::summary::Summary;
use crate::detect::suspicious::COLUMN;
use crate::text;

fn entries(r: &Value) -> Vec<&str> {
    r[COLUMN]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn flagged(s: &Summary) -> Vec<&Value> {
    s.findings.iter().filter(|r| !entries(r).is_empty()).collect()
}

/// Whether any of `rows` holds such characters (the grid then gets a column for them).
pub(super) fn any(rows: &[Value]) -> bool {
    rows.iter().any(|r| !entries(r).is_empty())
}

/// The grid cell of a finding: its distinct characters, `U+202E bidi, U+001B control`.
pub(super) fn cell(r: &Value) -> String {
    let chars: BTreeSet<&str> = entries(r)
        .into_iter()
        .map(|e| e.rsplit_once(": ").map_or(e, |(_, c)| c))
        .collect();
    if chars.is_empty() {
        "-".into()
    } else {
        chars.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// The Markdown section (empty when no finding is flagged).
pub(super) fn markdown_section(s: &Summary) -> String {
    let rows = flagged(s);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "## ⚠ Hidden characters in {} finding(s)\n\n**The key or context of these findings holds control, bidi or invisible \
         characters** — an escape sequence, a carriage return, a right-to-left override or a zero-width character \
         in a path or a name is itself a strong signal: it is aimed at whoever reads the output. They are shown \
         escaped (`\\x1b`, `\\u{{202e}}`) everywhere in this report; the findings Parquet holds the exact values, \
         and its `{COLUMN}` column lists them.\n\n| finding_uid | characters (column: code point class) |\n|---|---|\n",
        rows.len()
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} |\n",
            text::markdown(r["finding_uid"].as_str().unwrap_or("")),
            text::markdown(&entries(r).join("; "))
        ));
    }
    out.push('\n');
    out
}

/// The terminal note (empty when no finding is flagged).
pub(super) fn table_note(s: &Summary) -> String {
    let rows = flagged(s);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "ALERT: {} finding(s) hold control, bidi or invisible characters in their key or context (shown escaped above):\n",
        rows.len()
    );
    for r in rows {
        out.push_str(&format!(
            "  {} {}\n",
            text::escape(r["finding_uid"].as_str().unwrap_or("")),
            text::escape(&entries(r).join("; "))
        ));
    }
    out
}
