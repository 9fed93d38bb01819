//! kubeseen's integration tests: one binary, a module per area.

mod cli;
mod common;
mod concurrency;
#[cfg(unix)]
mod crash;
mod detect;
mod family;
mod faults;
mod fuzz_regressions;
mod ground_truth;
mod hostile;
mod land;
#[cfg(unix)]
mod leftovers;
mod notebook;
mod ocsf;
mod proxy;
mod risk;
mod run_summary;
mod s3;
mod security;
mod statistical;
#[cfg(unix)]
mod untrusted;
