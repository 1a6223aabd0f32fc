"""PackageX exports as the emulator keeps them: what they select, their lifecycle, their files.

An export selects rows when it is created (options as the list APIs take them: date
filters, ``order_by``, ``direction``, ``limit``) and writes up to four files in the
background: the JSON array and the CSV of the rows it could export, an error CSV of the
rows it could not, and a sanitized CSV of the rows it excluded as potentially malicious.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import secrets
import threading
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_exports_sandbox.background import until_cancelled
from tap_exports_sandbox.clock import SandboxClock
from tap_exports_sandbox.config import StatusDelays
from tap_exports_sandbox.data import Row, awkward_text
from tap_exports_sandbox.encoders import CHUNK_BYTES, encode_csv
from tap_exports_sandbox.packagex.data import (
    FORMULA_PREFIXES,
    Resource,
    Snapshot,
    base58,
    first_changed_after,
    rows_in_order,
    sanitize,
    unsafe,
)
from tap_exports_sandbox.storage import Storage

LIFETIME = dt.timedelta(hours=24)
QUEUED, PROCESSING, COMPLETED, FAILED, TIMED_OUT = (
    "queued",
    "processing",
    "completed",
    "failed",
    "timed_out",
)
STATUSES = (QUEUED, PROCESSING, COMPLETED, FAILED, TIMED_OUT)
#: Not a documented export status: the sibling batch model's word, for ``keep_expired``.
EXPIRED = "expired"
REASONS = {
    FAILED: "the export worker stopped while writing batch 1; please try again",
    TIMED_OUT: "the export did not finish within the 30 minute processing limit",
}
BATCH_ROWS = 500
DEFAULT_DATETIME_FORMAT = "MM/dd/yyyy hh:mm:ss a"
_DATE_TOKENS = re.compile(r"'[^']*'|yyyy|MM|dd|HH|hh|mm|ss|a|XXX|[A-Za-z]+|[^A-Za-z']+")


class ValidationFailed(Exception):  # noqa: N818 - named after the provider's answer
    """A request PackageX refuses with HTTP 400, one entry per failed field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{error['field']}: {error['message']}" for error in errors))
        self.errors = errors


def _instant(text: str, where: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(
            [{"field": where, "message": f"{text!r} is not an ISO date"}]
        ) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


_CONDITIONS: dict[str, Callable[[float, tuple[float, ...]], bool]] = {
    "equals": lambda value, dates: value == dates[0],
    "not_equals": lambda value, dates: value != dates[0],
    "gt": lambda value, dates: value > dates[0],
    "lt": lambda value, dates: value < dates[0],
    "gte": lambda value, dates: value >= dates[0],
    "lte": lambda value, dates: value <= dates[0],
    "bwi": lambda value, dates: dates[0] <= value <= dates[1],
    "bwe": lambda value, dates: dates[0] < value < dates[1],
    "in": lambda value, dates: value in dates,
    "not_in": lambda value, dates: value not in dates,
}


@dataclass(frozen=True)
class DateFilter:
    """``<condition>:<date1>[,<date2>...]`` on one time field (Getting Started, Date Filters)."""

    field: str
    condition: str
    dates: tuple[float, ...]

    @classmethod
    def parse(cls, field_name: str, text: object) -> DateFilter:
        """Read the filter, or refuse it the way PackageX does."""
        where = f"options.{field_name}"
        condition, _, rest = str(text).partition(":")
        arity = {"bwi": 2, "bwe": 2, "in": None, "not_in": None}
        if condition not in _CONDITIONS:
            raise ValidationFailed(
                [{"field": where, "message": f"unknown condition {condition!r}"}]
            )
        dates = tuple(_instant(part, where) for part in rest.split(",") if part.strip())
        wanted = arity.get(condition, 1)
        if not dates or (wanted is not None and len(dates) != wanted):
            raise ValidationFailed(
                [{"field": where, "message": f"{condition} takes {wanted} date(s)"}]
            )
        if wanted == 2 and dates[0] >= dates[1]:
            raise ValidationFailed([{"field": where, "message": "the first date must come first"}])
        return cls(field_name, condition, dates)

    def matches(self, value: float) -> bool:
        """Whether a row's time passes."""
        return _CONDITIONS[self.condition](value, self.dates)

    def lower_bound(self) -> tuple[float, bool] | None:
        """``(moment, inclusive)`` below which no row passes, when the condition has one."""
        if self.condition in {"gt", "bwe"}:
            return self.dates[0], False
        if self.condition in {"gte", "bwi"}:
            return self.dates[0], True
        return None


@dataclass(frozen=True)
class Selection:
    """The rows an export holds, in its order, as of its creation."""

    snapshot: Snapshot
    filters: tuple[DateFilter, ...] = ()
    order_by: str = "created_at"
    descending: bool = False
    limit: int | None = None

    @classmethod
    def parse(cls, resource: Resource, snapshot: Snapshot, options: Mapping[str, Any]) -> Selection:
        """Options as the list APIs take them; other keys (resource filters) are accepted."""
        errors: list[dict[str, str]] = []
        filters = []
        for name in ("created_at", "updated_at"):
            if name not in options:
                continue
            if name == "updated_at" and not resource.model.filters_updated_at:
                message = f"updated_at is not a filter of {resource.model.name}"
                errors.append({"field": "options.updated_at", "message": message})
                continue
            try:
                filters.append(DateFilter.parse(name, options[name]))
            except ValidationFailed as exc:
                errors.extend(exc.errors)
        order_by = options.get("order_by", "created_at")
        if order_by not in {"created_at", "updated_at"}:
            errors.append({"field": "options.order_by", "message": "created_at or updated_at"})
        direction = options.get("direction", "asc")
        if direction not in {"asc", "desc"}:
            errors.append({"field": "options.direction", "message": "asc or desc"})
        limit = options.get("limit", "all")
        if limit != "all" and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            errors.append({"field": "options.limit", "message": 'a positive number or "all"'})
        if errors:
            raise ValidationFailed(errors)
        return cls(
            snapshot,
            tuple(filters),
            str(order_by),
            direction == "desc",
            None if limit == "all" else int(limit),
        )

    def _time(self, field_name: str, index: int) -> float:
        if field_name == "updated_at":
            return self.snapshot.updated_at(index)
        return self.snapshot.created(index)

    def _keep(self, index: int) -> bool:
        return all(each.matches(self._time(each.field, index)) for each in self.filters)

    def _first(self) -> int:
        """Untouched rows change in index order, so a lower bound on updated_at skips ahead."""
        bounds = [
            bound
            for each in self.filters
            if each.field == "updated_at" and (bound := each.lower_bound()) is not None
        ]
        if not bounds or self.descending:
            return 0
        moment, inclusive = max(bounds)
        if not moment.is_integer():
            moment, inclusive = math.floor(moment), False
        return first_changed_after(self.snapshot, int(moment), inclusive=inclusive)

    def indexes(self) -> Iterator[int]:
        """The selected row indexes, in order, never held all at once."""
        ordered = rows_in_order(
            self.snapshot,
            self._keep,
            first=self._first(),
            order_by=self.order_by,
            descending=self.descending,
        )
        return itertools.islice(ordered, self.limit)


@dataclass(frozen=True)
class CsvRendering:
    """``csv_field_options``: which columns, and how times are written."""

    columns: tuple[str, ...]
    positions: tuple[int, ...]
    times: frozenset[int]
    timezone: dt.tzinfo
    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, resource: Resource, options: Mapping[str, Any]) -> CsvRendering:
        """Read ``csv_field_options``, or refuse it the way PackageX does."""
        errors: list[dict[str, str]] = []
        all_columns = resource.model.columns
        chosen = options.get("columns")
        columns = all_columns
        if isinstance(chosen, Mapping) and chosen:
            columns = tuple(name for name, wanted in chosen.items() if wanted)
            unknown = [name for name in columns if name not in all_columns]
            if unknown:
                message = f"unknown column(s) {', '.join(unknown)}"
                errors.append({"field": "csv_field_options.columns", "message": message})
        timezone: dt.tzinfo = dt.UTC
        try:
            timezone = zoneinfo.ZoneInfo(str(options.get("timezone", "UTC")))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            message = f"unknown time zone {options.get('timezone')!r}"
            errors.append({"field": "csv_field_options.timezone", "message": message})
        tokens = tuple(
            _DATE_TOKENS.findall(str(options.get("datetime_format", DEFAULT_DATETIME_FORMAT)))
        )
        bad = [token for token in tokens if token[0].isalpha() and token not in _FORMATTERS]
        if bad:
            message = f"unknown pattern letters {', '.join(bad)}"
            errors.append({"field": "csv_field_options.datetime_format", "message": message})
        if errors:
            raise ValidationFailed(errors)
        positions = tuple(all_columns.index(name) for name in columns)
        times = frozenset(
            place for place, name in enumerate(columns) if name in resource.model.times
        )
        return cls(columns, positions, times, timezone, tokens)

    def time(self, seconds: int) -> str:
        """Epoch seconds in the requested zone and format."""
        moment = dt.datetime.fromtimestamp(seconds, self.timezone)
        return "".join(
            _FORMATTERS[token](moment) if token in _FORMATTERS else token.strip("'")
            for token in self.tokens
        )

    def cells(self, row: Row) -> Row:
        """A row's CSV cells, in the chosen columns' order."""
        values = [row[position] for position in self.positions]
        return tuple(
            self.time(value) if place in self.times and isinstance(value, int) else value
            for place, value in enumerate(values)
        )


def _offset(moment: dt.datetime) -> str:
    offset = moment.utcoffset() or dt.timedelta()
    if not offset:
        return "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_FORMATTERS: dict[str, Callable[[dt.datetime], str]] = {
    "yyyy": lambda moment: f"{moment.year:04d}",
    "MM": lambda moment: f"{moment.month:02d}",
    "dd": lambda moment: f"{moment.day:02d}",
    "HH": lambda moment: f"{moment.hour:02d}",
    "hh": lambda moment: f"{(moment.hour - 1) % 12 + 1:02d}",
    "mm": lambda moment: f"{moment.minute:02d}",
    "ss": lambda moment: f"{moment.second:02d}",
    "a": lambda moment: "AM" if moment.hour < 12 else "PM",
    "XXX": _offset,
}


def new_export_id() -> str:
    """``exp_`` and 22 base58 characters, like ``exp_7xKyu1HYgPnSAXZhtdxFxk``."""
    return f"exp_{base58(secrets.randbits(128), 22)}"


def formula_candidate(index: int) -> bool:
    """Only a row's awkward free text can read as a formula (see :func:`unsafe`)."""
    text = awkward_text(index)
    return text is not None and text.startswith(FORMULA_PREFIXES)


@dataclass
class PackageXExport:
    """One export: its request, where it stands, and what its files hold once written."""

    id: str
    resource: Resource
    name: str
    selection: Selection
    rendering: CsvRendering
    options: Mapping[str, Any]
    csv_field_options: Mapping[str, Any]
    created_at: dt.datetime
    final_word: str = COMPLETED
    malformed_rows: int = 0
    sanitize_mark: str = "'"
    keep_expired: bool = False
    ready_at: dt.datetime | None = None
    count_total: int = 0
    count_errors: int = 0
    count_sanitized: int = 0
    files: dict[str, str] = field(default_factory=dict)
    file_ready: threading.Event = field(default_factory=threading.Event)

    def status(self, now: dt.datetime, delays: StatusDelays) -> str:
        """PackageX's word for where the export stands at ``now``."""
        if self.keep_expired and self.expired(now):
            return EXPIRED
        age = (now - self.created_at).total_seconds()
        if age < delays.running_after:
            return QUEUED
        if age < delays.complete_after:
            return PROCESSING
        if self.final_word != COMPLETED:
            return self.final_word
        return COMPLETED if self.file_ready.is_set() else PROCESSING

    def updated_at(self, now: dt.datetime, delays: StatusDelays) -> int:
        """Epoch seconds of the last status change."""
        status = self.status(now, delays)
        moment = self.created_at
        if status != QUEUED:
            moment += dt.timedelta(seconds=delays.running_after)
        if status not in {QUEUED, PROCESSING}:
            moment = self.created_at + dt.timedelta(seconds=delays.complete_after)
            if self.ready_at is not None:
                moment = max(moment, self.ready_at)
        return int(moment.timestamp())

    def expired(self, now: dt.datetime) -> bool:
        """PackageX deletes exports after 24 hours."""
        return now >= self.created_at + LIFETIME

    def key(self, suffix: str) -> str:
        """Where one of the export's files lives in the bucket."""
        return f"exports/{self.id}/{self.resource.model.name}{suffix}"

    # Files ----------------------------------------------------------------------------

    def exported_rows(self, error_every: int) -> Iterator[Row]:
        """The rows of the data files: neither failed nor excluded as unsafe."""
        resource = self.resource
        for index in self.selection.indexes():
            if not resource.fails(index, error_every):
                row = resource.values(index, self.selection.snapshot)
                if not unsafe(row):
                    yield row

    def error_rows(self, error_every: int) -> Iterator[Row]:
        """``(id, error)`` of the selected rows that cannot be exported."""
        resource = self.resource
        for index in self.selection.indexes():
            problem = resource.fails(index, error_every)
            if problem:
                yield resource.dataset.row(index)[0], problem

    def sanitized_rows(self, error_every: int) -> Iterator[Row]:
        """The rows excluded as potentially malicious, their cells defused."""
        resource = self.resource
        for index in self.selection.indexes():
            if formula_candidate(index) and not resource.fails(index, error_every):
                row = resource.values(index, self.selection.snapshot)
                if unsafe(row):
                    cells = self.rendering.cells(row)
                    yield tuple(sanitize(value, self.sanitize_mark) for value in cells)

    def json_chunks(self, rows: Iterable[Row]) -> Iterator[bytes]:
        """The JSON file: one array, written item by item in chunks of about 64 KiB."""
        malformed = range(self.malformed_rows)
        parts, size = ["["], 1
        for number, row in enumerate(rows):
            part = ("\n" if number == 0 else ",\n") + json.dumps(
                self.resource.record(row), ensure_ascii=False
            )
            if number in malformed:
                part += ',\n{"id": "#malformed", }'
            parts.append(part)
            size += len(part)
            if size >= CHUNK_BYTES:
                yield "".join(parts).encode()
                parts, size = [], 0
        parts.append("\n]\n")
        yield "".join(parts).encode()

    def csv_chunks(
        self, rows: Iterable[Row], columns: Sequence[str] | None = None
    ) -> Iterator[bytes]:
        """A CSV file of ``rows``; the data file carries the injected malformed lines."""
        return encode_csv(
            columns or self.rendering.columns,
            rows,
            malformed_after=range(self.malformed_rows) if columns is None else (),
        )

    def write_files(
        self,
        storage: Storage,
        bucket: str,
        cancelled: threading.Event,
        *,
        clock: SandboxClock,
        json_file: bool,
        error_every: int,
    ) -> None:
        """Write every file of the export, then let it complete."""

        def put(link: str, suffix: str, chunks: Iterable[bytes], content_type: str) -> None:
            storage.put_stream(
                bucket, self.key(suffix), until_cancelled(chunks, cancelled), content_type
            )
            self.files[link] = self.key(suffix)

        if json_file:
            put(
                "_json_url",
                ".json",
                self.json_chunks(self.exported_rows(error_every)),
                "application/json",
            )
        exported = Tally(self.rendering.cells(row) for row in self.exported_rows(error_every))
        put("_csv_url", ".csv", self.csv_chunks(exported), "text/csv")
        errors = Tally(self.error_rows(error_every))
        if errors.any():
            put(
                "_csv_error_url",
                "-errors.csv",
                self.csv_chunks(errors, ("id", "error")),
                "text/csv",
            )
        sanitized = Tally(self.sanitized_rows(error_every))
        if sanitized.any():
            put("_csv_sanitized_url", "-sanitized.csv", self.csv_chunks(sanitized), "text/csv")
        self.count_total, self.count_errors, self.count_sanitized = (
            exported.count,
            errors.count,
            sanitized.count,
        )
        self.ready_at = clock.now()
        self.file_ready.set()


class Tally:
    """Rows passed through while counted; :meth:`any` peeks without losing the first."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self._rows = iter(rows)
        self._first: list[Row] = []
        self.count = 0

    def any(self) -> bool:
        """Whether there is at least one row."""
        if not self._first:
            self._first = list(itertools.islice(self._rows, 1))
        return bool(self._first)

    def __iter__(self) -> Iterator[Row]:
        for row in itertools.chain(self._first, self._rows):
            self.count += 1
            yield row
