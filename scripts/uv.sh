#!/usr/bin/env bash
# Prints the path of a uv to use: the one on PATH, or one installed into .tools/ (a virtualenv
# of its own, because some system Pythons refuse `pip install` outside a venv). Needs python3.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
uv_version="0.13.9"
if command -v uv >/dev/null 2>&1; then
  command -v uv
  exit 0
fi
tools="$root/.tools"
if [ ! -x "$tools/bin/uv" ]; then
  if ! python3 -m venv "$tools" >/dev/null 2>&1; then
    rm -rf "$tools"
    # Debian ships venv's pip bootstrap in a package of its own.
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
      python3 -m venv "$tools"
    else
      echo "python3 cannot create a virtualenv: install the python3-venv package (or uv) first." >&2
      exit 1
    fi
  fi
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$uv_version" >&2
fi
echo "$tools/bin/uv"
