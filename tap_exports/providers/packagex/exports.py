"""PackageX resource exports: ``POST /v1/exports``, poll, then the files' fresh links.

An export of a resource that PackageX can filter on ``updated_at`` asks only for rows
changed after the bookmark (``options.updated_at = "gt:<bookmark>"``); the others are
exported whole. The JSON file is preferred (PackageX's own types); the CSV file is read
when the user asks for it or the export has no JSON file. Rows PackageX excluded as
unsafe come back in the sanitized CSV; they are real rows, so they are emitted too,
with their defused cells restored.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import SchemaDirectory, StreamSchema
from typing_extensions import override

from tap_exports import schemas
from tap_exports.engine.adapter import (
    CountingTransform,
    DownloadTarget,
    ExportAdapter,
    RowTransform,
)
from tap_exports.engine.http import segment
from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.status import ExportStatus, StatusMap
from tap_exports.engine.stream import BulkExportStream
from tap_exports.errors import ProviderError
from tap_exports.instants import format_instant
from tap_exports.io.decode import FileFormat
from tap_exports.io.fetch import HttpSource
from tap_exports.providers.packagex.client import PROVIDER, PackageXApi, unwrap
from tap_exports.providers.packagex.resources import CSV_FIELD_OPTIONS, Resource, RowShape

if TYPE_CHECKING:
    from tap_exports.tap import TapExports

LOGGER = logging.getLogger("tap_exports.packagex")
SCHEMAS = SchemaDirectory(schemas)
ISSUES_STREAM = "packagex_export_issues"
ONE_SECOND = dt.timedelta(seconds=1)

STATUSES = StatusMap(
    PROVIDER,
    {
        "queued": ExportStatus.PENDING,
        "processing": ExportStatus.RUNNING,
        "completed": ExportStatus.COMPLETE,
        "failed": ExportStatus.FAILED,
        "timed_out": ExportStatus.FAILED,
        # An assumption (docs/assumptions.md): exports are documented as deleted after 24
        # hours (a 404); the sibling batch model has an "expired" status, so it may show up.
        "expired": ExportStatus.EXPIRED,
    },
)

FILES = {"json": ("_json_url", FileFormat.JSON), "csv": ("_csv_url", FileFormat.CSV)}
SANITIZED_URL = "_csv_sanitized_url"
ERROR_URL = "_csv_error_url"


def get_export(api: PackageXApi, export_id: str, *, links: bool = False) -> Mapping[str, Any]:
    """The export object; with fresh pre-signed links to all of its files when ``links``."""
    response = api.get_export(
        f"/v1/exports/{segment(export_id)}",
        params={"include_json": "true", "include_csv": "true"} if links else None,
        export_id=export_id,
        gone="the export no longer exists (PackageX deletes exports after 24 hours)",
    )
    export = unwrap(api.body(response, export_id=export_id))
    if not isinstance(export, Mapping):
        raise ProviderError(PROVIDER, "the answer holds no export object", export_id=export_id)
    return export


def file_source(api: PackageXApi, export_id: str, link: str, label: str) -> HttpSource:
    """One of the export's files, re-linked from a fresh export object whenever asked."""

    def fresh_link() -> str:
        url = get_export(api, export_id, links=True).get(link)
        if not url:
            raise ProviderError(
                PROVIDER,
                f"the export no longer offers its {label}",
                export_id=export_id,
                hint="run the tap again to create a new export",
            )
        return str(url)

    return HttpSource(fresh_link, name=f"PackageX export {export_id} ({label})")


class ResourceExport(ExportAdapter):
    """The export of one PackageX resource."""

    provider = PROVIDER

    def __init__(
        self, api: PackageXApi, resource: Resource, shape: RowShape, file_format: str
    ) -> None:
        self.api = api
        self.resource = resource
        self.shape = shape
        self.file_format = file_format

    @override
    def windows(
        self, bookmark: dt.datetime | None, start_date: dt.datetime | None, now: dt.datetime
    ) -> list[Window]:
        """Rows changed after the bookmark (or since ``start_date``), or the whole resource.

        The filter is ``gt``, right for a bookmark (its rows were emitted). PackageX times
        are whole seconds, so starting one second before ``start_date`` includes it.
        """
        del now
        if not self.resource.incremental:
            return [Window()]
        if bookmark is not None:
            return [Window(bookmark)]
        return [Window(start_date - ONE_SECOND)] if start_date else [Window()]

    def options(self, window: Window) -> dict[str, Any]:
        """The export's ``options``: every row, oldest change first, after the window start."""
        order = "updated_at" if self.resource.incremental else "created_at"
        options: dict[str, Any] = {"limit": "all", "order_by": order, "direction": "asc"}
        if window.start is not None:
            options["updated_at"] = f"gt:{format_instant(window.start)}"
        return options

    @override
    def create(self, window: Window) -> ExportJob:
        body = self.api.json(
            "POST",
            "/v1/exports",
            json={
                "resource": self.resource.name,
                "name": f"tap-exports {self.resource.stream_name}",
                "options": self.options(window),
                "csv_field_options": CSV_FIELD_OPTIONS,
            },
        )
        export = unwrap(body)
        export_id = export.get("id") if isinstance(export, Mapping) else None
        if not export_id:
            raise ProviderError(
                PROVIDER,
                f"the export of {self.resource.name} was accepted but its answer has no id",
                hint="the base_url may point at the wrong service",
            )
        return ExportJob(str(export_id), window=window, detail={"resource": self.resource.name})

    @override
    def poll(self, job: ExportJob) -> ExportJob:
        export = get_export(self.api, job.export_id)
        word = export.get("status")
        status = STATUSES(word, export_id=job.export_id)
        detail: dict[str, Any] = {"count_total": export.get("count_total")}
        if status is ExportStatus.FAILED:
            reason = export.get("reason") or export.get("message") or "no reason given"
            detail["reason"] = (
                f"timed out at PackageX: {reason}" if word == "timed_out" else str(reason)
            )
        return job.with_status(status, **detail)

    @override
    def progress(self, job: ExportJob) -> str | None:
        count = job.detail.get("count_total")
        done = job.status is ExportStatus.COMPLETE
        return f"{count} rows" if done and isinstance(count, int) else None

    @override
    def targets(self, job: ExportJob) -> Iterator[DownloadTarget]:
        """The data file in the chosen format (else the other), then the rows excluded as unsafe."""
        export = get_export(self.api, job.export_id, links=True)
        other = "csv" if self.file_format == "json" else "json"
        for link, file_format in (FILES[self.file_format], FILES[other]):
            if export.get(link):
                label = f"{self.resource.name}.{file_format.value}"
                source = file_source(self.api, job.export_id, link, label)
                transform = self._transform(file_format, source.name)
                total = export.get("count_total")
                yield DownloadTarget(
                    source,
                    file_format,
                    transform=transform,
                    expected_rows=total if isinstance(total, int) and total > 0 else None,
                )
                break
        else:
            if export.get("count_total"):
                raise ProviderError(
                    PROVIDER,
                    f"the export holds {export['count_total']} rows but offers no file",
                    export_id=job.export_id,
                    hint="run the tap again to create a new export",
                )
        if export.get(SANITIZED_URL):
            source = file_source(self.api, job.export_id, SANITIZED_URL, "sanitized rows")
            restored = CountingTransform(self.shape.from_csv(source.name, sanitized=True))
            yield DownloadTarget(source, FileFormat.CSV, transform=restored)
            LOGGER.warning(
                "PackageX %s: export %s excluded %d rows as unsafe; they are loaded with their "
                "cells restored as plain data and listed in %s",
                self.resource.stream_name,
                job.export_id,
                restored.count,
                ISSUES_STREAM,
            )
        if export.get(ERROR_URL):
            LOGGER.warning(
                "PackageX %s: export %s could not export some rows; they are listed in %s",
                self.resource.stream_name,
                job.export_id,
                ISSUES_STREAM,
            )

    def _transform(self, file_format: FileFormat, source_name: str) -> RowTransform:
        if file_format is FileFormat.JSON:
            return self.shape.from_json
        return self.shape.from_csv(source_name)


class ResourceStream(BulkExportStream):
    """One resource's rows, e.g. ``packagex_shipments``."""

    schema = StreamSchema(SCHEMAS)
    primary_keys = ("id",)

    def __init__(
        self,
        tap: TapExports,
        api: PackageXApi,
        resource: Resource,
        shape: RowShape,
        file_format: str,
    ) -> None:
        super().__init__(
            tap, ResourceExport(api, resource, shape, file_format), name=resource.stream_name
        )
        self.replication_key = "updated_at" if resource.incremental else None
