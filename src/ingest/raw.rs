//! Raw input bytes → points: compression from the magic bytes, bounded decompression, format
//! from the decompressed bytes, and dispatch to the decoder of that format.
//!
//! In: the raw (possibly compressed) bytes of one input and a decompression limit.
//! Out: points and rejections pushed into a [`Sink`], and what was detected ([`Decoded`]).
//! Invariant: pure — no I/O, no storage, no Polars (the fuzz targets in `fuzz/` build this file
//! on its own); a decompression bomb or a corrupt stream is a rejection, never a panic or an
//! unbounded allocation.

use std::borrow::Cow;
use std::io::Read;

use super::model::{self, Position, Rejection, Sink};
use super::{otlp_json, otlp_proto, splunk_csv};

/// Compression of an input, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    /// The file exporter's legacy `compression: zstd`: length-prefixed, each message compressed.
    ZstdFramed,
}

/// Encoding of an input, from its decompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    OtlpJson,
    OtlpProto,
    SplunkCsv,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

pub fn detect_compression(raw: &[u8]) -> Compression {
    if raw.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if raw.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else if raw.len() > 8 && raw[4..8] == ZSTD_MAGIC {
        Compression::ZstdFramed
    } else {
        Compression::None
    }
}

/// Decompresses `raw`, never beyond `limit` bytes (a decompression bomb is a rejection, not an
/// allocation). A truncated or corrupt stream keeps what decoded before the damage and
/// reports the damage as a rejection.
pub fn decompress(raw: &[u8], limit: u64, sink: &mut dyn Sink) -> Vec<u8> {
    match decompress_bounded(raw, limit, sink) {
        Ok(bytes) => bytes.into_owned(),
        Err(_) => Vec::new(),
    }
}

/// How many decompressed bytes of an input over the limit are kept, to tell its format.
const SNIFF_BYTES: usize = 4096;

/// [`decompress`], without copying uncompressed input. An input (compressed or not) larger
/// than `limit` is rejected as `too_large` and is `Err` holding the first decompressed bytes.
fn decompress_bounded<'a>(raw: &'a [u8], limit: u64, sink: &mut dyn Sink) -> Result<Cow<'a, [u8]>, Vec<u8>> {
    fn too_large(limit: u64, sink: &mut dyn Sink) {
        sink.reject(Rejection {
            reason: "too_large",
            position: Position::Byte(limit),
            detail: format!(
                "larger than {limit} bytes, or decompresses to more (a decompression bomb?); not decoded (raise --max-input-bytes to read it)"
            ),
            points: 0,
        });
    }
    fn read_bounded(r: impl Read, limit: u64, hint: u64, what: &str, sink: &mut dyn Sink) -> Result<Vec<u8>, Vec<u8>> {
        // Reserving the expected size up front avoids copying the buffer as it doubles.
        let mut out = Vec::with_capacity(hint.min(limit.saturating_add(1)) as usize);
        let mut r = r.take(limit + 1);
        if let Err(e) = r.read_to_end(&mut out) {
            sink.reject(Rejection {
                reason: if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "truncated_compression"
                } else {
                    "corrupt_compression"
                },
                position: Position::Byte(out.len() as u64),
                detail: format!(
                    "{what} stream: {e} after {} decompressed bytes; what decoded before it is kept",
                    out.len()
                ),
                points: 0,
            });
        }
        if out.len() as u64 > limit {
            too_large(limit, sink);
            out.truncate(SNIFF_BYTES);
            out.shrink_to_fit();
            return Err(out);
        }
        Ok(out)
    }
    if raw.len() as u64 > limit {
        too_large(limit, sink);
        return Err(raw[..raw.len().min(SNIFF_BYTES)].to_vec());
    }
    match detect_compression(raw) {
        Compression::None | Compression::ZstdFramed => Ok(Cow::Borrowed(raw)),
        Compression::Gzip => {
            // ISIZE, the last four bytes: the uncompressed size of the last member mod 2^32.
            let hint = raw.len().checked_sub(4).map_or(0, |i| {
                u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]) as u64
            });
            read_bounded(
                flate2::read::MultiGzDecoder::new(raw),
                limit,
                hint.max(raw.len() as u64 * 4),
                "gzip",
                sink,
            )
            .map(Cow::Owned)
        }
        Compression::Zstd => match zstd::stream::read::Decoder::new(raw) {
            Ok(d) => {
                let hint = zstd::zstd_safe::get_frame_content_size(raw)
                    .ok()
                    .flatten()
                    .unwrap_or(raw.len() as u64 * 4);
                read_bounded(d, limit, hint, "zstd", sink).map(Cow::Owned)
            }
            Err(e) => {
                sink.reject(Rejection {
                    reason: "corrupt_compression",
                    position: Position::Byte(0),
                    detail: format!("zstd stream: {e}"),
                    points: 0,
                });
                Ok(Cow::Owned(Vec::new()))
            }
        },
    }
}

/// The format of decompressed bytes.
pub fn detect_format(bytes: &[u8]) -> Format {
    let body = bytes.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(bytes);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Format::OtlpJson,
        _ if splunk_csv::looks_like(body) => Format::SplunkCsv,
        // Empty input goes to the JSON decoder, which reports it as `empty`.
        None => Format::OtlpJson,
        _ => Format::OtlpProto,
    }
}

/// What [`decode`] found out about an input.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Decoded {
    pub compression: Compression,
    pub format: Format,
    pub decompressed_bytes: u64,
}

/// Decompresses and decodes one input's raw bytes into `sink`.
pub fn decode(raw: &[u8], limit: u64, sink: &mut dyn Sink) -> Decoded {
    let compression = detect_compression(raw);
    if compression == Compression::ZstdFramed && raw.len() as u64 <= limit {
        return decode_zstd_framed(raw, limit, sink);
    }
    let bytes = match decompress_bounded(raw, limit, sink) {
        Ok(bytes) => bytes,
        Err(head) => {
            // Too large: nothing of it is decoded.
            return Decoded {
                compression,
                format: detect_format(&head),
                decompressed_bytes: 0,
            };
        }
    };
    let mut format = detect_format(&bytes);
    if format == Format::OtlpJson && bytes.first() == Some(&0x0a) {
        // A bare protobuf request starts with 0x0a (field 1, length-delimited), which is also
        // a newline: when the length bytes happen to be white space and the next byte is `{`,
        // it looks like JSON. A whole valid request settles it.
        let mut probe = model::VecSink::default();
        otlp_proto::decode(&bytes, &mut probe);
        if probe.rejections.is_empty() && !probe.points.is_empty() {
            format = Format::OtlpProto;
            for (p, at) in probe.points.into_iter().zip(probe.positions) {
                sink.at(at);
                sink.point(p);
            }
            return Decoded {
                compression,
                format,
                decompressed_bytes: bytes.len() as u64,
            };
        }
    }
    match format {
        Format::OtlpJson => otlp_json::decode(&bytes, sink),
        Format::OtlpProto => otlp_proto::decode_limited(&bytes, limit, &mut NoFormatMatched(sink)),
        Format::SplunkCsv => splunk_csv::decode(&bytes, sink),
    }
    Decoded {
        compression,
        format,
        decompressed_bytes: bytes.len() as u64,
    }
}

/// Protobuf is the last guess: an input that fails as protobuf from its first byte matched no
/// format, and its rejection says which were tried.
struct NoFormatMatched<'s>(&'s mut dyn Sink);

impl Sink for NoFormatMatched<'_> {
    fn point(&mut self, point: model::Point) {
        self.0.point(point);
    }
    fn reject(&mut self, mut r: Rejection) {
        if r.reason == "invalid_protobuf" && r.position == Position::Byte(0) {
            r.detail = format!(
                "not OTLP/JSON (does not start with `{{` or `[`), not a Splunk metric CSV (no `_time` and value \
                 columns in its first line) and not OTLP/protobuf ({})",
                r.detail
            );
        }
        self.0.reject(r);
    }
    fn at(&mut self, position: Position) {
        self.0.at(position);
    }
}

/// The file exporter's legacy zstd mode: `u32 BE length` + a zstd frame, repeated. The payloads
/// are OTLP/JSON documents or protobuf messages.
fn decode_zstd_framed(raw: &[u8], limit: u64, sink: &mut dyn Sink) -> Decoded {
    let first_payload_is_json = {
        let mut probe = model::VecSink::default();
        let len = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
        let frame = &raw[4..(4 + len).min(raw.len())];
        let head = decompress(frame, limit, &mut probe);
        head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
    };
    if !first_payload_is_json {
        // The protobuf decoder understands this framing itself (and zstd payloads in it).
        otlp_proto::decode_limited(raw, limit, sink);
        return Decoded {
            compression: Compression::ZstdFramed,
            format: Format::OtlpProto,
            decompressed_bytes: raw.len() as u64,
        };
    }
    let mut offset = 0usize;
    let mut record = 0u64;
    let mut total = 0u64;
    while offset < raw.len() {
        record += 1;
        if raw.len() - offset < 4 {
            sink.reject(Rejection {
                reason: "truncated",
                position: Position::Record {
                    record,
                    byte: offset as u64,
                },
                detail: format!("{} trailing bytes are not a length prefix", raw.len() - offset),
                points: 0,
            });
            break;
        }
        let len = u32::from_be_bytes([raw[offset], raw[offset + 1], raw[offset + 2], raw[offset + 3]]) as usize;
        let start = offset + 4;
        if len > raw.len() - start {
            sink.reject(Rejection {
                reason: "bad_length",
                position: Position::Record {
                    record,
                    byte: offset as u64,
                },
                detail: format!(
                    "frame length {len} runs past the end of the input ({} bytes left)",
                    raw.len() - start
                ),
                points: 0,
            });
            break;
        }
        let mut in_record = InRecord {
            inner: &mut *sink,
            at: Position::Record {
                record,
                byte: offset as u64,
            },
        };
        let payload = decompress(&raw[start..start + len], limit.saturating_sub(total), &mut in_record);
        total += payload.len() as u64;
        otlp_json::decode(&payload, &mut in_record);
        offset = start + len;
    }
    Decoded {
        compression: Compression::ZstdFramed,
        format: Format::OtlpJson,
        decompressed_bytes: total,
    }
}

/// What is found inside one record of a framed input, reported at the record's position
/// (positions inside the record's decompressed payload go into the detail).
struct InRecord<'s> {
    inner: &'s mut dyn Sink,
    at: Position,
}

impl Sink for InRecord<'_> {
    fn point(&mut self, point: model::Point) {
        self.inner.point(point);
    }
    fn reject(&mut self, mut r: Rejection) {
        if r.position != Position::Whole {
            r.detail = format!("{} of the record: {}", r.position, r.detail);
        }
        r.position = self.at;
        self.inner.reject(r);
    }
    fn at(&mut self, _position: Position) {
        self.inner.at(self.at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::VecSink;
    use std::io::Write;

    const DOC: &str = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"3"}]}}]}]}]}"#;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn detects_compression_by_magic_not_name() {
        let text = format!("{DOC}\n{DOC}\n");
        for raw in [
            text.as_bytes().to_vec(),
            gzip(text.as_bytes()),
            zstd::encode_all(text.as_bytes(), 3).expect("zstd"),
        ] {
            let mut sink = VecSink::default();
            let d = decode(&raw, 1 << 20, &mut sink);
            assert_eq!(d.format, Format::OtlpJson);
            assert_eq!(sink.points.len(), 2, "{:?}", d);
            assert!(sink.rejections.is_empty());
        }
    }

    #[test]
    fn truncated_gzip_keeps_whole_lines_and_reports_the_damage() {
        let text = format!("{DOC}\n").repeat(200);
        let gz = gzip(text.as_bytes());
        let mut sink = VecSink::default();
        decode(&gz[..gz.len() / 2], 1 << 24, &mut sink);
        assert!(
            sink.rejections.iter().any(|r| r.reason == "truncated_compression"),
            "{:?}",
            sink.rejections
        );
        assert!(!sink.points.is_empty());
    }

    #[test]
    fn decompression_bomb_is_bounded() {
        let zeros = vec![b' '; 10 << 20];
        let gz = gzip(&zeros);
        let mut sink = VecSink::default();
        decode(&gz, 1 << 20, &mut sink);
        assert!(sink.rejections.iter().any(|r| r.reason == "too_large"));
    }

    #[test]
    fn too_large_is_the_only_verdict_and_nothing_is_decoded() {
        let text = format!("{DOC}\n").repeat(100);
        for raw in [
            gzip(text.as_bytes()),
            zstd::encode_all(text.as_bytes(), 3).expect("zstd"),
            // Uncompressed input over the limit too, without a copy of it being decoded.
            text.clone().into_bytes(),
        ] {
            let mut sink = VecSink::default();
            let d = decode(&raw, 1000, &mut sink);
            let reasons: Vec<_> = sink.rejections.iter().map(|r| r.reason).collect();
            assert_eq!(reasons, ["too_large"], "not also `empty`");
            assert_eq!(sink.rejections[0].position, Position::Byte(1000));
            assert!(sink.points.is_empty());
            assert_eq!(d.format, Format::OtlpJson, "told from the first decompressed bytes");
        }
    }

    #[test]
    fn zstd_framed_protobuf_records_are_bounded_by_the_limit() {
        // One record of 1 MiB of zeros: before, only a fixed 1 GiB cap applied to records.
        let mut raw = Vec::new();
        let z = zstd::encode_all(&vec![0u8; 1 << 20][..], 3).expect("zstd");
        raw.extend((z.len() as u32).to_be_bytes());
        raw.extend(z);
        let mut sink = VecSink::default();
        decode(&raw, 64 << 10, &mut sink);
        let reasons: Vec<_> = sink.rejections.iter().map(|r| r.reason).collect();
        assert_eq!(reasons, ["too_large"]);
    }

    #[test]
    fn input_matching_no_format_says_what_was_tried() {
        for text in ["<!DOCTYPE html><html></html>\n", "name,value\nfoo,1\n", "// note\n{}\n"] {
            let mut sink = VecSink::default();
            let d = decode(text.as_bytes(), 1 << 20, &mut sink);
            assert_eq!(d.format, Format::OtlpProto);
            assert_eq!(sink.rejections.len(), 1, "{text}");
            let r = &sink.rejections[0];
            assert_eq!((r.reason, r.position), ("invalid_protobuf", Position::Byte(0)));
            assert!(r.detail.starts_with("not OTLP/JSON"), "{}", r.detail);
            assert!(r.detail.contains("Splunk metric CSV"), "{}", r.detail);
        }
    }

    #[test]
    fn legacy_zstd_framed_json() {
        let mut raw = Vec::new();
        for _ in 0..3 {
            let c = zstd::encode_all(DOC.as_bytes(), 3).expect("zstd");
            raw.extend((c.len() as u32).to_be_bytes());
            raw.extend(c);
        }
        let mut sink = VecSink::default();
        let d = decode(&raw, 1 << 20, &mut sink);
        assert_eq!(d.compression, Compression::ZstdFramed);
        assert_eq!(sink.points.len(), 3);
        let record_len = raw.len() as u64 / 3;
        assert_eq!(
            sink.positions[2],
            Position::Record {
                record: 3,
                byte: 2 * record_len
            }
        );

        // A bad document in record 2 is reported at record 2, its line in the detail.
        let bad = zstd::encode_all(&b"{\"resourceMetrics\": [oops"[..], 3).expect("zstd");
        let mut two = raw[..record_len as usize].to_vec();
        two.extend((bad.len() as u32).to_be_bytes());
        two.extend(bad);
        let mut sink = VecSink::default();
        decode(&two, 1 << 20, &mut sink);
        assert_eq!(sink.points.len(), 1);
        let r = &sink.rejections[0];
        assert_eq!(
            (r.reason, r.position),
            (
                "invalid_json",
                Position::Record {
                    record: 2,
                    byte: record_len
                }
            )
        );
        assert!(
            r.detail.starts_with("line 1, column 22 of the record: "),
            "{}",
            r.detail
        );
    }
}
