"""Batch end to end: the tap against the sandbox's Batch over real sockets.

Each test runs the tap the way users do (``TapExports(...).sync_all()`` or the CLI) and
compares every record with the sandbox's datasets, then checks the state left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import itertools
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_exports.engine.job import Window
from tap_exports.engine.records import as_dicts, is_records
from tap_exports.engine.rowcheck import LineRecords
from tap_exports.errors import DataError, ExportFailedError, ProviderError, UnknownStatusError
from tap_exports.instants import format_instant, parse_instant
from tap_exports.providers.batch.client import BatchApi
from tap_exports.providers.batch.exports import LAG, BatchEventsExport, BatchProfilesExport
from tap_exports.tap import TapExports
from tap_exports_sandbox import Fault, Sandbox, StatusDelays
from tap_exports_sandbox.batch.data import PROFILE_ATTRIBUTES, installation_ids
from tap_exports_sandbox.batch.emulator import BatchEmulator, EmulatedExport
from tap_exports_sandbox.batch.options import BatchOptions
from tests.conftest import SandboxFactory

TAP = Path(sys.executable).with_name("tap-exports")
DOWNLOAD_ROUTE = "GET /batch/2.11/exports/download"
STREAMS = ("batch_events", "batch_profiles")
COMMON = (
    "start_date",
    "poll_interval_seconds",
    "poll_max_interval_seconds",
    "export_timeout_seconds",
)


def batch_only(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    """The sandbox's tap config with only Batch configured."""
    config = sandbox.tap_config()
    return {**{key: config[key] for key in COMMON}, "batch": config["batch"], **overrides}


@dataclasses.dataclass
class Run:
    """The Singer messages one sync wrote."""

    messages: list[dict[str, Any]]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            message["record"]
            for message in self.messages
            if message["type"] == "RECORD" and message["stream"] == stream
        ]

    @property
    def state(self) -> dict[str, Any]:
        states: list[dict[str, Any]] = [
            message["value"] for message in self.messages if message["type"] == "STATE"
        ]
        return states[-1]

    def bookmark(self, stream: str) -> dict[str, Any]:
        return dict(self.state["bookmarks"][stream])


def parse(text: str) -> Run:
    return Run([json.loads(line) for line in text.splitlines() if line.strip()])


def sync(
    config: dict[str, Any], state: dict[str, Any] | None = None, out: io.StringIO | None = None
) -> Run:
    """Run the tap in this process, capturing what it writes to stdout."""
    out = out if out is not None else io.StringIO()
    with contextlib.redirect_stdout(out):
        TapExports(config=config, state=state or {}).sync_all()
    return parse(out.getvalue())


def expected_events(sandbox: Sandbox, rows: range | None = None) -> list[dict[str, Any]]:
    dataset = sandbox.datasets["batch/events"]
    span = rows or range(dataset.size)
    return list(dataset.rows(span.start, span.stop))


def expected_profiles(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": row["custom_id"],
            "installation_ids": installation_ids(row),
            **{name.removeprefix("$"): row[name] for name in PROFILE_ATTRIBUTES},
        }
        for row in sandbox.datasets["batch/profiles"].rows()
    ]


def emulated_exports(sandbox: Sandbox) -> list[EmulatedExport]:
    return sandbox.emulator(BatchEmulator).exports()


def part_count(sandbox: Sandbox) -> int:
    return sum(len(export.files) for export in emulated_exports(sandbox))


# Full syncs -----------------------------------------------------------------------


def test_sync_loads_every_event_and_profile_from_several_parts(sandbox, caplog):
    caplog.set_level(logging.INFO)
    config = batch_only(sandbox)
    run = sync(config)

    assert run.records("batch_events") == expected_events(sandbox)
    assert run.records("batch_profiles") == expected_profiles(sandbox)
    truth = sandbox.truth()["streams"]
    assert len(run.records("batch_events")) == truth["batch_events"]
    assert len(run.records("batch_profiles")) == truth["batch_profiles"]

    # 30 days of history and a 30-day window: one export with the data, one empty.
    assert sandbox.stats.exports_created("batch", "EVENTS") == 2
    assert sandbox.stats.exports_created("batch", "ATTRIBUTES") == 1
    exports = emulated_exports(sandbox)
    assert sorted(len(export.files) for export in exports)[0] == 0
    assert part_count(sandbox) >= 6
    assert sandbox.stats.requests(DOWNLOAD_ROUTE) == part_count(sandbox)

    listed = run.records("batch_exports")
    assert {export["id"] for export in listed} <= {export.id for export in exports}
    assert {export["scope"] for export in listed} == {"PROFILE_EVENTS", "PROFILE_ATTRIBUTES"}
    assert all(export["request_date"] and "requested_at" not in export for export in listed)

    events_state = run.bookmark("batch_events")
    assert "export" not in events_state
    end = parse_instant(events_state["replication_key_value"])
    assert events_state["replication_key"] == "timestamp"
    assert dt.timedelta(0) < dt.datetime.now(dt.UTC) - LAG - end < dt.timedelta(minutes=1)
    assert "export" not in run.bookmark("batch_profiles")

    text = json.dumps(run.messages) + caplog.text
    for secret in (config["batch"]["rest_api_key"], config["batch"]["project_key"]):
        assert secret not in text
    assert sandbox.storage.credential_leaks == []


def batch_with(sandbox: Sandbox, **batch: Any) -> dict[str, Any]:
    config = batch_only(sandbox)
    return {**config, "batch": {**config["batch"], **batch}}


def test_event_lines_with_other_field_names_fail_naming_needed_and_found(sandbox_factory):
    """Batch does not document its event lines: a shape without the key fields stops the run."""
    renamed = (("event", "type"), ("timestamp", "date"))
    sandbox = sandbox_factory(batch=BatchOptions(event_fields=renamed))
    out = io.StringIO()
    with pytest.raises(ProviderError) as error:
        sync(batch_with(sandbox), out=out)
    message = str(error.value)
    assert "Batch, stream batch_events: an event line lacks the fields the tap needs" in message
    assert "needed event, timestamp; found type, date, orchestration_id, orchestration_name" in (
        message.replace("identifiers, ", "")
    )
    assert "batch.event_fields" in message
    run = parse(out.getvalue())
    assert run.records("batch_events") == []
    assert all(
        "replication_key_value" not in message["value"]["bookmarks"].get("batch_events", {})
        for message in run.messages
        if message["type"] == "STATE"
    )


def test_event_fields_map_other_names_and_unknown_fields_pass_through(sandbox_factory):
    options = BatchOptions(event_fields=(("timestamp", "date"),), event_extras=True)
    sandbox = sandbox_factory(batch=options)
    run = sync(batch_with(sandbox, event_fields={"timestamp": "date"}))
    records = run.records("batch_events")
    assert [
        {key: value for key, value in record.items() if key not in {"channel", "message"}}
        for record in records
    ] == expected_events(sandbox)
    assert all(record["channel"] == record["event"].partition("_")[0] for record in records)
    assert all(record["message"] == {"language": "en"} for record in records)
    assert run.bookmark("batch_events")["replication_key"] == "timestamp"


def test_files_are_read_from_the_url_batch_gives_for_them(sandbox_factory):
    """The download route answers only under the version files[].url names."""
    sandbox = sandbox_factory(batch=BatchOptions(download_version="2.4"))
    run = sync(batch_only(sandbox))
    assert run.records("batch_events") == expected_events(sandbox)
    assert run.records("batch_profiles") == expected_profiles(sandbox)
    assert sandbox.stats.requests("GET /batch/2.4/exports/download") == part_count(sandbox)


def test_a_file_url_on_another_host_gets_no_keys(sandbox):
    settings = sandbox.tap_config()["batch"]
    api = BatchApi(settings["base_url"], settings["rest_api_key"], settings["project_key"])
    adapter = BatchProfilesExport(api, settings["attributes"], settings["identifiers"])
    with pytest.raises(ProviderError, match="not on the API host") as error:
        adapter.download_link("https://files.example.net/exports/download?id=file_1", "export_1")
    assert settings["rest_api_key"] not in str(error.value)
    api.close()


def test_gzipped_parts_are_sniffed(sandbox_factory):
    sandbox = sandbox_factory(batch=BatchOptions(gzip=True))
    run = sync(batch_only(sandbox))
    assert run.records("batch_events") == expected_events(sandbox)
    assert run.records("batch_profiles") == expected_profiles(sandbox)


def test_a_long_backfill_is_clamped_to_the_lookback_and_split(sandbox, caplog):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=120)
    config = batch_only(sandbox, start_date=format_instant(start))
    run = sync(config)

    assert run.records("batch_events") == expected_events(sandbox)
    assert "90-day lookback" in caplog.text
    events = [export for export in emulated_exports(sandbox) if export.export_type == "EVENTS"]
    assert len(events) == 3
    windows = [(parse_instant(e.request["from"]), parse_instant(e.request["to"])) for e in events]
    assert all(earlier[1] == later[0] for earlier, later in itertools.pairwise(windows))
    assert dt.datetime.now(dt.UTC) - windows[0][0] < dt.timedelta(days=90)
    assert sorted(bool(export.files) for export in events) == [False, False, True]
    assert run.bookmark("batch_events")["replication_key_value"] == format_instant(windows[-1][1])


# Incremental runs, through the CLI ------------------------------------------------


def run_cli(tmp_path: Path, config: dict[str, Any], state: dict[str, Any] | None = None) -> Run:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    command = [str(TAP), "--config", str(config_file)]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        command += ["--state", str(state_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return parse(done.stdout)


@pytest.fixture
def live_sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    """Four events a second, from 12 minutes ago into the next minutes."""
    epoch = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=12)
    return sandbox_factory(epoch=epoch, row_step_seconds=0.25, rows={"batch/events": 4000})


def test_cli_second_run_loads_only_the_new_window(live_sandbox, tmp_path):
    sandbox = live_sandbox
    emulator = sandbox.emulator(BatchEmulator)
    config = batch_only(sandbox)
    start = parse_instant(config["start_date"])

    first = run_cli(tmp_path, config)
    first_end = parse_instant(first.bookmark("batch_events")["replication_key_value"])
    assert first.records("batch_events") == expected_events(
        sandbox, emulator.events_between(start, first_end)
    )
    assert len(first.records("batch_profiles")) == sandbox.truth()["streams"]["batch_profiles"]

    for _ in range(100):  # until at least a few events have aged past the lag
        if dt.datetime.now(dt.UTC) - LAG > first_end + dt.timedelta(seconds=1.5):
            break
        time.sleep(0.05)
    second = run_cli(tmp_path, config, first.state)
    second_end = parse_instant(second.bookmark("batch_events")["replication_key_value"])
    new_window = emulator.events_between(first_end, second_end)
    assert len(new_window) >= 4
    assert second.records("batch_events") == expected_events(sandbox, new_window)
    windows = [
        (export.request["from"], export.request["to"])
        for export in emulated_exports(sandbox)
        if export.export_type == "EVENTS"
    ]
    assert windows == [
        (config["start_date"], format_instant(first_end)),
        (format_instant(first_end), format_instant(second_end)),
    ]


# Resuming ---------------------------------------------------------------------------


def test_a_killed_run_resumes_its_exports_instead_of_creating_new_ones(sandbox, tmp_path):
    config = batch_only(sandbox, start_date=format_instant(sandbox.epoch))  # one window
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    process = subprocess.Popen(
        [str(TAP), "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    state: dict[str, Any] = {}
    try:  # the tap blocks on the full pipe, so it is killed in the middle of its first file
        assert process.stdout is not None
        for line in itertools.islice(process.stdout, 10_000):
            message = json.loads(line)
            if message["type"] == "STATE":
                state = message["value"]
            if message["type"] == "RECORD":
                break
    finally:
        process.kill()
        process.wait(timeout=30)
    in_flight = {name: state["bookmarks"][name]["export"]["id"] for name in STREAMS}
    assert sandbox.stats.exports_created("batch") == 2

    run = sync(config, state)
    assert run.records("batch_events") == expected_events(sandbox)
    assert run.records("batch_profiles") == expected_profiles(sandbox)
    assert sandbox.stats.exports_created("batch", "ATTRIBUTES") == 1
    exports = emulated_exports(sandbox)
    assert [export.id for export in exports[:2]] == list(in_flight.values())
    # Only the few seconds since the killed run's window are exported anew.
    assert [parse_instant(export.request["from"]) for export in exports[2:]] == [
        parse_instant(state["bookmarks"]["batch_events"]["export"]["window"]["end"])
    ]
    assert all("export" not in run.bookmark(name) for name in STREAMS)


@pytest.mark.parametrize("status", [400, 404])
def test_an_export_batch_no_longer_knows_is_created_again(sandbox_factory, caplog, status):
    """400 is among Batch's documented answers, 404 is the plausible other one."""
    sandbox = sandbox_factory(batch=BatchOptions(unknown_export_status=status))
    config = batch_only(sandbox)
    lost = {"id": "export_gone", "window": Window().to_state(), "status": "RUNNING"}
    run = sync(config, {"bookmarks": {"batch_profiles": {"export": lost}}})
    assert run.records("batch_profiles") == expected_profiles(sandbox)
    assert sandbox.stats.exports_created("batch", "ATTRIBUTES") == 1
    assert "export_gone" in caplog.text
    assert "creating a new export" in caplog.text


def test_an_identical_export_still_running_is_adopted(sandbox_factory):
    sandbox = sandbox_factory(delays=StatusDelays(running_after=0.05, complete_after=3600))
    settings = sandbox.tap_config()["batch"]
    api = BatchApi(settings["base_url"], settings["rest_api_key"], settings["project_key"])
    adapter = BatchProfilesExport(api, settings["attributes"], settings["identifiers"])
    first = adapter.create(Window())
    again = BatchProfilesExport(api, settings["attributes"][::-1], settings["identifiers"])
    assert again.create(Window()).export_id == first.export_id
    assert sandbox.stats.exports_created("batch", "ATTRIBUTES") == 1
    sandbox.advance_clock(3600)
    for _ in range(500):  # until its files are written
        if adapter.poll(first).status.terminal:
            break
        time.sleep(0.02)
    assert adapter.create(Window()).export_id != first.export_id
    api.close()


# Downloads ----------------------------------------------------------------------------


class ClockJumpOnResume(logging.Handler):
    """Moves the sandbox clock past the links' 20 minutes when the tap's download is cut.

    The reader logs the cut on the tap's own thread before it asks again, so its next
    request always meets an expired link.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.jumped = False

    @override
    def emit(self, record: logging.LogRecord) -> None:
        if not self.jumped and "resuming" in record.getMessage():
            self.jumped = True
            self.sandbox.advance_clock(21 * 60)


@pytest.fixture
def clock_jump_on_resume(sandbox: Sandbox) -> Iterator[ClockJumpOnResume]:
    handler = ClockJumpOnResume(sandbox)
    logger = logging.getLogger("tap_exports.io")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_link_expiring_mid_download_loses_nothing(sandbox, clock_jump_on_resume, caplog):
    sandbox.faults.add("batch", "storage_get", Fault.cut_after(40_000))
    run = sync(batch_only(sandbox))

    assert clock_jump_on_resume.jumped
    assert "link expired or refused; asking the provider for a fresh one" in caplog.text
    assert run.records("batch_events") == expected_events(sandbox)
    assert run.records("batch_profiles") == expected_profiles(sandbox)
    assert [fired.operation for fired in sandbox.faults.fired] == ["storage_get"]
    assert sandbox.stats.requests(DOWNLOAD_ROUTE) == part_count(sandbox) + 1
    assert sandbox.storage.credential_leaks == []


def test_an_expired_link_is_asked_for_again(sandbox):
    sandbox.faults.add("batch", "download", Fault.expire_link(), times=2)
    run = sync(batch_only(sandbox))
    assert run.records("batch_events") == expected_events(sandbox)
    assert sandbox.stats.requests(DOWNLOAD_ROUTE) == part_count(sandbox) + 2


def test_malformed_lines_name_the_part_and_line_or_are_skipped(sandbox, caplog):
    sandbox.faults.add("batch", "create", Fault.malformed_rows(2))
    with pytest.raises(DataError, match=r"Batch export export_\w+ part 1 of \d+.*line \d+"):
        sync(batch_only(sandbox))
    sandbox.reset()
    sandbox.faults.add("batch", "create", Fault.malformed_rows(2))
    run = sync(batch_only(sandbox, on_bad_rows="skip"))
    assert run.records("batch_events") == expected_events(sandbox)
    skipped = re.findall(r"skipped (\d+) malformed rows in Batch export", caplog.text)
    assert sum(map(int, skipped)) == 2


# Errors ---------------------------------------------------------------------------------


def test_rate_limits_and_maintenance_are_retried(sandbox):
    too_many = {"error_message": "Too many requests", "error_code": "TOO_MANY_REQUESTS"}
    maintenance = {"error_message": "Maintenance, retry later", "error_code": "MAINTENANCE"}
    sandbox.faults.add("batch", "create", Fault.rate_limited(0.1, too_many))
    sandbox.faults.add("batch", "view", Fault.status(503, maintenance), times=2)
    sandbox.faults.add("batch", "list", Fault.rate_limited(0.1, too_many), nth=3)
    sandbox.faults.add("batch", "download", Fault.status(503, maintenance, {"Retry-After": "0"}))
    unexpected = {"error_message": "Unexpected error", "error_code": "SERVER_ERROR"}
    sandbox.faults.add("batch", "download", Fault.rate_limited(0.1, too_many), nth=2)
    sandbox.faults.add("batch", "download", Fault.status(500, unexpected), nth=3)
    run = sync(batch_only(sandbox))
    assert run.records("batch_events") == expected_events(sandbox)
    assert run.records("batch_profiles") == expected_profiles(sandbox)
    assert len(sandbox.faults.fired) == 7
    assert sandbox.stats.exports_created("batch") == 3


def test_batch_errors_show_status_code_and_what_to_do_without_secrets(sandbox, caplog):
    config = batch_only(sandbox)
    config["batch"] = {**config["batch"], "rest_api_key": "rest_not_the_right_key"}
    with pytest.raises(ProviderError) as error:
        sync(config)
    message = str(error.value)
    assert message.startswith("Batch")
    assert "HTTP 401" in message
    assert "AUTHENTICATION_INVALID" in message
    assert "batch.rest_api_key" in message
    assert "rest_not_the_right_key" not in message + caplog.text
    assert sandbox.stats.exports_created("batch") == 0


def test_a_failed_export_names_the_export_and_stream(sandbox):
    sandbox.faults.add("batch", "create", Fault.fail_export())
    with pytest.raises(ExportFailedError) as error:
        sync(batch_only(sandbox))
    failed = emulated_exports(sandbox)[0]
    assert f"export {failed.id}" in str(error.value)
    assert "stream batch_events" in str(error.value)
    assert "status ERROR" in str(error.value)


def test_an_unknown_status_word_is_an_error(sandbox):
    sandbox.faults.add("batch", "view", Fault.status_word("ARCHIVED"))
    with pytest.raises(UnknownStatusError, match="ARCHIVED"):
        sync(batch_only(sandbox))


def test_invalid_settings_fail_before_any_request(sandbox):
    config = batch_only(sandbox)
    config["batch"] = {
        **config["batch"],
        "events": ["email_open", "email_opened"],
        "attributes": ["$language", "language", "$shoe_size", ""],
        "identifiers": ["email"],
        "base_url": "api.batch.com/2.11",
        "event_fields": {"time": "date"},
    }
    with pytest.raises(ConfigValidationError) as error:
        TapExports(config=config)
    errors = "\n".join(error.value.errors)
    assert "batch.events: unknown event 'email_opened'" in errors
    assert "batch.attributes: 'language' and '$language' would both load into" in errors
    assert "batch.attributes: unknown native attribute '$shoe_size'" in errors
    assert "batch.attributes: not an attribute name: ''" in errors
    assert "batch.identifiers: unknown identifier 'email'" in errors
    assert "batch.base_url: must be an absolute http(s) URL" in errors
    assert "batch.event_fields: unknown field 'time'" in errors
    assert sandbox.report()["requests"] == {}


def test_listing_follows_the_cursor_across_pages(sandbox):
    settings = sandbox.tap_config()["batch"]
    api = BatchApi(settings["base_url"], settings["rest_api_key"], settings["project_key"])
    now = sandbox.clock.now()
    body = {
        "export_type": "EVENTS",
        "from": format_instant(now - dt.timedelta(hours=1)),
        "to": format_instant(now),
        "events": ["email_open"],
    }
    ids = [api.json("POST", "/profiles/export", json=body)["id"] for _ in range(205)]
    api.close()
    run = sync(batch_only(sandbox))
    listed = [export["id"] for export in run.records("batch_exports")]
    assert len(listed) == len(set(listed)) > 205  # three pages of at most 100
    assert set(ids) < set(listed) <= {export.id for export in emulated_exports(sandbox)}


def test_event_lines_as_batch_writes_them_are_read_as_columns():
    """The tap's guess of the line reads column by column, into what transform makes of it."""
    export = BatchEventsExport(None, ["open"], stream="batch_events")  # type: ignore[arg-type]
    lines: list[dict[str, Any]] = [
        {
            "identifiers": {"custom_id": "a", "installation_id": "i"},
            "event": "open",
            "timestamp": "2026-01-01T00:00:00Z",
            "orchestration_id": None,
            "orchestration_name": "Welcome",
        },
        {
            "identifiers": None,
            "event": "click",
            "timestamp": "2026-01-01T00:00:01Z",
            "orchestration_id": "o",
            "orchestration_name": None,
        },
    ]
    block = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    assert export.line_fields is not None
    read = LineRecords(export.line_fields, transform=export.transform_columns, key="timestamp")
    records = read(block)
    assert records is not None
    assert is_records(records)
    assert as_dicts(records) == [export.transform(dict(line)) for line in lines]


def test_event_identifiers_that_are_not_an_object_make_a_bad_row():
    export = BatchEventsExport(None, ["open"], stream="batch_events")  # type: ignore[arg-type]
    line = {"identifiers": "a", "event": "open", "timestamp": "2026-01-01T00:00:00Z"}
    with pytest.raises(TypeError, match="identifiers is not an object: str"):
        export.transform(line)
    # An empty list is how some JSON writers encode an empty object.
    assert export.transform({**line, "identifiers": []})["custom_id"] is None


def test_renamed_event_fields_are_read_as_dicts():
    export = BatchEventsExport(
        None,  # type: ignore[arg-type]
        ["open"],
        stream="batch_events",
        fields={"timestamp": "date"},
    )
    assert export.line_fields is None
