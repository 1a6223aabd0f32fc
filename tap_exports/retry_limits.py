"""How long one API call may keep retrying: the settings' defaults and the engine's bounds.

Shared by the settings and the engine, so neither has to import the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryLimits:
    """How long one API call may keep retrying, whatever the server asks for.

    A server may ask for any wait (``Retry-After: 999999``); each wait is cut to
    ``max_wait_seconds``, and a call gives up once its waits would pass
    ``max_total_seconds``, so a run never sleeps longer than its settings allow.
    """

    max_tries: int = 8
    max_wait_seconds: float = 300.0
    max_total_seconds: float = 900.0
