"""Connect (getconnect.io): one stream per event collection, read window by window.

Each run reads the absolute timeframe ``[bookmark, now - lag)`` of ``timestamp``
(start inclusive, end exclusive, so consecutive runs neither overlap nor leave
gaps). Connect answers up to 10,000 events inline; for more it says 413, and the
window is then exported by Connect into the user's own S3 bucket (one event per
line), or, without S3 settings, split in halves until each part fits.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.schema.source import SchemaDirectory
from typing_extensions import override

from tap_exports import schemas
from tap_exports.engine.adapter import DownloadTarget, ExportAdapter, Row, WindowTooLargeError
from tap_exports.engine.http import ApiClient
from tap_exports.engine.job import ExportJob, Window, format_instant
from tap_exports.engine.status import ExportStatus, StatusMap
from tap_exports.engine.stream import BulkExportStream
from tap_exports.errors import ExportGoneError, ProviderError
from tap_exports.io.decode import FileFormat
from tap_exports.io.fetch import S3Source, make_s3_client, parse_s3_path
from tap_exports.providers.base import Provider

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from tap_exports.tap import TapExports

LOGGER = logging.getLogger("tap_exports.connect")

SCHEMAS = SchemaDirectory(schemas)
DEFAULT_BASE_URL = "https://api.getconnect.io"
DEFAULT_LAG_SECONDS = 60
#: Where the first run starts when ``start_date`` is not set: all of a collection.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Connect keeps timestamps to the millisecond; a window this short cannot be split.
SMALLEST_WINDOW = dt.timedelta(milliseconds=1)
FILTER_OPERATORS = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "exists", "startsWith", "endsWith", "contains", "in"}
)
S3_SETTINGS = ("s3_path", "s3_access_key_id", "s3_secret_access_key")

STATUSES = StatusMap(
    "Connect",
    {
        "Pending": ExportStatus.PENDING,
        "Running": ExportStatus.RUNNING,
        "Complete": ExportStatus.COMPLETE,
        "Failed": ExportStatus.FAILED,
    },
)


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

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Project-Id"] = self.project_id
        request.headers["X-Api-Key"] = self.api_key
        return request


class ConnectApi(ApiClient):
    """Connect's HTTP API; query errors arrive as a list of ``{field, description}``."""

    provider = "Connect"

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


@dataclass(frozen=True)
class Bucket:
    """The user's S3 location Connect writes large exports to, and its keys."""

    path: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    endpoint_url: str | None = None

    def object_of(self, filename: str) -> tuple[str, str]:
        """Bucket and key of an export file: Connect writes ``<s3Path><filename>``."""
        return parse_s3_path(self.path + filename)

    @cached_property
    def client(self) -> S3Client:
        """A boto3 client with the bucket's own keys (the Connect key never goes there)."""
        return make_s3_client(
            endpoint_url=self.endpoint_url,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )


@dataclass(frozen=True)
class Collection:
    """A configured collection, its optional filter and declared properties, and its stream."""

    name: str
    filter: Mapping[str, Any] | None = None
    properties: Mapping[str, Any] | None = None

    @property
    def stream_name(self) -> str:
        """``connect_<collection>``, lower case, other characters as ``_``."""
        return "connect_" + re.sub(r"[^0-9a-z]+", "_", self.name.lower()).strip("_")

    @classmethod
    def from_setting(cls, item: object) -> Collection:
        """Read one ``collections`` entry: a name, or ``{"name": ..., "filter": {...}}``."""
        name: object
        query_filter: object = None
        properties: object = None
        if isinstance(item, str):
            name = item
        elif isinstance(item, Mapping):
            name, query_filter, properties = (
                item.get(key) for key in ("name", "filter", "properties")
            )
        else:
            msg = f"expected a collection name or an object with a name, got {item!r}"
            raise TypeError(msg)
        if not isinstance(name, str) or not name.strip():
            msg = f"a collection needs a non-empty name, got {name!r}"
            raise ValueError(msg)
        if query_filter is not None and not isinstance(query_filter, Mapping):
            msg = f"the filter of {name!r} must be an object, got {query_filter!r}"
            raise ValueError(msg)
        if properties is not None and not (
            isinstance(properties, Mapping)
            and all(isinstance(schema, Mapping) for schema in properties.values())
        ):
            msg = f"the properties of {name!r} must map names to JSON schemas, got {properties!r}"
            raise ValueError(msg)
        return cls(name, query_filter or None, properties or None)

    def schema(self) -> dict[str, Any]:
        """Connect has no schema to discover: ``id`` and ``timestamp``, plus what is declared.

        Undeclared properties still pass through (``additionalProperties``).
        """
        base = copy.deepcopy(SCHEMAS.get_schema("connect_events"))
        declared = copy.deepcopy(dict(self.properties or {}))
        return {**base, "properties": {**declared, **base["properties"]}}


def filter_problems(collection: Collection) -> list[str]:
    """Mistakes in a filter that Connect would reject, found before any request."""
    problems = []
    for prop, condition in (collection.filter or {}).items():
        if not prop or prop.startswith(".") or prop.endswith(".") or ".." in prop:
            problems.append(f"{collection.name}: {prop!r} is not a property name")
        if isinstance(condition, Mapping):
            unknown = sorted(set(condition) - FILTER_OPERATORS)
            if unknown or not condition:
                problems.append(
                    f"{collection.name}: {prop!r} uses unknown operators {unknown} (known: "
                    f"{', '.join(sorted(FILTER_OPERATORS))}; nested properties are written a.b)"
                )
    return problems


class ConnectCollectionExport(ExportAdapter):
    """Reading one collection: inline when the window is small, else an S3 export."""

    provider = "Connect"
    statuses = STATUSES
    has_inline_path = True

    def __init__(
        self,
        api: ConnectApi,
        collection: Collection,
        *,
        bucket: Bucket | None,
        lag: dt.timedelta,
    ) -> None:
        self.api = api
        self.collection = collection
        self.bucket = bucket
        self.lag = lag
        self.can_export_async = bucket is not None
        self.path = f"/events/{quote(collection.name, safe='')}/export"

    @override
    def windows(
        self, bookmark: dt.datetime | None, start_date: dt.datetime | None, now: dt.datetime
    ) -> list[Window]:
        start = bookmark or start_date or EPOCH
        end = now - self.lag
        return [Window(start, end)] if end > start else []

    def query(self, window: Window) -> dict[str, Any]:
        """The window as an absolute timeframe, with the collection's filter."""
        if window.start is None or window.end is None:
            msg = "Connect windows are always bounded"
            raise ValueError(msg)
        query: dict[str, Any] = {
            "timeframe": {"start": format_instant(window.start), "end": format_instant(window.end)}
        }
        if self.collection.filter:
            query["filter"] = dict(self.collection.filter)
        return query

    def rejected_query(self, response: requests.Response) -> ProviderError:
        """A 422: Connect's own ``errors`` quoted, and the setting to fix."""
        return ProviderError(
            self.provider,
            f"the query was rejected (HTTP 422): {self.api.error_message(response)}",
            stream=self.collection.stream_name,
            hint=f"fix the filter of collection {self.collection.name!r} in connect.collections",
        )

    @override
    def preflight(self) -> None:
        """A filter only Connect can judge is tried on an empty timeframe before any row is out."""
        if self.collection.filter:
            self.fetch_inline(Window(EPOCH, EPOCH + SMALLEST_WINDOW))

    @override
    def fetch_inline(self, window: Window) -> list[Row]:
        """Up to 10,000 events in one answer (the API's cap bounds what is held here)."""
        response = self.api.request(
            "GET",
            self.path,
            params={"query": json.dumps(self.query(window), separators=(",", ":"))},
            accept=(200, 413, 422),
        )
        if response.status_code == 422:
            raise self.rejected_query(response)
        if response.status_code == 413:
            if self.bucket is not None:
                LOGGER.info(
                    "Connect %s: %s holds more than Connect answers inline; "
                    "exporting it to the S3 bucket instead",
                    self.collection.stream_name,
                    window,
                )
            elif window.start and window.end and window.end - window.start <= SMALLEST_WINDOW:
                raise ProviderError(
                    self.provider,
                    f"{window} alone holds more events than Connect answers inline",
                    stream=self.collection.stream_name,
                    hint="set connect.s3_path, connect.s3_access_key_id and "
                    "connect.s3_secret_access_key so Connect can export it to S3",
                )
            raise WindowTooLargeError(str(window))
        events = json_body(response).get("results")
        if not isinstance(events, list):
            raise ProviderError(
                self.provider,
                f"the answer for {window} has no 'results' list",
                stream=self.collection.stream_name,
                hint="check connect.base_url",
            )
        return events

    def _bucket(self) -> Bucket:
        if self.bucket is None:
            raise ProviderError(
                self.provider,
                "this S3 export needs the bucket settings",
                stream=self.collection.stream_name,
                hint="set connect.s3_path, connect.s3_access_key_id and "
                "connect.s3_secret_access_key again, or remove the export from the state",
            )
        return self.bucket

    @override
    def create(self, window: Window) -> ExportJob:
        bucket = self._bucket()
        response = self.api.request(
            "POST",
            self.path,
            json={
                "query": self.query(window),
                "s3Path": bucket.path,
                "s3AccessKeyId": bucket.access_key_id,
                "s3SecretAccessKey": bucket.secret_access_key,
            },
            accept=(201, 422),
        )
        if response.status_code == 422:
            raise self.rejected_query(response)
        location = response.headers.get("Location", "")
        export_id = urlsplit(location).path.rstrip("/").rpartition("/")[2]
        if not export_id:
            raise ProviderError(
                self.provider,
                f"the S3 export for {window} was accepted without a Location to monitor",
                stream=self.collection.stream_name,
            )
        return ExportJob(export_id, window=window)

    @override
    def poll(self, job: ExportJob) -> ExportJob:
        response = self.api.request(
            "GET", f"{self.path}/{job.export_id}", accept=(200, 404), export_id=job.export_id
        )
        if response.status_code == 404:
            raise ExportGoneError(
                self.provider, "Connect no longer knows this export", export_id=job.export_id
            )
        body = json_body(response)
        detail = {
            "filename": body.get("filename"),
            "percent_done": body.get("percentDone"),
            "transferred_bytes": body.get("transferredBytes"),
            "total_bytes": body.get("totalBytes"),
            "reason": body.get("error"),
        }
        return job.with_status(
            STATUSES(body.get("status"), export_id=job.export_id),
            **{key: value for key, value in detail.items() if value is not None},
        )

    @override
    def progress(self, job: ExportJob) -> str | None:
        notes = []
        if job.detail.get("percent_done") is not None:
            notes.append(f"{job.detail['percent_done']}% done")
        if job.detail.get("total_bytes"):
            notes.append(
                f"{job.detail.get('transferred_bytes', 0)} of {job.detail['total_bytes']} "
                "bytes transferred"
            )
        return ", ".join(notes) or None

    @override
    def targets(self, job: ExportJob) -> Iterator[DownloadTarget]:
        location = self._bucket()
        bucket, key = location.object_of(str(job.detail.get("filename") or f"{job.export_id}.json"))
        total = job.detail.get("total_bytes")
        yield DownloadTarget(
            source=S3Source(
                location.client,
                bucket,
                key,
                name=f"Connect export {job.export_id} (s3://{bucket}/{key})",
                expected_size=int(total) if total else None,
            ),
            format=FileFormat.NDJSON,
        )


class ConnectCollectionStream(BulkExportStream):
    """The events of one collection; their properties are whatever was pushed."""

    primary_keys = ("id",)
    replication_key = "timestamp"

    def __init__(self, tap: TapExports, adapter: ConnectCollectionExport) -> None:
        collection = adapter.collection
        super().__init__(tap, adapter, name=collection.stream_name, schema=collection.schema())


class ConnectProvider(Provider):
    """Connect's event export API."""

    key = "connect"
    title = "Connect"
    credentials = ("project_id", "api_key")
    url_settings = ("base_url", "s3_endpoint_url")

    @property
    @override
    def settings(self) -> th.PropertiesList:
        collection = th.CustomType(
            {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "filter": {"type": "object"},
                            "properties": {"type": "object"},
                        },
                        "required": ["name"],
                    },
                ]
            }
        )
        return th.PropertiesList(
            th.Property("project_id", th.StringType, description="Project id (X-Project-Id)."),
            th.Property(
                "api_key",
                th.StringType,
                secret=True,
                description="A Query, Push/Query or Master key of the project (X-Api-Key).",
            ),
            th.Property("base_url", th.StringType, default=DEFAULT_BASE_URL),
            th.Property(
                "collections",
                th.ArrayType(collection),
                description="Collections to read, one stream connect_<collection> each: a name, "
                'or {"name": ..., "filter": {...}, "properties": {...}} with a filter in '
                "Connect's query language and the JSON schemas of the events' properties "
                "(Connect has none to discover; undeclared ones pass through untyped).",
            ),
            th.Property(
                "s3_path",
                th.StringType,
                description="Where Connect writes exports too large to answer inline, e.g. "
                "https://my-bucket.s3.amazonaws.com/exports/ or s3://my-bucket/exports/; "
                "without it, such windows are split until each part fits.",
            ),
            th.Property("s3_access_key_id", th.StringType, description="Key id for s3_path."),
            th.Property(
                "s3_secret_access_key",
                th.StringType,
                secret=True,
                description="Secret key for s3_path (given to Connect to write, used to read).",
            ),
            th.Property(
                "s3_endpoint_url",
                th.StringType,
                description="Endpoint of an S3-compatible store holding s3_path (not AWS).",
            ),
            th.Property(
                "lag_seconds",
                th.IntegerType,
                default=DEFAULT_LAG_SECONDS,
                description="Each run stops this far before now, leaving events that may "
                "still be arriving to the next run.",
            ),
        )

    @override
    def validate_section(self, section: Mapping[str, Any]) -> list[str]:
        errors = []
        items = section.get("collections")
        if not isinstance(items, list) or not items:
            errors.append("connect.collections: name at least one collection")
            items = []
        streams: dict[str, str] = {}
        for item in items:
            try:
                collection = Collection.from_setting(item)
            except (TypeError, ValueError) as exc:
                errors.append(f"connect.collections: {exc}")
                continue
            errors += [f"connect.collections: {problem}" for problem in filter_problems(collection)]
            if collection.stream_name == "connect_":
                errors.append(f"connect.collections: {collection.name!r} has no letter or digit")
            other = streams.setdefault(collection.stream_name, collection.name)
            if other != collection.name:
                errors.append(
                    f"connect.collections: {collection.name!r} and {other!r} would both "
                    f"be stream {collection.stream_name!r}"
                )
        given = [name for name in S3_SETTINGS if section.get(name)]
        if given and len(given) < len(S3_SETTINGS):
            errors += [
                f"connect.{name}: required when connect.{given[0]} is set"
                for name in S3_SETTINGS
                if name not in given
            ]
        if section.get("s3_path"):
            try:
                parse_s3_path(str(section["s3_path"]))
            except ValueError as exc:
                errors.append(f"connect.s3_path: {exc}")
        lag = section.get("lag_seconds")
        if lag is not None and (not isinstance(lag, int) or lag < 0):
            errors.append(f"connect.lag_seconds: must be a whole number >= 0, got {lag!r}")
        return errors

    @override
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        section = self.section(tap.config)
        bucket = (
            Bucket(
                path=str(section["s3_path"]),
                access_key_id=str(section["s3_access_key_id"]),
                secret_access_key=str(section["s3_secret_access_key"]),
                endpoint_url=section.get("s3_endpoint_url"),
            )
            if section.get("s3_path")
            else None
        )
        api = ConnectApi(
            str(section.get("base_url") or DEFAULT_BASE_URL),
            str(section["project_id"]),
            str(section["api_key"]),
            secrets=(bucket.secret_access_key,) if bucket else (),
        )
        lag = dt.timedelta(seconds=int(section.get("lag_seconds", DEFAULT_LAG_SECONDS)))
        return [
            ConnectCollectionStream(
                tap,
                ConnectCollectionExport(api, Collection.from_setting(item), bucket=bucket, lag=lag),
            )
            for item in section["collections"]
        ]


CONNECT = ConnectProvider()
