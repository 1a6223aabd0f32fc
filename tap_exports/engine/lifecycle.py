"""Waiting for exports: the poll loop and the pool that prepares exports in parallel.

This is the one place that decides how long to wait between polls and when to
give up; provider modules only answer "what is the status now".
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from singer_sdk import metrics

from tap_exports.engine.adapter import ExportAdapter
from tap_exports.engine.job import ExportJob
from tap_exports.engine.retry import PollSchedule
from tap_exports.engine.signals import pause
from tap_exports.engine.status import ExportStatus
from tap_exports.errors import ExportTimeoutError

LOGGER = logging.getLogger("tap_exports.lifecycle")


@dataclass(frozen=True)
class Timing:
    """Polling pace and patience, from the common settings."""

    schedule: PollSchedule
    timeout_seconds: float


def wait_until_done(
    adapter: ExportAdapter,
    job: ExportJob,
    timing: Timing,
    *,
    stream: str,
    sleep: Callable[[float], None] = pause,
    clock: Callable[[], float] = time.monotonic,
) -> ExportJob:
    """Poll ``job`` until the provider reports a terminal status.

    Logs every status change with the time elapsed, a heartbeat while the status
    stays the same (see HEARTBEAT_FIRST_SECONDS), and raises
    :class:`ExportTimeoutError` once ``timing.timeout_seconds`` have passed in this
    run (a resumed export gets the full timeout again: its age before the crash
    says nothing about how long it still needs). The wait is reported as the SDK's
    ``job_duration`` metric, tagged with the export and its final status.
    """
    tags = {
        metrics.Tag.STREAM: stream,
        metrics.Tag.JOB_TYPE: "export",
        "provider": adapter.provider,
        "export_id": job.export_id,
    }
    with metrics.Timer(metrics.Metric.JOB_DURATION, tags) as timer:
        job = _poll(adapter, job, timing, stream=stream, sleep=sleep, clock=clock)
        timer.tags["export_status"] = job.status.value
        if job.status in {ExportStatus.FAILED, ExportStatus.EXPIRED}:
            timer.tags[metrics.Tag.STATUS] = metrics.Status.FAILED
    return job


#: A wait that has not changed status is reported after this long, then at doubling
#: intervals up to HEARTBEAT_MAX_SECONDS: a person watching the log sees the run is
#: alive, and an hour's wait costs about fifteen lines.
HEARTBEAT_FIRST_SECONDS = 30.0
HEARTBEAT_MAX_SECONDS = 300.0


def _poll(
    adapter: ExportAdapter,
    job: ExportJob,
    timing: Timing,
    *,
    stream: str,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> ExportJob:
    started = clock()
    deadline = started + timing.timeout_seconds
    seen = None
    logged_at, heartbeat = started, HEARTBEAT_FIRST_SECONDS
    for polls, delay in enumerate(timing.schedule.delays(), start=1):
        job = adapter.poll(job)
        now = clock()
        elapsed = now - started
        if job.status != seen:
            _log_status(adapter, job, stream, elapsed, polls, verb="is")
            seen, logged_at, heartbeat = job.status, now, HEARTBEAT_FIRST_SECONDS
        elif now - logged_at >= heartbeat:
            _log_status(adapter, job, stream, elapsed, polls, verb="still")
            logged_at, heartbeat = now, min(heartbeat * 2, HEARTBEAT_MAX_SECONDS)
        if job.status.terminal:
            return job
        remaining = deadline - clock()
        if remaining <= 0:
            raise ExportTimeoutError(
                adapter.provider,
                f"still {job.status.value} after {elapsed:.0f} s "
                f"(export_timeout_seconds: {timing.timeout_seconds:g})",
                export_id=job.export_id,
                stream=stream,
                hint="raise export_timeout_seconds; the export id is kept in state, "
                "so the next run resumes it instead of starting over",
            )
        sleep(min(delay, remaining))
    msg = "unreachable: the poll schedule is endless and the deadline bounds it"
    raise AssertionError(msg)


def _log_status(
    adapter: ExportAdapter, job: ExportJob, stream: str, elapsed: float, polls: int, *, verb: str
) -> None:
    """``export X is RUNNING after …`` on a change; ``export X still RUNNING …`` as heartbeat."""
    progress = adapter.progress(job)
    LOGGER.info(
        "%s %s: export %s %s %s after %.1f s (%d status checks)%s",
        adapter.provider,
        stream,
        job.export_id,
        verb,
        job.status.value,
        elapsed,
        polls,
        f", {progress}" if progress else "",
    )


#: Longest one wait of the main thread for a prepared export lasts. A signal the kernel
#: hands to another thread does not wake a main thread blocked on a lock without a
#: timeout; its Python handler (SIGTERM: write state, exit) runs only once it wakes.
SIGNAL_CHECK_SECONDS = 0.5


class ExportPoolStoppedError(Exception):
    """Ends a background wait once the run that wanted the export is over."""


class ExportPool:
    """Polls several exports at once, up to ``max_concurrent`` of them.

    Exports are created on the main thread (so their ids reach state before
    anything else happens); only the waiting runs here, which lets the provider
    prepare the next stream's file while the current stream is emitting rows.
    Its threads are daemons: a wait stuck in a call that never answers must not keep
    a stopped process alive (``concurrent.futures`` joins its threads at exit).
    """

    def __init__(self, max_concurrent: int) -> None:
        self._max_threads = max(1, max_concurrent)
        self._threads: list[threading.Thread] = []
        self._queue: queue.SimpleQueue[tuple[Future[ExportJob], Callable[[], ExportJob]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._waiting = 0

    @property
    def capacity(self) -> int:
        """How many exports may be prepared at once (``max_concurrent_exports``)."""
        return self._max_threads

    @property
    def waiting(self) -> int:
        """Waits submitted and not yet over: exports the providers are still preparing."""
        return self._waiting

    def _over(self, _: Future[ExportJob]) -> None:
        with self._lock:
            self._waiting -= 1

    def submit(self, wait: Callable[[], ExportJob]) -> Future[ExportJob]:
        """Start waiting for an export in the background."""
        future: Future[ExportJob] = Future()
        with self._lock:
            self._waiting += 1
            future.add_done_callback(self._over)
            self._queue.put((future, wait))
            if len(self._threads) < self._max_threads:
                thread = threading.Thread(
                    target=self._work, name=f"export-poll-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        """Run queued waits until the pool stops; each ends within its export timeout."""
        while not self._stopped.is_set():
            try:
                future, wait = self._queue.get(timeout=SIGNAL_CHECK_SECONDS)
            except queue.Empty:
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(wait())
            except BaseException as exc:  # handed to whoever reads the future
                future.set_exception(exc)

    def sleep(self, seconds: float) -> None:
        """Wait between two polls; a stopped pool or a termination signal ends it at once."""
        if self._stopped.wait(0):
            raise ExportPoolStoppedError(_STOPPED)
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            pause(min(remaining, SIGNAL_CHECK_SECONDS))
            if self._stopped.is_set():
                raise ExportPoolStoppedError(_STOPPED)

    @staticmethod
    def result(future: Future[ExportJob], between: Callable[[], None] | None = None) -> ExportJob:
        """What a background wait ended with, waited for in slices (see SIGNAL_CHECK_SECONDS).

        ``between`` runs after each slice, on the waiting thread: a stream waiting for
        its next window creates the exports of later windows once others are done.
        The loop ends with the future: its wait is bounded by ``export_timeout_seconds``
        and ends early when the pool is shut down.
        """
        while True:
            try:
                return future.result(timeout=SIGNAL_CHECK_SECONDS)
            except TimeoutError:
                if between is not None:
                    between()

    def shutdown(self) -> None:
        """Stop the pool without waiting for exports nobody will read.

        Waits still polling (after a stream failed) end at their next pause, so a
        failed run exits at once instead of polling until the export timeout; queued
        ones are cancelled.
        """
        self._stopped.set()
        while True:
            try:
                future, _ = self._queue.get_nowait()
            except queue.Empty:
                return
            future.cancel()


_STOPPED = "the run ended before this export was read"
