"""A tap piped into a target, as ``meltano run`` does: what each side cost.

Both processes start together; the wall time runs from the start to the end of the later
one. CPU time and peak RSS are each process's own (``os.wait4``, ``VmHWM``), so the
table can show where the time goes.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from benchmarks.measure import CHILD_ENV, ROOT, PeakMemory, RunFailedError

_TAIL_LINES = 15


@dataclass(frozen=True)
class Side:
    """One process of a pipeline."""

    cpu: float
    peak_rss: int
    log: str


@dataclass(frozen=True)
class Piped:
    """What one pipeline run cost."""

    wall: float
    tap: Side
    target: Side


def _reap(process: subprocess.Popen[bytes], log: IO[bytes], peak: PeakMemory) -> Side:
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    peak.join()
    log.seek(0)
    text = log.read().decode("utf-8", "replace")
    if process.returncode != 0:
        tail = "\n".join(text.splitlines()[-_TAIL_LINES:])
        msg = f"{process.args!r} failed (exit {process.returncode}):\n{tail}"
        raise RunFailedError(msg)
    return Side(usage.ru_utime + usage.ru_stime, peak.peak, text)


def run_pipe(tap: Sequence[str], target: Sequence[str], *, timeout: float) -> Piped:
    """Run ``tap | target`` from the repository root; the target's stdout is discarded."""
    with (
        tempfile.TemporaryFile() as tap_log,
        tempfile.TemporaryFile() as target_log,
        Path(os.devnull).open("wb") as devnull,
    ):
        started = time.monotonic()
        producer = subprocess.Popen(
            tap, stdout=subprocess.PIPE, stderr=tap_log, cwd=ROOT, env=CHILD_ENV
        )
        consumer = subprocess.Popen(
            target,
            stdin=producer.stdout,
            stdout=devnull,
            stderr=target_log,
            cwd=ROOT,
            env=CHILD_ENV,
        )
        assert producer.stdout is not None
        producer.stdout.close()  # the target alone holds the read end: it sees the tap end
        peaks = [PeakMemory(producer.pid), PeakMemory(consumer.pid)]
        for peak in peaks:
            peak.start()

        def stop() -> None:
            producer.kill()
            consumer.kill()

        killer = threading.Timer(timeout, stop)
        killer.start()
        try:
            tap_side = _reap(producer, tap_log, peaks[0])
            target_side = _reap(consumer, target_log, peaks[1])
        finally:
            killer.cancel()
            for process in (producer, consumer):
                if process.returncode is None:
                    process.kill()
                    process.wait()
        return Piped(time.monotonic() - started, tap_side, target_side)
