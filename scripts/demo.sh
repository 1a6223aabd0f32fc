#!/usr/bin/env bash
# The README's demo, from a fresh machine: installs the tap and Meltano, starts the sandbox of
# every provider, runs `meltano run tap-exports target-duckdb` against it, then prints the rows
# loaded per stream next to the sandbox's ground truth and fails loudly if any differ.
#
#   DEMO_ROWS=100000 scripts/demo.sh     # rows per sandbox dataset (default 20000)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$SECONDS

echo "==> installing the tap (.venv) and Meltano (.venv-meltano)"
bash scripts/bootstrap.sh
bash scripts/install-meltano.sh

work="$(mktemp -d)"
sandbox_pid=""
stop_sandbox() {
  if [ -n "$sandbox_pid" ] && kill -0 "$sandbox_pid" 2>/dev/null; then
    kill "$sandbox_pid"
    wait "$sandbox_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_sandbox EXIT

echo "==> starting the sandbox (${DEMO_ROWS:-20000} rows per dataset)"
.venv/bin/tap-exports-sandbox --rows "${DEMO_ROWS:-20000}" --write-config "$work/tap-config.json" \
  >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$work/sandbox.log" && [ -s "$work/tap-config.json" ] && break
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then
    cat "$work/sandbox.log" >&2
    echo "FAILED: the sandbox did not start" >&2
    exit 1
  fi
  sleep 0.1
done
sandbox_url="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/sandbox.log" | head -n 1)"
if [ -z "$sandbox_url" ]; then
  cat "$work/sandbox.log" >&2
  echo "FAILED: the sandbox did not say where it listens" >&2
  exit 1
fi
cat "$work/sandbox.log"

# Every provider the sandbox emulates, as the TAP_EXPORTS_* variables Meltano reads, and
# the demo warehouse's settings: every row loaded as delivered, keyed (summary.demo_settings).
eval "$(.venv/bin/python -m demo.summary env --demo "$work/tap-config.json")"
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
meltano=(.venv-meltano/bin/meltano --environment sandbox)

echo "==> meltano run tap-exports target-duckdb"
"${meltano[@]}" install tap-exports target-duckdb
# The ground truth says what the next full sync emits, so it is read before the run.
.venv/bin/python -m demo.summary truth "$sandbox_url/_sandbox/truth" >"$work/truth.json"
warehouse="output/sandbox.duckdb"
mkdir -p "$(dirname "$warehouse")"
rm -f "$warehouse" "$warehouse.wal"
log="output/demo.log"
echo "    (each run replaces $warehouse; the whole log goes to $log)"
if ! "${meltano[@]}" run --full-refresh tap-exports target-duckdb >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "FAILED: meltano run; the whole log is in $log" >&2
  exit 1
fi
.venv/bin/python -m demo.summary log "$log"

echo "==> rows in $warehouse (schema tap_exports) vs the sandbox's ground truth"
status=0
.venv/bin/python -m demo.summary compare \
  --truth "$work/truth.json" --duckdb "$warehouse" || status=$?
echo
echo "Query the warehouse (tables keep their primary keys, so running the pipeline again upserts):"
echo "  .venv/bin/python -c \"import duckdb; duckdb.connect('$warehouse', read_only=True).sql('SELECT event, count(*) FROM tap_exports.batch_events GROUP BY 1 ORDER BY 2 DESC').show()\""
echo "demo finished in $((SECONDS - started)) s"
exit "$status"
