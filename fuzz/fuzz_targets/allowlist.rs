//! Allowlist parser on arbitrary text: no panic; a parsed allowlist has only rules with a
//! non-empty match and a non-blank reason, and judging expiry never panics.
#![no_main]

use kubeseen_fuzz::allowlist_rules::Allowlist;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(a) = Allowlist::parse("fuzz.toml", text) {
        for r in &a.rules {
            assert!(
                !r.reason.trim().is_empty(),
                "rule {:?} parsed with a blank reason",
                r.name
            );
        }
        let _ = a.expired(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let _ = a.expired(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    }
});
