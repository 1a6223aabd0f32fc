"""The ``tap-exports`` command with only Connect configured, as ``meltano run`` starts it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap_exports.sandbox import Sandbox, SandboxConfig, StatusDelays
from tap_exports.sandbox.connect import ConnectEmulator
from tap_exports.sandbox.connect_events import ConnectOptions

TAP = Path(sys.executable).with_name("tap-exports")
RUN_SECONDS = 120
STREAMS = ("connect_purchases", "connect_pageviews")


def write_config(sandbox: Sandbox, folder: Path) -> Path:
    config = sandbox.tap_config()
    providers = {emulator.name for emulator in sandbox.emulators}
    config = {key: value for key, value in config.items() if key not in providers - {"connect"}}
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def tap_command(config: Path, state: dict[str, Any] | None, folder: Path) -> list[str]:
    command = [str(TAP), "--config", str(config)]
    if state is not None:
        state_file = folder / "state.json"
        state_file.write_text(json.dumps(state))
        command += ["--state", str(state_file)]
    return command


def run_tap(config: Path, folder: Path, state: dict[str, Any] | None = None):
    done = subprocess.run(
        tap_command(config, state, folder),
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()], done.stderr


def counts(messages: list[dict[str, Any]]) -> dict[str, int]:
    found = dict.fromkeys(STREAMS, 0)
    for message in messages:
        if message["type"] == "RECORD":
            found[message["stream"]] += 1
    return found


def last_state(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m["value"] for m in reversed(messages) if m["type"] == "STATE")


def test_both_paths_load_exact_counts_and_a_second_run_continues_from_state(
    sandbox_factory, tmp_path: Path
):
    sandbox = sandbox_factory(
        SandboxConfig(delays=StatusDelays(running_after=0.05, complete_after=0.15)),
        connect=ConnectOptions(inline_limit=500),
        rows={"connect/purchases": 2000, "connect/pageviews": 300},
    )
    config = write_config(sandbox, tmp_path)
    messages, stderr = run_tap(config, tmp_path)
    expected = {stream: sandbox.truth()["streams"][stream] for stream in STREAMS}
    assert counts(messages) == expected == {"connect_purchases": 2000, "connect_pageviews": 300}
    schemas = {m["stream"]: m for m in messages if m["type"] == "SCHEMA"}
    assert schemas["connect_purchases"]["key_properties"] == ["id"]
    assert sandbox.stats.exports_created("connect", "purchases") == 1
    assert sandbox.stats.exports_created("connect", "pageviews") == 0
    settings = sandbox.tap_config()["connect"]
    assert settings["api_key"] not in stderr + json.dumps(messages)
    assert settings["s3_secret_access_key"] not in stderr + json.dumps(messages)
    state = last_state(messages)

    again, _ = run_tap(config, tmp_path, state)
    assert counts(again) == dict.fromkeys(STREAMS, 0)
    for stream in STREAMS:
        assert (
            last_state(again)["bookmarks"][stream]["replication_key_value"]
            > state["bookmarks"][stream]["replication_key_value"]
        )
    assert sandbox.stats.exports_created("connect") == 1


def test_a_run_killed_during_an_s3_export_is_resumed_without_a_new_export(
    sandbox_factory, tmp_path: Path
):
    sandbox = sandbox_factory(
        SandboxConfig(delays=StatusDelays(running_after=0.05, complete_after=3600)),
        connect=ConnectOptions(inline_limit=500),
        rows={"connect/purchases": 2000, "connect/pageviews": 300},
    )
    config = write_config(sandbox, tmp_path)
    with subprocess.Popen(
        tap_command(config, None, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as tap:
        assert tap.stdout is not None
        before_kill = []
        for line in tap.stdout:
            before_kill.append(json.loads(line))
            bookmarks = before_kill[-1].get("value", {}).get("bookmarks", {})
            if "export" in bookmarks.get("connect_purchases", {}):
                break
        tap.send_signal(signal.SIGKILL)
        tap.wait(RUN_SECONDS)
    state = last_state(before_kill)
    if "export" not in state["bookmarks"].get("connect_purchases", {}):
        pytest.fail("the tap never reported its export in state")
    in_flight = state["bookmarks"]["connect_purchases"]["export"]
    assert in_flight["status"] == "PENDING"
    assert counts(before_kill) == {"connect_purchases": 0, "connect_pageviews": 300}
    assert sandbox.stats.exports_created("connect", "purchases") == 1

    sandbox.advance_clock(3600)
    messages, stderr = run_tap(config, tmp_path, state)
    assert f"resuming export {in_flight['id']}" in stderr
    assert counts(messages) == {"connect_purchases": 2000, "connect_pageviews": 0}
    events = sandbox.emulator(ConnectEmulator).collections["purchases"].events()
    records = [
        m["record"]
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == "connect_purchases"
    ]
    assert records == list(events)
    assert sandbox.stats.exports_created("connect", "purchases") == 1
    assert "export" not in last_state(messages)["bookmarks"]["connect_purchases"]
