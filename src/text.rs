//! Untrusted text: the one escaping rule for everything a person reads.
//!
//! In: any string (or bytes) that may come from the monitored systems — paths, names, commands,
//! labels, file and object names, values quoted in errors. Out: text that shows every character
//! a terminal or a renderer could act on or hide, escaped and visible.
//! Invariant: no output of [`escape`] (hence of [`markdown`]) holds a character of
//! [`class_of`]'s classes or a lone backslash, so the monitored side cannot move the cursor,
//! erase or forge a line, reorder what the analyst reads, or hide characters in a name; and
//! distinct inputs give distinct outputs (the escape character `\` itself is escaped).
//!
//! Human outputs — the terminal table, the Markdown report, text logs (`--log-format text`),
//! error messages, `land`'s summary lines — go through here. Machine outputs — Parquet,
//! `--format json`, `land --json`, JSON logs, the JSON report — keep the exact value (JSON
//! escapes C0 controls itself, as `\u001b`).
//!
//! The rule, the way careful CLIs quote names they did not choose (git's quoted paths,
//! ripgrep's escaped bytes):
//! - `\` becomes `\\`;
//! - TAB, LF, CR become `\t`, `\n`, `\r`; every other C0 control and DEL becomes `\xNN`
//!   (`\x1b`, `\x00`, `\x7f`);
//! - every other character of [`class_of`] — C1 controls, line and paragraph separators, bidi
//!   controls, zero-width and other invisible characters — becomes `\u{NNNN}` (`\u{202e}`);
//! - a byte that is not part of valid UTF-8 ([`escape_bytes`]) becomes `\xNN`.
//!
//! Everything else, including non-ASCII letters (`ノード☃`), is shown as is.

use std::borrow::Cow;
use std::fmt;

/// Why a character is escaped (and reported in `suspicious_characters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// C0 controls (U+0000–U+001F), DEL (U+007F), C1 controls (U+0080–U+009F), and the line and
    /// paragraph separators U+2028/U+2029: they move the cursor, end lines, or start escape
    /// sequences (ESC, CSI U+009B).
    Control,
    /// Bidirectional controls: U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069. They
    /// reorder what is displayed (`/tmp/<U+202E>gpj.exe` shows as `/tmp/exe.jpg`).
    Bidi,
    /// Characters that display as nothing: the other Unicode format characters (category
    /// Cf: soft hyphen U+00AD, zero-width space/joiners U+200B–U+200D, word joiner and
    /// invisible operators U+2060–U+2064, U+206A–U+206F, BOM U+FEFF, interlinear annotation
    /// U+FFF9–U+FFFB, tags U+E0001 and U+E0020–U+E007F, and the rest listed in [`class_of`]),
    /// the combining grapheme joiner U+034F, variation selectors (U+180B–U+180D, U+180F,
    /// U+FE00–U+FE0F, U+E0100–U+E01EF) and the blank Hangul fillers (U+115F, U+1160, U+3164,
    /// U+FFA0) and Khmer inherent vowels (U+17B4, U+17B5).
    Invisible,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Control => "control",
            Class::Bidi => "bidi",
            Class::Invisible => "invisible",
        }
    }
}

/// The class of `c` if it must be escaped for a person to read it safely.
pub fn class_of(c: char) -> Option<Class> {
    let u = c as u32;
    match u {
        0x00..=0x1F | 0x7F..=0x9F | 0x2028 | 0x2029 => Some(Class::Control),
        0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069 => Some(Class::Bidi),
        // Unicode format characters (Cf) other than the bidi ones above.
        0x00AD
        | 0x0600..=0x0605
        | 0x06DD
        | 0x070F
        | 0x0890..=0x0891
        | 0x08E2
        | 0x180E
        | 0x200B..=0x200D
        | 0x2060..=0x2064
        | 0x206A..=0x206F
        | 0xFEFF
        | 0xFFF9..=0xFFFB
        | 0x110BD
        | 0x110CD
        | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A
        | 0xE0001
        | 0xE0020..=0xE007F
        // Invisible though not Cf: combining grapheme joiner, variation selectors, blank
        // fillers.
        | 0x034F
        | 0x115F
        | 0x1160
        | 0x17B4
        | 0x17B5
        | 0x180B..=0x180D
        | 0x180F
        | 0x3164
        | 0xFE00..=0xFE0F
        | 0xFFA0
        | 0xE0100..=0xE01EF => Some(Class::Invisible),
        _ => None,
    }
}

fn needs_escape(c: char) -> bool {
    c == '\\' || class_of(c).is_some()
}

fn push_escaped(out: &mut String, c: char) {
    use fmt::Write;
    match c {
        '\\' => out.push_str("\\\\"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x20 || c as u32 == 0x7F => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if needs_escape(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// `s` for a person to read: see the module's rule. Borrowed when nothing needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(needs_escape) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Bytes for a person to read: valid UTF-8 as [`escape`], every invalid byte as `\xNN`.
pub fn escape_bytes(b: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(b) {
        return escape(s);
    }
    let mut out = String::with_capacity(b.len() + 16);
    for chunk in b.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    Cow::Owned(out)
}

/// A `Display` of a string through [`escape`]: `format!("input {}", Escaped(&name))`.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// `s` for a Markdown document (inline text: a table cell, a list item's text): [`escape`]d,
/// then every ASCII character that starts Markdown or HTML syntax inline — `\` `` ` `` `*`
/// `_` `[` `]` `<` `>` `&` `|` `~` `#` `!` — is backslash-escaped (CommonMark allows that for
/// any ASCII punctuation, and GFM tables take `\|` as a pipe), so a value can neither format,
/// link, open an HTML tag or character reference (`&#x202e;` would render as U+202E), nor split
/// a table cell. The result is one line.
pub fn markdown(s: &str) -> String {
    let e = escape(s);
    let mut out = String::with_capacity(e.len() + 8);
    for c in e.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '~' | '#' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The distinct characters of `s` that [`escape`] shows escaped (the backslash aside), with
/// their class, in code point order.
pub fn suspicious(s: &str) -> Vec<(char, Class)> {
    let mut found: Vec<(char, Class)> = s.chars().filter_map(|c| class_of(c).map(|k| (c, k))).collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// How `suspicious_characters` names a character found in `column`:
/// `process_executable_path: U+202E bidi`.
pub fn describe(column: &str, c: char, class: Class) -> String {
    format!("{column}: U+{:04X} {}", c as u32, class.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forged_line_and_the_reversed_extension_are_shown_escaped() {
        assert_eq!(
            escape("/tmp/x\u{1b}[2K\rFORGED: all clear"),
            "/tmp/x\\x1b[2K\\rFORGED: all clear"
        );
        assert_eq!(escape("/tmp/\u{202e}gpj.exe"), "/tmp/\\u{202e}gpj.exe");
        assert_eq!(escape("a\0b\u{7f}\u{9b}c\td\ne"), "a\\x00b\\x7f\\u{9b}c\\td\\ne");
        assert_eq!(escape("zw\u{200b}\u{feff}\u{e0041}"), "zw\\u{200b}\\u{feff}\\u{e0041}");
    }

    #[test]
    fn plain_and_non_ascii_text_is_borrowed_unchanged() {
        for s in ["/usr/bin/kubelet", "ノード☃-node", "café", "", "a b"] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn the_backslash_is_escaped_so_escapes_cannot_be_forged() {
        // A value that spells an escape differs from the character it spells.
        assert_ne!(escape("\\x1b"), escape("\u{1b}"));
        assert_eq!(escape("C:\\x"), "C:\\\\x");
    }

    #[test]
    fn no_escaped_output_holds_a_character_of_any_class() {
        let all: String = (0u32..0x110000).filter_map(char::from_u32).collect();
        let e = escape(&all);
        assert!(e.chars().all(|c| class_of(c).is_none()));
        assert!(markdown(&all).chars().all(|c| class_of(c).is_none()));
    }

    #[test]
    fn invalid_utf8_bytes_are_shown_as_hex() {
        assert_eq!(escape_bytes(b"ok\xff\xfe/\xc3"), "ok\\xff\\xfe/\\xc3");
        assert_eq!(escape_bytes("é\u{1b}".as_bytes()), "é\\x1b");
    }

    #[test]
    fn markdown_metacharacters_are_escaped() {
        assert_eq!(markdown("a|b"), "a\\|b");
        assert_eq!(markdown("<img src=x>"), "\\<img src=x\\>");
        assert_eq!(markdown("&#x202e;"), "\\&\\#x202e;");
        assert_eq!(markdown("[x](http://e)"), "\\[x\\](http://e)");
        assert_eq!(markdown("x\u{1b}y"), "x\\\\x1by");
        assert_eq!(markdown("two\nlines"), "two\\\\nlines");
    }

    #[test]
    fn suspicious_lists_each_character_once_with_its_class() {
        let got = suspicious("\u{202e}a\u{1b}\u{202e}\u{200b}");
        assert_eq!(
            got,
            [
                ('\u{1b}', Class::Control),
                ('\u{200b}', Class::Invisible),
                ('\u{202e}', Class::Bidi)
            ]
        );
        assert_eq!(describe("p", '\u{202e}', Class::Bidi), "p: U+202E bidi");
        assert!(suspicious("/usr/bin/kubelet").is_empty());
    }
}
