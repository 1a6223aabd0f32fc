"""A small Mailgun client for the sandbox tests, speaking plain HTTP like the tap does."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tap_exports.sandbox import Sandbox

_WAIT_SECONDS = 10.0


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
    def fetch_rows(link: str, **dialect: Any) -> list[dict[str, str]]:
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
