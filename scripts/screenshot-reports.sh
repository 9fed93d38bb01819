#!/usr/bin/env bash
# Screenshots of the run summary (`detect`) and the range summary (`backfill`) on a generated
# demo lake, taken with Debian's headless Chromium, so a person can look at the pages without
# opening a browser. Not run by CI (it needs `apt-get install -y chromium` and a few minutes).
#
#   scripts/screenshot-reports.sh [OUT_DIR]     default OUT_DIR: target/screenshots
#
# Writes OUT_DIR/run-summary.png, OUT_DIR/range-summary.png (full pages, 1400 px wide) and
# OUT_DIR/lake (the lake they were made from). Env: KUBESEEN (the binary; default
# target/release/kubeseen under CARGO_TARGET_DIR), BACKFILL_DAYS (default 30), CHROMIUM,
# BACKFILL_FAMILIES (default new_value: the families whose detections the backfill runs, from
# `kubeseen schema findings`; the new-value family's single pass makes a month take minutes,
# the rule and statistical families run every window in full, ~30 s per window on 2 cores).
# The browser gets a new empty profile, no network services and no sandbox (containers).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$(realpath -m "${1:-target/screenshots}")"
bin="${KUBESEEN:-${CARGO_TARGET_DIR:-target}/release/kubeseen}"
chromium="${CHROMIUM:-chromium}"
days="${BACKFILL_DAYS:-30}"
end="2026-11-20T12:00:00Z"
from="$(date -u -d "$end - $days days" +%Y-%m-%dT%H:%M:%SZ)"

command -v "$chromium" >/dev/null || { echo "no $chromium: apt-get install -y chromium" >&2; exit 2; }
[[ -x "$bin" ]] || { echo "no kubeseen binary at $bin: cargo build --release" >&2; exit 2; }

rm -rf "$out/lake"
mkdir -p "$out"
"$bin" generate --out "$out/lake" --format lake --clusters 2 --nodes 3 --processes 12 \
  --days 31 --interval 300s --end "$end" --seed 7 >/dev/null
run_json="$("$bin" detect --lake "$out/lake" --at "$end" --format json)"
families="${BACKFILL_FAMILIES:-new_value}"
chosen=()
while read -r slug; do chosen+=(--detection "$slug"); done < <(
  "$bin" schema findings --format json |
    python3 -c 'import json,sys; f=sys.argv[1].split(","); [print(d["detection"]) for d in json.load(sys.stdin)["findings"] if d["family"] in f]' "$families")
range_json="$("$bin" backfill --lake "$out/lake" --from "$from" --to "$end" "${chosen[@]}" --format json)"
page() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]]["html"])' "$1"; }
run_html="$(page run_summary <<<"$run_json")"
range_html="$(page range_summary <<<"$range_json")"

shot() { # html png height
  local profile
  profile="$(mktemp -d)"
  "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size="1400,$3" \
    --screenshot="$2" "file://$1" 2>/dev/null
  rm -rf "$profile"
}
shot "$run_html" "$out/run-summary.png" 4400
shot "$range_html" "$out/range-summary.png" 2000
echo "run summary:   $run_html"
echo "range summary: $range_html"
echo "screenshots:   $out/run-summary.png $out/range-summary.png"
