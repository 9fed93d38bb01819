//! The statistical family's part of the text reports: how the baseline was read, the entities
//! judged and not judged (by reason), the charts, and the largest anomaly of a finding.

use serde_json::Value;

use super::summary::Summary;

/// A value for Markdown: escaped by the one escaping function of human-facing outputs.
fn md_escape(s: &str) -> String {
    crate::text::markdown(s)
}

/// The largest anomaly of a finding (`top_anomalies`' first): metric and z.
pub fn top_cell(top: &Value) -> String {
    top[0]
        .as_object()
        .map(|a| {
            format!(
                "{} z={:.1}",
                a.get("metric").and_then(|m| m.as_str()).unwrap_or(""),
                a.get("z").and_then(|z| z.as_f64()).unwrap_or(f64::NAN)
            )
        })
        .unwrap_or_else(|| "-".into())
}

/// The "Entities judged" and "Charts" sections (empty for the other families).
pub fn markdown_section(s: &Summary) -> String {
    let Some(st) = &s.statistical else {
        return String::new();
    };
    let mut out = format!(
        "## Entities judged\n\nBaseline: {}{}. Anomalous: x > avg + {}·σ; an entity is a finding with more than {} counted {}.\n\n| entities | count |\n|---|---|\n| in the window | {} |\n| evaluated | {} |\n",
        st.baseline,
        match (&st.lookup, &st.lookup_run) {
            (Some(l), Some(r)) => format!(" `{}` as of its weekly run at {r}", md_escape(l)),
            _ => format!(", at least {} baseline buckets (learning period)", st.min_baseline_buckets),
        },
        st.k,
        st.min_anomalies,
        match st.count {
            crate::detect::statistical::spec::CountMode::Rows => "anomalous buckets",
            crate::detect::statistical::spec::CountMode::Anomalies => "anomalies",
        },
        st.entities_in_window,
        st.entities_evaluated,
    );
    for (k, v) in &st.entities_not_judged {
        out.push_str(&format!("| not judged: {} | {v} |\n", md_escape(k)));
    }
    let parts: Vec<String> = st
        .values_not_judged
        .iter()
        .map(|(k, v)| format!("{} {v}", md_escape(k)))
        .collect();
    out.push_str(&format!("\n(entity, value) pairs not judged: {}\n", parts.join(", ")));
    if !s.charts.is_empty() {
        out.push_str("\n## Charts\n\n");
        for c in &s.charts {
            let entity: Vec<String> = c
                .entity
                .iter()
                .map(|v| md_escape(v).replace(['[', ']', '(', ')'], "\u{fffd}"))
                .collect();
            out.push_str(&format!(
                "- [{}](./{}) ({})\n",
                entity.join(" / "),
                c.file,
                md_escape(&c.finding_uid)
            ));
        }
    }
    out.push('\n');
    out
}
