# Sourced by run.sh and land.sh: venv, binary, /usr/bin/time.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
export KUBESEEN_BENCH_VENV="${KUBESEEN_BENCH_VENV:-$HOME/.cache/kubeseen/bench-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kubeseen-target}"
export KUBESEEN_BIN="${KUBESEEN_BIN:-$CARGO_TARGET_DIR/release/kubeseen}"
export KUBESEEN_BENCH_DIR="${KUBESEEN_BENCH_DIR:-$BENCH/out}"

"$BENCH/setup.sh"
if [[ "${KUBESEEN_BENCH_NO_BUILD:-0}" != 1 ]]; then
    (cd "$REPO" && cargo build --release --quiet)
fi
if [[ ! -x /usr/bin/time ]]; then
    echo "bench: /usr/bin/time missing; installing the 'time' package" >&2
    apt-get install -y time >/dev/null
fi
