//! `kubeseen`: parse the command line, run it, map the outcome to an exit code.

use clap::Parser;
use kubeseen::{app, cli};

fn main() {
    let cli = cli::Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        cli::LogFormat::Json => builder.json().init(),
        cli::LogFormat::Text => builder.init(),
    }
    let code = match app::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kubeseen: error: {e:#}");
            app::exit::ERROR
        }
    };
    std::process::exit(code);
}
