"""Arrow's C++ CSV reader, for the stretches of a file where it reads exactly what csv reads.

Python's :mod:`csv` makes a list and a string per row and per value, about two seconds per
million rows; Arrow's reader parses the same bytes into columns in a fraction of that. It
is more lenient than ``csv.reader(strict=True)`` (text after a closing quote, a lone CR, a
quote inside a bare value), so it only ever sees a segment that RE2 has first matched
whole against the strict grammar (every value bare without quotes, CR or line end, or
quoted with doubled inner quotes; lines ending in LF or CRLF). A segment it would read
differently, or whose rows csv would call bad, is refused, and csv reads it as before.

Arrow comes with the ``parquet`` extra; without it every file goes through :mod:`csv`. It
is imported only once a file proves longer than one segment: importing it costs about a
third of a second and 33 MB, which a short file would never win back.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from types import ModuleType
from typing import Any

AVAILABLE = find_spec("pyarrow") is not None
"""Arrow is installed (the ``parquet`` extra)."""

SEGMENT_BYTES = 512 * 1024
"""Bytes of whole lines handed to Arrow at once: enough to amortise a call's overhead
(no slower than 1 MiB per million rows), and 1.6 MB less peak RSS than 1 MiB."""
MAX_SEGMENT_BYTES = 16 << 20
"""A segment whose quotes stay open past this is left to csv, with the rest of the file."""


@dataclass(frozen=True)
class CsvColumns:
    """A batch of CSV rows as columns (the values of each column, in row order)."""

    columns: list[list[str]]

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def rows(self) -> list[tuple[str, ...]]:
        """The same batch row by row."""
        return list(zip(*self.columns, strict=True))

    def sliced(self, size: int) -> Iterator[CsvColumns]:
        """Consecutive batches of at most ``size`` rows."""
        for start in range(0, len(self), size):
            yield CsvColumns([column[start : start + size] for column in self.columns])


@dataclass(frozen=True)
class ArrowSegment:
    """A segment as Arrow read it, made Python values a batch at a time.

    The values of a whole segment, as Python strings and lists, take about three times
    its size; a batch's take a fifth of that.
    """

    table: Any

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def sliced(self, size: int) -> Iterator[CsvColumns]:
        """Consecutive batches of at most ``size`` rows."""
        for start in range(0, len(self), size):
            part = self.table.slice(start, size)
            yield CsvColumns([column.to_pylist() for column in part.columns])


def record_segments(blocks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Blocks of whole lines joined into segments of about :data:`SEGMENT_BYTES`.

    Each is paired with True when an even number of quotes comes before its end: under
    the strict grammar (which a segment must match before Arrow reads it), that is where
    a record ends. The first segment is the first such stretch of blocks, however short,
    so that the header is read before any later line is. Once quotes stay open for
    :data:`MAX_SEGMENT_BYTES`, the rest of the file follows block by block, paired with
    False.
    """
    source = iter(blocks)
    parts: list[bytes] = []
    size = 0
    quotes = 0
    least = 0
    for block in source:
        parts.append(block)
        size += len(block)
        quotes += block.count(b'"')
        if quotes % 2 == 0 and size >= least:
            yield _drained(parts), True
            size, least = 0, SEGMENT_BYTES
        elif quotes % 2 and size > MAX_SEGMENT_BYTES:
            yield _drained(parts), False
            for rest in source:
                yield rest, False
            return
    if parts:
        yield b"".join(parts), quotes % 2 == 0


def _drained(parts: list[bytes]) -> bytes:
    """``parts`` joined, and emptied: neither they nor the segment stay with the generator
    while the segment is read, or the next one joined (each a second copy of a segment)."""
    segment = b"".join(parts)
    parts.clear()
    return segment


class ColumnarCsv:
    """Reads a segment of a file into columns with Arrow, or refuses it.

    ``header`` is the row to drop where it repeats (paged exports repeat it); ``max_value``
    the longest value, in characters, that csv is allowed to read.
    """

    def __init__(
        self, *, delimiter: str, width: int, header: Sequence[str] | None, max_value: int
    ) -> None:
        self.delimiter = delimiter
        self.width = width
        self.header = list(header) if header is not None else None
        self.max_value = max_value
        pa, _, pa_csv = arrow()
        names = [f"c{index}" for index in range(width)]
        self.names = names
        self.parse = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
        self.convert = pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )

    def columns(self, segment: bytes) -> ArrowSegment | None:
        """The rows of a :func:`strict` segment, or None where csv must read it.

        Refused: invalid UTF-8, a row of another width, a value longer than
        ``max_value`` (all of which csv reports as bad rows), and a segment far larger
        than a batch (one huge line).
        """
        if not self.width or len(segment) > MAX_SEGMENT_BYTES:
            return None
        pa, _, pa_csv = arrow()
        read = pa_csv.ReadOptions(
            column_names=self.names, use_threads=False, block_size=len(segment) + 1
        )
        try:
            table = pa_csv.read_csv(
                pa.py_buffer(segment),
                read_options=read,
                parse_options=self.parse,
                convert_options=self.convert,
            )
        except pa.ArrowInvalid:
            return None
        if len(segment) > self.max_value and self._longest(table) > self.max_value:
            return None
        if self.header is not None and table.num_rows:
            repeated = self._repeated_header(table)
            if repeated is not None:
                call = arrow()[1].call_function
                table = call("filter", [table, call("invert", [repeated])])
        return ArrowSegment(table)

    def _longest(self, table: Any) -> int:
        call = arrow()[1].call_function
        lengths = (
            call("max", [call("utf8_length", [column])]).as_py() or 0 for column in table.columns
        )
        return max(lengths, default=0)

    def _repeated_header(self, table: Any) -> Any | None:
        """A mask of the rows equal to the header, or None when there is none."""
        assert self.header is not None
        pa, compute, _ = arrow()
        mask = None
        for column, name in zip(table.columns, self.header, strict=True):
            equal = compute.call_function("equal", [column, pa.scalar(name)])
            mask = equal if mask is None else compute.call_function("and", [mask, equal])
        return mask if mask is not None and compute.call_function("any", [mask]).as_py() else None


def strict(segment: bytes, delimiter: str) -> bool:
    """True when the whole segment is CSV under the strict grammar, with no NUL byte.

    Then quotes open and close only around values, so the segment's end, after an even
    number of them, is where a record ends for csv too.
    """
    pa, compute, _ = arrow()
    # One binary value over the segment's own bytes, not a copy of them.
    offsets = pa.py_buffer(struct.pack("<2i", 0, len(segment)))
    value = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(segment)])
    matched = compute.call_function("match_substring_regex", [value], _strict_match(delimiter))
    return bool(matched[0].as_py())


@functools.cache
def arrow() -> tuple[ModuleType, ModuleType, ModuleType]:
    """pyarrow, its compute functions and its CSV reader, imported on first use.

    The compute functions are called through ``pyarrow._compute``: ``pyarrow.compute``
    adds a Python wrapper for each of its hundreds of functions: 1.3 MB of peak RSS.
    """
    import pyarrow  # a third of a second: only for files that need it
    import pyarrow._compute
    import pyarrow.csv

    # The C library's allocator hands each segment's buffers back when they are freed (the
    # tap sets its mmap threshold, io/allocator.py); Arrow's default, mimalloc, kept them:
    # 135 MB peak against 111 MB for 300,000 rows.
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    return pyarrow, pyarrow._compute, pyarrow.csv


@functools.cache
def _strict_match(delimiter: str) -> Any:
    """Arrow's options matching :func:`strict_grammar`."""
    return arrow()[1].MatchSubstringOptions(strict_grammar(delimiter))


@functools.cache
def strict_grammar(delimiter: str) -> str:
    """RE2 pattern of a whole segment of strict CSV with ``delimiter``."""
    separator = _escaped(delimiter)
    value = f'(?:[^"{separator}\\r\\n\\x00]*|"(?:[^"\\x00]|"")*")'
    row = f"{value}(?:{separator}{value})*"
    return f"^(?:{row}\\r?\\n)*(?:{row})?$"


def _escaped(character: str) -> str:
    """``character`` as RE2 reads it literally, inside or outside a class."""
    return {"\t": "\\t"}.get(character, "\\" + character if not character.isalnum() else character)
