"""A 1,000,000-row export is generated, stored and served with flat sandbox memory."""

from __future__ import annotations

import csv
import io
import time
import urllib.request
from pathlib import Path

import pytest
import requests

ROWS = 1_000_000
#: The file is about 100 MB; the sandbox may grow by a fraction of that, not all of it.
MAX_GROWTH_BYTES = 40 * 1024 * 1024
_WAIT_SECONDS = 120.0


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_million_row_export_streams_with_bounded_memory(sandbox_process):
    running = sandbox_process("--rows", str(ROWS))
    pid = running.process.pid
    settings = running.config["mailgun"]
    session = requests.Session()
    session.auth = ("api", settings["api_key"])
    api = f"{settings['base_url']}/v3/exports"
    session.get(api, timeout=10)
    baseline = memory_kib(pid, "VmRSS") * 1024

    export_id = session.post(api, data={"url": "/v3/mg.example.com/bounces"}, timeout=10).json()[
        "id"
    ]
    deadline = time.monotonic() + _WAIT_SECONDS
    while session.get(f"{api}/{export_id}", timeout=10).json()["status"] != "complete":
        assert time.monotonic() < deadline, "export did not complete"
        time.sleep(0.2)
    link = session.get(
        f"{api}/{export_id}/download_url", allow_redirects=False, timeout=10
    ).headers["Location"]
    session.close()

    with urllib.request.urlopen(link, timeout=60) as response:
        size = int(response.headers["Content-Length"])
        reader = csv.reader(io.TextIOWrapper(response, encoding="utf-8", newline=""))
        header = next(reader)
        rows = sum(1 for _ in reader)
    peak = memory_kib(pid, "VmHWM") * 1024
    _, errors = running.stop()

    assert running.process.returncode == 0, errors
    assert header == ["address", "code", "error", "created_at"]
    assert rows == ROWS
    assert size > 2 * MAX_GROWTH_BYTES
    assert peak - baseline < MAX_GROWTH_BYTES, f"sandbox grew by {(peak - baseline) >> 20} MiB"
