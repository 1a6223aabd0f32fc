"""What the sandbox has seen: requests per route and exports created per provider and key.

Tests assert on these ("the tap created exactly one export for this list") rather than
on log output.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Thread-safe counters, reset with the sandbox."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._exports: Counter[tuple[str, str]] = Counter()

    def request(self, route: str) -> None:
        """Count one request to ``route`` (``"METHOD /rule"``)."""
        with self._lock:
            self._requests[route] += 1

    def export_created(self, provider: str, key: str) -> None:
        """Count one export created at ``provider`` for ``key`` (what it exports)."""
        with self._lock:
            self._exports[(provider, key)] += 1

    def requests(self, route: str) -> int:
        """Requests seen for ``route``."""
        with self._lock:
            return self._requests[route]

    def exports_created(self, provider: str, key: str | None = None) -> int:
        """Exports created at ``provider`` (for ``key`` only, when given)."""
        with self._lock:
            return sum(
                count
                for (seen, seen_key), count in self._exports.items()
                if seen == provider and key in {None, seen_key}
            )

    def snapshot(self) -> dict[str, Any]:
        """JSON form for the control API."""
        with self._lock:
            providers = sorted({provider for provider, _ in self._exports})
            return {
                "requests": dict(self._requests),
                "exports_created": {
                    provider: sum(n for (p, _), n in self._exports.items() if p == provider)
                    for provider in providers
                },
                "exports_by_key": {
                    provider: {key: n for (p, key), n in self._exports.items() if p == provider}
                    for provider in providers
                },
            }

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self._requests.clear()
            self._exports.clear()
