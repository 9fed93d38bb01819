#!/usr/bin/env python3
"""Rebuilds the committed seed corpus of the fuzz targets (fuzz/seeds/<target>/).

Sources: data/samples/opentelemetry-proto__metrics.json, the JSON and CSV inputs of the decoders'
unit tests (src/ingest/*.rs), the allowlist examples, and exports written by the kubeseen
generator (trimmed to a few metrics and points so each seed stays small: libFuzzer mutates small
inputs much faster). Compressed variants use the gzip and zstd command-line tools.

Usage: fuzz/seeds/make_seeds.py <path to a release kubeseen binary>
"""

import gzip
import json
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "fuzz" / "seeds"


def put(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, check=True, capture_output=True).stdout


def framed(payloads):
    return b"".join(struct.pack(">I", len(p)) + p for p in payloads)


# --- OTLP/JSON -----------------------------------------------------------------------------

def trim_json(doc, metrics=4, points=2):
    doc = json.loads(json.dumps(doc))
    doc["resourceMetrics"] = doc.get("resourceMetrics", [])[:2]
    for rm in doc["resourceMetrics"]:
        rm["scopeMetrics"] = rm.get("scopeMetrics", [])[:1]
        for sm in rm["scopeMetrics"]:
            kept, kinds = [], set()
            for m in sm.get("metrics", []):
                kind = next((k for k in m if k not in ("name", "description", "unit", "metadata")), None)
                if kind not in kinds or len(kept) < metrics:
                    kinds.add(kind)
                    kept.append(m)
            sm["metrics"] = kept
            for m in kept:
                for v in m.values():
                    if isinstance(v, dict) and "dataPoints" in v:
                        v["dataPoints"] = v["dataPoints"][:points]
    return doc


# --- OTLP/protobuf: a minimal wire-format walker that keeps the first few repeated entries --

def varint(b, i):
    shift = n = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def enc_varint(n):
    out = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        out.append(c | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fields(b):
    i = 0
    while i < len(b):
        key, j = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            _, k = varint(b, j)
            yield num, wt, b[i:k], None
        elif wt == 1:
            yield num, wt, b[i:j + 8], None
        elif wt == 5:
            yield num, wt, b[i:j + 4], None
        elif wt == 2:
            ln, k = varint(b, j)
            yield num, wt, b[i:k + ln], b[k:k + ln]
            k += ln
        else:
            raise ValueError(f"wire type {wt}")
        i = k if wt in (0, 2) else (j + (8 if wt == 1 else 4))


# message -> {field: (child message, how many to keep)}
SHAPE = {
    "request": {1: ("resource_metrics", 2)},
    "resource_metrics": {2: ("scope_metrics", 1)},
    "scope_metrics": {2: ("metric", 5)},
    "metric": {5: ("data", 1), 7: ("data", 1), 9: ("data", 1), 10: ("data", 1), 11: ("data", 1)},
    "data": {1: ("point", 2)},
}


def trim_proto(b, msg="request"):
    shape = SHAPE.get(msg, {})
    seen = {}
    out = bytearray()
    for num, wt, raw, payload in fields(b):
        if wt == 2 and num in shape:
            child, keep = shape[num]
            seen[num] = seen.get(num, 0) + 1
            if seen[num] > keep:
                continue
            inner = trim_proto(payload, child)
            out += enc_varint(num << 3 | 2) + enc_varint(len(inner)) + inner
        else:
            out += raw
    return bytes(out)


def proto_records(data):
    i = 0
    while i + 4 <= len(data):
        (ln,) = struct.unpack(">I", data[i:i + 4])
        yield data[i + 4:i + 4 + ln]
        i += 4 + ln


def main():
    binary = sys.argv[1]
    if SEEDS.exists():
        for d in SEEDS.iterdir():
            if d.is_dir():
                shutil.rmtree(d)
    tmp = pathlib.Path(tempfile.mkdtemp())
    gen = ["--clusters", "1", "--nodes", "2", "--processes", "1", "--days", "2", "--interval", "900s",
           "--end", "2026-11-23T00:00:00Z"]
    for fmt in ("otlp-json", "otlp-proto"):
        subprocess.run([binary, "generate", "--out", str(tmp / fmt), "--format", fmt, *gen],
                       check=True, capture_output=True)

    # JSON: the upstream sample, the unit tests' documents, trimmed generator documents.
    sample = (ROOT / "data/samples/opentelemetry-proto__metrics.json").read_text()
    jsons = {"sample.json": sample}
    src = (ROOT / "src/ingest/otlp_json.rs").read_text()
    for n, lit in enumerate(re.findall(r'r#"(\{"resourceMetrics".*?)"#', src)):
        jsons[f"unit-{n}.json"] = lit
    gen_json = sorted((tmp / "otlp-json").rglob("*.jsonl"))[0].read_text().splitlines()
    docs = [json.dumps(trim_json(json.loads(line)), separators=(",", ":")) for line in gen_json[:2]]
    jsons["generated.jsonl"] = "\n".join(docs) + "\n"
    jsons["generated-pretty.json"] = json.dumps(json.loads(docs[0]), indent=2)
    for name, text in jsons.items():
        put("otlp_json", name, text)

    # Protobuf: trimmed generator requests, length-framed, bare, and zstd-framed.
    gen_proto = sorted((tmp / "otlp-proto").rglob("*.binpb"))[0].read_bytes()
    reqs = [trim_proto(r) for r in list(proto_records(gen_proto))[:2]]
    protos = {
        "framed.binpb": framed(reqs),
        "bare.binpb": reqs[0],
        "zstd-framed.binpb": framed([zstd(r) for r in reqs]),
    }
    for name, data in protos.items():
        put("otlp_proto", name, data)

    # Splunk CSV: every multi-line input of the decoder's unit tests.
    src = (ROOT / "src/ingest/splunk_csv.rs").read_text()
    csvs = {}
    for n, lit in enumerate(re.findall(r'let input = "\\\n(.*?)";', src, re.S)):
        csvs[f"unit-{n}.csv"] = lit.replace('\\"', '"')
    for name, text in csvs.items():
        put("splunk_csv", name, text)

    # The whole path: every seed above, plain, gzip, zstd and (JSON) the legacy zstd framing.
    allraw = {**{k: v.encode() for k, v in jsons.items()}, **protos, **{k: v.encode() for k, v in csvs.items()}}
    for name, data in allraw.items():
        put("raw_decode", name, data)
        put("raw_decode", name + ".gz", gzip.compress(data, mtime=0))
        put("raw_decode", name + ".zst", zstd(data))
    put("raw_decode", "zstd-framed.jsonl", framed([zstd(d.encode()) for d in docs]))

    # Allowlist: the module's documented example and the unit tests' rules.
    src = (ROOT / "src/detect/allowlist.rs").read_text()
    example = "\n".join(line[4:] for line in src.splitlines() if line.startswith("//! ") or line == "//!")
    example = example.split("```toml\n", 1)[1].split("```", 1)[0]
    put("allowlist", "doc-example.toml", example)
    for n, lit in enumerate(re.findall(r'const RULES: &str = r#"(.*?)"#;', src, re.S)):
        put("allowlist", f"unit-{n}.toml", lit)
    put("allowlist", "two-rules.toml", example + '\n[[rule]]\nname = "b"\nreason = "r"\n'
        'expires = "2026-11-23T15:00:00+01:00"\n[rule.match]\nk8s_cluster_name = "{a,b}[0-9]?"\n')
    shutil.rmtree(tmp)
    for d in sorted(SEEDS.iterdir()):
        if d.is_dir():
            print(f"{d.name}: {len(list(d.iterdir()))} seeds, {sum(f.stat().st_size for f in d.iterdir())} bytes")


if __name__ == "__main__":
    main()
