//! kubeseen's integration tests: one binary, a module per area.

mod cli;
mod common;
mod concurrency;
#[cfg(unix)]
mod crash;
mod detect;
mod family;
mod faults;
mod hostile;
mod land;
mod proxy;
mod s3;
