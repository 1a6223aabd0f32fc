"""Transport faults (latency, error status, reset, cut body) applied to any WSGI response.

Shared by the provider emulators and the storage server so that "drop the connection"
means the same thing everywhere: the socket is shut down with a zero linger (the client
sees a reset or a short read) and the server thread treats it as a dropped connection.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from werkzeug.wrappers import Response

from tap_exports_sandbox.faults import Fault, FaultKind

WSGIEnviron = dict[str, Any]
WSGIApp = Callable[[WSGIEnviron, Callable[..., Any]], Iterable[bytes]]


def drop_connection(environ: WSGIEnviron) -> None:
    """Shut the client's socket down so that closing it sends a reset."""
    connection = environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        with contextlib.suppress(OSError):
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.shutdown(socket.SHUT_RDWR)


class _Reset:
    """A response body that drops the connection before anything is sent."""

    def __init__(self, environ: WSGIEnviron) -> None:
        self._environ = environ

    def __iter__(self) -> Iterator[bytes]:
        drop_connection(self._environ)
        raise ConnectionAbortedError("connection reset by a sandbox fault")


def cut_body(chunks: Iterable[bytes], n_bytes: int, environ: WSGIEnviron) -> Iterator[bytes]:
    """Send the headers and the first ``n_bytes`` of ``chunks``, then drop the connection."""
    yield b""
    room = n_bytes
    for chunk in chunks:
        if len(chunk) >= room:
            yield chunk[:room]
            break
        room -= len(chunk)
        yield chunk
    drop_connection(environ)
    raise ConnectionAbortedError("connection cut mid-body by a sandbox fault")


def error_response(fault: Fault) -> Response:
    """The response a ``status`` fault asks for; dict and list bodies are JSON."""
    if isinstance(fault.body, dict | list):
        body, mimetype = json.dumps(fault.body), "application/json"
    else:
        body, mimetype = fault.body or "", "text/plain"
    return Response(body, status=fault.code, headers=dict(fault.headers), mimetype=mimetype)


#: Longest a ``hang`` fault holds an answer when nothing releases it.
HANG_LIMIT_SECONDS = 600.0


def early_response(
    faults: Iterable[Fault], environ: WSGIEnviron, released: threading.Event
) -> Response | None:
    """Sleep for latency faults, hang until ``released``; return the response replacing
    the real one, if any."""
    response = None
    for fault in faults:
        if fault.kind is FaultKind.LATENCY:
            time.sleep(fault.seconds)
        elif fault.kind is FaultKind.HANG:
            released.wait(HANG_LIMIT_SECONDS)
            response = Response(_Reset(environ))
        elif fault.kind is FaultKind.RESET and response is None:
            response = Response(_Reset(environ))
        elif fault.kind is FaultKind.STATUS and response is None:
            response = error_response(fault)
    return response


def cut_response(response: Response, faults: Iterable[Fault], environ: WSGIEnviron) -> Response:
    """Apply a ``cut_after`` or ``truncate`` fault to a response that is about to be sent."""
    for fault in faults:
        if fault.kind is FaultKind.CUT_AFTER:
            response.response = cut_body(response.iter_encoded(), fault.n_bytes, environ)
        elif fault.kind is FaultKind.TRUNCATE:
            response.response = [_lines_within(response.iter_encoded(), fault.n_bytes)]
            response.headers.pop("Content-Length", None)
            response.headers.pop("ETag", None)
    return response


def _lines_within(chunks: Iterable[bytes], n_bytes: int) -> bytes:
    """The whole lines among the first ``n_bytes`` of ``chunks``."""
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) >= n_bytes:
            break
    cut = head.rfind(b"\n", 0, n_bytes) + 1
    return bytes(head[:cut])
