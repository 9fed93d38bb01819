//! kubeseen's integration tests: one binary, a module per area.

mod cli;
mod common;
#[cfg(unix)]
mod crash;
mod detect;
mod land;
mod s3;
