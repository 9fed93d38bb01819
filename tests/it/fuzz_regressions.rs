//! Inputs the fuzz targets (or a review with their harness) found to crash, hang or allocate
//! without bound, kept under `tests/fuzz-regressions/<target>/<reason>--<what>`: each is fed to
//! the decoder its target exercises, with the targets' 1 MiB input limit, and must come back as
//! a clean rejection whose reason is the file name's prefix. `scripts/fuzz.sh` replays the same
//! files through the fuzz targets (with their allocation limit) before fuzzing.

use std::path::Path;

use kubeseen::detect::allowlist::Allowlist;
use kubeseen::ingest::{self, model::VecSink, otlp_json, otlp_proto, splunk_csv};

/// The fuzz targets' limit (`LIMIT` in fuzz/fuzz_targets/*.rs).
const LIMIT: u64 = 1 << 20;

/// What the target's decoder makes of `bytes`: the rejection reasons, or the error text.
fn outcome(target: &str, bytes: &[u8]) -> Vec<String> {
    let mut sink = VecSink::default();
    match target {
        "raw_decode" => {
            let d = ingest::decode(bytes, LIMIT, &mut sink);
            assert!(d.decompressed_bytes <= LIMIT.max(bytes.len() as u64), "{d:?}");
        }
        "otlp_proto" => otlp_proto::decode_limited(bytes, LIMIT, &mut sink),
        "otlp_json" => otlp_json::decode(bytes, &mut sink),
        "splunk_csv" => splunk_csv::decode(bytes, &mut sink),
        "allowlist" => {
            let text = String::from_utf8_lossy(bytes);
            let e = Allowlist::parse("regression.toml", &text).expect_err("a regression allowlist is invalid");
            return vec![e.to_string()];
        }
        other => panic!("tests/fuzz-regressions/{other}: no such fuzz target"),
    }
    sink.rejections
        .iter()
        .map(|r| format!("{} at {}: {}", r.reason, r.position, r.detail))
        .collect()
}

#[test]
fn every_fuzz_regression_input_is_rejected_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut seen = 0;
    for target in std::fs::read_dir(&root).expect("tests/fuzz-regressions") {
        let target = target.expect("entry").path();
        let name = target.file_name().expect("name").to_string_lossy().to_string();
        for f in std::fs::read_dir(&target).expect("target folder") {
            let f = f.expect("entry").path();
            let file = f.file_name().expect("name").to_string_lossy().to_string();
            let (reason, _) = file
                .split_once("--")
                .unwrap_or_else(|| panic!("{}: name it <reason>--<what>", f.display()));
            let bytes = std::fs::read(&f).expect("read regression input");
            let t = std::time::Instant::now();
            let got = outcome(&name, &bytes);
            assert!(
                got.iter()
                    .any(|r| r.starts_with(reason) || (name == "allowlist" && r.contains(reason))),
                "{}: expected a {reason:?} rejection, got {got:#?}",
                f.display()
            );
            assert!(t.elapsed().as_secs() < 5, "{}: took {:?}", f.display(), t.elapsed());
            seen += 1;
        }
    }
    assert!(seen > 0, "no regression inputs under {}", root.display());
}
