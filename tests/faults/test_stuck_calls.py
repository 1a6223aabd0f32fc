"""A call that the provider answers with an endless wait, or never answers, cannot hold a run.

SIGTERM ends the run within a few seconds whatever it waits on (a retry pause, a hung
socket, a thread polling in the background), with whole messages and a STATE naming
the exports in flight; the retry settings bound how long one call waits when no one
stops the run.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tap_exports_sandbox import Fault
from tests.faults.conftest import ScenarioFactory
from tests.faults.harness import Profile, Scenario, Verdict, exports_of, profiles
from tests.faults.test_interrupted import _rerun_and_judge

ENDLESS_429 = Fault.rate_limited(999_999)
STUCK = {"429 Retry-After 999999": ENDLESS_429, "no answer": Fault.hang()}


def _called(run: Scenario, operation: str) -> Callable[[], bool]:
    return lambda: run.sandbox.faults.calls(run.profile.name, operation) >= 1


@pytest.mark.parametrize("fault", list(STUCK), ids=str)
@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_sigterm_while_a_status_check_is_stuck(
    profile: Profile, fault: str, scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    run = scenario(profile)
    run.sandbox.faults.add(profile.name, profile.poll, STUCK[fault], times=None)
    stopped = run.run_cli(signal_when=_called(run, profile.poll), stop_signal=signal.SIGTERM)
    assert stopped.exit_code == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    # The last STATE names the exports still being prepared, so the next run resumes them.
    assert exports_of(stopped.states()[-1], run.stream)
    run.sandbox.faults.clear()
    _rerun_and_judge(run, verdict, f"SIGTERM while a status check meets {fault}")


@pytest.mark.parametrize("fault", list(STUCK), ids=str)
@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_sigterm_while_creating_an_export_is_stuck(
    profile: Profile, fault: str, scenario: ScenarioFactory
):
    run = scenario(profile)
    run.sandbox.faults.add(profile.name, profile.create, STUCK[fault], times=None)
    stopped = run.run_cli(signal_when=_called(run, profile.create), stop_signal=signal.SIGTERM)
    assert stopped.exit_code == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    assert "SIGTERM received" in stopped.stderr
    assert stopped.states(), "no STATE written on the way out"


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_a_retry_after_beyond_the_total_retry_time_fails_the_call_at_once(
    profile: Profile, scenario: ScenarioFactory
):
    run = scenario(profile)
    run.sandbox.faults.add(profile.name, profile.poll, ENDLESS_429, times=None)
    failed = run.run(max_retry_total_seconds=30)
    assert failed.exit_code == 1
    message = str(failed.error)
    assert "max_retry_total_seconds (30)" in message, message
    assert "HTTP 429" in message
    # The export stays in state: the next run resumes it.
    in_flight = exports_of(run.state or {}, run.stream)
    assert any(export["id"] in message for export in in_flight)


def test_a_long_retry_after_is_cut_to_the_longest_wait(scenario: ScenarioFactory):
    run = scenario(profiles()[0])
    run.sandbox.faults.add(run.profile.name, run.profile.poll, ENDLESS_429, times=2)
    done = run.run(max_retry_wait_seconds=0.2)
    assert done.exit_code == 0, done.error
    assert done.stderr.count("HTTP 429 on GET") == 2
    assert "retrying in 0.2 s" in done.stderr
