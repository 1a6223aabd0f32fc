"""A typed view of one stream's (or partition's) state: its bookmark and its exports in flight.

The SDK keeps state as nested dicts and writes them as they are; this view is the one
place that knows the keys::

    {"replication_key": "...", "replication_key_value": "<bookmark>",
     "export": {"id": "...", "window": {...}, "status": "...", "rows_emitted": N, ...},
     "exports_ahead": [{"id": "...", "window": {...}, ...}, ...]}

``export`` is the oldest window's export (the one being read, or next to be read), as the
previous release wrote it; ``exports_ahead`` holds the exports created ahead for the
windows after it, oldest first. An export is written as soon as the provider has accepted
it, its ``rows_emitted`` refreshed every few thousand rows while its file is read, and it
is removed only after the last row of its window has been emitted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from tap_exports.engine.job import ExportJob, Window
from tap_exports.errors import StateError
from tap_exports.instants import format_instant, parse_instant

EXPORT = "export"
AHEAD = "exports_ahead"
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
    def in_flight(self) -> list[ExportJob]:
        """The exports a run created and has not finished reading, oldest window first.

        A malformed one is refused, saying how to mend the state.
        """
        return [self._job(saved, where) for where, saved in self._saved()]

    def export_for(self, window: Window) -> ExportJob | None:
        """The export in flight for ``window``, if any."""
        return next((job for job in self.in_flight if job.window == window), None)

    def _saved(self) -> list[tuple[str, object]]:
        head = self._entry.get(EXPORT)
        ahead = self._entry.get(AHEAD) or []
        if not isinstance(ahead, list):
            raise self._refusal(AHEAD, f"not a list but {type(ahead).__name__}")
        saved = [] if head is None else [(EXPORT, head)]
        return saved + [(f"{AHEAD}[{n}]", value) for n, value in enumerate(ahead)]

    def _job(self, saved: object, where: str) -> ExportJob:
        problem = f"not an object but {type(saved).__name__}"
        if isinstance(saved, Mapping):
            try:
                return ExportJob.from_state(saved)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        raise self._refusal(where, problem)

    def _refusal(self, where: str, problem: str) -> StateError:
        msg = (
            f"{self.where}.{where} is not an export this tap wrote ({problem}); remove that "
            "key from the state to create a new export for its window (rows already loaded "
            "are loaded again), then run again"
        )
        return StateError(msg)

    def _write(self, jobs: list[dict[str, Any]]) -> None:
        jobs.sort(key=lambda job: _window_order(Window.from_state(job.get("window"))))
        self._entry.pop(EXPORT, None)
        self._entry.pop(AHEAD, None)
        if jobs:
            self._entry[EXPORT] = jobs[0]
        if len(jobs) > 1:
            self._entry[AHEAD] = jobs[1:]

    def _others(self, window: Window) -> list[dict[str, Any]]:
        """The saved exports of every window but ``window``."""
        return [saved.to_state() for saved in self.in_flight if saved.window != window]

    def remember(self, job: ExportJob) -> None:
        """Keep ``job`` as its window's export in flight (including its ``rows_emitted``)."""
        self._write([*self._others(job.window), job.to_state()])

    def forget(self, window: Window) -> None:
        """Drop ``window``'s export: the next run creates a new one."""
        self._write(self._others(window))

    def count_emitted(self, window: Window, rows: int) -> None:
        """Record how many rows of ``window``'s export the target has been handed."""
        wanted = window.to_state()
        for saved in (self._entry.get(EXPORT), *(self._entry.get(AHEAD) or [])):
            if isinstance(saved, dict) and saved.get("window") == wanted:
                saved["rows_emitted"] = rows
                return

    def complete(self, window: Window, newest: str | None) -> None:
        """Close ``window``: forget its export and move the bookmark to its end.

        A window open at the end moves the bookmark to the newest replication value
        seen instead; a window reaching into the future (from a state) covered rows up
        to the run's start only; the bookmark never moves back.
        """
        self.forget(window)
        if not self.replication_key:
            return
        end = window.end
        if end is not None and end > self.ceiling:
            end = self.started
        value = format_instant(end) if end else newest
        # Never past a window still in flight: its rows are not all out yet.
        pending = [job.window.start for job in self.in_flight if job.window.start is not None]
        if value and pending:
            value = min(value, format_instant(min(pending)))
        if value and value > str(self._entry.get(BOOKMARK) or ""):
            self._entry["replication_key"] = self.replication_key
            self._entry[BOOKMARK] = value


def _window_order(window: Window) -> dt.datetime:
    """Oldest first; an export of an unbounded start sorts before any other."""
    return window.start or dt.datetime.min.replace(tzinfo=dt.UTC)
