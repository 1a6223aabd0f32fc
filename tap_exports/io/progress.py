"""Download progress for people watching the logs, at a pace that does not flood them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

LOGGER = logging.getLogger("tap_exports.io")

_MB = 1_000_000


class ProgressLogger:
    """Logs bytes done, percent and speed at most every ``interval`` seconds, and at the end."""

    def __init__(
        self,
        name: str,
        total: int | None = None,
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = LOGGER,
    ) -> None:
        self.name = name
        self.total = total
        self._interval = interval
        self._clock = clock
        self._logger = logger
        self._started = clock()
        self._last_report = self._started

    def update(self, done: int) -> None:
        """Note that ``done`` bytes have arrived; cheap enough to call per chunk."""
        now = self._clock()
        if now - self._last_report >= self._interval:
            self._last_report = now
            self._report("downloading", done, now)

    def finish(self, done: int) -> None:
        """Log the final size and average speed."""
        self._report("downloaded", done, self._clock())

    def _report(self, verb: str, done: int, now: float) -> None:
        rate = done / _MB / max(now - self._started, 1e-6)
        if self.total:
            self._logger.info(
                "%s: %s %.1f of %.1f MB (%.0f%%) at %.1f MB/s",
                self.name,
                verb,
                done / _MB,
                self.total / _MB,
                100 * done / self.total,
                rate,
            )
        else:
            self._logger.info("%s: %s %.1f MB at %.1f MB/s", self.name, verb, done / _MB, rate)
