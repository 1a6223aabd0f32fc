"""Real services for the end-to-end tests: a throwaway PostgreSQL cluster and a Meltano project.

Both are started once per test session. PostgreSQL runs from Debian's server binaries
(scripts/install-postgres.sh) on a free loopback port, owned by the ``postgres`` user
when the tests run as root; Meltano comes from its own virtualenv
(scripts/install-meltano.sh) and keeps its plugins and system database in a temporary
directory, so the repository's own ``.meltano`` is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def missing(what: str, how: str) -> None:
    """Skip on a developer machine without ``what``; fail in CI, where it must be there."""
    message = f"{what} not found; {how}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server's binaries (Debian keeps them off PATH)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


@dataclass(frozen=True)
class Postgres:
    """A running throwaway cluster; trust authentication on 127.0.0.1 only."""

    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"
    database: str = "postgres"

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=self.database, autocommit=True
        )

    def target_env(self) -> dict[str, str]:
        """target-postgres settings, as Meltano reads them from the environment."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": "",
            "TARGET_POSTGRES_DATABASE": self.database,
        }


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bindir = postgres_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb)", "run scripts/install-postgres.sh as root")
    assert bindir is not None
    workdir = Path(tempfile.mkdtemp(prefix="tap-exports-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(workdir, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, log = workdir / "data", workdir / "server.log"
    subprocess.run(
        [*as_owner, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = Postgres(port=free_port())
    options = f"-p {server.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log)]
    subprocess.run([*pg_ctl, "-w", "-o", options, "start"], check=True, timeout=120)
    try:
        yield server
    finally:
        subprocess.run([*pg_ctl, "-w", "-m", "fast", "stop"], check=False, timeout=120)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True)
class MeltanoProject:
    """The repository's meltano.yml, with plugins and state kept in ``system_dir``."""

    executable: Path
    system_dir: Path
    output_dir: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    #: The project directory (its meltano.yml); the repository unless a test made its own.
    root: Path = ROOT

    def worker(self, name: str, **settings: str) -> MeltanoProject:
        """The project installed again in a system directory of its own, as on another machine.

        Meltano keeps a plugin's catalog in ``<system dir>/run/<plugin>/``, so two runs of
        one plugin in one system directory overwrite each other's files.
        """
        worker = replace(
            self, system_dir=self.system_dir.parent / name, settings={**self.settings, **settings}
        )
        worker.run("install", "tap-exports", "target-postgres")
        return worker

    def env(self, extra: Mapping[str, str] = {}) -> dict[str, str]:
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TAP_EXPORTS_", "TARGET_", "MELTANO_")) and key != "VIRTUAL_ENV"
        }
        return {
            **inherited,
            "MELTANO_PROJECT_ROOT": str(self.root),
            "MELTANO_SYS_DIR_ROOT": str(self.system_dir),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TARGET_JSONL_DESTINATION_PATH": str(self.output_dir),
            "TARGET_DUCKDB_PATH": str(self.output_dir / "warehouse.duckdb"),
            **self.settings,
            **extra,
        }

    def run(
        self, *args: str, env: Mapping[str, str] = {}, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``meltano ARGS`` in the repository, failing with Meltano's own output."""
        result = subprocess.run(
            [str(self.executable), *args],
            cwd=self.root,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"meltano {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def state(self, state_id: str, env: Mapping[str, str] = {}) -> dict[str, Any]:
        """The Singer state Meltano keeps for ``state_id``."""
        output = self.run("state", "get", state_id, env=env).stdout
        value: dict[str, Any] = json.loads(output)
        return value


@pytest.fixture(scope="session")
def meltano(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """Meltano and every plugin of meltano.yml, installed once per session."""
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-meltano.sh")],
        check=True,
        timeout=600,
    )
    base = tmp_path_factory.mktemp("meltano")
    project = MeltanoProject(
        executable=ROOT / ".venv-meltano" / "bin" / "meltano",
        system_dir=base / "system",
        output_dir=base / "output",
    )
    project.output_dir.mkdir()
    project.run("install")
    return project
