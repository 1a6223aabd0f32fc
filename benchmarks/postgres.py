"""A throwaway PostgreSQL cluster on 127.0.0.1, for the pipeline benchmark and the warehouse tests.

Debian keeps the server's binaries off PATH (scripts/install-postgres.sh installs them);
the server refuses to run as root, so as root the cluster belongs to ``postgres``. It runs
with ``fsync=off``, like the end-to-end tests: the benchmark measures loading, not the disk.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg


class PostgresMissingError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


@dataclass(frozen=True)
class Cluster:
    """A running cluster; trust authentication, user and database ``postgres``."""

    port: int
    host: str = "127.0.0.1"

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """An autocommit connection as ``postgres``."""
        return psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def target_config(self) -> dict[str, Any]:
        """The connection settings of target-postgres."""
        return {
            "host": self.host,
            "port": self.port,
            "user": "postgres",
            "password": "",
            "database": "postgres",
        }

    def target_env(self) -> dict[str, str]:
        """The same settings as Meltano reads them from the environment."""
        return {
            f"TARGET_POSTGRES_{name.upper()}": str(value)
            for name, value in self.target_config().items()
        }


def bindir() -> Path:
    """The newest installed server's binaries."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    on_path = shutil.which("initdb")
    if found:
        return found[-1].parent
    if on_path:
        return Path(on_path).parent
    msg = "PostgreSQL server binaries (initdb) not found; run scripts/install-postgres.sh as root"
    raise PostgresMissingError(msg)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a cluster in a temporary directory; stop and delete it on exit."""
    binaries = bindir()
    workdir = Path(tempfile.mkdtemp(prefix="tap-exports-bench-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, log = workdir / "data", workdir / "server.log"
    try:
        subprocess.run(
            [*as_owner, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = Cluster(port=_free_port())
        options = f"-p {server.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = [*as_owner, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log)]
        subprocess.run([*pg_ctl, "-w", "-o", options, "start"], check=True, timeout=120)
        try:
            yield server
        finally:
            subprocess.run([*pg_ctl, "-w", "-m", "fast", "stop"], check=False, timeout=120)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
