//! kubeseen's integration tests: one binary, a module per area.

mod cli;
mod common;
mod detect;
mod fuzz_regressions;
mod land;
mod s3;
mod security;
