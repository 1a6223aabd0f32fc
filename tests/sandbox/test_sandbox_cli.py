"""``tap-exports-sandbox`` starts everything, writes the tap config, stops cleanly on a signal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

_START_SECONDS = 30.0


def start_cli(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tap_exports.sandbox", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_file(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while not path.exists() or not path.read_text().endswith("\n"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, errors = process.communicate(timeout=10)
            pytest.fail(f"the sandbox did not start: {errors}")
        time.sleep(0.05)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(tmp_path, stop_signal):
    config_file = tmp_path / "tap-config.json"
    process = start_cli(
        "--port", "0", "--rows", "50", "--seed", "3", "--write-config", str(config_file)
    )
    try:
        wait_for_file(config_file, process)
        assert process.stdout is not None
        first_line = process.stdout.readline()
        base_url = first_line.rsplit(" ", 1)[-1].strip()
        assert base_url.startswith("http://127.0.0.1:")

        config = json.loads(config_file.read_text())
        assert requests.get(f"{base_url}/_sandbox/config", timeout=10).json() == config
        assert config["mailgun"]["base_url"] == f"{base_url}/mailgun"
        truth = requests.get(f"{base_url}/_sandbox/truth", timeout=10).json()
        assert truth["streams"]["mailgun_domains"] == 50
    finally:
        process.send_signal(stop_signal)
        output, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "stopping" in output
    assert "Traceback" not in errors
