//! Subcommand bodies that live outside `app` (see `app::run` for the dispatch).

pub mod baseline;
