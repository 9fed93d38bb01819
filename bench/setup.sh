#!/usr/bin/env bash
# Creates the benchmark's Python venv with pinned peers (duckdb, polars, pyarrow).
# Idempotent: when the venv already holds exactly these versions it returns at once.
#   KUBESEEN_BENCH_VENV   venv location (default ~/.cache/kubeseen/bench-venv)
#   PYTHON                interpreter to build the venv from (default python3)
set -euo pipefail

VENV="${KUBESEEN_BENCH_VENV:-$HOME/.cache/kubeseen/bench-venv}"
PYTHON="${PYTHON:-python3}"
# Pinned: the newest releases with CPython 3.11 manylinux wheels when the harness was written.
PINS=(duckdb==2.0.0 polars==2.1.0 pyarrow==26.0.1)

stamp="$VENV/.kubeseen-bench-pins"
want="${PINS[*]}"
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

echo "setup.sh: creating $VENV with ${PINS[*]}" >&2
mkdir -p "$(dirname "$VENV")"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
"$VENV/bin/python" - <<'PY'
import duckdb, polars, pyarrow
print(f"setup.sh: duckdb {duckdb.__version__}, polars {polars.__version__}, pyarrow {pyarrow.__version__}")
PY
echo "$want" > "$stamp"
