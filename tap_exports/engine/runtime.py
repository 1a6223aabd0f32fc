"""What one run shares across its streams, handed to the engine as one object.

The tap builds it from the settings; the engine reads nothing else of the tap, so
no engine module imports it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tap_exports.engine.lifecycle import ExportPool, Timing
from tap_exports.engine.reading import FileReader
from tap_exports.engine.signals import Interruptions
from tap_exports.io.chunks import MAX_ROW_BYTES
from tap_exports.io.decompress import DecompressionLimits
from tap_exports.io.rows import BadRows


def utc_now() -> dt.datetime:
    """The wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Runtime:
    """Interruptions, the export pool, the clocks, the limits and the bad-row policy of one run."""

    #: Steps of the run that a termination signal waits for.
    interruptions: Interruptions
    #: Waits for several exports at once (``max_concurrent_exports``).
    pool: ExportPool
    #: How exports are polled (``poll_*``, ``export_timeout_seconds``).
    timing: Timing
    #: Bounds on decompressed export files.
    limits: DecompressionLimits = field(default_factory=DecompressionLimits)
    #: Longest row read; a longer one is a malformed row.
    max_row_bytes: int = MAX_ROW_BYTES
    #: Whether a malformed row stops the run or is skipped and counted.
    on_bad_rows: BadRows = "fail"
    #: Where a stream without a bookmark starts.
    start_date: dt.datetime | None = None
    #: When the run started: no bookmark moves past it (see state.FUTURE_TOLERANCE).
    started: dt.datetime = field(default_factory=utc_now)
    #: The wall clock that windows are planned against.
    now: Callable[[], dt.datetime] = utc_now
    #: The clock that polling measures its waits and its timeout with.
    monotonic: Callable[[], float] = time.monotonic
    #: Each stream's way to create exports of later windows, in sync order (see look_ahead).
    ahead: list[Callable[[], None]] = field(default_factory=list)

    def look_ahead(self) -> bool:
        """Let every stream create exports of later windows while there is room; False if
        no stream is registered.

        Called where every row handed on is already in a STATE (a window just closed, or
        a wait): another stream's STATE written then counts no row still in a buffer.
        Earlier streams come first: they are read first.
        """
        for step in self.ahead:
            step()
        return bool(self.ahead)

    def files(self, provider: str, stream: str, replication_key: str | None = None) -> FileReader:
        """How ``stream`` reads its files under this run's limits and bad-row policy."""
        return FileReader(
            provider,
            stream,
            limits=self.limits,
            max_row_bytes=self.max_row_bytes,
            on_bad_rows=self.on_bad_rows,
            replication_key=replication_key,
        )


def runtime_of(tap: object) -> Runtime:
    """The runtime a tap hands its bulk streams (its ``runtime`` attribute)."""
    runtime = getattr(tap, "runtime", None)
    if not isinstance(runtime, Runtime):
        msg = f"{type(tap).__name__} has no engine Runtime to run exports with"
        raise TypeError(msg)
    return runtime
