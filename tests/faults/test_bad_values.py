"""One bad value must not poison a bookmark, and a poisoned state is refused, saying how to mend it.

The sandbox writes chosen ``created_at`` cells into the first rows of a Mailgun export
(the one provider whose bookmark is the newest row it read rather than a window's end).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

import pytest

from tap_exports.errors import DataError, StateError
from tap_exports_sandbox import Fault
from tests.faults.conftest import ScenarioFactory
from tests.faults.harness import EPOCH, PROFILES, Scenario
from tests.support import sync

MAILGUN = PROFILES["mailgun"]
FUTURE = "Fri, 21 Oct 9999 11:02:55 +0000"
GARBLED = "Fri, 99 Oct 2011 xx:yy:zz UTC"


def _dated(run: Scenario, *values: str) -> None:
    run.sandbox.faults.add("mailgun", "create", Fault.row_values("created_at", *values))


def _bookmarks(state: dict[str, Any]) -> list[str]:
    entry = state["bookmarks"][MAILGUN.stream]
    parts = entry.get("partitions", [entry])
    return [part.get("replication_key_value") or "" for part in parts]


def test_a_row_dated_in_the_far_future_is_loaded_but_never_becomes_the_bookmark(
    scenario: ScenarioFactory,
):
    run = scenario(MAILGUN)
    _dated(run, FUTURE)
    done = run.run()
    assert done.exit_code == 0, done.error
    assert "9999-10-21T11:02:55Z" in {row["created_at"] for row in done.records(run.stream)}
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(value <= now for value in _bookmarks(run.state or {}))
    assert "1 rows of export" in done.stderr
    assert "later than the run's start" in done.stderr
    assert [point["value"] for point in done.metrics("future_rows")] == [1]
    # The next run still reads the rows that arrive after this one.
    again = run.run()
    assert again.exit_code == 0, again.error


def test_a_garbled_date_is_a_bad_row_naming_its_file_and_row(scenario: ScenarioFactory):
    run = scenario(MAILGUN)
    _dated(run, GARBLED)
    failed = run.run()
    assert isinstance(failed.error, DataError), failed.error
    message = str(failed.error)
    assert "bounces.csv), data row 1: cannot convert the row (unreadable date" in message
    assert GARBLED in message
    assert not any(value.startswith("2011") for value in _bookmarks(run.state or {}))


def test_a_garbled_date_is_skipped_and_counted_with_on_bad_rows_skip(scenario: ScenarioFactory):
    run = scenario(MAILGUN, on_bad_rows="skip")
    _dated(run, GARBLED)
    done = run.run()
    assert done.exit_code == 0, done.error
    assert [point["value"] for point in done.metrics("bad_rows")] == [1]
    assert not any(value.startswith("2011") for value in _bookmarks(run.state or {}))


def test_dates_without_a_zone_are_utc_whatever_the_hosts_zone(scenario: ScenarioFactory):
    run = scenario(MAILGUN)
    day = EPOCH + dt.timedelta(days=1, hours=11, minutes=2, seconds=55)
    unknown_zone = day.strftime("%a, %d %b %Y %H:%M:%S -0000")
    no_zone = day.strftime("%a, %d %b %Y %H:%M:%S")
    _dated(run, unknown_zone, no_zone)
    done = run.run_cli(env={"TZ": "America/New_York"})
    assert done.exit_code == 0, done.stderr[-2000:]
    expected = day.strftime("%Y-%m-%dT%H:%M:%SZ")
    dates = [row["created_at"] for row in done.records(run.stream)]
    assert dates.count(expected) >= 2


def _state_after_a_run(run: Scenario) -> dict[str, Any]:
    assert run.run().exit_code == 0
    return copy.deepcopy(run.state or {})


def test_a_future_bookmark_in_the_input_state_is_refused_with_the_fix(scenario: ScenarioFactory):
    run = scenario(MAILGUN)
    state = _state_after_a_run(run)
    state["bookmarks"][MAILGUN.stream]["partitions"][0]["replication_key_value"] = (
        "9999-10-21T11:02:55Z"
    )
    with pytest.raises(StateError) as refused:
        sync(run.config, state, run.catalog)
    message = str(refused.value)
    assert "replication_key_value 9999-10-21T11:02:55Z is in the future" in message
    assert "time of the last run that loaded good data" in message


@pytest.mark.parametrize("export", ["abc", {"window": 5}, {"id": "x", "rows_emitted": "many"}])
def test_a_malformed_export_in_the_input_state_names_the_key_and_the_fix(
    scenario: ScenarioFactory, export: Any
):
    run = scenario(MAILGUN)
    state = _state_after_a_run(run)
    state["bookmarks"][MAILGUN.stream]["partitions"][0]["export"] = export
    with pytest.raises(StateError) as refused:
        sync(run.config, state, run.catalog)
    message = str(refused.value)
    assert f"bookmarks.{MAILGUN.stream} (" in message
    assert ".export is not an export this tap wrote" in message
    assert "remove that key from the state" in message


def test_a_state_counting_more_rows_than_the_file_holds_is_warned_about(
    scenario: ScenarioFactory,
):
    run = scenario(MAILGUN)
    _stuck_after_create = Fault.status_word(MAILGUN.running_word)
    run.sandbox.faults.add("mailgun", MAILGUN.poll, _stuck_after_create, times=None)
    stopped = run.run(export_timeout_seconds=0.5)
    assert stopped.exit_code == 1
    run.sandbox.faults.clear()
    state = run.state or {}
    for part in state["bookmarks"][MAILGUN.stream]["partitions"]:
        if isinstance(part.get("export"), dict):
            part["export"]["rows_emitted"] = 10**6
    done = run.run()
    assert done.exit_code == 0, done.error
    assert re.search(r"the state says 1000000 rows of export \S+ were emitted", done.stderr)


def test_a_value_longer_than_the_csv_modules_own_limit_loads_whole(scenario: ScenarioFactory):
    # Python's csv refuses values over 128 KiB unless told otherwise; max_row_bytes rules.
    run = scenario(MAILGUN)
    body = "<p>" + "x" * 300_000 + '</p>\n<p>two, with a comma and a "quote"</p>'
    run.sandbox.faults.add("mailgun", "create", Fault.row_values("error", body))
    done = run.run()
    assert done.exit_code == 0, done.error
    assert body in {row["error"] for row in done.records(run.stream)}
