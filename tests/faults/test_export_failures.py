"""Exports that fail, never finish, or report a status word nobody documented.

Each run fails with exit code 1 and a message naming the provider, the export and what
to do; the next run (the fault gone) loads everything, re-creating only a failed export.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tap_exports_sandbox import Fault
from tests.faults.conftest import ScenarioFactory
from tests.faults.harness import Outcome, Profile, Scenario, Verdict, exports_of, profiles


def _failed_clearly(outcome: Outcome, scenario: Scenario, *words: str) -> str:
    """Assert the run failed with a clear message; return the export id it names."""
    assert outcome.exit_code == 1, outcome.stderr[-2000:]
    errors = [line for line in outcome.stderr.splitlines() if "ERROR" in line]
    assert errors, outcome.stderr[-2000:]
    message = errors[-1]
    assert re.search(scenario.profile.name, message, re.IGNORECASE), message
    named = re.search(r"export (\w+)", message)
    assert named, message
    for word in words:
        assert word in message, message
    return named[1]


def _recovered(scenario: Scenario, verdict: Callable[..., Verdict], fault: str) -> None:
    rerun = scenario.run_cli()
    assert rerun.exit_code == 0, rerun.stderr[-2000:]
    assert exports_of(scenario.state or {}, scenario.stream) == []
    result = verdict(scenario, fault)
    assert (result.rows_lost, result.rows_extra, result.rows_changed) == (0, 0, 0)
    assert result.duplicate_exports == 0


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_a_failed_export_stops_the_run_and_the_next_run_creates_a_new_one(
    profile: Profile, scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    run = scenario(profile)
    run.sandbox.faults.add(profile.name, profile.create, Fault.fail_export())
    failed = run.run_cli()
    export_id = _failed_clearly(failed, run, "failed", "the next run creates a new export")
    # Forgotten in state: a failed export cannot be resumed (other sources' exports stay).
    assert export_id not in {export["id"] for export in exports_of(run.state or {}, run.stream)}
    _recovered(run, verdict, "export fails")


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_an_export_that_never_finishes_times_out_and_is_resumed_later(
    profile: Profile, scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    run = scenario(profile)
    running = Fault.status_word(profile.running_word)
    run.sandbox.faults.add(profile.name, profile.poll, running, times=None)
    stuck = run.run_cli(export_timeout_seconds=1)
    # How long past the limit the last poll ends depends on the machine, not the tap.
    _failed_clearly(stuck, run, "(export_timeout_seconds: 1)", "raise export_timeout_seconds")
    kept = exports_of(run.state or {}, run.stream)
    assert kept, "the export id must stay in state"
    run.sandbox.faults.clear()
    _recovered(run, verdict, "export never finishes (timeout)")
    assert f"resuming export {kept[0]['id']}" in run.outcomes[-1].stderr


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_an_unknown_status_word_stops_the_run_naming_it(
    profile: Profile, scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    run = scenario(profile)
    run.sandbox.faults.add(profile.name, profile.poll, Fault.status_word("defrosting"), times=None)
    confused = run.run_cli()
    _failed_clearly(confused, run, "defrosting")
    kept = exports_of(run.state or {}, run.stream)
    assert kept, "the export id must stay in state"
    run.sandbox.faults.clear()
    _recovered(run, verdict, "unknown status word")
