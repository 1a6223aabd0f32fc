"""``batch_exports``: the exports requested in the project, paged with the ``next_from`` cursor."""

from __future__ import annotations

from typing import Any

import requests
from singer_sdk import StreamSchema
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import JSONPathPaginator
from typing_extensions import override

from tap_exports.engine.adapter import Row
from tap_exports.engine.listing import ExportListingStream
from tap_exports.providers.batch.exports import SCHEMAS


class BatchCursorPaginator(JSONPathPaginator):
    """Follows ``next_from`` while the page says ``has_more``."""

    @override
    def has_more(self, response: requests.Response) -> bool:
        return bool(response.json().get("has_more"))


class BatchExportsStream(ExportListingStream):
    """Exports requested in the project over the last months (Batch keeps 3 to 4)."""

    name = "batch_exports"
    path = "/exports/list"
    records_jsonpath = "$.exports[*]"
    schema = StreamSchema(SCHEMAS)
    page_size = 100

    @override
    def get_new_paginator(self) -> BatchCursorPaginator:
        return BatchCursorPaginator("$.next_from")

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.page_size}
        if next_page_token:
            params["from"] = next_page_token
        return params

    @override
    def post_process(self, row: Row, context: Context | None = None) -> Row | None:
        """Batch's schema names the request time ``requested_at``, its examples ``request_date``."""
        out = dict(row)
        requested_at = out.pop("requested_at", None)
        out["request_date"] = out.get("request_date") or requested_at
        return out
