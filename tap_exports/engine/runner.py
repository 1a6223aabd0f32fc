"""The life of one source's exports in one run, free of the SDK.

plan the windows from the bookmark → create an export (or resume the one in state) →
await it → if the provider no longer has it, create it again, once → read its rows →
close the window (forget the export, move the bookmark). A window small enough to be
answered inline skips the export; one too large for that and for an export is split.

The runner changes the state through :class:`ExportState` and calls ``checkpoint``
whenever that state must reach the target (right after an export is created, and
when a window closes), so a run that dies at any point resumes the same export,
skipping the rows the target already has, instead of creating a duplicate.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future

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
        #: The export :meth:`prepare` created or resumed, and its wait in the pool.
        self._prepared: tuple[ExportJob, Future[ExportJob]] | None = None
        #: The windows left after the one :meth:`prepare` created an export for.
        self._planned: deque[Window] | None = None

    @property
    def _label(self) -> str:
        return f"{self.adapter.provider} {self.stream}"

    @property
    def _of_source(self) -> str:
        return f" of {self.source}" if self.source else ""

    def plan(self) -> deque[Window]:
        """The windows this run exports, oldest first, from the bookmark."""
        windows = self.adapter.windows(
            self.state.bookmark, self.runtime.start_date, self.runtime.now()
        )
        return deque(windows[:MAX_WINDOWS_PER_RUN])

    def prepare(self) -> None:
        """Create (or resume) the first export and start waiting for it in the pool."""
        job = self.state.in_flight
        if job is None:
            plan = deque() if self.adapter.has_inline_path else self.plan()
            if not plan:
                return
            job = self._create(plan.popleft())
            self._planned = plan
        else:
            self._log_resume(job)
        self._prepared = (job, self.runtime.pool.submit(functools.partial(self._wait, job)))

    def batches(self) -> Batches:
        """Every row this run emits for the source, in batches, driving exports as it goes."""
        resumed = self.state.in_flight
        # This run's plan goes on after the export prepared for its first window; planning
        # again from the bookmark that export moved would repeat overlapping windows.
        planned, self._planned = self._planned, None
        plan = self.plan() if planned is None else planned
        if resumed is not None:
            if self._prepared is None:
                self._log_resume(resumed)
            yield from self._run_export(resumed, resumed=True)
            if planned is None:
                # An export of an earlier run: an open-ended window covered everything up
                # to now; a bounded one is followed by the windows after it.
                plan = self.plan() if resumed.window.end else deque()
        for _ in range(MAX_WINDOWS_PER_RUN):
            if not plan:
                return
            window = plan.popleft()
            try:
                inline = self.adapter.fetch_inline(window)
            except WindowTooLargeError:
                if not self.adapter.can_export_async:
                    LOGGER.info(
                        "%s: %s holds too many rows for one answer; splitting it in two",
                        self._label,
                        window,
                    )
                    plan.extendleft(reversed(window.split()))
                    continue
                inline = None
            if inline is not None:
                newest = yield from self.reader.emit(
                    batched(inline), self.state, window=window, skip=0
                )
                self._complete(window, newest)
                continue
            prepared = self._prepared
            job = (
                prepared[0]
                if prepared is not None and prepared[0].window == window
                else self._create(window)
            )
            yield from self._run_export(job, resumed=False)

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

    def _await(self, job: ExportJob) -> ExportJob:
        prepared = self._prepared
        if prepared is not None and prepared[0].export_id == job.export_id:
            self._prepared = None
            return self.runtime.pool.result(prepared[1])
        return self._wait(job)

    def _run_export(self, job: ExportJob, *, resumed: bool) -> Batches:
        """Finish ``job``; if the provider no longer has it, create it again, once."""
        try:
            yield from self._finish(job)
        except ExportGoneError as gone:
            LOGGER.warning(
                "%s: %s; creating a new export for %s (the old one was %s)",
                self._label,
                gone,
                job.window,
                "found in state" if resumed else "created in this run",
            )
            yield from self._finish(self._create(job.window))

    def _finish(self, job: ExportJob) -> Batches:
        """Wait for ``job``, emit all its rows, and close its window."""
        done = self._await(job)
        if done.status is ExportStatus.FAILED:
            # A failed export cannot be resumed: forget it, so the next run creates a new one.
            self.state.forget()
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
