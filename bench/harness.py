#!/usr/bin/env python3
"""The benchmark harness behind bench/run.sh and bench/land.sh (see bench/README.md).

    harness.py run  [small|medium|large|all]...   datasets, land, detect, peers, check, table
    harness.py land                               landing micro-benchmark (>= 1 GB of OTLP/JSON)

Every measured command runs under `/usr/bin/time -v` (peak RSS) and is timed here with a
monotonic clock (wall). Each is run KUBESEEN_BENCH_RUNS times (default 3, at least 3 unless
set lower explicitly); the table shows the median and the minimum wall time.

Environment:
  KUBESEEN_BIN         the kubeseen binary (default $CARGO_TARGET_DIR/release/kubeseen)
  KUBESEEN_BENCH_DIR   where datasets live (default bench/out)
  KUBESEEN_BENCH_RUNS  runs per measurement (default 3)
  KUBESEEN_BENCH_END   end of the generated data and --at of the detection (default
                       2026-11-01T00:00:00Z; must be in the past)
  KUBESEEN_BENCH_NO_RESULTS=1   do not append to bench/RESULTS.md
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta, datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/kubeseen-target"))
BIN = os.environ.get("KUBESEEN_BIN", os.path.join(TARGET, "release", "kubeseen"))
OUT = os.path.abspath(os.environ.get("KUBESEEN_BENCH_DIR", os.path.join(HERE, "out")))
RUNS = int(os.environ.get("KUBESEEN_BENCH_RUNS", "3"))
END = os.environ.get("KUBESEEN_BENCH_END", "2026-11-01T00:00:00Z")
SEED = 1
TIME = "/usr/bin/time"
RESULTS = os.path.join(HERE, "RESULTS.md")
DETECTION = "process_new_path"
COMPARED = ("k8s_cluster_name", "k8s_node_name", "process_executable_path", "samples", "first_seen", "last_seen", "process_pids")
KEY = COMPARED[:3]


@dataclass(frozen=True)
class Scale:
    name: str
    clusters: int
    nodes: int
    processes: int
    interval: str
    days: int = 31
    # Days of OTLP/JSON (gzip) exports generated for the landing row (the last days of the data;
    # the generator's minimum is 2).
    land_days: int = 2

    def gen_args(self) -> list[str]:
        return ["--clusters", str(self.clusters), "--nodes", str(self.nodes), "--processes", str(self.processes),
                "--interval", self.interval, "--seed", str(SEED), "--end", END]

    def describe(self) -> str:
        return f"{self.clusters}×{self.nodes}×{self.processes} @{self.interval}, {self.days}d"


# Points ≈ clusters × nodes × (processes + the node's own processes) × 7 metrics × scrapes; the
# exact count is read from the lake (see README.md, "Scales").
SCALES = {
    "small": Scale("small", 1, 4, 20, "60s"),
    "medium": Scale("medium", 2, 10, 50, "60s"),
    "large": Scale("large", 2, 20, 100, "120s"),
    # For trying the harness itself in a minute or two, not for figures.
    "tiny": Scale("tiny", 1, 2, 4, "300s"),
}

# The landing micro-benchmark: 1 × 4 × 20 over 2 days at 60 s is 4.5 M points, 1.8 GB of
# OTLP/JSON uncompressed (155 MB gzip).
LAND_MICRO = Scale("land", 1, 4, 20, "60s", days=2)


def log(msg: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg: str) -> None:
    print(f"\nBENCH FAILED: {msg}\n", file=sys.stderr, flush=True)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Sample:
    wall: float
    rss_kib: int
    rc: int
    stdout: str
    stderr: str
    cpu: float = 0.0
    foreign_cores: float = 0.0


def busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine since boot (all cores), from /proc/stat."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measure(cmd: list[str], ok_codes=(0,), env=None) -> Sample:
    """Runs `cmd` under /usr/bin/time -v; wall from a monotonic clock, peak RSS from time, and
    how many cores *other* processes kept busy meanwhile (machine busy time minus the command's
    user + system time, over the wall): a shared machine shows up there."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        b0 = busy_seconds()
        t0 = time.perf_counter()
        p = subprocess.run([TIME, "-v", "-o", tf.name, *cmd], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        busy = busy_seconds() - b0
        tv = tf.read()
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv)
    own = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", tv))
    s = Sample(wall, int(m.group(1)) if m else -1, p.returncode, p.stdout, p.stderr,
               cpu=own, foreign_cores=max(0.0, (busy - own) / wall) if wall > 0 else 0.0)
    if p.returncode not in ok_codes:
        die(f"command failed with exit code {p.returncode}:\n  {shlex.join(cmd)}\n--- stderr ---\n{p.stderr[-4000:]}\n--- stdout ---\n{p.stdout[-2000:]}")
    return s


@dataclass
class Row:
    scale: str
    points: int | None
    lake_mb: float | None
    tool: str
    operation: str
    samples: list[Sample] = field(default_factory=list)
    throughput: str = ""
    findings: int | None = None
    ratio_to: "Row | None" = None
    note: str = ""
    query_seconds: list[float] = field(default_factory=list)
    # What README's generated block quotes this row as (see readme_blocks); "" = not quoted.
    tag: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def walls(self) -> list[float]:
        return [s.wall for s in self.samples]

    def median(self) -> float:
        return statistics.median(self.walls)

    def cells(self) -> list[str]:
        if not self.samples:
            return [self.scale, fmt_int(self.points), fmt_mb(self.lake_mb), self.tool, self.operation, "0", "—", "—", "—", "—", "—",
                    "—", self.note]
        ratio = "1.00" if self.ratio_to is self else (f"{self.median() / self.ratio_to.median():.2f}" if self.ratio_to else "—")
        return [
            self.scale, fmt_int(self.points), fmt_mb(self.lake_mb), self.tool, self.operation, str(len(self.samples)),
            f"{self.median():.2f}", f"{min(self.walls):.2f}", f"{max(s.rss_kib for s in self.samples) / 1024:.0f}",
            self.throughput or "—", ratio, "—" if self.findings is None else str(self.findings),
            "; ".join(x for x in (self.note, self.load_note()) if x),
        ]

    def load_note(self) -> str:
        cpu = statistics.median(s.cpu for s in self.samples)
        other = max(s.foreign_cores for s in self.samples)
        return f"CPU {cpu:.1f}s ({cpu / self.median():.1f} cores); other load ≤ {other:.1f} cores"


HEADER = ["scale", "points", "lake MB", "tool", "operation", "runs", "wall median (s)", "min (s)", "peak RSS (MiB)",
          "throughput", "ratio to kubeseen", "findings", "note"]


def fmt_int(n) -> str:
    return "—" if n is None else f"{n:,}".replace(",", " ")


def fmt_mb(x) -> str:
    return "—" if x is None else f"{x:,.0f}".replace(",", " ") if x >= 10 else f"{x:.1f}"


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r.cells()) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Datasets


def tree_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def lake_points(lake: str) -> int:
    """Rows in the lake's metrics/ Parquet files, from their footers."""
    import pyarrow.parquet as pq

    n = 0
    for root, _, files in os.walk(os.path.join(lake, "metrics")):
        n += sum(pq.read_metadata(os.path.join(root, f)).num_rows for f in files if f.endswith(".parquet"))
    return n


def generator_hash() -> str:
    """Hash of the generator's sources: a changed generator regenerates the datasets."""
    h = hashlib.sha256()
    gen = os.path.join(REPO, "src", "generate")
    for root, _, files in sorted(os.walk(gen)):
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(os.path.relpath(p, gen).encode())
            h.update(open(p, "rb").read())
    return h.hexdigest()[:16]


def generated(dest: str, scale: Scale, fmt: str, days: int) -> dict:
    """Generates (or reuses) a dataset; returns kubeseen generate's summary plus `seconds`."""
    args = ["--days", str(days), "--format", fmt, *scale.gen_args()]
    stamp_path = dest + ".stamp.json"
    stamp = {"args": args, "generator": generator_hash()}
    if os.path.isdir(dest) and os.path.exists(stamp_path):
        old = json.load(open(stamp_path))
        if old.get("stamp") == stamp:
            log(f"reusing {dest} ({old['summary'].get('points')} points)")
            return old["summary"]
    shutil.rmtree(dest, ignore_errors=True)
    tmp = dest + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    log(f"generating {dest}: kubeseen generate {shlex.join(args)}")
    t0 = time.perf_counter()
    p = subprocess.run([BIN, "generate", "--out", tmp, *args], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        die(f"kubeseen generate failed ({p.returncode}):\n{p.stderr[-4000:]}")
    try:
        summary = json.loads(p.stdout)
    except json.JSONDecodeError:
        summary = {"stdout": p.stdout[-2000:]}
    summary["seconds"] = round(secs, 1)
    os.rename(tmp, dest)
    with open(stamp_path, "w") as fh:
        json.dump({"stamp": stamp, "summary": summary}, fh, indent=1)
    log(f"generated {summary.get('points')} points in {secs:.1f}s")
    return summary


def export_inputs(root: str) -> list[str]:
    """What `land` is given: every entry of the export folder (the ground truth is written beside
    it; cached exports of older versions hold it inside, hence the filter)."""
    return [os.path.join(root, e) for e in sorted(os.listdir(root)) if not e.startswith("ground_truth")]


def gz_files(root: str) -> list[str]:
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.endswith(".gz")]
    return sorted(out)


# ---------------------------------------------------------------------------------------------
# Findings


def norm(f: dict) -> dict:
    return {k: f.get(k) for k in COMPARED}


def kubeseen_findings(stdout: str) -> list[dict]:
    doc = json.loads(stdout)
    runs = [r for r in doc["runs"] if r.get("detection") == DETECTION]
    if not runs:
        die(f"kubeseen detect printed no run of {DETECTION}")
    return sorted((norm(f) for f in runs[0]["findings"]), key=lambda f: tuple(f[k] for k in KEY))


def diff(name: str, ref: list[dict], got: list[dict]) -> str | None:
    """None when equal; else a precise description of the differing rows."""
    if ref == got:
        return None
    a = {tuple(f[k] for k in KEY): f for f in ref}
    b = {tuple(f[k] for k in KEY): f for f in got}
    out = [f"{name} findings differ from kubeseen's ({len(ref)} kubeseen rows, {len(got)} {name} rows):"]
    for k in sorted(a.keys() - b.keys()):
        out.append(f"  only in kubeseen: {json.dumps(a[k])}")
    for k in sorted(b.keys() - a.keys()):
        out.append(f"  only in {name}: {json.dumps(b[k])}")
    for k in sorted(a.keys() & b.keys()):
        if a[k] != b[k]:
            fields = [c for c in COMPARED if a[k][c] != b[k][c]]
            out.append(f"  differs {list(k)} in {fields}:\n    kubeseen: {json.dumps({c: a[k][c] for c in fields})}\n"
                       f"    {name}: {json.dumps({c: b[k][c] for c in fields})}")
    if len(out) == 1:
        out.append("  same rows in a different order")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# The run


def bench_scale(scale: Scale, problems: list[str]) -> list[Row]:
    base = os.path.join(OUT, scale.name)
    lake = os.path.join(base, "lake")
    summary = generated(lake, scale, "lake", scale.days)
    points = lake_points(lake)
    if summary.get("points") not in (None, points):
        problems.append(f"{scale.name}: kubeseen generate reported {summary.get('points')} points, the lake holds {points}")
    lake_mb = tree_bytes(os.path.join(lake, "metrics")) / 1e6
    rows: list[Row] = []

    # Landing: OTLP/JSON gzip exports of the same topology over `land_days` days, into a fresh lake each run.
    exports = os.path.join(base, f"exports-{scale.land_days}d")
    generated(exports, scale, "otlp-json-gz", scale.land_days)
    inputs = export_inputs(exports)
    landlake = os.path.join(base, "land-lake")
    land = Row(scale.name, None, None, "kubeseen", f"land otlp-json-gz ({scale.land_days}d, same topology)")
    pps, mbps = [], []
    for i in range(RUNS):
        shutil.rmtree(landlake, ignore_errors=True)
        log(f"{scale.name}: land run {i + 1}/{RUNS}")
        s = measure([BIN, "land", "--json", "--lake", landlake, *inputs])
        rep = json.loads(s.stdout)
        if rep["points_rejected"] or rep["points_duplicate"] or rep["points_landed"] != rep["points_read"]:
            problems.append(f"{scale.name}: land of the generated exports was not clean: read {rep['points_read']}, "
                            f"landed {rep['points_landed']}, duplicates {rep['points_duplicate']}, rejected "
                            f"{rep['points_rejected_by_reason']}")
        land.samples.append(s)
        land.points = rep["points_read"]
        pps.append(rep["points_read"] / s.wall)
        mbps.append(rep["bytes_decoded"] / 1e6 / s.wall)
        land.note = (f"{rep['files_read']} files, {rep['bytes_read'] / 1e6:.0f} MB gz → {rep['bytes_decoded'] / 1e6:.0f} MB JSON; "
                     f"internal {rep['points_per_second'] / 1e6:.2f} M points/s")
    land.lake_mb = tree_bytes(os.path.join(landlake, "metrics")) / 1e6
    land.throughput = f"{statistics.median(pps) / 1e6:.2f} M points/s, {statistics.median(mbps):.0f} MB/s"
    land.ratio_to = None
    land.tag = "land-kubeseen"
    rows.append(land)

    # Detection at the end of the data, kubeseen and the peers on the same lake, interleaved.
    findings_dir = os.path.join(base, "findings")
    os.makedirs(findings_dir, exist_ok=True)
    op = "detect 1h window, 30d baseline (raw points)"
    det = Row(scale.name, points, lake_mb, "kubeseen", op)
    det.ratio_to = det
    det.tag = "raw-kubeseen"
    peers = {e: Row(scale.name, points, lake_mb, f"{e} (peers.py)", op) for e in ("duckdb", "polars")}
    results: dict[str, list[dict]] = {}
    mismatched: set[str] = set()
    for i in range(RUNS):
        log(f"{scale.name}: detect round {i + 1}/{RUNS}")
        s = measure([BIN, "detect", "--lake", lake, "--at", END, "--detection", DETECTION, "--format", "json", "--no-rollups"])
        det.samples.append(s)
        results["kubeseen"] = kubeseen_findings(s.stdout)
        run0 = json.loads(s.stdout)["runs"][0]
        tm = run0.get("timings_ms", {})
        det.note = "kubeseen timings ms: " + ", ".join(f"{k} {v}" for k, v in tm.items())
        for e, r in peers.items():
            out = os.path.join(findings_dir, f"{e}.json")
            s = measure([sys.executable, os.path.join(HERE, "peers.py"), "--engine", e, "--lake", lake, "--at", END, "--out", out])
            r.samples.append(s)
            q = json.loads(s.stdout.strip().splitlines()[-1])
            r.query_seconds.append(q["query_seconds"])
            r.note = f"query (median) {statistics.median(r.query_seconds):.2f}s of the wall"
            results[e] = [norm(f) for f in json.load(open(out))]
        # Every round is checked, not only the last: a flaky difference must not hide.
        for e, r in peers.items():
            d = diff(e, results["kubeseen"], results[e])
            if d:
                problems.append(f"{scale.name}, round {i + 1}: {d}")
                mismatched.add(e)
    det.findings = len(results["kubeseen"])
    with open(os.path.join(findings_dir, "kubeseen.json"), "w") as fh:
        json.dump(results["kubeseen"], fh, indent=1)
    for e, r in peers.items():
        r.ratio_to = det
        r.findings = len(results[e])
        r.note += f"; findings equal to kubeseen's in all {RUNS} rounds" if e not in mismatched else "; FINDINGS MISMATCH"
    if not results["kubeseen"]:
        problems.append(f"{scale.name}: kubeseen found nothing at {END}: the equality check is vacuous "
                        "(the generator should inject new paths in the last hour)")
    peers["duckdb"].tag = "raw-duckdb"
    rows += [det, *peers.values()]
    rows += rollup_rows(scale, lake, points, lake_mb, det, peers["duckdb"], results["kubeseen"], problems)
    rows += stat_rows(scale, lake, points, lake_mb, problems)
    return rows


def lake_findings(lake: str, frm: datetime, to: datetime) -> dict[str, list[dict]]:
    """The findings kubeseen wrote into the lake for the windows ending in (frm, to], read back
    from the findings Parquet (not from its stdout), by window end (RFC 3339)."""
    import pyarrow.parquet as pq

    out: dict[str, list[dict]] = {}
    root = os.path.join(lake, "findings", f"detection={DETECTION}")
    for d, _, files in os.walk(root):
        for f in files:
            m = re.fullmatch(r"(\d{8}T\d{6}Z)-1h\.parquet", f)
            if not m:
                continue  # other window lengths, --splunk-compat runs
            at = datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            if not (frm < at <= to):
                continue
            rows = []
            for r in pq.read_table(os.path.join(d, f)).to_pylist():
                g = {k: r.get(k) for k in COMPARED}
                for k in ("first_seen", "last_seen"):
                    v = g[k]
                    if isinstance(v, datetime):
                        us = (v - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
                        g[k] = fmt_us(us)
                g["process_pids"] = sorted(int(x) for x in (g["process_pids"] or []) if x is not None)
                rows.append(g)
            out[iso(at)] = sorted(rows, key=lambda f: tuple(f[k] for k in KEY))
    return out


def fmt_us(us: int) -> str:
    secs, frac = divmod(us, 1_000_000)
    base = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return base + ("Z" if frac == 0 else f".{frac // 1000:03d}Z" if frac % 1000 == 0 else f".{frac:06d}Z")


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def by_window(findings: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in findings:
        out.setdefault(f["at"], []).append(norm(f))
    return {k: sorted(v, key=lambda f: tuple(f[c] for c in KEY)) for k, v in out.items()}


def diff_windows(name: str, ref: dict[str, list[dict]], got: dict[str, list[dict]], windows: list[str]) -> list[str]:
    """Per-window differences between kubeseen's backfill (ref) and a peer, over `windows`."""
    out = []
    for w in windows:
        d = diff(name, ref.get(w, []), got.get(w, []))
        if d:
            out.append(f"window ending {w}: {d}")
    return out


def rollup_rows(scale, lake, points, lake_mb, raw, duck, raw_findings, problems) -> list:
    """Precomputed baselines and backfills, each engine given the same advantage:
    kubeseen's rollups (built by `compact`) next to DuckDB's materialized presence table (built
    by fair.py), both build costs shown; kubeseen's single-pass backfill next to DuckDB's single
    pass (fair.py) and DuckDB's naive per-window loop (peers.py on 5 sampled windows). The
    backfill's findings are read back from the lake and diffed per window against both."""
    rows = []
    base = os.path.dirname(lake)
    findings_dir = os.path.join(base, "findings")
    fair = os.path.join(HERE, "fair.py")

    comp = Row(scale.name, points, lake_mb, "kubeseen", "build: hourly + daily rollups of the whole lake (compact)")
    log(f"{scale.name}: compact")
    shutil.rmtree(os.path.join(lake, "rollups"), ignore_errors=True)
    comp.samples.append(measure([BIN, "compact", "--lake", lake]))
    comp.ratio_to = comp
    comp.note = ("one run; every rollup family (presence and the statistical family's moments), while DuckDB's table "
                 "is presence only; afterwards land keeps rollups up to date for the hours it writes")
    db = os.path.join(base, "fair.duckdb")
    mat = Row(scale.name, points, lake_mb, "duckdb (fair.py)", "build: hourly presence table of the whole lake (materialize)")
    log(f"{scale.name}: fair.py materialize")
    for f in (db, db + ".wal"):
        if os.path.exists(f):
            os.remove(f)
    s = measure([sys.executable, fair, "materialize", "--lake", lake, "--db", db])
    mat.samples.append(s)
    mat.ratio_to = comp
    mat.note = f"one run; {json.loads(s.stdout.strip().splitlines()[-1])['rows']} (key, hour) rows"
    comp.tag, mat.tag = "build-kubeseen", "build-duckdb"
    rows += [comp, mat]

    op = "detect 1h window, 30d baseline (precomputed baseline)"
    hourly = Row(scale.name, points, lake_mb, "kubeseen", op + ": rollups")
    hourly.ratio_to = hourly
    fdet = Row(scale.name, points, lake_mb, "duckdb (fair.py)", op + ": materialized table")
    fdet.ratio_to = hourly
    fair_out = os.path.join(findings_dir, "duckdb-fair.json")
    for i in range(RUNS):
        log(f"{scale.name}: detect with rollups / materialized table {i + 1}/{RUNS}")
        s = measure([BIN, "detect", "--lake", lake, "--at", END, "--detection", DETECTION, "--format", "json"])
        hourly.samples.append(s)
        run0 = json.loads(s.stdout)["runs"][0]
        hourly.findings = len(run0["findings"])
        d = diff("kubeseen --no-rollups", kubeseen_findings(s.stdout), raw_findings)
        if d:
            problems.append(f"{scale.name}, round {i + 1}: with rollups vs raw points: {d}")
        s = measure([sys.executable, fair, "detect", "--lake", lake, "--db", db, "--at", END, "--out", fair_out])
        fdet.samples.append(s)
        fdet.query_seconds.append(json.loads(s.stdout.strip().splitlines()[-1])["query_seconds"])
        got = [norm(f) for f in json.load(open(fair_out))]
        fdet.findings = len(got)
        d = diff("duckdb (fair.py)", raw_findings, got)
        if d:
            problems.append(f"{scale.name}, round {i + 1}: {d}")
    hourly.note = (f"{run0['scanned']['rollup_hours']} baseline hours from rollups; findings equal to --no-rollups in every "
                   f"round; DuckDB raw / this = {duck.median() / hourly.median():.1f}x; with the build: compact "
                   f"{comp.median():.1f}s once")
    fdet.note = (f"query (median) {statistics.median(fdet.query_seconds):.2f}s; findings compared with kubeseen's in every "
                 f"round; with the build: materialize {mat.median():.1f}s once")
    hourly.tag, fdet.tag = "pre-kubeseen", "pre-duckdb"
    rows += [hourly, fdet]

    end = datetime.fromisoformat(END.replace("Z", "+00:00"))
    frm = end - timedelta(days=30)
    windows = [iso(frm + timedelta(hours=k)) for k in range(1, 721)]
    op = "backfill 720 hourly windows"
    back = Row(scale.name, points, lake_mb, "kubeseen", op + ": single pass, rollups")
    back.ratio_to = back
    fback = Row(scale.name, points, lake_mb, "duckdb (fair.py)", op + ": single pass (lag), materialized table")
    fback.ratio_to = back
    fback_out = os.path.join(findings_dir, "duckdb-fair-backfill.json")
    lake_found: dict[str, list[dict]] = {}
    for i in range(RUNS):
        log(f"{scale.name}: backfill {i + 1}/{RUNS}")
        s = measure([BIN, "backfill", "--lake", lake, "--from", iso(frm), "--to", END, "--detection", DETECTION, "--format", "json"])
        back.samples.append(s)
        doc = json.loads(s.stdout)
        back.findings = doc["findings"]
        lake_found = lake_findings(lake, frm, end)
        s = measure([sys.executable, fair, "backfill", "--lake", lake, "--db", db, "--from", iso(frm), "--to", END,
                     "--out", fback_out])
        fback.samples.append(s)
        fair_found = by_window(json.load(open(fback_out)))
        fback.findings = sum(len(v) for v in fair_found.values())
        for d in diff_windows("duckdb single pass (fair.py)", lake_found, fair_found, windows):
            problems.append(f"{scale.name}, backfill round {i + 1}: {d}")
    nonempty = sum(1 for w in windows if lake_found.get(w))
    if not nonempty:
        problems.append(f"{scale.name}: the backfill found nothing in 720 windows: its comparison proves nothing")
    back.note = (f"{doc['windows']} windows, single pass {doc['single_pass']}; findings read back from the lake: "
                 f"{nonempty} non-empty windows, equal to DuckDB's single pass per window in every round; "
                 f"= {back.median() / raw.median():.2f}x one raw-point window")
    fback.note = "findings compared per window with kubeseen's (read back from its lake) in every round"
    back.tag, fback.tag = "back-kubeseen", "back-duckdb"
    rows += [back, fback]

    loop = Row(scale.name, points, lake_mb, "duckdb (peers.py)", op + ": a loop of per-window queries (5 sampled, x144)")
    loop.ratio_to = None  # its walls are of one window each; the extrapolation is in the note
    sample_walls = []
    compared = 0
    for k in (1, 150, 300, 450, 600):
        at = iso(end - timedelta(hours=k))
        out = os.path.join(findings_dir, f"duck-loop-{at}.json")
        s = measure([sys.executable, os.path.join(HERE, "peers.py"), "--engine", "duckdb", "--lake", lake, "--at", at, "--out", out])
        sample_walls.append(s.wall)
        loop.samples.append(s)
        got = sorted((norm(f) for f in json.load(open(out))), key=lambda f: tuple(f[c] for c in KEY))
        compared += len(got)
        for d in diff_windows("duckdb separate run (peers.py)", lake_found, {at: got}, [at]):
            problems.append(f"{scale.name}: {d}")
    est = statistics.mean(sample_walls) * 720
    loop.note = (f"extrapolated: {est:.0f}s for 720 windows (mean of 5 sampled windows x 720); each sampled window's "
                 f"findings ({compared} in all) equal to the backfill's for that window; kubeseen backfill is "
                 f"{est / back.median():.0f}x faster than this loop, {fback.median() / back.median():.1f}x than DuckDB's single pass")
    loop.tag, loop.extra["estimate"] = "loop-duckdb", est
    rows.append(loop)
    return rows


def versions() -> dict:
    v = {}
    try:
        v["kubeseen"] = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        v["kubeseen"] = "?"
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
    v["git"] = (rev.stdout.strip() or "no commit") + (" (dirty)" if dirty.stdout.strip() else "")
    with open(BIN, "rb") as fh:
        v["binary"] = hashlib.sha256(fh.read()).hexdigest()[:12]
    import duckdb
    import polars
    import pyarrow
    v["duckdb"], v["polars"], v["pyarrow"] = duckdb.__version__, polars.__version__, pyarrow.__version__
    v["python"] = platform.python_version()
    return v


def machine_line() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0) / 1048576
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB"


def machine() -> str:
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.rstrip()
    return f"- CPU: {cpu}, nproc {nproc}, kernel {platform.release()}\n- `free -g`:\n\n```\n{free}\n```\n"


def report(title: str, rows: list[Row], extra: str, problems: list[str], started: float) -> None:
    v = versions()
    text = table(rows)
    print("\n" + text)
    wall = time.perf_counter() - started
    heading = f"{title} — {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
    block = [
        f"## {heading}\n",
        f"Command: `{os.environ.get('KUBESEEN_BENCH_COMMAND', shlex.join(sys.argv))}` (total wall {wall:.0f}s)\n",
        machine(),
        f"- kubeseen: {v['kubeseen']} at git {v['git']}, binary sha256 {v['binary']}; duckdb {v['duckdb']}, polars {v['polars']}, "
        f"pyarrow {v['pyarrow']}, Python {v['python']}; runs per row: {RUNS}; --at {END}\n",
        extra,
        text,
    ]
    if problems:
        block.append("**PROBLEMS:**\n\n" + "\n".join(f"```\n{p}\n```" for p in problems) + "\n")
    md = "\n".join(block) + "\n"
    if os.environ.get("KUBESEEN_BENCH_NO_RESULTS") != "1":
        new = not os.path.exists(RESULTS)
        with open(RESULTS, "a") as fh:
            if new:
                fh.write("# kubeseen benchmark results\n\nAppended by bench/run.sh and bench/land.sh; see bench/README.md "
                         "for what each row measures.\n\n")
            fh.write(md)
        log(f"appended to {RESULTS}")
        kind = "land" if title.startswith("land") else "run"
        # README quotes the largest scale of the run; not a run with problems.
        big = [r for r in rows if r.scale == rows[-1].scale] if kind == "run" else rows
        block = None if problems else readme_block(kind, big, v, heading)
        if block:
            update_readme(kind, block)
    log(f"total wall {wall:.0f}s")
    if problems:
        print("\n" + "\n\n".join(problems), file=sys.stderr)
        die(f"{len(problems)} problem(s), see above (findings mismatches are bugs in kubeseen or in bench/peers.py)")


README = os.path.join(REPO, "README.md")


def quote(r: Row) -> str:
    return f"{r.median():.2f} s" if r.samples else "—"


def readme_block(title: str, rows: list[Row], v: dict, heading: str) -> str | None:
    """The lines README quotes from this run, every figure a row of the table appended to
    RESULTS.md under `heading` (median wall of that row; peak RSS where shown)."""
    t = {r.tag: r for r in rows if r.tag}
    src = (f"Measured by `{os.environ.get('KUBESEEN_BENCH_COMMAND', shlex.join(sys.argv))}` at commit `{v['git']}` on "
           f"{machine_line()}, {datetime.now(timezone.utc).strftime('%Y-%m-%d')}: the rows of `bench/RESULTS.md`, "
           f"section \"{heading}\" (medians of {RUNS} runs"
           + ("; peers measured in the same run, findings compared)." if title == "run" else ")."))
    if title == "run" and "raw-kubeseen" in t:
        sc = t["raw-kubeseen"]
        lines = [src, "",
                 f"Data: scale {sc.scale}, {fmt_int(sc.points)} points over 31 days, {fmt_mb(sc.lake_mb)} MB of Parquet.", "",
                 "| operation | kubeseen | DuckDB |", "|---|---|---|"]

        def row(label, k, d, dnote=""):
            if k in t:
                lines.append(f"| {label} | {quote(t[k])} | {quote(t[d]) + dnote if d in t else '—'} |")

        row("one hourly window, 30-day baseline, from raw points", "raw-kubeseen", "raw-duckdb")
        row("build the precomputed baseline of the whole lake (once)", "build-kubeseen", "build-duckdb",
            " (materialized presence table)")
        row("one hourly window from the precomputed baseline", "pre-kubeseen", "pre-duckdb")
        row("backfill of 720 hourly windows, single pass", "back-kubeseen", "back-duckdb", " (lag over a materialized table)")
        if "loop-duckdb" in t and "back-kubeseen" in t:
            lines.append(f"| backfill of 720 hourly windows, one query per window | — | ≈ {t['loop-duckdb'].extra['estimate']:.0f} s "
                         "(mean of 5 sampled windows × 720) |")
        if "land-kubeseen" in t:
            r = t["land-kubeseen"]
            json_mb = r.note.split(' → ')[-1].split(';')[0].replace(" JSON", "")
            lines.append(f"| land {json_mb} of OTLP/JSON, gzip ({fmt_int(r.points)} points) | "
                         f"{quote(r)}, {max(x.rss_kib for x in r.samples) / 1024:.0f} MiB peak | — |")
        return "\n".join(lines)
    if title == "land" and "micro-land" in t:
        r, d, z = t["micro-land"], t.get("micro-decode"), t.get("micro-gzip")
        lines = [src, "",
                 f"Landing {r.extra.get('json_mb', 0):.0f} MB of OTLP/JSON ({fmt_int(r.points)} points, gzip): "
                 f"`land` {quote(r)} with {max(x.rss_kib for x in r.samples) / 1024:.0f} MiB peak"
                 + (f"; decoding alone (`--decode-only`) {quote(d)}" if d and d.samples else "")
                 + (f"; `gzip -dc` alone {quote(z)}" if z and z.samples else "") + "."]
        return "\n".join(lines)
    return None


def update_readme(kind: str, block: str) -> None:
    """Replaces README's `<!-- bench:<kind> -->` … `<!-- /bench:<kind> -->` block."""
    text = open(README, encoding="utf-8").read()
    begin, end = f"<!-- bench:{kind} -->", f"<!-- /bench:{kind} -->"
    if begin not in text or end not in text:
        log(f"README.md has no {begin} block; not updated")
        return
    a, b = text.index(begin) + len(begin), text.index(end)
    with open(README, "w", encoding="utf-8") as fh:
        fh.write(text[:a] + "\n" + block + "\n" + text[b:])
    log(f"README.md: {begin} block regenerated from this run")


STAT = "process_resource_anomaly"
STAT_KEY = ("k8s_cluster_name", "k8s_node_name", "process_executable_name")


def stat_norm(f: dict) -> dict:
    """A #9 finding as both engines can state it: key, anomaly count, first and last anomalous
    bucket (RFC 3339), the largest z (compared to 6 significant digits: the float sums of the
    two engines add in different orders)."""
    def t(v):
        if isinstance(v, datetime):
            return fmt_us((v - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1))
        return fmt_us(int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1_000_000)) if isinstance(v, str) else v
    z = f["top_z"] if "top_z" in f else max((a["z"] for a in f.get("top_anomalies") or []), default=None)
    return {**{k: f[k] for k in STAT_KEY}, "anomaly_count": int(f["anomaly_count"]),
            "first_anomaly": t(f["first_anomaly"]), "last_anomaly": t(f["last_anomaly"]),
            "top_z": None if z is None else float(f"{z:.6g}")}


def stat_diff(name: str, ref: list[dict], got: list[dict]) -> str | None:
    a = sorted((stat_norm(f) for f in ref), key=lambda f: tuple(f[k] for k in STAT_KEY))
    b = sorted((stat_norm(f) for f in got), key=lambda f: tuple(f[k] for k in STAT_KEY))
    if a == b:
        return None
    only_a = [f for f in a if f not in b][:3]
    only_b = [f for f in b if f not in a][:3]
    return f"{STAT} findings differ ({len(a)} kubeseen vs {len(b)} {name}): kubeseen only {only_a}; {name} only {only_b}"


def stat_lake_findings(lake: str, at: str) -> list[dict]:
    """kubeseen's #9 findings of the window ending `at`, read back from the lake's Parquet."""
    import pyarrow.parquet as pq

    t = datetime.fromisoformat(at.replace("Z", "+00:00"))
    path = os.path.join(lake, "findings", f"detection={STAT}", f"date={t:%Y-%m-%d}", f"{t:%Y%m%dT%H%M%SZ}-1h.parquet")
    return pq.read_table(path).to_pylist() if os.path.exists(path) else []


def stat_rows(scale, lake, points, lake_mb, problems) -> list:
    """The statistical family (#9, intent): kubeseen on moment rollups (built by the compact of
    rollup_rows) and on raw points, next to DuckDB running the whole detection as one plain SQL
    query over raw points (peer_stat.py); findings compared in every round. Then a backfill of
    720 windows of #9, its findings read back from the lake and compared with DuckDB's separate
    runs of 3 sampled windows."""
    findings_dir = os.path.join(os.path.dirname(lake), "findings")
    peer = os.path.join(HERE, "peer_stat.py")
    op = f"detect {STAT} (#9) 1h window, 30d baseline"
    roll = Row(scale.name, points, lake_mb, "kubeseen", op + ": moment rollups")
    roll.ratio_to = roll
    raw = Row(scale.name, points, lake_mb, "kubeseen", op + ": raw points (--no-rollups)")
    raw.ratio_to = roll
    duck = Row(scale.name, points, lake_mb, "duckdb (peer_stat.py)", op + ": raw points, one SQL query")
    duck.ratio_to = roll
    out = os.path.join(findings_dir, "duckdb-stat.json")
    found: list[dict] = []
    mismatched: set[str] = set()
    for i in range(RUNS):
        log(f"{scale.name}: detect {STAT} round {i + 1}/{RUNS}")
        got = {}
        for row, extra in ((roll, []), (raw, ["--no-rollups"])):
            s = measure([BIN, "detect", "--lake", lake, "--at", END, "--detection", STAT, "--format", "json", *extra])
            row.samples.append(s)
            run0 = json.loads(s.stdout)["runs"][0]
            got[row.operation] = run0["findings"]
            row.findings = len(run0["findings"])
            row.note = "kubeseen timings ms: " + ", ".join(f"{k} {v}" for k, v in run0.get("timings_ms", {}).items())
        s = measure([sys.executable, peer, "--lake", lake, "--at", END, "--out", out])
        duck.samples.append(s)
        duck.query_seconds.append(json.loads(s.stdout.strip().splitlines()[-1])["query_seconds"])
        peer_found = json.load(open(out))
        duck.findings = len(peer_found)
        found = got[roll.operation]
        for name, other in (("kubeseen --no-rollups", got[raw.operation]), ("duckdb (peer_stat.py)", peer_found)):
            d = stat_diff(name, found, other)
            if d:
                problems.append(f"{scale.name}, {STAT} round {i + 1}: {d}")
                mismatched.add(name)
    if not found:
        problems.append(f"{scale.name}: {STAT} found nothing at {END}: the equality check is vacuous")
    roll.note += (f"; findings equal to --no-rollups and to DuckDB's in all {RUNS} rounds" if not mismatched
                  else f"; FINDINGS MISMATCH with {', '.join(sorted(mismatched))}")
    roll.note += f"; DuckDB / this = {duck.median() / roll.median():.1f}x"
    duck.note = f"query (median) {statistics.median(duck.query_seconds):.2f}s of the wall"
    roll.tag, raw.tag, duck.tag = "stat-kubeseen", "stat-raw-kubeseen", "stat-duckdb"
    rows = [roll, raw, duck]

    end = datetime.fromisoformat(END.replace("Z", "+00:00"))
    frm = end - timedelta(days=30)
    back = Row(scale.name, points, lake_mb, "kubeseen", f"backfill {STAT} (#9), 720 hourly windows, moment rollups")
    back.ratio_to = raw
    for i in range(RUNS):
        log(f"{scale.name}: backfill {STAT} {i + 1}/{RUNS}")
        s = measure([BIN, "backfill", "--lake", lake, "--from", iso(frm), "--to", END, "--detection", STAT, "--format", "json"])
        back.samples.append(s)
        doc = json.loads(s.stdout)
        back.findings = doc["findings"]
    compared, back_bad = 0, 0
    for k in (1, 240, 480):
        at = iso(end - timedelta(hours=k - 1))
        o = os.path.join(findings_dir, f"duckdb-stat-{at}.json")
        measure([sys.executable, peer, "--lake", lake, "--at", at, "--out", o])
        peer_found = json.load(open(o))
        compared += len(peer_found)
        d = stat_diff("duckdb (peer_stat.py)", stat_lake_findings(lake, at), peer_found)
        if d:
            problems.append(f"{scale.name}: backfill window ending {at}: {d}")
            back_bad += 1
    verdict = "equal to" if not back_bad else f"DIFFERENT in {back_bad} from"
    back.note = (f"{doc['windows']} windows; findings of 3 sampled windows read back from the lake, {verdict} DuckDB's "
                 f"separate runs ({compared} findings); = {back.median() / raw.median():.2f}x "
                 f"one raw-point window of kubeseen, {back.median() / duck.median():.2f}x DuckDB's")
    back.tag = "stat-back-kubeseen"
    rows.append(back)
    return rows


def cmd_run(args: list[str]) -> None:
    started = time.perf_counter()
    names = args or ["small", "medium"]
    if names == ["all"]:
        names = list(SCALES)
    for n in names:
        if n not in SCALES:
            die(f"unknown scale {n!r} (small, medium, large, all)")
    rows: list[Row] = []
    problems: list[str] = []
    log("self-check of the peers (bench/test_peers.py)")
    if subprocess.run([sys.executable, os.path.join(HERE, "test_peers.py")]).returncode != 0:
        die("bench/test_peers.py failed: the peers are wrong, fix bench/peers.py first")
    extra = "Datasets (kubeseen generate, seed 1, data ending at --at):\n\n"
    for n in names:
        sc = SCALES[n]
        srows = bench_scale(sc, problems)
        rows += srows
        gen = json.load(open(os.path.join(OUT, n, "lake") + ".stamp.json"))["summary"]
        extra += (f"- {n}: {sc.describe()} → {fmt_int(srows[-1].points)} points, {fmt_mb(srows[-1].lake_mb)} MB of Parquet "
                  f"(generated in {gen.get('seconds')}s); landing input: the same topology over {sc.land_days}d as OTLP/JSON gzip\n")
    report(f"run.sh {' '.join(names)}", rows, extra + "\n", problems, started)


def cmd_land(args: list[str]) -> None:
    started = time.perf_counter()
    sc = LAND_MICRO
    exports = os.path.join(OUT, "land-micro", "exports")
    summary = generated(exports, sc, "otlp-json-gz", sc.days)
    inputs = export_inputs(exports)
    files = gz_files(exports)
    gz_bytes = sum(os.path.getsize(f) for f in files)
    problems: list[str] = []
    landlake = os.path.join(OUT, "land-micro", "lake")
    rows: list[Row] = []

    zcat = Row("land", summary.get("points"), None, "gzip -dc", "decompress only (→ /dev/null)")
    land = Row("land", None, None, "kubeseen", "land (decode + lake write)")
    dec = Row("land", None, None, "kubeseen", "land --decode-only (decode + count)")
    listing = os.path.join(OUT, "land-micro", "files.txt")
    with open(listing, "w") as fh:
        fh.write("\n".join(files) + "\n")
    decoded_bytes = None
    dec_missing = None
    for i in range(RUNS):
        log(f"land micro-benchmark round {i + 1}/{RUNS}")
        zcat.samples.append(measure(["sh", "-c", f'xargs -d "\\n" cat < "{listing}" | gzip -dc > /dev/null']))
        shutil.rmtree(landlake, ignore_errors=True)
        s = measure([BIN, "land", "--json", "--lake", landlake, *inputs])
        rep = json.loads(s.stdout)
        land.samples.append(s)
        land.points, decoded_bytes = rep["points_read"], rep["bytes_decoded"]
        if rep["points_rejected"] or rep["points_landed"] != rep["points_read"]:
            problems.append(f"land micro: not clean: {json.dumps({k: rep[k] for k in ('points_read', 'points_landed', 'points_duplicate', 'points_rejected')})}")
        if dec_missing is None:
            s = measure([BIN, "land", "--decode-only", "--json", "--lake", landlake + "-unused", *inputs], ok_codes=(0, 2, 3))
            if s.rc == 2:
                dec_missing = s.stderr.strip().splitlines()[0] if s.stderr.strip() else "exit 2"
                log(f"kubeseen land --decode-only is not available yet: {dec_missing}")
                continue
            dec_missing = ""
            dec.samples.append(s)
        elif dec_missing == "":
            dec.samples.append(measure([BIN, "land", "--decode-only", "--json", "--lake", landlake + "-unused", *inputs], ok_codes=(0, 3)))
    if dec.samples:
        try:
            drep = json.loads(dec.samples[-1].stdout)
            dec.points = drep.get("points_read")
        except json.JSONDecodeError:
            dec.note = "output not JSON"
    else:
        dec.note = f"flag missing in this build ({dec_missing})"
    land.lake_mb = tree_bytes(os.path.join(landlake, "metrics")) / 1e6
    if decoded_bytes is not None and decoded_bytes < 1e9:
        problems.append(f"land micro: only {decoded_bytes / 1e6:.0f} MB of JSON (< 1 GB): raise LAND_MICRO in bench/harness.py")
    for r in (zcat, dec, land):
        if r.samples and decoded_bytes:
            pts = land.points
            r.throughput = f"{pts / r.median() / 1e6:.2f} M points/s, {decoded_bytes / 1e6 / r.median():.0f} MB/s"
        r.ratio_to = land if land.samples else None
    land.ratio_to = land
    extra = (f"Input: kubeseen generate {sc.describe()} (seed 1) as OTLP/JSON gzip, file-exporter layout: {len(files)} files, "
             f"{gz_bytes / 1e6:.0f} MB gzip, {(decoded_bytes or 0) / 1e6:.0f} MB JSON, {fmt_int(land.points)} points. "
             "MB/s are of uncompressed JSON; ratios are to the full `land`.\n\n")
    rows = [zcat, dec, land]
    land.tag, dec.tag, zcat.tag = "micro-land", "micro-decode", "micro-gzip"
    land.extra["json_mb"] = (decoded_bytes or 0) / 1e6
    report("land.sh", rows, extra, problems, started)


def main() -> None:
    if not os.access(BIN, os.X_OK):
        die(f"no kubeseen binary at {BIN}: build it (cargo build --release) or set KUBESEEN_BIN")
    if not os.access(TIME, os.X_OK):
        die(f"{TIME} missing: apt-get install -y time")
    if RUNS < 1:
        die("KUBESEEN_BENCH_RUNS must be >= 1")
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":!bench/RESULTS.md", ":!README.md"], capture_output=True, text=True).stdout.strip()
    if dirty and os.environ.get("KUBESEEN_BENCH_NO_RESULTS") != "1" and os.environ.get("KUBESEEN_BENCH_ALLOW_DIRTY") != "1":
        die("the tree has uncommitted changes: RESULTS.md and README must name the commit that was measured. Commit "
            "first, or set KUBESEEN_BENCH_NO_RESULTS=1 (trial run) or KUBESEEN_BENCH_ALLOW_DIRTY=1 (recorded as dirty).\n"
            + dirty)
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "land"):
        die("usage: harness.py run [small|medium|large|all]... | harness.py land")
    {"run": cmd_run, "land": cmd_land}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
