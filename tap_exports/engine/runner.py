"""The life of one source's exports in one run, free of the SDK.

plan the windows from the bookmark (after the exports in state) → create the first
window's export (or resume the one in state) → create the next windows' exports ahead,
while fewer than ``max_concurrent_exports`` are being prepared across the run → await
the oldest → if the provider no longer has it, create it again, once → read its rows →
close its window (forget the export, move the bookmark) → the next window. A window
small enough to be answered inline skips the export; one too large for that and for an
export is split.

The runner changes the state through :class:`ExportState` and calls ``checkpoint``
whenever that state must reach the target (right after an export is created, and
when a window closes), so a run that dies at any point resumes every export it
created, skipping the rows the target already has, instead of creating duplicates.
Windows are read oldest first, so the bookmark only ever moves over windows whose
rows are all out.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from tap_exports.engine.adapter import ExportAdapter, Row, WindowTooLargeError
from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.lifecycle import wait_until_done
from tap_exports.engine.reading import ExportReader
from tap_exports.engine.runtime import Runtime
from tap_exports.engine.state import ExportState
from tap_exports.engine.status import ExportStatus
from tap_exports.errors import ExportFailedError, ExportGoneError
from tap_exports.io.decode import batched

LOGGER = logging.getLogger("tap_exports.stream")
MAX_WINDOWS_PER_RUN = 10_000
#: The longest time a connection test's one window covers: proof of access, not data.
DRY_RUN_SPAN = dt.timedelta(days=1)

Batches = Generator[list[Row], None, None]


@dataclass
class Slot:
    """One window of the run: its export once created or resumed, and the wait for it."""

    window: Window
    job: ExportJob | None = None
    wait: Future[ExportJob] | None = None
    resumed: bool = False


class ExportRunner:
    """Drives the exports of one source (a stream, or one partition of it)."""

    def __init__(
        self,
        adapter: ExportAdapter,
        state: ExportState,
        runtime: Runtime,
        reader: ExportReader,
        *,
        stream: str,
        checkpoint: Callable[[], None],
        source: str | None = None,
    ) -> None:
        self.adapter = adapter
        self.state = state
        self.runtime = runtime
        self.reader = reader
        self.stream = stream
        self.checkpoint = checkpoint
        self.source = source
        #: The windows of this run not yet closed, oldest first (planned once).
        self._slots: deque[Slot] | None = None

    @property
    def _label(self) -> str:
        return f"{self.adapter.provider} {self.stream}"

    @property
    def _of_source(self) -> str:
        return f" of {self.source}" if self.source else ""

    def plan(self) -> deque[Window]:
        """The windows this run exports, oldest first, from the bookmark."""
        return self._plan_from(self.state.bookmark)

    def _plan_from(self, start: dt.datetime | None) -> deque[Window]:
        windows = self.adapter.windows(start, self.runtime.start_date, self.runtime.now())
        return deque(windows[:MAX_WINDOWS_PER_RUN])

    def _queue(self) -> deque[Slot]:
        """This run's windows: the exports in state, with the windows around them.

        An export in state is followed by the windows after it (none after one open at
        the end); windows before it that have none (its earlier window's export failed)
        are planned again.
        """
        if self._slots is not None:
            return self._slots
        slots: deque[Slot] = deque()
        cursor = self.state.bookmark
        for job in self.state.in_flight:
            start = job.window.start
            if start is not None and (cursor is None or cursor < start):
                slots.extend(Slot(window) for window in self._gap(cursor, start))
            slots.append(Slot(job.window, job, resumed=True))
            cursor = job.window.end
            if cursor is None:
                break
        else:
            if not slots or cursor is not None:
                slots.extend(Slot(window) for window in self._plan_from(cursor))
        self._slots = slots
        return slots

    def _gap(self, cursor: dt.datetime | None, until: dt.datetime) -> list[Window]:
        """The windows from ``cursor`` up to ``until``, where an export of state starts."""
        windows = [
            window
            for window in self._plan_from(cursor)
            if window.end is not None and window.end <= until
        ]
        covered = windows[-1].end if windows else cursor
        if covered is not None and covered < until:
            windows.append(Window(covered, until))
        return windows

    def prepare(self) -> None:
        """Create (or resume) the first export and start waiting for it in the pool.

        Only the first window: every stream's first export comes before any stream's
        exports of later windows.
        """
        slots = self._queue()
        if slots and not (slots[0].job is None and self.adapter.has_inline_path):
            self._start(slots[0])

    def batches(self) -> Batches:
        """Every row this run emits for the source, in batches, driving exports as it goes."""
        slots = self._queue()
        for _ in range(MAX_WINDOWS_PER_RUN):
            if not slots:
                return
            slot = slots[0]
            if slot.job is None and self.adapter.has_inline_path:
                try:
                    inline = self.adapter.fetch_inline(slot.window)
                except WindowTooLargeError:
                    if not self.adapter.can_export_async:
                        LOGGER.info(
                            "%s: %s holds too many rows for one answer; splitting it in two",
                            self._label,
                            slot.window,
                        )
                        slots.popleft()
                        slots.extendleft(Slot(part) for part in reversed(slot.window.split()))
                        continue
                    inline = None
                if inline is not None:
                    newest = yield from self.reader.emit(
                        batched(inline), self.state, window=slot.window, skip=0
                    )
                    self._complete(slot.window, newest)
                    slots.popleft()
                    continue
            self._start(slot)
            self._top_up()
            yield from self._run_export(slot)
            slots.popleft()

    def _start(self, slot: Slot) -> None:
        """Create ``slot``'s export unless it has one, and start waiting for it in the pool."""
        if slot.wait is not None:
            return
        if slot.job is None:
            slot.job = self._create(slot.window)
        elif slot.resumed:
            self._log_resume(slot.job)
        slot.wait = self.runtime.pool.submit(functools.partial(self._wait, slot.job))

    def _top_up(self) -> None:
        """Exports of later windows, of every stream of the run (or of this source alone)."""
        if not self.runtime.look_ahead():
            self.look_ahead()

    def look_ahead(self) -> None:
        """Create the exports of the next windows while the run has room for them.

        Room: fewer than ``max_concurrent_exports`` exports being prepared across the
        run, and fewer than that held by this source. Exports in state are resumed
        whatever the room: the provider prepares them anyway.
        """
        slots = self._slots
        if not slots or self.adapter.has_inline_path:
            return
        pool = self.runtime.pool
        for held, slot in enumerate(slots):
            if slot.job is None and (held >= pool.capacity or pool.waiting >= pool.capacity):
                return
            self._start(slot)

    def _log_resume(self, job: ExportJob) -> None:
        LOGGER.info(
            "%s: resuming export %s for %s from state", self._label, job.export_id, job.window
        )

    def _create(self, window: Window) -> ExportJob:
        # Stopping between the provider's answer and the STATE holding its id would
        # leave an export the next run cannot find.
        with self.runtime.interruptions.deferred():
            job = self.adapter.create(window)
            LOGGER.info(
                "%s: created export %s for %s%s",
                self._label,
                job.export_id,
                window,
                self._of_source,
            )
            self.state.remember(job)
            self.checkpoint()
        return job

    def _wait(self, job: ExportJob) -> ExportJob:
        return wait_until_done(
            self.adapter,
            job,
            self.runtime.timing,
            stream=self.stream,
            sleep=self.runtime.pool.sleep,
            clock=self.runtime.monotonic,
        )

    def _run_export(self, slot: Slot) -> Batches:
        """Finish ``slot``'s export; if the provider no longer has it, create it again, once."""
        try:
            yield from self._finish(slot)
        except ExportGoneError as gone:
            LOGGER.warning(
                "%s: %s; creating a new export for %s (the old one was %s)",
                self._label,
                gone,
                slot.window,
                "found in state" if slot.resumed else "created in this run",
            )
            slot.job, slot.wait, slot.resumed = None, None, False
            self._start(slot)
            yield from self._finish(slot)

    def _finish(self, slot: Slot) -> Batches:
        """Wait for ``slot``'s export, emit all its rows, and close its window."""
        if slot.wait is None:
            msg = "a window's export is awaited only once its wait has started"
            raise AssertionError(msg)
        done = self.runtime.pool.result(slot.wait, between=self._top_up)
        if done.status is ExportStatus.FAILED:
            # A failed export cannot be resumed: forget it, so the next run creates a new one.
            self.state.forget(done.window)
            self.checkpoint()
        done = self._usable(done)
        newest = None
        if done.status is ExportStatus.COMPLETE:
            self.state.remember(done)
            if done.rows_emitted:
                LOGGER.info(
                    "%s: skipping the %d rows of export %s emitted before the restart",
                    self._label,
                    done.rows_emitted,
                    done.export_id,
                )
            newest = yield from self.reader.emit(
                self.reader.file_batches(done),
                self.state,
                window=done.window,
                skip=done.rows_emitted,
            )
        else:
            LOGGER.info(
                "%s: export %s has no data for %s", self._label, done.export_id, done.window
            )
        self._complete(done.window, newest)

    def _usable(self, done: ExportJob) -> ExportJob:
        """``done`` unless the provider says it failed or expired."""
        if done.status is ExportStatus.FAILED:
            reason = done.detail.get("reason") or "no reason given"
            raise ExportFailedError(
                self.adapter.provider,
                f"the provider reports the export failed: {reason}",
                export_id=done.export_id,
                stream=self.stream,
                hint="check the stream's settings; the next run creates a new export",
            )
        if done.status is ExportStatus.EXPIRED:
            raise ExportGoneError(self.adapter.provider, "export expired", export_id=done.export_id)
        return done

    def _complete(self, window: Window, newest: str | None) -> None:
        self.state.complete(window, newest)
        self.checkpoint()
        LOGGER.info(
            "%s: %s%s done, bookmark %s",
            self._label,
            window,
            self._of_source,
            self.state.bookmark_text or "not used (full table)",
        )

    # Dry runs -----------------------------------------------------------------------

    def dry_run_window(self) -> Window | None:
        """The one window a dry run would read: at most one day of the oldest window.

        Answered inline where the provider can (nothing is created), else the smallest
        export possible; None when reading anything would take a whole-table or
        open-ended export.
        """
        plan = self.plan()
        if not plan:
            return None
        window = plan[0]
        if window.start is not None and window.end is not None:
            return Window(window.start, min(window.end, window.start + DRY_RUN_SPAN))
        return window if self.adapter.has_inline_path else None

    def sample(self, window: Window | None) -> Iterator[list[Row]]:
        """A dry run's rows: those of ``window`` (None reads nothing), state untouched.

        A dry run checks access and shows a few rows; it must not cost what a sync
        costs (exports are slow, rate-limited and sometimes billed), so it never
        starts a whole-table export and never touches state.
        """
        adapter = self.adapter
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
                "%s: dry run, no export started (a connection test creates none where "
                "the export listing or another stream proves access, and never a whole table)",
                self._label,
            )
            return
        job = adapter.create(window)
        LOGGER.info(
            "%s: dry run, created export %s for %s (not kept in state)",
            self._label,
            job.export_id,
            window,
        )
        done = self._usable(self._wait(job))
        if done.status is ExportStatus.COMPLETE:
            yield from self.reader.file_batches(done)
