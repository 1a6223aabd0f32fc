"""Records from an export file, whatever its compression and format, in flat memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from itertools import chain
from typing import Any, BinaryIO

from tap_exports.errors import DataError
from tap_exports.io.chunks import strip_bom
from tap_exports.io.csvrows import CsvOptions, iter_csv_rows
from tap_exports.io.decompress import DecompressionLimits, iter_payloads
from tap_exports.io.jsonrows import iter_json_array, iter_ndjson
from tap_exports.io.rows import BadRows, DecodeStats

__all__ = [
    "BadRows",
    "CsvOptions",
    "DecodeStats",
    "DecompressionLimits",
    "FileFormat",
    "iter_csv_rows",
    "iter_records",
]

_DEFAULT_CSV = CsvOptions()
_DEFAULT_LIMITS = DecompressionLimits()


class FileFormat(StrEnum):
    """Layout of the decompressed file."""

    CSV = "csv"
    NDJSON = "ndjson"
    JSON = "json"
    """A top-level array of objects."""
    AUTO = "auto"
    """``[`` first means a JSON array, ``{`` means NDJSON; for providers that do not say."""


def iter_records(
    raw: BinaryIO,
    *,
    fmt: FileFormat,
    source_name: str,
    csv_options: CsvOptions = _DEFAULT_CSV,
    on_bad_row: BadRows = "fail",
    stats: DecodeStats | None = None,
    limits: DecompressionLimits = _DEFAULT_LIMITS,
) -> Iterator[dict[str, Any]]:
    """Yield every record of ``raw`` as a dict; CSV values stay the strings in the file."""
    stats = stats if stats is not None else DecodeStats()
    for name, chunks in iter_payloads(raw, source_name=source_name, limits=limits, stats=stats):
        layout, data = _sniff_json(chunks, name) if fmt is FileFormat.AUTO else (fmt, chunks)
        if layout is FileFormat.CSV:
            yield from _csv_records(data, name, csv_options, on_bad_row, stats)
        elif layout is FileFormat.JSON:
            yield from iter_json_array(data, source_name=name, on_bad_row=on_bad_row, stats=stats)
        elif layout is FileFormat.NDJSON:
            yield from iter_ndjson(data, source_name=name, on_bad_row=on_bad_row, stats=stats)


def _csv_records(
    chunks: Iterable[bytes],
    source_name: str,
    options: CsvOptions,
    on_bad_row: BadRows,
    stats: DecodeStats,
) -> Iterator[dict[str, Any]]:
    rows = iter_csv_rows(
        chunks, source_name=source_name, options=options, on_bad_row=on_bad_row, stats=stats
    )
    header = next(rows, None)
    if header is not None:
        for row in rows:
            yield dict(zip(header, row, strict=False))


def _sniff_json(
    chunks: Iterable[bytes], source_name: str
) -> tuple[FileFormat | None, Iterator[bytes]]:
    """Tell a JSON array from NDJSON by the first significant byte; None for an empty file."""
    seen: list[bytes] = []
    source = iter(strip_bom(chunks))
    for chunk in source:
        seen.append(chunk)
        significant = chunk.lstrip()
        if significant:
            break
    else:
        return None, iter(())
    first = significant[:1]
    if first == b"[":
        return FileFormat.JSON, chain(seen, source)
    if first == b"{":
        return FileFormat.NDJSON, chain(seen, source)
    skipped = b"".join(seen)[: -len(significant)]
    raise DataError(
        source_name,
        skipped.count(b"\n") + 1,
        "cannot tell the JSON layout: the file starts with neither '[' nor '{'",
    )
