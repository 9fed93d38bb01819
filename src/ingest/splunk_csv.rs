//! Splunk metric CSV decoder: UI or REST (`output_mode=csv`) exports of `| mpreview` or
//! `| mstats ... BY ...` searches.
//!
//! Two shapes are recognised from the header row:
//!
//! * **raw**: `_time`, `metric_name`, `_value` and dimension columns; every row is one point.
//! * **mstats**: `_time`, dimension columns and one or more aggregate columns named
//!   `<func>(<metric>)` such as `avg(process.cpu.time)`; every non-empty aggregate cell is one
//!   point of metric `<metric>` with the attribute `splunk.aggregation = <func>`. The
//!   `<func>(_value) ... BY metric_name` form takes the metric name from the `metric_name` cell.
//!   An empty aggregate cell means "no data for that metric in this group" and is no point.
//!   Aggregates renamed with `AS <alias>` cannot be told apart from dimensions and are not
//!   recognised.
//!
//! Column mapping: `host` becomes `host.name` (or `splunk.host` when a `host.name` column
//! exists); `index`, `source`, `sourcetype` and Splunk internal columns (`_span`, `_raw`, ...)
//! become `splunk.<name>` without leading underscores; `metric_type` (`Gauge`/`Sum`) sets the
//! [`MetricKind`] (other values fall back to gauge and are kept as `splunk.metric_type`); every
//! other non-empty cell is a string attribute named after its column.
//!
//! Every problem is a [`Rejection`] at the 1-based physical line where the row starts.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::DateTime;

use super::model::{AttrValue, Attrs, MetricInfo, MetricKind, Origin, Point, Position, Rejection, Sink};

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// `looks_like` only parses the header out of this many leading bytes.
const SNIFF_LEN: usize = 64 * 1024;
/// Values quoted in rejection details are cut to this many characters.
const DETAIL_MAX_CHARS: usize = 100;
const SCOPE_NAME: &str = "splunk_csv";

/// Decodes `bytes` (already decompressed) into points.
pub fn decode(bytes: &[u8], sink: &mut dyn Sink) {
    let bytes = strip_bom(bytes);
    let mut reader = reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut lines = Lines::default();

    // Header row.
    let header_line = match reader.read_byte_record(&mut record) {
        Ok(true) => lines.line_of(bytes, &record),
        Ok(false) => {
            sink.reject(Rejection {
                reason: "empty",
                position: line_pos(1),
                detail: "empty input: no header row".to_string(),
                points: 0,
            });
            return;
        }
        Err(e) => {
            sink.reject(Rejection {
                reason: "not_splunk_csv",
                position: line_pos(1),
                detail: format!("cannot read a CSV header row: {e}"),
                points: 0,
            });
            return;
        }
    };
    let names = header_names(&record);
    if let Some(bad) = record.iter().position(|f| std::str::from_utf8(f).is_err()) {
        sink.reject(Rejection {
            reason: "invalid_utf8",
            position: line_pos(header_line),
            detail: format!(
                "header column {} is not valid UTF-8; its name was decoded lossily as {}",
                bad + 1,
                quote(&names[bad])
            ),
            points: 0,
        });
    }
    let layout = match Layout::from_header(&names) {
        Ok(layout) => layout,
        Err(missing) => {
            sink.reject(Rejection {
                reason: "not_splunk_csv",
                position: line_pos(header_line),
                detail: format!(
                    "not a Splunk metric CSV: missing {missing}; header: {}",
                    truncate(&names.join(","), 300)
                ),
                points: 0,
            });
            return;
        }
    };

    let mut decoder = Decoder {
        layout,
        origin: Arc::new(Origin {
            scope_name: SCOPE_NAME.to_string(),
            ..Origin::default()
        }),
        metrics: HashMap::new(),
        last_time: None,
    };
    let mut rows = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {
                rows += 1;
                decoder.row(&record, lines.line_of(bytes, &record), sink);
            }
            Ok(false) => break,
            Err(e) => {
                // Unreachable for in-memory input with `flexible(true)`; report and stop
                // rather than risk looping on the same error.
                let line = e.position().map_or(0, csv::Position::line);
                sink.reject(Rejection {
                    reason: "invalid_csv",
                    position: line_pos(line),
                    detail: format!("CSV reader error, rest of the input skipped: {e}"),
                    points: 0,
                });
                return;
            }
        }
    }
    if rows == 0 {
        sink.reject(Rejection {
            reason: "empty",
            position: line_pos(header_line),
            detail: "header row only, no data rows".to_string(),
            points: 0,
        });
    }
}

/// True when `bytes` look like a Splunk metric CSV: the header row has a `_time` column and
/// either `metric_name` + `_value`, or at least one `<agg>(<metric>)` column such as
/// `avg(process.cpu.time)`.
pub fn looks_like(bytes: &[u8]) -> bool {
    let bytes = strip_bom(bytes);
    let bytes = &bytes[..bytes.len().min(SNIFF_LEN)];
    let mut reader = reader(bytes);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => Layout::from_header(&header_names(&record)).is_ok(),
        _ => false,
    }
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

fn header_names(record: &csv::ByteRecord) -> Vec<String> {
    record
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_string())
        .collect()
}

/// Physical 1-based line numbers of records, counted from their byte offsets (the csv
/// crate's own line numbers skip blank lines), once: linear in the input.
#[derive(Default)]
struct Lines {
    offset: usize,
    /// Line feeds before `offset`.
    feeds: u64,
}

impl Lines {
    fn line_of(&mut self, bytes: &[u8], record: &csv::ByteRecord) -> u64 {
        let start = record
            .position()
            .map_or(self.offset, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX))
            .min(bytes.len());
        // The position is where the reader resumed, before the blank lines it skipped.
        let offset = start + bytes[start..].iter().take_while(|&&b| b == b'\n' || b == b'\r').count();
        if offset < self.offset {
            *self = Lines::default();
        }
        self.feeds += memchr::memchr_iter(b'\n', &bytes[self.offset..offset]).count() as u64;
        self.offset = offset;
        1 + self.feeds
    }
}

fn line_pos(line: u64) -> Position {
    Position::Line { line, column: 0 }
}

/// What a column is used for.
#[derive(Debug, Clone)]
enum Role {
    Time,
    Value,
    MetricName,
    MetricType,
    /// A `<func>(<metric>)` column; `metric` is `None` for `<func>(_value)` (name from the
    /// `metric_name` cell).
    Aggregate {
        func: String,
        metric: Option<String>,
    },
    /// A string attribute with this key.
    Attr(String),
}

#[derive(Debug)]
struct Layout {
    roles: Vec<Role>,
    time: usize,
    /// Raw form: the `_value` column; `None` for the mstats form.
    value: Option<usize>,
    metric_name: Option<usize>,
    aggregates: usize,
}

impl Layout {
    /// Classifies the header columns; `Err` names what is missing.
    fn from_header(names: &[String]) -> Result<Layout, String> {
        let find = |wanted: &str| names.iter().position(|n| n == wanted);
        let time = find("_time");
        let metric_name = find("metric_name");
        let raw_value = find("_value").filter(|_| metric_name.is_some());
        let metric_type = find("metric_type");
        let has_host_name = find("host.name").is_some();

        let mut roles = Vec::with_capacity(names.len());
        let mut aggregates = 0usize;
        for (i, name) in names.iter().enumerate() {
            let role = if Some(i) == time {
                Role::Time
            } else if Some(i) == raw_value {
                Role::Value
            } else if Some(i) == metric_name {
                Role::MetricName
            } else if Some(i) == metric_type {
                Role::MetricType
            } else if let Some((func, metric)) = raw_value.is_none().then(|| aggregate(name)).flatten() {
                aggregates += 1;
                let metric = if metric == "_value" && metric_name.is_some() {
                    None
                } else {
                    Some(metric.to_string())
                };
                Role::Aggregate {
                    func: func.to_string(),
                    metric,
                }
            } else {
                Role::Attr(attr_key(name, has_host_name))
            };
            roles.push(role);
        }

        let time = match time {
            Some(time) if raw_value.is_some() || aggregates > 0 => time,
            _ => {
                let mut missing = Vec::new();
                if time.is_none() {
                    missing.push("a `_time` column");
                }
                if raw_value.is_none() && aggregates == 0 {
                    missing.push(match (metric_name.is_some(), find("_value").is_some()) {
                        (true, false) => "a `_value` column",
                        (false, true) => "a `metric_name` column",
                        _ => "value columns (`metric_name` + `_value`, or `<agg>(<metric>)`)",
                    });
                }
                return Err(missing.join(" and "));
            }
        };
        Ok(Layout {
            roles,
            time,
            value: raw_value,
            metric_name,
            aggregates,
        })
    }

    /// Points a row carries when its cells cannot be trusted (ragged row).
    fn points_per_row(&self) -> u64 {
        if self.value.is_some() {
            1
        } else {
            self.aggregates as u64
        }
    }
}

/// Splits `avg(process.cpu.time)` into `("avg", "process.cpu.time")`.
fn aggregate(name: &str) -> Option<(&str, &str)> {
    let inner = name.strip_suffix(')')?;
    let (func, metric) = inner.split_once('(')?;
    let func_ok = func.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && func.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let metric = metric.trim();
    let metric_ok = !metric.is_empty() && !metric.contains(['(', ')']);
    (func_ok && metric_ok).then_some((func, metric))
}

/// The attribute key of a dimension column.
fn attr_key(name: &str, has_host_name: bool) -> String {
    match name {
        "host" if has_host_name => "splunk.host".to_string(),
        "host" => "host.name".to_string(),
        "index" | "source" | "sourcetype" => format!("splunk.{name}"),
        _ if name.starts_with('_') => format!("splunk.{}", name.trim_start_matches('_')),
        _ => name.to_string(),
    }
}

struct Decoder {
    layout: Layout,
    origin: Arc<Origin>,
    /// Metric infos by name, one per kind seen with that name.
    metrics: HashMap<String, Vec<Arc<MetricInfo>>>,
    /// The last `_time` text parsed and its value: exports repeat a timestamp on many rows.
    last_time: Option<(String, u64)>,
}

impl Decoder {
    fn row(&mut self, record: &csv::ByteRecord, line: u64, sink: &mut dyn Sink) {
        sink.at(line_pos(line));
        let layout = &self.layout;
        if record.len() != layout.roles.len() {
            sink.reject(Rejection {
                reason: "ragged_row",
                position: line_pos(line),
                detail: format!("expected {} fields, found {}", layout.roles.len(), record.len()),
                points: layout.points_per_row(),
            });
            return;
        }
        let cells: Vec<&str> = match record.iter().map(std::str::from_utf8).collect::<Result<_, _>>() {
            Ok(cells) => cells,
            Err(_) => {
                let column = record.iter().position(|f| std::str::from_utf8(f).is_err()).unwrap_or(0);
                let points = self.points_in_bytes(record);
                sink.reject(Rejection {
                    reason: "invalid_utf8",
                    position: line_pos(line),
                    detail: format!("field {} ({}) is not valid UTF-8", column + 1, self.column_name(column)),
                    points,
                });
                return;
            }
        };

        let time = cells[layout.time].trim();
        let parsed = match &self.last_time {
            Some((text, nanos)) if text == time => Some(*nanos),
            _ => parse_time(time),
        };
        let Some(time_unix_nano) = parsed else {
            sink.reject(Rejection {
                reason: "bad_time",
                position: line_pos(line),
                detail: format!("unparseable _time {}", quote(time)),
                points: self.points_in_cells(&cells),
            });
            return;
        };

        if self.last_time.as_ref().is_none_or(|(text, _)| text != time) {
            self.last_time = Some((time.to_string(), time_unix_nano));
        }
        let layout = &self.layout;

        let mut kind = MetricKind::Gauge;
        let mut attributes: Attrs = Vec::new();
        for (role, cell) in layout.roles.iter().zip(&cells) {
            match role {
                Role::Attr(key) if !cell.is_empty() => {
                    attributes.push((key.clone(), AttrValue::Str((*cell).to_string())));
                }
                Role::MetricType if !cell.is_empty() => match metric_kind(cell) {
                    Some(k) => kind = k,
                    None => attributes.push(("splunk.metric_type".to_string(), AttrValue::Str((*cell).to_string()))),
                },
                _ => {}
            }
        }
        let row_metric_name = layout.metric_name.map_or("", |i| cells[i]);

        if let Some(value_col) = layout.value {
            let cell = cells[value_col].trim();
            let value = if cell.is_empty() {
                None
            } else if let Some(v) = parse_value(cell) {
                Some(v)
            } else {
                sink.reject(Rejection {
                    reason: "bad_value",
                    position: line_pos(line),
                    detail: format!("non-numeric _value {}", quote(cell)),
                    points: 1,
                });
                return;
            };
            let metric = self.metric(row_metric_name, kind);
            sink.point(self.point(metric, attributes, time_unix_nano, value));
            return;
        }

        // mstats form: one point per non-empty aggregate cell.
        for (i, cell) in cells.iter().enumerate() {
            let Role::Aggregate { func, metric } = &self.layout.roles[i] else {
                continue;
            };
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let Some(value) = parse_value(cell) else {
                sink.reject(Rejection {
                    reason: "bad_value",
                    position: line_pos(line),
                    detail: format!("non-numeric value {} in column {}", quote(cell), self.column_name(i)),
                    points: 1,
                });
                continue;
            };
            let mut attrs = attributes.clone();
            attrs.push(("splunk.aggregation".to_string(), AttrValue::Str(func.clone())));
            let name = metric.clone();
            let info = self.metric(name.as_deref().unwrap_or(row_metric_name), kind);
            sink.point(self.point(info, attrs, time_unix_nano, Some(value)));
        }
    }

    fn point(&self, metric: Arc<MetricInfo>, attributes: Attrs, time_unix_nano: u64, value: Option<f64>) -> Point {
        Point {
            origin: Arc::clone(&self.origin),
            metric,
            attributes,
            start_time_unix_nano: 0,
            time_unix_nano,
            value,
            count: None,
            min: None,
            max: None,
            buckets: None,
            flags: 0,
        }
    }

    fn metric(&mut self, name: &str, kind: MetricKind) -> Arc<MetricInfo> {
        if let Some(info) = self
            .metrics
            .get(name)
            .and_then(|infos| infos.iter().find(|info| info.kind == kind))
        {
            return Arc::clone(info);
        }
        let info = Arc::new(MetricInfo {
            name: name.to_string(),
            unit: String::new(),
            kind,
            temporality: 0,
            is_monotonic: false,
        });
        self.metrics
            .entry(name.to_string())
            .or_default()
            .push(Arc::clone(&info));
        info
    }

    /// Points a well-formed row with these cells would have produced.
    fn points_in_cells(&self, cells: &[&str]) -> u64 {
        if self.layout.value.is_some() {
            return 1;
        }
        self.layout
            .roles
            .iter()
            .zip(cells)
            .filter(|(role, cell)| matches!(role, Role::Aggregate { .. }) && !cell.trim().is_empty())
            .count() as u64
    }

    fn points_in_bytes(&self, record: &csv::ByteRecord) -> u64 {
        if self.layout.value.is_some() {
            return 1;
        }
        self.layout
            .roles
            .iter()
            .zip(record.iter())
            .filter(|(role, cell)| matches!(role, Role::Aggregate { .. }) && !cell.trim_ascii().is_empty())
            .count() as u64
    }

    fn column_name(&self, i: usize) -> String {
        match self.layout.roles.get(i) {
            Some(Role::Time) => "_time".to_string(),
            Some(Role::Value) => "_value".to_string(),
            Some(Role::MetricName) => "metric_name".to_string(),
            Some(Role::MetricType) => "metric_type".to_string(),
            Some(Role::Aggregate { func, metric }) => {
                format!("{func}({})", metric.as_deref().unwrap_or("_value"))
            }
            Some(Role::Attr(key)) => key.clone(),
            None => format!("#{}", i + 1),
        }
    }
}

fn metric_kind(cell: &str) -> Option<MetricKind> {
    let cell = cell.trim();
    if cell.eq_ignore_ascii_case("gauge") {
        Some(MetricKind::Gauge)
    } else if cell.eq_ignore_ascii_case("sum") || cell.eq_ignore_ascii_case("counter") {
        Some(MetricKind::Sum)
    } else {
        None
    }
}

fn parse_value(cell: &str) -> Option<f64> {
    cell.parse::<f64>().ok()
}

/// Parses `_time`: epoch seconds (`1763906400`, `1763906400.123`) or an ISO-8601 timestamp
/// with an explicit offset (`2026-11-23T14:00:00.000+00:00`, `...Z`, `2026-11-23 14:00:00.000
/// +0000`, `2026-11-23 14:00:00 UTC`). Times without an offset are rejected: Splunk renders
/// them in the exporting user's time zone, which the file does not record.
fn parse_time(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_epoch(s);
    }
    let mut text = s.to_string();
    for suffix in ["UTC", "GMT", "utc", "gmt"] {
        if let Some(rest) = s.strip_suffix(suffix) {
            text = format!("{}+00:00", rest.trim_end());
            break;
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(&text, fmt) {
            let nanos = t.timestamp_nanos_opt()?;
            return u64::try_from(nanos).ok();
        }
    }
    None
}

/// Epoch seconds with an optional fraction, exactly (digits past nanoseconds are dropped).
fn parse_epoch(s: &str) -> Option<u64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || frac.contains('.') {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let mut nanos = 0u64;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nanos += u64::from(d - b'0') * 10u64.pow(8 - i as u32);
    }
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

fn quote(s: &str) -> String {
    format!("{:?}", truncate(s, DETAIL_MAX_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::model::VecSink;

    fn run(input: &str) -> VecSink {
        run_bytes(input.as_bytes())
    }

    fn run_bytes(input: &[u8]) -> VecSink {
        let mut sink = VecSink::default();
        decode(input, &mut sink);
        sink
    }

    fn attr<'a>(p: &'a Point, key: &str) -> Option<&'a str> {
        p.attributes.iter().rev().find(|(k, _)| k == key).map(|(_, v)| match v {
            AttrValue::Str(s) => s.as_str(),
            other => panic!("attribute {key} is not a string: {other:?}"),
        })
    }

    fn line(r: &Rejection) -> u64 {
        match r.position {
            Position::Line { line, column: 0 } => line,
            other => panic!("unexpected position {other:?}"),
        }
    }

    /// 2026-11-23T14:00:00Z
    const T0: u64 = 1_795_442_400 * 1_000_000_000;

    #[test]
    fn points_carry_their_row_line() {
        // Blank lines count: positions are physical lines.
        let sink = run("_time,host,avg(a),max(a)\n1790000000,h,1,2\n\n\r\n1790000060,h,3,\n\n1790000120,h,x,\n");
        let lines: Vec<_> = sink.positions.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines, ["line 2", "line 2", "line 5"]);
        assert_eq!(sink.rejections.len(), 1);
        assert_eq!(sink.rejections[0].position, line_pos(7));
    }

    #[test]
    fn raw_form_iso_and_epoch_times() {
        let input = "\
_time,metric_name,_value,host,process.pid,k8s.node.name,process.executable.path,index,_span
2026-11-23T14:00:00.000+00:00,process.cpu.time,1.5,node-a,42,node-a,/usr/bin/sleep,otel,60
2026-11-23T14:00:00Z,process.cpu.time,2,node-a,43,node-a,/usr/bin/true,otel,
1795442400.123,process.memory.usage,1024,node-b,44,node-b,/bin/sh,otel,
2026-11-23 15:00:00.000 +0100,process.memory.usage,,node-b,,node-b,/bin/sh,otel,
2026-11-23 14:00:00 UTC,process.memory.usage,7,node-b,45,,/bin/sh,,
";
        let sink = run(input);
        assert!(sink.rejections.is_empty(), "{:?}", sink.rejections);
        assert_eq!(sink.points.len(), 5);
        let p = &sink.points[0];
        assert_eq!(p.metric.name, "process.cpu.time");
        assert_eq!(p.metric.kind, MetricKind::Gauge);
        assert_eq!(p.metric.unit, "");
        assert_eq!(p.metric.temporality, 0);
        assert!(!p.metric.is_monotonic);
        assert_eq!(p.origin.scope_name, "splunk_csv");
        assert!(p.origin.resource.is_empty());
        assert_eq!(p.time_unix_nano, T0);
        assert_eq!(p.start_time_unix_nano, 0);
        assert_eq!(p.value, Some(1.5));
        assert_eq!(
            p.attributes,
            vec![
                ("host.name".to_string(), AttrValue::Str("node-a".into())),
                ("process.pid".to_string(), AttrValue::Str("42".into())),
                ("k8s.node.name".to_string(), AttrValue::Str("node-a".into())),
                (
                    "process.executable.path".to_string(),
                    AttrValue::Str("/usr/bin/sleep".into())
                ),
                ("splunk.index".to_string(), AttrValue::Str("otel".into())),
                ("splunk.span".to_string(), AttrValue::Str("60".into())),
            ]
        );
        assert_eq!(sink.points[1].time_unix_nano, T0);
        assert_eq!(sink.points[1].value, Some(2.0));
        assert_eq!(attr(&sink.points[1], "splunk.span"), None);
        assert_eq!(sink.points[2].time_unix_nano, T0 + 123_000_000);
        assert_eq!(sink.points[2].metric.name, "process.memory.usage");
        // Empty `_value` is still a point; empty dimension cells are omitted.
        assert_eq!(sink.points[3].time_unix_nano, T0);
        assert_eq!(sink.points[3].value, None);
        assert_eq!(attr(&sink.points[3], "process.pid"), None);
        assert_eq!(sink.points[4].time_unix_nano, T0);
        assert_eq!(attr(&sink.points[4], "k8s.node.name"), None);
        assert_eq!(attr(&sink.points[4], "splunk.index"), None);
        // Metric info and origin are shared.
        assert!(Arc::ptr_eq(&sink.points[0].metric, &sink.points[1].metric));
        assert!(Arc::ptr_eq(&sink.points[2].metric, &sink.points[4].metric));
        assert!(Arc::ptr_eq(&sink.points[0].origin, &sink.points[4].origin));
    }

    #[test]
    fn host_is_splunk_host_when_host_name_column_exists() {
        let input = "\
_time,metric_name,_value,host,host.name,source,sourcetype,_raw
1795442400,process.cpu.time,1,splunk-fwd,node-a,otel,otel:metrics,x
";
        let sink = run(input);
        assert!(sink.rejections.is_empty());
        let p = &sink.points[0];
        assert_eq!(attr(p, "splunk.host"), Some("splunk-fwd"));
        assert_eq!(attr(p, "host.name"), Some("node-a"));
        assert_eq!(attr(p, "splunk.source"), Some("otel"));
        assert_eq!(attr(p, "splunk.sourcetype"), Some("otel:metrics"));
        assert_eq!(attr(p, "splunk.raw"), Some("x"));
        assert_eq!(attr(p, "host"), None);
    }

    #[test]
    fn metric_type_sets_kind() {
        let input = "\
_time,metric_name,_value,metric_type
1795442400,process.cpu.time,1,Sum
1795442400,process.memory.utilization,1,Gauge
1795442400,process.disk.io,1,Histogram
1795442400,process.cpu.time,2,Sum
";
        let sink = run(input);
        assert!(sink.rejections.is_empty());
        assert_eq!(sink.points[0].metric.kind, MetricKind::Sum);
        assert_eq!(sink.points[1].metric.kind, MetricKind::Gauge);
        assert_eq!(sink.points[2].metric.kind, MetricKind::Gauge);
        assert_eq!(attr(&sink.points[2], "splunk.metric_type"), Some("Histogram"));
        assert_eq!(attr(&sink.points[0], "metric_type"), None);
        assert_eq!(attr(&sink.points[0], "splunk.metric_type"), None);
        assert!(Arc::ptr_eq(&sink.points[0].metric, &sink.points[3].metric));
    }

    #[test]
    fn mstats_form_two_aggregates() {
        let input = "\
_time,host,k8s.node.name,process.executable.path,avg(process.cpu.time),count(process.memory.utilization)
2026-11-23T14:00:00.000+00:00,node-a,node-a,/usr/bin/sleep,0.25,3
2026-11-23T14:01:00.000+00:00,node-b,node-b,/bin/sh,,7
";
        let sink = run(input);
        assert!(sink.rejections.is_empty(), "{:?}", sink.rejections);
        assert_eq!(sink.points.len(), 3);
        let p = &sink.points[0];
        assert_eq!(p.metric.name, "process.cpu.time");
        assert_eq!(p.value, Some(0.25));
        assert_eq!(p.time_unix_nano, T0);
        assert_eq!(attr(p, "splunk.aggregation"), Some("avg"));
        assert_eq!(attr(p, "host.name"), Some("node-a"));
        assert_eq!(attr(p, "process.executable.path"), Some("/usr/bin/sleep"));
        let p = &sink.points[1];
        assert_eq!(p.metric.name, "process.memory.utilization");
        assert_eq!(p.value, Some(3.0));
        assert_eq!(attr(p, "splunk.aggregation"), Some("count"));
        assert_eq!(attr(p, "k8s.node.name"), Some("node-a"));
        // The empty avg cell of row 2 is no point.
        let p = &sink.points[2];
        assert_eq!(p.metric.name, "process.memory.utilization");
        assert_eq!(p.value, Some(7.0));
        assert_eq!(p.time_unix_nano, T0 + 60_000_000_000);
        assert_eq!(attr(p, "host.name"), Some("node-b"));
        assert!(Arc::ptr_eq(&sink.points[1].metric, &sink.points[2].metric));
    }

    #[test]
    fn mstats_by_metric_name_form() {
        let input = "\
_time,metric_name,max(_value)
1795442400,process.cpu.time,4.5
";
        let sink = run(input);
        assert!(sink.rejections.is_empty());
        assert_eq!(sink.points.len(), 1);
        assert_eq!(sink.points[0].metric.name, "process.cpu.time");
        assert_eq!(sink.points[0].value, Some(4.5));
        assert_eq!(attr(&sink.points[0], "splunk.aggregation"), Some("max"));
        assert_eq!(attr(&sink.points[0], "metric_name"), None);
    }

    #[test]
    fn ragged_rows() {
        let input = "\
_time,metric_name,_value,host
1795442400,m,1,a
1795442400,m,2
1795442400,m,3,a,extra
1795442400,m,4,a
";
        let sink = run(input);
        assert_eq!(sink.points.len(), 2);
        assert_eq!(sink.points[1].value, Some(4.0));
        assert_eq!(sink.rejections.len(), 2);
        let r = &sink.rejections[0];
        assert_eq!(r.reason, "ragged_row");
        assert_eq!(r.detail, "expected 4 fields, found 3");
        assert_eq!(r.points, 1);
        assert_eq!(r.position, Position::Line { line: 3, column: 0 });
        assert_eq!(sink.rejections[1].detail, "expected 4 fields, found 5");
        assert_eq!(line(&sink.rejections[1]), 4);

        let input = "_time,host,avg(a),max(b)\n1795442400,h\n1795442400,h,1,2\n";
        let sink = run(input);
        assert_eq!(sink.points.len(), 2);
        assert_eq!(sink.rejections[0].reason, "ragged_row");
        assert_eq!(sink.rejections[0].points, 2);
        assert_eq!(line(&sink.rejections[0]), 2);
    }

    #[test]
    fn bad_time() {
        let long = "x".repeat(300);
        let input = format!(
            "_time,metric_name,_value\nyesterday,m,1\n1795442400,m,2\n2026-11-23 14:00:00,m,3\n{long},m,4\n,m,5\n"
        );
        let sink = run(&input);
        assert_eq!(sink.points.len(), 1);
        assert_eq!(sink.points[0].value, Some(2.0));
        assert_eq!(sink.rejections.len(), 4);
        assert!(sink.rejections.iter().all(|r| r.reason == "bad_time" && r.points == 1));
        assert_eq!(sink.rejections[0].detail, "unparseable _time \"yesterday\"");
        assert_eq!(line(&sink.rejections[0]), 2);
        // No offset: ambiguous, rejected.
        assert_eq!(line(&sink.rejections[1]), 4);
        assert!(sink.rejections[1].detail.contains("2026-11-23 14:00:00"));
        let detail = &sink.rejections[2].detail;
        assert!(detail.contains(&"x".repeat(100)));
        assert!(!detail.contains(&"x".repeat(101)));
        assert_eq!(line(&sink.rejections[3]), 6);

        // mstats: the row's non-empty aggregate cells are lost.
        let sink = run("_time,avg(a),avg(b),avg(c)\nnope,1,,3\n");
        assert_eq!(sink.rejections[0].reason, "bad_time");
        assert_eq!(sink.rejections[0].points, 2);
    }

    #[test]
    fn bad_value() {
        let input = "\
_time,metric_name,_value
1795442400,m,abc
1795442400,m,1e3
";
        let sink = run(input);
        assert_eq!(sink.points.len(), 1);
        assert_eq!(sink.points[0].value, Some(1000.0));
        let r = &sink.rejections[0];
        assert_eq!(r.reason, "bad_value");
        assert!(r.detail.contains("\"abc\""), "{}", r.detail);
        assert_eq!(r.points, 1);
        assert_eq!(line(r), 2);

        // mstats: only the bad cell is lost.
        let sink = run("_time,host,avg(a),max(b)\n1795442400,h,1.2.3,5\n");
        assert_eq!(sink.points.len(), 1);
        assert_eq!(sink.points[0].metric.name, "b");
        assert_eq!(sink.points[0].value, Some(5.0));
        assert_eq!(sink.rejections.len(), 1);
        assert_eq!(sink.rejections[0].reason, "bad_value");
        assert!(sink.rejections[0].detail.contains("\"1.2.3\""));
        assert!(sink.rejections[0].detail.contains("avg(a)"));
        assert_eq!(sink.rejections[0].points, 1);
    }

    #[test]
    fn bom_is_stripped() {
        let mut input = BOM.to_vec();
        input.extend_from_slice(b"_time,metric_name,_value\n1795442400,m,1\n");
        assert!(looks_like(&input));
        let sink = run_bytes(&input);
        assert!(sink.rejections.is_empty());
        assert_eq!(sink.points.len(), 1);
        assert_eq!(sink.points[0].time_unix_nano, T0);
        assert!(sink.points[0].attributes.is_empty());
    }

    #[test]
    fn empty_and_header_only() {
        for input in ["", "\u{feff}"] {
            let sink = run(input);
            assert!(sink.points.is_empty());
            assert_eq!(sink.rejections.len(), 1);
            assert_eq!(sink.rejections[0].reason, "empty");
            assert_eq!(sink.rejections[0].points, 0);
            assert_eq!(line(&sink.rejections[0]), 1);
        }
        let sink = run("_time,metric_name,_value\n");
        assert!(sink.points.is_empty());
        assert_eq!(sink.rejections.len(), 1);
        assert_eq!(sink.rejections[0].reason, "empty");
        assert_eq!(sink.rejections[0].points, 0);
        assert!(!looks_like(b""));
    }

    #[test]
    fn not_a_splunk_csv() {
        let input = "name,age\nalice,30\n";
        assert!(!looks_like(input.as_bytes()));
        let sink = run(input);
        assert!(sink.points.is_empty());
        assert_eq!(sink.rejections.len(), 1);
        let r = &sink.rejections[0];
        assert_eq!(r.reason, "not_splunk_csv");
        assert_eq!(r.position, Position::Line { line: 1, column: 0 });
        assert!(r.detail.contains("_time"), "{}", r.detail);
        assert!(r.detail.contains("name,age"), "{}", r.detail);

        // `_time` but no value columns.
        let sink = run("_time,host\n1795442400,h\n");
        assert_eq!(sink.rejections[0].reason, "not_splunk_csv");
        assert!(sink.rejections[0].detail.contains("value columns"));
        // `_value` without `metric_name`.
        let sink = run("_time,_value\n1795442400,1\n");
        assert_eq!(sink.rejections[0].reason, "not_splunk_csv");
        assert!(sink.rejections[0].detail.contains("metric_name"));

        assert!(!looks_like(br#"{"resourceMetrics":[{"_time":1}]}"#));
        assert!(!looks_like(b"\x1f\x8b\x08\x00"));
        assert!(looks_like(b"_time,metric_name,_value\n"));
        assert!(looks_like(b"\"_time\",\"host\",\"avg(process.cpu.time)\"\r\n"));
        assert!(!looks_like(b"_time,host,avg()\n"));
        assert!(!looks_like(b"metric_name,_value,avg(x)\n"));
    }

    #[test]
    fn quoted_fields_keep_line_numbers() {
        let input = "\
_time,metric_name,_value,process.command_line
1795442400,m,1,\"sh -c \"\"a, b\"\"\"
1795442400,m,2,\"first line
second line, with comma\"
1795442400,m,oops,x
";
        let sink = run(input);
        assert_eq!(sink.points.len(), 2);
        assert_eq!(attr(&sink.points[0], "process.command_line"), Some("sh -c \"a, b\""));
        assert_eq!(
            attr(&sink.points[1], "process.command_line"),
            Some("first line\nsecond line, with comma")
        );
        assert_eq!(sink.rejections.len(), 1);
        assert_eq!(sink.rejections[0].reason, "bad_value");
        assert_eq!(line(&sink.rejections[0]), 5);
    }

    #[test]
    fn invalid_utf8_row() {
        let input = b"_time,metric_name,_value,host\n1795442400,m,1,\xff\xfe\n1795442400,m,2,h\n";
        let sink = run_bytes(input);
        assert_eq!(sink.points.len(), 1);
        assert_eq!(sink.points[0].value, Some(2.0));
        assert_eq!(sink.rejections.len(), 1);
        let r = &sink.rejections[0];
        assert_eq!(r.reason, "invalid_utf8");
        assert_eq!(line(r), 2);
        assert_eq!(r.points, 1);
        assert!(r.detail.contains("field 4"), "{}", r.detail);
    }

    #[test]
    fn time_formats() {
        assert_eq!(parse_time("2026-11-23T14:00:00Z"), Some(T0));
        assert_eq!(parse_time("2026-11-23T14:00:00.5+00:00"), Some(T0 + 500_000_000));
        assert_eq!(parse_time("2026-11-23T15:00:00.000+01:00"), Some(T0));
        assert_eq!(parse_time("2026-11-23 09:00:00.000-0500"), Some(T0));
        assert_eq!(parse_time("2026-11-23 14:00:00.000 UTC"), Some(T0));
        assert_eq!(parse_time("1795442400.000000001"), Some(T0 + 1));
        assert_eq!(parse_time("1795442400.1234567891"), Some(T0 + 123_456_789));
        assert_eq!(parse_time("1795442400."), Some(T0));
        assert_eq!(parse_time(" 1795442400 "), Some(T0));
        assert_eq!(parse_time(".5"), None);
        assert_eq!(parse_time("1.2.3"), None);
        assert_eq!(parse_time("-1"), None);
        assert_eq!(parse_time("99999999999999999999"), None);
        assert_eq!(parse_time("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_time("2026-11-23T14:00:00"), None);
        assert_eq!(parse_time("2026-11-23T14:00:00 PST"), None);
    }

    proptest::proptest! {
        /// Arbitrary bodies (quotes, commas, newlines, invalid UTF-8) never panic; in the raw
        /// form every row is one point or one rejection losing one point, at a data line.
        #[test]
        fn never_panics_and_counts_rows(
            body in proptest::collection::vec(
                proptest::sample::select(vec![b',', b'\n', b'"', b'1', b'x', 0xff_u8]),
                0..200,
            )
        ) {
            let mut input = b"_time,metric_name,_value,host\n".to_vec();
            input.extend_from_slice(&body);
            let sink = run_bytes(&input);
            looks_like(&body);
            run_bytes(&body);
            for r in &sink.rejections {
                let expected = if r.reason == "empty" { 0 } else { 1 };
                proptest::prop_assert_eq!(r.points, expected);
                proptest::prop_assert!(r.reason == "empty" || line(r) >= 2);
            }
            let newlines = body.iter().filter(|&&b| b == b'\n').count();
            proptest::prop_assert!(sink.points.len() + sink.rejections.len() <= newlines + 1);
        }
    }
}
