#!/usr/bin/env bash
# Fuzz kubeseen's decoders and allowlist parser with libFuzzer (cargo-fuzz, nightly toolchain).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 60 s, every target
#
# Targets (fuzz/fuzz_targets/): otlp_json, otlp_proto, splunk_csv, raw_decode (compression and
# format sniffing, bounded gzip/zstd decompression, decoder dispatch), allowlist.
# Each target first replays its committed regression inputs (tests/fuzz-regressions/<target>/),
# then fuzzes for SECONDS_PER_TARGET starting from fuzz/seeds/<target>/ plus the corpus grown by
# earlier runs (fuzz/corpus/<target>/, not committed), with AddressSanitizer, debug assertions
# and overflow checks. A crash, panic, timeout (>3 s for one input of at most 64 KiB: inputs
# decode in milliseconds, so this is super-linear time) or out-of-memory (>2 GiB
# RSS, or one allocation over 128 MiB: the targets decode with a 1 MiB input limit, so a bigger
# allocation is a decompression bomb getting through) input is saved under
# fuzz/artifacts/<target>/; turn it into a regression input (tests/fuzz-regressions/<target>/
# <reason>--<what>, checked by tests/it/fuzz_regressions.rs) and fix the decoder.
#
# Exit: 0 nothing found; 1 a crash/hang/OOM was found or a regression input fails again;
# 2 setup failed (no nightly toolchain, cargo-fuzz cannot be installed, build error).
# Env: KUBESEEN_RELIABILITY_OUT=<file> appends one JSON line per target (suite "fuzz").
#      FUZZ_RSS_LIMIT_MB (default 2048), FUZZ_MALLOC_LIMIT_MB (default 128),
#      FUZZ_MAX_LEN (default 65536), FUZZ_TIMEOUT_S (default 3).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
seconds="${1:-60}"
shift || true
all_targets=(otlp_json otlp_proto splunk_csv raw_decode allowlist)
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
rss="${FUZZ_RSS_LIMIT_MB:-2048}"
malloc_limit="${FUZZ_MALLOC_LIMIT_MB:-128}"
timeout_s="${FUZZ_TIMEOUT_S:-3}"
max_len="${FUZZ_MAX_LEN:-65536}"

if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -lt 1 ]]; then
  echo "fuzz.sh: SECONDS_PER_TARGET must be a positive whole number, not '$seconds'" >&2
  exit 2
fi
for t in "${targets[@]}"; do
  if [[ ! -f "fuzz/fuzz_targets/$t.rs" ]]; then
    echo "fuzz.sh: no fuzz target '$t' (known: ${all_targets[*]})" >&2
    exit 2
  fi
done

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: libFuzzer needs a nightly toolchain: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz from crates.io (cargo install cargo-fuzz --locked)" >&2
  cargo install cargo-fuzz --locked || {
    echo "fuzz.sh: cannot install cargo-fuzz" >&2
    exit 2
  }
fi

# The fuzz crate has its own workspace and target dir: never the shared one of the main crate
# (its flags differ: sanitizer builds would evict the warm release build).
export CARGO_TARGET_DIR="$root/fuzz/target"
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin_dir="$CARGO_TARGET_DIR/$triple/release"

echo "== building fuzz targets (nightly, AddressSanitizer, debug assertions, overflow checks)"
(cd fuzz && cargo +nightly fuzz build --release --debug-assertions) || {
  echo "fuzz.sh: building the fuzz targets failed" >&2
  exit 2
}

log_dir="$(mktemp -d "${TMPDIR:-/tmp}/kubeseen-fuzz.XXXXXX")"
status=0
rows=()
json_escape() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

for t in "${targets[@]}"; do
  bin="$bin_dir/$t"
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  dict=()
  [[ -f "fuzz/dicts/$t.dict" ]] && dict=("-dict=fuzz/dicts/$t.dict")

  # 1. The committed regression inputs must pass (each runs once).
  regressions=()
  if [[ -d "tests/fuzz-regressions/$t" ]]; then
    while IFS= read -r -d '' f; do regressions+=("$f"); done < <(find "tests/fuzz-regressions/$t" -type f -print0 | sort -z)
  fi
  replay="none"
  if [[ ${#regressions[@]} -gt 0 ]]; then
    if "$bin" -rss_limit_mb="$rss" -malloc_limit_mb="$malloc_limit" -timeout="$timeout_s" "${regressions[@]}" >"$log_dir/$t.replay.log" 2>&1; then
      replay="${#regressions[@]} pass"
    else
      replay="FAIL"
      status=1
      echo "fuzz.sh: $t: a regression input fails again; see $log_dir/$t.replay.log" >&2
      tail -30 "$log_dir/$t.replay.log" >&2
    fi
  fi

  # 2. Fuzz for the time budget.
  before="$(find "$artifacts" -type f | sort)"
  echo "== $t: ${seconds}s (corpus $corpus + fuzz/seeds/$t, ${#regressions[@]} regression inputs: $replay)"
  "$bin" "$corpus" "fuzz/seeds/$t" -max_total_time="$seconds" -rss_limit_mb="$rss" -malloc_limit_mb="$malloc_limit" \
    -max_len="$max_len" \
    -timeout="$timeout_s" -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" >"$log_dir/$t.log" 2>&1
  rc=$?
  after="$(find "$artifacts" -type f | sort)"
  new="$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')"
  crashes="$(echo -n "$new" | grep -c . || true)"
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log_dir/$t.log" | tail -1)"
  eps="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log_dir/$t.log" | tail -1)"
  if [[ -z "$runs" ]]; then
    # No final stats (e.g. killed): the last status line has the count and the rate.
    last="$(grep -E '^#[0-9]+' "$log_dir/$t.log" | tail -1)"
    runs="$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')"
    eps="$(echo "$last" | sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p')"
  fi
  runs="${runs:-0}"
  eps="${eps:-0}"
  if [[ "$rc" -ne 0 && "$crashes" -eq 0 ]]; then
    # libFuzzer failed without leaving an input behind: report it as a finding all the same.
    crashes=1
    new="(no artifact; exit $rc — see $log_dir/$t.log)"
  fi
  ok=true
  if [[ "$crashes" -gt 0 || "$replay" == "FAIL" ]]; then
    ok=false
    status=1
    echo "fuzz.sh: $t: found $crashes failing input(s):" >&2
    echo "$new" | sed 's/^/  /' >&2
    grep -E -m 5 "panicked at|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY" "$log_dir/$t.log" | sed 's/^/  /' >&2
  fi
  rows+=("$(printf '%-12s %12s %10s %8s  %s' "$t" "$runs" "$eps" "$crashes" "$replay")")
  if [[ -n "${KUBESEEN_RELIABILITY_OUT:-}" ]]; then
    if $ok; then
      outcome="no crash, hang (>${timeout_s} s) or OOM (>${rss} MB RSS, >${malloc_limit} MB malloc) in $runs executions (${eps}/s, ${seconds}s); regression inputs: $replay"
    else
      outcome="$crashes failing input(s) under $artifacts; regression inputs: $replay"
    fi
    printf '{"suite":"fuzz","fault":%s,"target":%s,"count":%s,"outcome":%s,"ok":%s}\n' \
      "$(json_escape "libFuzzer-mutated inputs from fuzz/seeds/$t (ASan, overflow checks), ${seconds}s")" \
      "$(json_escape "$t")" "$runs" "$(json_escape "$outcome")" "$ok" >>"$KUBESEEN_RELIABILITY_OUT"
  fi
done

echo
printf '%-12s %12s %10s %8s  %s\n' target runs "execs/s" crashes "regressions"
for r in "${rows[@]}"; do echo "$r"; done
echo "logs: $log_dir"
exit "$status"
