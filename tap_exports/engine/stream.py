"""The Singer stream that drives exports: plan windows, resume or create, wait, read, emit.

State per stream (inside the SDK's bookmark for the stream)::

    {"replication_key": "...", "replication_key_value": "<bookmark>",
     "export": {"id": "...", "window": {...}, "status": "...", "rows_emitted": N, ...}}

``export`` is written as soon as the provider has accepted the export, refreshed
every few thousand rows while its file is read, and removed only after the last
row of its window has been emitted. A run that dies at any point therefore
resumes the same export (skipping the rows the target already has) instead of
creating a duplicate.

A stream may read several sources of the same shape (Mailgun's bounces of each
domain); each is an SDK partition with its own adapter and its own bookmark, so
one source failing never moves another's bookmark.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import logging
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import Stream
from singer_sdk.helpers._batch import BatchConfig
from singer_sdk.helpers.types import Context
from singer_sdk.mapper import RemoveRecordTransform
from typing_extensions import override

from tap_exports.engine.adapter import ExportAdapter, Row, WindowTooLargeError
from tap_exports.engine.emit import BatchFileWriter, RecordEmitter, RecordShaper, RecordSink
from tap_exports.engine.job import ExportJob, Window, format_instant, parse_instant
from tap_exports.engine.lifecycle import wait_until_done
from tap_exports.engine.listing import ExportListingStream
from tap_exports.engine.metrics import count_bad_rows, count_future_rows
from tap_exports.engine.rowcheck import RowCheck
from tap_exports.engine.status import ExportStatus
from tap_exports.errors import (
    DownloadError,
    ExportFailedError,
    ExportGoneError,
    RunInterruptedError,
    StateError,
)
from tap_exports.io.chunks import MAX_ROW_BYTES
from tap_exports.io.decode import DecodeStats, batched, iter_record_batches
from tap_exports.io.progress import EMISSION, ProgressLogger
from tap_exports.io.rows import BadRowPolicy, flatten
from tap_exports.settings import decompression_limits

if TYPE_CHECKING:
    from tap_exports.tap import TapExports

LOGGER = logging.getLogger("tap_exports.stream")
MAX_WINDOWS_PER_RUN = 10_000
#: How far past the run's start a row may be dated (clocks differ) and still move a bookmark.
FUTURE_TOLERANCE = dt.timedelta(minutes=15)
_MEND_STATE = (
    "set it to the time of the last run that loaded good data (or remove it to start from "
    "start_date) in the state handed to the tap, then run again"
)
#: The longest time a connection test's one window covers: proof of access, not data.
DRY_RUN_SPAN = dt.timedelta(days=1)


class BulkExportStream(Stream):
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
        tap: TapExports,
        adapters: ExportAdapter | Mapping[str, ExportAdapter],
        *,
        partition_key: str = "source",
        **kwargs: Any,
    ) -> None:
        self.adapters = adapters
        self.partition_key = partition_key
        self.exports_tap = tap
        self._prepared: dict[str, tuple[ExportJob, Future[ExportJob]]] = {}
        #: The windows left after the one :meth:`prepare` created an export for.
        self._planned: dict[str, deque[Window]] = {}
        self._sink: RecordSink | None = None
        #: When this run started: no bookmark moves past it (plus FUTURE_TOLERANCE).
        self._started = dt.datetime.now(dt.UTC)
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

    def _slot(self, context: Context | None) -> str:
        return str(context[self.partition_key]) if context else ""

    @property
    @override
    def replication_method(self) -> str:
        return "INCREMENTAL" if self.replication_key else "FULL_TABLE"

    # State ------------------------------------------------------------------------

    def _state(self, context: Context | None) -> dict[str, Any]:
        return self.get_context_state(context)

    def _bookmark(self, context: Context | None) -> dt.datetime | None:
        """Where the last completed window ended (or the newest row seen).

        A bookmark that is not a time, or is later than now, would make every run
        export nothing: it is refused, saying how to mend the state.
        """
        value = self._state(context).get("replication_key_value")
        if not value:
            return None
        where = f"bookmarks.{self.name}{f' ({self._slot(context)})' if context else ''}"
        try:
            when = parse_instant(str(value))
        except ValueError:
            msg = f"{where}.replication_key_value {value!r} is not a time"
            raise StateError(f"{msg}; {_MEND_STATE}") from None
        if when > self._started + FUTURE_TOLERANCE:
            msg = f"{where}.replication_key_value {value} is in the future"
            raise StateError(f"{msg}; {_MEND_STATE}")
        return when

    def _checkpoint(self) -> None:
        """Make every row handed on so far durable downstream, then write STATE."""
        with self.exports_tap.interruptions.deferred():
            self._flush_sink()
            self.state_manager.is_flushed = False
            self._write_state_message()

    def _flush_sink(self) -> None:
        if self._sink is not None:
            with self.exports_tap.interruptions.deferred():
                self._record_counter.increment(self._sink.flush())

    # Emission -----------------------------------------------------------------------

    def _bulk(self, *, write_messages: bool) -> bool:
        """The bulk sinks apply unless a dry run caps the rows (``--test``)."""
        return (
            write_messages
            and self.selected
            and self.ABORT_AT_RECORD_COUNT is None
            and self.BULK_WRITER
        )

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[Row, Any, Any]:
        """RECORD messages through the bulk :class:`RecordEmitter`."""
        if not self._bulk(write_messages=write_messages):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        self._drive(context, lambda shaper: RecordEmitter(self, shaper))

    @override
    def _sync_batches(self, batch_config: BatchConfig, context: Context | None = None) -> None:
        """BATCH files written straight from the export rows (JSONL, gzipped or not)."""
        if batch_config.encoding.format != "jsonl" or not self._bulk(write_messages=True):
            super()._sync_batches(batch_config, context)
            return

        with self.get_batch_counter() as batches:

            def announce(manifest: list[str]) -> None:
                """One BATCH message per closed file, counted as the SDK counts them."""
                self._write_batch_message(encoding=batch_config.encoding, manifest=manifest)
                batches.increment()

            self._drive(
                context, lambda shaper: BatchFileWriter(self, shaper, batch_config, announce)
            )

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
                self._write_starting_replication_value(current)
                self._sink = sink(shaper)
                try:
                    since_checkpoint = 0
                    for batch in self.record_batches(current):
                        if since_checkpoint >= self.CHECKPOINT_ROWS:
                            self._checkpoint()
                            since_checkpoint = 0
                        with self.exports_tap.interruptions.deferred():
                            self._sink.write_batch(batch)
                        since_checkpoint += len(batch)
                    self._flush_sink()
                except RunInterruptedError:
                    # ``rows_emitted`` counts the batches handed to the sink: flush
                    # them, then write the state that counts them.
                    self._checkpoint()
                    self.exports_tap.export_pool.shutdown()
                    raise
                finally:
                    self._sink = None
                if current is not None:
                    self._finalize_state(self.get_context_state(current))
        if context is None:
            self._finalize_state(self.stream_state)
        with self.exports_tap.interruptions.deferred():
            self._write_state_message()

    def _remember(self, job: ExportJob, context: Context | None) -> None:
        self._state(context)["export"] = job.to_state()
        self._checkpoint()

    def _complete_window(self, window: Window, newest: str | None, context: Context | None) -> None:
        state = self._state(context)
        state.pop("export", None)
        if self.replication_key:
            end = window.end
            if end is not None and end > self._started + FUTURE_TOLERANCE:
                # A window reaching into the future (from a state) covered rows up to now only.
                end = self._started
            value = format_instant(end) if end else newest
            if value and value > str(state.get("replication_key_value") or ""):
                state["replication_key"] = self.replication_key
                state["replication_key_value"] = value
        self._checkpoint()
        LOGGER.info(
            "%s %s: %s%s done, bookmark %s",
            self.adapter(context).provider,
            self.name,
            window,
            f" of {self._slot(context)}" if context else "",
            state.get("replication_key_value") or "not used (full table)",
        )

    @override
    def _process_record(
        self,
        record: Row,
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Rows keep exactly the schema's fields: the partition key is not copied into them."""

    @override
    def _increment_stream_state(
        self, latest_record: Row, *, context: Context | None = None
    ) -> None:
        """Bookmarks move per window in :meth:`_complete_window`, never per row."""

    # Planning ---------------------------------------------------------------------

    def _in_flight(self, context: Context | None) -> ExportJob | None:
        saved = self._state(context).get("export")
        if saved is None:
            return None
        problem = f"not an object but {type(saved).__name__}"
        if isinstance(saved, Mapping):
            try:
                return ExportJob.from_state(saved)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        where = f"bookmarks.{self.name}{f' ({self._slot(context)})' if context else ''}"
        msg = (
            f"{where}.export is not an export this tap wrote ({problem}); remove that key "
            "from the state to create a new export for its window (rows already loaded are "
            "loaded again), then run again"
        )
        raise StateError(msg)

    def _plan(self, context: Context | None) -> deque[Window]:
        start_date = self.config.get("start_date")
        windows = self.adapter(context).windows(
            self._bookmark(context),
            parse_instant(start_date) if start_date else None,
            dt.datetime.now(dt.UTC),
        )
        return deque(windows[:MAX_WINDOWS_PER_RUN])

    def prepare(self) -> None:
        """Create (or resume) each source's first export and start waiting for it.

        Called for every selected stream before the first one emits, so providers
        prepare their files in parallel while earlier streams are being read, and
        refuse invalid requests (:meth:`ExportAdapter.preflight`) before any row is out.
        A dry run only asks for that check: it reads at most one small window per stream.
        """
        contexts: list[Context | None] = [None]
        if self.partitions:
            contexts = list(self.partitions)
        for context in contexts:
            adapter = self.adapter(context)
            adapter.preflight()
            if self.dry_run:
                continue
            job = self._in_flight(context)
            if job is None:
                plan = deque() if adapter.has_inline_path else self._plan(context)
                if not plan:
                    continue
                job = self._create(plan.popleft(), context)
                self._planned[self._slot(context)] = plan
            else:
                self._log_resume(job, context)
            self._prepared[self._slot(context)] = (
                job,
                self.exports_tap.export_pool.submit(functools.partial(self._wait, job, context)),
            )

    def _log_resume(self, job: ExportJob, context: Context | None) -> None:
        LOGGER.info(
            "%s %s: resuming export %s for %s from state",
            self.adapter(context).provider,
            self.name,
            job.export_id,
            job.window,
        )

    def _create(self, window: Window, context: Context | None) -> ExportJob:
        adapter = self.adapter(context)
        # Stopping between the provider's answer and the STATE holding its id would
        # leave an export the next run cannot find.
        with self.exports_tap.interruptions.deferred():
            job = adapter.create(window)
            LOGGER.info(
                "%s %s: created export %s for %s%s",
                adapter.provider,
                self.name,
                job.export_id,
                window,
                f" of {self._slot(context)}" if context else "",
            )
            self._remember(job, context)
        return job

    def _wait(self, job: ExportJob, context: Context | None) -> ExportJob:
        return wait_until_done(
            self.adapter(context),
            job,
            self.exports_tap.timing,
            stream=self.name,
            sleep=self.exports_tap.export_pool.sleep,
        )

    # Dry runs ---------------------------------------------------------------------

    @property
    def dry_run(self) -> bool:
        """True under ``--test`` and the SDK's standard tests, which cap the rows per stream.

        A dry run checks access and shows a few rows; it must not cost what a sync
        costs (exports are slow, rate-limited and sometimes billed), so it never
        starts a whole-table export and never touches state.
        """
        return self.ABORT_AT_RECORD_COUNT is not None

    def _first_context(self) -> Context | None:
        partitions = self.partitions
        return partitions[0] if partitions else None

    def dry_run_window(self) -> Window | None:
        """The one window a dry run reads, from the first source; None to read nothing.

        A dry run proves access, so it creates nothing where the provider allows it: a
        provider whose export listing the run reads has shown its credentials work,
        and its bulk streams read nothing. Otherwise only the provider's first bulk
        stream reads, at most one day of its oldest window: answered inline where the
        provider can (nothing is created), else the smallest export possible. A
        whole-table or open-ended export is never started.
        """
        context = self._first_context()
        provider = self.adapter(context).provider
        peers = [
            stream
            for stream in self.exports_tap.streams.values()
            if isinstance(stream, ExportListingStream | BulkExportStream)
            and stream.provider_title == provider
        ]
        if any(isinstance(peer, ExportListingStream) for peer in peers) or peers[0] is not self:
            return None
        plan = self._plan(context)
        if not plan:
            return None
        window = plan[0]
        if window.start is not None and window.end is not None:
            return Window(window.start, min(window.end, window.start + DRY_RUN_SPAN))
        return window if self.adapter(context).has_inline_path else None

    @property
    def provider_title(self) -> str:
        """The provider this stream reads, as logs name it."""
        return self.adapter(self._first_context()).provider

    def _sample(self, context: Context | None) -> Iterator[list[Row]]:
        """A dry run's rows: :meth:`dry_run_window` of the first source, state untouched."""
        if context != self._first_context():
            return
        adapter = self.adapter(context)
        window = self.dry_run_window()
        if window is not None and adapter.has_inline_path:
            try:
                inline = adapter.fetch_inline(window)
            except WindowTooLargeError:
                inline = None
            if inline is not None:
                yield from batched(inline)
                return
            if window.end is None or not adapter.can_export_async:
                window = None
        if window is None:
            LOGGER.info(
                "%s %s: dry run, no export started (a connection test creates none where "
                "the export listing or another stream proves access, and never a whole table)",
                adapter.provider,
                self.name,
            )
            return
        job = adapter.create(window)
        LOGGER.info(
            "%s %s: dry run, created export %s for %s (not kept in state)",
            adapter.provider,
            self.name,
            job.export_id,
            window,
        )
        done = self._usable(self._wait(job, context), adapter)
        if done.status is ExportStatus.COMPLETE:
            yield from self._file_batches(done, adapter)

    # Records ----------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[Row]:
        """Rows one by one, for the SDK's own loop (dry runs and ``--test``)."""
        yield from flatten(self.record_batches(context))

    @property
    def wanted(self) -> bool:
        """Selected, and not mapped to ``__NULL__`` by every stream map.

        An export costs the provider's quota (and sometimes money): a stream whose rows
        would all be dropped creates none.
        """
        return self.selected and any(
            not isinstance(stream_map, RemoveRecordTransform) for stream_map in self.stream_maps
        )

    def record_batches(self, context: Context | None) -> Generator[list[Row], None, None]:
        """Every row this run emits for ``context``, in batches, driving exports as it goes."""
        if not self.wanted:
            LOGGER.info(
                "%s %s: every row is mapped away, no export", self.provider_title, self.name
            )
            return
        with self.exports_tap.exports_prepared():
            yield from self._sample(context) if self.dry_run else self._record_batches(context)

    def _record_batches(self, context: Context | None) -> Generator[list[Row], None, None]:
        adapter = self.adapter(context)
        resumed = self._in_flight(context)
        # This run's plan goes on after the export prepared for its first window; planning
        # again from the bookmark that export moved would repeat overlapping windows.
        planned = self._planned.pop(self._slot(context), None)
        plan = self._plan(context) if planned is None else planned
        if resumed is not None:
            if self._slot(context) not in self._prepared:
                self._log_resume(resumed, context)
            yield from self._run_export(resumed, context, resumed=True)
            if planned is None:
                # An export of an earlier run: an open-ended window covered everything up
                # to now; a bounded one is followed by the windows after it.
                plan = self._plan(context) if resumed.window.end else deque()
        for _ in range(MAX_WINDOWS_PER_RUN):
            if not plan:
                return
            window = plan.popleft()
            try:
                inline = adapter.fetch_inline(window)
            except WindowTooLargeError:
                if not adapter.can_export_async:
                    LOGGER.info(
                        "%s %s: %s holds too many rows for one answer; splitting it in two",
                        adapter.provider,
                        self.name,
                        window,
                    )
                    plan.extendleft(reversed(window.split()))
                    continue
                inline = None
            if inline is not None:
                newest = yield from self._emit(batched(inline), context, window=window, skip=0)
                self._complete_window(window, newest, context)
                continue
            prepared = self._prepared.get(self._slot(context))
            job = (
                prepared[0]
                if prepared is not None and prepared[0].window == window
                else self._create(window, context)
            )
            yield from self._run_export(job, context, resumed=False)

    def _run_export(
        self, job: ExportJob, context: Context | None, *, resumed: bool
    ) -> Iterator[list[Row]]:
        """Finish ``job``; if the provider no longer has it, create it again, once."""
        try:
            yield from self._finish(job, context)
        except ExportGoneError as gone:
            LOGGER.warning(
                "%s %s: %s; creating a new export for %s (the old one was %s)",
                self.adapter(context).provider,
                self.name,
                gone,
                job.window,
                "found in state" if resumed else "created in this run",
            )
            yield from self._finish(self._create(job.window, context), context)

    def _finish(self, job: ExportJob, context: Context | None) -> Iterator[list[Row]]:
        """Wait for ``job``, emit all its rows, and close its window."""
        adapter = self.adapter(context)
        done = self._await(job, context)
        if done.status is ExportStatus.FAILED:
            # A failed export cannot be resumed: forget it, so the next run creates a new one.
            self._state(context).pop("export", None)
            self._checkpoint()
        done = self._usable(done, adapter)
        newest = None
        if done.status is ExportStatus.COMPLETE:
            self._state(context)["export"] = done.to_state()
            if done.rows_emitted:
                LOGGER.info(
                    "%s %s: skipping the %d rows of export %s emitted before the restart",
                    adapter.provider,
                    self.name,
                    done.rows_emitted,
                    done.export_id,
                )
            newest = yield from self._emit(
                self._file_batches(done, adapter),
                context,
                window=done.window,
                skip=done.rows_emitted,
            )
        else:
            LOGGER.info(
                "%s %s: export %s has no data for %s",
                adapter.provider,
                self.name,
                done.export_id,
                done.window,
            )
        self._complete_window(done.window, newest, context)

    def _usable(self, done: ExportJob, adapter: ExportAdapter) -> ExportJob:
        """``done`` unless the provider says it failed or expired."""
        if done.status is ExportStatus.FAILED:
            reason = done.detail.get("reason") or "no reason given"
            raise ExportFailedError(
                adapter.provider,
                f"the provider reports the export failed: {reason}",
                export_id=done.export_id,
                stream=self.name,
                hint="check the stream's settings; the next run creates a new export",
            )
        if done.status is ExportStatus.EXPIRED:
            raise ExportGoneError(adapter.provider, "export expired", export_id=done.export_id)
        return done

    def _await(self, job: ExportJob, context: Context | None) -> ExportJob:
        prepared = self._prepared.get(self._slot(context))
        if prepared is not None and prepared[0].export_id == job.export_id:
            del self._prepared[self._slot(context)]
            return self.exports_tap.export_pool.result(prepared[1])
        return self._wait(job, context)

    def _file_batches(self, job: ExportJob, adapter: ExportAdapter) -> Iterator[list[Row]]:
        """Every row of every file of a finished export, in order, in batches, streamed."""
        bad_rows = self.config.get("on_bad_rows", "fail")
        limits = decompression_limits(self.config)
        max_row_bytes = int(self.config.get("max_row_bytes", MAX_ROW_BYTES))
        for target in adapter.targets(job):
            stats = DecodeStats()
            check = RowCheck(
                target.transform,
                self.replication_key,
                BadRowPolicy(target.source.name, bad_rows, stats, unit="data row"),
            )
            with target.source.open() as raw:
                batches = iter_record_batches(
                    raw,
                    fmt=target.format,
                    source_name=target.source.name,
                    csv_options=target.csv,
                    on_bad_row=bad_rows,
                    stats=stats,
                    limits=limits,
                    max_row_bytes=max_row_bytes,
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
                    adapter.provider,
                    self.name,
                    stats.bad_rows,
                    target.source.name,
                )
                count_bad_rows(stats.bad_rows, stream=self.name, source=target.source.name)

    def _emit(
        self,
        batches: Iterable[list[Row]],
        context: Context | None,
        *,
        window: Window,
        skip: int,
    ) -> Generator[list[Row], None, str | None]:
        """Pass batches on, checkpointing progress; return the newest replication value.

        ``rows_emitted`` in state counts the rows handed on before the current batch,
        which is what a checkpoint taken when the next batch is asked for may claim.
        The first ``skip`` rows (emitted before a restart) are dropped.
        """
        key = self.replication_key
        floor = (
            format_instant(window.start)
            if self.adapter(context).filters_client_side and window.start and key
            else None
        )
        export = self._state(context).get("export")
        tracked = isinstance(export, dict)
        source = f"export {export['id']}" if isinstance(export, dict) else str(window)
        progress = ProgressLogger(
            f"{self.adapter(context).provider} {self.name}: {source}",
            measure=EMISSION,
            interval=self.PROGRESS_SECONDS,
            logger=LOGGER,
        )
        ceiling = format_instant(self._started + FUTURE_TOLERANCE)
        future = 0
        emitted = 0
        newest: str | None = None
        count = 0
        for batch in batches:
            if tracked:
                export["rows_emitted"] = count  # type: ignore[index]
            size = len(batch)
            if count + size <= skip:
                count += size
                continue
            rows = batch[skip - count :] if count < skip else batch
            count += size
            if key:
                rows, top = _since(rows, key, floor)
                if top is not None and top > ceiling:
                    top, later = _below(rows, key, ceiling)
                    future += later
                if top is not None and (newest is None or top > newest):
                    newest = top
            if rows:
                yield rows
                emitted += len(rows)
                progress.update(emitted)
        progress.finish(emitted)
        if tracked:
            export["rows_emitted"] = count  # type: ignore[index]
        provider = self.adapter(context).provider
        if skip > count:
            LOGGER.warning(
                "%s %s: the state says %d rows of %s were emitted, but its files hold %d; "
                "the export changed or the state is wrong: check the loaded data",
                provider,
                self.name,
                skip,
                source,
                count,
            )
        if future:
            LOGGER.warning(
                "%s %s: %d rows of %s have %s later than the run's start (%s, %s of "
                "tolerance); they were emitted, but do not move the bookmark",
                provider,
                self.name,
                future,
                source,
                key,
                format_instant(self._started),
                FUTURE_TOLERANCE,
            )
            count_future_rows(future, stream=self.name, source=source)
        return newest


def _below(rows: list[Row], key: str, ceiling: str) -> tuple[str | None, int]:
    """The newest ``key`` not after ``ceiling``, and how many rows are after it."""
    values = [str(value) for row in rows if (value := row.get(key)) is not None]
    kept = [value for value in values if value <= ceiling]
    return (max(kept) if kept else None), len(values) - len(kept)


def _since(rows: list[Row], key: str, floor: str | None) -> tuple[list[Row], str | None]:
    """``rows`` without those whose ``key`` is before ``floor``, and the newest ``key``.

    Values compare as text (ISO instants). The common batch, all text and all at or
    after the floor, costs one pass to collect the values and C-level min/max.
    """
    values = [value for row in rows if (value := row.get(key)) is not None]
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
    kept = [row for row in rows if str(row.get(key) or floor) >= floor]
    return kept, high if high >= floor else None
