#!/usr/bin/env python3
"""Independent peers of kubeseen's `process_new_path` detection (default, "intent" mode).

Written from DESIGN.md ("Semantics of process_new_path"), not from kubeseen's code, so that the
benchmark also checks kubeseen's answer:

- `--at` T: current window [T-1h, T), baseline [T-30d, T-1h), on the point's `time`;
- presence: the metric name starts with `process.`;
- a point is keyed only when k8s_cluster_name, k8s_node_name and process_executable_path are all
  non-null and non-empty;
- findings: keys of the current window absent from the baseline, with `samples` (current
  points of the key), `first_seen` / `last_seen` (min / max time in the window) and
  `process_pids` (sorted distinct non-null pids).

Two engines read the same lake (`<lake>/metrics/date=YYYY-MM-DD/hour=HH/*.parquet`):
`duckdb` (SQL, NOT EXISTS anti-join) and `polars` (lazy scan, anti join). Both prune on the
Hive partition columns and on `time`.

    python bench/peers.py --engine duckdb --lake DIR --at 2026-11-01T00:00:00Z --out f.json

writes the findings as a JSON list sorted by key and prints one JSON line:
{"engine": ..., "wall_seconds": ..., "query_seconds": ..., "rows": <findings>}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, datetime, timedelta, timezone

T0 = time.perf_counter()

WINDOW = timedelta(hours=1)
BASELINE = timedelta(days=30)
KEY = ("k8s_cluster_name", "k8s_node_name", "process_executable_path")
PRESENCE_PREFIX = "process."
ONE_US = timedelta(microseconds=1)


def parse_instant(s: str) -> datetime:
    t = datetime.fromisoformat(s.strip().replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise SystemExit(f"--at {s!r}: an RFC 3339 time with a zone is required, e.g. 2026-11-01T00:00:00Z")
    return t.astimezone(timezone.utc)


def fmt_us(us: int) -> str:
    """An epoch-µs instant as kubeseen prints it: RFC 3339 UTC with `Z`, fractional seconds
    only when non-zero, in 3 or 6 digits (chrono's SecondsFormat::AutoSi)."""
    secs, frac = divmod(us, 1_000_000)
    base = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac == 0:
        return base + "Z"
    if frac % 1000 == 0:
        return f"{base}.{frac // 1000:03d}Z"
    return f"{base}.{frac:06d}Z"


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def partition_bounds(start: datetime, end: datetime) -> tuple[tuple[date, int], tuple[date, int]]:
    """The first and last (date, hour) partitions overlapping [start, end)."""
    lo = floor_hour(start)
    hi = floor_hour(end - ONE_US)
    return (lo.date(), lo.hour), (hi.date(), hi.hour)


class Windows:
    def __init__(self, at: datetime):
        self.end = at
        self.start = at - WINDOW
        self.baseline_start = at - BASELINE


# ---------------------------------------------------------------------------------------------
# DuckDB


def duckdb_findings(lake: str, w: Windows, threads: int | None) -> list[dict]:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    glob = os.path.join(lake, "metrics", "*", "*", "*.parquet")

    def scan(start: datetime, end: datetime, cols: str) -> str:
        (d_lo, h_lo), (d_hi, h_hi) = partition_bounds(start, end)
        # Partition predicate (prunes files before they are opened) AND time predicate (row
        # groups by statistics, then rows).
        return f"""
            SELECT {cols}
            FROM read_parquet('{glob}', hive_partitioning = true,
                              hive_types = {{'date': 'DATE', 'hour': 'INTEGER'}})
            WHERE date BETWEEN DATE '{d_lo}' AND DATE '{d_hi}'
              AND (date > DATE '{d_lo}' OR hour >= {h_lo})
              AND (date < DATE '{d_hi}' OR hour <= {h_hi})
              AND time >= TIMESTAMPTZ '{start.isoformat()}'
              AND time <  TIMESTAMPTZ '{end.isoformat()}'
              AND starts_with(metric, '{PRESENCE_PREFIX}')
              AND k8s_cluster_name IS NOT NULL AND k8s_cluster_name <> ''
              AND k8s_node_name IS NOT NULL AND k8s_node_name <> ''
              AND process_executable_path IS NOT NULL AND process_executable_path <> ''
        """

    key = ", ".join(KEY)
    sql = f"""
        WITH cur AS ({scan(w.start, w.end, key + ', time, process_pid')}),
             base AS ({scan(w.baseline_start, w.start, 'DISTINCT ' + key)})
        SELECT {key},
               count(*)::BIGINT                                        AS samples,
               epoch_us(min(time))                                     AS first_us,
               epoch_us(max(time))                                     AS last_us,
               list_sort(list_distinct(list(process_pid)))             AS process_pids
        FROM cur
        WHERE NOT EXISTS (
            SELECT 1 FROM base b
            WHERE b.k8s_cluster_name = cur.k8s_cluster_name
              AND b.k8s_node_name = cur.k8s_node_name
              AND b.process_executable_path = cur.process_executable_path)
        GROUP BY {key}
        ORDER BY {key}
    """
    if os.environ.get("KUBESEEN_PEERS_EXPLAIN"):
        print(con.execute("EXPLAIN " + sql).fetchall()[0][1], file=sys.stderr)
    rows = con.execute(sql).fetchall()
    return [
        {
            "k8s_cluster_name": c,
            "k8s_node_name": n,
            "process_executable_path": p,
            "samples": int(s),
            "first_seen": fmt_us(int(f)),
            "last_seen": fmt_us(int(l)),
            "process_pids": [int(x) for x in (pids or []) if x is not None],
        }
        for (c, n, p, s, f, l, pids) in rows
    ]


# ---------------------------------------------------------------------------------------------
# Polars


def polars_findings(lake: str, w: Windows, threads: int | None) -> list[dict]:
    import polars as pl

    glob = os.path.join(lake, "metrics", "*", "*", "*.parquet")
    lf = pl.scan_parquet(
        glob,
        hive_partitioning=True,
        hive_schema={"date": pl.Date, "hour": pl.Int32},
    )

    def scan(start: datetime, end: datetime, cols: list[str]) -> "pl.LazyFrame":
        (d_lo, h_lo), (d_hi, h_hi) = partition_bounds(start, end)
        d, h = pl.col("date"), pl.col("hour")
        partitions = (
            d.is_between(pl.lit(d_lo), pl.lit(d_hi))
            & ((d > pl.lit(d_lo)) | (h >= h_lo))
            & ((d < pl.lit(d_hi)) | (h <= h_hi))
        )
        t = pl.col("time")
        keyed = pl.lit(True)
        for k in KEY:
            keyed = keyed & pl.col(k).is_not_null() & (pl.col(k) != "")
        return (
            lf.filter(partitions)
            .filter(
                (t >= pl.lit(start))
                & (t < pl.lit(end))
                & pl.col("metric").str.starts_with(PRESENCE_PREFIX)
                & keyed
            )
            .select(cols)
        )

    key = list(KEY)
    cur = scan(w.start, w.end, key + ["time", "process_pid"])
    base = scan(w.baseline_start, w.start, key).unique()
    q = (
        cur.join(base, on=key, how="anti")
        .group_by(key)
        .agg(
            pl.len().cast(pl.Int64).alias("samples"),
            pl.col("time").min().dt.epoch("us").alias("first_us"),
            pl.col("time").max().dt.epoch("us").alias("last_us"),
            pl.col("process_pid").drop_nulls().unique().sort().alias("process_pids"),
        )
        .sort(key)
    )
    if os.environ.get("KUBESEEN_PEERS_EXPLAIN"):
        print(q.explain(), file=sys.stderr)
    df = q.collect()
    return [
        {
            "k8s_cluster_name": r["k8s_cluster_name"],
            "k8s_node_name": r["k8s_node_name"],
            "process_executable_path": r["process_executable_path"],
            "samples": int(r["samples"]),
            "first_seen": fmt_us(int(r["first_us"])),
            "last_seen": fmt_us(int(r["last_us"])),
            "process_pids": [int(x) for x in (r["process_pids"] or [])],
        }
        for r in df.iter_rows(named=True)
    ]


ENGINES = {"duckdb": duckdb_findings, "polars": polars_findings}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engine", choices=sorted(ENGINES), required=True)
    ap.add_argument("--lake", required=True, help="local lake folder (holds metrics/)")
    ap.add_argument("--at", required=True, help="end of the window, RFC 3339 (exclusive)")
    ap.add_argument("--out", required=True, help="findings JSON file to write")
    ap.add_argument("--threads", type=int, default=None, help="engine threads (default: the engine's)")
    a = ap.parse_args()

    if not os.path.isdir(os.path.join(a.lake, "metrics")):
        print(f"peers.py: {a.lake}/metrics is not a folder: not a kubeseen lake", file=sys.stderr)
        return 1
    w = Windows(parse_instant(a.at))
    q0 = time.perf_counter()
    findings = ENGINES[a.engine](a.lake, w, a.threads)
    query_s = time.perf_counter() - q0
    findings.sort(key=lambda f: tuple(f[k] for k in KEY))
    with open(a.out, "w") as fh:
        json.dump(findings, fh, indent=1)
        fh.write("\n")
    print(
        json.dumps(
            {
                "engine": a.engine,
                "at": a.at,
                "wall_seconds": round(time.perf_counter() - T0, 4),
                "query_seconds": round(query_s, 4),
                "rows": len(findings),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
