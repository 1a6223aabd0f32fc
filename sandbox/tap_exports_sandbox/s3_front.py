"""WSGI middleware in front of moto's S3 server: what moto does not check, and flat memory.

It enforces what real S3 does with pre-signed links (a request may carry only one auth
mechanism; a link dies at its expiry, measured on the sandbox clock), records every
request that leaked an ``Authorization`` header to a pre-signed link, applies
``storage_get`` faults, and streams object bodies (with ``Range``) from moto's storage
in chunks. Everything else goes to moto untouched.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from werkzeug.http import http_date
from werkzeug.wrappers import Response

from tap_exports_sandbox.clock import SandboxClock
from tap_exports_sandbox.faults import FaultPlan
from tap_exports_sandbox.moto_objects import StoredObject, find_object
from tap_exports_sandbox.transport import WSGIApp, WSGIEnviron, cut_response, early_response

#: Query parameters a plain (possibly pre-signed) GetObject may carry.
_SIGNING_PARAMETERS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "AWSAccessKeyId",
        "Expires",
        "Signature",
        "x-id",
    }
)
_DATE_CONDITIONS = ("HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE")


@dataclass(frozen=True)
class CredentialLeak:
    """A request that sent an ``Authorization`` header to a pre-signed link.

    Only header *names* are kept: the point is to prove a leak, not to store it.
    """

    method: str
    path: str
    header_names: tuple[str, ...]
    at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "method": self.method,
            "path": self.path,
            "header_names": list(self.header_names),
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class IssuedLink:
    """A pre-signed link the sandbox handed out, and when it dies (sandbox clock)."""

    bucket: str
    key: str
    ttl_seconds: int
    expires_at: dt.datetime


class _UnsatisfiableRangeError(Exception):
    pass


def s3_error(status: int, code: str, message: str, **details: str) -> Response:
    """An S3-style XML error document."""
    fields = {"Code": code, "Message": message, **details, "RequestId": uuid.uuid4().hex}
    body = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{body}</Error>',
        status=status,
        mimetype="application/xml",
    )


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, stop)`` for a single-range ``Range`` header; ``None`` to send everything.

    Follows S3: several ranges or an unparsable header mean the whole object.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header.removeprefix("bytes=").partition("-")
    try:
        start = int(first) if first else None
        end = int(last) if last else None
    except ValueError:
        return None
    if start is None:
        if not end:
            raise _UnsatisfiableRangeError
        return max(size - end, 0), size
    if start >= size:
        raise _UnsatisfiableRangeError
    stop = size if end is None else min(end + 1, size)
    return (start, stop) if start < stop else None


def _header_names(environ: Mapping[str, Any]) -> tuple[str, ...]:
    names = [key.removeprefix("HTTP_") for key in environ if key.startswith("HTTP_")]
    names += [key for key in ("CONTENT_TYPE", "CONTENT_LENGTH") if environ.get(key)]
    return tuple(sorted(name.replace("_", "-").title() for name in names))


class S3Front:
    """The storage server's WSGI app: checks and streaming in front of ``backend``."""

    def __init__(
        self,
        backend: WSGIApp,
        clock: SandboxClock,
        faults: FaultPlan,
        provider_of: Callable[[str], str],
    ) -> None:
        self._backend = backend
        self._clock = clock
        self._faults = faults
        self._provider_of = provider_of
        self._lock = threading.Lock()
        self._links: dict[str, IssuedLink] = {}
        self._leaks: list[CredentialLeak] = []

    def issue(self, signature: str, link: IssuedLink) -> None:
        """Remember a pre-signed link so that its expiry is enforced."""
        with self._lock:
            self._links[signature] = link

    def expire(self, signature: str) -> None:
        """Let an issued link die now."""
        with self._lock:
            link = self._links[signature]
            self._links[signature] = IssuedLink(
                link.bucket, link.key, link.ttl_seconds, self._clock.now()
            )

    @property
    def credential_leaks(self) -> list[CredentialLeak]:
        """Requests that sent credentials to a pre-signed link, oldest first."""
        with self._lock:
            return list(self._leaks)

    def forget(self) -> None:
        """Drop issued links and recorded leaks (sandbox reset)."""
        with self._lock:
            self._links.clear()
            self._leaks.clear()

    def __call__(self, environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = self._intercept(environ)
        if response is None:
            return self._backend(environ, start_response)
        return response(environ, start_response)

    def _intercept(self, environ: WSGIEnviron) -> Response | None:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        signature = (query.get("X-Amz-Signature") or query.get("Signature") or [None])[0]
        if signature is not None:
            refusal = self._check_link(environ, signature)
            if refusal is not None:
                return refusal
        bucket, _, key = environ.get("PATH_INFO", "").lstrip("/").partition("/")
        method = environ["REQUEST_METHOD"]
        if method not in {"GET", "HEAD"} or not key or set(query) - _SIGNING_PARAMETERS:
            return None
        faults: tuple[Any, ...] = ()
        if method == "GET":
            faults = self._faults.take(self._provider_of(bucket), "storage_get")
            early = early_response(faults, environ, self._faults.released)
            if early is not None:
                return early
        if any(environ.get(condition) for condition in _DATE_CONDITIONS):
            return None
        stored = find_object(bucket, key)
        if stored is None:
            return None
        return cut_response(self._object_response(stored, environ), faults, environ)

    def _check_link(self, environ: WSGIEnviron, signature: str) -> Response | None:
        now = self._clock.now()
        if "HTTP_AUTHORIZATION" in environ:
            leak = CredentialLeak(
                environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), _header_names(environ), now
            )
            with self._lock:
                self._leaks.append(leak)
            return s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
                ArgumentName="Authorization",
            )
        with self._lock:
            link = self._links.get(signature)
        if link is not None and now >= link.expires_at:
            return s3_error(
                403,
                "AccessDenied",
                "Request has expired",
                **{
                    "X-Amz-Expires": str(link.ttl_seconds),
                    "Expires": link.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
        return None

    @staticmethod
    def _object_response(stored: StoredObject, environ: WSGIEnviron) -> Response:
        headers = {
            "ETag": stored.etag,
            "Last-Modified": http_date(stored.last_modified),
            "Accept-Ranges": "bytes",
            "Content-Type": stored.content_type,
        }
        if_match = environ.get("HTTP_IF_MATCH")
        if if_match and if_match not in {stored.etag, "*"}:
            return s3_error(412, "PreconditionFailed", "At least one of the pre-conditions failed")
        if environ.get("HTTP_IF_NONE_MATCH") in {stored.etag, "*"}:
            return Response(status=304, headers={"ETag": stored.etag})
        try:
            byte_range = _byte_range(environ.get("HTTP_RANGE"), stored.size)
        except _UnsatisfiableRangeError:
            return s3_error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
                RangeRequested=environ.get("HTTP_RANGE", ""),
                ActualObjectSize=str(stored.size),
            )
        status = 200
        start, stop = 0, stored.size
        if byte_range is not None:
            status = 206
            start, stop = byte_range
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{stored.size}"
        headers["Content-Length"] = str(stop - start)
        return Response(
            stored.read(start, stop), status=status, headers=headers, direct_passthrough=True
        )
