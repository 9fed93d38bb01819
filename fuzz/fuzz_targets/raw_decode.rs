//! The whole bytes → points path of one input: compression sniffing (gzip, zstd, the legacy
//! length-framed zstd), bounded decompression, format sniffing and decoder dispatch. No panic,
//! and never more than the limit decompressed (a bomb is a rejection, not an allocation).
#![no_main]

use kubeseen_fuzz::{model::VecSink, raw};
use libfuzzer_sys::fuzz_target;

/// Small, so decompression bombs hit the limit quickly; real runs use --max-input-bytes (2 GiB).
const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut sink = VecSink::default();
    let d = raw::decode(data, LIMIT, &mut sink);
    assert!(
        d.decompressed_bytes <= LIMIT.max(data.len() as u64),
        "{} bytes decompressed past the {LIMIT}-byte limit: {d:?}",
        d.decompressed_bytes
    );
});
