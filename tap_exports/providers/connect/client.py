"""Connect's API: project and key headers; query errors list ``{field, description}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from typing_extensions import override

from tap_exports.engine.http import ApiClient

PROVIDER = "Connect"


def json_body(response: requests.Response) -> Mapping[str, Any]:
    """The JSON object Connect answered, or an empty one when it answered something else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


class ConnectAuth(requests.auth.AuthBase):
    """Connect's project and key headers, added to API requests only (never to the bucket)."""

    def __init__(self, project_id: str, api_key: str) -> None:
        self.project_id = project_id
        self.api_key = api_key

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Project-Id"] = self.project_id
        request.headers["X-Api-Key"] = self.api_key
        return request


class ConnectApi(ApiClient):
    """Connect's HTTP API; query errors arrive as a list of ``{field, description}``."""

    provider = PROVIDER

    def __init__(
        self, base_url: str, project_id: str, api_key: str, *, secrets: tuple[str, ...] = ()
    ) -> None:
        super().__init__(
            base_url, auth=ConnectAuth(project_id, api_key), secrets=(api_key, *secrets)
        )

    @override
    def error_message(self, response: requests.Response) -> str:
        errors = json_body(response).get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(
                f"{error.get('field')}: {error.get('description')}"
                if isinstance(error, Mapping)
                else str(error)
                for error in errors
            )
        return super().error_message(response)
