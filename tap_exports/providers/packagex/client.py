"""PackageX's API: the ``PX-API-KEY`` header and the envelope every answer comes in.

Success and error answers alike are ``{message, data, status, errors, code,
pagination, endpoint}``; an error is told by its ``message`` plus the failed fields
listed in ``errors``, so both are quoted to the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from typing_extensions import override

from tap_exports.engine.http import ApiClient

PROVIDER = "PackageX"


class ApiKeyAuth(requests.auth.AuthBase):
    """Sends the key in ``PX-API-KEY``, the header PackageX documents first."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["PX-API-KEY"] = self.api_key
        return request


def describe_field_error(error: object) -> str:
    """One entry of an envelope's ``errors``: a string, or an object naming a field."""
    if not isinstance(error, Mapping):
        return str(error)
    field = error.get("field") or error.get("path") or error.get("param")
    text = error.get("message") or error.get("description") or error.get("msg")
    if field and text:
        return f"{field}: {text}"
    return str(text or field or dict(error))


class PackageXApi(ApiClient):
    """PackageX's REST API (``/v1``), answering in envelopes."""

    provider = PROVIDER

    def __init__(self, base_url: str, api_key: str) -> None:
        super().__init__(base_url, auth=ApiKeyAuth(api_key), secrets=(api_key,))

    @override
    def error_message(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        if not isinstance(body, Mapping):
            return super().error_message(response)
        message = str(body.get("message") or response.reason)
        code = body.get("code") or body.get("error_code")
        if code:
            message += f" (code {code})"
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            message += ": " + "; ".join(describe_field_error(error) for error in errors)
        return message

    @override
    def hint_for(self, status_code: int) -> str | None:
        if status_code == 403:
            return "check that packagex.api_key is scoped to the Exports API"
        if status_code == 401:
            return "check packagex.api_key; PackageX's sandbox and production keys differ"
        return super().hint_for(status_code)


def unwrap(body: Any) -> Any:
    """The ``data`` of an envelope; a bare object (as the quick-start shows) is the data."""
    if isinstance(body, Mapping) and "data" in body:
        return body["data"]
    return body
