//! Splunk CSV decoder on arbitrary bytes: no panic, positions inside the input; and the format
//! sniffer (`looks_like`) never panics either.
#![no_main]

use kubeseen_fuzz::{check, model::VecSink, splunk_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = splunk_csv::looks_like(data);
    let mut sink = VecSink::default();
    splunk_csv::decode(data, &mut sink);
    check::positions_in_bounds(data, &sink);
});
