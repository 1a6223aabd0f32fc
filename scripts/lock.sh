#!/usr/bin/env bash
# Refreshes every pin: uv.lock from pyproject.toml, then requirements/ (the versions Meltano
# installs itself and its plugins with). Arguments go to uv, e.g. `scripts/lock.sh --upgrade`
# for the newest versions allowed. Commit the result together with the test run that passed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
uv="$(bash scripts/uv.sh)"
"$uv" lock --quiet "$@"
"$uv" export --quiet --frozen --no-dev --extra parquet --no-emit-workspace --no-hashes --no-header \
  -o requirements/tap-exports.txt
# Meltano and the loaders of meltano.yml: the top-level pins here, the rest resolved.
while read -r name specs; do
  echo "$specs" | tr ' ' '\n' | "$uv" pip compile --quiet --universal --python-version 3.11 \
    --no-header --no-annotate "$@" -o "requirements/$name.txt" -
done <<'PLUGINS'
meltano meltano==4.4.1
target-jsonl target-jsonl==0.1.4
target-duckdb target-duckdb==0.8.0 duckdb==1.2.2
target-postgres meltanolabs-target-postgres==0.8.1
PLUGINS
