//! OTLP/JSON decoder on arbitrary (decompressed) bytes: no panic, positions inside the input.
#![no_main]

use kubeseen_fuzz::{check, model::VecSink, otlp_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sink = VecSink::default();
    otlp_json::decode(data, &mut sink);
    check::positions_in_bounds(data, &sink);
});
