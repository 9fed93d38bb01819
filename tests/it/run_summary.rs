//! The run summary of `detect` and the range summary of `backfill`, through the real binary on
//! the golden lake plus a node and a path with hostile names: the HTML page names every
//! detection that ran with the JSON summary's counts (per detection and per node), shows every
//! monitored value escaped (`report::html::text`) and never raw, and is self-contained (no tag
//! outside a fixed set, no `src`/`href`/`url(`, no http(s) reference, no script); the lake's
//! JSON copy agrees with stdout; the Markdown escapes the same values; the backfill's page has
//! its strip and heatmap with the windows' counts.

use std::collections::BTreeMap;
use std::path::Path;

use kubeseen::report::html;
use serde_json::Value;

use crate::common::*;

/// A node name and an executable path from an attacker: markup, an entity, a bidi override,
/// an escape sequence, a forged line, a URL.
const HOSTILE_NODE: &str = "n9<b onmouseover=x>\u{202e}gpj.exe";
const HOSTILE_PATH: &str = "/tmp/<script src=\"https://evil.example/x.js\"></script>&#x202e;\u{1b}[2K\rFORGED";

/// The tags the pages may hold.
const TAGS: &[&str] = &[
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "div", "b", "span", "code",
    "br", "table", "thead", "tbody", "tr", "th", "td", "svg", "rect", "text", "line", "ul", "li", "footer",
];

/// The golden lake with one more node whose names are hostile.
fn lake() -> TestLake {
    let l = crate::detect::golden_lake();
    let at = t(crate::detect::AT);
    let pts = vec![
        P::new(
            "prod",
            HOSTILE_NODE,
            "/usr/bin/kubelet",
            1,
            at - chrono::Duration::days(20),
        ),
        P::new(
            "prod",
            HOSTILE_NODE,
            HOSTILE_PATH,
            66,
            at - chrono::Duration::minutes(10),
        ),
    ];
    l.land("hostile.jsonl", &pts);
    l
}

/// Every tag of `page` is one of [`TAGS`] and references nothing outside the page; no http(s)
/// reference anywhere once the hostile values (shown escaped, as text) are taken out.
fn assert_self_contained(what: &str, page: &str) {
    for (i, _) in page.match_indices('<') {
        let rest = &page[i + 1..];
        let end = rest
            .find('>')
            .unwrap_or_else(|| panic!("{what}: an unclosed tag at {i}"));
        let tag = &rest[..end];
        let name = tag.trim_start_matches('/').split([' ', '>']).next().unwrap_or("");
        assert!(TAGS.contains(&name), "{what}: unexpected tag <{tag}>");
        for bad in ["src=", "href=", "url(", "http", "on"] {
            let attrs = tag.split_once(' ').map_or("", |(_, a)| a);
            let hit = if bad == "on" {
                attrs.split(' ').any(|a| a.starts_with("on"))
            } else {
                attrs.contains(bad)
            };
            assert!(!hit, "{what}: <{tag}> holds {bad:?}");
        }
    }
    assert!(
        !page.contains("url(") && !page.contains("@import"),
        "{what}: CSS references"
    );
    let without = page.replace(&html::text(HOSTILE_PATH), "");
    assert!(
        !without.contains("http:") && !without.contains("https:"),
        "{what}: an http(s) reference"
    );
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
}

/// The cells of the `<tr>` of `page` whose first cell holds `<code>{slug}</code>`, as text.
fn row_of(page: &str, marker: &str) -> Vec<String> {
    let row = page
        .split("<tr>")
        .find(|r| r.contains(marker))
        .unwrap_or_else(|| panic!("no row with {marker}"));
    row.split("<td")
        .skip(1)
        .map(|c| {
            let inner = c.split_once('>').map_or("", |(_, x)| x);
            let inner = inner.split("</td>").next().unwrap_or("");
            let mut text = String::new();
            let mut in_tag = false;
            for ch in inner.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text
        })
        .collect()
}

fn read(lake: &Path, described: &str) -> String {
    // `outputs` are the objects as `Location::describe` names them: the lake's path and key.
    let p = Path::new(described);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        lake.join(described)
    };
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn detect_writes_one_self_contained_run_summary_with_the_json_counts() {
    let l = lake();
    let lake = l.path();
    let lake_s = lake.display().to_string();
    let out = kubeseen(
        &[
            "detect",
            "--lake",
            &lake_s,
            "--at",
            crate::detect::AT,
            "--format",
            "json",
        ],
        l.dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    let runs = j["runs"].as_array().expect("runs");
    let all = kubeseen::detect::spec::load(None).expect("specs");
    assert_eq!(runs.len(), all.len(), "every built-in detection ran");
    let o = &j["run_summary"];
    let key = "reports/runs/date=2026-11-20/20261120T120000Z";
    for ext in ["json", "md", "html"] {
        let want = format!("{key}.{ext}");
        let field = if ext == "md" { "markdown" } else { ext };
        assert!(o[field].as_str().is_some_and(|p| p.ends_with(&want)), "{field}: {o}");
        assert!(lake.join(&want).is_file(), "{want}");
    }
    assert!(o["write_ms"].as_f64().is_some_and(|m| m >= 0.0), "{o}");
    let page = std::fs::read_to_string(lake.join(format!("{key}.html"))).expect("html");
    assert_self_contained("run summary", &page);
    let mut total = 0;
    for r in runs {
        let slug = r["detection"].as_str().expect("slug");
        let n = r["findings_count"].as_u64().expect("count");
        total += n;
        let cells = row_of(&page, &format!("<br><code class=\"k\">{slug}</code></td>"));
        assert_eq!(cells[3], n.to_string(), "{slug}'s findings: {cells:?}");
        assert_eq!(
            cells[4],
            r["suppressed"]["count"].to_string(),
            "{slug}'s suppressed: {cells:?}"
        );
    }
    assert!(total >= 7, "the golden six and the hostile path: {total}");
    assert!(page.contains(&format!("<b>{total}</b><span>findings</span>")));
    // Per node: the JSON's findings_by_node summed over detections, the hostile node escaped.
    let mut by_node: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in runs {
        for n in r["findings_by_node"].as_array().expect("nodes") {
            let k = (
                n["k8s_cluster_name"].as_str().expect("c").to_string(),
                n["k8s_node_name"].as_str().expect("n").to_string(),
            );
            *by_node.entry(k).or_default() += n["findings"].as_u64().expect("n");
        }
    }
    assert!(by_node.contains_key(&("prod".to_string(), HOSTILE_NODE.to_string())));
    for ((c, n), k) in &by_node {
        let cells = row_of(
            &page,
            &format!(
                "<td><code class=\"k\">{}</code></td><td><code class=\"k\">{}</code></td>",
                html::text(if c.is_empty() { "-" } else { c }),
                html::text(if n.is_empty() { "-" } else { n })
            ),
        );
        assert_eq!(cells[2], k.to_string(), "{c}/{n}: {cells:?}");
    }
    // Hostile values: escaped wherever shown, never raw.
    for v in [HOSTILE_NODE, HOSTILE_PATH] {
        assert!(
            page.contains(&html::text(v)),
            "{} shown escaped",
            kubeseen::text::escape(v)
        );
        assert!(!page.contains(v));
    }
    assert!(!page.contains("<script") && !page.contains('\u{202e}') && !page.contains('\u{1b}'));
    let md = std::fs::read_to_string(lake.join(format!("{key}.md"))).expect("md");
    assert!(
        md.contains(&kubeseen::text::markdown(HOSTILE_NODE)),
        "{}",
        kubeseen::text::escape(&md)
    );
    assert!(!md.contains('\u{202e}') && !md.replace("\\<", "").contains("<b "));
    // The lake's JSON copy has the same counts.
    let lj: Value = serde_json::from_str(&read(&lake, &format!("{key}.json"))).expect("json copy");
    assert_eq!(lj["findings_count"].as_u64(), Some(total));
    assert_eq!(lj["detections"].as_array().map(Vec::len), Some(runs.len()));
    // A run of some detections has its own summary: the full run's stays.
    let out = kubeseen(
        &[
            "detect",
            "--lake",
            &lake_s,
            "--at",
            crate::detect::AT,
            "--detection",
            "process_new_path",
            "--format",
            "json",
        ],
        l.dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    let html_key = j["run_summary"]["html"].as_str().expect("html").to_string();
    assert!(html_key.contains("20261120T120000Z-d"), "{html_key}");
    assert!(lake.join(format!("{key}.html")).is_file());
    let page = read(&lake, &html_key);
    assert_self_contained("subset run summary", &page);
    assert!(page.contains("<p class=\"meta\">mode intent · 1 detection(s)"));
}

#[test]
fn backfill_writes_a_range_summary_with_a_strip_and_heatmaps() {
    let l = lake();
    let lake = l.path();
    let lake_s = lake.display().to_string();
    let out = kubeseen(
        &[
            "backfill",
            "--lake",
            &lake_s,
            "--from",
            "2026-11-19T22:00:00Z",
            "--to",
            crate::detect::AT,
            "--format",
            "json",
        ],
        l.dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    let key = "reports/backfill/20261119T220000Z--20261120T120000Z-1h";
    assert!(
        j["range_summary"]["html"]
            .as_str()
            .is_some_and(|h| h.ends_with(&format!("{key}.html"))),
        "{}",
        j["range_summary"]
    );
    let page = std::fs::read_to_string(lake.join(format!("{key}.html"))).expect("html");
    assert_self_contained("range summary", &page);
    let mut per: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for w in j["per_window"].as_array().expect("per_window") {
        let e = per.entry(w["detection"].as_str().expect("d").to_string()).or_default();
        e.0 += 1;
        e.1 += w["findings"].as_u64().expect("n");
    }
    let all = kubeseen::detect::spec::load(None).expect("specs");
    assert_eq!(per.len(), all.len(), "every detection has its windows");
    for (slug, (windows, findings)) in &per {
        assert_eq!(*windows, 14, "{slug}: 14 hourly windows");
        let cells = row_of(&page, &format!("<br><code class=\"k\">{slug}</code></td>"));
        assert_eq!(
            (cells[1].as_str(), cells[3].as_str()),
            (windows.to_string().as_str(), findings.to_string().as_str()),
            "{slug}: {cells:?}"
        );
    }
    // The strip (a row per detection, a cell per day: two days) and, per detection with
    // findings, its heatmap: every window's cell says its count (hour of its last instant).
    let (_, new_path) = per["process_new_path"];
    assert!(new_path >= 7);
    assert!(page.contains("aria-label=\"findings per detection and day\""));
    assert!(page.contains(&format!(
        "<title>process_new_path 2026-11-20: {new_path} finding(s)</title>"
    )));
    let mut heatmaps = 0;
    for (slug, (_, findings)) in &per {
        let Some(at) = page.find(&format!("<text x=\"0\" y=\"12\">{slug} · {findings} finding(s)</text>")) else {
            assert_eq!(*findings, 0, "{slug} has findings but no heatmap");
            continue;
        };
        heatmaps += 1;
        let map = &page[at..at + page[at..].find("</svg>").expect("svg end")];
        for w in j["per_window"].as_array().expect("windows") {
            if w["detection"] != slug.as_str() {
                continue;
            }
            let end = t(w["window_end"].as_str().expect("end")) - chrono::Duration::seconds(1);
            let cell = format!(
                "<title>{} {} finding(s)</title>",
                end.format("%Y-%m-%d %H:00"),
                w["findings"]
            );
            assert!(map.contains(&cell), "{slug}: {cell}");
        }
        assert!(map.contains("<title>2026-11-19 21:00 not run</title>"), "{slug}");
        assert!(map.contains("<title>2026-11-20 12:00 not run</title>"), "{slug}");
    }
    assert!(heatmaps >= 1);
    let md = std::fs::read_to_string(lake.join(format!("{key}.md"))).expect("md");
    assert!(md.contains("| 2026-11-20T12:00:00Z | process\\_new\\_path | "), "{md}");
}
