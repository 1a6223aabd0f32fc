"""An export in flight, and the window of data it covers, as kept in Singer state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from typing_extensions import override

from tap_exports.engine.status import ExportStatus
from tap_exports.instants import format_instant, parse_instant


@dataclass(frozen=True)
class Window:
    """A half-open time range ``[start, end)``; ``None`` means unbounded on that side."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @property
    def unbounded(self) -> bool:
        """True for a full-table export."""
        return self.start is None and self.end is None

    def split(self) -> tuple[Window, Window]:
        """Halve a bounded window; used when a provider says a window holds too much."""
        if self.start is None or self.end is None:
            msg = "only a bounded window can be split"
            raise ValueError(msg)
        middle = self.start + (self.end - self.start) / 2
        return Window(self.start, middle), Window(middle, self.end)

    def to_state(self) -> dict[str, str | None]:
        """Serialise for Singer state."""
        return {
            "start": format_instant(self.start) if self.start else None,
            "end": format_instant(self.end) if self.end else None,
        }

    @classmethod
    def from_state(cls, value: Mapping[str, Any] | None) -> Window:
        """Read back what :meth:`to_state` wrote."""
        if not value:
            return cls()
        start, end = value.get("start"), value.get("end")
        return cls(parse_instant(start) if start else None, parse_instant(end) if end else None)

    @override
    def __str__(self) -> str:
        if self.unbounded:
            return "full table"
        start = format_instant(self.start) if self.start else "-inf"
        end = format_instant(self.end) if self.end else "now"
        return f"[{start}, {end})"


@dataclass(frozen=True)
class ExportJob:
    """One provider export and what the tap knows about it.

    ``detail`` carries the provider's own fields (file lists, paths, monitor URLs)
    that the provider module needs to find the files; it is kept in state so that a
    resumed run does not need to ask the provider twice. It never holds credentials
    or signed URLs.
    """

    export_id: str
    window: Window = field(default_factory=Window)
    status: ExportStatus = ExportStatus.PENDING
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    detail: Mapping[str, Any] = field(default_factory=dict)
    rows_emitted: int = 0

    def with_status(self, status: ExportStatus, **detail: Any) -> ExportJob:
        """Return a copy with a new status and extra provider detail."""
        return replace(self, status=status, detail={**self.detail, **detail})

    def to_state(self) -> dict[str, Any]:
        """Serialise for Singer state (no secrets, no signed URLs)."""
        return {
            "id": self.export_id,
            "window": self.window.to_state(),
            "status": self.status.value,
            "created_at": format_instant(self.created_at),
            "detail": dict(self.detail),
            "rows_emitted": self.rows_emitted,
        }

    @classmethod
    def from_state(cls, value: Mapping[str, Any]) -> ExportJob:
        """Read back what :meth:`to_state` wrote."""
        return cls(
            export_id=str(value["id"]),
            window=Window.from_state(value.get("window")),
            status=ExportStatus(value.get("status", ExportStatus.PENDING.value)),
            created_at=parse_instant(value["created_at"])
            if value.get("created_at")
            else dt.datetime.now(dt.UTC),
            detail=dict(value.get("detail") or {}),
            rows_emitted=int(value.get("rows_emitted") or 0),
        )
