"""A small Mailgun client for the sandbox tests, speaking plain HTTP like the tap does."""

from __future__ import annotations

import builtins
import csv
import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_exports_sandbox import Sandbox

_WAIT_SECONDS = 10.0
_START_SECONDS = 30.0


class MailgunClient:
    """Calls the emulated Mailgun exports API with the sandbox's credentials."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.api = f"{settings['base_url']}/v3/exports"
        self.session = requests.Session()
        self.session.auth = ("api", settings["api_key"])

    def create(self, url: str) -> requests.Response:
        return self.session.post(self.api, data={"url": url})

    def get(self, export_id: str) -> requests.Response:
        return self.session.get(f"{self.api}/{export_id}")

    def list(self, url: str | None = None) -> requests.Response:
        return self.session.get(self.api, params={} if url is None else {"url": url})

    def download_url(self, export_id: str) -> requests.Response:
        return self.session.get(f"{self.api}/{export_id}/download_url", allow_redirects=False)

    def wait_until_done(self, export_id: str) -> str:
        """Poll until the export leaves requested/processing; returns the final status."""
        deadline = time.monotonic() + _WAIT_SECONDS
        while time.monotonic() < deadline:
            status = self.get(export_id).json()["status"]
            if status not in {"requested", "processing"}:
                return str(status)
            time.sleep(0.02)
        pytest.fail(f"export {export_id} did not finish within {_WAIT_SECONDS} s")

    def ready_link(self, url: str) -> str:
        """Create an export of ``url``, wait for it, and return its pre-signed link."""
        export_id = self.create(url).json()["id"]
        assert self.wait_until_done(export_id) == "complete"
        response = self.download_url(export_id)
        assert response.status_code == 302
        return response.headers["Location"]

    @staticmethod
    def fetch_rows(link: str, **dialect: Any) -> builtins.list[dict[str, str]]:
        """Download a file without credentials and parse it the way a careful tap does."""
        response = requests.get(link, timeout=30)
        response.raise_for_status()
        text = io.StringIO(response.content.decode("utf-8-sig"), newline="")
        return list(csv.DictReader(text, **dialect))

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def mailgun_client() -> Iterator[Callable[[Sandbox], MailgunClient]]:
    """Make Mailgun clients for any sandbox; they are closed after the test."""
    clients: list[MailgunClient] = []

    def make(sandbox: Sandbox) -> MailgunClient:
        clients.append(MailgunClient(sandbox.tap_config()["mailgun"]))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def mailgun(sandbox: Sandbox, mailgun_client: Callable[[Sandbox], MailgunClient]) -> MailgunClient:
    """A Mailgun client for the ``sandbox`` fixture."""
    return mailgun_client(sandbox)


@dataclass
class SandboxProcess:
    """``python -m tap_exports_sandbox`` running in a child process."""

    process: subprocess.Popen[str]
    config: dict[str, Any]

    @property
    def base_url(self) -> str:
        return str(self.config["mailgun"]["base_url"]).removesuffix("/mailgun")

    def stop(self, stop_signal: signal.Signals = signal.SIGTERM) -> tuple[str, str]:
        """Signal the sandbox and wait for it to exit; returns its stdout and stderr."""
        self.process.send_signal(stop_signal)
        return self.process.communicate(timeout=60)


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[Callable[..., SandboxProcess]]:
    """Start the sandbox command with extra arguments; waits until its config is written."""
    started: list[subprocess.Popen[str]] = []

    def start(*arguments: str) -> SandboxProcess:
        config_file = tmp_path / f"config-{len(started)}.json"
        command = [sys.executable, "-m", "tap_exports_sandbox", "--write-config", str(config_file)]
        process = subprocess.Popen(
            [*command, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append(process)
        deadline = time.monotonic() + _START_SECONDS
        while not (config_file.exists() and config_file.read_text().endswith("\n")):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the sandbox did not start: {process.communicate(timeout=10)[1]}")
            time.sleep(0.05)
        return SandboxProcess(process, json.loads(config_file.read_text()))

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
