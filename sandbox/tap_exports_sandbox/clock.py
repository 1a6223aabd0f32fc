"""The sandbox's notion of "now": real time plus an offset tests can move forward.

Provider behaviour measured in hours (24 h export expiry, 20-minute links) must be
testable without waiting, so every time decision in the sandbox reads this clock.
"""

from __future__ import annotations

import datetime as dt
import threading


class SandboxClock:
    """Real UTC time shifted by an offset that only ever grows until :meth:`reset`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = dt.timedelta()

    def now(self) -> dt.datetime:
        """The current sandbox time, timezone-aware UTC."""
        with self._lock:
            offset = self._offset
        return dt.datetime.now(dt.UTC) + offset

    def advance(self, seconds: float) -> dt.datetime:
        """Jump forward; going backwards is refused because expiry logic assumes monotonic time."""
        if seconds < 0:
            msg = "the sandbox clock only moves forward"
            raise ValueError(msg)
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> None:
        """Return to real time."""
        with self._lock:
            self._offset = dt.timedelta()
