//! A [`Summary`] as text: the Markdown report and the terminal table.

use serde_json::Value;

use super::summary::Summary;

/// Untrusted text in the Markdown report: escaped and visible (see `crate::text`).
fn md_escape(s: &str) -> String {
    crate::text::markdown(s)
}

/// The summary as Markdown.
pub fn markdown(s: &Summary) -> String {
    let mut out = String::new();
    out.push_str(&format!("# {} — {}\n\n", md_escape(&s.name), s.window_end));
    out.push_str(&format!(
        "- detection: {} ({}), mode {}\n- window: [{}, {})\n- baseline: [{}, {})\n- lake: {}\n",
        md_escape(&s.detection),
        md_escape(&s.detection_id),
        s.mode,
        s.window_start,
        s.window_end,
        s.baseline_start,
        s.window_start,
        md_escape(&s.lake),
    ));
    let sc = &s.scanned;
    out.push_str(&format!(
        "- in range: {} partitions, {} files, {} bytes; read: {} raw files ({} bytes) and {} rollups covering {} baseline hours\n- {} points in the window, {} in the baseline ({} baseline keys)\n",
        sc.partitions, sc.files, sc.bytes, sc.raw_files, sc.raw_bytes, sc.rollup_objects, sc.rollup_hours,
        sc.current_points, sc.baseline_points, sc.baseline_keys
    ));
    out.push_str(&format!(
        "- findings: **{}**, suppressed by the allowlist: {}\n\n",
        s.findings_count, s.suppressed.count
    ));
    if !s.warnings.is_empty() {
        out.push_str("## Warnings\n\n");
        for x in &s.warnings {
            out.push_str(&format!("- {}\n", md_escape(x)));
        }
        out.push('\n');
    }
    out.push_str(&super::suspicious::markdown_section(s));
    if !s.findings.is_empty() {
        out.push_str("## Findings\n\n");
        for (i, r) in grid(s).iter().enumerate() {
            let line: Vec<String> = r.iter().map(|c| md_escape(c)).collect();
            out.push_str(&format!("| {} |\n", line.join(" | ")));
            if i == 0 {
                out.push_str(&format!("|{}\n", "---|".repeat(r.len())));
            }
        }
        out.push('\n');
    }
    out.push_str(&super::statistical::markdown_section(s));
    let nodes = &s.coverage.nodes_with_incomplete_baseline;
    if !nodes.is_empty() {
        out.push_str(&format!(
            "## Nodes without full baseline history ({} of {} nodes in the window)\n\nTheir findings carry `baseline_complete = false`: a node that joined recently makes everything look new.\n\n| cluster | node | first data in baseline |\n|---|---|---|\n",
            nodes.len(),
            s.coverage.nodes_in_window
        ));
        for n in nodes {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                md_escape(&n.k8s_cluster_name),
                md_escape(&n.k8s_node_name),
                n.first_seen.as_deref().unwrap_or("none")
            ));
        }
        out.push('\n');
    }
    for (title, m) in [
        ("in the window", &s.unkeyed_points.current),
        ("in the baseline", &s.unkeyed_points.baseline),
    ] {
        if !m.is_empty() {
            out.push_str(&format!(
                "## Points without a key attribute {title}\n\n| reason | points |\n|---|---|\n"
            ));
            for (k, v) in m {
                out.push_str(&format!("| {} | {} |\n", md_escape(k), v));
            }
            out.push('\n');
        }
    }
    if s.suppressed.count > 0 {
        out.push_str("## Suppressed by the allowlist\n\n| rule | findings |\n|---|---|\n");
        for (k, v) in &s.suppressed.by_rule {
            out.push_str(&format!("| {} | {} |\n", md_escape(k), v));
        }
        out.push('\n');
    }
    if !s.expired_allowlist_rules.is_empty() {
        out.push_str(&format!(
            "Expired allowlist rules (no longer applied): {}\n\n",
            s.expired_allowlist_rules
                .iter()
                .map(|r| md_escape(r))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str("## Timings (ms)\n\n");
    out.push_str(
        &s.timings_ms
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str(&format!("\n\nkubeseen {}\n", s.kubeseen_version));
    out
}

/// A findings cell as text: `-` for null.
fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// The column title of a key column.
fn title(c: &str) -> String {
    match c {
        "k8s_cluster_name" => "CLUSTER".to_string(),
        "k8s_node_name" => "NODE".into(),
        "host_name" => "HOST".into(),
        "process_executable_path" => "PATH".into(),
        "process_executable_name" => "PROCESS".into(),
        "process_pid" => "PID".into(),
        "container_image_name" => "IMAGE".into(),
        "source_workload_name" => "SOURCE".into(),
        "dest_workload_name" => "DEST".into(),
        other => other.to_uppercase(),
    }
}

/// The findings of a summary as a grid of text cells, header first: the key columns, then the
/// family's evidence.
pub(super) fn grid(s: &Summary) -> Vec<Vec<String>> {
    let rows = &s.findings;
    let rule = s.family == "rule";
    let statistical = s.family == "statistical";
    let mut header: Vec<String> = s.key.iter().map(|c| title(c)).collect();
    let evidence: Vec<(&str, &str)> = if statistical {
        vec![
            ("ANOMALIES", "anomaly_count"),
            ("FIRST", "first_anomaly"),
            ("LAST", "last_anomaly"),
            ("TOP", "top_anomalies"),
            ("BASELINE 10s", "baseline_buckets"),
        ]
    } else if rule {
        vec![
            ("FIRST SEEN", "first_seen"),
            ("ACTIVE 10s", "active_buckets"),
            ("CPU", "cpu_active"),
            ("MEMORY", "memory_active"),
            ("COMMAND", "process_command"),
        ]
    } else {
        let mut e = Vec::new();
        if rows.iter().any(|r| !r["process_pids"].is_null()) {
            e.push(("PIDS", "process_pids"));
        }
        e.extend([
            ("FIRST SEEN", "first_seen"),
            ("SAMPLES", "samples"),
            ("ELSEWHERE", "cluster_prevalence"),
        ]);
        e
    };
    header.extend(evidence.iter().map(|(h, _)| h.to_string()));
    if !rule && !statistical {
        header.push("BASELINE".into());
    }
    let hidden = super::suspicious::any(rows);
    if hidden {
        header.push("HIDDEN CHARACTERS".into());
    }
    let mut cells: Vec<Vec<String>> = vec![header];
    for r in rows {
        let mut line: Vec<String> = s.key.iter().map(|c| cell_text(&r[c.as_str()])).collect();
        line.extend(evidence.iter().map(|(_, c)| match *c {
            "top_anomalies" => super::statistical::top_cell(&r[*c]),
            c => cell_text(&r[c]),
        }));
        if !rule && !statistical {
            line.push(if r["baseline_complete"] == Value::Bool(true) {
                "complete".into()
            } else {
                "INCOMPLETE".into()
            });
        }
        if hidden {
            line.push(super::suspicious::cell(r));
        }
        cells.push(line);
    }
    cells
}

/// The summary as a table for the terminal.
pub fn table(s: &Summary) -> String {
    let mut out = format!(
        "{} [{} .. {}): {} finding(s), {} suppressed\n",
        crate::text::escape(&s.detection),
        s.window_start,
        s.window_end,
        s.findings_count,
        s.suppressed.count
    );
    if s.findings.is_empty() {
        return out;
    }
    // Every cell escaped (see `crate::text`): the monitored side writes these values.
    let cells: Vec<Vec<String>> = grid(s)
        .into_iter()
        .map(|r| r.iter().map(|c| crate::text::escape(c).into_owned()).collect())
        .collect();
    let widths: Vec<usize> = (0..cells[0].len())
        .map(|i| cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in cells {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&super::suspicious::table_note(s));
    out
}
