//! `kubeseen schema findings`: the findings columns of every detection (column, type, meaning)
//! for notebooks, as a table or JSON (`{"findings": [{"detection": …, "columns": […]}]}`).

use anyhow::{bail, Result};

use super::exit;
use crate::cli::{SchemaArgs, SchemaFormat, SchemaWhat};
use crate::detect;
use crate::report::schema;

pub fn run(a: SchemaArgs) -> Result<i32> {
    let all = detect::spec::load(a.queries.as_deref())?;
    for d in &a.detections {
        if !all.iter().any(|s| &s.slug == d) {
            bail!(
                "--detection {d:?}: no such detection (known: {})",
                all.iter().map(|s| s.slug.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let specs: Vec<_> = all
        .into_iter()
        .filter(|s| a.detections.is_empty() || a.detections.contains(&s.slug))
        .collect();
    let SchemaWhat::Findings = a.what;
    let schemas = schema::findings(&specs, a.splunk_compat)?;
    match a.format {
        SchemaFormat::Json => super::print_sorted_json(&serde_json::json!({ "findings": schemas }))?,
        SchemaFormat::Table => print!("{}", schema::table(&schemas)),
    }
    Ok(exit::OK)
}
