//! Hostile input: a corpus of malformed and adversarial exports, landed by the real binary.
//!
//! The corpus is defined here, once: [`corpus`] builds every file deterministically. Files of
//! at most [`COMMITTED_MAX`] bytes are committed under `tests/hostile/` with a generated
//! `README.md` table (regenerate both with `KUBESEEN_HOSTILE_WRITE=1 cargo test --release
//! --test it hostile`); larger ones (bombs, multi-megabyte strings, deep nesting) are written
//! into a temp folder at test time. Each case pins the rejection reasons and the number of
//! points that land.
//! Checked, for every file, alone and together with good exports in one run: exit code 3; a
//! rejects record under `<lake>/_kubeseen/rejects/` naming the file, its reasons and each
//! problem's position (line/column, byte or record); the good files land completely; counts
//! add up (read = landed + duplicates + rejected); and the run's peak RSS (`peak_rss_bytes` of
//! `land --json`) stays under [`RSS_BOUND`] even with the decompression bombs.
//! With env `KUBESEEN_RELIABILITY_OUT` set, one result line per category is appended there.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kubeseen::ingest::otlp_proto as pb;
use prost::Message;

use crate::common::*;

/// Committed corpus files are at most this large; larger ones are generated at test time.
const COMMITTED_MAX: usize = 100 * 1024;
/// `--max-input-bytes` of every run: the bombs expand far past it.
const MAX_INPUT: u64 = 32 << 20;
/// Peak RSS allowed for landing the whole corpus.
const RSS_BOUND: u64 = 512 << 20;
/// A run taking longer has hung.
const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// 2026-09-21T13:46:40Z: inside the lake's valid range for the tests' clock (2030-01-01).
const T: u64 = 1_790_000_000_000_000_000;

struct Case {
    name: &'static str,
    category: &'static str,
    /// What the file is.
    what: &'static str,
    /// Why the outcome is right.
    why: &'static str,
    /// Exactly the rejection reasons expected.
    reasons: &'static [&'static str],
    /// Points expected to land.
    landed: u64,
    /// Points expected to be skipped as duplicates of points landed before.
    duplicates: u64,
    /// Where the first problem is, when pinned.
    first_at: Option<&'static str>,
    bytes: Vec<u8>,
}

impl Case {
    fn committed(&self) -> bool {
        self.bytes.len() <= COMMITTED_MAX
    }

    /// Pins the position of the first problem listed.
    fn at(mut self, position: &'static str) -> Case {
        self.first_at = Some(position);
        self
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

fn ts(i: u64) -> u64 {
    T + i * 1_000_000_000
}

/// The data-point attribute that keeps every case's points distinct from every other's.
fn case_attr(case: &str) -> String {
    format!(r#"{{"key":"corpus.case","value":{{"stringValue":"{case}"}}}}"#)
}

/// One gauge data point of `case` at second `i`; `rest` holds its value field(s).
fn dp(case: &str, i: u64, rest: &str) -> String {
    format!(
        r#"{{"attributes":[{}],"timeUnixNano":"{}",{rest}}}"#,
        case_attr(case),
        ts(i)
    )
}

/// One `ExportMetricsServiceRequest` with one gauge `metric` holding `dps`.
fn gauge_doc(resource: &str, metric: &str, dps: &[String]) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{resource},"scopeMetrics":[{{"scope":{{"name":"hostile"}},"metrics":[{{"name":"{metric}","unit":"1","gauge":{{"dataPoints":[{}]}}}}]}}]}}]}}"#,
        dps.join(",")
    )
}

const NODE: &str = r#"{"attributes":[{"key":"k8s.node.name","value":{"stringValue":"hostile-node"}}]}"#;

/// A valid document: `n` points of `case` from second `from`.
fn good(case: &str, from: u64, n: u64) -> String {
    let dps: Vec<String> = (from..from + n).map(|i| dp(case, i, r#""asInt":"7""#)).collect();
    gauge_doc(NODE, "hostile.gauge", &dps)
}

/// A document template: `$A` is the case attribute, `$T` the first timestamp.
fn tpl(case: &str, s: &str) -> String {
    s.replace("$A", &case_attr(case)).replace("$T", &ts(0).to_string())
}

/// Lines joined by `\n`, with a final newline.
fn lines<S: AsRef<str>>(ls: &[S]) -> Vec<u8> {
    let mut out = String::new();
    for l in ls {
        out.push_str(l.as_ref());
        out.push('\n');
    }
    out.into_bytes()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::encode_all(b, 19).expect("zstd")
}

/// `n` bytes of zeros, zstd-compressed without holding them in memory.
/// The complete lines a plain decoder gets out of a compressed stream cut short (`decode` reads
/// until the stream ends early): in a one-point-per-line export, the points that must land.
/// Derived from the file itself, not from what kubeseen reports.
fn whole_lines_before_the_cut(decode: impl FnOnce(&mut Vec<u8>) -> std::io::Result<usize>) -> u64 {
    let mut out = Vec::new();
    let ended = decode(&mut out);
    assert!(ended.is_err(), "the cut stream ends early");
    out.iter().filter(|b| **b == b'\n').count() as u64
}

fn zstd_zeros(n: u64) -> Vec<u8> {
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("zstd");
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..n / chunk.len() as u64 {
        e.write_all(&chunk).expect("zstd");
    }
    e.finish().expect("zstd")
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(n: usize, mut state: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// The file exporter's protobuf framing: a big-endian u32 length, then the payload.
fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

fn pnum(case: &str, time: u64, value: f64) -> pb::NumberDataPoint {
    pb::NumberDataPoint {
        attributes: vec![pkv("corpus.case", case)],
        start_time_unix_nano: 0,
        time_unix_nano: time,
        value: Some(pb::number_data_point::Value::AsDouble(value)),
        flags: 0,
    }
}

fn pkv(key: &str, value: &str) -> pb::KeyValue {
    pb::KeyValue {
        key: key.to_string(),
        value: Some(pb::AnyValue {
            value: Some(pb::any_value::Value::StringValue(value.to_string())),
        }),
    }
}

fn pmetric(name: &str, points: Vec<pb::NumberDataPoint>) -> pb::Metric {
    pb::Metric {
        name: name.to_string(),
        description: String::new(),
        unit: "1".to_string(),
        data: Some(pb::metric::Data::Gauge(pb::Gauge { data_points: points })),
        metadata: Vec::new(),
    }
}

fn preq(resource: Option<Vec<pb::KeyValue>>, metrics: Vec<pb::Metric>) -> pb::ExportMetricsServiceRequest {
    pb::ExportMetricsServiceRequest {
        resource_metrics: vec![pb::ResourceMetrics {
            resource: resource.map(|attributes| pb::Resource {
                attributes,
                dropped_attributes_count: 0,
            }),
            scope_metrics: vec![pb::ScopeMetrics {
                scope: None,
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A valid request: `n` points of `case` from second `from`.
fn pgood(case: &str, from: u64, n: u64) -> pb::ExportMetricsServiceRequest {
    let points = (from..from + n).map(|i| pnum(case, ts(i), 7.0)).collect();
    preq(
        Some(vec![pkv("k8s.node.name", "hostile-node")]),
        vec![pmetric("hostile.gauge", points)],
    )
}

fn pframed(reqs: &[pb::ExportMetricsServiceRequest]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in reqs {
        pb::encode_framed(r, &mut out);
    }
    out
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> u64 {
    let mut n = 1;
    let mut v = v >> 7;
    while v > 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// A length-delimited protobuf field.
fn ld(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

/// An `AnyValue` nested `depth` `arrayValue`s deep around a string.
fn deep_any_value(depth: usize) -> Vec<u8> {
    // Sizes from the inside out: AnyValue{string "x"} is 3 bytes; each level wraps it in
    // ArrayValue{values: 1} (tag 0x0a) inside AnyValue{arrayValue: 5} (tag 0x2a).
    let mut any_sizes = vec![3u64];
    let mut array_sizes = Vec::with_capacity(depth);
    for _ in 0..depth {
        let inner = *any_sizes.last().expect("size");
        let array = 1 + varint_len(inner) + inner;
        array_sizes.push(array);
        any_sizes.push(1 + varint_len(array) + array);
    }
    let mut out = Vec::with_capacity(*any_sizes.last().expect("size") as usize);
    for level in (0..depth).rev() {
        out.push(0x2a);
        varint(array_sizes[level], &mut out);
        out.push(0x0a);
        varint(any_sizes[level], &mut out);
    }
    out.extend_from_slice(&[0x0a, 0x01, b'x']);
    out
}

/// A `KeyValue` attribute → `Resource` → `ResourceMetrics` → request holding `value` bytes.
fn request_with_resource_value(key: &str, any_value: &[u8]) -> Vec<u8> {
    let kv = [ld(0x0a, key.as_bytes()), ld(0x12, any_value)].concat();
    let resource = ld(0x0a, &kv);
    let rm = ld(0x0a, &resource);
    ld(0x0a, &rm)
}

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
fn case(
    name: &'static str,
    category: &'static str,
    reasons: &'static [&'static str],
    landed: u64,
    what: &'static str,
    why: &'static str,
    bytes: Vec<u8>,
) -> Case {
    Case {
        name,
        category,
        what,
        why,
        reasons,
        landed,
        duplicates: 0,
        first_at: None,
        bytes,
    }
}

/// Every hostile file, built once per test run.
fn corpus() -> &'static [Case] {
    static CORPUS: OnceLock<Vec<Case>> = OnceLock::new();
    CORPUS.get_or_init(build_corpus)
}

fn build_corpus() -> Vec<Case> {
    let mut v = Vec::new();
    compression(&mut v);
    json_syntax(&mut v);
    json_types(&mut v);
    non_finite_and_time(&mut v);
    structure(&mut v);
    encoding(&mut v);
    huge(&mut v);
    protobuf(&mut v);
    csv(&mut v);
    garbage(&mut v);
    v.sort_by_key(|c| (c.category, c.name));
    v
}

fn compression(v: &mut Vec<Case>) {
    let n = "gzip_truncated.jsonl.gz";
    let text: Vec<String> = (0..200).map(|i| good(n, i, 1)).collect();
    let gz = gzip(&lines(&text));
    let cut = gz[..gz.len() / 2].to_vec();
    let landed =
        whole_lines_before_the_cut(|out| std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&cut[..]), out));
    assert!((1..200).contains(&landed), "{n}: {landed} whole lines before the cut");
    v.push(case(
        n,
        "truncated gzip",
        &["truncated_compression", "truncated"],
        landed,
        "200 one-point JSON lines, gzip-compressed, cut at half the compressed size",
        "the lines decompressed whole before the cut land; the cut line and the stream end are rejected",
        cut,
    ));
    let n = "gzip_header_only.gz";
    v.push(case(
        n,
        "truncated gzip",
        &["truncated_compression", "empty"],
        0,
        "the 10-byte gzip header of an export and nothing else",
        "the stream ends before any data: truncated, and nothing to decode",
        gzip(&lines(&[good(n, 0, 1)]))[..10].to_vec(),
    ));
    let n = "gzip_bad_crc.json.gz";
    let mut gz = gzip(&lines(&[good(n, 0, 1), good(n, 1, 1), good(n, 2, 1)]));
    let crc = gz.len() - 8;
    gz[crc] ^= 0xff;
    v.push(case(
        n,
        "corrupt gzip",
        &["corrupt_compression"],
        3,
        "3 good JSON lines, gzip with a wrong CRC32 in the trailer",
        "every byte decompressed before the checksum is kept; the checksum mismatch is reported",
        gz,
    ));
    let n = "gzip_corrupt_deflate.json.gz";
    let text: Vec<String> = (0..50).map(|i| good(n, i, 1)).collect();
    let mut gz = gzip(&lines(&text));
    let mid = gz.len() / 2;
    gz[mid] ^= 0x55;
    v.push(case(
        n,
        "corrupt gzip",
        &["corrupt_compression", "invalid_json"],
        0,
        "50 good JSON lines, gzip, one byte flipped mid-stream",
        "the damaged deflate stream is rejected; what it decoded to is not trusted JSON",
        gz,
    ));
    let n = "gzip_trailing_garbage.json.gz";
    let mut gz = gzip(&lines(&[good(n, 0, 2)]));
    gz.extend_from_slice(b"GARBAGE AFTER THE GZIP MEMBER");
    v.push(case(
        n,
        "corrupt gzip",
        &["corrupt_compression"],
        2,
        "a valid gzip member (2 points) followed by non-gzip bytes",
        "the member lands; the bytes after it are not a gzip member",
        gz,
    ));
    let n = "gzip_in_gzip.json.gz";
    v.push(case(
        n,
        "corrupt gzip",
        &["invalid_protobuf"],
        0,
        "a gzip file inside a gzip file",
        "one layer of compression is undone; the inner gzip bytes are no export format",
        gzip(&gzip(&lines(&[good(n, 0, 1)]))),
    ));
    let n = "gzip_bomb.json.gz";
    let member = gzip(&vec![0u8; 64 << 20]);
    v.push(
        case(
            n,
            "decompression bomb",
            &["too_large"],
            0,
            "16 gzip members of 64 MiB of zeros each: 1 GiB from about 1 MiB",
            "decompression stops past --max-input-bytes (32 MiB here): too_large, nothing decoded",
            member.repeat(16),
        )
        .at("byte 33554432"),
    );
    let n = "zstd_bomb.zst";
    v.push(case(
        n,
        "decompression bomb",
        &["too_large"],
        0,
        "one zstd frame of 1 GiB of zeros (33 KB)",
        "decompression stops past --max-input-bytes: too_large, nothing decoded",
        zstd_zeros(1 << 30),
    ));
    let n = "plain_too_large.json";
    let mut big = lines(&[good(n, 0, 1)]);
    big.resize(40 << 20, b' ');
    v.push(
        case(
            n,
            "decompression bomb",
            &["too_large"],
            0,
            "an uncompressed export of 40 MiB (one point, then spaces)",
            "larger than --max-input-bytes before any decompression: too_large, not read",
            big,
        )
        .at("byte 33554432"),
    );
    let n = "zstd_truncated.jsonl.zst";
    let text: Vec<String> = (0..2000).map(|i| good(n, i, 1)).collect();
    let z = zstd::encode_all(&lines(&text)[..], 3).expect("zstd");
    let cut = z[..z.len() * 4 / 5].to_vec();
    let landed = whole_lines_before_the_cut(|out| {
        std::io::Read::read_to_end(&mut zstd::stream::read::Decoder::new(&cut[..])?, out)
    });
    assert!((1..2000).contains(&landed), "{n}: {landed} whole lines before the cut");
    v.push(case(
        n,
        "truncated zstd",
        &["truncated_compression", "truncated"],
        landed,
        "2000 one-point JSON lines, zstd, cut at 80% of the compressed size",
        "the blocks decompressed before the cut land, up to the last whole line",
        cut,
    ));
    let n = "zstd_corrupt.zst";
    let mut z = vec![0x28, 0xb5, 0x2f, 0xfd];
    z.extend(noise(256, 7));
    v.push(case(
        n,
        "corrupt zstd",
        &["corrupt_compression", "empty"],
        0,
        "the zstd magic followed by 256 random bytes",
        "not a zstd frame: nothing decompresses",
        z,
    ));
    let n = "zstd_lying_content_size.zst";
    // Frame header: single segment, 8-byte content size 2^40; one raw block of 16 bytes.
    let mut z = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
    z.extend_from_slice(&(1u64 << 40).to_le_bytes());
    z.extend_from_slice(&[(16 << 3) | 1, 0, 0]);
    z.extend_from_slice(b"{\"resourceMetric");
    v.push(case(
        n,
        "corrupt zstd",
        &["corrupt_compression", "empty"],
        0,
        "a zstd frame whose header claims 1 TiB of content, holding 16 bytes",
        "the decoder refuses the frame (window too large) before allocating anything",
        z,
    ));
    let n = "zstd_framed_bad_length.zst";
    let mut z = Vec::new();
    frame(&zstd(&lines(&[good(n, 0, 1)])), &mut z);
    frame(&zstd(&lines(&[good(n, 1, 1)])), &mut z);
    z.extend_from_slice(&[0x00, 0x40, 0x00, 0x00, 1, 2, 3]);
    v.push(case(
        n,
        "truncated zstd",
        &["bad_length"],
        2,
        "the file exporter's legacy zstd framing: 2 good records, then a length prefix of 4 MiB with 3 bytes left",
        "the 2 records land; the third's length runs past the end (record 3)",
        z,
    ));
    let n = "zstd_framed_corrupt_record.zst";
    let mut z = Vec::new();
    frame(&zstd(&lines(&[good(n, 0, 1)])), &mut z);
    let mut bad = vec![0x28, 0xb5, 0x2f, 0xfd];
    bad.extend(noise(40, 11));
    frame(&bad, &mut z);
    v.push(case(
        n,
        "corrupt zstd",
        &["corrupt_compression", "empty"],
        1,
        "legacy zstd framing: one good record, then a record of zstd magic and noise",
        "the good record lands; the corrupt one is rejected",
        z,
    ));
    let n = "proto_zstd_record_bomb.binpb";
    let mut z = Vec::new();
    frame(&zstd_zeros(1 << 30), &mut z);
    v.push(case(
        n,
        "decompression bomb",
        &["too_large"],
        0,
        "the file exporter's protobuf framing with one zstd record of 1 GiB of zeros (33 KB)",
        "the record's decompression stops past --max-input-bytes: too_large",
        z,
    ));
}

fn json_syntax(v: &mut Vec<Case>) {
    let n = "json_truncated_document.json";
    let second = good(n, 3, 3);
    let mut b = lines(&[good(n, 0, 3)]);
    b.extend_from_slice(&second.as_bytes()[..second.len() * 3 / 5]);
    v.push(case(
        n,
        "invalid JSON",
        &["truncated"],
        3,
        "a good 3-point document, then a document cut off mid-way",
        "the first document lands; the second ends early (line 2)",
        b,
    ));
    let n = "json_invalid_syntax.jsonl";
    v.push(case(
        n,
        "invalid JSON",
        &["invalid_json"],
        4,
        "good line, then an unclosed array, a trailing comma, single quotes, an unquoted key, then a good line",
        "each bad line is rejected with its line and column; the good lines land",
        lines(&[
            good(n, 0, 2),
            r#"{"resourceMetrics": [oops"#.to_string(),
            r#"{"resourceMetrics": [],}"#.to_string(),
            r#"{'resourceMetrics': []}"#.to_string(),
            r#"{resourceMetrics: []}"#.to_string(),
            good(n, 2, 2),
        ]),
    ));
    let n = "json_trailing_garbage.json";
    v.push(case(
        n,
        "invalid JSON",
        &["invalid_json"],
        2,
        "a good document followed by `xyz` on the same line",
        "the document lands; the garbage after it is rejected at its column",
        lines(&[format!("{} xyz", good(n, 0, 2))]),
    ));
    let n = "json_comments.json";
    v.push(case(
        n,
        "invalid JSON",
        &["invalid_json"],
        1,
        "a good document, then a `//` and a `/* */` comment line",
        "JSON has no comments: both comment lines are rejected at their line, the document lands",
        lines(&[
            good(n, 0, 1),
            "// exported by hand".to_string(),
            "/* end of export */".to_string(),
        ]),
    ));
    let n = "json_leading_comment.json";
    v.push(case(
        n,
        "invalid JSON",
        &["invalid_protobuf"],
        0,
        "a `//` comment line, then a good document",
        "starting with `/` it does not look like JSON or CSV; as the last guess, protobuf, it fails at byte 0 and the detail lists the formats tried",
        lines(&["// exported by hand".to_string(), good(n, 0, 1)]),
    ));
    let n = "json_unclosed_string.json";
    v.push(case(
        n,
        "invalid JSON",
        &["invalid_json"],
        1,
        "a string value left open to the end of its line, then a good line",
        "the raw newline inside the string is an error at its line; the next line lands",
        lines(&[
            tpl(
                n,
                r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"never closed}}]}}]}"#,
            ),
            good(n, 0, 1),
        ]),
    ).at("line 1"));
    let n = "json_lone_surrogate.json";
    v.push(case(
        n,
        "invalid JSON",
        &["invalid_json"],
        1,
        "an attribute value with the escape `\\ud800` (a lone UTF-16 surrogate), then a good line",
        "a lone surrogate is no Unicode scalar: that document is rejected",
        lines(&[
            gauge_doc(
                r#"{"attributes":[{"key":"a","value":{"stringValue":"x\ud800y"}}]}"#,
                "hostile.gauge",
                &[dp(n, 9, r#""asInt":"1""#)],
            ),
            good(n, 0, 1),
        ]),
    ));
    let n = "json_too_many_errors.jsonl";
    let bad: Vec<String> = (0..150).map(|i| format!(r#"{{"resourceMetrics": [{{x{i}"#)).collect();
    v.push(case(
        n,
        "invalid JSON",
        &["invalid_json", "too_many_errors"],
        0,
        "150 lines of broken JSON",
        "after 100 unparseable documents the rest of the input is not read (one more rejection says so)",
        lines(&bad),
    ));
    let n = "json_many_non_otlp_documents.jsonl";
    v.push(
        case(
            n,
            "invalid JSON",
            &["not_otlp_metrics", "too_many_errors"],
            0,
            "a million `{}` lines (3 MB)",
            "each is JSON but not OTLP; after 100 the input is abandoned (decoding stays linear)",
            "{}\n".repeat(1_000_000).into_bytes(),
        )
        .at("line 1"),
    );
    let n = "json_top_level_values.jsonl";
    v.push(case(
        n,
        "wrong JSON types",
        &["not_otlp_metrics", "wrong_type"],
        1,
        "`{}`, `[]`, a string, a number, `null`, `true` as documents, then a good line",
        "`{}` is JSON without resourceMetrics; the others are not objects; the good line lands",
        lines(&["{}", "[]", "\"text\"", "42", "null", "true", &good(n, 0, 1)]),
    ));
    let n = "json_not_otlp.json";
    v.push(case(
        n,
        "wrong JSON types",
        &["not_otlp_metrics"],
        0,
        "a pretty-printed JSON document of another schema",
        "valid JSON, not an OTLP metrics export",
        b"{\n  \"scenarios\": [\n    {\"name\": \"x\"}\n  ],\n  \"version\": 1\n}\n".to_vec(),
    ));
}

fn json_types(v: &mut Vec<Case>) {
    let n = "json_wrong_types.jsonl";
    let docs = [
        r#"{"resourceMetrics":"oops"}"#,
        r#"{"resourceMetrics":{"resource":{}}}"#,
        r#"{"resourceMetrics":[{"resource":42,"scopeMetrics":[]}]}"#,
        r#"{"resourceMetrics":[{"resource":{"attributes":{"key":"a"}},"scopeMetrics":[]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":"none"}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[null]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":12,"gauge":{"dataPoints":[]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":7}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":{"n":1},"asInt":"1"}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asDouble":[1,2]}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asInt":true}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[{"key":"a","value":"plain"}],"timeUnixNano":"$T","asInt":"1"}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.sum","sum":{"isMonotonic":"yes","dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asInt":"1"}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asInt":"1","flags":"1"}]}}]}]}]}"#,
    ];
    let mut ls: Vec<String> = docs.iter().map(|d| tpl(n, d)).collect();
    ls.push(good(n, 0, 1));
    v.push(case(
        n,
        "wrong JSON types",
        &["wrong_type"],
        1,
        "14 documents each with one OTLP field of the wrong JSON type (string for array, map for array, number for object, object for array, null for object, number for string, object for integer, array for double, bool for integer, string for AnyValue, string for bool, string for flags), then a good line",
        "each is rejected as wrong_type at its line and column; the good line lands",
        lines(&ls),
    ));
    let n = "json_numbers_out_of_range.jsonl";
    let docs = [
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asInt":"99999999999999999999"}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asInt":99999999999999999999}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asInt":"1","flags":1099511627776}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.sum","sum":{"aggregationTemporality":1099511627776,"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asInt":"1"}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.sum","sum":{"aggregationTemporality":"BOGUS","dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asInt":"1"}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.histogram","histogram":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","count":"-1"}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.exp","exponentialHistogram":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","scale":1099511627776}]}}]}]}]}"#,
    ];
    let mut ls: Vec<String> = docs.iter().map(|d| tpl(n, d)).collect();
    ls.push(tpl(
        n,
        &format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"hostile.gauge","gauge":{{"dataPoints":[{{"attributes":[$A],"timeUnixNano":"$T","asDouble":1{}}}]}}}}]}}]}}]}}"#,
            "0".repeat(400)
        ),
    ));
    ls.push(good(n, 0, 1));
    v.push(case(
        n,
        "wrong JSON types",
        &["wrong_type", "invalid_json"],
        1,
        "numbers out of range: int64 over 2^63 as string and number, flags and temporality over 32 bits, an unknown temporality name, a negative count, a huge scale, a 401-digit double; then a good line",
        "each is rejected at its line; a number no double can hold is a JSON syntax error",
        lines(&ls),
    ));
    let n = "json_duplicate_keys.jsonl";
    let dup_doc = format!(
        r#"{{"resourceMetrics":[],"resourceMetrics":{}}}"#,
        &good(n, 9, 1)["{\"resourceMetrics\":".len()..good(n, 9, 1).len() - 1]
    );
    let docs = [
        dup_doc,
        tpl(
            n,
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","timeUnixNano":"$T","asInt":"1"}]}}]}]}]}"#,
        ),
        r#"{"resourceMetrics":[],"resource_metrics":[]}"#.to_string(),
        gauge_doc(
            r#"{"attributes":[{"key":"dup","value":{"stringValue":"first"}},{"key":"dup","value":{"stringValue":"second"}}]}"#,
            "hostile.gauge",
            &[dp(n, 0, r#""asInt":"1""#)],
        ),
        gauge_doc(
            NODE,
            "hostile.gauge",
            &[dp(n, 1, r#""asInt":"1""#), dp(n, 1, r#""asInt":"1""#)],
        ),
    ];
    let mut c = case(
        n,
        "duplicates",
        &["wrong_type"],
        2,
        "a repeated `resourceMetrics` key, a repeated `timeUnixNano`, a key and its snake_case alias together; then a repeated attribute key, and one point twice",
        "repeated fields are rejected as wrong_type; a repeated attribute keeps the last value; the twice-given point lands once",
        lines(&docs),
    );
    c.duplicates = 1;
    v.push(c);
}

fn non_finite_and_time(v: &mut Vec<Case>) {
    let n = "json_nan_inf.jsonl";
    let m = |rest: &str| gauge_doc(NODE, "hostile.gauge", &[dp(n, 5, rest)]);
    v.push(case(
        n,
        "NaN and infinities",
        &["invalid_json", "wrong_type"],
        4,
        "`\"NaN\"`, `\"Infinity\"`, `\"-Infinity\"` as OTLP/JSON doubles and as histogram bounds (valid); bare `NaN`, `-Infinity` and `1e999` number literals; `\"not-a-number\"`, `timeUnixNano: \"NaN\"`, `asInt: \"Infinity\"`",
        "the OTLP/JSON spellings land as non-finite doubles; bare literals are not JSON; the rest are wrong types",
        lines(&[
            gauge_doc(
                NODE,
                "hostile.gauge",
                &[
                    dp(n, 0, r#""asDouble":"NaN""#),
                    dp(n, 1, r#""asDouble":"Infinity""#),
                    dp(n, 2, r#""asDouble":"-Infinity""#),
                ],
            ),
            tpl(
                n,
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.histogram","histogram":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","count":"3","sum":"Infinity","bucketCounts":["1","2"],"explicitBounds":["-Infinity"]}]}}]}]}]}"#,
            ),
            m(r#""asDouble":NaN"#),
            m(r#""asDouble":-Infinity"#),
            m(r#""asDouble":1e999"#),
            m(r#""asDouble":"not-a-number""#),
            tpl(
                n,
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"NaN","asInt":"1"}]}}]}]}]}"#,
            ),
            m(r#""asInt":"Infinity""#),
        ]),
    ));
    let n = "json_negative_timestamps.jsonl";
    let at = |time: &str| {
        tpl(
            n,
            &format!(
                r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"hostile.gauge","gauge":{{"dataPoints":[{{"attributes":[$A],"timeUnixNano":{time},"asInt":"1"}}]}}}}]}}]}}]}}"#
            ),
        )
    };
    v.push(case(
        n,
        "timestamps",
        &["wrong_type", "missing_time", "time_before_2000"],
        1,
        "timeUnixNano `\"-1\"`, `-1`, `-1.5e18`, a negative startTimeUnixNano, `\"0\"` and `1` (1970); then a good line",
        "negative values do not fit the unsigned field (wrong_type); 0 is a missing time; 1970 is before the lake's range",
        lines(&[
            at(r#""-1""#),
            at("-1"),
            at("-1.5e18"),
            tpl(
                n,
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{"attributes":[$A],"startTimeUnixNano":-5,"timeUnixNano":"$T","asInt":"1"}]}}]}]}]}"#,
            ),
            at(r#""0""#),
            at("1"),
            good(n, 0, 1),
        ]),
    ));
    let n = "json_far_future_timestamps.jsonl";
    let at = |time: &str| {
        tpl(
            n,
            &format!(
                r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"hostile.gauge","gauge":{{"dataPoints":[{{"attributes":[$A],"timeUnixNano":{time},"asInt":"1"}}]}}}}]}}]}}]}}"#
            ),
        )
    };
    v.push(case(
        n,
        "timestamps",
        &["time_in_future", "wrong_type"],
        1,
        "timeUnixNano u64::MAX (year 2554), 2^64 (overflow), 2100-01-01, `1e30`, 2030-01-03 (a day past the clock's day); then a good line",
        "times past now + --max-future are rejected per point; values beyond 64 bits are wrong types",
        lines(&[
            at(r#""18446744073709551615""#),
            at(r#""18446744073709551616""#),
            at("4102444800000000000"),
            at("1e30"),
            at(r#""1893628800000000000""#),
            good(n, 0, 1),
        ]),
    ).at("line 1"));
}

fn structure(v: &mut Vec<Case>) {
    let n = "json_empty_resource_metrics.jsonl";
    v.push(case(
        n,
        "missing resource, empty resourceMetrics",
        &["not_otlp_metrics", "metric_without_data", "missing_time"],
        0,
        "empty `resourceMetrics`, an empty ResourceMetrics, an empty ScopeMetrics, `resourceMetrics: null`, a metric without data, a gauge without points, a data point without fields",
        "empty containers are valid and hold nothing; null is no export; a metric without data and a point without a time are counted rejections",
        lines(&[
            r#"{"resourceMetrics":[]}"#,
            r#"{"resourceMetrics":[{}]}"#,
            r#"{"resourceMetrics":[{"scopeMetrics":[{}]}]}"#,
            r#"{"resourceMetrics":null}"#,
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{}]}]}]}"#,
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{}}]}]}]}"#,
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"hostile.gauge","gauge":{"dataPoints":[{}]}}]}]}]}"#,
        ]),
    ).at("line 4"));
    let n = "json_missing_resource.jsonl";
    let no_name = tpl(
        n,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"attributes":[$A],"timeUnixNano":"$T","asInt":"1"}]}}]}]}]}"#,
    );
    v.push(case(
        n,
        "missing resource, empty resourceMetrics",
        &["wrong_type", "missing_metric_name"],
        4,
        "points without `resource`, with `resource: null` and `resource: {}` (valid); `resource: \"none\"`, `scope: 5`; a metric without a name",
        "a missing resource is an empty one; wrong types are rejected; a point without a metric name is rejected",
        lines(&[
            gauge_doc("{}", "hostile.gauge", &[dp(n, 0, r#""asInt":"1""#)]),
            gauge_doc("null", "hostile.gauge", &[dp(n, 1, r#""asInt":"1""#)]),
            format!(
                r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"hostile.gauge","gauge":{{"dataPoints":[{},{}]}}}}]}}]}}]}}"#,
                dp(n, 2, r#""asInt":"1""#),
                dp(n, 3, r#""asInt":"1""#)
            ),
            gauge_doc(r#""none""#, "hostile.gauge", &[dp(n, 4, r#""asInt":"1""#)]),
            tpl(
                n,
                r#"{"resourceMetrics":[{"scopeMetrics":[{"scope":5,"metrics":[]}]}]}"#,
            ),
            no_name,
        ]),
    ));
    let n = "proto_empty_requests.binpb";
    let no_data = preq(
        None,
        vec![pb::Metric {
            name: "hostile.no_data".to_string(),
            description: String::new(),
            unit: String::new(),
            data: None,
            metadata: Vec::new(),
        }],
    );
    let bare_rm = pb::ExportMetricsServiceRequest {
        resource_metrics: vec![pb::ResourceMetrics::default()],
    };
    v.push(case(
        n,
        "missing resource, empty resourceMetrics",
        &["metric_without_data"],
        1,
        "protobuf records: an empty request, a ResourceMetrics with nothing in it, a metric without data, a point without a resource",
        "empty messages hold nothing; the metric without data is counted; the point lands",
        pframed(&[
            pb::ExportMetricsServiceRequest::default(),
            bare_rm,
            no_data,
            preq(None, vec![pmetric("hostile.gauge", vec![pnum(n, ts(0), 1.0)])]),
        ]),
    ));
    let n = "proto_all_zero.bin";
    v.push(case(
        n,
        "empty",
        &["no_points"],
        0,
        "4096 zero bytes (a preallocated or crash-zeroed file)",
        "it parses as 1024 empty protobuf records: no data point and no error, which is reported",
        vec![0u8; 4096],
    ));
    let n = "proto_timestamps.binpb";
    v.push(
        case(
            n,
            "timestamps",
            &["time_in_future", "time_before_2000", "missing_time"],
            1,
            "protobuf points at fixed64 2^64-1 (int64 -1), 1 ns (1970) and 0, and one good point",
            "each bad time is rejected per point; the good one lands",
            pframed(&[preq(
                Some(vec![pkv("k8s.node.name", "hostile-node")]),
                vec![pmetric(
                    "hostile.gauge",
                    vec![
                        pnum(n, u64::MAX, 1.0),
                        pnum(n, 1, 2.0),
                        pnum(n, 0, 3.0),
                        pnum(n, ts(0), 4.0),
                    ],
                )],
            )]),
        )
        .at("record 1 (byte 0)"),
    );
    let n = "proto_nan_inf.binpb";
    v.push(case(
        n,
        "NaN and infinities",
        &["missing_time"],
        3,
        "protobuf points with NaN, +Inf and -Inf doubles, and one point without a time",
        "non-finite doubles are valid values and land; the point without a time is rejected",
        pframed(&[preq(
            None,
            vec![pmetric(
                "hostile.gauge",
                vec![
                    pnum(n, ts(0), f64::NAN),
                    pnum(n, ts(1), f64::INFINITY),
                    pnum(n, ts(2), f64::NEG_INFINITY),
                    pnum(n, 0, 1.0),
                ],
            )],
        )]),
    ));
    let n = "proto_duplicate_fields.binpb";
    // Two encoded requests back to back are one message to protobuf (repeated fields append).
    let merged = [pgood(n, 0, 1).encode_to_vec(), pgood(n, 1, 1).encode_to_vec()].concat();
    let mut b = Vec::new();
    frame(&merged, &mut b);
    b.extend_from_slice(&[0, 0]);
    v.push(case(
        n,
        "duplicates",
        &["truncated"],
        2,
        "one protobuf record holding two concatenated requests (repeated fields given twice), then 2 stray bytes",
        "protobuf merges repeated fields: both points land; the 2 bytes are too short for a length prefix",
        b,
    ));
}

fn encoding(v: &mut Vec<Case>) {
    let n = "json_invalid_utf8.jsonl";
    let mut b = lines(&[good(n, 0, 1)]);
    for bad in [&b"\xff\xfe"[..], b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80"] {
        let doc = gauge_doc(
            r#"{"attributes":[{"key":"a","value":{"stringValue":"@"}}]}"#,
            "hostile.gauge",
            &[dp(n, 9, r#""asInt":"1""#)],
        );
        let (pre, post) = doc.split_once('@').expect("marker");
        b.extend_from_slice(pre.as_bytes());
        b.extend_from_slice(bad);
        b.extend_from_slice(post.as_bytes());
        b.push(b'\n');
    }
    b.extend(lines(&[good(n, 1, 1)]));
    v.push(case(
        n,
        "invalid UTF-8",
        &["invalid_json"],
        2,
        "JSON strings holding invalid UTF-8: `ff fe`, a cut 2-byte sequence, an overlong `/`, an encoded surrogate; good lines around them",
        "each line with invalid UTF-8 is rejected at its line and column; the good lines land",
        b,
    ));
    let n = "json_bom_crlf.jsonl";
    let mut b = b"\xef\xbb\xbf".to_vec();
    for l in [good(n, 0, 1), good(n, 1, 1), "{\"resourceMetrics\": [".to_string()] {
        b.extend_from_slice(l.as_bytes());
        b.extend_from_slice(b"\r\n");
    }
    v.push(
        case(
            n,
            "BOM, CRLF, NUL",
            &["truncated"],
            2,
            "a UTF-8 byte order mark, CRLF line ends, 2 good lines and an unfinished one",
            "the BOM and CRs are ignored (RFC 8259 allows ignoring a BOM): both good lines land; line 3 ends early",
            b,
        )
        .at("line 3"),
    );
    let n = "json_utf16.json";
    let mut b = vec![0xff, 0xfe];
    for u in good(n, 0, 1).encode_utf16() {
        b.extend_from_slice(&u.to_le_bytes());
    }
    v.push(case(
        n,
        "BOM, CRLF, NUL",
        &["invalid_protobuf"],
        0,
        "an export in UTF-16LE with its BOM",
        "OTLP/JSON is UTF-8; the bytes are neither JSON, CSV nor protobuf",
        b,
    ));
    let n = "json_null_bytes.jsonl";
    let mut b = lines(&[good(n, 0, 1)]);
    let doc = good(n, 5, 1);
    let (pre, post) = doc.split_at(doc.find("hostile-node").expect("node"));
    b.extend_from_slice(pre.as_bytes());
    b.push(0);
    b.extend_from_slice(post.as_bytes());
    b.push(b'\n');
    b.extend_from_slice(b"\0");
    b.extend(lines(&[good(n, 6, 1)]));
    b.extend(lines(&[gauge_doc(
        r#"{"attributes":[{"key":"nul","value":{"stringValue":"a\u0000b"}}]}"#,
        "hostile.gauge",
        &[dp(n, 1, r#""asInt":"1""#)],
    )]));
    v.push(case(
        n,
        "BOM, CRLF, NUL",
        &["invalid_json"],
        2,
        "a raw NUL inside a string, a NUL before a document, an escaped `\\u0000` in a value, a good line",
        "raw control characters are not JSON (rejected at their line); the escaped NUL is a valid string and lands",
        b,
    ));
    let n = "csv_bom_crlf.csv";
    let mut b = b"\xef\xbb\xbf".to_vec();
    for l in [
        "_time,metric_name,_value,corpus.case,host".to_string(),
        format!("1790000000,hostile.csv,1,{n},h1"),
        format!("1790000001,hostile.csv,2,{n},h1"),
        format!("1790000002,hostile.csv,three,{n},h1"),
    ] {
        b.extend_from_slice(l.as_bytes());
        b.extend_from_slice(b"\r\n");
    }
    v.push(case(
        n,
        "BOM, CRLF, NUL",
        &["bad_value"],
        2,
        "a Splunk CSV with a BOM and CRLF line ends, 2 good rows and a row with `_value` `three`",
        "BOM and CRLF are accepted; the bad value is rejected at its line",
        b,
    ));
    let n = "csv_null_bytes.csv";
    let b = [
        b"_time,metric_name,_value,corpus.case,host\n".to_vec(),
        format!("1790000000,hostile.csv,1\0,{n},h1\n").into_bytes(),
        format!("17900\x0000001,hostile.csv,2,{n},h1\n").into_bytes(),
        format!("1790000002,hostile.csv,3,{n},h\0st\n").into_bytes(),
    ]
    .concat();
    v.push(
        case(
            n,
            "BOM, CRLF, NUL",
            &["bad_value", "bad_time"],
            1,
            "Splunk CSV rows with a NUL in `_value`, in `_time`, and in a dimension",
            "a NUL makes a number or time unparseable (rejected at its line); in a dimension it is just text",
            b,
        )
        .at("line 2"),
    );
    let n = "csv_invalid_utf8.csv";
    let b = [
        b"_time,metric_name,_value,corpus.case,host\n".to_vec(),
        format!("1790000000,hostile.csv,1,{n},h1\n").into_bytes(),
        [
            b"1790000001,hostile.csv,2,".to_vec(),
            n.as_bytes().to_vec(),
            b",h\xff\xfe\n".to_vec(),
        ]
        .concat(),
        [
            b"1790000002,hostile.\xc3,3,".to_vec(),
            n.as_bytes().to_vec(),
            b",h1\n".to_vec(),
        ]
        .concat(),
        format!("1790000003,hostile.csv,4,{n},h1\n").into_bytes(),
    ]
    .concat();
    v.push(case(
        n,
        "invalid UTF-8",
        &["invalid_utf8"],
        2,
        "Splunk CSV rows with invalid UTF-8 in a dimension and in `metric_name`",
        "each such row is rejected at its line naming the column; the good rows land",
        b,
    ));
    let n = "csv_invalid_utf8_header.csv";
    let b = [
        b"_time,metric_name,_value,corpus.case,ho\xffst\n".to_vec(),
        format!("1790000000,hostile.csv,1,{n},h1\n").into_bytes(),
        format!("1790000001,hostile.csv,2,{n},h1\n").into_bytes(),
    ]
    .concat();
    v.push(case(
        n,
        "invalid UTF-8",
        &["invalid_utf8"],
        2,
        "a Splunk CSV whose header has a column name with invalid UTF-8",
        "the header problem is reported at line 1 (the name is decoded lossily); the rows land",
        b,
    ));
}

fn huge(v: &mut Vec<Case>) {
    let n = "json_huge_attribute_value.json";
    let blob = "A".repeat(8 << 20);
    let dps: Vec<String> = (0..20).map(|i| dp(n, i, r#""asInt":"1""#)).collect();
    v.push(case(
        n,
        "multi-megabyte strings",
        &["too_long"],
        1,
        "20 points whose resource has an 8 MiB attribute value, then a good line",
        "attributes over 1 MiB would be copied into every row: each point is rejected as too_long",
        lines(&[
            gauge_doc(
                &format!(r#"{{"attributes":[{{"key":"hostile.blob","value":{{"stringValue":"{blob}"}}}}]}}"#),
                "hostile.gauge",
                &dps,
            ),
            good(n, 100, 1),
        ]),
    ));
    let n = "json_huge_metric_name.json";
    let dps: Vec<String> = (0..20).map(|i| dp(n, i, r#""asInt":"1""#)).collect();
    v.push(case(
        n,
        "multi-megabyte strings",
        &["too_long"],
        1,
        "a metric with a 4 MiB name and 20 points, then a good line",
        "metric names over 1 KiB (OTel allows 255 characters) are rejected as too_long",
        lines(&[gauge_doc(NODE, &"m".repeat(4 << 20), &dps), good(n, 100, 1)]),
    ));
    let n = "json_huge_attribute_key.json";
    v.push(case(
        n,
        "multi-megabyte strings",
        &["too_long"],
        1,
        "a point whose attribute key is 2 MiB long, then a good line",
        "the point's attributes exceed 1 MiB: too_long",
        lines(&[
            gauge_doc(
                &format!(
                    r#"{{"attributes":[{{"key":"{}","value":{{"stringValue":"v"}}}}]}}"#,
                    "k".repeat(2 << 20)
                ),
                "hostile.gauge",
                &[dp(n, 0, r#""asInt":"1""#)],
            ),
            good(n, 100, 1),
        ]),
    ));
    let n = "json_huge_escaped_path.json";
    v.push(case(
        n,
        "multi-megabyte strings",
        &["too_long"],
        1,
        "a `process.executable.path` of a million `\\u0041` escapes (6 MB of JSON, 1 MiB decoded), then a good line",
        "a promoted attribute over 4 KiB (Linux PATH_MAX) is rejected as too_long",
        lines(&[
            gauge_doc(
                &format!(
                    r#"{{"attributes":[{{"key":"process.executable.path","value":{{"stringValue":"/{}"}}}}]}}"#,
                    "\\u0041".repeat(1 << 20)
                ),
                "process.memory.usage",
                &[dp(n, 0, r#""asInt":"1""#)],
            ),
            good(n, 100, 1),
        ]),
    ));
    let n = "proto_huge_strings.binpb";
    v.push(case(
        n,
        "multi-megabyte strings",
        &["too_long"],
        1,
        "protobuf: 5 points with an 8 MiB resource attribute, then a good record",
        "each point of the huge resource is rejected as too_long; the good record lands",
        pframed(&[
            preq(
                Some(vec![pkv("hostile.blob", &"B".repeat(8 << 20))]),
                vec![pmetric("hostile.gauge", (0..5).map(|i| pnum(n, ts(i), 1.0)).collect())],
            ),
            pgood(n, 100, 1),
        ]),
    ));
    let n = "csv_huge_cells.csv";
    let b = [
        b"_time,metric_name,_value,corpus.case,host\n".to_vec(),
        format!("1790000000,{},1,{n},h1\n", "m".repeat(4 << 20)).into_bytes(),
        format!("1790000001,hostile.csv,2,{n},h1\n").into_bytes(),
        format!("1790000002,hostile.csv,3,{n},{}\n", "h".repeat(8 << 20)).into_bytes(),
    ]
    .concat();
    v.push(case(
        n,
        "multi-megabyte strings",
        &["too_long"],
        1,
        "Splunk CSV with a 4 MiB `metric_name` cell and an 8 MiB `host` cell",
        "both rows are rejected as too_long; the good row lands",
        b,
    ));
    // Deep nesting.
    let n = "json_deep_arrays.json";
    let mut s = "[".repeat(100_000);
    s.push_str(&"]".repeat(100_000));
    v.push(
        case(
            n,
            "deep nesting",
            &["wrong_type"],
            1,
            "100,000 nested JSON arrays, then a good line",
            "rejected at the first array that cannot be an OTLP field, without recursing 100,000 deep",
            lines(&[s, good(n, 0, 1)]),
        )
        .at("line 1, column 6"),
    );
    let n = "json_deep_objects.json";
    let mut s = "{\"a\":".repeat(100_000);
    s.push('1');
    s.push_str(&"}".repeat(100_000));
    v.push(case(
        n,
        "deep nesting",
        &["not_otlp_metrics"],
        1,
        "100,000 nested JSON objects under an unknown key, then a good line",
        "unknown fields are skipped without recursion; a document without resourceMetrics is not OTLP",
        lines(&[s, good(n, 0, 1)]),
    ));
    let n = "json_deep_any_value.json";
    let s = format!(
        "{}{{\"stringValue\":\"x\"}}{}",
        "{\"arrayValue\":{\"values\":[".repeat(100_000),
        "]}}".repeat(100_000)
    );
    v.push(case(
        n,
        "deep nesting",
        &["invalid_json"],
        1,
        "an attribute whose AnyValue nests 100,000 arrayValues, then a good line",
        "the JSON parser's recursion limit (128) stops it: rejected at its column, no stack overflow",
        lines(&[
            gauge_doc(
                &format!(r#"{{"attributes":[{{"key":"deep","value":{s}}}]}}"#),
                "hostile.gauge",
                &[dp(n, 1, r#""asInt":"1""#)],
            ),
            good(n, 0, 1),
        ]),
    ));
    let n = "proto_deep_nesting.binpb";
    let mut b = pframed(&[pgood(n, 0, 1)]);
    frame(&request_with_resource_value("deep", &deep_any_value(100_000)), &mut b);
    v.push(case(
        n,
        "deep nesting",
        &["invalid_protobuf"],
        1,
        "a good protobuf record, then one whose resource attribute nests 100,000 AnyValue arrays",
        "protobuf decoding stops at its recursion limit (100): record 2 is rejected, no stack overflow",
        b,
    ));
}

fn protobuf(v: &mut Vec<Case>) {
    let n = "proto_framed_bad_length.binpb";
    let mut b = pframed(&[pgood(n, 0, 2)]);
    b.extend_from_slice(&[0x40, 0, 0, 0]);
    b.extend_from_slice(&[0x0a; 10]);
    v.push(case(
        n,
        "protobuf bogus lengths",
        &["bad_length"],
        2,
        "a good framed record, then a length prefix claiming 1 GiB with 10 bytes left",
        "the first record lands; record 2's length runs past the end",
        b,
    ));
    let n = "proto_frame_length_max.binpb";
    let mut b = pframed(&[pgood(n, 0, 1)]);
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0a, 0x00]);
    v.push(case(
        n,
        "protobuf bogus lengths",
        &["bad_length"],
        1,
        "a good framed record, then a length prefix of 2^32-1",
        "the first record lands; the length is never allocated",
        b,
    ));
    let n = "proto_truncated_tail.binpb";
    let mut b = pframed(&[pgood(n, 0, 1)]);
    b.extend_from_slice(&[0x00, 0x00]);
    v.push(case(
        n,
        "protobuf bogus lengths",
        &["truncated"],
        1,
        "a good framed record and 2 trailing bytes",
        "too short for a length prefix: truncated at record 2",
        b,
    ));
    let n = "proto_varint_overflow.binpb";
    let mut b = vec![0x0a];
    b.extend_from_slice(&[0xff; 11]);
    b.push(0x01);
    v.push(
        case(
            n,
            "protobuf bogus lengths",
            &["invalid_protobuf"],
            0,
            "a bare request whose first length varint runs 12 bytes (over 64 bits)",
            "an invalid varint: the message is rejected at byte 0",
            b,
        )
        .at("byte 0"),
    );
    let n = "proto_varint_overflow_in_record.binpb";
    let mut b = pframed(&[pgood(n, 0, 1)]);
    let mut bad = pgood(n, 1, 1).encode_to_vec();
    bad.push(0x78);
    bad.extend_from_slice(&[0xff; 10]);
    bad.push(0x01);
    frame(&bad, &mut b);
    v.push(case(
        n,
        "protobuf bogus lengths",
        &["invalid_protobuf"],
        1,
        "a good framed record, then a record ending in an unknown varint field of 12 bytes",
        "record 1 lands; record 2 is rejected",
        b,
    ));
    let n = "proto_nested_length_beyond.binpb";
    let mut b = pframed(&[pgood(n, 0, 1)]);
    frame(&[0x0a, 0x05, 0x12, 0x64, 0x0a, 0x00, 0x00], &mut b);
    v.push(case(
        n,
        "protobuf bogus lengths",
        &["invalid_protobuf"],
        1,
        "a good framed record, then one whose ScopeMetrics claims 100 bytes inside a 5-byte ResourceMetrics",
        "the nested length runs past its parent: record 2 is rejected",
        b,
    ));
    let n = "proto_length_beyond_bare.binpb";
    let mut b = vec![0x0a, 0x80, 0x80, 0x04];
    b.extend_from_slice(&pgood(n, 0, 1).encode_to_vec());
    v.push(case(
        n,
        "protobuf bogus lengths",
        &["invalid_protobuf"],
        0,
        "a bare request whose ResourceMetrics claims 65,536 bytes, followed by far fewer",
        "neither framed nor a whole message: rejected at byte 0",
        b,
    ));
    let n = "proto_wrong_wire_type.binpb";
    let mut b = pframed(&[pgood(n, 0, 1)]);
    frame(&[0x08, 0x01], &mut b);
    v.push(case(
        n,
        "protobuf bogus lengths",
        &["invalid_protobuf"],
        1,
        "a good framed record, then one giving resourceMetrics (a message) as a varint",
        "a wire type mismatch: record 2 is rejected",
        b,
    ));
    let n = "proto_invalid_utf8.binpb";
    let mut b = pframed(&[pgood(n, 0, 1)]);
    let mut bad = pgood(n, 1, 1).encode_to_vec();
    let at = bad
        .windows(b"hostile.gauge".len())
        .position(|w| w == b"hostile.gauge")
        .expect("metric name");
    bad[at + 7] = 0xff;
    frame(&bad, &mut b);
    v.push(case(
        n,
        "invalid UTF-8",
        &["invalid_protobuf"],
        1,
        "a good framed record, then one whose metric name holds the byte `ff`",
        "protobuf strings are UTF-8: record 2 is rejected",
        b,
    ));
    let n = "proto_bad_zstd_record.binpb";
    let mut b = pframed(&[pgood(n, 0, 1)]);
    let mut bad = vec![0x28, 0xb5, 0x2f, 0xfd];
    bad.extend(noise(64, 3));
    frame(&bad, &mut b);
    v.push(case(
        n,
        "corrupt zstd",
        &["corrupt_compression"],
        1,
        "a good framed record, then a record of zstd magic and noise",
        "record 2's zstd payload does not decompress",
        b,
    ));
}

fn csv(v: &mut Vec<Case>) {
    const H: &str = "_time,metric_name,_value,corpus.case,host";
    let n = "csv_ragged_rows.csv";
    v.push(case(
        n,
        "CSV ragged rows",
        &["ragged_row"],
        2,
        "a Splunk CSV with a row one field short and a row one field long",
        "rows whose width differs from the header are rejected at their line",
        lines(&[
            H.to_string(),
            format!("1790000000,hostile.csv,1,{n},h1"),
            format!("1790000001,hostile.csv,2,{n}"),
            format!("1790000002,hostile.csv,3,{n},h1,extra"),
            format!("1790000003,hostile.csv,4,{n},h1"),
        ]),
    ));
    let n = "csv_blank_lines.csv";
    v.push(
        case(
            n,
            "CSV ragged rows",
            &["bad_value"],
            2,
            "a Splunk CSV with blank lines (LF and CRLF) between its rows and a bad value on line 6",
            "blank lines are skipped and counted: the bad row is reported at its physical line",
            lines(&[
                H.to_string(),
                format!("1790000000,hostile.csv,1,{n},h1"),
                String::new(),
                "\r".to_string(),
                format!("1790000001,hostile.csv,2,{n},h1"),
                format!("1790000002,hostile.csv,x,{n},h1"),
            ]),
        )
        .at("line 6"),
    );
    let n = "csv_unterminated_quote.csv";
    v.push(case(
        n,
        "CSV ragged rows",
        &["ragged_row"],
        1,
        "a Splunk CSV whose second row opens a quote that never closes",
        "the quoted field swallows the rest of the file: a ragged row at line 3",
        lines(&[
            H.to_string(),
            format!("1790000000,hostile.csv,1,{n},h1"),
            format!("1790000001,\"hostile.csv,2,{n},h1"),
            format!("1790000002,hostile.csv,3,{n},h1"),
        ]),
    ));
    let n = "csv_duplicate_columns.csv";
    v.push(case(
        n,
        "duplicates",
        &["ragged_row"],
        2,
        "a Splunk CSV header naming `host` and `_time` twice; 2 good rows and a short one",
        "the first `_time` is the time (the second is kept as `splunk.time`); the later `host` wins; the short row is rejected",
        lines(&[
            "_time,metric_name,_value,corpus.case,host,host,_time".to_string(),
            format!("1790000000,hostile.csv,1,{n},h1,h2,x"),
            format!("1790000001,hostile.csv,2,{n},h1,h2,y"),
            format!("1790000002,hostile.csv,3,{n},h1"),
        ]),
    ));
    let n = "csv_bad_numbers.csv";
    v.push(case(
        n,
        "CSV bad numbers and times",
        &["bad_value"],
        2,
        "Splunk CSV `_value`s `abc`, `\"1,5\"`, `0x10`, `--1`, `1e`, empty and `12`",
        "non-numbers are rejected at their line; an empty value is a point without a value; 12 lands",
        lines(&[
            H.to_string(),
            format!("1790000000,hostile.csv,abc,{n},h1"),
            format!("1790000001,hostile.csv,\"1,5\",{n},h1"),
            format!("1790000002,hostile.csv,0x10,{n},h1"),
            format!("1790000003,hostile.csv,--1,{n},h1"),
            format!("1790000004,hostile.csv,1e,{n},h1"),
            format!("1790000005,hostile.csv,,{n},h1"),
            format!("1790000006,hostile.csv,12,{n},h1"),
        ]),
    ));
    let n = "csv_mstats_bad_numbers.csv";
    v.push(case(
        n,
        "CSV bad numbers and times",
        &["bad_value"],
        4,
        "an `mstats` CSV (`avg(...)`, `max(...)` columns) with non-numeric cells next to good ones",
        "a bad cell loses only its own point; empty cells are no data",
        lines(&[
            "_time,host,avg(hostile.cpu),max(hostile.cpu),corpus.case".to_string(),
            format!("1790000000,h1,1.5,2.5,{n}"),
            format!("1790000060,h1,abc,3,{n}"),
            format!("1790000120,h1,,,{n}"),
            format!("1790000180,h1,NaN%,inf,{n}"),
        ]),
    ));
    let n = "csv_nan_inf.csv";
    v.push(case(
        n,
        "NaN and infinities",
        &["bad_value"],
        3,
        "Splunk CSV `_value`s `NaN`, `inf`, `-Infinity` and `NaN%`",
        "non-finite spellings land as doubles; `NaN%` is rejected",
        lines(&[
            H.to_string(),
            format!("1790000000,hostile.csv,NaN,{n},h1"),
            format!("1790000001,hostile.csv,inf,{n},h1"),
            format!("1790000002,hostile.csv,-Infinity,{n},h1"),
            format!("1790000003,hostile.csv,NaN%,{n},h1"),
        ]),
    ));
    let n = "csv_bad_times.csv";
    v.push(case(
        n,
        "CSV bad numbers and times",
        &["bad_time", "missing_time", "time_in_future"],
        3,
        "Splunk CSV `_time`s `yesterday`, month 13, a negative epoch, no UTC offset, `1e10`, empty, `0`, the year 2100; and 3 good ones",
        "unparseable times are bad_time at their line; 0 is a missing time; 2100 is in the future",
        lines(&[
            H.to_string(),
            format!("yesterday,hostile.csv,1,{n},h1"),
            format!("2026-13-45T00:00:00Z,hostile.csv,1,{n},h1"),
            format!("-1790000000,hostile.csv,1,{n},h1"),
            format!("2026-09-21 14:00:00,hostile.csv,1,{n},h1"),
            format!("1e10,hostile.csv,1,{n},h1"),
            format!(",hostile.csv,1,{n},h1"),
            format!("0,hostile.csv,1,{n},h1"),
            format!("4102444800,hostile.csv,1,{n},h1"),
            format!("1790000000,hostile.csv,1,{n},h1"),
            format!("1790000001.5,hostile.csv,1,{n},h1"),
            format!("2026-09-21T14:00:00Z,hostile.csv,1,{n},h1"),
        ]),
    ).at("line 2"));
    let n = "csv_header_only.csv";
    v.push(case(
        n,
        "empty",
        &["empty"],
        0,
        "a Splunk CSV header and no rows",
        "nothing to land: reported as empty at line 1",
        lines(&[H]),
    ));
    let n = "csv_not_splunk.csv";
    v.push(case(
        n,
        "binary garbage",
        &["invalid_protobuf"],
        0,
        "a CSV without Splunk's `_time` and value columns",
        "not a format kubeseen reads: the last guess, protobuf, fails at byte 0",
        lines(&["name,value", "foo,1"]),
    ));
}

fn garbage(v: &mut Vec<Case>) {
    v.push(case(
        "empty.json",
        "empty",
        &["empty"],
        0,
        "0 bytes",
        "nothing to decode",
        Vec::new(),
    ));
    v.push(case(
        "whitespace_only.json",
        "empty",
        &["empty"],
        0,
        "spaces, tabs, CR and LF only",
        "no JSON document in it",
        b" \t\r\n  \n\n\t \r\n".to_vec(),
    ));
    v.push(case(
        "gzip_of_nothing.gz",
        "empty",
        &["empty"],
        0,
        "a valid gzip stream of 0 bytes",
        "decompresses to nothing",
        gzip(b""),
    ));
    v.push(case(
        "zstd_of_whitespace.zst",
        "empty",
        &["empty"],
        0,
        "a valid zstd frame of 1,000 newlines",
        "decompresses to white space only",
        zstd(&[b'\n'; 1000]),
    ));
    v.push(case(
        "garbage_random.bin",
        "binary garbage",
        &["invalid_protobuf"],
        0,
        "4 KiB of pseudo-random bytes",
        "no format matches: rejected at byte 0",
        noise(4096, 0x9e37_79b9_7f4a_7c15),
    ));
    v.push(case(
        "garbage_text.txt",
        "binary garbage",
        &["invalid_protobuf"],
        0,
        "a plain-text note",
        "no format matches: rejected at byte 0",
        b"This is not an export.\nSomeone left a note in the export bucket.\n".to_vec(),
    ));
    v.push(case(
        "garbage_html.html",
        "binary garbage",
        &["invalid_protobuf"],
        0,
        "an HTML error page saved in place of an export",
        "no format matches: rejected at byte 0",
        b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>AccessDenied</body></html>\n".to_vec(),
    ));
    let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elf.extend(noise(1024, 42));
    v.push(case(
        "garbage_elf.bin",
        "binary garbage",
        &["invalid_protobuf"],
        0,
        "an ELF header followed by noise",
        "no format matches: rejected at byte 0",
        elf,
    ));
}

// ---------------------------------------------------------------------------------------------
// README
// ---------------------------------------------------------------------------------------------

fn readme(cases: &[Case]) -> String {
    let mut s = String::from(
        "# Hostile input corpus\n\n\
         Malformed and adversarial export files that `kubeseen land` must survive: each is rejected\n\
         in whole or in part with a reason and a position (line/column, byte or record) in\n\
         `<lake>/_kubeseen/rejects/`, without crashing, hanging, losing the good data landed with it\n\
         or growing memory past a bound.\n\n\
         Every file is built by `tests/it/hostile.rs`, which also checks this folder against it.\n\
         Files up to 100 KiB are committed here; larger ones (bombs, multi-megabyte strings, deep\n\
         nesting) are *generated* into a temp folder when the test runs. Regenerate both and this\n\
         README with `KUBESEEN_HOSTILE_WRITE=1 cargo test --release --test it hostile`.\n\n\
         The test lands every file alone and all of them together with good exports\n\
         (`kubeseen land --json --max-input-bytes 33554432`, clock 2030-01-01): exit code 3, the\n\
         reasons and landed counts below exactly, every good point landed, counts adding up\n\
         (read = landed + duplicates + rejected) and `peak_rss_bytes` under 512 MiB.\n\n\
         | file | category | stored | what it is | expected reasons | points landed | why |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for c in cases {
        let stored = if c.committed() {
            format!("committed, {} B", c.bytes.len())
        } else {
            format!("generated, {:.1} MiB", c.bytes.len() as f64 / (1 << 20) as f64)
        };
        let dup = if c.duplicates > 0 {
            format!(" (+{} duplicate)", c.duplicates)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {}{} | {} |\n",
            c.name,
            c.category,
            stored,
            c.what.replace('|', "\\|"),
            c.reasons
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", "),
            c.landed,
            dup,
            c.why.replace('|', "\\|"),
        ));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/// Writes every case into `dir` (committed ones copied from `tests/hostile/`).
fn materialize(dir: &Path) {
    std::fs::create_dir_all(dir).expect("corpus dir");
    for c in corpus() {
        let dest = dir.join(c.name);
        if c.committed() {
            std::fs::copy(self::dir().join(c.name), &dest).expect("copy committed corpus file");
        } else {
            std::fs::write(&dest, &c.bytes).expect("write generated corpus file");
        }
    }
}

/// Runs `kubeseen land --json` on `inputs`; a run past [`RUN_TIMEOUT`] is killed and fails.
fn land_json(lake: &Path, inputs: &[&Path], cwd: &Path) -> Result<(i32, serde_json::Value, String), String> {
    let out_path = lake.with_extension("stdout");
    let err_path = lake.with_extension("stderr");
    let mut child = std::process::Command::new(bin())
        .arg("land")
        .arg("--lake")
        .arg(lake)
        .arg("--json")
        .arg("--max-input-bytes")
        .arg(MAX_INPUT.to_string())
        .args(inputs)
        .current_dir(cwd)
        .env_remove("KUBESEEN_LAKE")
        .env("KUBESEEN_NOW", "2030-01-01T00:00:00Z")
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("run kubeseen");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > RUN_TIMEOUT {
            child.kill().expect("kill the hung run");
            child.wait().expect("reap");
            return Err(format!("hung: killed after {RUN_TIMEOUT:?}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out_path).expect("stdout");
    let stderr = String::from_utf8_lossy(&std::fs::read(&err_path).expect("stderr")).to_string();
    let json = serde_json::from_str(&stdout)
        .map_err(|e| format!("exit status {status}, no land --json output ({e}): {stdout}\n{stderr}"))?;
    Ok((status.code().unwrap_or(-1), json, stderr))
}

fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// The rejects records of a lake, by input name.
fn rejects(lake: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    let dir = lake.join("_kubeseen/rejects");
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("entry").path();
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).expect("read record")).expect("record is JSON");
        out.insert(rec["input"].as_str().expect("input").to_string(), rec);
    }
    out
}

/// Reasons that concern a whole input and have no narrower position.
const WHOLE_INPUT_REASONS: [&str; 2] = ["empty", "no_points"];

/// Checks one input's problems against its case: reasons, counts, positions.
fn check_problems(c: &Case, p: &serde_json::Value) -> Result<(), String> {
    let reasons: BTreeSet<&str> = p["reasons"]
        .as_object()
        .ok_or("no reasons")?
        .keys()
        .map(String::as_str)
        .collect();
    let want: BTreeSet<&str> = c.reasons.iter().copied().collect();
    if reasons != want {
        return Err(format!("reasons {reasons:?}, expected {want:?}"));
    }
    let (read, landed, rejected) = (u(p, "points_read"), u(p, "points_landed"), u(p, "points_rejected"));
    if landed != c.landed {
        return Err(format!("{landed} points landed, expected {}", c.landed));
    }
    if read != landed + rejected + c.duplicates {
        return Err(format!(
            "read {read} != landed {landed} + rejected {rejected} + duplicates {}",
            c.duplicates
        ));
    }
    let problems = p["problems"].as_array().ok_or("no problems")?;
    if problems.is_empty() {
        return Err("no problem listed".into());
    }
    if let Some(want) = c.first_at {
        if problems[0]["position"] != want {
            return Err(format!("first problem at {}, expected {want}", problems[0]["position"]));
        }
    }
    for pr in problems {
        let pos = pr["position"].as_str().unwrap_or("");
        let reason = pr["reason"].as_str().unwrap_or("");
        let positioned = ["line ", "byte ", "record "].iter().any(|k| pos.starts_with(k))
            && pos.chars().any(|ch| ch.is_ascii_digit());
        let whole_input = pos == "whole file" && WHOLE_INPUT_REASONS.contains(&reason);
        if !(positioned || whole_input) {
            return Err(format!("problem without a position: {pr}"));
        }
        if pr["detail"].as_str().unwrap_or("").trim().is_empty() {
            return Err(format!("problem without a detail: {pr}"));
        }
    }
    Ok(())
}

/// Good exports: real samples (timestamps moved into range where needed) and hand-made ones
/// in every format, written into `dir`. Returns their paths.
fn good_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("good dir");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples");
    let mut out = vec![samples.join("opentelemetry-proto__metrics.json")];
    for (name, yaml) in [
        (
            "good-process.json",
            "opentelemetry-collector-contrib__expected_process.yaml",
        ),
        (
            "good-host.json",
            "splunk-otel-collector-chart__expected_host_metrics.yaml",
        ),
    ] {
        let text = std::fs::read_to_string(samples.join(yaml)).expect("sample");
        let mut v: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
        shift_times(&mut v, T);
        let f = dir.join(name);
        std::fs::write(&f, v.to_string()).expect("write");
        out.push(f);
    }
    let pts: Vec<P> = (0..40i64)
        .map(|i| {
            let at = t("2026-09-21T12:00:00Z") + chrono::Duration::seconds(i * 30);
            P::new("good", "node-1", &format!("/bin/p{}", i % 4), 100 + i, at)
        })
        .collect();
    let f = dir.join("good-lines.jsonl.gz");
    std::fs::write(&f, gzip(otlp_lines(&pts[..20]).as_bytes())).expect("write");
    out.push(f);
    let f = dir.join("good-lines.jsonl.zst");
    std::fs::write(&f, zstd(otlp_lines(&pts[20..]).as_bytes())).expect("write");
    out.push(f);
    let f = dir.join("good.binpb");
    std::fs::write(&f, pframed(&[pgood("good.binpb", 0, 5), pgood("good.binpb", 5, 5)])).expect("write");
    out.push(f);
    let f = dir.join("good-splunk.csv");
    std::fs::write(
        &f,
        "_time,metric_name,_value,host,k8s.node.name\n1790000000,process.memory.usage,1,h1,node-1\n1790000060,process.memory.usage,2,h1,node-1\n",
    )
    .expect("write");
    out.push(f);
    out
}

/// Moves every `timeUnixNano`/`startTimeUnixNano` string from the samples' 1970 values to
/// `base` + the original offset.
fn shift_times(v: &mut serde_json::Value, base: u64) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "timeUnixNano" || k == "startTimeUnixNano" {
                    if let Some(n) = x.as_str().and_then(|s| s.parse::<u64>().ok()) {
                        *x = serde_json::Value::String((base + n).to_string());
                    }
                } else {
                    shift_times(x, base);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| shift_times(x, base)),
        _ => {}
    }
}

fn reliability_line(fault: &str, count: usize, outcome: &str, ok: bool) {
    let Some(path) = std::env::var_os("KUBESEEN_RELIABILITY_OUT") else {
        return;
    };
    let line = serde_json::json!({
        "suite": "hostile",
        "fault": fault,
        "target": "kubeseen land",
        "count": count,
        "outcome": outcome,
        "ok": ok,
    });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open KUBESEEN_RELIABILITY_OUT");
    writeln!(f, "{line}").expect("append reliability line");
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// `tests/hostile/` holds exactly the committed cases, byte for byte, and the README table.
#[test]
fn hostile_corpus_is_committed_and_documented() {
    let cases = corpus();
    let dir = dir();
    if std::env::var_os("KUBESEEN_HOSTILE_WRITE").is_some() {
        std::fs::create_dir_all(&dir).expect("mkdir");
        for e in std::fs::read_dir(&dir).expect("ls") {
            let p = e.expect("entry").path();
            std::fs::remove_file(&p).expect("clear");
        }
        for c in cases.iter().filter(|c| c.committed()) {
            std::fs::write(dir.join(c.name), &c.bytes).expect("write");
        }
        std::fs::write(dir.join("README.md"), readme(cases)).expect("write README");
    }
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let committed: Vec<&Case> = cases.iter().filter(|c| c.committed()).collect();
    assert!(committed.len() >= 40, "{} committed files", committed.len());
    let mut on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("tests/hostile")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    assert!(on_disk.remove("README.md"), "tests/hostile/README.md");
    let want: BTreeSet<String> = committed.iter().map(|c| c.name.to_string()).collect();
    assert_eq!(on_disk, want, "tests/hostile/ holds exactly the committed cases");
    for c in committed {
        let bytes = std::fs::read(dir.join(c.name)).expect("read");
        assert!(bytes == c.bytes, "{} differs from its generator", c.name);
    }
    let text = std::fs::read_to_string(dir.join("README.md")).expect("README");
    assert_eq!(text, readme(cases), "tests/hostile/README.md is out of date");
}

/// Each file alone: exit 3, exactly its reasons, its landed count, positions, a rejects record.
#[test]
fn hostile_files_one_by_one() {
    let tmp = tempfile::tempdir().expect("tmp");
    let corpus_dir = tmp.path().join("corpus");
    materialize(&corpus_dir);
    let mut failures = Vec::new();
    let mut peaks = Vec::new();
    for (i, c) in corpus().iter().enumerate() {
        let lake = tmp.path().join(format!("lake-{i}"));
        let file = corpus_dir.join(c.name);
        let run = land_json(&lake, &[&file], tmp.path());
        let r = run.as_ref().map(|(_, r, _)| r.clone()).unwrap_or_default();
        if let Some(peak) = r["peak_rss_bytes"].as_u64() {
            peaks.push((peak, c.name));
        }
        let check = || -> Result<(), String> {
            let (code, r, stderr) = run.clone()?;
            if code != 3 {
                return Err(format!("exit code {code}, expected 3"));
            }
            let problems = r["inputs_with_problems"].as_array().ok_or("no inputs_with_problems")?;
            let [p] = problems.as_slice() else {
                return Err(format!("{} inputs with problems", problems.len()));
            };
            check_problems(c, p)?;
            if u(&r, "points_read") != u(&r, "points_landed") + u(&r, "points_duplicate") + u(&r, "points_rejected") {
                return Err("run counts do not add up".into());
            }
            let recs = rejects(&lake);
            let rec = recs
                .get(&file.display().to_string())
                .ok_or_else(|| format!("no rejects record names {}: {:?}", file.display(), recs.keys()))?;
            if rec["reasons"] != p["reasons"] || rec["problems"] != p["problems"] {
                return Err("the rejects record differs from the summary".into());
            }
            if !stderr.contains(c.name) {
                return Err(format!("stderr does not name the file: {stderr}"));
            }
            Ok(())
        };
        if let Err(e) = check() {
            failures.push(format!(
                "{}: {e}\n    {}",
                c.name,
                serde_json::to_string(&r["inputs_with_problems"]).unwrap_or_default()
            ));
        }
    }
    peaks.sort();
    for (peak, name) in peaks.iter().rev().take(5) {
        println!("peak RSS {:>4} MiB landing {name} alone", peak >> 20);
    }
    assert!(
        failures.is_empty(),
        "{} of {} files:\n{}",
        failures.len(),
        corpus().len(),
        failures.join("\n")
    );
}

/// The whole corpus and good exports in one run: the good land completely, counts add up,
/// memory stays bounded.
#[test]
fn hostile_corpus_lands_with_good_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    let corpus_dir = tmp.path().join("corpus");
    materialize(&corpus_dir);
    let goods = good_files(&tmp.path().join("good"));
    let good_refs: Vec<&Path> = goods.iter().map(PathBuf::as_path).collect();

    // The good files alone: clean, and how many points they hold.
    let (code, clean, _) = land_json(&tmp.path().join("clean-lake"), &good_refs, tmp.path()).expect("land good files");
    assert_eq!(code, 0, "{clean}");
    let good_points = u(&clean, "points_landed");
    assert!(good_points > 100, "{clean}");
    assert_eq!(u(&clean, "points_read"), good_points);

    let lake = tmp.path().join("lake");
    let mut inputs = vec![corpus_dir.as_path()];
    inputs.extend(&good_refs);
    let (code, r, _) = land_json(&lake, &inputs, tmp.path()).expect("land the corpus");
    let cases = corpus();
    let hostile_landed: u64 = cases.iter().map(|c| c.landed).sum();
    let hostile_dups: u64 = cases.iter().map(|c| c.duplicates).sum();
    // Whole-run checks: failing one fails every category's result line.
    let mut run_errors = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            run_errors.push(what);
        }
    };
    expect(code == 3, format!("exit code {code}, expected 3"));
    expect(
        u(&r, "files_read") as usize == cases.len() + goods.len(),
        format!("{} files read", u(&r, "files_read")),
    );
    expect(
        u(&r, "files_with_rejections") as usize == cases.len(),
        format!(
            "{} files with rejections, expected every hostile one and no good one",
            u(&r, "files_with_rejections")
        ),
    );
    expect(
        u(&r, "points_read") == u(&r, "points_landed") + u(&r, "points_duplicate") + u(&r, "points_rejected"),
        "read != landed + duplicates + rejected".to_string(),
    );
    expect(
        u(&r, "points_landed") == good_points + hostile_landed,
        format!(
            "{} points landed, expected {good_points} good + {hostile_landed} hostile",
            u(&r, "points_landed")
        ),
    );
    expect(
        u(&r, "points_duplicate") == hostile_dups,
        format!("{} duplicates, expected {hostile_dups}", u(&r, "points_duplicate")),
    );
    let rows = read_lake(&lake).height() as u64;
    expect(
        rows == good_points + hostile_landed,
        format!("{rows} rows in the lake, expected {}", good_points + hostile_landed),
    );

    let problems: BTreeMap<String, &serde_json::Value> = r["inputs_with_problems"]
        .as_array()
        .expect("inputs_with_problems")
        .iter()
        .map(|p| (p["input"].as_str().expect("input").to_string(), p))
        .collect();
    let recs = rejects(&lake);
    let mut by_category: BTreeMap<&str, (usize, BTreeSet<&str>, Vec<String>)> = BTreeMap::new();
    for c in cases {
        let name = corpus_dir.join(c.name).display().to_string();
        let entry = by_category.entry(c.category).or_default();
        entry.0 += 1;
        entry.1.extend(c.reasons);
        let outcome = problems
            .get(&name)
            .ok_or_else(|| "not reported".to_string())
            .and_then(|p| check_problems(c, p))
            .and_then(|()| {
                recs.get(&name)
                    .filter(|rec| rec["reasons"] == problems[&name]["reasons"])
                    .map(|_| ())
                    .ok_or_else(|| "no matching rejects record".to_string())
            });
        if let Err(e) = outcome {
            entry.2.push(format!("{}: {e}", c.name));
        }
    }
    let peak = r["peak_rss_bytes"].as_u64();
    if cfg!(target_os = "linux") {
        assert!(peak.is_some(), "peak_rss_bytes on Linux: {}", r["peak_rss_bytes"]);
    }
    let rss_ok = peak.is_none_or(|b| b < RSS_BOUND);
    let rss = peak.map_or("unknown".to_string(), |b| format!("{} MiB", b >> 20));
    println!(
        "hostile corpus: {} files + {} good files, {} points landed, peak RSS {rss}",
        cases.len(),
        goods.len(),
        u(&r, "points_landed")
    );
    let mut failures = run_errors.clone();
    for (category, (count, reasons, errors)) in &by_category {
        let mut errors = errors.clone();
        errors.extend(run_errors.iter().map(|e| format!("whole run: {e}")));
        let ok = errors.is_empty() && rss_ok;
        let outcome = if errors.is_empty() {
            format!(
                "all {count} rejected with positions ({}); {good_points} good points landed alongside; counts add up; peak RSS {rss} for the whole corpus",
                reasons.iter().copied().collect::<Vec<_>>().join(", ")
            )
        } else {
            format!("{} of {count} wrong: {}", errors.len(), errors.join("; "))
        };
        reliability_line(category, *count, &outcome, ok);
        failures.extend(errors.into_iter().filter(|e| !e.starts_with("whole run: ")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rss_ok, "peak RSS {rss} over {} MiB", RSS_BOUND >> 20);
}
