"""Records from an export file, whatever its compression and format, in flat memory."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from enum import StrEnum
from itertools import chain, islice, repeat
from typing import Any, BinaryIO

from tap_exports.errors import DataError
from tap_exports.io.chunks import MAX_ROW_BYTES, strip_bom
from tap_exports.io.csvrows import (
    CsvBatch,
    CsvOptions,
    as_rows,
    iter_csv_batches,
    iter_csv_rows,
)
from tap_exports.io.decompress import DecompressionLimits, iter_payloads
from tap_exports.io.jsonrows import BlockRecords, iter_json_array, iter_ndjson_batches
from tap_exports.io.rows import BATCH_ROWS, BadRows, DecodeStats, flatten

__all__ = [
    "BadRows",
    "CsvOptions",
    "CsvRecords",
    "DecodeStats",
    "DecompressionLimits",
    "FileFormat",
    "batched",
    "csv_dicts",
    "iter_csv_rows",
    "iter_record_batches",
    "iter_records",
]

CsvRecords = Callable[[list[str]], Callable[[CsvBatch], list[Any]]]
"""Given a CSV file's header, what turns a batch of its rows into records."""
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
    max_row_bytes: int = MAX_ROW_BYTES,
) -> Generator[dict[str, Any], None, None]:
    """Yield every record of ``raw`` as a dict; CSV values stay the strings in the file.

    Closing the generator early closes what it opened (a zip member's spool file).
    """
    yield from flatten(
        iter_record_batches(
            raw,
            fmt=fmt,
            source_name=source_name,
            csv_options=csv_options,
            on_bad_row=on_bad_row,
            stats=stats,
            limits=limits,
            max_row_bytes=max_row_bytes,
        )
    )


def iter_record_batches(
    raw: BinaryIO,
    *,
    fmt: FileFormat,
    source_name: str,
    csv_options: CsvOptions = _DEFAULT_CSV,
    on_bad_row: BadRows = "fail",
    stats: DecodeStats | None = None,
    limits: DecompressionLimits = _DEFAULT_LIMITS,
    max_row_bytes: int = MAX_ROW_BYTES,
    csv_records: CsvRecords | None = None,
    json_lines: BlockRecords | None = None,
) -> Generator[list[Any], None, None]:
    """Like :func:`iter_records`, in lists of records, so per-row work downstream can batch.

    No row longer than ``max_row_bytes`` is held in memory: it is a bad row. CSV rows
    become dicts keyed by the header unless ``csv_records`` builds them otherwise;
    NDJSON lines too, unless ``json_lines`` builds a block's records.
    """
    stats = stats if stats is not None else DecodeStats()
    for name, chunks in iter_payloads(raw, source_name=source_name, limits=limits, stats=stats):
        layout, data = _sniff_json(chunks, name) if fmt is FileFormat.AUTO else (fmt, chunks)
        if layout is FileFormat.CSV:
            yield from _csv_batches(
                data,
                name,
                csv_options,
                on_bad_row,
                stats,
                max_row_bytes=max_row_bytes,
                records=csv_records or (lambda header: csv_dicts(header, csv_options)),
            )
        elif layout is FileFormat.JSON:
            yield from batched(
                iter_json_array(
                    data,
                    source_name=name,
                    on_bad_row=on_bad_row,
                    stats=stats,
                    max_row_bytes=max_row_bytes,
                )
            )
        elif layout is FileFormat.NDJSON:
            yield from iter_ndjson_batches(
                data,
                source_name=name,
                on_bad_row=on_bad_row,
                stats=stats,
                max_row_bytes=max_row_bytes,
                records=json_lines,
            )


def batched(items: Iterable[Any], size: int = BATCH_ROWS) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    source = iter(items)
    while batch := list(islice(source, size)):
        yield batch


def _csv_batches(
    chunks: Iterable[bytes],
    source_name: str,
    options: CsvOptions,
    on_bad_row: BadRows,
    stats: DecodeStats,
    *,
    max_row_bytes: int,
    records: CsvRecords,
) -> Generator[list[Any], None, None]:
    batches = iter_csv_batches(
        chunks,
        source_name=source_name,
        options=options,
        on_bad_row=on_bad_row,
        stats=stats,
        max_row_bytes=max_row_bytes,
        columns=True,
    )
    with closing(batches):
        first = next(batches, None)
        if first is None:
            return
        build = records(list(as_rows(first)[0]))
        for batch in batches:
            yield build(batch)


def csv_dicts(header: list[str], options: CsvOptions) -> Callable[[CsvBatch], list[dict[str, Any]]]:
    """One dict per row keyed by ``header``, built by C-level calls only (no loop in Python)."""
    if options.empty_as_null:
        null: Callable[[str, str], str | None] = {"": None}.get

        def nulled(batch: CsvBatch) -> list[dict[str, Any]]:
            rows = as_rows(batch)
            return list(map(dict, map(zip, repeat(header), map(map, repeat(null), rows, rows))))

        return nulled

    def plain(batch: CsvBatch) -> list[dict[str, Any]]:
        return list(map(dict, map(zip, repeat(header), as_rows(batch))))

    return plain


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
