"""PackageX's export list, and the rows each completed export could not deliver.

``packagex_exports`` pages through ``GET /v1/exports`` (``page``/``limit`` until
``pagination.has_more`` is false), one partition per configured resource. The list's
``resource`` filter is sent only with the values its document names; the exports of
the other resources are picked out of the unfiltered list.
``packagex_export_issues`` is its child: for every completed export it reads the
error file (rows PackageX could not export) and the sanitized file (rows it excluded
as potentially malicious), so no row disappears without a trace.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk import Stream, StreamSchema
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import PageNumberPaginator
from typing_extensions import override

from tap_exports.engine.adapter import DownloadTarget, Row, RowTransform
from tap_exports.engine.listing import ExportListingStream
from tap_exports.engine.runtime import runtime_of
from tap_exports.errors import ExportGoneError
from tap_exports.instants import parse_instant
from tap_exports.io.decode import FileFormat
from tap_exports.io.rows import flatten
from tap_exports.providers.packagex.client import PROVIDER, PackageXApi
from tap_exports.providers.packagex.exports import (
    ERROR_URL,
    ISSUES_STREAM,
    SANITIZED_URL,
    SCHEMAS,
    file_source,
    get_export,
)
from tap_exports.providers.packagex.resources import RowShape, epoch_to_instant, unsanitized

if TYPE_CHECKING:
    from tap_exports.tap import TapExports

LOGGER = logging.getLogger("tap_exports.packagex")
#: An assumption (docs/assumptions.md): no maximum page size is documented; 100 is the
#: usual one, and a server that serves fewer per page is still paged to the end.
PAGE_SIZE = 100
#: The values the List exports document accepts for its ``resource`` filter.
LISTING_FILTERS = frozenset(
    {"contact", "group", "location", "shipment", "tracker", "shipping_label_inference"}
)
ERROR_COLUMNS = ("error", "error_message", "message", "reason")
ISSUE_FILES = (
    ("error", ERROR_URL, "error rows"),
    ("sanitized", SANITIZED_URL, "sanitized rows"),
)
REPORTED = "reported_exports"
RETENTION = dt.timedelta(hours=24)


class ExportPages(PageNumberPaginator):
    """Page numbers from 1 while the envelope's ``pagination.has_more`` says so."""

    @override
    def has_more(self, response: requests.Response) -> bool:
        pagination = response.json().get("pagination") or {}
        return bool(pagination.get("has_more"))


class ExportsStream(ExportListingStream):
    """Exports of the configured resources that PackageX still keeps (24 hours)."""

    name = "packagex_exports"
    path = "/v1/exports"
    records_jsonpath = "$.data[*]"
    schema = StreamSchema(SCHEMAS)

    def __init__(
        self,
        tap: TapExports,
        api: PackageXApi,
        resources: Sequence[str],
        statuses: Sequence[str] = (),
    ) -> None:
        self.resources = list(resources)
        self.statuses = list(statuses)
        super().__init__(tap, api)

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        return [{"resource": resource} for resource in self.resources]

    @override
    def get_new_paginator(self) -> ExportPages:
        return ExportPages(1)

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"page": next_page_token or 1, "limit": PAGE_SIZE}
        if context and context["resource"] in LISTING_FILTERS:
            params["resource"] = context["resource"]
        if self.statuses:
            params["statuses"] = ",".join(self.statuses)
        return params

    @override
    def post_process(self, row: Row, context: Context | None = None) -> Row | None:
        """Times as RFC 3339; never a file link, even if the list were to include one."""
        if context and row.get("resource") != context["resource"]:
            return None
        record = {key: value for key, value in row.items() if not key.startswith("_")}
        for key in ("created_at", "updated_at"):
            if isinstance(record.get(key), int | float):
                record[key] = epoch_to_instant(float(record[key]))
        return record

    @override
    def generate_child_contexts(
        self, record: Row, context: Context | None
    ) -> Iterable[Context | None]:
        """Only a completed export has files to look into."""
        if record.get("status") == "completed":
            yield {
                "export_id": record["id"],
                "resource": record.get("resource"),
                "export_updated_at": record.get("updated_at"),
            }


def forget_deleted(reported: dict[str, Any]) -> None:
    """Drop exports PackageX has deleted (24 hours after the newest one) from ``reported``."""
    times = {key: parse_instant(str(value)) for key, value in reported.items() if value}
    if times:
        horizon = max(times.values()) - RETENTION
        for key, moment in times.items():
            if moment < horizon:
                del reported[key]


class ExportIssuesStream(Stream):
    """Rows a completed export could not deliver, with the reason and, when known, the data.

    Each export is reported once: its id stays in the stream's state (under
    ``reported_exports``) until PackageX has deleted it.
    """

    name = ISSUES_STREAM
    parent_stream_type = ExportsStream
    schema = StreamSchema(SCHEMAS)
    primary_keys = ("export_id", "kind", "line")
    replication_key = "export_updated_at"
    state_partitioning_keys: list[str] = []  # noqa: RUF012 - the SDK reads it as an attribute
    is_sorted = False

    def __init__(self, tap: TapExports, api: PackageXApi, shapes: Mapping[str, RowShape]) -> None:
        self.api = api
        self.shapes = shapes
        self.files = runtime_of(tap).files(PROVIDER, ISSUES_STREAM)
        super().__init__(tap)

    @override
    def get_records(self, context: Context | None) -> Iterator[Row]:
        if not context:
            return
        export_id = str(context["export_id"])
        reported: dict[str, Any] = self.get_context_state(context).setdefault(REPORTED, {})
        if export_id in reported:
            return
        try:
            export = get_export(self.api, export_id, links=True)
        except ExportGoneError:
            LOGGER.info("PackageX %s: export %s was deleted meanwhile", self.name, export_id)
            return
        counts: dict[str, int] = {}
        for kind, link, label in ISSUE_FILES:
            if export.get(link):
                issues = self._issues(export_id, kind, link, label, context)
                for line, issue in enumerate(issues, start=1):
                    counts[kind] = line
                    yield issue
        reported[export_id] = context.get("export_updated_at")
        forget_deleted(reported)
        if counts:
            LOGGER.warning(
                "PackageX export %s (%s): %d rows could not be exported, %d rows were "
                "excluded as unsafe; see %s",
                export_id,
                context.get("resource"),
                counts.get("error", 0),
                counts.get("sanitized", 0),
                self.name,
            )

    def _issues(
        self, export_id: str, kind: str, link: str, label: str, context: Context
    ) -> Iterator[Row]:
        """One record per row of an error or sanitized file, streamed."""
        source = file_source(self.api, export_id, link, label)
        restore = self.shapes[str(context["resource"])].from_csv(source.name, sanitized=True)
        rows = flatten(self.files.batches(DownloadTarget(source, FileFormat.CSV)))
        for line, row in enumerate(rows, start=1):
            message, data = error_issue(row) if kind == "error" else sanitized_issue(row, restore)
            yield {
                "export_id": export_id,
                "resource": context["resource"],
                "export_updated_at": context.get("export_updated_at"),
                "kind": kind,
                "line": line,
                "record_id": row.get("id") or None,
                "message": message,
                "data": data,
            }


def error_issue(row: Row) -> tuple[str | None, Row | None]:
    """PackageX's reason for a row it could not export, and whatever else the file gives."""
    message = next((row[key] for key in ERROR_COLUMNS if row.get(key)), None)
    rest = {key: value for key, value in row.items() if key not in ERROR_COLUMNS and key != "id"}
    return message, rest or None


def sanitized_issue(row: Row, restore: RowTransform) -> tuple[str, Row]:
    """Which cells made PackageX exclude the row, and the row with those cells restored."""
    defused = [key for key, text in row.items() if text and unsanitized(text) != text]
    message = (
        "excluded by PackageX as potentially malicious: "
        f"{', '.join(defused) or 'a cell'} started with =, +, - or @"
    )
    return message, restore(row)
