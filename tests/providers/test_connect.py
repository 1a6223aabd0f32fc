"""The Connect streams run as users run them, against the sandbox over real sockets."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.errors import ProviderError, UnknownStatusError
from tap_exports.tap import TapExports
from tap_exports_sandbox import Sandbox, SandboxConfig
from tap_exports_sandbox.connect.emulator import ConnectEmulator
from tap_exports_sandbox.connect.events import ConnectOptions
from tap_exports_sandbox.faults import Fault
from tests.conftest import FAST_DELAYS, SandboxFactory
from tests.support import SyncResult, bookmark, run_cli, sync

S3_SETTINGS = ("s3_path", "s3_access_key_id", "s3_secret_access_key", "s3_endpoint_url")


def connect_config(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    """The sandbox's tap config with only Connect, its settings overridden (None drops one)."""
    providers = {emulator.name for emulator in sandbox.emulators}
    config = {key: value for key, value in sandbox.tap_config().items() if key not in providers}
    settings = {**sandbox.tap_config()["connect"], **overrides}
    config["connect"] = {key: value for key, value in settings.items() if value is not None}
    return config


def truth(sandbox: Sandbox, collection: str, start: int = 0, stop: int | None = None):
    return list(sandbox.emulator(ConnectEmulator).collections[collection].events(start, stop))


def by_time(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda record: (record["timestamp"], record["id"]))


def records(result: SyncResult) -> list[dict[str, Any]]:
    """Every RECORD, whatever its stream (to show that none was emitted)."""
    return [message for message in result.messages if message["type"] == "RECORD"]


@pytest.fixture
def large(sandbox_factory: SandboxFactory) -> Sandbox:
    """purchases holds more events than Connect answers inline; pageviews fits."""
    return sandbox_factory(
        SandboxConfig(delays=FAST_DELAYS),
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
    result = sync(connect_config(sandbox))
    assert result.records == {
        "connect_purchases": truth(sandbox, "purchases"),
        "connect_pageviews": truth(sandbox, "pageviews"),
    }
    assert sandbox.stats.exports_created("connect") == 0
    for collection in ("purchases", "pageviews"):
        saved = bookmark(result.state, f"connect_{collection}")
        assert set(saved) == {"replication_key", "replication_key_value"}
        assert saved["replication_key"] == "timestamp"
        assert truth(sandbox, collection)[-1]["timestamp"] < saved["replication_key_value"]
        end = dt.datetime.fromisoformat(saved["replication_key_value"])
        lag = dt.timedelta(seconds=60)
        assert before - lag < end <= dt.datetime.now(dt.UTC) - lag
    assert_no_secrets(sandbox, logs.text, json.dumps(result.messages))


@pytest.mark.parametrize(
    "s3_path", ["s3://{bucket}/exports/", "https://{bucket}.s3.amazonaws.com/exports/"]
)
def test_a_413_moves_the_window_to_an_s3_export_read_from_the_users_bucket(large, logs, s3_path):
    bucket = large.emulator(ConnectEmulator).bucket
    result = sync(connect_config(large, s3_path=s3_path.format(bucket=bucket)))
    assert result.records == {
        "connect_purchases": truth(large, "purchases"),
        "connect_pageviews": truth(large, "pageviews"),
    }
    assert large.stats.exports_created("connect", "purchases") == 1
    assert large.stats.exports_created("connect", "pageviews") == 0
    assert "exporting it to the S3 bucket instead" in logs.text
    assert "100% done" in logs.text
    assert "bytes transferred" in logs.text
    assert "export" not in bookmark(result.state, "connect_purchases")
    assert_no_secrets(large, logs.text, json.dumps(result.messages))


def test_without_s3_settings_a_413_splits_the_window_until_each_part_fits(large, logs):
    undeclared = ["purchases"]
    result = sync(connect_config(large, collections=undeclared, **dict.fromkeys(S3_SETTINGS)))
    assert by_time(result.records["connect_purchases"]) == truth(large, "purchases")
    assert large.stats.exports_created("connect") == 0
    assert "splitting it in two" in logs.text
    assert "export" not in bookmark(result.state, "connect_purchases")


def test_a_window_too_dense_to_split_asks_for_s3_settings(sandbox_factory):
    sandbox = sandbox_factory(
        connect=ConnectOptions(inline_limit=10),
        row_step_seconds=0.00005,
        rows={"connect/purchases": 100, "connect/pageviews": 0},
    )
    with pytest.raises(ProviderError, match="holds more events than Connect answers inline"):
        sync(connect_config(sandbox, **dict.fromkeys(S3_SETTINGS)))


def test_a_failed_export_stops_with_connects_reason_and_the_next_run_starts_anew(large):
    large.faults.add("connect", "create", Fault.fail_export())
    failed = run_cli(connect_config(large))
    assert failed.returncode == 1
    assert "Connect, stream connect_purchases, export " in failed.stderr
    assert "the provider reports the export failed: InternalError" in failed.stderr
    assert "connect_purchases" not in failed.records
    assert "export" not in bookmark(failed.state, "connect_purchases")
    again = sync(connect_config(large), failed.state)
    assert again.records["connect_purchases"] == truth(large, "purchases")
    assert large.stats.exports_created("connect", "purchases") == 2


def test_s3_credentials_connect_cannot_use_fail_the_export_without_leaking_them(large):
    result = run_cli(connect_config(large, s3_secret_access_key="not-the-right-secret"))
    assert result.returncode == 1
    assert "SignatureDoesNotMatch" in result.stderr
    assert "not-the-right-secret" not in result.stderr + json.dumps(result.messages)


def test_a_wrong_api_key_is_refused_naming_connect_and_not_the_key(large, logs):
    with pytest.raises(ProviderError) as refused:
        sync(connect_config(large, api_key="not-the-projects-key"))
    assert str(refused.value).startswith("Connect: HTTP 401 on GET /connect/events/")
    assert "check the provider's credentials" in str(refused.value)
    assert "not-the-projects-key" not in str(refused.value) + logs.text


def test_an_invalid_filter_fails_before_anything_is_emitted_quoting_connect(large):
    collections = [{"name": "purchases", "filter": {"price": {"in": 5}}}, "pageviews"]
    result = run_cli(connect_config(large, collections=collections))
    assert result.returncode == 1
    assert "filter: 'in' on 'price' expects a non-empty list" in result.stderr
    assert "fix the filter of collection 'purchases' in connect.collections" in result.stderr
    assert records(result) == []


def test_filters_narrow_what_is_read(large):
    collections = [{"name": "purchases", "filter": {"customer.tier": {"in": ["gold"]}}}]
    result = sync(connect_config(large, collections=collections))
    gold = [event for event in truth(large, "purchases") if event["customer"]["tier"] == "gold"]
    assert 0 < len(gold) < 400
    assert result.records == {"connect_purchases": gold}
    assert large.stats.exports_created("connect") == 0


def test_invalid_settings_are_refused_before_any_request(large):
    config = connect_config(
        large,
        collections=[
            {"name": "purchases", "filter": {"price": {"between": [1, 2]}}},
            "Purchases",
            {"name": "pageviews", "properties": {"url": "string"}},
        ],
        s3_path="ftp://files.example.com/exports/",
        s3_secret_access_key=None,
        s3_endpoint_url="not a url",
        lag_seconds=-5,
    )
    with pytest.raises(ConfigValidationError) as refused:
        TapExports(config=config)
    errors = "\n".join(refused.value.errors)
    assert "connect.collections: purchases: 'price' uses unknown operators ['between']" in errors
    assert "would both be stream 'connect_purchases'" in errors
    assert "the properties of 'pageviews' must map names to JSON schemas" in errors
    assert "connect.s3_secret_access_key: required when connect.s3_path is set" in errors
    assert "connect.s3_path: cannot find a bucket in S3 path" in errors
    assert "connect.s3_endpoint_url: must be an absolute http(s) URL" in errors
    assert "connect.lag_seconds" in errors
    assert large.stats.snapshot()["requests"] == {}


def test_consecutive_runs_neither_overlap_nor_leave_gaps(sandbox_factory):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sandbox = sandbox_factory(
        SandboxConfig(delays=FAST_DELAYS),
        connect=ConnectOptions(inline_limit=300),
        epoch=now - dt.timedelta(seconds=1000),
        rows={"connect/purchases": 1000, "connect/pageviews": 0},
    )
    first = sync(connect_config(sandbox, lag_seconds=500))
    middle = bookmark(first.state, "connect_purchases")["replication_key_value"]
    events = truth(sandbox, "purchases")
    older = [event for event in events if event["timestamp"] < middle]
    assert 400 < len(older) < 600
    assert first.records["connect_purchases"] == older
    second = sync(connect_config(sandbox, lag_seconds=0), first.state)
    assert second.records["connect_purchases"] == events[len(older) :]
    assert bookmark(second.state, "connect_purchases")["replication_key_value"] > middle
    assert sandbox.stats.exports_created("connect", "purchases") == 2


def test_an_export_connect_forgot_is_created_again_once(large):
    state = sync(connect_config(large)).state
    state["bookmarks"]["connect_purchases"] = {
        "export": {
            "id": "0123456789abcdef01234567",
            "window": {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"},
            "status": "RUNNING",
        }
    }
    again = sync(connect_config(large), state)
    assert again.records["connect_purchases"] == truth(large, "purchases")
    assert large.stats.exports_created("connect", "purchases") == 2


def test_an_unknown_status_word_names_connect_and_the_word(large):
    large.faults.add("connect", "get", Fault.status_word("Queued"), times=None)
    with pytest.raises(
        UnknownStatusError, match=r"^Connect, export \w+: unknown export status 'Queued'"
    ):
        sync(connect_config(large))


def test_transient_failures_cost_no_rows(large):
    large.faults.add("connect", "inline", Fault.rate_limited(0))
    large.faults.add(
        "connect", "get", Fault.status(503, {"errorMessage": "busy"}, {"Retry-After": "0"})
    )
    large.faults.add("connect", "storage_get", Fault.cut_after(20_000))
    result = sync(connect_config(large))
    assert result.records == {
        "connect_purchases": truth(large, "purchases"),
        "connect_pageviews": truth(large, "pageviews"),
    }
    fired = {(fault.operation, fault.fault.kind.value) for fault in large.faults.fired}
    assert fired == {("inline", "status"), ("get", "status"), ("storage_get", "cut_after")}


def test_malformed_lines_are_named_or_skipped_as_asked(large):
    large.faults.add("connect", "create", Fault.malformed_rows(3))
    failed = run_cli(connect_config(large))
    assert failed.returncode == 1
    assert ".json), line 252: invalid JSON" in failed.stderr
    assert "export" in bookmark(failed.state, "connect_purchases")
    skipped = sync({**connect_config(large), "on_bad_rows": "skip"}, failed.state)
    assert skipped.records["connect_purchases"] == truth(large, "purchases")
    assert large.stats.exports_created("connect", "purchases") == 1
