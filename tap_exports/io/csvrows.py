"""CSV rows from byte chunks, with the physical line of every problem.

Blocks of whole lines are decoded at once and handed to :mod:`csv` through C-level
iterators, so the per-row cost stays a few attribute reads. A block that is not clean
UTF-8 or holds a NUL byte is split line by line so the offending row can be named.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

from tap_exports.errors import DataError
from tap_exports.io.chunks import line_blocks, strip_bom
from tap_exports.io.rows import BadRowPolicy, BadRows, DecodeStats

if TYPE_CHECKING:
    import _csv

_DELIMITERS = (",", ";", "\t", "|")

LineProblem = tuple[int, str]
"""A physical line number and what is wrong with it."""


@dataclass(frozen=True)
class CsvOptions:
    """How to read one provider's CSV."""

    delimiter: str | None = None
    """``None``: the most frequent of ``, ; TAB |`` in the first line (``,`` when none)."""
    has_header: bool = True
    fieldnames: tuple[str, ...] | None = None
    """Column names for files without a header line."""
    skip_repeated_header: bool = True
    """Paged CSV may repeat the header mid-file; a row equal to the header is dropped."""

    def __post_init__(self) -> None:
        if not self.has_header and not self.fieldnames:
            msg = "fieldnames are required when the file has no header line"
            raise ValueError(msg)


def iter_csv_rows(
    chunks: Iterable[bytes],
    *,
    source_name: str,
    options: CsvOptions = CsvOptions(),
    on_bad_row: BadRows = "fail",
    stats: DecodeStats | None = None,
) -> Iterator[list[str]]:
    """Yield the header once, then every data row as a list of strings, unaltered.

    Nothing is yielded for an empty file. Problems in the header always raise
    :class:`DataError`; problems in data rows follow ``on_bad_row``.
    """
    stats = stats if stats is not None else DecodeStats()
    policy = BadRowPolicy(source_name, on_bad_row, stats)
    blocks = line_blocks(strip_bom(chunks))
    first = next(blocks, None)
    if first is None:
        return
    delimiter = options.delimiter or _sniff_delimiter(first)
    problems: list[LineProblem] = []
    lines = chain.from_iterable(_text_lines(chain((first,), blocks), problems))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)

    header = _read_header(reader, problems, source_name, options)
    if header is None:
        return
    yield header
    repeated = header if options.has_header and options.skip_repeated_header else None
    width = len(header)
    previous_line = reader.line_num
    while True:
        try:
            for row in reader:
                start_line = previous_line + 1
                previous_line = reader.line_num
                if problems:
                    line, problem = problems[0]
                    problems.clear()
                    policy.bad(line, problem)
                elif len(row) != width:
                    if row:
                        policy.bad(start_line, f"expected {width} fields, found {len(row)}")
                elif row != repeated:
                    stats.rows += 1
                    yield row
        except csv.Error as exc:
            problems.clear()
            start_line = previous_line + 1
            previous_line = reader.line_num
            policy.bad(start_line, f"malformed CSV ({exc})")
        else:
            return


def _read_header(
    reader: _csv.Reader,
    problems: list[LineProblem],
    source_name: str,
    options: CsvOptions,
) -> list[str] | None:
    if not options.has_header:
        return list(options.fieldnames or ())
    try:
        header = next((row for row in reader if row), None)
    except csv.Error as exc:
        raise DataError(source_name, reader.line_num, f"malformed CSV header ({exc})") from None
    if problems:
        raise DataError(source_name, *problems[0])
    if header is not None and len(set(header)) != len(header):
        raise DataError(source_name, reader.line_num, "the header names a column twice")
    return header


def _sniff_delimiter(first_block: bytes) -> str:
    first_line = first_block.split(b"\n", 1)[0].decode("utf-8", "replace")
    return max(_DELIMITERS, key=first_line.count)


def _text_lines(blocks: Iterable[bytes], problems: list[LineProblem]) -> Iterator[Iterable[str]]:
    """Yield, per block, an iterable of its lines as text (line ends kept)."""
    lines_before = 0
    for block in blocks:
        text = None if b"\x00" in block else _decode_or_none(block)
        if text is None:
            yield _checked_lines(block, lines_before, problems)
        else:
            yield io.StringIO(text, newline="\n")
        lines_before += block.count(b"\n")


def _checked_lines(block: bytes, lines_before: int, problems: list[LineProblem]) -> Iterator[str]:
    """Lines of a suspicious block; each bad line is recorded as the parser pulls it."""
    pieces = block.split(b"\n")
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        line = piece + b"\n" if index < last else piece
        if not line:
            return
        number = lines_before + index + 1
        if b"\x00" in line:
            problems.append((number, "NUL byte in line"))
        try:
            text = line.decode()
        except UnicodeDecodeError as exc:
            problems.append((number, f"invalid UTF-8 byte at position {exc.start + 1}"))
            text = line.decode(errors="replace")
        yield text


def _decode_or_none(block: bytes) -> str | None:
    try:
        return block.decode()
    except UnicodeDecodeError:
        return None
