"""How a row of an export file becomes a RECORD, step by step.

1. :class:`FileReader` opens each file of a finished export (``DownloadTarget``) and
   streams it through :mod:`tap_exports.io`: gzip or zip recognised and bounded
   (``max_decompressed_bytes``, ``max_compression_ratio``), then CSV (``io/csvrows.py``,
   header and delimiter as the target says, or told by the file's first line) or NDJSON /
   JSON decoded in batches of dicts; a malformed row stops the run or is skipped and
   counted (``on_bad_rows``).
2. The provider's transform reshapes the rows (Mailgun's dates, Batch's identifiers), a
   whole batch at once where the provider can: column by column into msgspec structs
   (:mod:`~tap_exports.engine.records`), from CSV rows or from NDJSON lines decoded as
   structs of the fields the provider says they hold;
   :class:`~tap_exports.engine.rowcheck.RowCheck` goes row by row only where a row is bad.
3. :meth:`ExportReader.emit` skips the rows a run before a restart already handed to
   the target, drops rows older than the window for providers that cannot filter on
   the server, and counts what it hands on in the state.
4. The stream feeds the batches to :class:`~tap_exports.engine.emit.RecordEmitter`,
   which selects and conforms them as the SDK would and frames them as RECORD lines.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tap_exports.engine.adapter import DownloadTarget, ExportAdapter, Row
from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.metrics import count_bad_rows, count_future_rows
from tap_exports.engine.records import column
from tap_exports.engine.rowcheck import ColumnRecords, LineRecords, RowCheck
from tap_exports.engine.state import FUTURE_TOLERANCE, ExportState
from tap_exports.errors import DownloadError
from tap_exports.instants import format_instant
from tap_exports.io.decode import DecodeStats, iter_record_batches
from tap_exports.io.decompress import DecompressionLimits
from tap_exports.io.progress import EMISSION, ProgressLogger
from tap_exports.io.rows import BadRowPolicy, BadRows

LOGGER = logging.getLogger("tap_exports.stream")


@dataclass(frozen=True)
class FileReader:
    """Reads the files of one stream: bounded, bad rows as the settings say, counted."""

    provider: str
    stream: str
    limits: DecompressionLimits
    max_row_bytes: int
    on_bad_rows: BadRows
    #: Checked in every row: a value that is not a time is a bad row.
    replication_key: str | None = None

    def batches(self, target: DownloadTarget) -> Generator[list[Any], None, None]:
        """Every row of one file, reshaped by its transform, in batches, streamed.

        With a column transform, CSV rows, and NDJSON lines holding the target's
        ``line_fields``, become structs (:mod:`~tap_exports.engine.records`).
        """
        stats = DecodeStats()
        check = RowCheck(
            target.transform,
            self.replication_key,
            BadRowPolicy(target.source.name, self.on_bad_rows, stats, unit="data row"),
        )
        records = lines = None
        if target.columns is not None:
            records = functools.partial(
                ColumnRecords,
                transform=target.columns,
                key=self.replication_key,
                options=target.csv,
            )
            if target.line_fields is not None:
                lines = LineRecords(
                    target.line_fields, transform=target.columns, key=self.replication_key
                )
        with target.source.open() as raw:
            batches = iter_record_batches(
                raw,
                fmt=target.format,
                source_name=target.source.name,
                csv_options=target.csv,
                on_bad_row=self.on_bad_rows,
                stats=stats,
                limits=self.limits,
                max_row_bytes=self.max_row_bytes,
                csv_records=records,
                json_lines=lines,
            )
            for batch in batches:
                yield check(batch)
        read = stats.rows + stats.bad_rows
        if target.expected_rows is not None and read < target.expected_rows:
            msg = (
                f"{target.source.name}: the file ends after {read} rows, the provider "
                f"announced {target.expected_rows}; the download was cut short, run "
                "again (the rows already loaded are skipped)"
            )
            raise DownloadError(msg)
        if stats.bad_rows:
            LOGGER.warning(
                "%s %s: skipped %d malformed rows in %s (on_bad_rows=skip)",
                self.provider,
                self.stream,
                stats.bad_rows,
                target.source.name,
            )
            count_bad_rows(stats.bad_rows, stream=self.stream, source=target.source.name)


@dataclass(frozen=True)
class ExportReader:
    """Reads one stream's export files and hands on the rows it should emit."""

    adapter: ExportAdapter
    files: FileReader
    #: Seconds between two "emitting N rows" lines while a long export is read.
    progress_seconds: float = 10.0

    def file_batches(self, job: ExportJob) -> Iterator[list[Row]]:
        """Every row of every file of a finished export, in order, in batches, streamed."""
        for target in self.adapter.targets(job):
            yield from self.files.batches(target)

    def emit(
        self,
        batches: Iterable[list[Row]],
        state: ExportState,
        *,
        window: Window,
        skip: int,
    ) -> Generator[list[Row], None, str | None]:
        """Pass batches on, counting progress in ``state``; return the newest replication value.

        ``rows_emitted`` in state counts the rows handed on before the current batch,
        which is what a checkpoint taken when the next batch is asked for may claim.
        The first ``skip`` rows (emitted before a restart) are dropped.
        """
        key = self.files.replication_key
        floor = (
            format_instant(window.start)
            if self.adapter.filters_client_side and window.start and key
            else None
        )
        job = state.export_for(window)
        source = f"export {job.export_id}" if job else str(window)
        progress = ProgressLogger(
            f"{self.adapter.provider} {self.files.stream}: {source}",
            measure=EMISSION,
            interval=self.progress_seconds,
            logger=LOGGER,
        )
        ceiling = format_instant(state.ceiling)
        future = 0
        emitted = 0
        newest: str | None = None
        count = 0
        for batch in batches:
            state.count_emitted(window, count)
            size = len(batch)
            if count + size <= skip:
                count += size
                continue
            rows = batch[skip - count :] if count < skip else batch
            count += size
            if key:
                rows, top = since(rows, key, floor)
                if top is not None and top > ceiling:
                    top, later = below(rows, key, ceiling)
                    future += later
                if top is not None and (newest is None or top > newest):
                    newest = top
            if rows:
                yield rows
                emitted += len(rows)
                progress.update(emitted)
        progress.finish(emitted)
        state.count_emitted(window, count)
        if skip > count:
            LOGGER.warning(
                "%s %s: the state says %d rows of %s were emitted, but its files hold %d; "
                "the export changed or the state is wrong: check the loaded data",
                self.adapter.provider,
                self.files.stream,
                skip,
                source,
                count,
            )
        if future:
            LOGGER.warning(
                "%s %s: %d rows of %s have %s later than the run's start (%s, %s of "
                "tolerance); they were emitted, but do not move the bookmark",
                self.adapter.provider,
                self.files.stream,
                future,
                source,
                key,
                format_instant(state.started),
                FUTURE_TOLERANCE,
            )
            count_future_rows(future, stream=self.files.stream, source=source)
        return newest


def below(rows: list[Any], key: str, ceiling: str) -> tuple[str | None, int]:
    """The newest ``key`` not after ``ceiling``, and how many rows are after it."""
    values = [str(value) for value in column(rows, key) if value is not None]
    kept = [value for value in values if value <= ceiling]
    return (max(kept) if kept else None), len(values) - len(kept)


def since(rows: list[Any], key: str, floor: str | None) -> tuple[list[Any], str | None]:
    """``rows`` without those whose ``key`` is before ``floor``, and the newest ``key``.

    Values compare as text (ISO instants). The common batch, all text and all at or
    after the floor, costs one pass to collect the values and C-level min/max.
    """
    everyone = column(rows, key)
    values = [value for value in everyone if value is not None]
    if not values:
        return rows, None
    try:
        low, high = min(values), max(values)
    except TypeError:
        low = high = None
    if not isinstance(low, str) or not isinstance(high, str):
        values = [str(value) for value in values]
        low, high = min(values), max(values)
    if floor is None or low >= floor:
        return rows, high
    kept = [row for row, value in zip(rows, everyone, strict=True) if str(value or floor) >= floor]
    return kept, high if high >= floor else None
