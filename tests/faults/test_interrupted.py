"""A run stopped by a signal, then run again from the last STATE it emitted, as Meltano would."""

from __future__ import annotations

import datetime as dt
import re
import signal
from collections.abc import Callable

import pytest

from tap_exports.io.rows import BATCH_ROWS
from tap_exports_sandbox import Fault
from tests.faults.conftest import ScenarioFactory
from tests.faults.harness import (
    BIG_ROWS,
    EPOCH,
    PROFILES,
    Message,
    Profile,
    Scenario,
    Verdict,
    exports_of,
    profiles,
)


def _stuck_running(run: Scenario) -> None:
    """Every status check says "still running", however slow the machine, until cleared."""
    running = Fault.status_word(run.profile.running_word)
    run.sandbox.faults.add(run.profile.name, run.profile.poll, running, times=None)


def _exports_pending(stream: str, count: int = 1) -> Callable[[Message], bool]:
    """The state holds ``count`` exports of ``stream`` still being prepared."""

    def matches(message: Message) -> bool:
        if message["type"] != "STATE":
            return False
        exports = exports_of(message["value"], stream)
        return sum(export["status"] in {"PENDING", "RUNNING"} for export in exports) >= count

    return matches


def _rows_checkpointed(stream: str) -> Callable[[Message], bool]:
    def matches(message: Message) -> bool:
        return message["type"] == "STATE" and any(
            export["rows_emitted"] > 0 for export in exports_of(message["value"], stream)
        )

    return matches


def _rerun_and_judge(run: Scenario, verdict: Callable[..., Verdict], fault: str) -> Verdict:
    stopped = run.outcomes[-1]
    in_flight = exports_of(run.state or {}, run.stream)
    assert in_flight, "the stopped run left no export in state"
    rerun = run.run_cli()
    assert rerun.exit_code == 0, rerun.stderr[-3000:]
    for export in in_flight:
        assert f"resuming export {export['id']}" in rerun.stderr
        if export["rows_emitted"]:
            assert (
                f"skipping the {export['rows_emitted']} rows of export {export['id']}"
                in rerun.stderr
            )
    assert exports_of(run.state or {}, run.stream) == []
    result = verdict(run, fault)
    assert (result.rows_lost, result.rows_extra, result.rows_changed) == (0, 0, 0)
    assert result.duplicate_exports == 0
    assert result.exit_codes == [stopped.exit_code, 0]
    return result


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_sigkill_while_the_export_is_pending(
    profile: Profile, scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    run = scenario(profile)
    _stuck_running(run)
    killed = run.run_cli(stop_when=_exports_pending(run.stream), stop_signal=signal.SIGKILL)
    assert killed.exit_code == -signal.SIGKILL
    assert killed.records(run.stream) == []
    run.sandbox.faults.clear()
    _rerun_and_judge(run, verdict, "SIGKILL while the export is pending")


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_sigkill_in_the_middle_of_a_download(
    profile: Profile, scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    run = scenario(profile, rows=BIG_ROWS)
    killed = run.run_cli(stop_when=_rows_checkpointed(run.stream), stop_signal=signal.SIGKILL)
    assert killed.exit_code == -signal.SIGKILL
    assert 0 < len(killed.records(run.stream)) < len(run.loaded()) + BIG_ROWS
    _rerun_and_judge(run, verdict, "SIGKILL in the middle of a download")


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_sigterm_writes_state_and_exits_non_zero(
    profile: Profile, scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    run = scenario(profile, rows=BIG_ROWS)
    stopped = run.run_cli(stop_when=_rows_checkpointed(run.stream), stop_signal=signal.SIGTERM)
    assert stopped.exit_code == 128 + signal.SIGTERM, stopped.stderr
    assert re.search(r"SIGTERM", stopped.stderr)
    # The state written on the way out never counts a record the target did not get,
    # and counts nearly all it did (the rerun repeats at most the batch in hand).
    last = stopped.states()[-1]
    counted = sum(export["rows_emitted"] for export in exports_of(last, run.stream))
    received = len(stopped.records(run.stream))
    assert counted <= received < counted + 2 * BATCH_ROWS
    _rerun_and_judge(run, verdict, "SIGTERM in the middle of a download")


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_sigterm_while_the_export_is_pending_stops_at_once(
    profile: Profile,
    scenario: ScenarioFactory,
    verdict: Callable[..., Verdict],
):
    # The exports stay "running" for as long as it takes: the run must not wait for them.
    run = scenario(profile)
    _stuck_running(run)
    stopped = run.run_cli(
        stop_when=_exports_pending(run.stream, run.sources), stop_signal=signal.SIGTERM
    )
    assert stopped.exit_code == 128 + signal.SIGTERM, stopped.stderr
    run.sandbox.faults.clear()
    _rerun_and_judge(run, verdict, "SIGTERM while the export is pending")


def test_sigterm_in_a_backfill_of_several_windows_resumes_every_export_in_flight(
    scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    # 80 days of Batch events: three 30-day windows, all created ahead and still running.
    start = EPOCH - dt.timedelta(days=60)
    run = scenario(PROFILES["batch"], start_date=f"{start:%Y-%m-%dT%H:%M:%SZ}")
    _stuck_running(run)
    stopped = run.run_cli(stop_when=_exports_pending(run.stream, 3), stop_signal=signal.SIGTERM)
    assert stopped.exit_code == 128 + signal.SIGTERM, stopped.stderr
    in_flight = exports_of(run.state or {}, run.stream)
    assert len(in_flight) >= 3
    starts = [export["window"]["start"] for export in in_flight]
    assert starts == sorted(starts)
    assert len({export["id"] for export in in_flight}) == len(in_flight)
    run.sandbox.faults.clear()
    _rerun_and_judge(run, verdict, "SIGTERM while several windows are pending")
