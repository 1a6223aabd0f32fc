"""Base for the streams that list a provider's exports (``mailgun_exports``, ...).

These are ordinary SDK REST streams; they share the provider's :class:`ApiClient`
for authentication, error messages and retry delays so a listing call and an export
call behave the same way under rate limits.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

import requests
from singer_sdk import Tap
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_exports.engine.http import ApiClient
from tap_exports.engine.retry import retry_delay


class ExportListingStream(RESTStream[Any]):
    """A provider's list of recent exports, paginated with an SDK paginator."""

    primary_keys = ("id",)
    replication_key = None

    def __init__(self, tap: Tap, client: ApiClient, **kwargs: Any) -> None:
        self.client = client
        self._retry_attempt = 0
        super().__init__(tap, **kwargs)

    @property
    def provider_title(self) -> str:
        """The provider this stream reads, as logs name it."""
        return self.client.provider

    @property
    @override
    def url_base(self) -> str:
        return self.client.base_url

    @property
    @override
    def authenticator(self) -> Any:
        return self.client.session.auth

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {"User-Agent": str(self.client.session.headers["User-Agent"])}

    @override
    def validate_response(self, response: requests.Response) -> None:
        where = f"{response.request.method} {urlsplit(response.url).path}"
        if self.client.is_retryable(response):
            raise RetriableAPIError(
                f"{self.client.provider}: HTTP {response.status_code} on {where}", response
            )
        if response.status_code >= 400:
            raise FatalAPIError(str(self.client.error(response, where)))
        self._retry_attempt = 0

    @override
    def backoff_wait_generator(self) -> Generator[float, None, None]:
        return self.backoff_runtime(value=self._retry_seconds)

    def _retry_seconds(self, exception: Exception) -> float:
        self._retry_attempt += 1
        response = getattr(exception, "response", None)
        return retry_delay(
            response if isinstance(response, requests.Response) else None,
            self._retry_attempt,
            provider_hint=self.client.retry_hint,
            max_wait=self.client.limits.max_wait_seconds,
        )

    @override
    def backoff_max_tries(self) -> int:
        return self.client.max_tries
