#!/usr/bin/env bash
# Meltano in a virtualenv of its own (.venv-meltano): its pins must not constrain the tap's.
# Idempotent and quick when nothing changed. Needs only python3 and a package index.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
if [ ! -x .venv-meltano/bin/python ]; then
  uv venv --quiet --python python3 .venv-meltano
fi
uv pip install --quiet --python .venv-meltano/bin/python 'meltano==4.4.1'
