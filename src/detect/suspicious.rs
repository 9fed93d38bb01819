//! The `suspicious_characters` evidence column, added by every family's finishing step.
//!
//! In: a finished findings frame and the names of its key and context columns. Out: the same
//! frame with a last column `suspicious_characters` (list of strings): per finding, every
//! control, bidi or invisible character ([`crate::text::class_of`]) found in those columns,
//! once per column and character, as `<column>: U+XXXX <class>` (e.g.
//! `process_executable_path: U+202E bidi`), in column order then code point order; an empty
//! list when there is none. Such a character in an executable path, a process or node name is
//! itself a signal (an escape sequence aimed at the analyst's terminal, a right-to-left
//! override disguising an extension), and the reports call those findings out.
//! Invariant: the column exists, with the same type, in every findings frame of every family
//! (empty frames included), so findings files of one detection always share one schema.

use polars::prelude::*;

use crate::text;

pub const COLUMN: &str = "suspicious_characters";

/// Appends [`COLUMN`] to `df`, computed from the string columns among `columns`.
pub(crate) fn add_column(df: &mut DataFrame, columns: &[String]) -> PolarsResult<()> {
    let mut checked: Vec<(&str, StringChunked)> = Vec::new();
    for name in columns {
        if let Ok(c) = df.column(name) {
            if c.dtype() == &DataType::String {
                checked.push((name.as_str(), c.str()?.clone()));
            }
        }
    }
    let mut builder = ListStringChunkedBuilder::new(COLUMN.into(), df.height(), df.height());
    for i in 0..df.height() {
        let mut entries: Vec<String> = Vec::new();
        for (name, ca) in &checked {
            if let Some(s) = ca.get(i) {
                entries.extend(
                    text::suspicious(s)
                        .into_iter()
                        .map(|(c, class)| text::describe(name, c, class)),
                );
            }
        }
        builder.append_values_iter(entries.iter().map(String::as_str));
    }
    df.with_column(builder.finish().into_series().into_column())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_each_hidden_character_per_column_and_nothing_for_plain_rows() {
        let mut df = df!(
            "process_executable_path" => [Some("/tmp/\u{202e}gpj.exe"), Some("/usr/bin/kubelet"), None],
            "process_command" => [Some("x\u{1b}[2K\r"), Some("kubelet"), Some("\u{200b}")],
            "samples" => [1i64, 2, 3],
        )
        .expect("frame");
        let cols = ["process_executable_path", "process_command", "samples", "absent"].map(String::from);
        add_column(&mut df, &cols).expect("column");
        let c = df.column(COLUMN).expect("added");
        assert_eq!(c.dtype(), &DataType::List(Box::new(DataType::String)));
        let rows: Vec<Vec<String>> = (0..3)
            .map(|i| match c.get(i).expect("row") {
                AnyValue::List(s) => s.iter().map(|v| v.str_value().to_string()).collect(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            rows[0],
            [
                "process_executable_path: U+202E bidi",
                "process_command: U+000D control",
                "process_command: U+001B control"
            ]
        );
        assert!(rows[1].is_empty());
        assert_eq!(rows[2], ["process_command: U+200B invisible"]);
    }

    #[test]
    fn an_empty_frame_gets_the_typed_column() {
        let mut df = df!("k8s_node_name" => Vec::<String>::new()).expect("frame");
        add_column(&mut df, &["k8s_node_name".to_string()]).expect("column");
        assert_eq!(
            df.column(COLUMN).expect("added").dtype(),
            &DataType::List(Box::new(DataType::String))
        );
    }
}
