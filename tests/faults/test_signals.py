"""A termination signal stops the run at once, except in the middle of a step that must finish."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator

import pytest

from tap_exports.engine import signals
from tap_exports.engine.signals import Interruptions
from tap_exports.errors import RunInterruptedError


def test_a_signal_outside_any_step_stops_at_once():
    with pytest.raises(RunInterruptedError) as stopped:
        Interruptions().stop(15)
    assert stopped.value.code == 143


def test_a_signal_during_a_step_stops_when_the_outermost_step_ends():
    interruptions = Interruptions()
    done: list[str] = []

    def steps() -> None:
        with interruptions.deferred():
            with interruptions.deferred():
                interruptions.stop(2)
                done.append("inner")
            done.append("outer")

    with pytest.raises(RunInterruptedError) as stopped:
        steps()
    assert done == ["inner", "outer"]
    assert stopped.value.code == 130


def test_steps_after_a_raised_signal_run_normally():
    interruptions = Interruptions()
    with pytest.raises(RunInterruptedError), interruptions.deferred():
        interruptions.stop(15)
    with interruptions.deferred():
        pass


@pytest.fixture
def redelivered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Signals the grace period sends to the main thread again (a short grace, SIGUSR1)."""
    monkeypatch.setattr(signals, "GRACE_SECONDS", 0.05)
    seen: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, _frame: seen.append(signum))
    yield seen
    signal.signal(signal.SIGUSR1, previous)


def test_a_step_that_outlasts_the_grace_period_is_signalled_again(redelivered: list[int]):
    interruptions = Interruptions()

    def hung_call() -> None:
        with interruptions.deferred():
            interruptions.stop(signal.SIGUSR1)
            _wait_for(lambda: bool(redelivered))

    with pytest.raises(RunInterruptedError):
        hung_call()
    assert redelivered == [signal.SIGUSR1]


def test_writing_output_is_never_cut_by_the_grace_period(redelivered: list[int]):
    # A target that reads slowly blocks the write: that is back-pressure, not a hang.
    interruptions = Interruptions()
    written: list[str] = []

    def slow_write() -> None:
        with interruptions.deferred(writing=True):
            interruptions.stop(signal.SIGUSR1)
            time.sleep(0.5)
            written.append("the whole batch")

    with pytest.raises(RunInterruptedError):
        slow_write()
    assert written == ["the whole batch"]
    assert redelivered == []


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
