//! OTLP/protobuf decoder (bare, length-framed and zstd-framed requests) on arbitrary bytes: no
//! panic, no unbounded allocation, positions inside the input.
#![no_main]

use kubeseen_fuzz::{check, model::VecSink, otlp_proto};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sink = VecSink::default();
    otlp_proto::decode(data, &mut sink);
    check::positions_in_bounds(data, &sink);
});
