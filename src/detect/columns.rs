//! The findings columns every family ends with: metadata, key, evidence, context, risk score,
//! message and a deterministic finding uid, in the contract's order.

use polars::prelude::*;

use super::plan::{self, Window};
use super::spec::Spec;

/// Adds the metadata columns, the message and the finding uid, in the contract's order:
/// metadata, key, `host_name` and `process_executable_name` when present, the family's
/// `evidence`, the other `context` columns, risk score, message, uid, then
/// `suspicious_characters` (see [`super::suspicious`]).
pub fn finish_columns(
    found: DataFrame,
    spec: &Spec,
    key: &[String],
    w: &Window,
    evidence: Vec<Expr>,
    context: &[String],
) -> PolarsResult<DataFrame> {
    // The message template: literal text and {column} references.
    let mut parts: Vec<Expr> = Vec::new();
    let mut rest = spec.message.as_str();
    while let Some(i) = rest.find('{') {
        parts.push(lit(rest[..i].to_string()));
        let end = rest[i..].find('}').map(|e| i + e).unwrap_or(rest.len());
        let name = &rest[i + 1..end];
        if found.column(name).is_ok() {
            parts.push(col(name).cast(DataType::String).fill_null(lit("")));
        }
        rest = rest.get(end + 1..).unwrap_or("");
    }
    parts.push(lit(rest.to_string()));

    let mut order: Vec<Expr> = vec![
        lit(spec.id.clone()).alias("detection_id"),
        lit(spec.slug.clone()).alias("detection"),
        plan::ts(w.start).alias("window_start"),
        plan::ts(w.end).alias("window_end"),
        plan::ts(w.baseline_start).alias("baseline_start"),
    ];
    let mut named: Vec<String> = Vec::new();
    for c in key
        .iter()
        .chain(["host_name".to_string(), "process_executable_name".to_string()].iter())
    {
        if !named.contains(c) && found.column(c).is_ok() {
            order.push(col(c.as_str()));
            named.push(c.clone());
        }
    }
    order.extend(evidence);
    for c in context {
        if !named.contains(c) && found.column(c).is_ok() {
            order.push(col(c.as_str()));
            named.push(c.clone());
        }
    }
    order.push(lit(spec.risk_score()).cast(DataType::Int64).alias("risk_score"));
    order.push(concat_str(parts, "", true).alias("message"));
    let mut df = found.lazy().select(order).collect()?;

    // A deterministic id per finding: detection, window start and key.
    let mut uid = Vec::with_capacity(df.height());
    let key_cols: Vec<Column> = key
        .iter()
        .map(|k| df.column(k).and_then(|c| c.cast(&DataType::String)))
        .collect::<PolarsResult<_>>()?;
    for i in 0..df.height() {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(spec.slug.as_bytes());
        h.update(&w.start.timestamp_micros().to_le_bytes());
        for c in &key_cols {
            let v = c.get(i)?;
            let s = v.get_str().unwrap_or("\u{0}null");
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        uid.push(format!("{:032x}", h.digest128()));
    }
    df.with_column(Column::new("finding_uid".into(), uid))?;
    // Evidence every family carries: hidden characters in the key and context values.
    super::suspicious::add_column(&mut df, &named)?;
    Ok(df)
}
