"""Export preparation that runs beside the HTTP server, like a provider's own workers.

Jobs are cancelled and joined on :meth:`BackgroundJobs.cancel_all` (sandbox reset) and
:meth:`BackgroundJobs.stop`, so nothing the sandbox started outlives it.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterable, Iterator

logger = logging.getLogger(__name__)

_WORKERS = 4
_JOIN_SECONDS = 60.0

Job = Callable[[threading.Event], None]
"""A job receives the event that is set when it should give up."""


class JobCancelledError(Exception):
    """Raised inside a job whose sandbox is resetting or stopping."""


def until_cancelled(chunks: Iterable[bytes], cancelled: threading.Event) -> Iterator[bytes]:
    """Pass ``chunks`` through, giving up as soon as ``cancelled`` is set."""
    for chunk in chunks:
        if cancelled.is_set():
            raise JobCancelledError
        yield chunk


class BackgroundJobs:
    """A small pool of worker threads shared by every emulator."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            _WORKERS, thread_name_prefix="sandbox-job"
        )
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._pending: set[concurrent.futures.Future[None]] = set()

    def submit(self, job: Job) -> None:
        """Run ``job`` soon; a failure is logged, cancellation is silent."""
        with self._lock:
            future = self._executor.submit(self._run, job, self._cancelled)
            self._pending.add(future)
        future.add_done_callback(self._forget)

    @staticmethod
    def _run(job: Job, cancelled: threading.Event) -> None:
        try:
            job(cancelled)
        except JobCancelledError:
            logger.debug("sandbox job cancelled")

    def _forget(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            logger.error("sandbox job failed", exc_info=future.exception())

    def cancel_all(self) -> None:
        """Cancel every job, wait for them to end, then accept new ones."""
        with self._lock:
            self._cancelled.set()
            pending = list(self._pending)
        concurrent.futures.wait(pending, timeout=_JOIN_SECONDS)
        with self._lock:
            self._cancelled = threading.Event()

    def stop(self) -> None:
        """Cancel every job and stop the worker threads."""
        self.cancel_all()
        self._executor.shutdown(wait=True, cancel_futures=True)
