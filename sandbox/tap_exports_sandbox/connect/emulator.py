"""Connect's event export API as providers.md §3 describes it.

``GET /events/:collection/export?query=`` answers up to ``inline_limit`` events inline
(413 beyond), ``POST /events/:collection/export`` writes the events as NDJSON into the
caller's S3 bucket (the sandbox's S3 server) at ``<s3Path><id>.json`` and answers 201
with a ``Location`` to monitor at ``GET /events/:collection/export/:id``. Queries are
checked as §3.5 says (422 with ``errors``); requests need ``X-Project-Id`` and
``X-Api-Key`` (401 with ``errorMessage`` otherwise).
"""

from __future__ import annotations

import datetime as dt
import hmac
import itertools
import json
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue

from tap_exports_sandbox.background import until_cancelled
from tap_exports_sandbox.config import StatusDelays
from tap_exports_sandbox.connect.events import define_collections, iso, json_chunks
from tap_exports_sandbox.connect.query import ExportQuery, QueryError
from tap_exports_sandbox.emulator import EmulatorContext, ProviderEmulator, Route
from tap_exports_sandbox.encoders import malformed_positions
from tap_exports_sandbox.faults import FaultKind
from tap_exports_sandbox.storage import ACCESS_KEY_ID, SECRET_ACCESS_KEY

PENDING, RUNNING, COMPLETE, FAILED = "Pending", "Running", "Complete", "Failed"
#: How far behind now the tap settings the sandbox hands out stop reading.
LAG_SECONDS = 60


def _error_message(status: int, message: str) -> ResponseReturnValue:
    return jsonify(errorMessage=message), status


def _query_error(error: QueryError) -> ResponseReturnValue:
    return jsonify(errors=[{"field": error.field, "description": error.description}]), 422


def bucket_and_prefix(s3_path: str) -> tuple[str, str]:
    """``s3://b/p/``, ``https://b.s3.amazonaws.com/p/`` or path-style ``http://host/b/p/``."""
    parts = urlsplit(s3_path)
    host = parts.hostname or ""
    path = parts.path.lstrip("/")
    if parts.scheme == "s3":
        bucket, prefix = host, path
    elif parts.scheme in {"http", "https"} and ".s3" in host and host.endswith("amazonaws.com"):
        bucket, prefix = host.partition(".s3")[0], path
    elif parts.scheme in {"http", "https"}:
        bucket, _, prefix = path.partition("/")
    else:
        bucket, prefix = "", ""
    if not bucket:
        msg = f"not an S3 location: {s3_path!r}"
        raise ValueError(msg)
    return bucket, prefix


@dataclass
class ConnectExport:
    """One S3 export: what it covers, where it goes, and how far it has got.

    Its status follows the sandbox's delays and stays ``Running`` until the file is
    written; ``error`` makes it end ``Failed``.
    """

    id: str
    collection: str
    query: ExportQuery
    span: range
    bucket: str
    key: str
    created_at: dt.datetime
    error: str | None = None
    malformed_rows: int = 0
    scanned: int = 0
    transferred_bytes: int = 0
    total_bytes: int | None = None
    file_ready: threading.Event = field(default_factory=threading.Event)

    def status(self, now: dt.datetime, delays: StatusDelays) -> str:
        """Connect's word for where the export stands at ``now``."""
        age = (now - self.created_at).total_seconds()
        if age < delays.running_after:
            return PENDING
        if age < delays.complete_after:
            return RUNNING
        if self.error is not None:
            return FAILED
        return COMPLETE if self.file_ready.is_set() else RUNNING

    def describe(self, now: dt.datetime, delays: StatusDelays) -> dict[str, Any]:
        """The monitoring object at ``now`` (providers.md §3.4).

        Progress is the smaller of the share of the file written and the share of the
        running phase elapsed, so polls during ``Running`` see it grow; ``totalBytes``
        is known once the export is complete.
        """
        status = self.status(now, delays)
        started = self.created_at + dt.timedelta(seconds=delays.running_after)
        running = delays.complete_after - delays.running_after
        elapsed = (now - started).total_seconds() / running if running > 0 else 1.0
        written = self.scanned / len(self.span) if self.span else 1.0
        share = {PENDING: 0.0, COMPLETE: 1.0}.get(status, max(0.0, min(1.0, elapsed, written)))
        return {
            "id": self.id,
            "filename": f"{self.id}.json",
            "collection": self.collection,
            "status": status,
            "created": iso(self.created_at),
            "started": None if status == PENDING else iso(started),
            "finished": iso(started + dt.timedelta(seconds=running))
            if status in {COMPLETE, FAILED}
            else None,
            "error": self.error if status == FAILED else None,
            "percentDone": int(share * 100),
            "transferredBytes": round(self.transferred_bytes * share / written) if written else 0,
            "totalBytes": self.total_bytes if status == COMPLETE else None,
        }


class ConnectEmulator(ProviderEmulator):
    """One Connect project with a few collections and a bucket of its user's."""

    name = "connect"

    def __init__(self, context: EmulatorContext) -> None:
        super().__init__(context)
        self.options = context.config.connect
        self.collections = define_collections(context.datasets, self.options.collections)
        self.bucket = context.storage.create_bucket(self.options.bucket, provider=self.name)
        self._lock = threading.Lock()
        self._exports: dict[str, ConnectExport] = {}

    def routes(self) -> Sequence[Route]:
        """The small export, the S3 export and its monitor."""
        return (
            Route("GET", "/events/<collection>/export", "inline", self.export_inline),
            Route("POST", "/events/<collection>/export", "create", self.create_export),
            Route("GET", "/events/<collection>/export/<export_id>", "get", self.get_export),
        )

    def check_request(self) -> ResponseReturnValue | None:
        """Both headers, matching the project's (401 otherwise)."""
        project = request.headers.get("X-Project-Id", "")
        key = request.headers.get("X-Api-Key", "")
        if project != self.options.project_id or not hmac.compare_digest(
            key.encode(), self.options.api_key.encode()
        ):
            return _error_message(401, "Unauthorized: check X-Project-Id and X-Api-Key")
        return None

    def _events(
        self, name: str, query: ExportQuery, flat: Iterable[dict[str, Any]] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Matching events as Connect returns them; an unknown collection has none.

        Pushing an event creates its collection, so Connect knows no "missing" one.
        """
        collection = self.collections.get(name)
        if collection is None:
            return iter(())
        if flat is None:
            flat = collection.flat(collection.span(query.start, query.end))
        if query.filtered:
            flat = filter(query.matches, flat)
        return map(collection.nest, flat)

    def export_inline(self, collection: str) -> ResponseReturnValue:
        """All matching events as ``{"results": [...]}``, or 413 past the limit."""
        try:
            query = ExportQuery.parse(json.loads(request.args.get("query") or "{}"))
        except json.JSONDecodeError:
            return _query_error(QueryError("query", "is not valid JSON"))
        except QueryError as error:
            return _query_error(error)
        limit = self.options.inline_limit
        events = self.collections.get(collection)
        matched = len(events.span(query.start, query.end)) if events else 0
        if query.filtered and matched > limit:
            matched = sum(1 for _ in itertools.islice(self._events(collection, query), limit + 1))
        if matched > limit:
            return _error_message(
                413, f"Too Many Results: more than {limit} events; export them to S3 instead"
            )
        return Response(
            json_chunks(
                self._events(collection, query), separator=b",", head=b'{"results":[', tail=b"]}"
            ),
            mimetype="application/json",
        )

    def create_export(self, collection: str) -> ResponseReturnValue:
        """Start an S3 export; 201 with the monitoring object and its ``Location``."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _query_error(QueryError("body", "must be a JSON object"))
        try:
            query = ExportQuery.parse(body.get("query"))
            bucket, prefix = self._destination(body)
        except QueryError as error:
            return _query_error(error)
        now = self.context.clock.now()
        export_id = f"{int(now.timestamp()):08x}{secrets.token_hex(8)}"
        events = self.collections.get(collection)
        malformed = self.injected(FaultKind.MALFORMED_ROWS)
        export = ConnectExport(
            id=export_id,
            collection=collection,
            query=query,
            span=events.span(query.start, query.end) if events else range(0),
            bucket=bucket,
            key=f"{prefix}{export_id}.json",
            created_at=now,
            error=self._refusal(body, bucket),
            malformed_rows=malformed.rows if malformed else 0,
        )
        with self._lock:
            self._exports[export_id] = export
        self.context.stats.export_created(self.name, collection)
        if export.error is None:
            self.context.jobs.submit(lambda cancelled: self._write_file(export, cancelled))
        response = jsonify(self._describe(export))
        response.status_code = 201
        response.headers["Location"] = f"{self.url}/events/{collection}/export/{export_id}"
        return response

    def _destination(self, body: dict[str, Any]) -> tuple[str, str]:
        for name in ("s3Path", "s3AccessKeyId", "s3SecretAccessKey"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise QueryError(name, "is required for an export to S3")
        documented = urlsplit(body["s3Path"])
        if not self.options.any_s3_path and not (
            documented.scheme == "https"
            and (documented.hostname or "").endswith(".s3.amazonaws.com")
        ):
            raise QueryError("s3Path", "must look like https://<bucket>.s3.amazonaws.com/<path>/")
        try:
            return bucket_and_prefix(body["s3Path"])
        except ValueError as exc:
            raise QueryError("s3Path", str(exc)) from None

    def _refusal(self, body: dict[str, Any], bucket: str) -> str | None:
        """Why writing to the bucket will fail, as S3 would put it; ``None`` if it will not."""
        if self.injected(FaultKind.FAIL_EXPORT):
            return "InternalError: We encountered an internal error. Please try again."
        if body["s3AccessKeyId"] != ACCESS_KEY_ID:
            return (
                "InvalidAccessKeyId: The AWS Access Key Id you provided does not exist "
                "in our records."
            )
        if not hmac.compare_digest(body["s3SecretAccessKey"].encode(), SECRET_ACCESS_KEY.encode()):
            return (
                "SignatureDoesNotMatch: The request signature we calculated does not match "
                "the signature you provided. Check your key and signing method."
            )
        if bucket != self.bucket:
            return "NoSuchBucket: The specified bucket does not exist"
        return None

    def _write_file(self, export: ConnectExport, cancelled: threading.Event) -> None:
        collection = self.collections.get(export.collection)

        def scanned() -> Iterator[dict[str, Any]]:
            for event in collection.flat(export.span) if collection else ():
                export.scanned += 1
                yield event

        def measured(chunks: Iterable[bytes]) -> Iterator[bytes]:
            for chunk in until_cancelled(chunks, cancelled):
                export.transferred_bytes += len(chunk)
                yield chunk

        chunks = json_chunks(
            self._events(export.collection, export.query, scanned()),
            separator=b"\n",
            tail=b"\n",
            malformed_after=malformed_positions(len(export.span), export.malformed_rows),
        )
        export.total_bytes = self.context.storage.put_stream(
            export.bucket, export.key, measured(chunks), "application/x-ndjson"
        )
        export.file_ready.set()

    def _describe(self, export: ConnectExport) -> dict[str, Any]:
        described = export.describe(self.context.clock.now(), self.context.config.delays)
        word = self.injected(FaultKind.STATUS_WORD)
        if word:
            described["status"] = word.word
        return described

    def get_export(self, collection: str, export_id: str) -> ResponseReturnValue:
        """The monitoring object of one export (404 for an unknown id)."""
        with self._lock:
            export = self._exports.get(export_id)
        if export is None or export.collection != collection:
            return _error_message(404, f"Export {export_id} not found")
        return jsonify(self._describe(export))

    def tap_settings(self) -> dict[str, Any]:
        """``connect`` settings reading every collection, with the bucket for large windows."""
        return {
            "project_id": self.options.project_id,
            "api_key": self.options.api_key,
            "base_url": self.url,
            "collections": [
                {"name": name, "properties": events.properties()}
                for name, events in self.collections.items()
            ],
            "s3_path": f"https://{self.bucket}.s3.amazonaws.com/{self.options.prefix}",
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SECRET_ACCESS_KEY,
            "s3_endpoint_url": self.context.storage.endpoint_url,
            "lag_seconds": LAG_SECONDS,
        }

    def stream_counts(self) -> dict[str, int]:
        """Events older than the lag, per stream (the sandbox's start date precedes them all)."""
        end = self.context.clock.now() - dt.timedelta(seconds=LAG_SECONDS)
        return {events.stream: len(events.span(None, end)) for events in self.collections.values()}

    def export_counts(self) -> dict[str, int]:
        """Events per collection."""
        return {name: events.dataset.size for name, events in self.collections.items()}

    def reset(self) -> None:
        """Forget every export."""
        with self._lock:
            self._exports.clear()
