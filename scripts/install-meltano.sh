#!/usr/bin/env bash
# Meltano in a virtualenv of its own (.venv-meltano), its pins must not constrain the tap's:
# exactly the versions in requirements/meltano.txt. Idempotent and quick when nothing changed.
# Needs only python3 and a package index.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
uv="$(bash scripts/uv.sh)"
if [ ! -x .venv-meltano/bin/python ]; then
  UV_PYTHON_DOWNLOADS=never "$uv" venv --quiet --python "${TAP_EXPORTS_PYTHON:-python3}" .venv-meltano
fi
"$uv" pip sync --quiet --python .venv-meltano/bin/python requirements/meltano.txt
