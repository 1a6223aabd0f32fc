"""What a provider module must say about one kind of export; the engine does the rest.

A provider answers four questions — how to create an export, how to read its
status, where its files are, and what a row looks like — by subclassing
:class:`ExportAdapter`. Timing, retries, streaming, state and resumption are the
engine's business and never appear in a provider module.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from tap_exports.engine.job import ExportJob, Window
from tap_exports.io.decode import CsvOptions, FileFormat
from tap_exports.io.fetch import ByteSource

Row = dict[str, Any]
RowTransform = Callable[[Row], Row]
"""Reshapes one decoded row into a record; each row is a fresh dict it may change in place."""


Columns = MutableMapping[str, Iterable[Any]]
ColumnTransform = Callable[[Columns, int], Columns]
"""The row transform of a whole batch at once: the batch's columns by name and its row
count in, the record's columns out, in order (a new name goes last, as in a dict). It
raises as the row transform does; the batch is then transformed row by row instead."""


def keep_row(row: Row) -> Row:
    """The identity transform, for files whose rows need no reshaping."""
    return row


class CountingTransform:
    """A row transform that counts the rows it has converted (of one file or page)."""

    def __init__(self, transform: RowTransform) -> None:
        self.transform = transform
        self.count = 0

    def __call__(self, row: Row) -> Row:
        self.count += 1
        return self.transform(row)


@dataclass(frozen=True)
class DownloadTarget:
    """One file of an export: where its bytes come from and how to read them."""

    source: ByteSource
    format: FileFormat
    csv: CsvOptions = field(default_factory=CsvOptions)
    transform: RowTransform = keep_row
    #: The same transform column by column: records are then built without a dict per
    #: row (:mod:`tap_exports.engine.records`). For CSV files, and for NDJSON files whose
    #: lines hold ``line_fields``.
    columns: ColumnTransform | None = None
    #: The fields an NDJSON line holds when it is as the provider writes it: a block of
    #: such lines is read column by column, any other as dicts by ``transform``.
    line_fields: tuple[str, ...] | None = None
    #: Rows the provider says the file holds: a file that ends with fewer (a body without
    #: a length, cut at a line end) is a cut download, never read as whole.
    expected_rows: int | None = None


class WindowTooLargeError(Exception):
    """Raised by :meth:`ExportAdapter.fetch_inline` when a window holds too many rows.

    The engine then either runs an asynchronous export for the window (when the
    adapter can) or splits the window in halves.
    """


class ExportAdapter(ABC):
    """One bulk stream's export, as a provider does it."""

    provider: str
    #: Rows older than the window start are dropped by the engine, for providers
    #: whose exports cannot be filtered on the server (Mailgun).
    filters_client_side: bool = False

    def windows(
        self, bookmark: dt.datetime | None, start_date: dt.datetime | None, now: dt.datetime
    ) -> list[Window]:
        """The windows this run exports, oldest first. Default: one full export."""
        del now
        start = bookmark or start_date
        return [Window(start, None)] if self.filters_client_side and start else [Window()]

    #: True when :meth:`fetch_inline` may answer a window synchronously (Connect).
    has_inline_path: bool = False
    #: False when a window too large to answer inline cannot be exported
    #: asynchronously either; the engine then splits it in halves.
    can_export_async: bool = True

    def fetch_inline(self, window: Window) -> Iterable[Row] | None:
        """Rows answered synchronously for a small window; None to use an asynchronous export.

        Raise :class:`WindowTooLargeError` when the window holds too many rows.
        """
        return None

    def preflight(self) -> None:  # noqa: B027 - optional hook
        """Let the provider refuse this source's request before any stream emits a row.

        For what the tap cannot check itself (a filter in the provider's query
        language): raise the provider's error, so a run fails before loading part of
        its data. Default: nothing to ask.
        """

    @abstractmethod
    def create(self, window: Window) -> ExportJob:
        """Ask the provider for an export of ``window`` and return it as a job.

        When the provider refuses because the same export is already running, adopt
        that export instead of failing.
        """

    @abstractmethod
    def poll(self, job: ExportJob) -> ExportJob:
        """Ask for the export's status; raise :class:`ExportGoneError` if it no longer exists."""

    @abstractmethod
    def targets(self, job: ExportJob) -> Iterator[DownloadTarget]:
        """The export's files, in the order their rows should be emitted."""

    def progress(self, job: ExportJob) -> str | None:
        """A short progress note for logs (percent done, bytes), when the provider gives one."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
