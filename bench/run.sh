#!/usr/bin/env bash
# The benchmark: kubeseen land / detect next to DuckDB and Polars peers, on generated lakes.
#   bench/run.sh [small|medium|large|all]...     (default: small medium)
# See bench/README.md. Not part of CI.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
export KUBESEEN_BENCH_COMMAND="bench/run.sh${*:+ $*}"
start=$(date +%s)
set +e
"$KUBESEEN_BENCH_VENV/bin/python" "$BENCH/harness.py" run "$@"
rc=$?
set -e
echo "bench/run.sh $*: $(( $(date +%s) - start ))s wall, exit $rc" >&2
exit $rc
