"""``mailgun_exports``: the exports of the configured lists Mailgun still keeps (24 hours)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from singer_sdk.helpers.types import Context
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.schema.source import StreamSchema
from typing_extensions import override

from tap_exports.engine.adapter import Row
from tap_exports.engine.listing import ExportListingStream
from tap_exports.providers.mailgun.client import MailgunApi
from tap_exports.providers.mailgun.exports import SCHEMAS, normalized

if TYPE_CHECKING:
    from tap_exports.tap import TapExports


class MailgunExportsStream(ExportListingStream):
    """Exports of the configured lists made in the last 24 hours (Mailgun keeps no more)."""

    name = "mailgun_exports"
    path = "/v3/exports"
    records_jsonpath = "$.items[*]"
    schema = StreamSchema(SCHEMAS)

    def __init__(self, tap: TapExports, api: MailgunApi, lists: Sequence[str]) -> None:
        self.lists = list(lists)
        super().__init__(tap, api)

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        return [{"list": url} for url in self.lists]

    @override
    def get_new_paginator(self) -> SinglePagePaginator:
        return SinglePagePaginator()

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {"url": normalized(str(context["list"]))} if context else {}

    @override
    def post_process(self, row: Row, context: Context | None = None) -> Row | None:
        return {**row, "list": context["list"] if context else None}
