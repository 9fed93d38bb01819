#!/usr/bin/env python3
"""DuckDB given the same advantages kubeseen has, for a fair comparison (bench/README.md).

kubeseen answers an hourly window from precomputed hourly presence rollups and backfills a
month in one pass. `peers.py` runs DuckDB the naive way (raw points every time, one query per
window). This file gives DuckDB what a user could give it by hand, with the same semantics
as peers.py (DESIGN.md, "Semantics of process_new_path"):

    fair.py materialize --lake L --db D.duckdb
        builds the presence table `presence(cluster, node, path, hour)`: the distinct keys of
        every hour of the lake (the equivalent of kubeseen's hourly rollups; its cost is
        measured next to `kubeseen compact`).

    fair.py detect --lake L --db D.duckdb --at T --out f.json
        one window [T-1h, T): current points from the raw lake; the baseline [T-30d, T-1h)
        from the presence table for the whole hours inside it and from raw points for the
        partial hours at its edges (so it is exact to the microsecond for any T).

    fair.py backfill --lake L --db D.duckdb --from F --to T --out f.json
        every hourly window ending in (F, T] in ONE query: over the presence table, a key is
        new in hour h when the previous hour it was present (lag over the key's hours) is
        absent or older than h - 719 h (the baseline of window [h, h+1h) is
        [h+1h-30d, h) = the 719 hours before h). F and T must be on the hour, like
        kubeseen backfill's windows. The new (key, hour) pairs are then joined back to the raw
        points of [F, T) for samples, first/last seen and pids.

Findings are written like peers.py's (backfill adds `at`, the window end), sorted by key, and
one JSON line is printed: {"op": ..., "wall_seconds": ..., "query_seconds": ..., "rows": n}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import BASELINE, KEY, PRESENCE_PREFIX, WINDOW, Windows, fmt_us, parse_instant  # noqa: E402

T0 = time.perf_counter()
HOUR = timedelta(hours=1)
BASELINE_HOURS = int(BASELINE / HOUR) - 1  # 719: the whole hours of a window's baseline


def connect(db: str, threads: int | None):
    import duckdb

    con = duckdb.connect(db)
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def raw(lake: str, start: datetime, end: datetime, cols: str) -> str:
    """Keyed presence points of the raw lake in [start, end), partitions pruned first."""
    glob = os.path.join(lake, "metrics", "*", "*", "*.parquet")
    lo = start.replace(minute=0, second=0, microsecond=0)
    hi = (end - timedelta(microseconds=1)).replace(minute=0, second=0, microsecond=0)
    return f"""
        SELECT {cols}
        FROM read_parquet('{glob}', hive_partitioning = true,
                          hive_types = {{'date': 'DATE', 'hour': 'INTEGER'}})
        WHERE date BETWEEN DATE '{lo.date()}' AND DATE '{hi.date()}'
          AND (date > DATE '{lo.date()}' OR hour >= {lo.hour})
          AND (date < DATE '{hi.date()}' OR hour <= {hi.hour})
          AND time >= TIMESTAMPTZ '{start.isoformat()}'
          AND time <  TIMESTAMPTZ '{end.isoformat()}'
          AND starts_with(metric, '{PRESENCE_PREFIX}')
          AND k8s_cluster_name IS NOT NULL AND k8s_cluster_name <> ''
          AND k8s_node_name IS NOT NULL AND k8s_node_name <> ''
          AND process_executable_path IS NOT NULL AND process_executable_path <> ''
    """


def materialize(a) -> int:
    con = connect(a.db, a.threads)
    glob = os.path.join(a.lake, "metrics", "*", "*", "*.parquet")
    key = ", ".join(KEY)
    con.execute("DROP TABLE IF EXISTS presence")
    con.execute(f"""
        CREATE TABLE presence AS
        SELECT DISTINCT {key}, date_trunc('hour', time) AS hour
        FROM read_parquet('{glob}', hive_partitioning = true)
        WHERE starts_with(metric, '{PRESENCE_PREFIX}')
          AND k8s_cluster_name IS NOT NULL AND k8s_cluster_name <> ''
          AND k8s_node_name IS NOT NULL AND k8s_node_name <> ''
          AND process_executable_path IS NOT NULL AND process_executable_path <> ''
        ORDER BY {key}, hour
    """)
    return con.execute("SELECT count(*) FROM presence").fetchone()[0]


def ceil_hour(t: datetime) -> datetime:
    f = t.replace(minute=0, second=0, microsecond=0)
    return f if f == t else f + HOUR


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def finding(row, at: str | None = None) -> dict:
    c, n, p, s, f, l, pids = row[:7]
    out = {
        "k8s_cluster_name": c,
        "k8s_node_name": n,
        "process_executable_path": p,
        "samples": int(s),
        "first_seen": fmt_us(int(f)),
        "last_seen": fmt_us(int(l)),
        "process_pids": [int(x) for x in (pids or []) if x is not None],
    }
    if at is not None:
        out = {"at": at, **out}
    return out


def detect(a) -> list[dict]:
    con = connect(a.db, a.threads)
    w = Windows(parse_instant(a.at))
    key = ", ".join(KEY)
    # Whole hours of the baseline from the table; the partial hours at both edges from raw points.
    whole_lo, whole_hi = ceil_hour(w.baseline_start), floor_hour(w.start)
    parts = []
    if whole_lo < whole_hi:
        parts.append(f"""SELECT {key} FROM presence
                         WHERE hour >= TIMESTAMPTZ '{whole_lo.isoformat()}'
                           AND hour <  TIMESTAMPTZ '{whole_hi.isoformat()}'""")
        if w.baseline_start < whole_lo:
            parts.append(raw(a.lake, w.baseline_start, whole_lo, key))
        if whole_hi < w.start:
            parts.append(raw(a.lake, whole_hi, w.start, key))
    else:
        parts.append(raw(a.lake, w.baseline_start, w.start, key))
    base = " UNION ".join(parts)
    sql = f"""
        WITH cur AS ({raw(a.lake, w.start, w.end, key + ', time, process_pid')}),
             base AS ({base})
        SELECT {key}, count(*)::BIGINT, epoch_us(min(time)), epoch_us(max(time)),
               list_sort(list_distinct(list(process_pid)))
        FROM cur
        WHERE NOT EXISTS (SELECT 1 FROM base b
                          WHERE b.k8s_cluster_name = cur.k8s_cluster_name
                            AND b.k8s_node_name = cur.k8s_node_name
                            AND b.process_executable_path = cur.process_executable_path)
        GROUP BY {key}
        ORDER BY {key}
    """
    return [finding(r) for r in con.execute(sql).fetchall()]


def backfill(a) -> list[dict]:
    con = connect(a.db, a.threads)
    frm, to = parse_instant(a.frm), parse_instant(a.to)
    if floor_hour(frm) != frm or floor_hour(to) != to or to <= frm:
        raise SystemExit(f"fair.py backfill: --from {a.frm} and --to {a.to} must be whole hours, --from first")
    key = ", ".join(KEY)
    k = ", ".join(f"p.{c}" for c in KEY)
    sql = f"""
        WITH hours AS (
            SELECT {key}, hour,
                   lag(hour) OVER (PARTITION BY {key} ORDER BY hour) AS prev
            FROM presence
            WHERE hour < TIMESTAMPTZ '{to.isoformat()}'
        ),
        new AS (
            SELECT {key}, hour FROM hours
            WHERE hour >= TIMESTAMPTZ '{frm.isoformat()}'
              AND (prev IS NULL OR prev < hour - INTERVAL {BASELINE_HOURS} HOUR)
        ),
        cur AS ({raw(a.lake, frm, to, key + ", time, process_pid, date_trunc('hour', time) AS hour")})
        SELECT {k}, count(*)::BIGINT, epoch_us(min(p.time)), epoch_us(max(p.time)),
               list_sort(list_distinct(list(p.process_pid))), epoch_us(p.hour + INTERVAL 1 HOUR)
        FROM cur p JOIN new n
          ON p.k8s_cluster_name = n.k8s_cluster_name AND p.k8s_node_name = n.k8s_node_name
         AND p.process_executable_path = n.process_executable_path AND p.hour = n.hour
        GROUP BY {k}, p.hour
        ORDER BY p.hour, {k}
    """
    return [finding(r, fmt_us(int(r[7]))) for r in con.execute(sql).fetchall()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="op", required=True)
    for name in ("materialize", "detect", "backfill"):
        p = sub.add_parser(name)
        p.add_argument("--lake", required=True)
        p.add_argument("--db", required=True, help="the DuckDB database file holding `presence`")
        p.add_argument("--threads", type=int, default=None)
        if name == "detect":
            p.add_argument("--at", required=True)
        if name == "backfill":
            p.add_argument("--from", dest="frm", required=True)
            p.add_argument("--to", required=True)
        if name != "materialize":
            p.add_argument("--out", required=True)
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(a.lake, "metrics")):
        print(f"fair.py: {a.lake}/metrics is not a folder: not a kubeseen lake", file=sys.stderr)
        return 1
    q0 = time.perf_counter()
    if a.op == "materialize":
        rows = materialize(a)
    else:
        findings = {"detect": detect, "backfill": backfill}[a.op](a)
        findings.sort(key=lambda f: (f.get("at", ""), *(f[k] for k in KEY)))
        rows = len(findings)
        with open(a.out, "w") as fh:
            json.dump(findings, fh, indent=1)
            fh.write("\n")
    q = time.perf_counter() - q0
    print(json.dumps({"op": a.op, "wall_seconds": round(time.perf_counter() - T0, 4), "query_seconds": round(q, 4),
                      "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
