#!/usr/bin/env bash
# The reliability run: the crash harness at full strength (>= 100 SIGKILLs) plus every other
# reliability test module that exists (faults, concurrency, hostile, security), against a
# loopback S3 server started the way scripts/test.sh starts it, optionally the fuzzers; then
# RELIABILITY.md at the repository root: every fault injected, how often, and the outcome.
#
#   scripts/reliability.sh [--fuzz] [--kills N] [--seed S] [--no-report] [--allow-dirty]
#
#   --fuzz        also run scripts/fuzz.sh (when it exists; KUBESEEN_FUZZ_ARGS are passed to it)
#   --kills N     SIGKILLs over the local targets (default 120; KUBESEEN_CRASH_KILLS)
#   --seed S      the crash harness's seed (default: its own; KUBESEEN_CRASH_SEED)
#   --no-report   leave RELIABILITY.md alone (results stay in the JSONL file)
#   --allow-dirty write RELIABILITY.md from a tree with uncommitted changes (it says so); without
#                 it the script refuses to start, so every published figure names a clean commit
#
# Results: every suite appends JSON lines to $KUBESEEN_RELIABILITY_OUT
#   {"suite":…,"fault":…,"target":…,"count":n,"outcome":…,"ok":true|false}
# (default: a fresh file under $CARGO_TARGET_DIR/reliability/; a given file is truncated first).
# Exit status: 0 when every test passed and every result line is ok, 1 otherwise.
set -euo pipefail

if [[ -n "${KUBESEEN_RELIABILITY_OUT:-}" && "$KUBESEEN_RELIABILITY_OUT" != /* ]]; then
  KUBESEEN_RELIABILITY_OUT="$PWD/$KUBESEEN_RELIABILITY_OUT"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."

invocation="scripts/reliability.sh${*:+ $*}"
fuzz=0
report=1
allow_dirty=0
while (($#)); do
  case "$1" in
    --fuzz) fuzz=1 ;;
    --kills) shift; export KUBESEEN_CRASH_KILLS="${1:?--kills needs a number}" ;;
    --seed) shift; export KUBESEEN_CRASH_SEED="${1:?--seed needs a number}" ;;
    --no-report) report=0 ;;
    --allow-dirty) allow_dirty=1 ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "reliability.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# RELIABILITY.md names the commit it was measured at: that commit must be what ran.
dirty="$(git status --porcelain --untracked-files=no -- . ':!RELIABILITY.md' 2>/dev/null || true)"
if ((report)) && [[ -n "$dirty" ]] && ((!allow_dirty)); then
  echo "reliability.sh: the tree has uncommitted changes; commit them first (RELIABILITY.md must name" >&2
  echo "the commit that ran), or pass --allow-dirty / --no-report:" >&2
  echo "$dirty" >&2
  exit 2
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kubeseen-target}"
export KUBESEEN_CRASH_KILLS="${KUBESEEN_CRASH_KILLS:-120}"
export KUBESEEN_CRASH_S3_KILLS="${KUBESEEN_CRASH_S3_KILLS:-12}"
if [[ -z "${KUBESEEN_RELIABILITY_OUT:-}" ]]; then
  mkdir -p "$CARGO_TARGET_DIR/reliability"
  KUBESEEN_RELIABILITY_OUT="$CARGO_TARGET_DIR/reliability/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
fi
export KUBESEEN_RELIABILITY_OUT
: >"$KUBESEEN_RELIABILITY_OUT"
log="${KUBESEEN_RELIABILITY_OUT%.jsonl}.log"
: >"$log"
status_file="${KUBESEEN_RELIABILITY_OUT%.jsonl}.steps"
: >"$status_file"

# The reliability modules of the integration test binary that exist on this branch.
modules=()
filters=()
for m in crash faults concurrency hostile security untrusted; do
  if grep -Eq "^[[:space:]]*mod[[:space:]]+$m;" tests/it/main.rs; then
    modules+=("$m")
    filters+=("$m::")
  else
    echo "module $m absent 0 0 0" >>"$status_file"
  fi
done

failed=0
started=$SECONDS
if ((${#modules[@]})); then
  echo "reliability.sh: cargo test --release --test it -- ${filters[*]} (KUBESEEN_CRASH_KILLS=$KUBESEEN_CRASH_KILLS, S3 kills $KUBESEEN_CRASH_S3_KILLS); log: $log"
  t0=$SECONDS
  # scripts/test.sh starts (and always stops) the loopback S3 server and runs cargo test with it.
  set +e
  scripts/test.sh --test it -- "${filters[@]}" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  set -e
  took=$((SECONDS - t0))
  ((rc == 0)) || failed=1
  for m in "${modules[@]}"; do
    pass=$(grep -Ec "^test $m::.* \.\.\. ok$" "$log" || true)
    fail=$(grep -Ec "^test $m::.* \.\.\. FAILED$" "$log" || true)
    echo "module $m ran $pass $fail $took" >>"$status_file"
  done
  echo "cargo rc $rc $took" >>"$status_file"
else
  echo "reliability.sh: no reliability test module in tests/it/main.rs" >&2
  failed=1
fi

if ((fuzz)); then
  if [[ -x scripts/fuzz.sh ]]; then
    before=$(grep -c '"suite": *"fuzz"' "$KUBESEEN_RELIABILITY_OUT" || true)
    t0=$SECONDS
    set +e
    # shellcheck disable=SC2086
    scripts/fuzz.sh ${KUBESEEN_FUZZ_ARGS:-} 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    set -e
    took=$((SECONDS - t0))
    ((rc == 0)) || failed=1
    after=$(grep -c '"suite": *"fuzz"' "$KUBESEEN_RELIABILITY_OUT" || true)
    if ((after == before)); then
      # fuzz.sh wrote no result line of its own: record its verdict.
      printf '{"suite":"fuzz","fault":"coverage-guided fuzzing (scripts/fuzz.sh %s)","target":"all fuzz targets","count":1,"outcome":"scripts/fuzz.sh exited %s after %ss","ok":%s}\n' \
        "${KUBESEEN_FUZZ_ARGS:-}" "$rc" "$took" "$( ((rc == 0)) && echo true || echo false)" >>"$KUBESEEN_RELIABILITY_OUT"
    fi
    echo "fuzz ran $rc $took" >>"$status_file"
  else
    echo "fuzz absent" >>"$status_file"
    echo "reliability.sh: --fuzz given but scripts/fuzz.sh does not exist" >&2
  fi
fi
total=$((SECONDS - started))

if ((report)); then
  cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
  mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || true)"
  rev="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$dirty" ]]; then
    rev="$rev (with uncommitted changes: --allow-dirty)"
  fi
  R_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    R_MACHINE="$(uname -srm) — ${cpu:-unknown CPU}, $(nproc) cores, ${mem:-? GiB} RAM" \
    R_RUST="$(rustc --version 2>/dev/null || echo unknown)" \
    R_REV="$rev" R_INVOCATION="$invocation" R_FILTERS="${filters[*]:-}" R_TOTAL="$total" \
    R_SEED="${KUBESEEN_CRASH_SEED:-the harness default}" \
    python3 - "$KUBESEEN_RELIABILITY_OUT" "$status_file" >RELIABILITY.md <<'PY'
import json, os, sys
from collections import OrderedDict

results_path, steps_path = sys.argv[1], sys.argv[2]
env = os.environ
meta = {
    "date": env["R_DATE"], "machine": env["R_MACHINE"], "rust": env["R_RUST"], "rev": env["R_REV"],
    "invocation": env["R_INVOCATION"], "kills": env["KUBESEEN_CRASH_KILLS"],
    "s3_kills": env["KUBESEEN_CRASH_S3_KILLS"], "seed": env["R_SEED"], "filters": env["R_FILTERS"],
    "total": env["R_TOTAL"],
}
order = {"crash": 0, "faults": 1, "concurrency": 2, "hostile": 3, "security": 4, "untrusted": 5, "fuzz": 6}
rows = OrderedDict()
bad_lines = 0
with open(results_path, encoding="utf-8") as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        try:
            r = json.loads(line)
        except ValueError:
            bad_lines += 1
            continue
        key = (str(r.get("suite", "?")), str(r.get("fault", "?")), str(r.get("target", "?")))
        row = rows.setdefault(key, {"count": 0, "outcomes": [], "ok": True, "lines": 0})
        try:
            row["count"] += int(r.get("count", 0))
        except (TypeError, ValueError):
            pass
        o = str(r.get("outcome", ""))
        if o and o not in row["outcomes"]:
            row["outcomes"].append(o)
        row["ok"] = row["ok"] and r.get("ok") is True
        row["lines"] += 1

steps = [l.split() for l in open(steps_path, encoding="utf-8") if l.strip()]

def cell(s):
    return s.replace("|", "\\|").replace("\n", " ")

out = []
out.append("# Reliability\n")
out.append("Generated by `scripts/reliability.sh` — do not edit by hand; re-run the script instead.\n")
out.append("| | |\n|---|---|")
out.append(f"| date (UTC) | {meta['date']} |")
out.append(f"| machine | {cell(meta['machine'])} |")
out.append(f"| toolchain | {cell(meta['rust'])} |")
out.append(f"| git revision | `{meta['rev']}` |")
out.append(f"| command | `{meta['invocation']}` (KUBESEEN_CRASH_KILLS={meta['kills']}, KUBESEEN_CRASH_S3_KILLS={meta['s3_kills']}, seed: {meta['seed']}) |")
out.append(f"| runs | `cargo test --release --test it -- {meta['filters']}` through `scripts/test.sh` (loopback S3 server) |")
out.append(f"| wall time | {meta['total']} s |")
out.append("")
# Each suite counts in its own unit; they are never added together. Fuzzing is reported apart:
# its count is executions of a fuzz target, not faults.
UNITS = {
    "crash": "SIGKILLs at random moments, each followed by a clean re-run",
    "faults": "S3 requests answered with an injected fault",
    "concurrency": "rounds of commands racing on one lake",
    "hostile": "hostile input files landed",
    "security": "security checks",
    "untrusted": "hostile names carried through land, detect and every output",
    "fuzz": "fuzz target executions (coverage-guided; not faults)",
}
failed = [k for k, r in rows.items() if not r["ok"]]
out.append("**" + ("Every outcome as required" if not failed and rows else f"{len(failed)} fault/target pair(s) FAILED")
           + f" ({len(rows)} fault/target pairs).** Totals per suite, each in its own unit:\n")
out.append("| suite | total | unit | fault/target pairs | all ok |")
out.append("|---|---:|---|---:|---|")
suites = OrderedDict()
for (suite, _f, _t), r in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][0])):
    t = suites.setdefault(suite, {"count": 0, "pairs": 0, "ok": True})
    t["count"] += r["count"]
    t["pairs"] += 1
    t["ok"] = t["ok"] and r["ok"]
for suite, t in suites.items():
    if suite == "fuzz":
        continue
    out.append(f"| {cell(suite)} | {t['count']} | {UNITS.get(suite, 'events (unit not declared in reliability.sh)')} | {t['pairs']} | {'yes' if t['ok'] else '**NO**'} |")
if "fuzz" in suites:
    t = suites["fuzz"]
    out.append(f"\nFuzzing, apart: {t['count']} {UNITS['fuzz']} over {t['pairs']} target(s); "
               + ("no crash, hang or leak found." if t["ok"] else "**a target FAILED** (see the fuzz rows).")
               )
out.append("")
out.append("## Faults and outcomes\n")
out.append("| suite | fault injected | target | count | outcome | ok |")
out.append("|---|---|---|---:|---|---|")
for (suite, fault, target), r in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][0])):
    outcome = " / ".join(r["outcomes"]) if r["outcomes"] else ""
    out.append(f"| {cell(suite)} | {cell(fault)} | {cell(target)} | {r['count']} | {cell(outcome)} | {'yes' if r['ok'] else '**NO**'} |")
if not rows:
    out.append("| — | — | — | 0 | no result lines were written | **NO** |")
if bad_lines:
    out.append(f"\n{bad_lines} line(s) of the results file were not JSON and were skipped.")
out.append("\n## Test modules\n")
out.append("| module | status | tests passed | tests failed |")
out.append("|---|---|---:|---:|")
for s in steps:
    if s[0] == "module":
        name, state = s[1], s[2]
        if state == "absent":
            out.append(f"| {name} | not on this branch | | |")
        else:
            lines = sum(1 for k in rows if k[0] == name)
            note = "ran" if lines else "ran (wrote no result lines)"
            out.append(f"| {name} | {note} | {s[3]} | {s[4]} |")
    elif s[0] == "cargo":
        out.append(f"\n`cargo test` exited {s[2]} after {s[3]} s.")
    elif s[0] == "fuzz":
        out.append(f"\nFuzzing: {'scripts/fuzz.sh absent' if s[1] == 'absent' else f'scripts/fuzz.sh exited {s[2]} after {s[3]} s'}.")
out.append("""
## What the crash suite checks

`tests/it/crash.rs` SIGKILLs `land` (decode, part-file writes, the rollup refresh and stale
marking it does), `compact`, `detect`, `detect --stale` and `backfill` at seeded random
moments over each command's measured uninterrupted duration, sometimes twice in a row, then
re-runs the command to completion (`backfill` with `--resume`). After every kill, every listed
Parquet object under metrics/, rollups/, findings/ reads in full and every JSON object under
reports/ and _kubeseen/ parses. After every clean re-run, additionally: no point_id twice, the
set of point_ids, and every rollup, findings file (rows), report (apart from timings and the
lake name), stale mark and reject record equal an uninterrupted run's; no staging file
(`<name>#<n>`, which the local store writes before its rename) is left once older than the
sweep threshold. "before any write / mid-write / after the last write" classifies where each
kill landed by the objects it had changed.

Reproduce one run: `KUBESEEN_CRASH_SEED=<seed> KUBESEEN_CRASH_KILLS=<n> cargo test --release --test it crash::`.

## Untrusted text

`tests/it/untrusted.rs` (`cargo test --release --test it untrusted::`) lands and detects 26
hostile names through the real binary: 16 executable paths (ESC sequences that erase a line and
forge another — `/tmp/x<ESC>[2K<CR>FORGED: all clear` —, CR, LF, TAB, NUL, BEL/BS/DEL, C1 CSI
and NEL, U+2028/U+2029, the right-to-left override `/tmp/<U+202E>gpj.exe`, bidi isolates and
marks, zero-width characters, BOM, word joiner, tag characters, soft hyphen, an OSC 8 hyperlink,
an OSC title, Markdown/HTML metacharacters with a character reference, a literal `\\x1b`, and a
4 KiB path of escapes), a node name setting the terminal title, four file names (ESC/CR, newline
with RLO, zero-width, not UTF-8), a protobuf record with a hostile path and one whose path holds
invalid UTF-8 (rejected whole as `invalid_protobuf`, counted), and three names quoted in errors
(lake, input, allowlist). Checked: no raw control, bidi or invisible character and no forged
line in `land`'s stdout and stderr, the `detect` and `backfill` tables, text logs at debug level,
every Markdown report and every error message; the exact values in the points and findings
Parquet, `detect --format json` and `land --json`; `suspicious_characters` on every finding of
every family, naming the characters; the table's `ALERT:` line and the report's section.
""")
print("\n".join(out))
PY
  echo "reliability.sh: wrote RELIABILITY.md from $KUBESEEN_RELIABILITY_OUT"
fi

if grep -q '"ok": *false' "$KUBESEEN_RELIABILITY_OUT"; then
  failed=1
fi
echo "reliability.sh: results in $KUBESEEN_RELIABILITY_OUT ($total s)"
exit "$failed"
