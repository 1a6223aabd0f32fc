"""CSV rows from byte chunks, with the physical line of every problem.

Blocks of whole lines are decoded at once and handed to :mod:`csv` through C-level
iterators, so the per-row cost stays a few attribute reads. A block that is not clean
UTF-8 or holds a NUL byte is split line by line so the offending row can be named.
A file whose delimiter (or header) is not known beforehand is told by its first line,
read ahead a bounded number of bytes before any row is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import chain, islice
from typing import TYPE_CHECKING, cast

from tap_exports.errors import DataError
from tap_exports.io import csvarrow
from tap_exports.io.chunks import MAX_ROW_BYTES, line_blocks, strip_bom
from tap_exports.io.csvarrow import CsvColumns, record_segments
from tap_exports.io.rows import BATCH_ROWS, BadRowPolicy, BadRows, DecodeStats, flatten

if TYPE_CHECKING:
    import _csv

DELIMITERS = (",", ";", "\t", "|")
"""The delimiters a file's first line is looked at for, the first one winning a tie."""
HEADER_BYTES = 1 << 20
"""Most bytes read ahead for the first line: a longer one cannot tell a file's layout."""
_QUOTED = re.compile(r'"[^"]*"')

CsvBatch = list[list[str]] | CsvColumns
"""Rows as lists, or (see ``columns``) as columns."""
LineProblem = tuple[int, str]
"""A physical line number and what is wrong with it."""


@dataclass(frozen=True)
class FirstLine:
    """A file's first CSV line (a header or a first row), read before any other."""

    text: str

    def cells(self, delimiter: str) -> list[str]:
        """The line's values when ``delimiter`` separates them, quotes honoured."""
        return next(csv.reader(io.StringIO(self.text, newline=""), delimiter=delimiter), [])

    def likeliest_delimiter(self) -> str:
        """The most frequent of ``, ; TAB |`` outside quoted values (``,`` when none)."""
        bare = _QUOTED.sub("", self.text)
        return max(DELIMITERS, key=bare.count)


@dataclass(frozen=True)
class CsvLayout:
    """What a file's first line says of the file."""

    delimiter: str
    fieldnames: tuple[str, ...] | None = None
    """None: the first line is the header; else the file has none and these name its columns."""


LayoutRule = Callable[[FirstLine], CsvLayout]
"""Tells a file's layout from its first line; raises to refuse a file it does not expect."""


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
    empty_as_null: bool = False
    """Read empty cells as null, for providers whose CSV writes a missing value so."""
    layout: LayoutRule | None = None
    """For providers whose files vary: the delimiter and header told by each file's first
    line, in place of ``delimiter``, ``has_header`` and ``fieldnames``."""

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
    max_row_bytes: int = MAX_ROW_BYTES,
) -> Iterator[list[str]]:
    """Yield the header once, then every data row as a list of strings, unaltered."""
    # Without ``columns`` every batch is a list of rows.
    yield from flatten(
        cast(
            "Generator[list[list[str]], None, None]",
            iter_csv_batches(
                chunks,
                source_name=source_name,
                options=options,
                on_bad_row=on_bad_row,
                stats=stats,
                max_row_bytes=max_row_bytes,
            ),
        )
    )


def iter_csv_batches(
    chunks: Iterable[bytes],
    *,
    source_name: str,
    options: CsvOptions = CsvOptions(),
    on_bad_row: BadRows = "fail",
    stats: DecodeStats | None = None,
    size: int = BATCH_ROWS,
    max_row_bytes: int = MAX_ROW_BYTES,
    header_bytes: int = HEADER_BYTES,
    columns: bool = False,
) -> Generator[CsvBatch, None, None]:
    """Yield ``[header]`` once, then the data rows in lists of up to ``size``.

    Nothing is yielded for an empty file. Problems in the header always raise
    :class:`DataError`; problems in data rows follow ``on_bad_row``. A batch is
    read and checked with C-level calls; only a batch holding a problem (or a
    blank line, or a repeated header) is walked row by row to name its lines.
    A first line read to tell the layout may be up to ``header_bytes`` long.

    With ``columns`` (and Arrow installed), the stretches of the file that Arrow reads
    exactly as csv does come as :class:`CsvColumns` batches instead: the same rows.
    """
    stats = stats if stats is not None else DecodeStats()
    policy = BadRowPolicy(source_name, on_bad_row, stats)
    header: list[str] | None = None
    csv.field_size_limit(max_row_bytes)  # process-wide: every file of a run has the same

    def long_line(number: int) -> None:
        if header is None:
            policy.refuse(number, f"header longer than max_row_bytes ({max_row_bytes} bytes)")
        policy.too_long(number, max_row_bytes)

    data = strip_bom(chunks)
    if options.delimiter is None or options.layout is not None:
        first_line, data = read_first_line(data, source_name, header_bytes)
        if first_line is None:
            return
        options = _told(options, first_line)
    delimiter = options.delimiter or DELIMITERS[0]
    blocks = line_blocks(data, max_line=max_row_bytes, on_long_line=long_line)
    arrow_may_read = columns and csvarrow.AVAILABLE
    segments = record_segments(blocks) if arrow_may_read else blocks_as_segments(blocks)
    first = next(segments, None)
    if first is None:
        return
    handed: list[tuple[bytes, bool]] = []

    def head() -> Iterator[bytes]:
        """What csv reads: the header's segment, then the rest unless Arrow takes over.

        Arrow takes over once a second segment arrives after the header was read, where
        the first one ends on a record (it matches the strict grammar whole).
        """
        yield first[0]
        second = next(segments, None)
        if second is None:
            return
        if header is not None and first[1] and csvarrow.strict(first[0], delimiter):
            handed.append(second)
            return
        yield second[0]
        for segment, _ in segments:
            yield segment

    problems: list[LineProblem] = []
    reader = _reader(head(), problems, delimiter, lines_before=0)
    header = _read_header(reader, problems, source_name, options)
    if header is None:
        return
    yield [header]
    repeated = header if options.has_header and options.skip_repeated_header else None
    check = _RowCheck(
        width=len(header),
        repeated=repeated,
        problems=problems,
        policy=policy,
        lines=reader.line_num,
    )
    yield from check.batches(reader, stats, size, lines_before=0)
    if handed:
        arrow = csvarrow.ColumnarCsv(
            delimiter=delimiter, width=len(header), header=repeated, max_value=max_row_bytes
        )
        rest = chain([handed.pop()], segments)  # not held once read
        yield from _columnar(rest, arrow, check, stats, size, lines=first[0].count(b"\n"))


def _columnar(
    segments: Iterator[tuple[bytes, bool]],
    arrow: csvarrow.ColumnarCsv,
    check: _RowCheck,
    stats: DecodeStats,
    size: int,
    *,
    lines: int,
) -> Iterator[CsvBatch]:
    """The batches of ``segments``, which start on a record after line ``lines``: a segment
    Arrow reads as columns, one it refuses through csv, and once one may not end on a
    record (or does not match the strict grammar), that one and the rest through csv."""
    delimiter = arrow.delimiter
    for segment, whole in segments:
        if not whole or not csvarrow.strict(segment, delimiter):
            rest = _reader(_joined((segment, whole), segments), check.problems, delimiter, lines)
            yield from check.batches(rest, stats, size, lines_before=lines)
            return
        before, lines = lines, lines + segment.count(b"\n")
        read = arrow.columns(segment)
        if read is None:
            alone = _reader([segment], check.problems, delimiter, before)
            yield from check.batches(alone, stats, size, lines_before=before)
        else:
            # Neither the segment nor Arrow's copy of it stays while the next one is read.
            del segment
            stats.rows += len(read)
            yield from read.sliced(size)
            del read


def blocks_as_segments(blocks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Blocks as segments that may not end where a record does (read by csv only)."""
    for block in blocks:
        yield block, False


def as_rows(batch: CsvBatch) -> Sequence[Sequence[str]]:
    """A batch row by row."""
    return batch.rows() if isinstance(batch, CsvColumns) else batch


def as_columns(batch: CsvBatch) -> Sequence[Sequence[str]]:
    """A batch column by column."""
    return batch.columns if isinstance(batch, CsvColumns) else list(zip(*batch, strict=True))


def _joined(first: tuple[bytes, bool], rest: Iterable[tuple[bytes, bool]]) -> Iterator[bytes]:
    yield first[0]
    for segment, _ in rest:
        yield segment


def _reader(
    blocks: Iterable[bytes], problems: list[LineProblem], delimiter: str, lines_before: int
) -> _csv.Reader:
    """csv's reader over ``blocks``, whose first line is number ``lines_before + 1``."""
    lines = chain.from_iterable(_text_lines(blocks, problems, lines_before))
    return csv.reader(lines, delimiter=delimiter, strict=True)


@dataclass
class _RowCheck:
    """What makes a data row bad, and where the rows read so far end."""

    width: int
    repeated: list[str] | None
    problems: list[LineProblem]
    policy: BadRowPolicy
    lines: int
    """Physical lines consumed by the rows checked so far."""

    def batches(
        self, reader: _csv.Reader, stats: DecodeStats, size: int, *, lines_before: int
    ) -> Iterator[list[list[str]]]:
        """The good rows ``reader`` reads, in lists of up to ``size``; the bad ones reported.

        The reader's first line is number ``lines_before + 1`` of the file.
        """
        self.lines = lines_before + reader.line_num
        while True:
            batch: list[list[str]] = []
            error = None
            try:
                # On a csv.Error, list.extend keeps the rows it had already taken.
                batch.extend(islice(reader, size))
            except csv.Error as exc:
                error = exc
            if not batch and error is None:
                return
            if error is None and self.clean(batch):
                self.lines = lines_before + reader.line_num
                stats.rows += len(batch)
                yield batch
                continue
            for good in self.vetted(batch, error, lines_before + reader.line_num):
                stats.rows += len(good)
                yield good

    def clean(self, batch: list[list[str]]) -> bool:
        """True when no row of ``batch`` needs a closer look."""
        return (
            not self.problems
            and set(map(len, batch)) == {self.width}
            and (self.repeated is None or self.repeated not in batch)
        )

    def vetted(
        self, batch: list[list[str]], error: csv.Error | None, lines_after: int
    ) -> Iterator[list[list[str]]]:
        """The good rows of ``batch``, reporting each bad one by its first physical line.

        A row spans one line plus one per line end inside its quoted values; a
        ``csv.Error`` stopped reading at the row after the last one in ``batch``.
        Good rows are handed on before a bad row is reported, as they were read.
        """
        good: list[list[str]] = []
        for row in batch:
            start = self.lines + 1
            self.lines += 1 + sum(value.count("\n") for value in row)
            problem = next((p for p in self.problems if start <= p[0] <= self.lines), None)
            if problem is None and (len(row) == self.width or not row):
                if row and row != self.repeated:
                    good.append(row)
                continue
            if good:
                yield good
                good = []
            if problem is not None:
                self.policy.bad(*problem)
            else:
                self.policy.bad(start, f"expected {self.width} fields, found {len(row)}")
        if good:
            yield good
        if error is not None:
            self.policy.bad(self.lines + 1, _malformed(error))
        self.problems.clear()
        self.lines = lines_after


def _malformed(error: csv.Error) -> str:
    """What a csv.Error means; its value limit is the file's ``max_row_bytes``, set above
    in place of csv's own 128 KiB, which would refuse a long quoted value (an HTML body)
    in a row well under ``max_row_bytes``."""
    if "field larger than field limit" in str(error):
        return f"a value longer than max_row_bytes ({csv.field_size_limit()} bytes)"
    return f"malformed CSV ({error})"


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


def read_first_line(
    chunks: Iterable[bytes], source_name: str, limit: int = HEADER_BYTES
) -> tuple[FirstLine | None, Iterator[bytes]]:
    """The first line (None for an empty file), and every byte again, the line included.

    A line end inside a quoted value does not end the line. At most ``limit`` bytes of
    it (and the rest of the chunk they end in) are held: a longer line is refused.
    """
    source = iter(chunks)
    seen: list[bytes] = []
    size = 0
    quotes = 0
    for chunk in source:
        seen.append(chunk)
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            quotes += chunk.count(b'"', start, newline)
            if quotes % 2 == 0:
                return _first_line(seen, size + newline + 1, source_name, limit), chain(
                    seen, source
                )
            start = newline + 1
        quotes += chunk.count(b'"', start)
        size += len(chunk)
        if size > limit:
            raise _too_long(source_name, limit)
    if not size:
        return None, iter(())
    return _first_line(seen, size, source_name, limit), iter(seen)


def _first_line(seen: list[bytes], length: int, source_name: str, limit: int) -> FirstLine:
    if length > limit:
        raise _too_long(source_name, limit)
    return FirstLine(b"".join(seen)[:length].decode("utf-8", "replace"))


def _too_long(source_name: str, limit: int) -> DataError:
    return DataError(
        source_name,
        1,
        f"the first line is longer than {limit} bytes, the most read ahead to tell the "
        "file's delimiter and header",
    )


def _told(options: CsvOptions, first: FirstLine) -> CsvOptions:
    """``options`` completed with what the file's first line tells."""
    if options.layout is None:
        return replace(options, delimiter=first.likeliest_delimiter())
    layout = options.layout(first)
    return replace(
        options,
        delimiter=layout.delimiter,
        has_header=layout.fieldnames is None,
        fieldnames=layout.fieldnames,
    )


def _text_lines(
    blocks: Iterable[bytes], problems: list[LineProblem], lines_before: int
) -> Iterator[Iterable[str]]:
    """Yield, per block, an iterable of its lines as text (line ends kept)."""
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
