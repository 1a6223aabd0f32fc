"""Mailgun exports as the emulator keeps them: lifecycle, expiry and lookup (§1.3 to §1.5)."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tap_exports_sandbox.config import StatusDelays
from tap_exports_sandbox.mailgun.datasets import MailgunList

LIFETIME = dt.timedelta(hours=24)
REQUESTED, PROCESSING, COMPLETE, FAILED = "requested", "processing", "complete", "failed"


def normalize_url(raw: str) -> str:
    """The export key Mailgun echoes back: no scheme, host, slashes or ``v3/`` prefix."""
    path = urlsplit(raw).path if "://" in raw else raw
    return path.strip().strip("/").removeprefix("v3/").strip("/")


def new_export_id(created_at: dt.datetime) -> str:
    """24 hex digits, ObjectId-like: creation second, then random."""
    return f"{int(created_at.timestamp()):08x}{secrets.token_hex(8)}"


@dataclass
class MailgunExport:
    """One export: which list, how many rows it captured, and how far it has got.

    ``rows`` is the list's size at creation; rows added later belong to the next export.
    The status follows the sandbox's delays, and stays ``processing`` until the file
    has been written to storage.
    """

    id: str
    source: MailgunList
    rows: int
    created_at: dt.datetime
    fails: bool = False
    failure_word: str | None = FAILED
    malformed_rows: int = 0
    #: Cells that replace the first rows' values of one column: ``(column, values)``.
    row_values: tuple[str, tuple[str, ...]] | None = None
    file_ready: threading.Event = field(default_factory=threading.Event)

    @property
    def object_key(self) -> str:
        """Where the CSV file lives in the sandbox's Mailgun bucket."""
        return f"exports/{self.id}.csv"

    def status(self, now: dt.datetime, delays: StatusDelays) -> str:
        """Mailgun's word for where the export stands at ``now``."""
        age = (now - self.created_at).total_seconds()
        if age < delays.running_after:
            return REQUESTED
        if age < delays.complete_after:
            return PROCESSING
        if self.fails:
            return self.failure_word or PROCESSING
        return COMPLETE if self.file_ready.is_set() else PROCESSING

    def expired(self, now: dt.datetime) -> bool:
        """Mailgun keeps exports for 24 hours."""
        return now >= self.created_at + LIFETIME


class ExportBook:
    """The account's exports; expired ones vanish on the next lookup."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exports: dict[str, MailgunExport] = {}

    def _prune(self, now: dt.datetime) -> None:
        self._exports = {
            key: export for key, export in self._exports.items() if not export.expired(now)
        }

    def add_unless_running(self, export: MailgunExport, delays: StatusDelays) -> bool:
        """Record ``export`` unless one for the same url is still requested or processing."""
        now = export.created_at
        with self._lock:
            self._prune(now)
            if any(
                other.source.url == export.source.url
                and other.status(now, delays) in {REQUESTED, PROCESSING}
                for other in self._exports.values()
            ):
                return False
            self._exports[export.id] = export
            return True

    def live(self, now: dt.datetime) -> list[MailgunExport]:
        """Exports younger than 24 hours, oldest first."""
        with self._lock:
            self._prune(now)
            return sorted(self._exports.values(), key=lambda export: export.created_at)

    def find(self, export_id: str, now: dt.datetime) -> MailgunExport | None:
        """A live export by id."""
        with self._lock:
            self._prune(now)
            return self._exports.get(export_id)

    def clear(self) -> None:
        """Forget every export."""
        with self._lock:
            self._exports.clear()
