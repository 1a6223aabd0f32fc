"""What a decoder does with a row it cannot read, and the counters it keeps."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from tap_exports.errors import DataError

BadRows = Literal["fail", "skip"]
"""``fail`` stops at the first unreadable row; ``skip`` drops it and counts it."""
#: Records per batch handed on by the decoders (NDJSON: one block's worth).
BATCH_ROWS = 2048
SKIP_HINT = "fix the file at the provider, or set on_bad_rows: skip to load the other rows"


@dataclass
class DecodeStats:
    """Counters for one file, reported to users after the download."""

    rows: int = 0
    bad_rows: int = 0
    source_bytes: int = 0
    """Bytes read from the source, before decompression."""
    decompressed_bytes: int = 0
    """Bytes handed to the format decoders."""


class BadRowPolicy:
    """Applies the user's ``on_bad_row`` choice, so every decoder reports rows the same way."""

    __slots__ = ("_fail", "_source_name", "_stats", "_unit")

    def __init__(
        self, source_name: str, on_bad_row: BadRows, stats: DecodeStats, *, unit: str = "line"
    ) -> None:
        self._source_name = source_name
        self._fail = on_bad_row == "fail"
        self._stats = stats
        self._unit = unit

    def bad(self, line: int, problem: str) -> None:
        """Raise :class:`DataError`, or count the row as skipped."""
        if self._fail:
            raise DataError(self._source_name, line, problem, hint=SKIP_HINT, unit=self._unit)
        self._stats.bad_rows += 1

    def too_long(self, line: int, limit: int) -> None:
        """A row (line or JSON element) longer than ``limit`` bytes is a bad row."""
        self.bad(line, f"row longer than max_row_bytes ({limit} bytes); it was not read")

    def refuse(self, line: int, problem: str) -> NoReturn:
        """Raise :class:`DataError` whatever the choice: the file's structure is broken."""
        raise DataError(self._source_name, line, problem)


def flatten(batches: Generator[list[Any], None, None]) -> Iterator[Any]:
    """The items of ``batches`` one by one; closing this closes ``batches`` (and its files)."""
    try:
        for batch in batches:
            yield from batch
    finally:
        batches.close()
