"""A typed view of one stream's (or partition's) state: its bookmark and its in-flight export.

The SDK keeps state as nested dicts and writes them as they are; this view is the one
place that knows the keys::

    {"replication_key": "...", "replication_key_value": "<bookmark>",
     "export": {"id": "...", "window": {...}, "status": "...", "rows_emitted": N, ...}}

``export`` is written as soon as the provider has accepted the export, its
``rows_emitted`` refreshed every few thousand rows while its file is read, and it is
removed only after the last row of its window has been emitted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from tap_exports.engine.job import ExportJob, Window
from tap_exports.errors import StateError
from tap_exports.instants import format_instant, parse_instant

EXPORT = "export"
BOOKMARK = "replication_key_value"
#: How far past the run's start a row may be dated (clocks differ) and still move a bookmark.
FUTURE_TOLERANCE = dt.timedelta(minutes=15)
_MEND_STATE = (
    "set it to the time of the last run that loaded good data (or remove it to start from "
    "start_date) in the state handed to the tap, then run again"
)


class ExportState:
    """Reads and moves one state entry; changes show in the SDK's state at once.

    ``where`` names the entry in messages (``bookmarks.<stream> (<source>)``);
    ``started`` is when the run started: no bookmark moves past it (plus
    :data:`FUTURE_TOLERANCE`).
    """

    def __init__(
        self,
        entry: dict[str, Any],
        replication_key: str | None,
        *,
        where: str,
        started: dt.datetime,
    ) -> None:
        self._entry = entry
        self.replication_key = replication_key
        self.where = where
        self.started = started

    @property
    def ceiling(self) -> dt.datetime:
        """The latest time a bookmark may move to."""
        return self.started + FUTURE_TOLERANCE

    @property
    def bookmark(self) -> dt.datetime | None:
        """Where the last completed window ended (or the newest row seen).

        A bookmark that is not a time, or is later than now, would make every run
        export nothing: it is refused, saying how to mend the state.
        """
        value = self._entry.get(BOOKMARK)
        if not value:
            return None
        try:
            when = parse_instant(str(value))
        except ValueError:
            msg = f"{self.where}.replication_key_value {value!r} is not a time"
            raise StateError(f"{msg}; {_MEND_STATE}") from None
        if when > self.ceiling:
            msg = f"{self.where}.replication_key_value {value} is in the future"
            raise StateError(f"{msg}; {_MEND_STATE}")
        return when

    @property
    def bookmark_text(self) -> str | None:
        """The bookmark as written in state."""
        value = self._entry.get(BOOKMARK)
        return str(value) if value else None

    @property
    def in_flight(self) -> ExportJob | None:
        """The export a run created and has not finished reading; a malformed one is refused."""
        saved = self._entry.get(EXPORT)
        if saved is None:
            return None
        problem = f"not an object but {type(saved).__name__}"
        if isinstance(saved, Mapping):
            try:
                return ExportJob.from_state(saved)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        msg = (
            f"{self.where}.export is not an export this tap wrote ({problem}); remove that key "
            "from the state to create a new export for its window (rows already loaded are "
            "loaded again), then run again"
        )
        raise StateError(msg)

    def remember(self, job: ExportJob) -> None:
        """Keep ``job`` as the export in flight (including its ``rows_emitted``)."""
        self._entry[EXPORT] = job.to_state()

    def forget(self) -> None:
        """Drop the export in flight: the next run creates a new one."""
        self._entry.pop(EXPORT, None)

    def count_emitted(self, rows: int) -> None:
        """Record how many rows of the export in flight the target has been handed."""
        export = self._entry.get(EXPORT)
        if isinstance(export, dict):
            export["rows_emitted"] = rows

    def complete(self, window: Window, newest: str | None) -> None:
        """Close ``window``: forget its export and move the bookmark to its end.

        A window open at the end moves the bookmark to the newest replication value
        seen instead; a window reaching into the future (from a state) covered rows up
        to the run's start only; the bookmark never moves back.
        """
        self.forget()
        if not self.replication_key:
            return
        end = window.end
        if end is not None and end > self.ceiling:
            end = self.started
        value = format_instant(end) if end else newest
        if value and value > str(self._entry.get(BOOKMARK) or ""):
            self._entry["replication_key"] = self.replication_key
            self._entry[BOOKMARK] = value
