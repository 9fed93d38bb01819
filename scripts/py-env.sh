#!/usr/bin/env bash
# Creates (or reuses) the Python environment of the tests that check kubeseen's outputs with
# real implementations from PyPI: py-ocsf-models (OCSF's pydantic models) validates the OCSF
# Detection Findings, pyarrow reads their Parquet; polars and duckdb run README's notebook
# recipe (tests/it/notebook.rs).
#
#   scripts/py-env.sh        prints the environment's python path on stdout
#
# KUBESEEN_PYENV overrides the folder (default ~/.cache/kubeseen/pyenv).
set -euo pipefail

venv="${KUBESEEN_PYENV:-$HOME/.cache/kubeseen/pyenv}"
# Pinned: a new release of the models may change what they accept.
packages=(py-ocsf-models==0.10.0 pyarrow polars==2.1.0 duckdb==2.0.0)

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c 'import py_ocsf_models, pyarrow, polars, duckdb, importlib.metadata as m; assert (m.version("py-ocsf-models"), m.version("polars"), m.version("duckdb")) == ("0.10.0", "2.1.0", "2.0.0")' 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >&2
fi
echo "$venv/bin/python"
