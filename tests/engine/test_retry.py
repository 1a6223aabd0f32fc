"""The poll schedule and retry delays: bounded, jittered, and the server's word first."""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import random

import requests

from tap_exports.engine.retry import PollSchedule, parse_retry_after, retry_delay


def test_poll_schedule_grows_to_the_cap_and_stays_in_bounds():
    schedule = PollSchedule(initial=2, maximum=60)
    delays = list(itertools.islice(schedule.delays(random.Random(7)), 40))
    assert all(2 <= d <= 60 for d in delays)
    assert delays[:4] == [2, 2, 2, 2]
    waited = 0.0
    for delay in delays:
        # never more than a third of the time already waited (or the first wait) ...
        assert delay <= max(2, waited / 3) + 1e-9
        # ... and, once capped, from the upper quarter of the cap
        if waited / 3 >= 60:
            assert delay >= 45
        waited += delay
    assert waited / 3 > 60


def test_a_one_minute_export_costs_a_dozen_checks_and_is_seen_within_a_third():
    schedule = PollSchedule(initial=2, maximum=60)
    for seed in range(20):
        waited, checks = 0.0, 0
        for delay in schedule.delays(random.Random(seed)):
            waited += delay
            checks += 1
            if waited >= 60:
                break
        assert waited <= 60 * 4 / 3
        assert checks <= 14


def test_poll_schedule_jitter_differs_between_streams():
    schedule = PollSchedule(initial=1, maximum=30)
    first = list(itertools.islice(schedule.delays(random.Random(1)), 6))
    second = list(itertools.islice(schedule.delays(random.Random(2)), 6))
    assert first != second


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("7") == 7.0
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=lambda: now) == 30.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


def _response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return response


def test_retry_delay_prefers_header_then_provider_hint_then_backoff():
    assert retry_delay(_response(429, {"Retry-After": "3"}), 1, provider_hint=lambda r: 50) == 3
    assert retry_delay(_response(429), 1, provider_hint=lambda r: 50) == 50
    for attempt in range(1, 6):
        delay = retry_delay(_response(503), attempt, base=1, cap=8)
        step = min(8, 2 ** (attempt - 1))
        assert step / 2 <= delay <= step
