#!/usr/bin/env python3
"""Self-check of bench/peers.py on a tiny hand-written lake with the edge cases of the
semantics (window bounds, unkeyed points, non-presence metrics, null pids, partitions that
straddle the window). Both engines must return exactly the expected findings.

    $VENV/bin/python bench/test_peers.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
AT = datetime(2026, 11, 1, 0, 30, tzinfo=timezone.utc)  # not on the hour: straddling partitions
START = AT - timedelta(hours=1)
BSTART = AT - timedelta(days=30)
US = timedelta(microseconds=1)

# (time, metric, cluster, node, path, pid)
ROWS = [
    # known in the baseline (first instant of the baseline is inside it)
    (BSTART, "process.cpu.time", "c1", "n1", "/bin/known", 1),
    (START + timedelta(minutes=1), "process.cpu.time", "c1", "n1", "/bin/known", 1),
    # seen just before the baseline only: new
    (BSTART - US, "process.cpu.time", "c1", "n1", "/tmp/old", 2),
    (START, "process.memory.usage", "c1", "n1", "/tmp/old", 3),  # window start is inclusive
    (AT - US, "process.memory.usage", "c1", "n1", "/tmp/old", None),
    (AT, "process.memory.usage", "c1", "n1", "/tmp/old", 9),  # window end is exclusive
    (START + timedelta(seconds=1, microseconds=500), "process.cpu.time", "c1", "n1", "/tmp/old", 3),
    # in the baseline only through a non-presence metric: new
    (START - timedelta(days=2), "system.cpu.time", "c1", "n2", "/usr/bin/x", 4),
    (START + timedelta(minutes=5), "process.threads", "c1", "n2", "/usr/bin/x", 4),
    # current point of a non-presence metric only: not a finding
    (START + timedelta(minutes=6), "container.cpu.time", "c1", "n2", "/usr/bin/y", 5),
    # same path known on another node: still new on this node
    (START - timedelta(hours=3), "process.cpu.time", "c1", "n3", "/bin/shared", 6),
    (START + timedelta(minutes=7), "process.cpu.time", "c1", "n2", "/bin/shared", 7),
    (START + timedelta(minutes=8), "process.cpu.time", "c1", "n2", "/bin/shared", 6),
    # unkeyed current points: never findings
    (START + timedelta(minutes=9), "process.cpu.time", "c1", "n2", "", 8),
    (START + timedelta(minutes=9), "process.cpu.time", "c1", None, "/x", 8),
    (START + timedelta(minutes=9), "process.cpu.time", None, "n2", "/x", 8),
    # baseline end is exclusive: a point at START - 1µs is baseline, so known
    (START - US, "process.cpu.time", "c2", "n1", "/bin/edge", 10),
    (START + timedelta(minutes=2), "process.cpu.time", "c2", "n1", "/bin/edge", 10),
    # last seen exactly 720 hours before the window hour 23:00 (one hour before the baseline of
    # the window ending at 00:00): new there (a backfill off by one hour in either direction fails)
    (datetime(2026, 10, 1, 23, 59, tzinfo=timezone.utc), "process.cpu.time", "c3", "n1", "/bin/edge720", 11),
    (datetime(2026, 10, 31, 23, 10, tzinfo=timezone.utc), "process.cpu.time", "c3", "n1", "/bin/edge720", 11),
    # pids all null
    (START + timedelta(minutes=3), "process.cpu.time", "c2", "n1", "/bin/nopid", None),
]

EXPECTED = [
    {"k8s_cluster_name": "c1", "k8s_node_name": "n1", "process_executable_path": "/tmp/old", "samples": 3,
     "first_seen": "2026-10-31T23:30:00Z", "last_seen": "2026-11-01T00:29:59.999999Z", "process_pids": [3]},
    {"k8s_cluster_name": "c1", "k8s_node_name": "n2", "process_executable_path": "/bin/shared", "samples": 2,
     "first_seen": "2026-10-31T23:37:00Z", "last_seen": "2026-10-31T23:38:00Z", "process_pids": [6, 7]},
    {"k8s_cluster_name": "c1", "k8s_node_name": "n2", "process_executable_path": "/usr/bin/x", "samples": 1,
     "first_seen": "2026-10-31T23:35:00Z", "last_seen": "2026-10-31T23:35:00Z", "process_pids": [4]},
    {"k8s_cluster_name": "c2", "k8s_node_name": "n1", "process_executable_path": "/bin/nopid", "samples": 1,
     "first_seen": "2026-10-31T23:33:00Z", "last_seen": "2026-10-31T23:33:00Z", "process_pids": []},
]


def write_lake(root: str) -> None:
    by_part: dict[tuple[str, int], list[tuple]] = {}
    for r in ROWS:
        by_part.setdefault((r[0].strftime("%Y-%m-%d"), r[0].hour), []).append(r)
    schema = pa.schema([
        ("time", pa.timestamp("us", tz="UTC")), ("metric", pa.string()), ("value", pa.float64()),
        ("host_name", pa.string()), ("k8s_cluster_name", pa.string()), ("k8s_node_name", pa.string()),
        ("process_pid", pa.int64()), ("process_executable_name", pa.string()),
        ("process_executable_path", pa.string()),
    ])
    for (d, h), rows in by_part.items():
        folder = os.path.join(root, "metrics", f"date={d}", f"hour={h:02d}")
        os.makedirs(folder)
        cols = {
            "time": [r[0] for r in rows], "metric": [r[1] for r in rows], "value": [1.0] * len(rows),
            "host_name": [r[3] for r in rows], "k8s_cluster_name": [r[2] for r in rows],
            "k8s_node_name": [r[3] for r in rows], "process_pid": [r[5] for r in rows],
            "process_executable_name": [os.path.basename(r[4] or "") for r in rows],
            "process_executable_path": [r[4] for r in rows],
        }
        pq.write_table(pa.table(cols, schema=schema), os.path.join(folder, "part-0.parquet"))


def main() -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        write_lake(d)
        for engine in ("duckdb", "polars"):
            out = os.path.join(d, f"{engine}.json")
            subprocess.run([sys.executable, os.path.join(HERE, "peers.py"), "--engine", engine, "--lake", d,
                            "--at", AT.isoformat().replace("+00:00", "Z"), "--out", out],
                           check=True, stdout=subprocess.DEVNULL)
            got = json.load(open(out))
            if got == EXPECTED:
                print(f"ok   {engine}")
            else:
                failed += 1
                print(f"FAIL {engine}\n got      {json.dumps(got)}\n expected {json.dumps(EXPECTED)}")
        failed += check_fair(d)
    return 1 if failed else 0


def run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def check_fair(d: str) -> int:
    """bench/fair.py (DuckDB with a materialized presence table and a single-pass backfill) must
    give what peers.py gives: at AT (not on the hour: the baseline's partial edge hours come from
    raw points), and in every hourly window of a backfill, against one peers.py run per window."""
    failed = 0
    db = os.path.join(d, "fair.duckdb")
    fair = os.path.join(HERE, "fair.py")
    run(fair, "materialize", "--lake", d, "--db", db)
    out = os.path.join(d, "fair.json")
    run(fair, "detect", "--lake", d, "--db", db, "--at", iso(AT), "--out", out)
    got = json.load(open(out))
    if got == EXPECTED:
        print("ok   fair.py detect")
    else:
        failed += 1
        print(f"FAIL fair.py detect\n got      {json.dumps(got)}\n expected {json.dumps(EXPECTED)}")
    # Backfill hourly windows ending in (frm, to]: the window ending at 00:00 holds most cases,
    # the one ending at 01:00 holds /tmp/old's and the pid-9 point at AT.
    frm = datetime(2026, 10, 31, 20, tzinfo=timezone.utc)
    to = datetime(2026, 11, 1, 2, tzinfo=timezone.utc)
    run(fair, "backfill", "--lake", d, "--db", db, "--from", iso(frm), "--to", iso(to), "--out", out)
    got = json.load(open(out))
    want = []
    at = frm + timedelta(hours=1)
    while at <= to:
        one = os.path.join(d, "one.json")
        run(os.path.join(HERE, "peers.py"), "--engine", "duckdb", "--lake", d, "--at", iso(at), "--out", one)
        want += [{"at": iso(at), **f} for f in json.load(open(one))]
        at += timedelta(hours=1)
    if not want:
        failed += 1
        print("FAIL fair.py backfill: the per-window runs found nothing, the comparison proves nothing")
    elif got == want:
        print(f"ok   fair.py backfill ({len(want)} findings in {int((to - frm) / timedelta(hours=1))} windows)")
    else:
        failed += 1
        print(f"FAIL fair.py backfill\n got      {json.dumps(got)}\n expected {json.dumps(want)}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
