#!/usr/bin/env bash
# Landing micro-benchmark: >= 1 GB of OTLP/JSON (gzip, file-exporter layout) through
# `kubeseen land`, next to decompress-only and `kubeseen land --decode-only`.
# See bench/README.md. Not part of CI.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
export KUBESEEN_BENCH_COMMAND="bench/land.sh${*:+ $*}"
start=$(date +%s)
set +e
"$KUBESEEN_BENCH_VENV/bin/python" "$BENCH/harness.py" land "$@"
rc=$?
set -e
echo "bench/land.sh: $(( $(date +%s) - start ))s wall, exit $rc" >&2
exit $rc
