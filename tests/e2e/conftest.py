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
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks.postgres import Cluster, PostgresMissingError, bindir, cluster

ROOT = Path(__file__).resolve().parents[2]


def missing(what: str, how: str) -> None:
    """Skip on a developer machine without ``what``; fail in CI, where it must be there."""
    message = f"{what} not found; {how}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throwaway cluster (scripts/install-postgres.sh puts the server on the machine)."""
    try:
        bindir()
    except PostgresMissingError as error:
        missing("PostgreSQL server binaries (initdb)", str(error))
    with cluster() as server:
        yield server


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
