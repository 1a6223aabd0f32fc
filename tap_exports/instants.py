"""Instants as the tap writes them (RFC 3339 UTC, ``Z``) and reads them (ISO 8601).

Shared by the settings checks, the engine and the providers, so none of them has to
import another for a date.
"""

from __future__ import annotations

import datetime as dt


def parse_instant(value: str) -> dt.datetime:
    """Parse an ISO 8601 instant; a naive value is taken as UTC."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def format_instant(value: dt.datetime) -> str:
    """Render an instant as RFC 3339 UTC with a ``Z`` suffix."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
