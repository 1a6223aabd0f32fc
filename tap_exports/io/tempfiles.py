"""Private scratch space for files that must touch the disk (zip archives)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def private_tempdir() -> Iterator[Path]:
    """A directory only this user can read, removed on exit even after an error.

    Export files hold customer data; they must not linger or be readable by others.
    """
    path = Path(tempfile.mkdtemp(prefix="tap-exports-"))
    try:
        path.chmod(0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
