"""Batch's API: a Bearer REST key plus the project key; errors read ``error_message``."""

from __future__ import annotations

from collections.abc import Mapping

import requests
from typing_extensions import override

from tap_exports.engine.http import ApiClient

PROVIDER = "Batch"


class BatchAuth(requests.auth.AuthBase):
    """Bearer REST key plus the project key, on every call to the Batch API."""

    def __init__(self, rest_api_key: str, project_key: str) -> None:
        self.rest_api_key = rest_api_key
        self.project_key = project_key

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.rest_api_key}"
        request.headers["X-Batch-Project"] = self.project_key
        return request


class BatchApi(ApiClient):
    """Errors read ``{"error_message", "error_code"}``; 429 and 503 are retried like any 5xx."""

    provider = PROVIDER

    def __init__(self, base_url: str, rest_api_key: str, project_key: str) -> None:
        super().__init__(
            base_url,
            auth=BatchAuth(rest_api_key, project_key),
            secrets=(rest_api_key, project_key),
        )

    @override
    def error_message(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping) and body.get("error_message"):
            message, code = str(body["error_message"]), body.get("error_code")
            return f"{message} ({code})" if code else message
        return super().error_message(response)

    @override
    def hint_for(self, status_code: int) -> str | None:
        if status_code == 401:
            return "check batch.rest_api_key and that it belongs to batch.project_key's project"
        return super().hint_for(status_code)
