"""``tap-exports-sandbox`` starts everything, writes the tap config, stops cleanly on a signal."""

from __future__ import annotations

import signal

import pytest
import requests


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(sandbox_process, stop_signal):
    running = sandbox_process("--port", "0", "--rows", "50", "--seed", "3")
    assert running.base_url.startswith("http://127.0.0.1:")
    assert requests.get(f"{running.base_url}/_sandbox/config", timeout=10).json() == running.config
    truth = requests.get(f"{running.base_url}/_sandbox/truth", timeout=10).json()
    assert truth["streams"]["mailgun_domains"] == 50

    output, errors = running.stop(stop_signal)
    assert running.process.returncode == 0, errors
    assert output.splitlines()[0] == f"tap-exports sandbox listening on {running.base_url}"
    assert output.splitlines()[-1] == "stopping"
    assert "Traceback" not in errors
