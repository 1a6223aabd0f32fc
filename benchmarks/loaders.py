"""The loaders of meltano.yml, installed by Meltano exactly as users get them.

``meltano install`` builds each loader's virtualenv from its pinned ``pip_url`` in a system
directory of its own (the repository's ``.meltano`` is never touched); the benchmark then
runs the loaders' executables directly, so what it times is the loader, not Meltano.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from benchmarks.measure import ROOT

MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"


class LoaderMissingError(RuntimeError):
    """Meltano (scripts/install-meltano.sh) is not installed, or a loader failed to install."""


def install(names: tuple[str, ...], system_dir: Path) -> dict[str, Path]:
    """Install ``names`` into ``system_dir``; their executables by name."""
    if not MELTANO.exists():
        msg = f"{MELTANO} not found; run scripts/install-meltano.sh"
        raise LoaderMissingError(msg)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MELTANO_", "TARGET_", "TAP_EXPORTS_")) and key != "VIRTUAL_ENV"
    }
    env |= {
        "MELTANO_PROJECT_ROOT": str(ROOT),
        "MELTANO_SYS_DIR_ROOT": str(system_dir),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    done = subprocess.run(
        [str(MELTANO), "install", *names],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        msg = f"meltano install {' '.join(names)} failed:\n{done.stderr[-2000:]}"
        raise LoaderMissingError(msg)
    return {name: system_dir / "loaders" / name / "venv" / "bin" / name for name in names}
