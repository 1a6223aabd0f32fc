"""A zip spooled to disk by a process that was killed does not stay there.

A dead process's scratch directory (with an export's archive in it) is swept by the next
zip download, which is served by a local HTTP server; a live process's is left alone.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tap_exports.io.decode import FileFormat, iter_records
from tap_exports.io.http import HttpSource


def _scratch(pid: int) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"tap-exports-{pid}-"))
    (path / "archive.zip").write_bytes(b"PK customer data")
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=20)
    return child.pid


def test_a_dead_processs_spool_is_swept_by_the_next_zip_download(httpserver):
    stale = _scratch(_dead_pid())
    alive = _scratch(os.getppid())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("export.csv", "address,code\na@x.io,550\n")
    httpserver.expect_request("/export.zip").respond_with_data(archive.getvalue())
    source = HttpSource(lambda: httpserver.url_for("/export.zip"), name="export 42 (zip)")
    try:
        with source.open() as raw:
            rows = list(iter_records(raw, fmt=FileFormat.CSV, source_name=source.name))
        assert rows == [{"address": "a@x.io", "code": "550"}]
        assert not stale.exists()
        assert alive.exists()
    finally:
        for path in (stale, alive):
            if path.exists():
                for child in path.iterdir():
                    child.unlink()
                path.rmdir()
