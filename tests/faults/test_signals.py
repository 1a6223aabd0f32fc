"""A termination signal stops the run at once, except in the middle of a step that must finish."""

from __future__ import annotations

import pytest

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
