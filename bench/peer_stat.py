#!/usr/bin/env python3
"""An independent DuckDB peer of kubeseen's statistical detection #9, "Kubernetes Process with
Anomalous Resource Utilisation" (`process_resource_anomaly`), default ("intent") mode, as one
plain SQL query over the raw points of the lake — no rollups, no lookup.

Written from README's description of the family ("Statistical detections"), not from kubeseen's
code; the parameters (metrics and their kinds, bucket, K, minimum anomalies, learning period,
counter lookback) are read from the detection's spec, `queries/process_resource_anomaly.toml`,
so both engines judge with the same numbers:

- `--at` T: current window [T−1h, T), baseline [T−30d, T−1h), on the point's `time`; a point is
  keyed when cluster, node and executable name are non-null and non-empty;
- a series is (key, pid, metric, attributes); a gauge's value is the point's; a counter's is its
  per-second rate since the series' previous point when that one is at most `lookback` before:
  (v − v₀)/(t − t₀), or after a reset (the value fell, or the start time changed)
  v/(t − start) when the new start lies after t₀, else v/(t − t₀); with no usable previous point,
  v/(t − start) when the start lies within `lookback` before t; otherwise no value;
- per 10 s bucket (epoch-aligned) and metric: each series' mean, summed per pid (over its
  attributes), averaged over the pids: the bucket value x;
- baseline per (key, metric): count n, mean and sample σ of the baseline's bucket values;
  judged when n ≥ the learning period and σ > 0; anomalous when x > mean + K·σ;
- an entity (key) is a finding when more than `min_anomalies` of its buckets in the window
  hold an anomalous metric.

    python bench/peer_stat.py --lake DIR --at 2026-11-01T00:00:00Z --out f.json

writes the findings (key, anomaly_count, first/last anomalous bucket, the largest z) as JSON
sorted by key and prints one JSON line {"engine", "wall_seconds", "query_seconds", "rows"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
from datetime import datetime, timedelta, timezone

from peers import fmt_us, parse_instant  # the same instant parsing and printing as the other peers

T0 = time.perf_counter()

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(os.path.dirname(HERE), "queries", "process_resource_anomaly.toml")
KEY = ("k8s_cluster_name", "k8s_node_name", "process_executable_name")


def duration(s: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if not s or s[-1] not in units or not s[:-1].isdigit():
        raise SystemExit(f"{SPEC}: duration {s!r} is not <digits><s|m|h|d>")
    return timedelta(seconds=int(s[:-1]) * units[s[-1]])


def load_spec() -> dict:
    with open(SPEC, "rb") as fh:
        spec = tomllib.load(fh)
    st = spec["statistical"]
    if tuple(st["key"]) != KEY or st.get("combine") != "average_process" or st.get("count") != "rows":
        raise SystemExit(f"{SPEC}: this peer implements key {KEY}, combine average_process, count rows")
    return {
        "window": duration(spec["windows"]["current"]),
        "baseline": duration(spec["windows"]["baseline"]),
        "bucket": duration(st["bucket"]),
        "k": float(st["k"]),
        "min_anomalies": int(st["min_anomalies"]),
        "learning": int(st["min_baseline_buckets"]),
        "lookback": duration(st["lookback"]),
        "metrics": [(m["name"], m["metric"], m["kind"]) for m in st["metrics"]],
    }


def us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def findings(lake: str, at: datetime, p: dict, threads: int | None) -> list[dict]:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    glob = os.path.join(lake, "metrics", "*", "*", "*.parquet")
    ws, be = at - p["window"], at - p["window"]
    bs = at - p["baseline"]
    load_from = bs - p["lookback"]
    lo, hi = load_from.replace(minute=0, second=0, microsecond=0), at - timedelta(microseconds=1)
    metrics = ", ".join(f"'{m}'" for _, m, _ in p["metrics"])
    counters = ", ".join(f"'{m}'" for _, m, kind in p["metrics"] if kind == "counter") or "NULL"
    names = " ".join(f"WHEN '{m}' THEN '{n}'" for n, m, _ in p["metrics"])
    keyed = " AND ".join(f"{k} IS NOT NULL AND {k} <> ''" for k in KEY)
    key = ", ".join(KEY)
    width = p["bucket"] // timedelta(microseconds=1)
    lb = p["lookback"] // timedelta(microseconds=1)
    sql = f"""
    WITH pts AS (
        SELECT {key}, process_pid AS pid, metric, attributes,
               epoch_us(time) AS t, epoch_us(start_time) AS st, value AS v
        FROM read_parquet('{glob}', hive_partitioning = true,
                          hive_types = {{'date': 'DATE', 'hour': 'INTEGER'}})
        WHERE date BETWEEN DATE '{lo.date()}' AND DATE '{hi.date()}'
          AND (date > DATE '{lo.date()}' OR hour >= {lo.hour})
          AND (date < DATE '{hi.date()}' OR hour <= {hi.hour})
          AND time >= TIMESTAMPTZ '{load_from.isoformat()}' AND time < TIMESTAMPTZ '{at.isoformat()}'
          AND metric IN ({metrics}) AND {keyed}
    ),
    -- Only counters need their series' previous point: gauges skip the window function.
    prev AS (
        SELECT *, lag(v) OVER s AS v0, lag(t) OVER s AS t0, lag(st) OVER s AS st0
        FROM pts WHERE metric IN ({counters})
        WINDOW s AS (PARTITION BY {key}, pid, metric, attributes ORDER BY t)
    ),
    rated AS (
        SELECT {key}, pid, attributes, metric, t,
               CASE WHEN t0 IS NOT NULL AND t - t0 <= {lb} THEN
                        CASE WHEN NOT (v < v0 OR st IS DISTINCT FROM st0) THEN (v - v0) / ((t - t0) / 1e6)
                             WHEN st IS NOT NULL AND st < t AND st > t0 THEN v / ((t - st) / 1e6)
                             ELSE v / ((t - t0) / 1e6) END
                    WHEN st IS NOT NULL AND st < t AND st >= t - {lb} THEN v / ((t - st) / 1e6)
               END AS x
        FROM prev
        UNION ALL
        SELECT {key}, pid, attributes, metric, t, v AS x FROM pts WHERE metric NOT IN ({counters})
    ),
    vals AS (
        SELECT {key}, pid, attributes, CASE metric {names} END AS name, t, x,
               CASE WHEN t < {us(be)} THEN 'baseline' ELSE 'current' END AS part
        FROM rated
        WHERE t >= {us(bs)}
    ),
    per_series AS (
        SELECT {key}, part, name, (t // {width}) * {width} AS bucket, pid, attributes, avg(x) AS x
        FROM vals WHERE x IS NOT NULL AND NOT isnan(x)
        GROUP BY ALL
    ),
    per_pid AS (SELECT {key}, part, name, bucket, pid, sum(x) AS x FROM per_series GROUP BY ALL),
    buckets AS (SELECT {key}, part, name, bucket, avg(x) AS x FROM per_pid GROUP BY ALL),
    base AS (
        SELECT {key}, name, count(*) AS n, avg(x) AS mean, stddev_samp(x) AS sd
        FROM buckets WHERE part = 'baseline' GROUP BY ALL
    ),
    judged AS (
        SELECT c.*, (c.x - b.mean) / b.sd AS z,
               b.n >= {p['learning']} AND b.sd > 0 AND c.x > b.mean + {p['k']} * b.sd AS anomalous
        FROM buckets c JOIN base b USING ({key}, name)
        WHERE c.part = 'current'
    ),
    rows AS (
        SELECT {key}, bucket, max(z) FILTER (WHERE anomalous) AS z
        FROM judged GROUP BY ALL HAVING bool_or(anomalous)
    )
    SELECT {key}, count(*) AS anomaly_count, min(bucket) AS first_us, max(bucket) AS last_us, max(z) AS top_z
    FROM rows GROUP BY ALL
    HAVING count(*) > {p['min_anomalies']}
    ORDER BY {key}
    """
    if os.environ.get("KUBESEEN_PEERS_EXPLAIN"):
        print(con.execute("EXPLAIN " + sql).fetchall()[0][1], file=sys.stderr)
    return [
        {
            **dict(zip(KEY, r[:3])),
            "anomaly_count": int(r[3]),
            "first_anomaly": fmt_us(int(r[4])),
            "last_anomaly": fmt_us(int(r[5])),
            "top_z": float(r[6]),
        }
        for r in con.execute(sql).fetchall()
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lake", required=True, help="local lake folder (holds metrics/)")
    ap.add_argument("--at", required=True, help="end of the window, RFC 3339 (exclusive)")
    ap.add_argument("--out", required=True, help="findings JSON file to write")
    ap.add_argument("--threads", type=int, default=None, help="engine threads (default: DuckDB's)")
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(a.lake, "metrics")):
        print(f"peer_stat.py: {a.lake}/metrics is not a folder: not a kubeseen lake", file=sys.stderr)
        return 1
    p = load_spec()
    q0 = time.perf_counter()
    found = findings(a.lake, parse_instant(a.at), p, a.threads)
    query_s = time.perf_counter() - q0
    with open(a.out, "w") as fh:
        json.dump(found, fh, indent=1)
        fh.write("\n")
    print(json.dumps({"engine": "duckdb", "at": a.at, "wall_seconds": round(time.perf_counter() - T0, 4),
                      "query_seconds": round(query_s, 4), "rows": len(found)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
