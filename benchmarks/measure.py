"""One measured path: a fresh process, and what it cost (wall time, CPU time, peak RSS).

Every path runs in a process of its own. CPU time comes from ``os.wait4`` (that child
only). Peak RSS comes from the child's ``VmHWM`` in ``/proc``, sampled while it runs:
the kernel's ``ru_maxrss`` also counts the pages the child shared with this (large)
process between fork and exec, so it would report this process's size for every path.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import override

ROOT = Path(__file__).resolve().parents[1]

_METRIC = re.compile(r"METRIC: (\{.*\})\s*$", re.MULTILINE)
_FINISHED = re.compile(r"export (\S+) is (?:COMPLETE|EMPTY) after ([\d.]+) s")
_TAIL_LINES = 15
#: Children may write bytecode caches, as an installed tap has them; otherwise every process
#: would compile the SDK and the tap again before its first row.
CHILD_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


class RunFailedError(RuntimeError):
    """A measured process failed; the message ends with the tail of its log."""


@dataclass(frozen=True)
class Run:
    """What one process cost, and the log it wrote to stderr."""

    wall: float
    cpu: float
    peak_rss: int
    log: str


def run(args: Sequence[str], *, timeout: float, stdout: Path | None = None) -> Run:
    """Run ``args`` from the repository root with stdout to ``stdout`` (``/dev/null``)."""
    with tempfile.TemporaryFile() as log, Path(stdout or os.devnull).open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(args, stdout=out, stderr=log, cwd=ROOT, env=CHILD_ENV)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        peak = PeakMemory(process.pid)
        peak.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            killer.cancel()
            peak.join()
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    if process.returncode != 0:
        tail = "\n".join(text.splitlines()[-_TAIL_LINES:])
        reason = f"was stopped after {timeout:.0f} s" if wall >= timeout else "failed"
        msg = f"{' '.join(args[:3])} {reason} (exit {process.returncode}):\n{tail}"
        raise RunFailedError(msg)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall=wall, cpu=cpu, peak_rss=peak.peak, log=text)


class PeakMemory(threading.Thread):
    """Samples a process's high-water RSS (``VmHWM``) until the process is gone."""

    INTERVAL = 0.02

    def __init__(self, pid: int) -> None:
        super().__init__(name=f"peak-rss-{pid}", daemon=True)
        self.status = Path(f"/proc/{pid}/status")
        self.peak = 0

    @override
    def run(self) -> None:
        """Keep the last reading: ``VmHWM`` only grows while the process lives."""
        while True:
            try:
                text = self.status.read_text()
            except OSError:
                return
            fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
            if "VmHWM" not in fields:
                return
            self.peak = max(self.peak, int(fields["VmHWM"].split()[0]) * 1024)
            time.sleep(self.INTERVAL)


def metric_line(stream: str, rows: int) -> str:
    """A Singer ``record_count`` metric line, as the SDK logs it."""
    point = {"type": "counter", "metric": "record_count", "value": rows, "tags": {"stream": stream}}
    return f"METRIC: {json.dumps(point)}"


def records_counted(log: str, stream: str) -> int:
    """Rows of ``stream`` a process reported in its ``record_count`` metrics."""
    total = 0
    for match in _METRIC.finditer(log):
        point = json.loads(match.group(1))
        if point.get("metric") == "record_count" and point["tags"].get("stream") == stream:
            total += int(point["value"])
    return total


def completion_times(log: str) -> dict[str, float]:
    """Seconds from creation to the tap seeing it finished, per export id (from the tap's log).

    An export that finished EMPTY was waited for like any other (Batch's last window
    of events is one).
    """
    return {export: float(seconds) for export, seconds in _FINISHED.findall(log)}
