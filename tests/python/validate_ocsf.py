#!/usr/bin/env python3
"""Validates kubeseen's OCSF Detection Findings with a real OCSF implementation.

    validate_ocsf.py PATH...    (files or folders: every *.jsonl and *.parquet under them)

Every record is validated with py-ocsf-models' pydantic DetectionFinding model (OCSF 1.5.0),
then checked for what pydantic would let pass silently: a field the model does not know (it
ignores extra fields), a class, type, category or schema version other than kubeseen's.
Parquet records are read with pyarrow; their absent (null) fields are dropped first, as the
Parquet columns are the union of the records' fields.

Prints one JSON line {"files": N, "records": N, "errors": [...]} and exits 1 on any error,
2 on bad usage (no file found).
"""
import json
import pathlib
import sys

from py_ocsf_models.events.findings.detection_finding import DetectionFinding

# Free-form objects of OCSF: any keys allowed below them.
FREE = {"data", "unmapped"}


def strip_none(v):
    if isinstance(v, dict):
        return {k: strip_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [strip_none(x) for x in v]
    return v


def unknown(inp, out, path):
    """Keys of the input the validated model dropped (unknown to the schema)."""
    if isinstance(inp, dict) and isinstance(out, dict):
        for k, v in inp.items():
            p = f"{path}.{k}" if path else k
            if k not in out:
                yield p
            elif k not in FREE:
                yield from unknown(v, out[k], p)
    elif isinstance(inp, list) and isinstance(out, list):
        for i, (a, b) in enumerate(zip(inp, out)):
            yield from unknown(a, b, f"{path}[{i}]")


def check(rec):
    errors = []
    try:
        m = DetectionFinding.model_validate(rec)
    except Exception as e:  # pydantic.ValidationError, with every failing field
        return [str(e).replace("\n", " | ")]
    out = m.model_dump(mode="json", exclude_none=True)
    errors += [f"unknown field {p}" for p in unknown(rec, out, "")]
    want = {"class_uid": 2004, "category_uid": 2, "activity_id": 1, "type_uid": 200401}
    for k, v in want.items():
        if rec.get(k) != v:
            errors.append(f"{k} is {rec.get(k)!r}, not {v}")
    if rec.get("metadata", {}).get("version") != "1.5.0":
        errors.append("metadata.version is not 1.5.0")
    if not rec.get("finding_info", {}).get("uid"):
        errors.append("finding_info.uid is empty")
    return errors


def records(path):
    if path.suffix == ".jsonl":
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                yield f"{path}:{i + 1}", json.loads(line)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, rec in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path}#{i}", strip_none(rec)


def main(argv):
    files = []
    for a in argv:
        p = pathlib.Path(a)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".jsonl", ".parquet"))
        elif p.is_file():
            files.append(p)
    if not files:
        print(json.dumps({"files": 0, "records": 0, "errors": [f"no .jsonl or .parquet under {argv}"]}))
        return 2
    n, errors = 0, []
    for f in files:
        for where, rec in records(f):
            n += 1
            errors += [f"{where}: {e}" for e in check(rec)]
    print(json.dumps({"files": len(files), "records": n, "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
