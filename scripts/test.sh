#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then lint, types, tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
bash scripts/install-postgres.sh
bash scripts/install-meltano.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Most tests wait on sockets and subprocesses, not the CPU: four workers even on two cores.
.venv/bin/python -m pytest -n "${TEST_WORKERS:-4}" --dist loadgroup "$@"
