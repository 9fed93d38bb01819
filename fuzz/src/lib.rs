//! The shipped source files the fuzz targets exercise, included by path (no copy, no Polars).
//!
//! Each included file sits at the crate root, so its `super::model` / `super::otlp_json` paths
//! resolve to the siblings included here, and `crate::config` is the real config module.
//! [`check`] holds the invariants every target asserts on top of "does not panic".

#![allow(dead_code, clippy::all)]

#[path = "../../src/config.rs"]
pub mod config;
#[path = "../../src/ingest/model.rs"]
pub mod model;
#[path = "../../src/ingest/otlp_json.rs"]
pub mod otlp_json;
#[path = "../../src/ingest/otlp_proto.rs"]
pub mod otlp_proto;
#[path = "../../src/ingest/raw.rs"]
pub mod raw;
#[path = "../../src/ingest/splunk_csv.rs"]
pub mod splunk_csv;

#[path = "../../src/detect/allowlist/rules.rs"]
pub mod allowlist_rules;

pub mod check {
    //! Contract checks on what a decoder produced for `input` (decompressed bytes).
    use crate::model::{Position, VecSink};

    /// Every rejection has a reason and a position inside the input: 1-based lines and records
    /// that exist, byte offsets not past the end.
    pub fn positions_in_bounds(input: &[u8], sink: &VecSink) {
        let len = input.len() as u64;
        let lines = input.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        for r in &sink.rejections {
            assert!(!r.reason.is_empty(), "rejection without a reason: {r:?}");
            match r.position {
                Position::Whole => {}
                Position::Line { line, .. } => {
                    assert!(line >= 1 && line <= lines, "line {line} outside 1..={lines}: {r:?}")
                }
                Position::Byte(b) => assert!(b <= len, "byte {b} past the end ({len}): {r:?}"),
                Position::Record { record, byte } => {
                    assert!(record >= 1, "record numbers are 1-based: {r:?}");
                    assert!(byte <= len, "record byte {byte} past the end ({len}): {r:?}")
                }
            }
        }
    }
}
