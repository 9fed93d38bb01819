//! The HTML pages of the run and backfill summaries: one self-contained page each.
//!
//! In: text (some of it from the monitored systems) and the pages' sections. Out: an HTML5
//! document with its CSS inline and its charts as inline SVG: no script, no external asset, no
//! link outside the page, so it reads the same from a mail attachment, an object store's
//! console or a file on disk.
//! Invariant: every text goes through [`text`] (the project's rule for hidden characters,
//! `crate::text::escape`, then HTML-escaped), so a hostile value can neither open a tag nor an
//! entity, nor hide or reorder what the reader sees.

use std::fmt::Write as _;

/// `s` for an HTML page: hidden characters shown escaped (`\u{202e}`), then `&<>"'` as
/// entities. Safe in element content and in quoted attribute values.
pub fn text(s: &str) -> String {
    super::chart::xml_escape(&crate::text::escape(s))
}

/// The page's style: system fonts, tables with sticky heads, number columns right-aligned.
const CSS: &str = "
:root{--fg:#1d2430;--muted:#5b6573;--line:#d8dde4;--bg:#fff;--band:#f4f6f9;--hit:#b42318;--ok:#067647}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:24px 32px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}
p.meta{color:var(--muted);margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0 8px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:120px;background:var(--band)}
.card b{display:block;font-size:22px}
.card span{color:var(--muted);font-size:12px}
.card.hit b{color:var(--hit)}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--band);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.hit{color:var(--hit);font-weight:600}
td.zero{color:var(--muted)}
td code,li code{font:12px ui-monospace,'DejaVu Sans Mono',monospace;display:inline-block;max-width:46em;overflow-wrap:anywhere}
td.t,code.k{white-space:nowrap}
.scroll{overflow-x:auto}
.note{color:var(--muted);font-size:12px}
.warn{color:var(--hit)}
svg text{font:11px system-ui,'DejaVu Sans',sans-serif;fill:var(--fg)}
svg .muted{fill:var(--muted)}
footer{margin-top:32px;color:var(--muted);font-size:12px}
";

/// A whole page: `title` (plain text, escaped here) and `body` (HTML built by this module's
/// callers from escaped parts).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        text(title)
    )
}

/// A summary card: a big number (or short text) and its label.
pub fn card(value: &str, label: &str, hit: bool) -> String {
    format!(
        "<div class=\"card{}\"><b>{}</b><span>{}</span></div>",
        if hit { " hit" } else { "" },
        text(value),
        text(label)
    )
}

/// Codes up to this many characters are kept on one line.
const SHORT: usize = 48;

/// One cell of [`table`].
pub enum Cell {
    /// Text, escaped.
    Text(String),
    /// Text in a monospace `<code>`, escaped (paths, names, ids).
    Code(String),
    /// A short text kept on one line (instants, windows), escaped.
    NoWrap(String),
    /// A count, right-aligned; non-zero ones marked when the column counts findings.
    Count(u64, bool),
    /// HTML built from escaped parts.
    Raw(String),
}

/// A table: header cells (plain text; a leading `#` right-aligns the column) and rows.
pub fn table(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = String::from("<div class=\"scroll\"><table><thead><tr>");
    for h in header {
        match h.strip_prefix('#') {
            Some(h) => {
                let _ = write!(out, "<th class=\"n\">{}</th>", text(h));
            }
            None => {
                let _ = write!(out, "<th>{}</th>", text(h));
            }
        }
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = match c {
                Cell::Text(s) => write!(out, "<td>{}</td>", text(s)),
                // Short names stay on one line (a cluster name breaks at its hyphens otherwise);
                // long ones wrap anywhere.
                Cell::Code(s) if s.chars().count() <= SHORT => {
                    write!(out, "<td><code class=\"k\">{}</code></td>", text(s))
                }
                Cell::Code(s) => write!(out, "<td><code>{}</code></td>", text(s)),
                Cell::NoWrap(s) => write!(out, "<td class=\"t\">{}</td>", text(s)),
                Cell::Count(n, findings) => {
                    let class = match (n, findings) {
                        (0, _) => "n zero",
                        (_, true) => "n hit",
                        _ => "n",
                    };
                    write!(out, "<td class=\"{class}\">{n}</td>")
                }
                Cell::Raw(s) => write!(out, "<td>{s}</td>"),
            };
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_opens_no_tag_entity_or_hidden_character() {
        let t = text("<script>alert('x')</script>&#x202e;\u{202e}gpj.exe\u{1b}[2K");
        assert_eq!(
            t,
            "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;&amp;#x202e;\\u{202e}gpj.exe\\x1b[2K"
        );
        let p = page(
            "a<b",
            &table(&["#n", "name"], &[vec![Cell::Count(3, true), Cell::Code("<i>".into())]]),
        );
        assert!(p.contains("<title>a&lt;b</title>"));
        assert!(p.contains("<td class=\"n hit\">3</td><td><code class=\"k\">&lt;i&gt;</code></td>"));
        assert!(!p.contains("<script") && !p.contains("http"));
    }
}
