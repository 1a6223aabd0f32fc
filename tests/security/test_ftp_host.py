"""The FTP login goes only to the host the user configured, whatever the API names.

Emarsys' export status carries an ``ftp_host``; here it names another loopback address,
where a listener plays an FTP server and writes down whatever it is told.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tap_exports.errors import ProviderError
from tap_exports_sandbox import Sandbox
from tap_exports_sandbox.emarsys.options import EmarsysOptions
from tests.conftest import SandboxFactory
from tests.support import sync

OTHER_HOST = "127.0.0.2"


class Listener:
    """Greets like an FTP server on ``OTHER_HOST`` and records every line it receives."""

    def __init__(self, port: int) -> None:
        self.lines: list[str] = []
        self._server = socket.create_server((OTHER_HOST, port))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                connection.sendall(b"220 hello\r\n")
                for _ in range(4):
                    try:
                        data = connection.recv(1024)
                    except OSError:
                        break
                    if not data:
                        break
                    self.lines.append(data.decode(errors="replace"))
                    connection.sendall(b"331 go on\r\n")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    options = EmarsysOptions(distribution_method="ftp", reported_ftp_host=OTHER_HOST)
    return sandbox_factory(emarsys=options)


@pytest.fixture
def listener(sandbox: Sandbox) -> Iterator[Listener]:
    running = Listener(sandbox.ftp.port)
    yield running
    running.stop()


def test_an_export_naming_another_ftp_host_is_refused_without_logging_in(
    sandbox: Sandbox, listener: Listener
):
    config = sandbox.tap_config()
    config = {"emarsys": {**config["emarsys"], "exports": ["registrations"]}}
    configured = config["emarsys"]["ftp"]["host"]
    with pytest.raises(ProviderError) as refused:
        sync(config)
    message = str(refused.value)
    assert f"names FTP host '{OTHER_HOST}', not the configured '{configured}'" in message
    assert listener.lines == []
