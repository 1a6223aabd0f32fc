"""The resumable reader shared by all sources, and its progress reports."""

from __future__ import annotations

import logging

import pytest

from tap_exports.errors import DownloadError
from tap_exports.io.progress import ProgressLogger
from tap_exports.io.resumable import Opened, TransientError, open_resumable, parse_content_range

DATA = bytes(range(256)) * 100


class FlakySource:
    """Opens DATA at an offset; the scripted failures happen on successive opens."""

    def __init__(self, failures: list[BaseException | int]) -> None:
        self.failures = failures
        self.offsets: list[int] = []
        self.closed = 0

    def open_at(self, offset: int) -> Opened:
        self.offsets.append(offset)
        failure = self.failures.pop(0) if self.failures else None
        if isinstance(failure, BaseException):
            raise failure
        remaining = memoryview(DATA)[offset : len(DATA) if failure is None else offset + failure]
        position = 0

        def read(size: int) -> bytes:
            nonlocal position
            chunk = bytes(remaining[position : position + size])
            position += len(chunk)
            return chunk

        return Opened(read=read, close=self._close, total=len(DATA))

    def _close(self) -> None:
        self.closed += 1


def test_resumes_after_errors_and_early_ends():
    source = FlakySource([ConnectionResetError("reset"), 1000, 7, TimeoutError()])
    finished: list[str] = []
    with open_resumable(
        source.open_at,
        name="x",
        retry_on=(OSError,),
        sleep=lambda _: None,
        on_close=lambda: finished.append("closed"),
    ) as stream:
        assert stream.read() == DATA
    assert source.offsets == [0, 0, 1000, 1007, 1007]
    assert finished == ["closed"]


def test_errors_not_listed_are_not_retried():
    source = FlakySource([ValueError("bug")])
    with pytest.raises(ValueError, match="bug"), open_resumable(source.open_at, name="x") as stream:
        stream.read()
    assert source.offsets == [0]


def test_no_resumes_allowed():
    source = FlakySource([10])
    with (
        pytest.raises(DownloadError, match="x: download cut short after 0 resumes: received 10 of"),
        open_resumable(source.open_at, name="x", max_resumes=0) as stream,
    ):
        stream.read()


@pytest.mark.parametrize(
    ("header", "expected"),
    [("bytes 100-199/200", (100, 200)), ("bytes 5-9/*", (5, None))],
)
def test_parse_content_range(header, expected):
    assert parse_content_range(header) == expected


def test_unreadable_content_range_is_retried():
    with pytest.raises(TransientError, match="Content-Range"):
        parse_content_range("bytes */200")


def test_progress_logged_every_few_seconds_and_at_the_end(caplog):
    now = [0.0]
    progress = ProgressLogger("bounces export", 10_000_000, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="tap_exports.io"):
        for step in range(1, 13):
            now[0] = float(step)
            progress.update(step * 800_000)
        progress.finish(10_000_000)
    assert [r.getMessage() for r in caplog.records] == [
        "bounces export: downloading 4.0 of 10.0 MB (40%) at 0.8 MB/s",
        "bounces export: downloading 8.0 of 10.0 MB (80%) at 0.8 MB/s",
        "bounces export: downloaded 10.0 of 10.0 MB (100%) at 0.8 MB/s",
    ]


def test_progress_without_known_size(caplog):
    ticks = iter([0.0, 2.0])
    progress = ProgressLogger("x", clock=lambda: next(ticks))
    with caplog.at_level(logging.INFO, logger="tap_exports.io"):
        progress.finish(3_000_000)
    assert caplog.records[0].getMessage() == "x: downloaded 3.0 MB at 1.5 MB/s"
