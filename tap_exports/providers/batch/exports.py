"""Batch exports: how one is asked for, how Batch says it is done, where its parts are.

Exports are created with ``POST /profiles/export`` and watched with
``GET /exports/view``; each part is fetched through ``GET /exports/download``,
whose 307 points at a link that lives 20 minutes, so a part is resolved only when
it is about to be read (and again if its link dies mid-way). Events are exported in
windows on their timestamp, within Batch's 90-day lookback; profiles are a
snapshot each run.
"""

from __future__ import annotations

import datetime as dt
import logging
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from itertools import repeat
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from singer_sdk import SchemaDirectory, StreamSchema
from typing_extensions import override

from tap_exports import schemas
from tap_exports.engine.adapter import Columns, DownloadTarget, ExportAdapter, Row
from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.status import ExportStatus, StatusMap
from tap_exports.engine.stream import BulkExportStream
from tap_exports.errors import LayoutError, ProviderError
from tap_exports.instants import format_instant, parse_instant
from tap_exports.io.decode import FileFormat
from tap_exports.io.fetch import HttpSource
from tap_exports.providers.batch.client import PROVIDER, BatchApi
from tap_exports.providers.batch.settings import column, profile_properties

if TYPE_CHECKING:
    from tap_exports.tap import TapExports

LOGGER = logging.getLogger("tap_exports.batch")
SCHEMAS = SchemaDirectory(schemas)

#: Batch keeps events this long; asking for older ones is an error.
LOOKBACK = dt.timedelta(days=90)
#: Planned windows start this much inside the lookback, so the request still
#: qualifies when it reaches Batch a little later.
LOOKBACK_MARGIN = dt.timedelta(hours=1)
#: Events reach Batch late; a window ends this long before now so it is complete.
LAG = dt.timedelta(minutes=10)
#: Longest window one export covers; a backfill becomes several exports.
MAX_WINDOW = dt.timedelta(days=30)

STATUSES = StatusMap(
    PROVIDER,
    {
        "CREATED": ExportStatus.PENDING,
        "PENDING": ExportStatus.PENDING,
        "RUNNING": ExportStatus.RUNNING,
        "SUCCESS": ExportStatus.COMPLETE,
        "ERROR": ExportStatus.FAILED,
    },
)
IN_PROGRESS = frozenset({"CREATED", "PENDING", "RUNNING"})
#: What a record of batch_events needs: its key and its bookmark.
REQUIRED_EVENT_FIELDS = ("event", "timestamp")
#: An event line as the tap's schema expects it (Batch does not document the line).
EVENT_LINE_FIELDS = ("identifiers", "event", "timestamp", "orchestration_id", "orchestration_name")


class BatchExport(ExportAdapter):
    """One kind of Batch profile export; subclasses say what to ask for and how rows read."""

    provider = PROVIDER

    def __init__(self, api: BatchApi) -> None:
        self.api = api

    @abstractmethod
    def request_body(self, window: Window) -> dict[str, Any]:
        """The ``POST /profiles/export`` body for ``window``."""

    @abstractmethod
    def transform(self, row: Row) -> Row:
        """One NDJSON line → one record."""

    #: The fields of a line as Batch writes it, read column by column
    #: (:meth:`transform_columns`); None: every line is read as a dict.
    line_fields: tuple[str, ...] | None = None

    def transform_columns(self, columns: Columns, rows: int) -> Columns:
        """:meth:`transform` of a block of lines holding exactly :attr:`line_fields`."""
        raise NotImplementedError

    @override
    def create(self, window: Window) -> ExportJob:
        body = self.request_body(window)
        twin = self._running_twin(body)
        if twin is not None:
            LOGGER.info("Batch: adopting export %s, already preparing the same request", twin)
            return ExportJob(twin, window=window)
        answer = self.api.json("POST", "/profiles/export", json=body, accept=(200, 201, 202))
        export_id = answer.get("id") if isinstance(answer, Mapping) else None
        if not export_id:
            raise ProviderError(
                self.provider,
                "POST /profiles/export was accepted without an export id",
                hint="the base_url may point at the wrong service",
            )
        return ExportJob(str(export_id), window=window)

    def _running_twin(self, body: Mapping[str, Any]) -> str | None:
        """An export of the same request still being prepared (a run died after asking).

        Only the newest page of the list is read: a twin is at most a few minutes old.
        """
        page = self.api.json("GET", "/exports/list", params={"limit": 100})
        for export in page.get("exports") or []:
            if export.get("status") in IN_PROGRESS and same_request(export.get("request"), body):
                return str(export["id"])
        return None

    @override
    def poll(self, job: ExportJob) -> ExportJob:
        answer = self.api.get_export(
            "/exports/view",
            params={"id": job.export_id},
            export_id=job.export_id,
            gone="Batch no longer knows this export",
            # 400 (malformed request) is how Batch's documented answers can say it; 404 is
            # not among them but is what an unknown id plausibly gets.
            gone_statuses=(400, 404),
        )
        export = self.api.body(answer, export_id=job.export_id)
        status = STATUSES(export.get("status"), export_id=job.export_id)
        files = sorted(
            (
                {
                    "id": str(item["id"]),
                    "part": int(item.get("part") or 0),
                    "size": item.get("size"),
                    "url": str(item.get("url") or ""),
                }
                for item in export.get("files") or []
            ),
            key=lambda item: item["part"],
        )
        if status is ExportStatus.FAILED:
            return job.with_status(
                status, reason="Batch ended it with status ERROR and gives no detail"
            )
        if status is ExportStatus.COMPLETE and not files:
            status = ExportStatus.EMPTY
        return job.with_status(status, files=files)

    @override
    def targets(self, job: ExportJob) -> Iterator[DownloadTarget]:
        files = job.detail.get("files") or []
        for item in files:
            yield DownloadTarget(
                source=HttpSource(
                    partial(self.download_link, item["url"], job.export_id),
                    name=f"Batch export {job.export_id} part {item['part']} of {len(files)}",
                    expected_size=item.get("size"),
                ),
                format=FileFormat.NDJSON,
                transform=self.transform,
                columns=self.transform_columns if self.line_fields else None,
                line_fields=self.line_fields,
            )

    def download_link(self, url: str, export_id: str) -> str:
        """A fresh 20-minute link to one part, asked for whenever the last one has died.

        The part's ``url`` is used as Batch returns it (its version may differ from the
        configured one); the keys go with it only to the configured API host.
        """
        if origin(url) != origin(self.api.base_url):
            raise ProviderError(
                self.provider,
                f"a file's download URL is not on the API host {origin(self.api.base_url)}: "
                f"{url!r}; the Batch keys are sent to that host only",
                export_id=export_id,
                hint="check batch.base_url",
            )
        return self.api.redirect_location(url, export_id=export_id)


def json_object(value: Any, name: str) -> Mapping[str, Any]:
    """``value`` when it is an object; ``{}`` for null, missing, or ``[]`` (how some JSON
    writers encode an empty object); anything else makes the row bad."""
    if value is None or value == []:
        return {}
    if not isinstance(value, Mapping):
        msg = f"{name} is not an object: {type(value).__name__}"
        raise TypeError(msg)
    return value


def origin(url: str) -> str:
    """Scheme, host and port of a URL: where a request carrying the keys would go."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_request(found: object, wanted: Mapping[str, Any]) -> bool:
    """Whether an export's echoed request asks for exactly ``wanted`` (order aside)."""
    if not isinstance(found, Mapping):
        return False

    def normal(request: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in request.items():
            if isinstance(value, list):
                out[key] = sorted(map(str, value))
            elif key in {"from", "to"} and isinstance(value, str) and value != "now":
                out[key] = parse_instant(value)
            else:
                out[key] = value
        return out

    return normal(found) == normal(wanted)


class BatchEventsExport(BatchExport):
    """EVENTS exports, windowed on the event time within the 90-day lookback."""

    def __init__(
        self,
        api: BatchApi,
        events: Sequence[str],
        *,
        stream: str,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(api)
        self.events = list(events)
        self.stream = stream
        self.renamed = {name: field for field, name in (fields or {}).items() if name != field}
        self.line_fields = None if self.renamed else EVENT_LINE_FIELDS

    @override
    def windows(
        self, bookmark: dt.datetime | None, start_date: dt.datetime | None, now: dt.datetime
    ) -> list[Window]:
        end = now - LAG
        floor = now - LOOKBACK + LOOKBACK_MARGIN
        start = bookmark or start_date or floor
        if start < floor:
            LOGGER.warning(
                "Batch %s: events before %s are past Batch's 90-day lookback and cannot be "
                "exported; exporting from there instead of %s",
                self.stream,
                format_instant(floor),
                format_instant(start),
            )
            start = floor
        windows = []
        while start < end:
            windows.append(Window(start, min(end, start + MAX_WINDOW)))
            start += MAX_WINDOW
        return windows

    @override
    def request_body(self, window: Window) -> dict[str, Any]:
        if window.start is None or window.end is None:
            msg = "an EVENTS export needs a bounded window"
            raise ValueError(msg)
        return {
            "export_type": "EVENTS",
            "from": format_instant(window.start),
            "to": format_instant(window.end),
            "events": self.events,
            "identifiers": ["custom_id"],
        }

    @override
    def transform(self, row: Row) -> Row:
        """An event line as a record; fields the tap does not know pass through.

        The line's shape is not documented, so it is checked: a line without the event
        or its time would leave a record without its key or bookmark.
        """
        # The decoder hands over a fresh dict per line: reshaped in place, not copied.
        for name, field in self.renamed.items():
            if name in row:
                row[field] = row.pop(name)
        if row.get("event") is None or row.get("timestamp") is None:
            raise self._layout_error(row)
        row["custom_id"] = json_object(row.pop("identifiers", None), "identifiers").get("custom_id")
        return row

    @override
    def transform_columns(self, columns: Columns, rows: int) -> Columns:
        """Checked first: a line without its event or time leaves the block to
        :meth:`transform`, which names the bad row."""
        if any(None in columns[field] for field in REQUIRED_EVENT_FIELDS):
            msg = "an event line without its event or time"
            raise ValueError(msg)
        found = columns.pop("identifiers")
        if set(map(type, found)) == {dict}:
            columns["custom_id"] = list(map(dict.get, found, repeat("custom_id")))
        else:
            columns["custom_id"] = [
                json_object(identifiers, "identifiers").get("custom_id") for identifiers in found
            ]
        return columns

    def _layout_error(self, row: Row) -> LayoutError:
        file_names = {field: name for name, field in self.renamed.items()}
        needed = [file_names.get(field, field) for field in REQUIRED_EVENT_FIELDS]
        found = [file_names.get(name, name) for name in row]
        return LayoutError(
            self.provider,
            f"an event line lacks the fields the tap needs: needed {', '.join(needed)}; "
            f"found {', '.join(found) or 'none'}",
            stream=self.stream,
            hint="Batch does not document its event lines; map the file's names with "
            'batch.event_fields, e.g. {"timestamp": "<name in the file>"}',
        )


class BatchProfilesExport(BatchExport):
    """An ATTRIBUTES snapshot of every profile."""

    def __init__(
        self, api: BatchApi, attributes: Sequence[str], identifiers: Sequence[str]
    ) -> None:
        super().__init__(api)
        self.attributes = list(attributes)
        self.identifiers = list(identifiers)

    @override
    def request_body(self, window: Window) -> dict[str, Any]:
        body: dict[str, Any] = {"export_type": "ATTRIBUTES"}
        if self.attributes:
            body["attributes"] = self.attributes
        if self.identifiers:
            body["identifiers"] = self.identifiers
        return body

    @override
    def transform(self, row: Row) -> Row:
        identifiers = json_object(row.get("identifiers"), "identifiers")
        attributes = json_object(row.get("attributes"), "attributes")
        out: Row = {name: identifiers.get(name) for name in self.identifiers}
        out.update({column(name): attributes.get(name) for name in self.attributes})
        return out


def profiles_schema(attributes: Sequence[str], identifiers: Sequence[str]) -> dict[str, Any]:
    """The configured identifiers, native attributes (typed) and custom attributes (any JSON)."""
    known = profile_properties()
    any_value = {"type": ["string", "number", "boolean", "array", "object", "null"]}
    properties = {name: known[name] for name in identifiers}
    for name in attributes:
        properties[column(name)] = known[column(name)] if name.startswith("$") else any_value
    return {"type": "object", "properties": properties}


class BatchEventsStream(BulkExportStream):
    """Message events (sends, opens, clicks, bounces, ...) by event time."""

    name = "batch_events"
    schema = StreamSchema(SCHEMAS)
    primary_keys = ("custom_id", "event", "timestamp", "orchestration_id")
    replication_key = "timestamp"


class BatchProfilesStream(BulkExportStream):
    """Every profile with the configured attributes: a full snapshot each run.

    Keyed on ``custom_id`` when it is exported, so targets replace each profile.
    """

    name = "batch_profiles"
    replication_key = None

    def __init__(self, tap: TapExports, export: BatchProfilesExport) -> None:
        super().__init__(tap, export, schema=profiles_schema(export.attributes, export.identifiers))
        self.primary_keys = ["custom_id"] if "custom_id" in export.identifiers else []
