"""The life of one source's exports, driven without a socket: a fake adapter, a fake clock.

Each test scripts what the provider answers and checks what users care about: every
row once, no duplicate export, the state each checkpoint would write, and a wait that
is bounded by the timeout on the run's clock (the fake clock never sleeps).
"""

from __future__ import annotations

import copy
import datetime as dt
import io
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from typing_extensions import override

from tap_exports.engine.adapter import DownloadTarget, ExportAdapter, Row, WindowTooLargeError
from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.lifecycle import ExportPool, Timing
from tap_exports.engine.reading import ExportReader
from tap_exports.engine.retry import PollSchedule
from tap_exports.engine.runner import ExportRunner
from tap_exports.engine.runtime import Runtime
from tap_exports.engine.signals import Interruptions
from tap_exports.engine.state import ExportState
from tap_exports.engine.status import ExportStatus
from tap_exports.errors import ExportFailedError, ExportGoneError, ExportTimeoutError
from tap_exports.io.decode import FileFormat

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TIMEOUT_SECONDS = 600.0


@dataclass
class FakeClock:
    """Wall and monotonic time that move only when a wait asks them to."""

    wall: dt.datetime = START + 3 * DAY
    seconds: float = 0.0

    def now(self) -> dt.datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.wall += dt.timedelta(seconds=seconds)


class FakeClockPool(ExportPool):
    """A pool that waits at once, in order, moving the fake clock instead of sleeping.

    ``busy`` exports of other streams are being prepared all along, taking room.
    """

    def __init__(self, clock: FakeClock, capacity: int = 1, busy: int = 0) -> None:
        super().__init__(capacity)
        self.clock = clock
        self.busy = busy

    @override
    def submit(self, wait: Callable[[], ExportJob]) -> Future[ExportJob]:
        future: Future[ExportJob] = Future()
        try:
            future.set_result(wait())
        except Exception as exc:  # handed to whoever reads the future, as the pool does
            future.set_exception(exc)
        return future

    @property
    @override
    def waiting(self) -> int:
        return self.busy

    @override
    def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds)


@dataclass
class MemorySource:
    """An export file held in memory."""

    name: str
    data: bytes

    def open(self) -> io.BytesIO:
        return io.BytesIO(self.data)


@dataclass
class FakeAdapter(ExportAdapter):
    """A provider whose exports hold ``rows_per_window`` rows, timestamped inside the window.

    ``polls_until_done`` status checks answer RUNNING before COMPLETE; the exports named
    in ``gone`` no longer exist; ``status`` is the terminal status every export ends in.
    """

    provider = "Fake"
    prefix: str = "x"
    rows_per_window: int = 5
    polls_until_done: int = 2
    status: ExportStatus = ExportStatus.COMPLETE
    gone: set[str] = field(default_factory=set)
    bounded: bool = True
    created: list[Window] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)

    @override
    def windows(
        self, bookmark: dt.datetime | None, start_date: dt.datetime | None, now: dt.datetime
    ) -> list[Window]:
        if not self.bounded:
            return [Window()]
        start = bookmark or start_date or START
        end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return [Window(day, day + DAY) for day in _days(start, end)]

    @override
    def create(self, window: Window) -> ExportJob:
        self.created.append(window)
        return ExportJob(f"{self.prefix}{len(self.created)}", window=window)

    @override
    def poll(self, job: ExportJob) -> ExportJob:
        if job.export_id in self.gone:
            raise ExportGoneError(self.provider, "gone", export_id=job.export_id)
        polls = self.polls[job.export_id] = self.polls.get(job.export_id, 0) + 1
        if polls <= self.polls_until_done:
            return job.with_status(ExportStatus.RUNNING)
        return job.with_status(self.status, reason="the fake says so")

    @override
    def targets(self, job: ExportJob) -> Iterator[DownloadTarget]:
        yield DownloadTarget(
            source=MemorySource(f"fake {job.export_id}", _ndjson(self.rows(job.window))),
            format=FileFormat.NDJSON,
        )

    def rows(self, window: Window) -> list[Row]:
        start = window.start or START
        return [
            {
                "id": f"{start:%m%d}-{n}",
                "t": f"{start + dt.timedelta(minutes=n):%Y-%m-%dT%H:%M:%SZ}",
            }
            for n in range(self.rows_per_window)
        ]


def _days(start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    for n in range(1000):
        day = start + n * DAY
        if day >= end:
            return
        yield day


def _ndjson(rows: list[Row]) -> bytes:
    return b"".join(msgspec.json.encode(row) + b"\n" for row in rows)


@dataclass
class Harness:
    """A runner over a fake adapter and a plain state entry; keeps every checkpoint."""

    adapter: FakeAdapter
    entry: dict[str, Any] = field(default_factory=dict)
    clock: FakeClock = field(default_factory=FakeClock)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    #: ``max_concurrent_exports``, and exports of other streams taking room all along.
    capacity: int = 1
    busy: int = 0
    #: Rows handed on so far, and how many had been at each checkpoint.
    handed: int = 0
    handed_at: list[int] = field(default_factory=list)

    def runner(self, runtime: Runtime | None = None) -> ExportRunner:
        runtime = runtime or self.runtime()
        reader = ExportReader(self.adapter, runtime.files("Fake", "fake_rows", "t"))
        return ExportRunner(
            self.adapter,
            ExportState(self.entry, "t", where="bookmarks.fake_rows", started=self.clock.now()),
            runtime,
            reader,
            stream="fake_rows",
            checkpoint=self.checkpoint,
        )

    def checkpoint(self) -> None:
        self.checkpoints.append(copy.deepcopy(self.entry))
        self.handed_at.append(self.handed)

    def runtime(self) -> Runtime:
        return Runtime(
            interruptions=Interruptions(),
            pool=FakeClockPool(self.clock, self.capacity, self.busy),
            timing=Timing(PollSchedule(initial=2, maximum=60), timeout_seconds=TIMEOUT_SECONDS),
            now=self.clock.now,
            monotonic=self.clock.monotonic,
        )

    def rows(self, runner: ExportRunner | None = None) -> list[Row]:
        active = runner or self.runner()
        rows: list[Row] = []
        try:
            for batch in active.batches():
                rows += batch
                self.handed += len(batch)
            return rows
        finally:
            active.runtime.pool.shutdown()


def test_each_window_is_created_awaited_read_and_closed():
    harness = Harness(FakeAdapter())
    rows = harness.rows()
    windows = [Window(START + n * DAY, START + (n + 1) * DAY) for n in range(3)]
    assert harness.adapter.created == windows
    assert rows == [row for window in windows for row in harness.adapter.rows(window)]
    # Each export reaches state right after it is created, and leaves it when its window closes.
    ids = [checkpoint.get("export", {}).get("id") for checkpoint in harness.checkpoints]
    assert ids == ["x1", None, "x2", None, "x3", None]
    assert harness.entry == {
        "replication_key": "t",
        "replication_key_value": "2026-01-04T00:00:00Z",
    }
    assert harness.adapter.polls == {"x1": 3, "x2": 3, "x3": 3}
    assert harness.clock.seconds > 0


def test_the_export_in_state_is_resumed_and_its_emitted_rows_skipped():
    adapter = FakeAdapter(bounded=False)
    window = Window()
    in_flight = ExportJob("x-earlier", window=window, rows_emitted=3)
    harness = Harness(adapter, entry={"export": in_flight.to_state()})
    rows = harness.rows()
    assert adapter.created == []
    assert rows == adapter.rows(window)[3:]
    assert "export" not in harness.entry


def test_an_export_the_provider_lost_is_created_again_once():
    adapter = FakeAdapter(bounded=False, gone={"x1"})
    harness = Harness(adapter)
    rows = harness.rows()
    assert adapter.created == [Window(), Window()]
    assert rows == adapter.rows(Window())


def test_an_export_lost_twice_fails_the_run():
    adapter = FakeAdapter(bounded=False, gone={"x1", "x2"})
    harness = Harness(adapter)
    with pytest.raises(ExportGoneError):
        harness.rows()
    assert len(adapter.created) == 2


def test_a_failed_export_leaves_state_so_the_next_run_creates_a_new_one():
    harness = Harness(FakeAdapter(status=ExportStatus.FAILED))
    with pytest.raises(ExportFailedError, match="the fake says so"):
        harness.rows()
    assert harness.checkpoints[-1] == {}
    assert len(harness.adapter.created) == 1


def test_the_wait_ends_at_the_timeout_on_the_run_clock_and_keeps_the_export():
    harness = Harness(FakeAdapter(bounded=False, polls_until_done=10**9))
    with pytest.raises(ExportTimeoutError):
        harness.rows()
    assert TIMEOUT_SECONDS <= harness.clock.seconds < TIMEOUT_SECONDS + 60
    assert harness.entry["export"]["id"] == "x1"
    polls = harness.adapter.polls["x1"]
    assert polls < 40, polls


def test_prepare_creates_the_first_export_up_front_and_reading_uses_it():
    adapter = FakeAdapter()
    harness = Harness(adapter)
    runner = harness.runner()
    runner.prepare()
    assert len(adapter.created) == 1
    rows = harness.rows(runner)
    assert len(adapter.created) == 3
    assert len(rows) == 3 * adapter.rows_per_window


@dataclass
class InlineAdapter(FakeAdapter):
    """Answers windows of at most one day inline and has no asynchronous export."""

    has_inline_path: bool = True
    can_export_async: bool = False
    asked: list[Window] = field(default_factory=list)

    @override
    def windows(
        self, bookmark: dt.datetime | None, start_date: dt.datetime | None, now: dt.datetime
    ) -> list[Window]:
        return [Window(START, START + 2 * DAY)]

    @override
    def fetch_inline(self, window: Window) -> list[Row]:
        self.asked.append(window)
        assert window.start is not None
        assert window.end is not None
        if window.end - window.start > DAY:
            raise WindowTooLargeError(str(window))
        return self.rows(window)


def test_a_window_too_large_to_answer_inline_is_split_until_each_part_fits():
    adapter = InlineAdapter()
    harness = Harness(adapter)
    rows = harness.rows()
    days = [Window(START + n * DAY, START + (n + 1) * DAY) for n in range(2)]
    assert rows == [row for day in days for row in adapter.rows(day)]
    assert adapter.created == []
    assert harness.entry["replication_key_value"] == "2026-01-03T00:00:00Z"


def _windows(count: int) -> list[Window]:
    return [Window(START + n * DAY, START + (n + 1) * DAY) for n in range(count)]


def _ids(entry: dict[str, Any]) -> list[str]:
    """The exports a STATE names for the source, oldest window first."""
    saved = [entry["export"]] if "export" in entry else []
    return [export["id"] for export in saved + entry.get("exports_ahead", [])]


def _backfill(capacity: int, busy: int = 0) -> Harness:
    return Harness(
        FakeAdapter(), clock=FakeClock(wall=START + 5 * DAY), capacity=capacity, busy=busy
    )


def test_later_windows_are_created_ahead_up_to_the_limit():
    harness = _backfill(capacity=3)
    rows = harness.rows()
    windows = _windows(5)
    assert harness.adapter.created == windows
    assert rows == [row for window in windows for row in harness.adapter.rows(window)]
    # Three exports in flight before the first window closes; each close makes room for one.
    assert [_ids(checkpoint) for checkpoint in harness.checkpoints] == [
        ["x1"],
        ["x1", "x2"],
        ["x1", "x2", "x3"],
        ["x2", "x3"],
        ["x2", "x3", "x4"],
        ["x3", "x4"],
        ["x3", "x4", "x5"],
        ["x4", "x5"],
        ["x5"],
        [],
    ]
    # The bookmark moves window by window, never over a window still in flight.
    bookmarks = [checkpoint.get("replication_key_value") for checkpoint in harness.checkpoints]
    assert bookmarks == [None] * 3 + [f"2026-01-0{day}T00:00:00Z" for day in (2, 2, 3, 3, 4, 5, 6)]


def test_exports_of_other_streams_being_prepared_hold_later_windows_back():
    harness = _backfill(capacity=3, busy=3)
    harness.rows()
    assert [_ids(checkpoint) for checkpoint in harness.checkpoints] == [
        ["x1"],
        [],
        ["x2"],
        [],
        ["x3"],
        [],
        ["x4"],
        [],
        ["x5"],
        [],
    ]


def test_every_streams_first_window_comes_before_any_later_window():
    created: list[str] = []

    @dataclass
    class Logged(FakeAdapter):
        @override
        def create(self, window: Window) -> ExportJob:
            job = super().create(window)
            created.append(job.export_id)
            return job

    clock = FakeClock(wall=START + 5 * DAY)
    first = Harness(Logged(prefix="a"), clock=clock, capacity=2)
    runtime = first.runtime()
    second = Harness(Logged(prefix="b"), clock=clock)
    runners = [first.runner(runtime), second.runner(runtime)]
    for runner in runners:
        runner.prepare()
    runtime.ahead.extend(runner.look_ahead for runner in runners)
    runtime.look_ahead()
    assert created == ["a1", "b1", "a2", "b2"]
    assert _ids(second.entry) == ["b1", "b2"]
    runtime.pool.shutdown()


def test_a_state_written_at_any_checkpoint_resumes_every_export_without_loss_or_duplicate():
    first = _backfill(capacity=3)
    every_row = first.rows()
    assert len(first.checkpoints) == 10
    for entry, handed in zip(first.checkpoints, first.handed_at, strict=True):
        rerun = Harness(
            FakeAdapter(prefix="r"),
            entry=copy.deepcopy(entry),
            clock=FakeClock(wall=START + 5 * DAY),
            capacity=3,
        )
        rows = rerun.rows()
        assert every_row[:handed] + rows == every_row, entry
        in_flight = {
            export["id"]
            for export in [entry.get("export", {}), *entry.get("exports_ahead", [])]
            if export
        }
        assert in_flight <= set(rerun.adapter.polls)
        # No window whose export the state names is exported again.
        resumed = {export["window"]["start"] for export in entry.get("exports_ahead", [])}
        assert all(f"{w.start:%Y-%m-%dT%H:%M:%SZ}" not in resumed for w in rerun.adapter.created)
        assert rerun.entry["replication_key_value"] == "2026-01-06T00:00:00Z"


def test_a_state_of_the_previous_release_with_one_export_is_resumed():
    first, *later = _windows(3)
    old = ExportJob("x-old", window=first, rows_emitted=2).to_state()
    adapter = FakeAdapter()
    harness = Harness(adapter, entry={"export": old, "replication_key": "t"}, capacity=3)
    rows = harness.rows()
    assert adapter.created == later
    assert rows == adapter.rows(first)[2:] + [row for w in later for row in adapter.rows(w)]
    assert "x-old" in adapter.polls
    assert harness.entry == {
        "replication_key": "t",
        "replication_key_value": "2026-01-04T00:00:00Z",
    }


def test_a_window_without_export_before_one_in_state_is_exported_again():
    first, second, third = _windows(3)
    ahead = ExportJob("x-ahead", window=second).to_state()
    adapter = FakeAdapter()
    entry = {"exports_ahead": [ahead], "replication_key_value": "2026-01-01T00:00:00Z"}
    harness = Harness(adapter, entry=entry, capacity=3)
    rows = harness.rows()
    assert adapter.created == [first, third]
    assert rows == [row for w in (first, second, third) for row in adapter.rows(w)]


def test_an_export_created_ahead_that_the_provider_lost_is_created_again_once():
    adapter = FakeAdapter(gone={"x2"})
    harness = Harness(adapter, capacity=3)
    rows = harness.rows()
    first, second, third = _windows(3)
    assert adapter.created == [first, second, third, second]
    assert rows == [row for w in (first, second, third) for row in adapter.rows(w)]
