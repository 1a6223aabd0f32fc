"""The Singer stream over the engine: partitions, state entries and emission, for the SDK.

What happens to an export is the :class:`~tap_exports.engine.runner.ExportRunner`'s
business; this adapter gives each source (the stream, or each SDK partition: Mailgun's
bounces of each domain) a runner over its own state entry, feeds the runner's batches
to the bulk sinks, and writes STATE whenever the runner asks for a checkpoint. One
source failing therefore never moves another's bookmark.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Generator, Iterable, Mapping
from contextlib import closing
from typing import Any, ClassVar

from singer_sdk import Tap
from singer_sdk.helpers.types import Context
from singer_sdk.mapper import RemoveRecordTransform
from typing_extensions import override

from tap_exports.engine.adapter import ExportAdapter, Row
from tap_exports.engine.emit import BatchFileWriter, RecordEmitter, RecordShaper, RecordSink
from tap_exports.engine.job import Window
from tap_exports.engine.listing import ExportListingStream
from tap_exports.engine.reading import ExportReader
from tap_exports.engine.records import as_dicts
from tap_exports.engine.runner import ExportRunner
from tap_exports.engine.runtime import runtime_of
from tap_exports.engine.sdk_compat import (
    BatchConfig,
    ExportStreamHooks,
    finalize_state,
    tap_of,
    write_batch_message,
    write_starting_replication_value,
    write_state,
)
from tap_exports.engine.state import ExportState
from tap_exports.errors import RunInterruptedError

LOGGER = logging.getLogger("tap_exports.stream")


class BulkExportStream(ExportStreamHooks):
    """A stream whose rows come from the provider's asynchronous export files."""

    #: Rows between two STATE messages while a file is read (resume granularity).
    CHECKPOINT_ROWS: ClassVar[int] = 10_000
    #: Seconds between two "emitting N rows" lines while a long export is read.
    PROGRESS_SECONDS: ClassVar[float] = 10.0
    #: Emit through :class:`RecordEmitter`; False takes the SDK's per-row path.
    BULK_WRITER: ClassVar[bool] = True
    is_sorted = False

    def __init__(
        self,
        tap: Tap,
        adapters: ExportAdapter | Mapping[str, ExportAdapter],
        *,
        partition_key: str = "source",
        **kwargs: Any,
    ) -> None:
        self.adapters = adapters
        self.partition_key = partition_key
        self.runtime = runtime_of(tap)
        self._runners: dict[str, ExportRunner] = {}
        self._sink: RecordSink | None = None
        super().__init__(tap, **kwargs)
        self._record_counter = self.get_record_counter()

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        if isinstance(self.adapters, ExportAdapter):
            return None
        return [{self.partition_key: key} for key in self.adapters]

    def adapter(self, context: Context | None) -> ExportAdapter:
        """The adapter reading the source named by ``context`` (or the only one)."""
        if isinstance(self.adapters, ExportAdapter):
            return self.adapters
        if context is None:
            msg = f"{self.name} reads several sources and needs a partition context"
            raise ValueError(msg)
        return self.adapters[str(context[self.partition_key])]

    def _contexts(self) -> list[Context | None]:
        return list(self.partitions) if self.partitions else [None]

    def runner(self, context: Context | None) -> ExportRunner:
        """The runner of the source named by ``context``, over its own state entry."""
        source = str(context[self.partition_key]) if context else ""
        if source not in self._runners:
            adapter = self.adapter(context)
            self._runners[source] = ExportRunner(
                adapter,
                ExportState(
                    self.get_context_state(context),
                    self.replication_key,
                    where=f"bookmarks.{self.name}{f' ({source})' if source else ''}",
                    started=self.runtime.started,
                ),
                self.runtime,
                ExportReader(
                    adapter,
                    self.runtime.files(adapter.provider, self.name, self.replication_key),
                    progress_seconds=self.PROGRESS_SECONDS,
                ),
                stream=self.name,
                checkpoint=self._checkpoint,
                source=source or None,
            )
        return self._runners[source]

    @property
    @override
    def replication_method(self) -> str:
        return "INCREMENTAL" if self.replication_key else "FULL_TABLE"

    def _checkpoint(self) -> None:
        """Make every row handed on so far durable downstream, then write STATE."""
        with self.runtime.interruptions.deferred(writing=True):
            self._flush_sink()
            self.state_manager.is_flushed = False
            write_state(self)

    def _flush_sink(self) -> None:
        if self._sink is not None:
            with self.runtime.interruptions.deferred(writing=True):
                self._record_counter.increment(self._sink.flush())

    # Emission -----------------------------------------------------------------------

    @override
    def bulk_applies(self, *, write_messages: bool) -> bool:
        """The bulk sinks apply unless a dry run caps the rows (``--test``)."""
        return (
            write_messages
            and self.selected
            and self.ABORT_AT_RECORD_COUNT is None
            and self.BULK_WRITER
        )

    @override
    def sync_records_in_bulk(self, context: Context | None) -> None:
        """RECORD messages through the bulk :class:`RecordEmitter`."""
        self._drive(context, lambda shaper: RecordEmitter(self, shaper))

    @override
    def sync_batches_in_bulk(self, batch_config: BatchConfig, context: Context | None) -> bool:
        """BATCH files written straight from the export rows (JSONL, gzipped or not)."""
        if batch_config.encoding.format != "jsonl" or not self.bulk_applies(write_messages=True):
            return False

        with self.get_batch_counter() as batches:

            def announce(manifest: list[str]) -> None:
                """One BATCH message per closed file, counted as the SDK counts them."""
                write_batch_message(self, batch_config.encoding, manifest)
                batches.increment()

            self._drive(
                context, lambda shaper: BatchFileWriter(self, shaper, batch_config, announce)
            )
        return True

    def _drive(self, context: Context | None, sink: Callable[[RecordShaper], RecordSink]) -> None:
        """Feed every partition's batches to a sink, checkpointing every few thousand rows.

        Same contract as the SDK's loop (metrics, partitions, state finalisation) minus
        the per-row work that is constant for a stream. A checkpoint is taken when the
        next batch is asked for, so the rows it counts have all been handed to the sink.
        """
        self._record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        contexts: list[Context | None] = [context] if context is not None else [None]
        if context is None and self.partitions:
            contexts = list(self.partitions)
        shaper = RecordShaper(self, logger=self.logger)
        # Millions of short-lived rows trigger many full collections, each walking
        # every object the SDK and its imports left behind (a quarter of the CPU
        # time at a million rows). Those survivors are long-lived: park them.
        gc.freeze()
        with self._record_counter, timer:
            for current in contexts:
                self._record_counter.with_context(current or {})
                timer.with_context(current or {})
                write_starting_replication_value(self, current)
                self._sink = sink(shaper)
                try:
                    since_checkpoint = 0
                    for batch in self.record_batches(current):
                        if since_checkpoint >= self.CHECKPOINT_ROWS:
                            self._checkpoint()
                            since_checkpoint = 0
                        with self.runtime.interruptions.deferred(writing=True):
                            self._sink.write_batch(batch)
                        since_checkpoint += len(batch)
                    self._flush_sink()
                except RunInterruptedError:
                    # ``rows_emitted`` counts the batches handed to the sink: flush
                    # them, then write the state that counts them.
                    self._checkpoint()
                    raise
                finally:
                    self._sink = None
                if current is not None:
                    finalize_state(self, self.get_context_state(current))
        if context is None:
            finalize_state(self, self.stream_state)
        with self.runtime.interruptions.deferred(writing=True):
            write_state(self)

    # Preparing and dry runs -------------------------------------------------------

    def preflight(self) -> None:
        """Let each source's provider refuse its request before any stream emits a row."""
        for context in self._contexts():
            self.adapter(context).preflight()

    def prepare(self) -> None:
        """Create (or resume) each source's first export and start waiting for it.

        Called by the tap for every selected stream before the first one emits, so
        providers prepare their files in parallel while earlier streams are being read,
        and refuse invalid requests (:meth:`ExportAdapter.preflight`) before any row is out.
        """
        self.preflight()
        self._each_runner(ExportRunner.prepare)

    def prepare_ahead(self) -> None:
        """Create each source's exports of later windows while the run has room for them.

        Called by the tap once every stream's first export is created, so later windows
        never take the place of another stream's first one.
        """
        self._each_runner(ExportRunner.look_ahead)

    def _each_runner(self, step: Callable[[ExportRunner], None]) -> None:
        try:
            for context in self._contexts():
                step(self.runner(context))
        except RunInterruptedError:
            # Stopped while creating: the exports made so far reach the state on the way out.
            self._checkpoint()
            raise

    @property
    def dry_run(self) -> bool:
        """True under ``--test`` and the SDK's standard tests, which cap the rows per stream."""
        return self.ABORT_AT_RECORD_COUNT is not None

    def dry_run_window(self) -> Window | None:
        """The one window a dry run reads, from the first source; None to read nothing.

        A dry run proves access, so it creates nothing where the provider allows it: a
        provider whose export listing the run reads has shown its credentials work,
        and its bulk streams read nothing. Otherwise only the provider's first bulk
        stream reads (see :meth:`ExportRunner.dry_run_window`).
        """
        provider = self.provider_title
        peers = [
            stream
            for stream in tap_of(self).streams.values()
            if isinstance(stream, ExportListingStream | BulkExportStream)
            and stream.provider_title == provider
        ]
        if any(isinstance(peer, ExportListingStream) for peer in peers) or peers[0] is not self:
            return None
        return self.runner(self._contexts()[0]).dry_run_window()

    @property
    def provider_title(self) -> str:
        """The provider this stream reads, as logs name it."""
        return self.adapter(self._contexts()[0]).provider

    @property
    def wanted(self) -> bool:
        """Selected, and not mapped to ``__NULL__`` by every stream map.

        An export costs the provider's quota (and sometimes money): a stream whose rows
        would all be dropped creates none.
        """
        return self.selected and any(
            not isinstance(stream_map, RemoveRecordTransform) for stream_map in self.stream_maps
        )

    # Records ----------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[Row]:
        """Rows one by one, as dicts, for the SDK's own loop (dry runs and ``--test``)."""
        with closing(self.record_batches(context)) as batches:
            for batch in batches:
                yield from as_dicts(batch)

    def record_batches(self, context: Context | None) -> Generator[list[Row], None, None]:
        """Every row this run emits for ``context``, in batches, driving exports as it goes.

        A dry run reads only the first source's :meth:`dry_run_window`.
        """
        if not self.wanted:
            LOGGER.info(
                "%s %s: every row is mapped away, no export", self.provider_title, self.name
            )
        elif not self.dry_run:
            yield from self.runner(context).batches()
        elif context == self._contexts()[0]:
            yield from self.runner(context).sample(self.dry_run_window())
