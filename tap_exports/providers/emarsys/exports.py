"""One Emarsys export kind as the engine drives it: create, poll, locate the file, read rows."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from singer_sdk.schema.source import SchemaDirectory
from typing_extensions import override

from tap_exports import schemas
from tap_exports.engine.adapter import DownloadTarget, ExportAdapter, Row
from tap_exports.engine.http import segment
from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.status import ExportStatus, StatusMap
from tap_exports.engine.stream import BulkExportStream
from tap_exports.errors import ExportGoneError, ProviderError
from tap_exports.providers.emarsys.client import EmarsysApi, EmarsysError, running_export_id
from tap_exports.providers.emarsys.columns import LANGUAGE, Column, ColumnMap
from tap_exports.providers.emarsys.delivery import DataPages, data_served, ftp_file, uploaded_file
from tap_exports.providers.emarsys.kinds import FIRST_RUN_HISTORY, ExportKind, parse_local_time
from tap_exports.providers.emarsys.settings import FtpSettings

if TYPE_CHECKING:
    from tap_exports.tap import TapExports

LOGGER = logging.getLogger("tap_exports.emarsys")
SCHEMAS = SchemaDirectory(schemas)

#: ``ready`` means the file exists but is not yet distributed (served by ``/data`` or
#: uploaded to FTP); ``done`` is finished. Whether a ``local`` export ever turns ``done``
#: is not documented, so a ``ready`` one is finished as soon as ``/data`` serves it.
STATUSES = StatusMap(
    "Emarsys",
    {
        "scheduled": ExportStatus.PENDING,
        "in progress": ExportStatus.RUNNING,
        "ready": ExportStatus.RUNNING,
        "done": ExportStatus.COMPLETE,
        "error": ExportStatus.FAILED,
    },
)
#: ``GET /export/<id>`` answers 400 with replyCode 10001 for an id it does not know ...
UNKNOWN_EXPORT = 10001
#: ... and 4002 "Invalid export type" for kinds it reports nothing on (it documents
#: responses and registrations only): those are watched through their file instead.
NO_STATUS = 4002


@dataclass(frozen=True)
class ExportSettings:
    """What every Emarsys export of one configuration shares."""

    contact_fields: tuple[int, ...]
    field_names: tuple[str, ...]
    field_headers: tuple[str, ...]
    distribution_method: str
    ftp: FtpSettings | None
    zone: ZoneInfo
    overlap: dt.timedelta
    window_days: int
    page_size: int


class EmarsysExport(ExportAdapter):
    """Exports of one kind (responses, registrations or contact changes)."""

    provider = "Emarsys"

    def __init__(self, api: EmarsysApi, kind: ExportKind, settings: ExportSettings) -> None:
        self.api = api
        self.kind = kind
        self.settings = settings
        self.layout = (
            Column("user_id", "user_id"),
            *(
                Column(name, header or None)
                for name, header in zip(settings.field_names, settings.field_headers, strict=True)
            ),
            *(Column(name, kind.headers.get(name)) for name in kind.columns),
        )

    @override
    def windows(
        self, bookmark: dt.datetime | None, start_date: dt.datetime | None, now: dt.datetime
    ) -> list[Window]:
        if bookmark is not None:
            start = bookmark - self.settings.overlap
        else:
            start = start_date or now - FIRST_RUN_HISTORY
        return self.kind.windows(start, now, self.settings.zone, self.settings.window_days)

    @override
    def create(self, window: Window) -> ExportJob:
        settings = self.settings
        request = {
            "distribution_method": settings.distribution_method,
            "time_range": self.kind.time_range(window, settings.zone),
            "contact_fields": list(settings.contact_fields),
            "language": LANGUAGE,
            "add_field_names_header": 1,
            **self.kind.options,
        }
        if settings.ftp is not None:
            request["ftp_settings"] = settings.ftp.request()
        detail = {
            "distribution_method": settings.distribution_method,
            "contact_fields": list(settings.contact_fields),
            "language": LANGUAGE,
        }
        try:
            data = self.api.call("POST", self.kind.path, json=request)
        except EmarsysError as exc:
            running = running_export_id(exc.reply)
            if running is None:
                raise
            LOGGER.info(
                "Emarsys %s: export %s with the same settings is already running; waiting for it",
                self.kind.stream,
                running,
            )
            return ExportJob(running, window=window, detail=detail)
        export_id = data.get("id") if isinstance(data, Mapping) else None
        if not export_id:
            raise ProviderError(
                self.provider, f"POST {self.kind.path} accepted the export but gave no id"
            )
        return ExportJob(str(export_id), window=window, detail=detail)

    @override
    def poll(self, job: ExportJob) -> ExportJob:
        try:
            data = self.api.call(
                "GET", f"/export/{segment(job.export_id)}", export_id=job.export_id
            )
        except EmarsysError as exc:
            if exc.reply_code == UNKNOWN_EXPORT:
                raise ExportGoneError(
                    self.provider, "Emarsys no longer knows this export", export_id=job.export_id
                ) from exc
            if exc.reply_code == NO_STATUS:
                return self._poll_file(job)
            raise
        data = data if isinstance(data, Mapping) else {}
        word = data.get("status")
        status = STATUSES(word, export_id=job.export_id)
        detail = {"emarsys_status": word}
        if word == "ready" and self._local(job) and data_served(self.api, job.export_id):
            status = ExportStatus.COMPLETE
        if status is ExportStatus.COMPLETE:
            detail |= {key: data.get(key) for key in ("file_name", "ftp_host", "ftp_dir")}
        elif status is ExportStatus.FAILED:
            detail["reason"] = "Emarsys reports the export's status as 'error'"
        return job.with_status(status, **detail)

    def _local(self, job: ExportJob) -> bool:
        return job.detail.get("distribution_method") != "ftp"

    def _poll_file(self, job: ExportJob) -> ExportJob:
        """Without a status answer: finished once ``/data`` serves the file, or it is on FTP."""
        detail: dict[str, str | None] = {"emarsys_status": "no status; watching the file"}
        if self._local(job):
            served = data_served(self.api, job.export_id)
            return job.with_status(
                ExportStatus.COMPLETE if served else ExportStatus.RUNNING, **detail
            )
        name = uploaded_file(self.settings.ftp, job.export_id) if self.settings.ftp else None
        if name is None:
            return job.with_status(ExportStatus.RUNNING, **detail)
        return job.with_status(
            ExportStatus.COMPLETE, file_name=name, ftp_host=None, ftp_dir=None, **detail
        )

    @override
    def progress(self, job: ExportJob) -> str | None:
        if job.detail.get("emarsys_status") == "ready":
            return "the file is prepared and waiting to be distributed"
        return None

    @override
    def targets(self, job: ExportJob) -> Iterator[DownloadTarget]:
        columns = ColumnMap(self.kind.stream, job.export_id, self.layout)

        def read(row: Row) -> Row:
            return self.transform(columns.rename(row))

        if job.detail.get("contact_fields") != list(self.settings.contact_fields):
            raise ExportGoneError(
                self.provider,
                "the export was made for other contact_fields than the ones configured now",
                export_id=job.export_id,
            )
        if job.detail.get("language") != LANGUAGE:
            raise ExportGoneError(
                self.provider,
                "the export was asked for without English column names (by an earlier version)",
                export_id=job.export_id,
            )
        if job.detail.get("distribution_method") == "ftp":
            if self.settings.ftp is None:
                raise ExportGoneError(
                    self.provider,
                    "the export was delivered by FTP but emarsys.ftp is no longer set",
                    export_id=job.export_id,
                )
            yield ftp_file(self.settings.ftp, job.export_id, dict(job.detail), columns, read)
            return
        yield from DataPages(self.api, job.export_id, self.settings.page_size, columns, read)

    def transform(self, row: Row) -> Row:
        """Cells keyed by field onto the schema: ids as integers, local times as UTC."""
        out: Row = {}
        for name, value in row.items():
            text = None if value is None else str(value)
            if name == "user_id" or name in self.kind.integers:
                out[name] = int(text) if text else None
            elif name in self.kind.timestamps:
                out[name] = parse_local_time(text, self.settings.zone) if text else None
            else:
                out[name] = text
        return out


class EmarsysStream(BulkExportStream):
    """The rows of one export kind; the schema grows the configured contact fields."""

    def __init__(self, tap: TapExports, adapter: EmarsysExport) -> None:
        kind = adapter.kind
        schema = SCHEMAS.get_schema(kind.stream)
        contact = {name: {"type": ["string", "null"]} for name in adapter.settings.field_names}
        super().__init__(
            tap,
            adapter,
            name=kind.stream,
            schema={**schema, "properties": {**schema["properties"], **contact}},
        )
        self.primary_keys = kind.primary_keys
        self.replication_key = kind.replication_key


def field_names(api: EmarsysApi, wanted: Sequence[int], reserved: set[str]) -> tuple[str, ...]:
    """Stable property names for contact fields: their ``string_id``, else ``field_<id>``."""
    catalogue = api.call("GET", "/field")
    string_ids = {
        int(item["id"]): str(item.get("string_id") or "")
        for item in catalogue or []
        if isinstance(item, Mapping) and "id" in item
    }
    unknown = [field for field in wanted if field not in string_ids]
    if unknown:
        raise ProviderError(
            "Emarsys",
            f"emarsys.contact_fields: no field with id {', '.join(map(str, unknown))} "
            "in this account",
            hint="GET /field lists the account's fields",
        )
    names = [string_ids[field] or f"field_{field}" for field in wanted]
    return tuple(
        f"field_{field}" if names.count(name) > 1 or name in reserved else name
        for field, name in zip(wanted, names, strict=True)
    )
