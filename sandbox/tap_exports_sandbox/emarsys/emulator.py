"""Emarsys' Core API v2 export endpoints as providers.md §5 describes them.

``POST /api/v2/email/getresponses``, ``/contact/getregistrations`` and
``/contact/getchanges`` create an export (``{"replyCode", "replyText", "data"}`` on
every JSON answer; 4001 while an identical export runs); ``GET /api/v2/export/<id>``
reports scheduled → in progress → ready → done; ``GET /api/v2/export/<id>/data`` pages
the CSV of a ``local`` export, and ``ftp`` exports are uploaded to the sandbox's FTP
server. Every request must carry a valid Emarsys ``X-WSSE`` header.

The two checks of the *client's* clock and pace (WSSE ``Created`` freshness and the
rate limit) use real time: advancing the sandbox clock emulates exports ageing, not
the tap's clock drifting.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue

from tap_exports_sandbox.background import until_cancelled
from tap_exports_sandbox.data import Dataset, Row
from tap_exports_sandbox.emarsys.data import (
    ANALYSIS_FIELDS,
    FIELDS,
    LAST_UPDATE,
    REGISTRATION_TIME,
    RESPONSE_SOURCE,
    UNEXPORTABLE_FIELDS,
    Column,
    ExportType,
    contact_value,
    define_exports,
)
from tap_exports_sandbox.emulator import EmulatorContext, ProviderEmulator, Route
from tap_exports_sandbox.encoders import CsvFormat, encode_csv, malformed_positions
from tap_exports_sandbox.faults import FaultKind

API = "/api/v2"
FRESHNESS = dt.timedelta(minutes=5)
MAX_LIMIT = 10_000_000
SCHEDULED, IN_PROGRESS, READY, DONE, ERROR = "scheduled", "in progress", "ready", "done", "error"
RUNNING = frozenset({SCHEDULED, IN_PROGRESS, READY})
_WSSE_FIELD = re.compile(r'(\w+)="([^"]*)"')


def envelope(code: int, text: str, data: Any = "", status: int = 200) -> Response:
    """Emarsys' JSON answer."""
    response = jsonify(replyCode=code, replyText=text, data=data)
    response.status_code = status
    return response


def expected_digest(nonce: str, created: str, secret: str) -> str:
    """base64 of the hex SHA-1, Emarsys' variant of the WSSE digest."""
    hex_digest = hashlib.sha1(
        f"{nonce}{created}{secret}".encode(), usedforsecurity=False
    ).hexdigest()
    return base64.b64encode(hex_digest.encode()).decode()


class RequestError(Exception):
    """A request Emarsys refuses with 400 and replyCode 10001."""


@dataclass
class Export:
    """One export: what it selected and how its file looks, and how far it has got."""

    id: int
    kind: ExportType
    settings: tuple[Any, ...]
    rows: range
    columns: tuple[str, ...]
    header_names: tuple[str, ...]
    timestamps: frozenset[int]
    fields: tuple[int, ...]
    csv: CsvFormat
    language: str
    distribution: str
    ftp: Mapping[str, Any]
    created_at: dt.datetime
    file_name: str
    fails: bool = False
    malformed_rows: int = 0
    upload_started: bool = False
    delivered: threading.Event = field(default_factory=threading.Event)


class EmarsysEmulator(ProviderEmulator):
    """One Emarsys account with responses, registrations and contact changes to export."""

    name = "emarsys"

    def __init__(self, context: EmulatorContext) -> None:
        super().__init__(context)
        self.options = context.config.emarsys
        self.zone = ZoneInfo(self.options.timezone)
        self.exports_by_path = define_exports(context.datasets)
        # Re-entrant: checking for a running duplicate reads statuses, which may start uploads.
        self._lock = threading.RLock()
        self._exports: dict[int, Export] = {}
        self._ids = itertools.count(3_931_993)
        self._nonces: dict[str, float] = {}
        self._window: tuple[int, int] = (0, 0)

    def routes(self) -> Sequence[Route]:
        """Field list, the three export requests, export status and data."""
        create = [
            Route("POST", f"{API}{path}", "create", self._creator(path))
            for path in self.exports_by_path
        ]
        return (
            Route("GET", f"{API}/field", "fields", self.list_fields),
            Route("GET", f"{API}/field/translate/<language>", "fields", self.translate_fields),
            *create,
            Route("GET", f"{API}/export/<int:export_id>", "get", self.get_export),
            Route("GET", f"{API}/export/<int:export_id>/data", "data", self.export_data),
        )

    # Authentication and pace --------------------------------------------------------

    def check_request(self) -> ResponseReturnValue | None:
        """WSSE as Emarsys checks it, then the optional rate limit."""
        refusal = self._check_wsse(request.headers.get("X-WSSE") or request.headers.get("WSSE"))
        if refusal is not None:
            return envelope(1, refusal, status=401)
        return self._check_rate()

    def _check_wsse(self, header: str | None) -> str | None:
        if not header or not header.strip().startswith("UsernameToken"):
            return "Unauthorized: missing X-WSSE UsernameToken"
        parts = dict(_WSSE_FIELD.findall(header))
        nonce, created = parts.get("Nonce", ""), parts.get("Created", "")
        if parts.get("Username") != self.options.username:
            return "Unauthorized"
        try:
            moment = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return "Unauthorized Time frame is invalid"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo("Europe/Vienna"))
        if abs(dt.datetime.now(dt.UTC) - moment) > FRESHNESS:
            return "Unauthorized Time frame is invalid"
        expected = expected_digest(nonce, created, self.options.secret)
        if not hmac.compare_digest(parts.get("PasswordDigest", "").encode(), expected.encode()):
            return "Unauthorized"
        with self._lock:
            now = time.time()
            horizon = now - FRESHNESS.total_seconds()
            self._nonces = {seen: at for seen, at in self._nonces.items() if at > horizon}
            if nonce in self._nonces:
                return "Unauthorized: nonce already used"
            self._nonces[nonce] = now
        return None

    def _check_rate(self) -> ResponseReturnValue | None:
        limit = self.options.rate_limit
        if limit is None:
            return None
        window = self.options.rate_limit_window_seconds
        now = time.time()
        current = int(now // window)
        with self._lock:
            start, count = self._window
            count = count + 1 if start == current else 1
            self._window = (current, count)
        if count <= limit:
            return None
        response = envelope(
            7003,
            "Too many requests for this account and resource within the last minute",
            status=429,
        )
        response.headers.update(
            {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int((current + 1) * window)),
            }
        )
        return response

    # Routes -----------------------------------------------------------------------

    def list_fields(self) -> ResponseReturnValue:
        """``GET /field`` in the account's language."""
        return self.translate_fields(self.options.language)

    def translate_fields(self, language: str) -> ResponseReturnValue:
        """``GET /field/translate/<language>``: the fields, named in ``language``."""
        return envelope(
            0,
            "OK",
            [
                {
                    "id": contact.id,
                    "name": contact.names.get(language, contact.names["en"]),
                    "application_type": contact.application_type,
                    "string_id": contact.string_id,
                }
                for contact in FIELDS.values()
            ],
        )

    def _creator(self, path: str) -> Any:
        kind = self.exports_by_path[path]

        def create_export() -> ResponseReturnValue:
            return self._create(kind)

        create_export.__name__ = f"create_{kind.key}"
        return create_export

    def _refuse(self, code: int, text: str, data: Any = "") -> ResponseReturnValue:
        """A request error, with HTTP 400 unless the account answers errors with 200."""
        return envelope(code, text, data, status=200 if self.options.errors_in_http_200 else 400)

    def _create(self, kind: ExportType) -> ResponseReturnValue:
        body = request.get_json(silent=True)
        try:
            export = self._new_export(kind, body if isinstance(body, dict) else {})
        except RequestError as error:
            return self._refuse(10001, str(error))
        with self._lock:
            running = next(
                (
                    other
                    for other in self._exports.values()
                    if other.settings == export.settings and self._status(other) in RUNNING
                ),
                None,
            )
            if running is None:
                self._exports[export.id] = export
        if running is not None:
            return self._refuse(
                4001,
                "An export with the same setting is currently running. Please try again later.",
                {"id": running.id} if self.options.duplicate_names_export else "",
            )
        self.context.stats.export_created(self.name, kind.key)
        return envelope(0, "OK", {"id": export.id})

    def _new_export(self, kind: ExportType, body: Mapping[str, Any]) -> Export:
        distribution = body.get("distribution_method")
        if distribution not in {"local", "ftp"}:
            raise RequestError(
                "Missing parameter: distribution_method"
                if distribution is None
                else f"Invalid distribution method: {distribution}"
            )
        start, end = self._time_range(body.get("time_range"), whole_days=kind.whole_days)
        fields = self._contact_fields(body.get("contact_fields"))
        trailing = self._trailing_columns(kind, body, len(fields))
        ftp = body.get("ftp_settings") if distribution == "ftp" else {}
        if not isinstance(ftp, Mapping):
            raise RequestError("Invalid data format for ftp_settings. Object expected")
        asked = body.get("language") if self.options.honours_language else None
        language = str(asked or self.options.language)
        csv = CsvFormat(
            delimiter=str(body.get("delimiter") or self.options.delimiter),
            header=bool(int(body.get("add_field_names_header", int(self.options.header)))),
        )
        dataset = kind.dataset
        malformed = self.injected(FaultKind.MALFORMED_ROWS)
        now = self.context.clock.now()
        export_id = next(self._ids)
        layout = [
            Column("user_id", {"en": "user_id"}),
            *(Column(f"field:{f}", FIELDS[f].names) for f in fields),
            *trailing,
        ]
        if self.options.column_order == "reversed":
            layout.reverse()
        return Export(
            id=export_id,
            kind=kind,
            settings=(kind.key, json.dumps(body, sort_keys=True)),
            rows=range(self._index_at(start, dataset), self._index_at(end, dataset)),
            columns=tuple(column.source for column in layout),
            header_names=tuple(column.names.get(language, column.names["en"]) for column in layout),
            timestamps=frozenset(n for n, column in enumerate(layout) if column.timestamp),
            fields=fields,
            csv=csv,
            language=language,
            distribution=distribution,
            ftp=ftp,
            created_at=now,
            file_name=f"{kind.file_prefix}_{export_id}_1_{language}-{secrets.token_hex(3)}.csv",
            fails=self.injected(FaultKind.FAIL_EXPORT) is not None,
            malformed_rows=malformed.rows if malformed else 0,
        )

    def _time_range(self, value: Any, *, whole_days: bool) -> tuple[dt.datetime, dt.datetime]:
        if value is None:
            raise RequestError("Missing parameter: time_range")
        if not isinstance(value, list):
            raise RequestError("Invalid data format for time_range. Array expected")
        if len(value) != 2:
            raise RequestError("Invalid data format for time_range. Array size must be 2")
        try:
            start, end = (self._local_moment(str(text), whole_days=whole_days) for text in value)
        except ValueError:
            raise RequestError("Valid start_date and end_date is required") from None
        if end < start:
            raise RequestError(
                "Invalid value for end_date: end_date is earlier than the start_date"
            )
        if end == start:
            raise RequestError("Valid start_date and end_date is required")
        return start, end

    def _local_moment(self, text: str, *, whole_days: bool) -> dt.datetime:
        if whole_days and len(text) != len("YYYY-MM-DD"):
            raise ValueError(text)
        moment = dt.datetime.fromisoformat(text)
        return moment.replace(tzinfo=self.zone).astimezone(dt.UTC)

    @staticmethod
    def _contact_fields(value: Any) -> tuple[int, ...]:
        if value is None:
            raise RequestError("Missing parameter: contact_fields")
        if not isinstance(value, list) or not value:
            raise RequestError("Invalid data format for contact_fields. Array expected")
        for item in value:
            if not isinstance(item, int) or item not in FIELDS or item in UNEXPORTABLE_FIELDS:
                raise RequestError(f"Invalid contact field id: {item}")
        return tuple(value)

    @staticmethod
    def _trailing_columns(kind: ExportType, body: Mapping[str, Any], fields: int) -> list[Column]:
        if kind.key == "registrations":
            return [REGISTRATION_TIME] if int(body.get("with_timestamp", 1)) else []
        if kind.key == "contact_changes":
            for name in ("origin", "origin_id"):
                if name not in body:
                    raise RequestError(f"Missing parameter: {name}")
            return [LAST_UPDATE]
        analysis = body.get("analysis_fields")
        if not body.get("sources"):
            raise RequestError("Missing parameter: sources")
        if not isinstance(analysis, list):
            raise RequestError("Missing parameter: analysis_fields")
        if not 1 <= fields + len(analysis) <= 20:
            raise RequestError("Invalid number of fields")
        unknown = [item for item in analysis if item not in ANALYSIS_FIELDS]
        if unknown:
            raise RequestError(f"Invalid analysis field id: {unknown[0]}")
        return [*(ANALYSIS_FIELDS[item] for item in analysis), RESPONSE_SOURCE]

    @staticmethod
    def _index_at(moment: dt.datetime, dataset: Dataset) -> int:
        """The first row of ``dataset`` at or after ``moment`` (its size when there is none)."""
        micros = (moment - dataset.epoch) // dt.timedelta(microseconds=1)
        step = dataset.step // dt.timedelta(microseconds=1)
        return max(0, min(dataset.size, -(-micros // step)))

    def _status(self, export: Export) -> str:
        now = self.context.clock.now()
        delays = self.context.config.delays
        age = (now - export.created_at).total_seconds()
        if age < delays.running_after:
            return SCHEDULED
        if age < delays.complete_after:
            return IN_PROGRESS
        if export.fails:
            return ERROR
        if export.distribution == "ftp":
            self._deliver(export)
            return DONE if export.delivered.is_set() else READY
        if self.options.local_ready == "stays":
            return READY
        return DONE if age >= delays.complete_after + self.options.ready_seconds else READY

    def _served(self, export: Export) -> bool:
        """Whether ``/data`` hands out a local export's file now."""
        status = self._status(export)
        return status == DONE or (status == READY and self.options.local_ready != "until_done")

    def _find(self, export_id: int) -> Export | None:
        now = self.context.clock.now()
        retention = dt.timedelta(hours=self.options.file_retention_hours)
        with self._lock:
            export = self._exports.get(export_id)
        if export is None or now - export.created_at > retention:
            return None
        return export

    def get_export(self, export_id: int) -> ResponseReturnValue:
        """An export's status; unknown (or forgotten) ids are a 10001."""
        export = self._find(export_id)
        if export is None:
            return self._refuse(10001, "Invalid export id")
        status = self._status(export)
        if export.kind.type_word is None and not self.options.status_of_changes:
            return self._refuse(4002, "Invalid export type")
        word = self.injected(FaultKind.STATUS_WORD)
        status = word.word if word else status
        local_created = export.created_at.astimezone(ZoneInfo("Europe/Vienna"))
        ftp = export.distribution == "ftp"
        return envelope(
            0,
            "OK",
            {
                "id": str(export.id),
                "created": local_created.strftime("%Y-%m-%d %H:%M:%S"),
                "status": status,
                "type": export.kind.type_word or "Changes",
                "file_name": export.file_name if status == DONE else None,
                "ftp_host": (self.options.reported_ftp_host or export.ftp.get("host"))
                if ftp
                else None,
                "ftp_dir": export.ftp.get("folder") if ftp else None,
            },
        )

    def export_data(self, export_id: int) -> ResponseReturnValue:
        """A slice of a ``local`` export's file: CSV, or the envelope listing the rows."""
        with self._lock:
            known = self._exports.get(export_id)
        export = self._find(export_id)
        if known is not None and export is None:
            return envelope(4003, "The export file is no longer stored", status=410)
        if export is None:
            return self._refuse(10001, "Invalid export id")
        if export.distribution != "local":
            return envelope(4004, "Distribution method is not local", status=404)
        if not self._served(export):
            return envelope(4005, "The export is still in progress", status=404)
        try:
            offset = int(request.args.get("offset", 0))
            limit = int(request.args.get("limit", MAX_LIMIT))
        except ValueError:
            return self._refuse(10001, "Invalid data format for offset or limit")
        if offset < 0 or not 1 <= limit <= MAX_LIMIT:
            return self._refuse(10001, "Invalid value for offset or limit")
        first = min(offset, len(export.rows))
        last = min(offset + limit, len(export.rows))
        if self.options.data_format == "json":
            return envelope(
                0,
                "OK",
                [
                    dict(zip(export.header_names, row, strict=True))
                    for row in self._cells(export, first, last)
                ],
            )
        return Response(self._csv(export, first, last), mimetype="text/csv")

    # Files --------------------------------------------------------------------------

    def _cells(self, export: Export, first: int, last: int) -> Iterator[Row]:
        """Rows ``[first, last)`` of the export as Emarsys writes them."""
        dataset = export.kind.dataset
        positions = {name: n for n, name in enumerate(dataset.columns)}
        seed = self.context.config.seed
        for index in export.rows[first:last]:
            values = dataset.row(index)
            cells: list[Any] = []
            for n, column in enumerate(export.columns):
                if column.startswith("field:"):
                    cells.append(contact_value(seed, int(values[0] or 0), int(column[6:])))
                    continue
                value = values[positions[column]]
                if n in export.timestamps and value is not None:
                    moment = dt.datetime.fromisoformat(str(value))
                    value = moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")
                cells.append(value)
            yield tuple(cells)

    def _csv(self, export: Export, first: int, last: int) -> Iterator[bytes]:
        whole = malformed_positions(len(export.rows), export.malformed_rows)
        return encode_csv(
            export.header_names,
            self._cells(export, first, last),
            export.csv,
            malformed_after={position - first for position in whole if first <= position < last},
        )

    def _deliver(self, export: Export) -> None:
        """Upload the file to the sandbox FTP server once, if the export names that server."""
        ftp = self.context.ftp
        settings = export.ftp
        with self._lock:
            if export.upload_started:
                return
            reachable = (
                settings.get("host") in {ftp.host, "localhost"}
                and int(settings.get("port") or 21) == ftp.port
                and settings.get("username") == ftp.user
                and settings.get("password") == ftp.password
            )
            # Emarsys keeps an export whose upload fails in "ready", retrying hourly.
            export.upload_started = reachable
        if not reachable:
            return
        folder = str(settings.get("folder") or "").strip("/")
        path = f"{folder}/{export.file_name}" if folder else export.file_name

        def upload(cancelled: threading.Event) -> None:
            ftp.upload(path, until_cancelled(self._csv(export, 0, len(export.rows)), cancelled))
            export.delivered.set()

        self.context.jobs.submit(upload)

    # Sandbox wiring ---------------------------------------------------------------

    def tap_settings(self) -> dict[str, Any]:
        """``emarsys`` settings reading all three exports from this account."""
        settings: dict[str, Any] = {
            "username": self.options.username,
            "secret": self.options.secret,
            "base_url": f"{self.url}{API}",
            "contact_fields": list(self.options.contact_fields),
            "distribution_method": self.options.distribution_method,
            "timezone": self.options.timezone,
        }
        if self.options.distribution_method == "ftp":
            settings["ftp"] = self.context.ftp.settings("/exports")
        return settings

    def _exportable(self, kind: ExportType) -> int:
        """Rows a full sync reads: up to the current minute, or to today's local midnight."""
        now = self.context.clock.now()
        if kind.whole_days:
            today = now.astimezone(self.zone).date()
            cutoff = dt.datetime.combine(today, dt.time(), tzinfo=self.zone)
        else:
            cutoff = now.replace(second=0, microsecond=0)
        return self._index_at(cutoff.astimezone(dt.UTC), kind.dataset)

    def stream_counts(self) -> dict[str, int]:
        """Rows per Emarsys stream."""
        return {kind.stream: self._exportable(kind) for kind in self.exports_by_path.values()}

    def export_counts(self) -> dict[str, int]:
        """Rows per export kind."""
        return {kind.key: self._exportable(kind) for kind in self.exports_by_path.values()}

    def exports(self) -> list[Export]:
        """Every export the account holds, oldest first (for tests to inspect requests)."""
        with self._lock:
            return sorted(self._exports.values(), key=lambda export: export.id)

    def reset(self) -> None:
        """Forget every export, nonce and rate-limit count."""
        with self._lock:
            self._exports.clear()
            self._nonces.clear()
            self._window = (0, 0)
