"""Connect collection exports: inline answers for small windows, S3 exports for large ones.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
from singer_sdk.schema.source import SchemaDirectory
from typing_extensions import override

from tap_exports import schemas
from tap_exports.engine.adapter import DownloadTarget, ExportAdapter, Row, WindowTooLargeError
from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.status import ExportStatus, StatusMap
from tap_exports.engine.stream import BulkExportStream
from tap_exports.errors import ProviderError
from tap_exports.instants import format_instant
from tap_exports.io.decode import FileFormat
from tap_exports.io.fetch import S3Source, make_s3_client, parse_s3_path
from tap_exports.providers.connect.client import PROVIDER, ConnectApi, json_body
from tap_exports.providers.connect.settings import Collection

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from tap_exports.tap import TapExports

LOGGER = logging.getLogger("tap_exports.connect")

SCHEMAS = SchemaDirectory(schemas)
#: Where the first run starts when ``start_date`` is not set: all of a collection.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Connect keeps timestamps to the millisecond; a window this short cannot be split.
SMALLEST_WINDOW = dt.timedelta(milliseconds=1)
STATUSES = StatusMap(
    PROVIDER,
    {
        "Pending": ExportStatus.PENDING,
        "Running": ExportStatus.RUNNING,
        "Complete": ExportStatus.COMPLETE,
        "Failed": ExportStatus.FAILED,
    },
)


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

    @property
    def s3_path(self) -> str:
        """The location in the one form Connect documents for ``s3Path``:
        ``https://<bucket>.s3.amazonaws.com/<prefix>``, whatever form the setting has."""
        bucket, prefix = parse_s3_path(self.path)
        return f"https://{bucket}.s3.amazonaws.com/{prefix}"

    @cached_property
    def client(self) -> S3Client:
        """A boto3 client with the bucket's own keys (the Connect key never goes there)."""
        return make_s3_client(
            endpoint_url=self.endpoint_url,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )


class ConnectCollectionExport(ExportAdapter):
    """Reading one collection: inline when the window is small, else an S3 export."""

    provider = PROVIDER
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
                "s3Path": bucket.s3_path,
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
        response = self.api.get_export(
            f"{self.path}/{job.export_id}",
            export_id=job.export_id,
            gone="Connect no longer knows this export",
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
        super().__init__(
            tap, adapter, name=collection.stream_name, schema=collection_schema(collection)
        )


def collection_schema(collection: Collection) -> dict[str, Any]:
    """Connect has no schema to discover: ``id`` and ``timestamp``, plus what is declared.

    Undeclared properties still pass through (``additionalProperties``).
    """
    base = copy.deepcopy(SCHEMAS.get_schema("connect_events"))
    declared = copy.deepcopy(dict(collection.properties or {}))
    return {**base, "properties": {**declared, **base["properties"]}}
