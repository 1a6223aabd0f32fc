"""A threaded WSGI server on 127.0.0.1 that really stops.

Werkzeug's server closes every connection after one response; this subclass also
remembers the connections in flight so that :meth:`LocalHttpServer.stop` can cut
a slow download short and then join every request thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from tap_exports_sandbox.transport import WSGIApp

HOST = "127.0.0.1"
_POLL_SECONDS = 0.05  # how soon the accept loop notices stop()
_JOIN_SECONDS = 10.0


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 without a log line per request (benchmarks make millions)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Request lines are counted by the sandbox, not printed."""


class _TrackingServer(ThreadedWSGIServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def cut_open_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class LocalHttpServer:
    """Serves one WSGI app on ``127.0.0.1:port`` (``0``: any free port) in a thread."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        port: int = 0,
        handler: type[WSGIRequestHandler] = WSGIRequestHandler,
        name: str = "sandbox-http",
    ) -> None:
        quiet = type(f"Quiet{handler.__name__}", (_QuietHandler, handler), {})
        self._server = _TrackingServer(HOST, port, app, handler=quiet)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=name,
            daemon=True,
        )

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Start answering requests."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, cut connections still open, join every thread, close the socket."""
        if self.running:
            self._server.shutdown()
            self._thread.join(_JOIN_SECONDS)
        self._server.cut_open_connections()
        self._server.server_close()
