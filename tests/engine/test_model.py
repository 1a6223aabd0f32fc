"""Status mapping and the state form of jobs and windows."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.status import ExportStatus, StatusMap
from tap_exports.errors import UnknownStatusError

UTC = dt.UTC


def test_status_map_is_case_insensitive_and_rejects_unknown_words():
    statuses = StatusMap(
        "Acme", {"Complete": ExportStatus.COMPLETE, "queued": ExportStatus.PENDING}
    )
    assert statuses("complete") is ExportStatus.COMPLETE
    assert statuses(" QUEUED ") is ExportStatus.PENDING
    with pytest.raises(UnknownStatusError) as error:
        statuses("archived", export_id="x1")
    message = str(error.value)
    assert "Acme" in message
    assert "'archived'" in message
    assert "x1" in message


def test_terminal_statuses():
    assert not ExportStatus.PENDING.terminal
    assert not ExportStatus.RUNNING.terminal
    assert all(s.terminal for s in (ExportStatus.COMPLETE, ExportStatus.FAILED, ExportStatus.EMPTY))


def test_job_round_trips_through_state():
    window = Window(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 2, 12, tzinfo=UTC))
    job = ExportJob("exp_1", window=window, detail={"files": ["a"]}, rows_emitted=20_000)
    state = job.to_state()
    assert state["window"] == {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T12:00:00Z"}
    assert ExportJob.from_state(state) == job


def test_window_split_and_render():
    window = Window(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 3, tzinfo=UTC))
    left, right = window.split()
    assert left.end == right.start == dt.datetime(2026, 1, 2, tzinfo=UTC)
    assert str(Window()) == "full table"
    with pytest.raises(ValueError, match="bounded"):
        Window().split()
