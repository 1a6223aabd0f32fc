"""A long wait for an export is never silent: a heartbeat at growing intervals."""

from __future__ import annotations

import itertools
import logging

from tap_exports.engine.adapter import ExportAdapter
from tap_exports.engine.job import ExportJob
from tap_exports.engine.lifecycle import Timing, wait_until_done
from tap_exports.engine.retry import PollSchedule
from tap_exports.engine.status import ExportStatus

#: The export finishes after an hour of RUNNING, checked every ten seconds.
DONE_AFTER = 3600.0
POLL_EVERY = 10.0


class HourLongExport(ExportAdapter):
    """Reports RUNNING with a percentage until the fake clock passes DONE_AFTER."""

    provider = "Acme"

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    def create(self, window):  # pragma: no cover - not part of waiting
        raise NotImplementedError

    def poll(self, job: ExportJob) -> ExportJob:
        done = self.clock[0] >= DONE_AFTER
        status = ExportStatus.COMPLETE if done else ExportStatus.RUNNING
        return job.with_status(status, percent=min(100, int(self.clock[0] * 100 / DONE_AFTER)))

    def progress(self, job: ExportJob) -> str | None:
        return f"{job.detail['percent']}% done"

    def targets(self, job):  # pragma: no cover - not part of waiting
        raise NotImplementedError


def test_an_hour_of_running_logs_a_heartbeat_with_progress(caplog):
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    timing = Timing(PollSchedule(initial=POLL_EVERY, maximum=POLL_EVERY), timeout_seconds=7200)
    with caplog.at_level(logging.INFO, logger="tap_exports.lifecycle"):
        job = wait_until_done(
            HourLongExport(now),
            ExportJob("x1"),
            timing,
            stream="acme_things",
            sleep=sleep,
            clock=lambda: now[0],
        )
    assert job.status is ExportStatus.COMPLETE
    lines = [r.getMessage() for r in caplog.records if r.name == "tap_exports.lifecycle"]
    assert (
        lines[0] == "Acme acme_things: export x1 is RUNNING after 0.0 s (1 status checks), 0% done"
    )
    assert lines[-1].startswith("Acme acme_things: export x1 is COMPLETE after 3600")
    beats = lines[1:-1]
    assert all(" export x1 still RUNNING after " in line for line in beats)
    assert beats[0].startswith(
        "Acme acme_things: export x1 still RUNNING after 30.0 s (4 status checks), "
    )
    assert beats[0].endswith("0% done")
    assert 5 <= len(beats) <= 15, beats
    seconds = [float(line.split(" after ")[1].split()[0]) for line in beats]
    gaps = [later - earlier for earlier, later in itertools.pairwise(seconds)]
    assert gaps == sorted(gaps)
    assert max(gaps) <= 300
