//! kubeseen's integration tests: one binary, a module per area.

mod cli;
mod common;
mod detect;
mod family;
mod land;
mod s3;
