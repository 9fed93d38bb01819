//! The table of contents of the binary: the subcommands' dispatch, logging, and how a failed
//! run maps to an exit code. Each subcommand lives in `cmd/<name>.rs`.

use anyhow::Result;

use crate::cli::{self, Command};
use crate::cmd;
use crate::lake::lock::LockError;
use crate::text;

pub use crate::cmd::exit;

/// Runs the command line `cli`; its exit code.
pub fn run(cli: cli::Cli) -> Result<i32> {
    let store = cmd::store_options(&cli);
    match cli.command {
        Command::Land(a) => cmd::land::run(a, &store),
        Command::Detect(a) => cmd::detect::run(a, &store),
        Command::Backfill(a) => cmd::backfill::run(a, &store),
        Command::Generate(a) => cmd::generate::run(a, &store),
        Command::Demo(a) => cmd::demo::run(a, &store),
        Command::Compact(a) => cmd::compact::run(a, &store),
        Command::Baseline(a) => cmd::baseline::run(a, &store),
        Command::Risk(a) => cmd::risk::run(a, &store),
        Command::Schema(a) => cmd::schema::run(a),
    }
}

/// Logs to stderr with the filter and format of the global flags.
pub fn init_logging(cli: &cli::Cli) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only on a terminal: a log file or pipe gets no escape sequences at all (and
    // values never carry any: see the text format below).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match cli.log_format {
        // Machine output: JSON keeps every value exact (it escapes C0 controls itself).
        cli::LogFormat::Json => builder.json().init(),
        // Text logs are read by people: every field and message goes through the one escaping
        // rule, so a file or object name cannot forge a log line or drive the terminal.
        cli::LogFormat::Text => {
            use tracing_subscriber::field::MakeExt;
            builder
                .fmt_fields(
                    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
                        let v = format!("{value:?}");
                        if field.name() == "message" {
                            write!(w, "{}", text::escape(&v))
                        } else {
                            write!(w, "{}={}", field.name(), text::escape(&v))
                        }
                    })
                    .delimited(" "),
                )
                .init()
        }
    }
}

/// The exit code of a failed run: [`exit::STORAGE`] when a store failed (kubeseen's own
/// requests or Polars' scans), [`exit::LOCKED`] for the writer lock, else [`exit::ERROR`].
pub fn exit_code(e: &anyhow::Error) -> i32 {
    fn polars_store(e: &polars::prelude::PolarsError) -> bool {
        use polars::prelude::PolarsError as P;
        match e {
            P::IO { error, .. } => {
                let mut cur: Option<&(dyn std::error::Error + 'static)> = error.get_ref().map(|e| e as _);
                while let Some(c) = cur {
                    if c.is::<object_store::Error>() || c.is::<polars::io::cloud::PolarsObjectStoreError>() {
                        return true;
                    }
                    cur = c.source();
                }
                false
            }
            P::Context { error, .. } => polars_store(error),
            _ => false,
        }
    }
    for cause in e.chain() {
        if let Some(l) = cause.downcast_ref::<LockError>() {
            return match l {
                LockError::Busy(_) | LockError::Lost { storage: false, .. } => exit::LOCKED,
                LockError::Lost { storage: true, .. } | LockError::Storage(_) => exit::STORAGE,
            };
        }
        if let Some(o) = cause.downcast_ref::<object_store::Error>() {
            if !matches!(o, object_store::Error::NotFound { .. }) {
                return exit::STORAGE;
            }
        }
        if cause
            .downcast_ref::<polars::prelude::PolarsError>()
            .is_some_and(polars_store)
        {
            return exit::STORAGE;
        }
    }
    exit::ERROR
}

/// `e` and its causes on one line, each cause once (object_store's messages already hold
/// their sources, which the chain would repeat), escaped for a person to read: errors quote
/// file names, object keys and values (see `crate::text`).
pub fn error_message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    text::escape(&out).into_owned()
}
