#!/usr/bin/env bash
# Creates .venv with the tap, its sandbox and the development tools. Idempotent and quick
# when nothing changed. Sourced by the other scripts; needs only python3 and a package index.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
if [ ! -x .venv/bin/python ]; then
  uv venv --quiet --python python3 .venv
fi
uv pip install --quiet --python .venv/bin/python -e '.[dev]'
