"""How long to wait: between polls of an export, and before retrying a request.

Both schedules live here so that "how long do we wait" has exactly one answer.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import requests

from tap_exports.retry_limits import RetryLimits

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class PollSchedule:
    """Jittered waits between status checks, each at most a third of the time waited so far.

    An export that finishes is therefore seen at most a third of its duration late (a
    20 s export by about 27 s), while the number of checks grows only with the
    logarithm of the duration. The first waits are ``initial``, so quick exports are
    seen quickly, and no wait is longer than ``maximum``. Jitter (each wait drawn from
    the upper quarter of its step) keeps parallel streams from polling in lockstep.
    """

    initial: float
    maximum: float
    share: float = 1 / 3

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield wait times forever; the caller bounds the loop with a deadline."""
        rng = rng or random.Random()
        waited = 0.0
        while True:
            step = min(self.maximum, max(self.initial, waited * self.share))
            delay = max(self.initial, rng.uniform(step * 0.75, step))
            waited += delay
            yield delay


def parse_retry_after(
    value: str | None, *, now: Callable[[], dt.datetime] | None = None
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date form)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now() if now else dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())


#: The limits of the run in this process, set from its settings when the tap starts.
_configured: list[RetryLimits] = [RetryLimits()]


def configure(limits: RetryLimits) -> None:
    """Make ``limits`` the default of every API client of this process's run."""
    _configured[0] = limits


def configured_limits() -> RetryLimits:
    """The limits set by :func:`configure` (defaults until then)."""
    return _configured[0]


def retry_delay(
    response: requests.Response | None,
    attempt: int,
    *,
    provider_hint: Callable[[requests.Response], float | None] | None = None,
    base: float = 1.0,
    cap: float = 120.0,
    max_wait: float = RetryLimits.max_wait_seconds,
) -> float:
    """Delay before retry number ``attempt`` (1-based), at most ``max_wait``.

    The server's own word wins: ``Retry-After``, then the provider's hint (Mailgun's
    ``retry-seconds`` body, Emarsys' ``X-RateLimit-Reset``), else capped
    exponential backoff with jitter. A negative hint means "now".
    """
    if response is not None:
        hinted = parse_retry_after(response.headers.get("Retry-After"))
        if hinted is None and provider_hint is not None:
            hinted = provider_hint(response)
        if hinted is not None:
            return min(max(0.0, hinted), max_wait)
    step = min(cap, max_wait, base * 2 ** (attempt - 1))
    return random.uniform(step / 2, step)
