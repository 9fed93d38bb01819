//! `kubeseen generate`: write synthetic OpenTelemetry exports with labelled attack scenarios.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::exit;
use crate::cli::{self, GenerateArgs};
use crate::config::Clock;
use crate::generate;
use crate::storage::{Location, StoreOptions};

pub fn run(a: GenerateArgs, store: &StoreOptions) -> Result<i32> {
    let end = a.end.unwrap_or_else(|| Clock::system().last_full_hour());
    let opts = options(&a, end);
    let out = Location::open(&a.out, store, true).context("--out")?;
    let write = |out: &Location| -> Result<i32> {
        let truth = generate::ground_truth_beside(&a.out, out, store)?;
        let summary = generate::generate(&opts, out, &truth, true)?;
        println!("{}", serde_json::to_string_pretty(&summary)?);
        Ok(exit::OK)
    };
    if matches!(a.format, cli::GenFormat::Lake) {
        // The output is a lake: written under its writer lock, like by every other writer.
        super::locked(&out, store, "generate", write)
    } else {
        write(&out)
    }
}

/// The generator's options from the flags, for data ending at `end`.
pub fn options(a: &GenerateArgs, end: DateTime<Utc>) -> generate::GenerateOptions {
    generate::GenerateOptions {
        clusters: a.clusters,
        nodes: a.nodes,
        processes: a.processes,
        days: a.days,
        interval: a.interval,
        end,
        seed: a.seed,
        format: match a.format {
            cli::GenFormat::OtlpJson => generate::OutputFormat::OtlpJson,
            cli::GenFormat::OtlpJsonGz => generate::OutputFormat::OtlpJsonGz,
            cli::GenFormat::OtlpProto => generate::OutputFormat::OtlpProto,
            cli::GenFormat::Lake => generate::OutputFormat::Lake,
        },
        layout: match a.layout {
            cli::GenLayout::FileExporter => generate::Layout::FileExporter,
            cli::GenLayout::S3Exporter => generate::Layout::S3Exporter,
        },
        utilization: a.utilization,
    }
}
