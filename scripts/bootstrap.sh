#!/usr/bin/env bash
# Creates .venv with exactly the versions in uv.lock: the tap, its sandbox, the demo's summary
# and the development tools. Idempotent and quick when nothing changed. Needs only python3
# and a package index; fails if uv.lock does not match pyproject.toml.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
uv="$(bash scripts/uv.sh)"
# Never download a Python build: use the interpreter this machine has.
UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT="$root/.venv" \
  "$uv" sync --quiet --locked --all-extras --python "${TAP_EXPORTS_PYTHON:-python3}"
