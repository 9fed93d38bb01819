#!/usr/bin/env bash
# Run kubeseen's whole test suite on a fresh machine: installs and starts a
# loopback-only S3-compatible server (moto, see scripts/s3-server.sh), runs
# `cargo test --release` against it, and stops the server on exit, failure or Ctrl-C.
#
#   scripts/test.sh [extra cargo test args...]    e.g. scripts/test.sh -- --nocapture
#
# CARGO_TARGET_DIR, KUBESEEN_VENV and KUBESEEN_S3_STATE are honoured when set.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each run gets its own server state dir unless one was given, so two runs
# (or a server started by hand) never stop each other's server.
own_state=""
if [[ -z "${KUBESEEN_S3_STATE:-}" ]]; then
  own_state="$(mktemp -d "${TMPDIR:-/tmp}/kubeseen-s3.XXXXXX")"
  export KUBESEEN_S3_STATE="$own_state"
fi

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  scripts/s3-server.sh stop || true
  if [[ -n "$own_state" ]]; then rm -rf "$own_state"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/s3-server.sh install
s3_env="$(scripts/s3-server.sh start)"
eval "$s3_env"

export KUBESEEN_TEST_S3_BUCKET="${KUBESEEN_TEST_S3_BUCKET:-kubeseen-test}"
scripts/s3-server.sh mkbucket "$KUBESEEN_TEST_S3_BUCKET"

export KUBESEEN_REQUIRE_S3=1

# The OCSF tests validate every record with py-ocsf-models (see scripts/py-env.sh); under this
# script a missing Python environment fails them instead of skipping them.
KUBESEEN_TEST_PYTHON="$(scripts/py-env.sh)"
export KUBESEEN_TEST_PYTHON
export KUBESEEN_REQUIRE_PYTHON=1
echo "test.sh: S3 tests use ${KUBESEEN_TEST_S3_ENDPOINT} (moto, bucket ${KUBESEEN_TEST_S3_BUCKET})"

cargo test --release "$@"
