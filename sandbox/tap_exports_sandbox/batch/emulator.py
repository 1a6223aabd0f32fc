"""Batch.com's profile export API as providers.md §4 describes it.

``POST /profiles/export`` (202 ``{id}``), ``GET /exports/view?id=``, ``GET /exports/list``
(cursor ``from``/``next_from``) and ``GET /exports/download?id=file_…`` (307 to a link on
the sandbox's S3 server that lives 20 minutes of sandbox time), all under
``/batch/<version>`` with ``Authorization: Bearer <REST key>`` and ``X-Batch-Project``.
Files are NDJSON in parts of at most ``part_max_bytes``; an export without data has no
files. EVENTS exports cover ``[from, to)`` within a 90-day lookback.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import secrets
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import jsonify, redirect, request
from flask.typing import ResponseReturnValue

from tap_exports_sandbox.background import until_cancelled
from tap_exports_sandbox.batch.data import (
    EVENT_NAMES,
    define_datasets,
    event_line,
    profile_line,
    rfc3339,
)
from tap_exports_sandbox.config import StatusDelays
from tap_exports_sandbox.data import Dataset
from tap_exports_sandbox.emulator import EmulatorContext, ProviderEmulator, Route
from tap_exports_sandbox.encoders import CHUNK_BYTES, malformed_positions
from tap_exports_sandbox.faults import FaultKind

EVENTS, ATTRIBUTES = "EVENTS", "ATTRIBUTES"
SCOPES = {EVENTS: "PROFILE_EVENTS", ATTRIBUTES: "PROFILE_ATTRIBUTES"}
IN_PROGRESS = frozenset({"CREATED", "PENDING", "RUNNING"})
MAX_PAGE = 100
_BROKEN_LINE = b'{"identifiers": {"custom_id": "broken\n'


class RequestError(Exception):
    """A create request Batch would refuse with 400."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def error(status: int, code: str, message: str) -> ResponseReturnValue:
    """Batch's error body, ``{"error_message", "error_code"}``."""
    return jsonify(error_message=message, error_code=code), status


def parse_date(value: object, name: str) -> dt.datetime:
    """An RFC 3339 UTC date from the request body."""
    if not isinstance(value, str):
        raise RequestError("MISSING_PARAMETER", f"{name} is required")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError("MALFORMED_PARAMETER", f"{name} is not an RFC 3339 date") from None
    if parsed.tzinfo is None:
        raise RequestError("MALFORMED_PARAMETER", f"{name} must carry a timezone")
    return parsed


def string_list(body: Mapping[str, Any], name: str, allowed: Iterable[str] | None) -> list[str]:
    """An optional non-empty list of strings from the request body, checked against ``allowed``."""
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise RequestError("MALFORMED_PARAMETER", f"{name} must be a non-empty list of strings")
    unknown = sorted(set(value) - set(allowed)) if allowed is not None else []
    if unknown:
        raise RequestError("MALFORMED_PARAMETER", f"{name}: unknown values {', '.join(unknown)}")
    return list(value)


def first_index_at(dataset: Dataset, moment: dt.datetime) -> int:
    """The first row happening at or after ``moment`` (exact integer arithmetic)."""
    offset = (moment - dataset.epoch) // dt.timedelta(microseconds=1)
    step = dataset.step // dt.timedelta(microseconds=1)
    return min(max(-(-offset // step), 0), dataset.size)


@dataclass(frozen=True)
class ExportFile:
    """One part of an export's file, and where it lies in the sandbox's bucket."""

    id: str
    part: int
    size: int
    key: str

    def describe(self, download_url: str) -> dict[str, Any]:
        """The ``files`` item of the view: id, part, size and the download route's URL."""
        url = f"{download_url}?id={self.id}"
        return {"id": self.id, "part": self.part, "size": self.size, "url": url}


@dataclass
class EmulatedExport:
    """One export: what it selected when it was created, and how far it has got."""

    id: str
    request: dict[str, Any]
    created_at: dt.datetime
    rows: range
    fails: bool = False
    malformed_rows: int = 0
    files: list[ExportFile] = field(default_factory=list)
    file_ready: threading.Event = field(default_factory=threading.Event)

    @property
    def export_type(self) -> str:
        """EVENTS or ATTRIBUTES."""
        return str(self.request["export_type"])

    def status(self, now: dt.datetime, delays: StatusDelays) -> str:
        """Batch's word for where the export stands at ``now``."""
        age = (now - self.created_at).total_seconds()
        if age < delays.running_after / 2:
            return "CREATED"
        if age < delays.running_after:
            return "PENDING"
        if age < delays.complete_after:
            return "RUNNING"
        if self.fails:
            return "ERROR"
        return "SUCCESS" if self.file_ready.is_set() else "RUNNING"

    def cursor(self) -> str:
        """The list position right after this export (opaque to clients)."""
        raw = f"{self.id}@{int(self.created_at.timestamp())}"
        return base64.urlsafe_b64encode(raw.encode()).decode()


class PartWriter:
    """Splits NDJSON lines into parts of at most ``max_bytes`` (a longer line stands alone)."""

    def __init__(self, lines: Iterable[bytes], max_bytes: int) -> None:
        self._lines = iter(lines)
        self._pending = next(self._lines, None)
        self._max_bytes = max_bytes

    def parts(self) -> Iterator[Iterator[bytes]]:
        """Each part as chunks; a part must be read to its end before the next one starts."""
        while self._pending is not None:
            yield self._part()

    def _part(self) -> Iterator[bytes]:
        size, buffer = 0, bytearray()
        while self._pending is not None and (
            not size or size + len(self._pending) <= self._max_bytes
        ):
            buffer += self._pending
            size += len(self._pending)
            self._pending = next(self._lines, None)
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)


def gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Compress a stream of chunks into one gzip member."""
    compressor = zlib.compressobj(wbits=31)
    for chunk in chunks:
        if packed := compressor.compress(chunk):
            yield packed
    yield compressor.flush()


class BatchEmulator(ProviderEmulator):
    """One Batch project with message events and profiles."""

    name = "batch"

    def __init__(self, context: EmulatorContext) -> None:
        super().__init__(context)
        self.options = context.config.batch
        self.events, self.profiles = define_datasets(context.datasets)
        self.bucket = context.storage.create_bucket("batch-exports", provider=self.name)
        self._lock = threading.Lock()
        self._exports: dict[str, EmulatedExport] = {}
        self._files: dict[str, ExportFile] = {}

    @property
    def api_url(self) -> str:
        """The versioned API root, as the tap's ``base_url``."""
        return f"{self.url}/{self.options.api_version}"

    @property
    def _download_version(self) -> str:
        return self.options.download_version or self.options.api_version

    def routes(self) -> Sequence[Route]:
        """Create, view, list and download."""
        root = f"/{self.options.api_version}"
        return (
            Route("POST", f"{root}/profiles/export", "create", self.create_export),
            Route("GET", f"{root}/exports/view", "view", self.view_export),
            Route("GET", f"{root}/exports/list", "list", self.list_exports),
            Route("GET", f"/{self._download_version}/exports/download", "download", self.download),
        )

    def check_request(self) -> ResponseReturnValue | None:
        """Bearer REST key and project key, on every route (401 otherwise, by default)."""
        project = request.headers.get("X-Batch-Project")
        if not project:
            status = self.options.missing_project_status
            code = "MISSING_PARAMETER" if status == 400 else "AUTHENTICATION_INVALID"
            return error(status, code, "The X-Batch-Project header is missing")
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not (
            hmac.compare_digest(given.encode(), self.options.rest_api_key.encode())
            and hmac.compare_digest(project.encode(), self.options.project_key.encode())
        ):
            return error(
                401, "AUTHENTICATION_INVALID", "The REST API key is not valid for this project"
            )
        return None

    # Create -----------------------------------------------------------------------

    def create_export(self) -> ResponseReturnValue:
        """Validate the request like Batch does, record the export and start writing it."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "MALFORMED_PARAMETER", "the body must be a JSON object")
        now = self.context.clock.now()
        try:
            rows = self._selection(body, now)
        except RequestError as refused:
            return error(400, refused.code, str(refused))
        malformed = self.injected(FaultKind.MALFORMED_ROWS)
        export = EmulatedExport(
            id=f"export_{secrets.token_hex(16)}",
            request=body,
            created_at=now,
            rows=rows,
            fails=self.injected(FaultKind.FAIL_EXPORT) is not None,
            malformed_rows=malformed.rows if malformed else 0,
        )
        with self._lock:
            self._exports[export.id] = export
        self.context.stats.export_created(self.name, export.export_type)
        if not export.fails:
            self.context.jobs.submit(lambda cancelled: self._write_files(export, cancelled))
        return jsonify(id=export.id), 202

    def _selection(self, body: Mapping[str, Any], now: dt.datetime) -> range:
        """The dataset rows the request covers, fixed at creation."""
        kind = body.get("export_type")
        if kind == ATTRIBUTES:
            attributes = string_list(body, "attributes", None)
            identifiers = string_list(body, "identifiers", ("custom_id", "installation_ids"))
            if not attributes and not identifiers:
                raise RequestError("MISSING_PARAMETER", "attributes or identifiers is required")
            return range(self.profiles.size)
        if kind != EVENTS:
            raise RequestError("MALFORMED_PARAMETER", f"export_type {kind!r} is not supported")
        start = parse_date(body.get("from"), "from")
        end = now if body.get("to") == "now" else parse_date(body.get("to"), "to")
        if start >= end:
            raise RequestError("MALFORMED_PARAMETER", "from must be before to")
        if start < now - dt.timedelta(days=self.options.lookback_days):
            raise RequestError(
                "MALFORMED_PARAMETER",
                f"from is older than the {self.options.lookback_days}-day lookback period",
            )
        if not string_list(body, "events", EVENT_NAMES):
            raise RequestError("MISSING_PARAMETER", "events is required")
        string_list(body, "identifiers", ("custom_id",))
        string_list(body, "orchestration_ids", None)
        return self.events_between(start, end)

    def _lines(self, export: EmulatedExport) -> Iterator[bytes]:
        """The export's NDJSON lines, with any malformed lines a fault asked for."""
        request_body = export.request
        if export.export_type == EVENTS:
            events = set(request_body["events"])
            orchestrations = request_body.get("orchestration_ids")
            identifiers = request_body.get("identifiers") or []
            renamed = dict(self.options.event_fields)
            extras = self.options.event_extras
            objects = (
                event_line(row, identifiers, renamed, extras=extras)
                for row in self.events.rows(export.rows.start, export.rows.stop)
                if row["event"] in events
                and (orchestrations is None or row["orchestration_id"] in orchestrations)
            )
        else:
            attributes = request_body.get("attributes") or []
            identifiers = request_body.get("identifiers") or []
            objects = (
                profile_line(row, attributes, identifiers)
                for row in self.profiles.rows(export.rows.start, export.rows.stop)
            )
        broken = malformed_positions(len(export.rows), export.malformed_rows)
        for index, line in enumerate(objects):
            yield json.dumps(line, ensure_ascii=False).encode() + b"\n"
            if index in broken:
                yield _BROKEN_LINE

    def _write_files(self, export: EmulatedExport, cancelled: threading.Event) -> None:
        files = []
        suffix = ".ndjson.gz" if self.options.gzip else ".ndjson"
        writer = PartWriter(self._lines(export), self.options.part_max_bytes)
        for number, part in enumerate(writer.parts(), start=1):
            chunks = until_cancelled(part, cancelled)
            key = f"exports/{export.id}/part-{number}{suffix}"
            size = self.context.storage.put_stream(
                self.bucket,
                key,
                gzipped(chunks) if self.options.gzip else chunks,
                "application/gzip" if self.options.gzip else "application/x-ndjson",
            )
            files.append(ExportFile(f"file_{secrets.token_hex(16)}", number, size, key))
        with self._lock:
            export.files = files
            self._files.update({item.id: item for item in files})
        export.file_ready.set()

    # Read -------------------------------------------------------------------------

    def _describe(self, export: EmulatedExport, now: dt.datetime) -> dict[str, Any]:
        delays = self.context.config.delays
        status = export.status(now, delays)
        word = self.injected(FaultKind.STATUS_WORD)
        described: dict[str, Any] = {
            "id": export.id,
            "request_date": rfc3339(export.created_at),
            "requested_at": rfc3339(export.created_at),
            "scope": SCOPES[export.export_type],
            "status": word.word if word else status,
            "files": [],
            "request": export.request,
        }
        if status not in {"CREATED", "PENDING"}:
            started = export.created_at + dt.timedelta(seconds=delays.running_after)
            described["start_date"] = rfc3339(started)
        if status in {"SUCCESS", "ERROR"}:
            ended = export.created_at + dt.timedelta(seconds=delays.complete_after)
            described["completion_date"] = rfc3339(ended)
        if status == "SUCCESS":
            download = f"{self.url}/{self._download_version}/exports/download"
            described["files"] = [item.describe(download) for item in export.files]
        return described

    def view_export(self) -> ResponseReturnValue:
        """One export's status and, once it succeeded, its files."""
        export_id = request.args.get("id")
        if not export_id:
            return error(400, "MISSING_PARAMETER", "id is required")
        with self._lock:
            export = self._exports.get(export_id)
        if export is None:
            return self._unknown(f"export {export_id}")
        return jsonify(self._describe(export, self.context.clock.now()))

    def _unknown(self, what: str) -> ResponseReturnValue:
        status = self.options.unknown_export_status
        code = "MALFORMED_PARAMETER" if status == 400 else "NOT_FOUND"
        return error(status, code, f"{what} is unknown to this project")

    def list_exports(self) -> ResponseReturnValue:
        """Exports of the last months, newest first, ``limit`` (1..100, default 10) a page."""
        try:
            limit = int(request.args.get("limit", "10"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_PAGE:
            return error(400, "MALFORMED_PARAMETER", "limit must be between 1 and 100")
        now = self.context.clock.now()
        oldest = now - dt.timedelta(days=self.options.list_retention_days)
        with self._lock:
            exports = sorted(
                (export for export in self._exports.values() if export.created_at >= oldest),
                key=lambda export: (export.created_at, export.id),
                reverse=True,
            )
        start = 0
        cursor = request.args.get("from")
        if cursor:
            try:
                after = base64.urlsafe_b64decode(cursor.encode()).decode().partition("@")[0]
            except (binascii.Error, UnicodeDecodeError):
                after = ""
            ids = [export.id for export in exports]
            if after not in ids:
                return error(400, "MALFORMED_PARAMETER", "from is not a valid cursor")
            start = ids.index(after) + 1
        page = exports[start : start + limit]
        body: dict[str, Any] = {
            "exports": [self._describe(export, now) for export in page],
            "count": len(page),
            "has_more": start + limit < len(exports),
        }
        if body["has_more"]:
            body["next_from"] = page[-1].cursor()
        return jsonify(body)

    def download(self) -> ResponseReturnValue:
        """307 to a fresh link to one file, valid ``link_ttl_seconds`` of sandbox time."""
        file_id = request.args.get("id")
        if not file_id:
            return error(400, "MISSING_PARAMETER", "id is required")
        with self._lock:
            found = self._files.get(file_id)
        if found is None:
            return self._unknown(f"file {file_id}")
        storage = self.context.storage
        link = storage.presign(self.bucket, found.key, self.options.link_ttl_seconds)
        if self.injected(FaultKind.EXPIRE_LINK):
            storage.expire(link)
        return redirect(link, 307)

    # Sandbox ----------------------------------------------------------------------

    def tap_settings(self) -> dict[str, Any]:
        """``batch`` settings exporting every event and every attribute of the project."""
        return {
            "rest_api_key": self.options.rest_api_key,
            "project_key": self.options.project_key,
            "base_url": self.api_url,
            "events": list(EVENT_NAMES),
            "attributes": list(self.profiles.columns[2:]),
            "identifiers": ["custom_id", "installation_ids"],
        }

    def events_between(self, start: dt.datetime, end: dt.datetime) -> range:
        """Indexes of the events in ``[start, end)``."""
        return range(first_index_at(self.events, start), first_index_at(self.events, end))

    def stream_counts(self) -> dict[str, int]:
        """Rows a sync emits now: every event Batch still keeps (its lookback), every profile.

        Only Batch's own rules count here, none of the tap's: a test whose events come
        close to now or to the lookback's edge states the tap's policy itself.
        """
        counts = self.export_counts()
        return {"batch_events": counts[EVENTS], "batch_profiles": counts[ATTRIBUTES]}

    def export_counts(self) -> dict[str, int]:
        """Rows of an EVENTS export of the whole lookback, and of an ATTRIBUTES export."""
        now = self.context.clock.now()
        lookback = dt.timedelta(days=self.options.lookback_days)
        return {
            EVENTS: len(self.events_between(now - lookback, now)),
            ATTRIBUTES: self.profiles.size,
        }

    def exports(self) -> list[EmulatedExport]:
        """Every export the project holds, oldest first (for tests to inspect requests)."""
        with self._lock:
            return sorted(self._exports.values(), key=lambda export: export.created_at)

    def reset(self) -> None:
        """Forget every export and file."""
        with self._lock:
            self._exports.clear()
            self._files.clear()
