"""Mailgun's API: HTTP Basic auth as user ``api``; 429 bodies carry ``retry-seconds``."""

from __future__ import annotations

import requests
from typing_extensions import override

from tap_exports.engine.http import ApiClient

PROVIDER = "Mailgun"


class MailgunApi(ApiClient):
    """Mailgun's REST API (``/v3``)."""

    provider = PROVIDER

    def __init__(self, base_url: str, api_key: str) -> None:
        super().__init__(
            base_url, auth=requests.auth.HTTPBasicAuth("api", api_key), secrets=(api_key,)
        )

    @override
    def retry_hint(self, response: requests.Response) -> float | None:
        try:
            seconds = response.json().get("retry-seconds")
        except (ValueError, AttributeError):
            return None
        return float(seconds) if isinstance(seconds, int | float) else None
