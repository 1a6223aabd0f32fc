"""The Batch emulator over real HTTP, checked against Batch's published OpenAPI document."""

from __future__ import annotations

import base64
import builtins
import datetime as dt
import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tap_exports_sandbox import Fault, Sandbox
from tap_exports_sandbox.batch.data import event_line, profile_line
from tap_exports_sandbox.batch.emulator import BatchEmulator
from tap_exports_sandbox.batch.options import BatchOptions

SPEC_PATH = Path(__file__).parents[1] / "providers" / "specs" / "batch-exports-list.openapi.json"
SPEC_URI = "urn:batch-exports-openapi"
LIST_RESPONSE = "/paths/~1exports~1list/get/responses/200/content/application~1json/schema"
_WAIT_SECONDS = 10.0
STATUS_ORDER = ["CREATED", "PENDING", "RUNNING", "SUCCESS", "ERROR"]


def spec_validator(pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` inside Batch's OpenAPI document."""
    spec = json.loads(SPEC_PATH.read_text("utf-8"))
    registry = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=registry)


REQUEST = spec_validator("/components/schemas/request")
LIST_PAGE = spec_validator(LIST_RESPONSE)
ERROR = spec_validator("/components/schemas/Error")


class BatchClient:
    """Calls the emulated Batch API with the sandbox's keys, like the tap does."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.api = settings["base_url"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {settings['rest_api_key']}"
        self.session.headers["X-Batch-Project"] = settings["project_key"]

    def create(self, body: dict[str, Any]) -> requests.Response:
        return self.session.post(f"{self.api}/profiles/export", json=body, timeout=10)

    def view(self, export_id: str) -> requests.Response:
        return self.session.get(f"{self.api}/exports/view", params={"id": export_id}, timeout=10)

    def list(self, **params: Any) -> requests.Response:
        return self.session.get(f"{self.api}/exports/list", params=params, timeout=10)

    def download(self, file_id: str) -> requests.Response:
        return self.session.get(
            f"{self.api}/exports/download",
            params={"id": file_id},
            allow_redirects=False,
            timeout=10,
        )

    def wait_until_done(self, export_id: str) -> dict[str, Any]:
        """Poll until the export leaves CREATED/PENDING/RUNNING; returns its view."""
        seen: builtins.list[str] = []
        deadline = time.monotonic() + _WAIT_SECONDS
        while time.monotonic() < deadline:
            export = self.view(export_id).json()
            REQUEST.validate(export)
            if not seen or seen[-1] != export["status"]:
                seen.append(export["status"])
            if export["status"] not in {"CREATED", "PENDING", "RUNNING"}:
                assert seen == sorted(seen, key=STATUS_ORDER.index)
                return dict(export)
            time.sleep(0.02)
        pytest.fail(f"export {export_id} did not finish within {_WAIT_SECONDS} s")

    def lines(self, file_id: str) -> builtins.list[dict[str, Any]]:
        """One part's rows, fetched from its link without the Batch headers."""
        answer = self.download(file_id)
        assert answer.status_code == 307
        content = requests.get(answer.headers["Location"], timeout=10).content
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
        return [json.loads(line) for line in content.decode().splitlines()]


@pytest.fixture
def batch(sandbox: Sandbox) -> BatchClient:
    return BatchClient(sandbox.tap_config()["batch"])


def instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def all_events(sandbox: Sandbox) -> dict[str, Any]:
    events = sandbox.emulator(BatchEmulator).events
    return {
        "export_type": "EVENTS",
        "from": instant(events.epoch),
        "to": instant(sandbox.clock.now()),
        "events": sandbox.tap_config()["batch"]["events"],
        "identifiers": ["custom_id"],
    }


def test_events_export_comes_in_ordered_parts_holding_every_event(sandbox, batch):
    created = batch.create(all_events(sandbox))
    assert created.status_code == 202
    export = batch.wait_until_done(created.json()["id"])
    assert export["status"] == "SUCCESS"
    assert export["scope"] == "PROFILE_EVENTS"
    assert export["request_date"] == export["requested_at"]
    parts = export["files"]
    assert [item["part"] for item in parts] == list(range(1, len(parts) + 1))
    assert len(parts) >= 3
    rows = [row for item in parts for row in batch.lines(item["id"])]
    truth = sandbox.datasets["batch/events"].rows()
    assert rows == [event_line(row, ["custom_id"]) for row in truth]
    for item in parts:
        link = batch.download(item["id"]).headers["Location"]
        assert len(requests.get(link, timeout=10).content) == item["size"]
    assert sandbox.storage.credential_leaks == []
    assert sandbox.stats.exports_created("batch", "EVENTS") == 1


def test_profiles_export_holds_only_the_requested_attributes(sandbox, batch):
    body = {
        "export_type": "ATTRIBUTES",
        "attributes": ["$email_address", "plan", "$phone_number"],
        "identifiers": ["installation_ids"],
    }
    export = batch.wait_until_done(batch.create(body).json()["id"])
    rows = [row for item in export["files"] for row in batch.lines(item["id"])]
    truth = sandbox.datasets["batch/profiles"].rows()
    expected = [profile_line(row, body["attributes"], body["identifiers"]) for row in truth]
    assert rows == expected
    assert set(rows[0]["attributes"]) == {"$email_address", "plan"}
    assert export["request"] == body


def test_an_events_window_is_half_open_and_filtered_by_event(sandbox, batch):
    events = sandbox.datasets["batch/events"]
    body = {
        **all_events(sandbox),
        "from": instant(events.timestamp(100)),
        "to": instant(events.timestamp(300)),
        "events": ["email_open", "push_sent"],
    }
    export = batch.wait_until_done(batch.create(body).json()["id"])
    rows = [row for item in export["files"] for row in batch.lines(item["id"])]
    expected = [
        event_line(row, ["custom_id"])
        for row in events.rows(100, 300)
        if row["event"] in {"email_open", "push_sent"}
    ]
    assert rows == expected
    assert 0 < len(rows) < 200


def test_an_export_without_data_succeeds_with_no_files(sandbox, batch):
    now = sandbox.clock.now()
    body = {**all_events(sandbox), "from": instant(now - dt.timedelta(hours=1))}
    export = batch.wait_until_done(batch.create(body).json()["id"])
    assert export["status"] == "SUCCESS"
    assert export["files"] == []


def test_links_live_twenty_minutes_of_sandbox_time(sandbox, batch):
    export = batch.wait_until_done(batch.create(all_events(sandbox)).json()["id"])
    file_id = export["files"][0]["id"]
    link = batch.download(file_id).headers["Location"]
    sandbox.advance_clock(20 * 60 - 5)
    assert requests.get(link, timeout=10).status_code == 200
    sandbox.advance_clock(5)
    expired = requests.get(link, timeout=10)
    assert expired.status_code == 403
    assert b"Request has expired" in expired.content
    assert batch.lines(file_id) == batch.lines(file_id)


def test_requests_outside_the_lookback_or_malformed_are_400s(sandbox, batch):
    now = sandbox.clock.now()
    refused = {
        "from older than 90 days": {
            **all_events(sandbox),
            "from": instant(now - dt.timedelta(days=90, minutes=1)),
        },
        "from after to": {**all_events(sandbox), "from": instant(now), "to": instant(now)},
        "unknown event": {**all_events(sandbox), "events": ["email_opened"]},
        "no events": {**all_events(sandbox), "events": []},
        "missing from": {"export_type": "EVENTS", "to": "now", "events": ["email_open"]},
        "nothing to export": {"export_type": "ATTRIBUTES"},
        "unknown type": {"export_type": "SEGMENTS"},
    }
    for reason, body in refused.items():
        answer = batch.create(body)
        assert answer.status_code == 400, reason
        ERROR.validate(answer.json())
        assert answer.json()["error_code"] in {"MALFORMED_PARAMETER", "MISSING_PARAMETER"}
    assert batch.create({**all_events(sandbox), "to": "now"}).status_code == 202
    assert sandbox.stats.exports_created("batch") == 1


def test_keys_are_checked_on_every_route(sandbox, batch):
    settings = sandbox.tap_config()["batch"]
    wrong = BatchClient({**settings, "rest_api_key": "rest_wrong"})
    for answer in (wrong.list(), wrong.view("export_x"), wrong.download("file_x")):
        assert answer.status_code == 401
        ERROR.validate(answer.json())
        assert answer.json()["error_code"] == "AUTHENTICATION_INVALID"
    other_project = BatchClient({**settings, "project_key": "project_other"})
    assert other_project.create(all_events(sandbox)).status_code == 401
    batch.session.headers.pop("X-Batch-Project")
    assert batch.list().status_code == 401
    assert sandbox.stats.exports_created("batch") == 0


@pytest.mark.parametrize("status", [400, 401])
def test_a_missing_project_header_is_refused_as_the_mode_says(sandbox_factory, status):
    sandbox = sandbox_factory(batch=BatchOptions(missing_project_status=status))
    client = BatchClient(sandbox.tap_config()["batch"])
    client.session.headers.pop("X-Batch-Project")
    answer = client.list()
    assert answer.status_code == status
    ERROR.validate(answer.json())


@pytest.mark.parametrize("status", [400, 404])
def test_an_unknown_export_or_file_is_answered_as_the_mode_says(sandbox_factory, status):
    sandbox = sandbox_factory(batch=BatchOptions(unknown_export_status=status))
    client = BatchClient(sandbox.tap_config()["batch"])
    for answer in (client.view("export_unknown"), client.download("file_unknown")):
        assert answer.status_code == status
        ERROR.validate(answer.json())


def test_event_lines_can_be_shaped_otherwise_and_files_linked_under_another_version(
    sandbox_factory,
):
    options = BatchOptions(
        event_fields=(("event", "type"), ("timestamp", "date")),
        event_extras=True,
        download_version="2.4",
    )
    sandbox = sandbox_factory(default_rows=5, batch=options)
    client = BatchClient(sandbox.tap_config()["batch"])
    export = client.wait_until_done(client.create(all_events(sandbox)).json()["id"])
    [part] = export["files"]
    assert part["url"].endswith(f"/batch/2.4/exports/download?id={part['id']}")
    assert client.download(part["id"]).status_code == 404
    moved = client.session.get(part["url"], allow_redirects=False, timeout=10)
    assert moved.status_code == 307
    lines = [
        json.loads(line)
        for line in requests.get(moved.headers["Location"], timeout=10).text.splitlines()
    ]
    assert set(lines[0]) == {
        "identifiers",
        "type",
        "date",
        "orchestration_id",
        "orchestration_name",
        "channel",
        "message",
    }


def test_list_pages_follow_the_cursor_newest_first(sandbox, batch):
    created = [batch.create(all_events(sandbox)).json()["id"] for _ in range(23)]
    seen: list[str] = []
    pages = []
    params: dict[str, Any] = {"limit": 10}
    for _ in range(10):
        page = batch.list(**params).json()
        LIST_PAGE.validate(page)
        for export in page["exports"]:
            REQUEST.validate(export)
        pages.append(page["count"])
        seen += [export["id"] for export in page["exports"]]
        if not page["has_more"]:
            assert "next_from" not in page
            break
        params["from"] = page["next_from"]
    assert pages == [10, 10, 3]
    assert seen == created[::-1]
    assert base64.urlsafe_b64decode(batch.list(limit=1).json()["next_from"]).startswith(
        created[-1].encode()
    )
    assert batch.list(limit=101).status_code == 400
    assert batch.list(limit=0).status_code == 400
    assert batch.list(**{"from": "bm90LWEtY3Vyc29y"}).status_code == 400
    assert batch.list().json()["count"] == 10


def test_gzip_parts_and_part_size_are_options(sandbox_factory):
    sandbox = sandbox_factory(batch=BatchOptions(gzip=True, part_max_bytes=20_000))
    client = BatchClient(sandbox.tap_config()["batch"])
    export = client.wait_until_done(client.create(all_events(sandbox)).json()["id"])
    link = client.download(export["files"][0]["id"]).headers["Location"]
    assert requests.get(link, timeout=10).content[:2] == b"\x1f\x8b"
    assert len(export["files"]) >= 9
    rows = [row for item in export["files"] for row in client.lines(item["id"])]
    assert len(rows) == sandbox.datasets["batch/events"].size


def test_faults_fail_the_export_or_report_an_unknown_word(sandbox, batch):
    sandbox.faults.add("batch", "create", Fault.fail_export())
    failed = batch.wait_until_done(batch.create(all_events(sandbox)).json()["id"])
    assert failed["status"] == "ERROR"
    assert failed["files"] == []
    export_id = batch.create(all_events(sandbox)).json()["id"]
    sandbox.faults.add("batch", "view", Fault.status_word("ARCHIVED"))
    assert batch.view(export_id).json()["status"] == "ARCHIVED"
    assert batch.view("export_unknown").status_code == 400


def test_truth_counts_what_a_sync_of_the_tap_settings_loads(sandbox):
    truth = sandbox.truth()
    assert truth["streams"]["batch_events"] == sandbox.datasets["batch/events"].size
    assert truth["streams"]["batch_profiles"] == sandbox.datasets["batch/profiles"].size
    sandbox.resize_dataset("batch/profiles", 1234)
    assert sandbox.truth()["exports"]["batch"]["ATTRIBUTES"] == 1234
