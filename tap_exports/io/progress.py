"""Progress for people watching the logs, at a pace that does not flood them.

One reporter serves both long phases of an export: bytes downloaded (here, per file)
and rows emitted (in the engine, per export), so both read the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

LOGGER = logging.getLogger("tap_exports.io")


@dataclass(frozen=True)
class Measure:
    """What is counted and how it reads in a log line."""

    unit: str
    scale: float
    decimals: int
    ongoing: str
    finished: str

    def amount(self, value: float) -> str:
        return f"{value / self.scale:,.{self.decimals}f}"


DOWNLOAD = Measure("MB", 1_000_000, 1, "downloading", "downloaded")
EMISSION = Measure("rows", 1, 0, "emitting", "emitted")


class ProgressLogger:
    """Logs amount done, percent and speed at most every ``interval`` seconds, and at the end."""

    def __init__(
        self,
        name: str,
        total: int | None = None,
        *,
        measure: Measure = DOWNLOAD,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = LOGGER,
    ) -> None:
        self.name = name
        self.total = total
        self._measure = measure
        self._interval = interval
        self._clock = clock
        self._logger = logger
        self._started = clock()
        self._last_report = self._started

    def update(self, done: int) -> None:
        """Note that ``done`` units are done; cheap enough to call per chunk or per row."""
        now = self._clock()
        if now - self._last_report >= self._interval:
            self._last_report = now
            self._report(self._measure.ongoing, done, now)

    def finish(self, done: int) -> None:
        """Log the final amount and average speed."""
        self._report(self._measure.finished, done, self._clock())

    def _report(self, verb: str, done: int, now: float) -> None:
        measure = self._measure
        rate = measure.amount(done / max(now - self._started, 1e-6))
        if self.total:
            self._logger.info(
                "%s: %s %s of %s %s (%.0f%%) at %s %s/s",
                self.name,
                verb,
                measure.amount(done),
                measure.amount(self.total),
                measure.unit,
                100 * done / self.total,
                rate,
                measure.unit,
            )
        else:
            self._logger.info(
                "%s: %s %s %s at %s %s/s",
                self.name,
                verb,
                measure.amount(done),
                measure.unit,
                rate,
                measure.unit,
            )
