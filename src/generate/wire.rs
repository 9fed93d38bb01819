//! The OTLP pieces every encoder shares: the scopes and schema URLs the receivers report,
//! JSON string escaping as Go's encoder does it, and a resource (its attributes and scope) as
//! OTLP/JSON text or an OTLP/protobuf message.
//!
//! In: nothing of `generate` (the ingest model's `Origin`, the protobuf messages). Out: text and
//! messages for `encode`, the node simulation (`sim`) and the reducer (`cluster`), which build
//! them once per resource.

use std::fmt::Write as _;

use crate::ingest::model::{AttrValue, Origin};
use crate::ingest::otlp_proto::{any_value, AnyValue, KeyValue, Resource};

pub(crate) const SCOPE_NAME: &str = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/processscraper";
pub(crate) const SCOPE_VERSION: &str = "v0.116.0";
pub(crate) const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.9.0";
pub(crate) const CLUSTER_SCOPE_NAME: &str =
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/k8sclusterreceiver";
pub(crate) const CLUSTER_SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.18.0";

/// Appends `s` as a JSON string.
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_any(out: &mut String, v: &AttrValue) {
    match v {
        AttrValue::Str(s) => {
            out.push_str("{\"stringValue\":");
            json_string(out, s);
            out.push('}');
        }
        AttrValue::Int(i) => {
            let _ = write!(out, "{{\"intValue\":\"{i}\"}}");
        }
        AttrValue::Bool(b) => {
            let _ = write!(out, "{{\"boolValue\":{b}}}");
        }
        AttrValue::Double(d) => {
            let _ = write!(out, "{{\"doubleValue\":{d}}}");
        }
        // The generator only produces the scalar kinds above.
        _ => out.push_str("{}"),
    }
}

/// The ResourceMetrics of a process up to (and including) the `[` of its metrics.
pub(crate) fn resource_json(origin: &Origin) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("{\"resource\":{\"attributes\":[");
    for (i, (k, v)) in origin.resource.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        json_string(&mut out, k);
        out.push_str(",\"value\":");
        json_any(&mut out, v);
        out.push('}');
    }
    out.push_str("]},\"scopeMetrics\":[{\"scope\":{\"name\":");
    json_string(&mut out, &origin.scope_name);
    out.push_str(",\"version\":");
    json_string(&mut out, &origin.scope_version);
    out.push_str("},\"metrics\":[");
    out
}

fn pb_value(v: &AttrValue) -> Option<AnyValue> {
    let value = match v {
        AttrValue::Str(s) => any_value::Value::StringValue(s.clone()),
        AttrValue::Int(i) => any_value::Value::IntValue(*i),
        AttrValue::Double(d) => any_value::Value::DoubleValue(*d),
        AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
        _ => return Some(AnyValue { value: None }),
    };
    Some(AnyValue { value: Some(value) })
}

pub(crate) fn resource_proto(origin: &Origin) -> Resource {
    Resource {
        attributes: origin
            .resource
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: pb_value(v),
            })
            .collect(),
        dropped_attributes_count: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_like_go() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\n<x>&\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u003cx\u003e\u0026\u0001""#);
        let parsed: String = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(parsed, "a\"b\\c\n<x>&\u{1}");
    }
}
