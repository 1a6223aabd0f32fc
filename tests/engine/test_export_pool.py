"""The main thread's wait for a prepared export lets a signal's handler run promptly.

The kernel may hand a process-directed signal (SIGTERM from a scheduler) to any thread.
Python runs the handler in the main thread, but only once that thread wakes up: a main
thread blocked on a lock with no timeout would sleep until the export is ready.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import Future
from types import FrameType

import pytest

from tap_exports.engine.job import ExportJob
from tap_exports.engine.lifecycle import ExportPool

FAILSAFE_SECONDS = 20.0
#: Lets the main thread reach its blocking wait before the signal is sent.
BLOCKED_AFTER_SECONDS = 0.2


class StoppedError(Exception):
    """Raised by the test's signal handler."""


def _signal_this_thread() -> None:
    threading.Event().wait(BLOCKED_AFTER_SECONDS)
    signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise StoppedError(signum)


@pytest.fixture
def handler():
    previous = signal.signal(signal.SIGUSR1, _raise_stopped)
    yield
    signal.signal(signal.SIGUSR1, previous)


def _signal_from_another_thread(future: Future[ExportJob], failsafe: threading.Event) -> None:
    """Deliver SIGUSR1 to this helper thread; finish the future only if nothing else did."""
    _signal_this_thread()
    if not failsafe.wait(FAILSAFE_SECONDS):
        failsafe.set()
        future.set_result(ExportJob("never-ready"))


@pytest.mark.usefixtures("handler")
def test_waiting_for_a_prepared_export_handles_a_signal_another_thread_received():
    future: Future[ExportJob] = Future()
    failsafe = threading.Event()
    helper = threading.Thread(target=_signal_from_another_thread, args=(future, failsafe))
    helper.start()
    try:
        with pytest.raises(StoppedError):
            ExportPool.result(future)
        assert not future.done(), "the handler ran only once the export was ready"
    finally:
        failsafe.set()
        helper.join(FAILSAFE_SECONDS + 5)
