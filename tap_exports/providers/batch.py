"""Batch.com: profile EVENTS and ATTRIBUTES exports, multi-part NDJSON behind 20-minute links.

Exports are created with ``POST /profiles/export`` and watched with
``GET /exports/view``; each part is fetched through ``GET /exports/download``,
whose 307 points at a link that lives 20 minutes, so a part is resolved only when
it is about to be read (and again if its link dies mid-way). Events are exported in
windows on their timestamp, within Batch's 90-day lookback; profiles are a
snapshot each run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk import SchemaDirectory, Stream, StreamSchema
from singer_sdk import typing as th
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import JSONPathPaginator
from typing_extensions import override

from tap_exports import schemas
from tap_exports.engine.adapter import DownloadTarget, ExportAdapter, Row
from tap_exports.engine.http import ApiClient
from tap_exports.engine.job import ExportJob, Window, format_instant, parse_instant
from tap_exports.engine.listing import ExportListingStream
from tap_exports.engine.status import ExportStatus, StatusMap
from tap_exports.engine.stream import BulkExportStream
from tap_exports.errors import ExportGoneError, ProviderError
from tap_exports.io.decode import FileFormat
from tap_exports.io.fetch import HttpSource
from tap_exports.providers.base import Provider

if TYPE_CHECKING:
    from tap_exports.tap import TapExports

LOGGER = logging.getLogger("tap_exports.batch")
SCHEMAS = SchemaDirectory(schemas)
DEFAULT_BASE_URL = "https://api.batch.com/2.11"

EVENTS = (
    "email_bounced",
    "email_click",
    "email_delivered",
    "email_open",
    "email_sent",
    "email_spam_complaint",
    "email_unsubscribed",
    "sms_sent",
    "sms_bounced",
    "sms_delivered",
    "sms_unsubscribed",
    "push_sent",
    "push_bounced",
    "push_open",
)
IDENTIFIERS = ("custom_id", "installation_ids")
DEFAULT_ATTRIBUTES = ("$email_address", "$language", "$region", "$timezone", "$last_activity")

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
    "Batch",
    {
        "CREATED": ExportStatus.PENDING,
        "PENDING": ExportStatus.PENDING,
        "RUNNING": ExportStatus.RUNNING,
        "SUCCESS": ExportStatus.COMPLETE,
        "ERROR": ExportStatus.FAILED,
    },
)
IN_PROGRESS = frozenset({"CREATED", "PENDING", "RUNNING"})


def profile_properties() -> dict[str, Any]:
    """The identifier and native-attribute columns Batch can export, keyed by column."""
    text = resources.files(schemas).joinpath("batch_profiles.json").read_text("utf-8")
    properties: dict[str, Any] = json.loads(text)["properties"]
    return properties


NATIVE_ATTRIBUTES = tuple(f"${name}" for name in profile_properties() if name not in IDENTIFIERS)


def listed(section: Mapping[str, Any], name: str, default: Iterable[str]) -> list[Any]:
    """A list setting, its default when it is absent or null (an empty list stays empty)."""
    value = section.get(name)
    return list(default) if value is None else list(value)


def column(attribute: str) -> str:
    """The column an attribute loads into: native ``$language`` → ``language``."""
    return attribute.removeprefix("$")


class BatchAuth(requests.auth.AuthBase):
    """Bearer REST key plus the project key, on every call to the Batch API."""

    def __init__(self, rest_api_key: str, project_key: str) -> None:
        self.rest_api_key = rest_api_key
        self.project_key = project_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.rest_api_key}"
        request.headers["X-Batch-Project"] = self.project_key
        return request


class BatchApi(ApiClient):
    """Errors read ``{"error_message", "error_code"}``; 429 and 503 are retried like any 5xx."""

    provider = "Batch"

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


class BatchExport(ExportAdapter):
    """One kind of Batch profile export; subclasses say what to ask for and how rows read."""

    provider = "Batch"
    statuses = STATUSES

    def __init__(self, api: BatchApi) -> None:
        self.api = api

    @abstractmethod
    def request_body(self, window: Window) -> dict[str, Any]:
        """The ``POST /profiles/export`` body for ``window``."""

    @abstractmethod
    def transform(self, row: Row) -> Row:
        """One NDJSON line → one record."""

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
        response = self.api.request(
            "GET",
            "/exports/view",
            params={"id": job.export_id},
            accept=(200, 404),
            export_id=job.export_id,
        )
        if response.status_code == 404:
            raise ExportGoneError(
                self.provider, "Batch no longer knows this export", export_id=job.export_id
            )
        export = response.json()
        status = STATUSES(export.get("status"), export_id=job.export_id)
        files = sorted(
            (
                {
                    "id": str(item["id"]),
                    "part": int(item.get("part") or 0),
                    "size": item.get("size"),
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
                    partial(self.download_link, item["id"], job.export_id),
                    name=f"Batch export {job.export_id} part {item['part']} of {len(files)}",
                    expected_size=item.get("size"),
                ),
                format=FileFormat.NDJSON,
                transform=self.transform,
            )

    def download_link(self, file_id: str, export_id: str) -> str:
        """A fresh 20-minute link to one part, asked for whenever the last one has died.

        The call goes to the configured API host, never to a URL taken from a response,
        so the Batch keys are sent nowhere else.
        """
        return self.api.redirect_location(
            "/exports/download", params={"id": file_id}, export_id=export_id
        )


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

    def __init__(self, api: BatchApi, events: Sequence[str], *, stream: str) -> None:
        super().__init__(api)
        self.events = list(events)
        self.stream = stream

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
        # The decoder hands over a fresh dict per line: reshaped in place, not copied.
        identifiers = row.pop("identifiers", None) or {}
        row["custom_id"] = identifiers.get("custom_id")
        return row


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
        identifiers, attributes = row.get("identifiers") or {}, row.get("attributes") or {}
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


class BatchProvider(Provider):
    """Batch.com's profile export API."""

    key = "batch"
    title = "Batch"
    credentials = ("rest_api_key", "project_key")

    @property
    @override
    def settings(self) -> th.PropertiesList:
        return th.PropertiesList(
            th.Property(
                "rest_api_key",
                th.StringType,
                secret=True,
                description="REST API key, sent as 'Authorization: Bearer <key>'.",
            ),
            th.Property(
                "project_key",
                th.StringType,
                secret=True,
                description="Project key, sent as the X-Batch-Project header.",
            ),
            th.Property(
                "base_url",
                th.StringType,
                default=DEFAULT_BASE_URL,
                description="API root including the version, e.g. https://api.batch.com/2.11.",
            ),
            th.Property(
                "events",
                th.ArrayType(th.StringType),
                default=list(EVENTS),
                description="Event types exported into batch_events (email_open, push_sent, "
                "...); the default is every type Batch exports.",
            ),
            th.Property(
                "attributes",
                th.ArrayType(th.StringType),
                default=list(DEFAULT_ATTRIBUTES),
                description="Profile attributes exported into batch_profiles: native ones start "
                "with $ (loaded without it), any other name is a custom attribute.",
            ),
            th.Property(
                "identifiers",
                th.ArrayType(th.StringType),
                default=list(IDENTIFIERS),
                description="Profile identifiers exported into batch_profiles: custom_id, "
                "installation_ids.",
            ),
        )

    @override
    def validate_section(self, section: Mapping[str, Any]) -> list[str]:
        errors: list[str] = []
        events = listed(section, "events", EVENTS)
        if not events:
            errors.append("batch.events: name at least one event")
        errors += [
            f"batch.events: unknown event {name!r}; known: {', '.join(EVENTS)}"
            for name in events
            if name not in EVENTS
        ]
        identifiers = listed(section, "identifiers", IDENTIFIERS)
        errors += [
            f"batch.identifiers: unknown identifier {name!r}; known: {', '.join(IDENTIFIERS)}"
            for name in identifiers
            if name not in IDENTIFIERS
        ]
        attributes = listed(section, "attributes", DEFAULT_ATTRIBUTES)
        if not attributes and not identifiers:
            errors.append("batch.attributes: name at least one attribute or identifier")
        columns: dict[str, str] = {name: name for name in identifiers}
        for name in attributes:
            if not isinstance(name, str) or name in {"", "$"}:
                errors.append(f"batch.attributes: not an attribute name: {name!r}")
            elif name.startswith("$") and name not in NATIVE_ATTRIBUTES:
                errors.append(
                    f"batch.attributes: unknown native attribute {name!r}; "
                    f"known: {', '.join(NATIVE_ATTRIBUTES)}"
                )
            elif column(name) in columns:
                errors.append(
                    f"batch.attributes: {name!r} and {columns[column(name)]!r} would both "
                    f"load into column {column(name)!r}"
                )
            else:
                columns[column(name)] = name
        return errors

    @override
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        section = self.section(tap.config)
        api = BatchApi(
            str(section.get("base_url") or DEFAULT_BASE_URL),
            str(section["rest_api_key"]),
            str(section["project_key"]),
        )
        profiles = BatchProfilesExport(
            api,
            listed(section, "attributes", DEFAULT_ATTRIBUTES),
            listed(section, "identifiers", IDENTIFIERS),
        )
        events = BatchEventsExport(
            api, listed(section, "events", EVENTS), stream=BatchEventsStream.name
        )
        return [
            BatchExportsStream(tap, api),
            BatchEventsStream(tap, events),
            BatchProfilesStream(tap, profiles),
        ]


BATCH = BatchProvider()
