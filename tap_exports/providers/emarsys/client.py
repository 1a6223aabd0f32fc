"""Emarsys Core API v2: WSSE signatures and the ``replyCode`` envelope every answer carries.

Emarsys reports some application errors inside HTTP 200, so an answer counts as a
success only when its ``replyCode`` is 0, whatever its HTTP status.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from typing_extensions import override

from tap_exports.engine.http import ApiClient
from tap_exports.engine.retry import RETRYABLE_STATUSES
from tap_exports.errors import ProviderError, redact

#: Too many requests for this account and resource within the last minute.
RATE_LIMITED = 7003
#: An export with the same settings is already running.
ALREADY_RUNNING = 4001


def password_digest(nonce: str, created: str, secret: str) -> str:
    """Emarsys' WSSE digest: base64 of the *hex* SHA-1 of nonce, created and secret.

    Standard WSSE encodes the raw 20-byte digest instead; Emarsys rejects that.
    """
    hex_digest = hashlib.sha1(
        f"{nonce}{created}{secret}".encode(), usedforsecurity=False
    ).hexdigest()
    return base64.b64encode(hex_digest.encode()).decode()


class WsseAuth(requests.auth.AuthBase):
    """Signs every request anew: a fresh 32-hex nonce and a ``Created`` with its timezone."""

    def __init__(
        self,
        username: str,
        secret: str,
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self.username = username
        self.secret = secret
        self.now = now
        self.nonce = nonce

    def header(self) -> str:
        """A new ``X-WSSE`` header value."""
        nonce = self.nonce()
        created = self.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = password_digest(nonce, created, self.secret)
        return (
            f'UsernameToken Username="{self.username}", PasswordDigest="{digest}", '
            f'Nonce="{nonce}", Created="{created}"'
        )

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-WSSE"] = self.header()
        return request


@dataclass(frozen=True)
class Reply:
    """The envelope ``{"replyCode", "replyText", "data"}``."""

    code: int
    text: str
    data: Any


def reply_of(response: requests.Response) -> Reply | None:
    """The envelope of a JSON answer; None for files and for bodies without one."""
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, Mapping) or "replyCode" not in body:
        return None
    try:
        code = int(body["replyCode"])
    except (TypeError, ValueError):
        return None
    return Reply(code, str(body.get("replyText") or ""), body.get("data"))


def running_export_id(reply: Reply | None) -> str | None:
    """The id of the export a 4001 answer says is already running, when Emarsys names it."""
    if reply is None or reply.code != ALREADY_RUNNING or not isinstance(reply.data, Mapping):
        return None
    export_id = reply.data.get("id")
    return str(export_id) if export_id else None


class EmarsysError(ProviderError):
    """An Emarsys error answer, with its ``replyCode`` for callers that handle some codes."""

    def __init__(self, message: str, *, reply: Reply | None, **kwargs: Any) -> None:
        super().__init__("Emarsys", message, **kwargs)
        self.reply = reply

    @property
    def reply_code(self) -> int | None:
        """Emarsys' own error code (``None`` for an answer without the envelope)."""
        return self.reply.code if self.reply else None


class EmarsysApi(ApiClient):
    """WSSE-signed JSON calls; waits out rate limits and exports already running."""

    provider = "Emarsys"

    def __init__(self, base_url: str, username: str, secret: str) -> None:
        super().__init__(base_url, auth=WsseAuth(username, secret), secrets=(secret,))
        self.session.headers["Content-Type"] = "application/json"

    @override
    def is_error(self, response: requests.Response) -> bool:
        reply = reply_of(response)
        return reply is not None and reply.code != 0

    @override
    def is_retryable(self, response: requests.Response) -> bool:
        reply = reply_of(response)
        if reply is not None and reply.code == RATE_LIMITED:
            return True
        if reply is not None and reply.code == ALREADY_RUNNING:
            # Without the running export's id there is nothing to adopt: wait for it to end.
            return running_export_id(reply) is None
        return response.status_code in RETRYABLE_STATUSES

    @override
    def retry_hint(self, response: requests.Response) -> float | None:
        """Seconds until ``X-RateLimit-Reset`` (a unix time; Emarsys sends no Retry-After)."""
        reset = response.headers.get("X-RateLimit-Reset", "")
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None

    @override
    def error_message(self, response: requests.Response) -> str:
        reply = reply_of(response)
        if reply is None:
            return super().error_message(response)
        return f"{reply.text or 'no replyText'} (replyCode {reply.code})"

    @override
    def hint_for(self, status_code: int) -> str | None:
        if status_code == 401:
            return (
                "the X-WSSE signature was rejected: check emarsys.username and emarsys.secret, "
                "and that this machine's clock is within 5 minutes of real time"
            )
        if status_code == 403:
            return "the API user lacks permission for this endpoint; ask Emarsys to grant it"
        return super().hint_for(status_code)

    @override
    def error(
        self, response: requests.Response, where: str, *, export_id: str | None = None
    ) -> EmarsysError:
        message = redact(self.error_message(response), self.secrets)
        return EmarsysError(
            f"HTTP {response.status_code} on {where}: {message}",
            reply=reply_of(response),
            export_id=export_id,
            hint=self.hint_for(response.status_code),
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return the envelope's ``data``."""
        reply = reply_of(self.request(method, path, **kwargs))
        if reply is None:
            raise ProviderError(
                self.provider,
                f"{method} {path} answered without the replyCode envelope",
                hint="emarsys.base_url may point at the wrong service",
            )
        return reply.data
