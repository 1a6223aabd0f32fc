"""The Connect streams run as users run them, against the sandbox over real sockets."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.errors import (
    DataError,
    ExportFailedError,
    ProviderError,
    UnknownStatusError,
)
from tap_exports.sandbox import Sandbox, SandboxConfig, StatusDelays
from tap_exports.sandbox.connect import ConnectEmulator
from tap_exports.sandbox.connect_events import ConnectOptions
from tap_exports.sandbox.faults import Fault
from tap_exports.tap import TapExports

FAST = StatusDelays(running_after=0.05, complete_after=0.15)
S3_SETTINGS = ("s3_path", "s3_access_key_id", "s3_secret_access_key", "s3_endpoint_url")


@dataclass
class Run:
    """What one sync wrote to stdout, and the error it ended with."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            message["record"]
            for message in self.messages
            if message["type"] == "RECORD" and message["stream"] == stream
        ]

    @property
    def state(self) -> dict[str, Any]:
        states = [message["value"] for message in self.messages if message["type"] == "STATE"]
        return states[-1] if states else {}

    def bookmark(self, stream: str) -> dict[str, Any]:
        return dict(self.state["bookmarks"][stream])


def connect_config(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    """The sandbox's tap config with only Connect, its settings overridden (None drops one)."""
    config = sandbox.tap_config()
    providers = {emulator.name for emulator in sandbox.emulators}
    config = {key: value for key, value in config.items() if key not in providers}
    settings = {**sandbox.tap_config()["connect"], **overrides}
    config["connect"] = {key: value for key, value in settings.items() if value is not None}
    return config


def sync(config: dict[str, Any], state: dict[str, Any] | None = None) -> Run:
    """``sync_all`` with stdout captured; an error is kept with the messages before it."""
    out = io.StringIO()
    run = Run()
    with contextlib.redirect_stdout(out):
        try:
            TapExports(config=config, state=state or {}).sync_all()
        except Exception as exc:
            run.error = exc
    run.messages = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return run


def truth(sandbox: Sandbox, collection: str, start: int = 0, stop: int | None = None):
    return list(sandbox.emulator(ConnectEmulator).collections[collection].events(start, stop))


def by_time(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda record: (record["timestamp"], record["id"]))


@pytest.fixture
def large(sandbox_factory) -> Sandbox:
    """purchases holds more events than Connect answers inline; pageviews fits."""
    return sandbox_factory(
        SandboxConfig(delays=FAST),
        connect=ConnectOptions(inline_limit=400),
        rows={"connect/purchases": 1000, "connect/pageviews": 150},
    )


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="tap_exports")
    return caplog


def assert_no_secrets(sandbox: Sandbox, *texts: str) -> None:
    settings = sandbox.tap_config()["connect"]
    for text in texts:
        assert settings["api_key"] not in text
        assert settings["s3_secret_access_key"] not in text


def test_small_collections_are_answered_inline(sandbox_factory, logs):
    sandbox = sandbox_factory(rows={"connect/purchases": 300, "connect/pageviews": 200})
    before = dt.datetime.now(dt.UTC)
    run = sync(connect_config(sandbox))
    assert run.error is None
    assert run.records("connect_purchases") == truth(sandbox, "purchases")
    assert run.records("connect_pageviews") == truth(sandbox, "pageviews")
    assert sandbox.stats.exports_created("connect") == 0
    for stream, collection in (
        ("connect_purchases", "purchases"),
        ("connect_pageviews", "pageviews"),
    ):
        bookmark = run.bookmark(stream)
        assert set(bookmark) == {"replication_key", "replication_key_value"}
        assert bookmark["replication_key"] == "timestamp"
        end = dt.datetime.fromisoformat(bookmark["replication_key_value"])
        assert truth(sandbox, collection)[-1]["timestamp"] < bookmark["replication_key_value"]
        assert (
            before - dt.timedelta(seconds=61)
            < end
            <= dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
        )
    assert_no_secrets(sandbox, logs.text, json.dumps(run.messages))


@pytest.mark.parametrize(
    "s3_path", ["s3://{bucket}/exports/", "https://{bucket}.s3.amazonaws.com/exports/"]
)
def test_a_413_moves_the_window_to_an_s3_export_read_from_the_users_bucket(large, logs, s3_path):
    bucket = large.emulator(ConnectEmulator).bucket
    run = sync(connect_config(large, s3_path=s3_path.format(bucket=bucket)))
    assert run.error is None
    assert run.records("connect_purchases") == truth(large, "purchases")
    assert run.records("connect_pageviews") == truth(large, "pageviews")
    assert large.stats.exports_created("connect", "purchases") == 1
    assert large.stats.exports_created("connect", "pageviews") == 0
    assert "exporting it to the S3 bucket instead" in logs.text
    assert "100% done" in logs.text
    assert "bytes transferred" in logs.text
    assert "export" not in run.bookmark("connect_purchases")
    assert_no_secrets(large, logs.text, json.dumps(run.messages))


def test_without_s3_settings_a_413_splits_the_window_until_each_part_fits(large, logs):
    run = sync(connect_config(large, **dict.fromkeys(S3_SETTINGS)))
    assert run.error is None
    assert by_time(run.records("connect_purchases")) == truth(large, "purchases")
    assert large.stats.exports_created("connect") == 0
    assert "splitting it in two" in logs.text
    assert "export" not in run.bookmark("connect_purchases")


def test_a_window_too_dense_to_split_asks_for_s3_settings(sandbox_factory):
    sandbox = sandbox_factory(
        connect=ConnectOptions(inline_limit=10),
        row_step_seconds=0.00005,
        rows={"connect/purchases": 100, "connect/pageviews": 0},
    )
    run = sync(connect_config(sandbox, **dict.fromkeys(S3_SETTINGS)))
    assert isinstance(run.error, ProviderError)
    assert "holds more events than Connect answers inline" in str(run.error)
    assert "connect.s3_path" in str(run.error)


def test_a_failed_export_stops_with_connects_reason_and_the_next_run_starts_anew(large):
    large.faults.add("connect", "create", Fault.fail_export())
    first = sync(connect_config(large))
    assert isinstance(first.error, ExportFailedError)
    message = str(first.error)
    assert message.startswith("Connect, stream connect_purchases, export ")
    assert "InternalError" in message
    assert first.records("connect_purchases") == []
    second = sync(connect_config(large), first.state)
    assert second.error is None
    assert second.records("connect_purchases") == truth(large, "purchases")
    assert large.stats.exports_created("connect", "purchases") == 2


def test_s3_credentials_connect_cannot_use_fail_the_export_without_leaking_them(large, logs):
    run = sync(connect_config(large, s3_secret_access_key="not-the-right-secret"))
    assert isinstance(run.error, ExportFailedError)
    assert "SignatureDoesNotMatch" in str(run.error)
    for text in (str(run.error), logs.text, json.dumps(run.messages)):
        assert "not-the-right-secret" not in text


def test_a_wrong_api_key_is_refused_naming_connect_and_not_the_key(large, logs):
    run = sync(connect_config(large, api_key="not-the-projects-key"))
    assert isinstance(run.error, ProviderError)
    assert str(run.error).startswith("Connect: HTTP 401 on GET /connect/events/")
    assert "check the provider's credentials" in str(run.error)
    for text in (str(run.error), logs.text, json.dumps(run.messages)):
        assert "not-the-projects-key" not in text


def test_an_invalid_filter_fails_before_anything_is_emitted_quoting_connect(large):
    collections = [{"name": "purchases", "filter": {"price": {"in": 5}}}, "pageviews"]
    run = sync(connect_config(large, collections=collections))
    assert isinstance(run.error, ProviderError)
    assert "filter: 'in' on 'price' expects a non-empty list" in str(run.error)
    assert "connect.collections" in str(run.error)
    assert [message for message in run.messages if message["type"] == "RECORD"] == []


def test_filters_narrow_what_is_read(large):
    collections = [{"name": "purchases", "filter": {"customer.tier": {"in": ["gold"]}}}]
    run = sync(connect_config(large, collections=collections))
    assert run.error is None
    gold = [event for event in truth(large, "purchases") if event["customer"]["tier"] == "gold"]
    assert 0 < len(gold) < 400
    assert run.records("connect_purchases") == gold
    assert large.stats.exports_created("connect") == 0


def test_invalid_settings_are_refused_before_any_request(large):
    config = connect_config(
        large,
        collections=[{"name": "purchases", "filter": {"price": {"between": [1, 2]}}}, "Purchases"],
        s3_secret_access_key=None,
        s3_endpoint_url="not a url",
        lag_seconds=-5,
    )
    with pytest.raises(ConfigValidationError) as refused:
        TapExports(config=config)
    errors = "\n".join(refused.value.errors)
    assert "connect.collections: purchases: 'price' uses unknown operators ['between']" in errors
    assert "would both be stream 'connect_purchases'" in errors
    assert "connect.s3_secret_access_key: required when connect.s3_path is set" in errors
    assert "connect.s3_endpoint_url: must be an absolute http(s) URL" in errors
    assert "connect.lag_seconds" in errors
    assert large.stats.snapshot()["requests"] == {}


def test_consecutive_runs_neither_overlap_nor_leave_gaps(sandbox_factory):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sandbox = sandbox_factory(
        SandboxConfig(delays=FAST),
        connect=ConnectOptions(inline_limit=300),
        epoch=now - dt.timedelta(seconds=1000),
        rows={"connect/purchases": 1000, "connect/pageviews": 0},
    )
    first = sync(connect_config(sandbox, lag_seconds=500))
    assert first.error is None
    middle = first.bookmark("connect_purchases")["replication_key_value"]
    events = truth(sandbox, "purchases")
    assert first.records("connect_purchases") == [e for e in events if e["timestamp"] < middle]
    second = sync(connect_config(sandbox, lag_seconds=0), first.state)
    assert second.error is None
    assert second.records("connect_purchases") == [e for e in events if e["timestamp"] >= middle]
    assert 400 < len(first.records("connect_purchases")) < 600
    assert second.bookmark("connect_purchases")["replication_key_value"] > middle


def test_an_export_connect_forgot_is_created_again_once(large):
    first = sync(connect_config(large))
    state = first.state
    state["bookmarks"]["connect_purchases"] = {
        "export": {
            "id": "0123456789abcdef01234567",
            "window": {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"},
            "status": "RUNNING",
        }
    }
    second = sync(connect_config(large), state)
    assert second.error is None
    assert second.records("connect_purchases") == truth(large, "purchases")
    assert large.stats.exports_created("connect", "purchases") == 2


def test_an_unknown_status_word_names_connect_and_the_word(large):
    large.faults.add("connect", "get", Fault.status_word("Queued"), times=None)
    run = sync(connect_config(large))
    assert isinstance(run.error, UnknownStatusError)
    assert "Connect" in str(run.error)
    assert "'Queued'" in str(run.error)


def test_transient_failures_cost_no_rows(large):
    large.faults.add("connect", "inline", Fault.rate_limited(0))
    large.faults.add(
        "connect", "get", Fault.status(503, {"errorMessage": "busy"}, {"Retry-After": "0"})
    )
    large.faults.add("connect", "storage_get", Fault.cut_after(20_000))
    run = sync(connect_config(large))
    assert run.error is None
    assert run.records("connect_purchases") == truth(large, "purchases")
    assert run.records("connect_pageviews") == truth(large, "pageviews")
    fired = {(fault.operation, fault.fault.kind.value) for fault in large.faults.fired}
    assert fired == {("inline", "status"), ("get", "status"), ("storage_get", "cut_after")}


def test_malformed_lines_are_named_or_skipped_as_asked(large):
    large.faults.add("connect", "create", Fault.malformed_rows(3))
    failed = sync(connect_config(large))
    assert isinstance(failed.error, DataError)
    assert "line 252: invalid JSON" in str(failed.error)
    assert "export" in failed.bookmark("connect_purchases")
    skipped = sync({**connect_config(large), "on_bad_rows": "skip"}, failed.state)
    assert skipped.error is None
    assert skipped.records("connect_purchases") == truth(large, "purchases")
    assert large.stats.exports_created("connect", "purchases") == 1
