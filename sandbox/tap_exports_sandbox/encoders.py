"""Dataset rows rendered as export files, as a stream of ~64 KiB byte chunks.

Export files of millions of rows are produced and served without ever being held
in memory; the same encoders serve every provider emulator.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass

from tap_exports_sandbox.data import Row, Value

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class CsvFormat:
    """How a provider writes its CSV files (RFC 4180 quoting, UTF-8 always)."""

    delimiter: str = ","
    line_terminator: str = "\r\n"
    header: bool = True
    bom: bool = False


def csv_text(value: Value) -> str:
    """How a value is spelled in a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def malformed_positions(rows: int, count: int) -> frozenset[int]:
    """Row indexes after which a malformed line is inserted, spread evenly."""
    return frozenset(rows * (k + 1) // (count + 1) for k in range(count))


def _drain(buffer: io.StringIO) -> bytes:
    """Take everything written to ``buffer`` so far, as UTF-8."""
    chunk = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return chunk


def encode_csv(
    columns: Sequence[str],
    rows: Iterable[Row],
    fmt: CsvFormat = CsvFormat(),
    *,
    malformed_after: Collection[int] = (),
) -> Iterator[bytes]:
    """Render ``rows`` as CSV.

    ``malformed_after`` inserts, after each listed row index, one extra line with the
    wrong number of fields (a fault a tap must report or skip, never load).
    """
    buffer = io.StringIO()
    new_writer = functools.partial(
        csv.writer, buffer, delimiter=fmt.delimiter, lineterminator=fmt.line_terminator
    )
    writer = new_writer(quoting=csv.QUOTE_MINIMAL)
    # Python's writer quotes a field holding a line break only if the break is part of the
    # line terminator; with "\n" endings, rows holding a bare "\r" are quoted in full.
    quote_all = new_writer(quoting=csv.QUOTE_ALL)
    bare_cr_possible = "\r" not in fmt.line_terminator
    if fmt.bom:
        buffer.write("\ufeff")
    if fmt.header:
        writer.writerow(columns)
    broken_line = fmt.delimiter.join(["#malformed"] * (len(columns) + 1)) + fmt.line_terminator
    for index, row in enumerate(rows):
        cells = [csv_text(value) for value in row]
        if bare_cr_possible and any("\r" in cell for cell in cells):
            quote_all.writerow(cells)
        else:
            writer.writerow(cells)
        if index in malformed_after:
            buffer.write(broken_line)
        if buffer.tell() >= CHUNK_BYTES:
            yield _drain(buffer)
    if buffer.tell():
        yield _drain(buffer)


def encode_ndjson(columns: Sequence[str], rows: Iterable[Row]) -> Iterator[bytes]:
    """Render ``rows`` as newline-delimited JSON objects keyed by column."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False))
        buffer.write("\n")
        if buffer.tell() >= CHUNK_BYTES:
            yield _drain(buffer)
    if buffer.tell():
        yield _drain(buffer)
