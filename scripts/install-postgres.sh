#!/usr/bin/env bash
# PostgreSQL server binaries for the warehouse end-to-end test (Debian packages).
# The tests start and stop their own throwaway cluster on a loopback port.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries are missing; install the 'postgresql' package to run the warehouse test." >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
