"""Faults fire on exactly the calls they were registered for, and are recorded."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest

from tap_exports_sandbox import Fault, FaultKind, FaultPlan

BOOM = Fault.status(500, {"message": "boom"})


def kinds(plan: FaultPlan, provider: str, operation: str, calls: int) -> list[list[str]]:
    return [[str(f.kind) for f in plan.take(provider, operation)] for _ in range(calls)]


def test_nth_and_times_select_consecutive_calls():
    plan = FaultPlan()
    plan.add("mailgun", "get", BOOM, nth=2, times=2)
    assert kinds(plan, "mailgun", "get", 5) == [[], ["status"], ["status"], [], []]


def test_times_none_fires_on_every_call_from_nth():
    plan = FaultPlan()
    plan.add("mailgun", "get", Fault.latency(0), nth=3, times=None)
    assert kinds(plan, "mailgun", "get", 5) == [[], [], ["latency"], ["latency"], ["latency"]]


def test_rules_only_count_matching_calls():
    plan = FaultPlan()
    plan.add("mailgun", "get", BOOM, nth=2)
    assert plan.take("mailgun", "list") == ()
    assert plan.take("batch", "get") == ()
    assert plan.take("mailgun", "get") == ()
    assert plan.take("mailgun", "get") == (BOOM,)


def test_wildcards_match_any_provider_or_operation():
    plan = FaultPlan()
    plan.add("*", "create", BOOM)
    plan.add("mailgun", "*", Fault.reset())
    assert plan.take("batch", "create") == (BOOM,)
    assert plan.take("mailgun", "poll") == (Fault.reset(),)
    assert plan.take("mailgun", "create") == ()


def test_several_faults_can_fire_on_one_call_and_all_are_recorded():
    plan = FaultPlan()
    plan.add("mailgun", "get", Fault.latency(0.01))
    plan.add("mailgun", "get", BOOM)
    plan.take("mailgun", "get")
    plan.take("mailgun", "get")
    assert [(f.operation, f.call, f.fault.kind) for f in plan.fired] == [
        ("get", 1, FaultKind.LATENCY),
        ("get", 1, FaultKind.STATUS),
    ]
    assert plan.calls("mailgun", "get") == 2


def test_random_mode_is_reproducible_from_its_seed():
    def run(seed: int) -> list[list[str]]:
        plan = FaultPlan()
        plan.randomize(seed, 0.3)
        return kinds(plan, "mailgun", "get", 200)

    first = run(11)
    assert first == run(11)
    assert first != run(12)
    assert 30 < sum(1 for fired in first if fired) < 90


def test_random_mode_can_target_operations():
    plan = FaultPlan()
    plan.randomize(1, 1.0, faults=[BOOM], operations={("mailgun", "storage_get")})
    assert plan.take("mailgun", "get") == ()
    assert plan.take("mailgun", "storage_get") == (BOOM,)


def test_rate_limited_sets_retry_after_as_seconds_or_http_date():
    assert Fault.rate_limited(2).headers == {"Retry-After": "2"}
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    header = Fault.rate_limited(when).headers["Retry-After"]
    assert header == "Wed, 02 Jan 2030 03:04:05 GMT"
    assert email.utils.parsedate_to_datetime(header) == when
    assert Fault.rate_limited().headers == {}


def test_faults_round_trip_through_json():
    fault = Fault.rate_limited(5, {"retry-seconds": 5})
    assert Fault.from_dict(fault.to_dict()) == fault
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_dict({"kind": "status", "cod": 500})


def test_bad_registrations_are_refused():
    plan = FaultPlan()
    with pytest.raises(ValueError, match="count from 1"):
        plan.add("mailgun", "get", BOOM, nth=0)
    with pytest.raises(ValueError, match="rate"):
        plan.randomize(1, 1.5)


def test_clear_forgets_everything():
    plan = FaultPlan()
    plan.add("mailgun", "get", BOOM, times=None)
    plan.take("mailgun", "get")
    plan.clear()
    assert plan.take("mailgun", "get") == ()
    assert plan.fired == []
    assert plan.calls("mailgun", "get") == 1
