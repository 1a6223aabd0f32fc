"""JSON records from byte chunks: newline-delimited objects, or one top-level array.

Both stream: NDJSON a block of lines at a time, arrays one element at a time, so a
file of any size is read in flat memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, NoReturn

import msgspec

from tap_exports.errors import DataError
from tap_exports.io.chunks import MAX_ROW_BYTES, line_blocks, strip_bom
from tap_exports.io.rows import BadRowPolicy, BadRows, DecodeStats, flatten

_SPACES = re.compile(rb"[ \t\r\n]*")
_OPEN = frozenset(b"[{")
_QUOTE = ord('"')
_COMMA = ord(",")
_ARRAY_START = ord("[")
_ARRAY_END = ord("]")

_STRING = rb'"(?:[^"\\]++|\\.)*+"'
_TO_BRACKET = re.compile(rb'(?:[^\[\]{}"]++|' + _STRING + rb")*+", re.DOTALL)
"""Skips plain bytes and whole strings; stops at a bracket, an unfinished string or the end."""
_TO_SEPARATOR = re.compile(rb'(?:[^,\]"]++|' + _STRING + rb")*+", re.DOTALL)
"""Same for a scalar element, which ends at ``,`` or ``]``."""


def _skip(pattern: re.Pattern[bytes], data: bytes | bytearray, pos: int) -> int:
    """Where ``pattern`` (which can match nothing) stops when matched at ``pos``."""
    found = pattern.match(data, pos)
    return found.end() if found else pos


_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)
"""Bad UTF-8 in a string: the built-in error up to msgspec 0.22, msgspec's own from 0.23."""


def _problem(exc: Exception, text: bytes) -> str:
    """What is wrong with ``text``, told apart by checking it rather than by msgspec's wording,
    which changes between releases."""
    if isinstance(exc, msgspec.ValidationError):
        return "not a JSON object"
    try:
        text.decode()
    except UnicodeDecodeError:
        return "invalid UTF-8"
    return f"invalid JSON ({exc})"


def iter_ndjson(
    chunks: Iterable[bytes],
    *,
    source_name: str,
    on_bad_row: BadRows = "fail",
    stats: DecodeStats | None = None,
    max_row_bytes: int = MAX_ROW_BYTES,
) -> Iterator[dict[str, Any]]:
    """Yield one object per non-blank line."""
    yield from flatten(
        iter_ndjson_batches(
            chunks,
            source_name=source_name,
            on_bad_row=on_bad_row,
            stats=stats,
            max_row_bytes=max_row_bytes,
        )
    )


BlockRecords = Callable[[bytes], list[Any] | None]
"""The records of a block of whole NDJSON lines, or None to decode it as dicts."""


def iter_ndjson_batches(
    chunks: Iterable[bytes],
    *,
    source_name: str,
    on_bad_row: BadRows = "fail",
    stats: DecodeStats | None = None,
    max_row_bytes: int = MAX_ROW_BYTES,
    records: BlockRecords | None = None,
) -> Generator[list[Any], None, None]:
    """Yield the objects of each block of whole lines as one list (decoded in one call).

    ``records`` may build a block's records itself; a block it declines is decoded here.
    """
    stats = stats if stats is not None else DecodeStats()
    policy = BadRowPolicy(source_name, on_bad_row, stats)
    decoder = msgspec.json.Decoder(dict[str, Any])
    lines_before = 0
    blocks = line_blocks(
        strip_bom(chunks),
        max_line=max_row_bytes,
        on_long_line=lambda number: policy.too_long(number, max_row_bytes),
    )
    for block in blocks:
        batch = records(block) if records is not None else None
        if batch is None:
            try:
                batch = decoder.decode_lines(block)
            except _DECODE_ERRORS:
                batch = list(_checked_lines(block, lines_before, decoder, policy))
        stats.rows += len(batch)
        if batch:
            yield batch
        lines_before += block.count(b"\n")


def _checked_lines(
    block: bytes,
    lines_before: int,
    decoder: msgspec.json.Decoder[dict[str, Any]],
    policy: BadRowPolicy,
) -> Iterator[dict[str, Any]]:
    """Decode a block that holds a bad line, line by line, to name it."""
    for number, line in enumerate(block.split(b"\n"), lines_before + 1):
        if not line.strip():
            continue
        try:
            record = decoder.decode(line)
        except _DECODE_ERRORS as exc:
            policy.bad(number, _problem(exc, line))
        else:
            yield record


_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
"""The rest of a string cut by the end of the buffer: stops at its closing quote, or
before a final backslash whose escaped byte has not arrived yet."""


class _Window:
    """The unread part of the file: a byte buffer refilled from the chunks on demand.

    A ``bytearray``, so dropping the consumed head and appending a chunk cost the
    chunk, not the buffer: an element of any size is read in linear time.
    """

    def __init__(self, chunks: Iterable[bytes], source_name: str) -> None:
        self._chunks = iter(chunks)
        self._source_name = source_name
        self._lines_dropped = 0
        self.data = bytearray()

    def refill(self, keep_from: int) -> bool:
        """Drop the bytes before ``keep_from`` and append a chunk; False at the end of the file."""
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self._lines_dropped += self.data.count(b"\n", 0, keep_from)
        del self.data[:keep_from]
        self.data += chunk
        return True

    def next_byte(self, pos: int) -> tuple[int, int | None]:
        """Skip whitespace from ``pos``; return where it stops and the byte there (None at EOF)."""
        while True:
            pos = _skip(_SPACES, self.data, pos)
            if pos < len(self.data):
                return pos, self.data[pos]
            if not self.refill(pos):
                return pos, None
            pos = 0

    def expect_byte(self, pos: int) -> tuple[int, int]:
        """Like :meth:`next_byte`, inside the array where the file may not end yet."""
        pos, byte = self.next_byte(pos)
        if byte is None:
            self.fail(pos, "file ends before the JSON array is closed")
        return pos, byte

    def element_end(
        self, start: int, limit: int, too_long: Callable[[int], None]
    ) -> tuple[int, int, bool]:
        """Find where the element at ``start`` ends: its start and end after refills, and
        whether it is whole. An element longer than ``limit`` is not kept: once it
        passes the limit, ``too_long`` is told its line (and may raise), its bytes are
        dropped as they are scanned, and it comes back as not whole.

        Every byte is scanned once: a string cut by the end of the buffer is resumed
        where the scan stopped, not from its opening quote.
        """
        data = self.data
        nested = data[start] in _OPEN
        scanner = _TO_BRACKET if nested else _TO_SEPARATOR
        depth = 0
        pos = start
        in_string = False
        whole = True
        while True:
            if in_string:
                pos = _skip(_STRING_REST, data, pos)
                if pos < len(data) and data[pos] == _QUOTE:
                    in_string = False
                    pos += 1
                    continue
            else:
                pos = _skip(scanner, data, pos)
                if pos < len(data):
                    if data[pos] == _QUOTE:
                        in_string = True
                        pos += 1
                        continue
                    if not nested:
                        return (start, pos, True) if whole else (pos, pos, False)
                    depth += 1 if data[pos] in _OPEN else -1
                    pos += 1
                    if depth == 0:
                        return (start, pos, True) if whole else (pos, pos, False)
                    continue
            if whole and pos - start > limit:
                too_long(self.line_at(start))
                whole = False
            keep = start if whole else pos
            if not self.refill(keep):
                self.fail(start, "file ends inside an array element")
            pos -= keep
            start -= keep
            data = self.data

    def line_at(self, pos: int) -> int:
        """The physical line of a buffer position, for messages."""
        return self._lines_dropped + self.data.count(b"\n", 0, pos) + 1

    def fail(self, pos: int, problem: str) -> NoReturn:
        """Raise :class:`DataError` for a broken structure, whatever the bad-row choice."""
        raise DataError(self._source_name, self.line_at(pos), problem)


def iter_json_array(
    chunks: Iterable[bytes],
    *,
    source_name: str,
    on_bad_row: BadRows = "fail",
    stats: DecodeStats | None = None,
    max_row_bytes: int = MAX_ROW_BYTES,
) -> Iterator[dict[str, Any]]:
    """Yield each object of a top-level JSON array, cutting elements with a byte scanner."""
    stats = stats if stats is not None else DecodeStats()
    policy = BadRowPolicy(source_name, on_bad_row, stats)
    decoder = msgspec.json.Decoder(dict[str, Any])
    window = _Window(strip_bom(chunks), source_name)

    def too_long(line: int) -> None:
        policy.too_long(line, max_row_bytes)

    pos, byte = window.next_byte(0)
    if byte is None:
        return
    if byte != _ARRAY_START:
        window.fail(pos, "expected a JSON array")
    pos, byte = window.expect_byte(pos + 1)
    while byte != _ARRAY_END:
        start, end, whole = window.element_end(pos, max_row_bytes, too_long)
        if whole:
            element = bytes(window.data[start:end])
            try:
                record = decoder.decode(element)
            except _DECODE_ERRORS as exc:
                policy.bad(window.line_at(start), _problem(exc, element))
            else:
                stats.rows += 1
                yield record
        pos, byte = window.expect_byte(end)
        if byte == _COMMA:
            pos, byte = window.expect_byte(pos + 1)
            if byte == _ARRAY_END:
                window.fail(pos, "trailing comma in the JSON array")
        elif byte != _ARRAY_END:
            window.fail(pos, "expected ',' or ']' after an array element")
    pos, byte = window.next_byte(pos + 1)
    if byte is not None:
        window.fail(pos, "unexpected data after the JSON array")
