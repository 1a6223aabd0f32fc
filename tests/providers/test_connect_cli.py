"""The ``tap-exports`` command with only Connect configured, as ``meltano run`` starts it."""

from __future__ import annotations

import json
from typing import Any

from tap_exports_sandbox import Sandbox, SandboxConfig, StatusDelays
from tap_exports_sandbox.connect.emulator import ConnectEmulator
from tap_exports_sandbox.connect.events import ConnectOptions
from tests.conftest import FAST_DELAYS, SandboxFactory
from tests.support import bookmark, run_cli

STREAMS = ("connect_purchases", "connect_pageviews")


def start(sandbox_factory: SandboxFactory, delays: StatusDelays) -> Sandbox:
    """purchases needs an S3 export (more than 500 events), pageviews is answered inline."""
    return sandbox_factory(
        SandboxConfig(delays=delays),
        connect=ConnectOptions(inline_limit=500),
        rows={"connect/purchases": 2000, "connect/pageviews": 300},
    )


def only_connect(sandbox: Sandbox) -> dict[str, Any]:
    others = {emulator.name for emulator in sandbox.emulators} - {"connect"}
    return {key: value for key, value in sandbox.tap_config().items() if key not in others}


def export_in_flight(message: dict[str, Any]) -> bool:
    bookmarks = message.get("value", {}).get("bookmarks", {})
    return message["type"] == "STATE" and "export" in bookmarks.get("connect_purchases", {})


def test_both_paths_load_exact_counts_and_a_second_run_continues_from_state(
    sandbox_factory: SandboxFactory,
):
    sandbox = start(sandbox_factory, FAST_DELAYS)
    config = only_connect(sandbox)
    first = run_cli(config)
    assert first.returncode == 0, first.stderr[-3000:]
    truth = sandbox.truth()["streams"]
    assert first.counts() == {stream: truth[stream] for stream in STREAMS}
    assert first.counts() == {"connect_purchases": 2000, "connect_pageviews": 300}
    schemas = {m["stream"]: m for m in first.messages if m["type"] == "SCHEMA"}
    assert schemas["connect_purchases"]["key_properties"] == ["id"]
    declared = schemas["connect_purchases"]["schema"]["properties"]
    assert declared["timestamp"]["format"] == "date-time"
    assert declared["customer"]["properties"]["tier"] == {"type": "string"}
    assert declared["price"] == {"type": "number"}
    assert sandbox.stats.exports_created("connect", "purchases") == 1
    assert sandbox.stats.exports_created("connect", "pageviews") == 0
    settings = config["connect"]
    everything = first.stderr + json.dumps(first.messages)
    assert settings["api_key"] not in everything
    assert settings["s3_secret_access_key"] not in everything

    second = run_cli(config, first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.counts() == {}
    for stream in STREAMS:
        before = bookmark(first.state, stream)["replication_key_value"]
        assert bookmark(second.state, stream)["replication_key_value"] > before
    assert sandbox.stats.exports_created("connect") == 1


def test_a_run_killed_during_an_s3_export_is_resumed_without_a_new_export(
    sandbox_factory: SandboxFactory,
):
    sandbox = start(sandbox_factory, StatusDelays(running_after=0.05, complete_after=3600))
    config = only_connect(sandbox)
    killed = run_cli(config, stop_when=export_in_flight)
    assert killed.returncode < 0
    in_flight = bookmark(killed.state, "connect_purchases")["export"]
    assert in_flight["status"] == "PENDING"
    assert "connect_purchases" not in killed.counts()
    assert sandbox.stats.exports_created("connect", "purchases") == 1

    sandbox.advance_clock(3600)
    resumed = run_cli(config, killed.state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming export {in_flight['id']}" in resumed.stderr
    events = sandbox.emulator(ConnectEmulator).collections["purchases"].events()
    assert resumed.records["connect_purchases"] == list(events)
    assert (
        len(resumed.records["connect_pageviews"]) + killed.counts().get("connect_pageviews", 0)
        == 300
    )
    assert sandbox.stats.exports_created("connect", "purchases") == 1
    assert "export" not in bookmark(resumed.state, "connect_purchases")
