#!/usr/bin/env bash
# Check kubeseen's dependency tree (Cargo.lock) against the RustSec advisory database.
#
#   scripts/audit.sh             fetch the advisory database, then check
#   scripts/audit.sh --offline   check against the copy fetched last time (says how old it is)
#
# Uses cargo-deny (installed from crates.io with `cargo install --locked` when missing) and
# deny.toml, where every ignored advisory carries its reason. The database is a git repository
# on GitHub (https://github.com/rustsec/advisory-db), cloned under ~/.cargo/advisory-dbs.
#
# Exit: 0 no advisory applies; 1 advisories apply (listed above the exit); 2 setup failed
# (cargo-deny cannot be installed, deny.toml invalid); 3 the advisory database cannot be fetched
# (no network, GitHub refused): nothing was checked — this is not a pass.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

offline=false
case "${1:-}" in
  "") ;;
  --offline) offline=true ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

if ! cargo deny --version >/dev/null 2>&1; then
  echo "audit.sh: installing cargo-deny from crates.io (cargo install cargo-deny --locked)" >&2
  cargo install cargo-deny --locked || {
    echo "audit.sh: cannot install cargo-deny" >&2
    exit 2
  }
fi
echo "audit.sh: $(cargo deny --version)"

db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if $offline; then
  if [[ ! -d "$db_dir" || -z "$(ls -A "$db_dir" 2>/dev/null)" ]]; then
    echo "audit.sh: --offline, but no advisory database was ever fetched into $db_dir" >&2
    exit 3
  fi
  # The last commit of the cached database says how old it is.
  for repo in "$db_dir"/*/; do
    when="$(git -C "$repo" log -1 --format=%cI 2>/dev/null || true)"
    echo "audit.sh: --offline: using the cached advisory database $repo (last commit ${when:-unknown})"
  done
else
  echo "audit.sh: fetching the RustSec advisory database (github.com/rustsec/advisory-db)"
  fetch_log="$(mktemp)"
  if ! cargo deny --log-level warn fetch db >"$fetch_log" 2>&1; then
    cat "$fetch_log" >&2
    echo >&2
    echo "audit.sh: NOT CHECKED: cannot fetch the advisory database from GitHub (network refused" >&2
    echo "  or unreachable). Retry with network access, or run 'scripts/audit.sh --offline' to use" >&2
    echo "  a database fetched earlier." >&2
    rm -f "$fetch_log"
    exit 3
  fi
  rm -f "$fetch_log"
fi

deny_flags=(--locked)
if $offline; then
  # cargo-deny's --offline also keeps `cargo metadata` offline: every platform's crates must be
  # in the local registry cache first (crates.io, through cargo itself).
  cargo fetch --locked >/dev/null 2>&1 || echo "audit.sh: cargo fetch failed; the check may too" >&2
  deny_flags+=(--offline)
fi
echo "audit.sh: checking Cargo.lock against it (deny.toml)"
out="$(mktemp)"
cargo deny "${deny_flags[@]}" check advisories 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# cargo-deny exits 1 both for advisories and for its own failures: its summary line tells.
if grep -q '^advisories ok' "$out"; then
  echo "audit.sh: no advisory applies"
  status=0
elif grep -q '^advisories FAILED' "$out"; then
  echo "audit.sh: advisories apply (see above): upgrade, or document an ignore in deny.toml" >&2
  status=1
else
  echo "audit.sh: cargo-deny failed (exit $rc) before checking anything" >&2
  status=2
fi
rm -f "$out"
exit "$status"
