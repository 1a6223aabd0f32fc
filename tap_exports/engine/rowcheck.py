"""Rows of an export file made into records, one bad row never stopping the others.

A provider's transform may fail on one row (a date it cannot read), and a replication
value must be an instant the bookmark can be built from. Both are checked a batch at
a time; only a batch with a problem is walked row by row, and each bad row goes
through ``on_bad_rows`` naming its file and its data row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from collections.abc import Callable
from itertools import repeat
from typing import Any

import msgspec

from tap_exports.engine.adapter import (
    Columns,
    ColumnTransform,
    Row,
    RowTransform,
    keep_row,
)
from tap_exports.engine.records import is_records, line_columns, line_type, record_type
from tap_exports.io.csvrows import CsvBatch, as_columns
from tap_exports.io.decode import CsvOptions, csv_dicts
from tap_exports.io.rows import BadRowPolicy

_INSTANT = (
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
INSTANT = re.compile(_INSTANT)
"""An RFC 3339 time with its zone: what a replication value must be."""
_INSTANTS = re.compile(f"(?:{_INSTANT}\n)*{_INSTANT}")
"""Many of them, one per line: a whole batch checked in one call."""
_ASCII_INSTANT = _INSTANT.replace(r"\d", "[0-9]")
_ASCII_INSTANTS = re.compile(f"(?:{_ASCII_INSTANT}\n)*{_ASCII_INSTANT}")
"""The same with ASCII digits only (``\\d`` is any Unicode digit): twice as fast to match,
and what nearly every file holds; :data:`_INSTANTS` decides the rest."""
_ZEROS = str.maketrans("123456789", "000000000")
_WHOLE_SECONDS = "0000-00-00T00:00:00"
#: What a provider's transform raises for a value it cannot convert.
CONVERSION_ERRORS = (ValueError, TypeError, KeyError, ArithmeticError)


def valid_instants(values: list[Any]) -> bool:
    """True when every value is None or an RFC 3339 time with its zone (one C-level match)."""
    present = [value for value in values if value is not None]
    try:
        text = "\n".join(present)
    except TypeError:
        return False
    return (
        not present
        or _utc_instants(present, text)
        or _ASCII_INSTANTS.fullmatch(text) is not None
        or _INSTANTS.fullmatch(text) is not None
    )


def _utc_instants(values: list[str], text: str) -> bool:
    """True when every value is ``YYYY-MM-DDTHH:MM:SS[.fraction]Z``, all of one length, with
    ASCII digits and a real day and time: what nearly every file holds, checked by C-level
    calls (a translation, one comparison, ``fromisoformat``) at a fraction of the pattern's
    cost. False decides nothing: the patterns do."""
    sizes = set(map(len, values))
    size = sizes.pop()
    fraction = size - len(_WHOLE_SECONDS) - 2
    if sizes or not (size == len(_WHOLE_SECONDS) + 1 or 1 <= fraction <= 9):
        return False
    shape = _WHOLE_SECONDS + ("." + "0" * fraction if fraction > 0 else "") + "Z"
    if text.translate(_ZEROS) != "\n".join(repeat(shape, len(values))):
        return False
    try:
        deque(map(dt.datetime.fromisoformat, values), maxlen=0)
    except ValueError:
        return False
    return True


class RowCheck:
    """Transforms one file's rows and checks their replication values."""

    def __init__(
        self,
        transform: RowTransform,
        key: str | None,
        policy: BadRowPolicy,
    ) -> None:
        self._transform = transform
        self._key = key
        self._policy = policy
        self._rows_before = 0

    def __call__(self, batch: list[Row]) -> list[Row]:
        """The records of ``batch``, without its bad rows (or raising at the first one)."""
        first = self._rows_before
        self._rows_before += len(batch)
        if is_records(batch):
            # Built column by column: transformed and checked already (FileReader).
            return batch
        if self._transform is keep_row:
            rows = batch
        else:
            # Transforms change rows in place: the rows converted before a failure are
            # kept as they are, never converted twice.
            rows = []
            append, transform = rows.append, self._transform
            try:
                for row in batch:
                    append(transform(row))
            except CONVERSION_ERRORS:
                return self._one_by_one(batch, first, converted=rows)
        if self._valid_keys(rows):
            return rows
        return self._one_by_one(batch, first, converted=rows)

    def _valid_keys(self, rows: list[Row]) -> bool:
        key = self._key
        return key is None or valid_instants([row.get(key) for row in rows])

    def _one_by_one(self, batch: list[Row], first: int, *, converted: list[Row]) -> list[Row]:
        """Rows checked one at a time; the first ``len(converted)`` are converted already."""
        kept = []
        done = len(converted)
        for index, row in enumerate(batch):
            number = first + index + 1
            record = converted[index] if index < done else self._converted(row, number)
            if record is None:
                continue
            value = record.get(self._key) if self._key else None
            if value is not None and not (isinstance(value, str) and INSTANT.fullmatch(value)):
                self._policy.bad(
                    number, f"{self._key} {value!r} is not a time with a zone (RFC 3339)"
                )
                continue
            kept.append(record)
        return kept

    def _converted(self, row: Row, number: int) -> Row | None:
        transform: Callable[[Row], Row] = self._transform
        try:
            return transform(row)
        except CONVERSION_ERRORS as exc:
            self._policy.bad(number, f"cannot convert the row ({exc})")
            return None


class ColumnRecords:
    """A CSV file's batches made into records column by column, with no dict per row.

    A batch the column transform or the replication check refuses is handed on as
    dicts instead, for :class:`RowCheck` to transform and check row by row, naming
    each bad row as it always does.
    """

    def __init__(
        self,
        header: list[str],
        *,
        transform: ColumnTransform,
        key: str | None,
        options: CsvOptions,
    ) -> None:
        self._header = header
        self._transform = transform
        self._key = key
        self._null = {"": None}.get if options.empty_as_null else None
        self._dicts = csv_dicts(header, options)

    def __call__(self, batch: CsvBatch) -> list[Any]:
        """Records of ``batch``: structs, or dicts when it holds a row to look at closely."""
        if not batch:
            return []
        null = self._null
        cells = as_columns(batch)
        columns = [list(map(null, cell, cell)) if null and "" in cell else cell for cell in cells]
        records = columns_to_records(
            dict(zip(self._header, columns, strict=True)), len(batch), self._transform, self._key
        )
        return self._dicts(batch) if records is None else records


class LineRecords:
    """An NDJSON file's blocks made into records column by column, with no dict per line.

    Only a block whose every line holds exactly the fields ``names`` is decoded so
    (:func:`~tap_exports.engine.records.line_type`); for any other, or one the column
    transform or the replication check refuses, the answer is None, and the block is
    read as dicts and checked row by row as it always is.
    """

    def __init__(
        self, names: tuple[str, ...], *, transform: ColumnTransform, key: str | None
    ) -> None:
        self._decoder = msgspec.json.Decoder(line_type(names))
        self._transform = transform
        self._key = key

    def __call__(self, block: bytes) -> list[Any] | None:
        """Records of the lines of ``block``, or None to read it as dicts."""
        try:
            lines = self._decoder.decode_lines(block)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        if not lines:
            return []
        return columns_to_records(line_columns(lines), len(lines), self._transform, self._key)


def columns_to_records(
    columns: Columns, rows: int, transform: ColumnTransform, key: str | None
) -> list[Any] | None:
    """Records (structs) of a batch given as columns; None when the column transform or the
    replication check refuses a row, for the batch to go row by row instead."""
    try:
        out = transform(columns, rows)
        records = list(map(record_type(tuple(out)), *out.values()))
    except CONVERSION_ERRORS:
        return None
    keys = out.get(key) if key is not None else None
    if len(records) != rows or (keys is not None and not valid_instants(list(keys))):
        return None
    return records
