//! The whole bytes → points path of one input: compression sniffing (gzip, zstd, the legacy
//! length-framed zstd), bounded decompression, format sniffing and decoder dispatch. No panic,
//! never more than the limit decompressed (a bomb is a rejection, not an allocation), and the
//! compression is transparent: an uncompressed input decodes to the same points and
//! rejections whether it arrives plain, gzip- or zstd-compressed.
#![no_main]

use std::io::Write;

use kubeseen_fuzz::{model::VecSink, raw};
use libfuzzer_sys::fuzz_target;

/// Small, so decompression bombs hit the limit quickly; real runs use --max-input-bytes (2 GiB).
const LIMIT: u64 = 1 << 20;

fn decode(data: &[u8]) -> (raw::Decoded, VecSink) {
    let mut sink = VecSink::default();
    let d = raw::decode(data, LIMIT, &mut sink);
    assert!(
        d.decompressed_bytes <= LIMIT.max(data.len() as u64),
        "{} bytes decompressed past the {LIMIT}-byte limit: {d:?}",
        d.decompressed_bytes
    );
    (d, sink)
}

/// Points and rejections as text: NaN values compare equal, unlike `PartialEq`.
fn outcome(d: &raw::Decoded, s: &VecSink) -> String {
    format!("{:?}\n{:?}\n{:?}", d.format, s.points, s.rejections)
}

fuzz_target!(|data: &[u8]| {
    let (plain_d, plain) = decode(data);
    if raw::detect_compression(data) != raw::Compression::None {
        return;
    }
    let want = outcome(&plain_d, &plain);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gzip into memory");
    let gz = gz.finish().expect("gzip into memory");
    let zst = zstd::encode_all(data, 1).expect("zstd into memory");
    for (name, packed) in [("gzip", gz), ("zstd", zst)] {
        let (d, s) = decode(&packed);
        assert_eq!(outcome(&d, &s), want, "{name}-compressed input decodes differently");
    }
});
