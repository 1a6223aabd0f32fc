"""Private scratch space for files that must touch the disk (zip archives)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_PREFIX = "tap-exports-"


@contextmanager
def private_tempdir() -> Iterator[Path]:
    """A directory only this user can read, removed on exit even after an error.

    Export files hold customer data; they must not linger or be readable by others.
    A process killed outright (SIGKILL, OOM) cannot remove its directory, so each new
    one first sweeps the directories of processes that no longer run; the owner's
    process id is part of the name.
    """
    root = Path(tempfile.gettempdir())
    sweep_stale(root)
    path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=root))
    try:
        path.chmod(0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sweep_stale(root: Path) -> None:
    """Remove this user's scratch directories under ``root`` whose process has ended."""
    for candidate in root.glob(f"{_PREFIX}*-*"):
        owner = candidate.name.removeprefix(_PREFIX).partition("-")[0]
        if not owner.isdigit() or _running(int(owner)):
            continue
        try:
            if candidate.is_dir() and candidate.stat().st_uid == os.getuid():
                shutil.rmtree(candidate, ignore_errors=True)
        except OSError:
            continue


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
