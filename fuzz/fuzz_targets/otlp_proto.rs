//! OTLP/protobuf decoder (bare, length-framed and zstd-framed requests) on arbitrary bytes: no
//! panic, positions inside the input, and zstd records never decompress past the input's limit
//! (the harness's -malloc_limit_mb turns a bigger allocation into a finding).
#![no_main]

use kubeseen_fuzz::{check, model::VecSink, otlp_proto};
use libfuzzer_sys::fuzz_target;

/// Small, as in raw_decode; land passes what is left of --max-input-bytes.
const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut sink = VecSink::default();
    otlp_proto::decode_limited(data, LIMIT, &mut sink);
    check::positions_in_bounds(data, &sink);
});
