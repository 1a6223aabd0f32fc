"""The PackageX emulator behaves as providers.md §2 says, over real sockets."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tap_exports_sandbox import Fault, Sandbox
from tap_exports_sandbox.packagex.data import MODELS, Resource, unsafe
from tap_exports_sandbox.packagex.emulator import PackageXEmulator
from tap_exports_sandbox.packagex.exports import formula_candidate
from tap_exports_sandbox.packagex.options import PackageXOptions
from tests.conftest import FAST_DELAYS, SandboxFactory

WAIT_SECONDS = 10.0
RFC3339 = {"timezone": "UTC", "datetime_format": "yyyy-MM-dd'T'HH:mm:ssXXX"}


class PackageXClient:
    """Calls the emulated Exports API with the sandbox's key, as the tap does."""

    def __init__(self, sandbox: Sandbox) -> None:
        settings = sandbox.tap_config()["packagex"]
        self.api = f"{settings['base_url']}/v1/exports"
        self.session = requests.Session()
        self.session.headers["PX-API-KEY"] = settings["api_key"]

    def create(self, resource: str, **body: Any) -> requests.Response:
        return self.session.post(self.api, json={"resource": resource, **body}, timeout=10)

    def get(self, export_id: str, **params: str) -> requests.Response:
        return self.session.get(f"{self.api}/{export_id}", params=params, timeout=10)

    def list(self, **params: Any) -> requests.Response:
        return self.session.get(self.api, params=params, timeout=10)

    def created_id(self, resource: str, **body: Any) -> str:
        response = self.create(resource, **body)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["id"])

    def wait(self, export_id: str) -> dict[str, Any]:
        """Poll until the export is final; returns it with fresh links to its files."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            export = self.get(export_id, include_csv="true", include_json="true").json()["data"]
            if export["status"] not in {"queued", "processing"}:
                return dict(export)
            time.sleep(0.02)
        pytest.fail(f"export {export_id} did not finish within {WAIT_SECONDS} s")

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def packagex(sandbox: Sandbox) -> Iterator[PackageXClient]:
    client = PackageXClient(sandbox)
    yield client
    client.close()


def emulator(sandbox: Sandbox) -> PackageXEmulator:
    return sandbox.emulator(PackageXEmulator)


def download(link: str) -> bytes:
    response = requests.get(link, timeout=30)
    response.raise_for_status()
    return response.content


def csv_rows(link: str) -> list[dict[str, str]]:
    text = io.StringIO(download(link).decode("utf-8"), newline="")
    return list(csv.DictReader(text))


def exportable(resource: Resource, error_every: int = 97) -> Iterator[int]:
    """Indexes of the rows an export can hold (their own data never fails)."""
    return (i for i in range(resource.dataset.size) if not resource.fails(i, error_every))


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_export_serves_json_csv_error_and_sanitized_files_of_the_exact_rows(sandbox, packagex):
    resource = emulator(sandbox).resources["shipment"]
    snapshot = resource.timeline.snapshot()
    created = packagex.create("shipment", options={"limit": "all"}, csv_field_options=RFC3339)
    body = created.json()
    assert set(body) == {"message", "data", "status", "errors", "code", "pagination", "endpoint"}
    assert (body["status"], body["errors"], body["pagination"]) == (200, [], None)
    assert body["data"]["status"] == "queued"
    assert body["data"]["id"].startswith("exp_")
    assert len(body["data"]["id"]) == 26

    export = packagex.wait(body["data"]["id"])
    assert export["status"] == "completed"
    rows = [resource.values(i, snapshot) for i in exportable(resource)]
    safe = [row for row in rows if not unsafe(row)]
    flagged = [row for row in rows if unsafe(row)]
    failing = [i for i in range(1000) if resource.fails(i, 97)]
    assert export["count_total"] == len(safe) == 1000 - len(failing) - len(flagged)
    assert len(failing) == 10
    assert len(flagged) == 16

    assert json.loads(download(export["_json_url"])) == [resource.record(row) for row in safe]
    csv_data = csv_rows(export["_csv_url"])
    assert [row["id"] for row in csv_data] == [row[0] for row in safe]
    created = safe[0][-2]
    assert isinstance(created, int)
    assert csv_data[0]["created_at"] == iso(created)
    assert json.loads(csv_data[0]["sender"]) == resource.record(safe[0])["sender"]
    errors = csv_rows(export["_csv_error_url"])
    assert [row["id"] for row in errors] == [resource.dataset.row(i)[0] for i in failing]
    assert all(row["error"] for row in errors)
    sanitized = csv_rows(export["_csv_sanitized_url"])
    assert [row["id"] for row in sanitized] == [row[0] for row in flagged]
    assert {row["notes"][:2] for row in sanitized} == {"'=", "'+", "'-", "'@"}


def test_links_appear_only_when_completed_and_asked_for(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(delays=dataclasses.replace(FAST_DELAYS, complete_after=1.0))
    client = PackageXClient(sandbox)
    export_id = client.created_id("group")
    early = client.get(export_id, include_csv="true", include_json="true").json()["data"]
    assert early["status"] in {"queued", "processing"}
    assert not any(key.startswith("_") for key in early)
    client.wait(export_id)
    plain = client.get(export_id).json()["data"]
    assert plain["status"] == "completed"
    assert plain["updated_at"] >= plain["created_at"] + 1
    assert not any(key.startswith("_") for key in plain)
    only_json = client.get(export_id, include_json="true").json()["data"]
    assert [key for key in only_json if key.startswith("_")] == ["_json_url"]
    client.close()


def test_every_answer_is_an_envelope_and_errors_name_their_fields(sandbox, packagex):
    url = packagex.api
    key = sandbox.tap_config()["packagex"]["api_key"]
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.json()["message"] == "Unauthorized"
    assert missing.json()["errors"]
    wrong = requests.get(url, headers={"PX-API-KEY": "px_wrong"}, timeout=10)
    assert wrong.status_code == 401
    assert requests.get(url, headers={"X-API-KEY": key}, timeout=10).status_code == 200

    unknown = packagex.create("parcel")
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "validation_error"
    assert unknown.json()["errors"][0]["field"] == "resource"
    not_filterable = packagex.create(
        "shipping_label_inference", options={"updated_at": "gt:2024-01-01T00:00:00Z"}
    )
    assert not_filterable.status_code == 400
    assert not_filterable.json()["errors"] == [
        {
            "field": "options.updated_at",
            "message": "updated_at is not a filter of shipping_label_inference",
        }
    ]
    bad = packagex.create(
        "shipment",
        options={"updated_at": "after:yesterday", "limit": 0},
        csv_field_options={"timezone": "Mars/Olympus", "datetime_format": "QQ"},
    )
    assert {error["field"] for error in bad.json()["errors"]} == {
        "options.updated_at",
        "options.limit",
        "csv_field_options.timezone",
        "csv_field_options.datetime_format",
    }
    gone = packagex.get("exp_1111111111111111111111")
    assert gone.status_code == 404
    assert gone.json()["data"] is None
    assert gone.json()["message"] == "Export not found"
    assert sandbox.stats.exports_created("packagex") == 0


def test_updated_at_filter_finds_touched_and_new_rows_only(sandbox, packagex):
    packagex_emulator = emulator(sandbox)
    resource = packagex_emulator.resources["tracker"]
    newest = iso(resource.timeline.created(resource.dataset.size - 1))
    packagex_emulator.touch("tracker", [3, 7, 500])
    sandbox.resize_dataset("packagex/tracker", 1010)
    export_id = packagex.created_id(
        "tracker", options={"updated_at": f"gt:{newest}", "order_by": "updated_at"}
    )
    items = json.loads(download(packagex.wait(export_id)["_json_url"]))
    assert [item["tracking_number"][-4:] for item in items] == [
        "0003",
        "0007",
        "0500",
        *(f"{i:04d}" for i in range(1000, 1010) if not formula_candidate(i)),
    ]
    assert [item["metadata"]["revision"] for item in items[:4]] == [1, 1, 1, 0]
    assert items[0]["updated_at"] < items[3]["updated_at"]
    assert all(item["updated_at"] > resource.timeline.created(999) for item in items)

    later = iso(items[-1]["updated_at"])
    packagex_emulator.touch("tracker", [7])
    again = packagex.created_id("tracker", options={"updated_at": f"gt:{later}"})
    [item] = json.loads(download(packagex.wait(again)["_json_url"]))
    assert (item["tracking_number"][-4:], item["metadata"]["revision"]) == ("0007", 2)


DATE_CONDITIONS = {
    "gte:{t10}": range(10, 20),
    "lt:{t3}": range(3),
    "lte:{t3}": range(4),
    "bwi:{t5},{t7}": range(5, 8),
    "bwe:{t5},{t7}": range(6, 7),
    "equals:{t4}": range(4, 5),
    "in:{t1},{t9}": (1, 9),
    "not_in:{t0}": range(1, 20),
}


def test_date_filter_conditions(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(rows={"packagex/item": 20}, packagex=PackageXOptions(error_every=0))
    resource = emulator(sandbox).resources["item"]
    times = {f"t{i}": iso(resource.timeline.created(i)) for i in range(20)}
    client = PackageXClient(sandbox)
    exports = {
        condition: client.created_id("item", options={"created_at": condition.format(**times)})
        for condition in DATE_CONDITIONS
    }
    for condition, expected in DATE_CONDITIONS.items():
        items = json.loads(download(client.wait(exports[condition])["_json_url"]))
        assert [item["sku"] for item in items] == [f"SKU-{i:06d}" for i in expected], condition
    client.close()


def test_order_direction_and_limit(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(rows={"packagex/asset": 30}, packagex=PackageXOptions(error_every=0))
    client = PackageXClient(sandbox)
    export_id = client.created_id("asset", options={"direction": "desc", "limit": 5})
    items = json.loads(download(client.wait(export_id)["_json_url"]))
    assert [item["serial_number"] for item in items] == [f"SN{i:08d}" for i in range(29, 24, -1)]
    client.close()


def test_csv_field_options_choose_columns_zone_and_time_format(sandbox, packagex):
    export_id = packagex.created_id(
        "location",
        options={"limit": 2},
        csv_field_options={
            "timezone": "America/New_York",
            "datetime_format": "MM/dd/yyyy hh:mm:ss a",
            "columns": {"created_at": True, "id": True, "name": True, "notes": False},
        },
    )
    rows = csv_rows(packagex.wait(export_id)["_csv_url"])
    resource = emulator(sandbox).resources["location"]
    moment = dt.datetime.fromtimestamp(resource.timeline.created(0), dt.UTC)
    local = moment.astimezone(dt.timezone(dt.timedelta(hours=-5))).strftime("%m/%d/%Y %I:%M:%S %p")
    local_dst = moment.astimezone(dt.timezone(dt.timedelta(hours=-4))).strftime(
        "%m/%d/%Y %I:%M:%S %p"
    )
    assert list(rows[0]) == ["created_at", "id", "name"]
    assert rows[0]["name"] == "Hub 0"
    assert rows[0]["created_at"] in {local, local_dst}


def test_the_list_pages_and_filters_exports(sandbox, packagex):
    for resource in ("contact", "contact", "group", "contact", "item"):
        packagex.wait(packagex.created_id(resource, name=f"nightly {resource}"))
    sandbox.faults.add("packagex", "create", Fault.fail_export())
    failed = packagex.created_id("contact", name="broken contact")
    packagex.wait(failed)

    first = packagex.list(limit=2, resource="contact").json()
    assert first["pagination"] == {"page": 1, "limit": 2, "has_more": True, "total_count": 4}
    last = packagex.list(limit=2, page=2, resource="contact").json()
    assert last["pagination"]["has_more"] is False
    listed = first["data"] + last["data"]
    assert [item["resource"] for item in listed] == ["contact"] * 4
    assert [item["created_at"] for item in listed] == sorted(item["created_at"] for item in listed)
    assert all(not key.startswith("_") for item in listed for key in item)

    by_status = packagex.list(statuses="failed,timed_out").json()["data"]
    assert [item["id"] for item in by_status] == [failed]
    assert by_status[0]["reason"]
    assert len(packagex.list(search="NIGHTLY").json()["data"]) == 5
    newest_first = packagex.list(direction="desc", limit=1).json()["data"]
    assert newest_first[0]["id"] == failed
    assert packagex.list(limit=500).status_code == 200
    assert packagex.list(statuses="done").json()["errors"][0]["field"] == "statuses"
    refused = packagex.list(resource="item")
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (400, "resource")


def test_what_the_list_accepts_where_the_documents_are_silent_is_a_mode(
    sandbox_factory: SandboxFactory,
):
    lenient = PackageXOptions(list_filters_every_resource=True, max_page_size=100)
    client = PackageXClient(sandbox_factory(packagex=lenient))
    try:
        assert client.list(resource="item").status_code == 200
        assert client.list(limit=101).json()["errors"][0]["field"] == "limit"
    finally:
        client.close()
    clamping = PackageXOptions(max_page_size=2, clamp_page_size=True)
    client = PackageXClient(sandbox_factory(packagex=clamping))
    try:
        for _ in range(3):
            client.created_id("group")
        first = client.list(limit=100).json()
        assert (len(first["data"]), first["pagination"]["has_more"]) == (2, True)
    finally:
        client.close()


def test_exports_are_deleted_after_24_hours(sandbox, packagex):
    export_id = packagex.created_id("group")
    packagex.wait(export_id)
    sandbox.advance_clock(24 * 3600)
    assert packagex.get(export_id).status_code == 404
    assert packagex.list().json()["data"] == []


def test_failed_and_timed_out_exports_say_why(sandbox, packagex):
    sandbox.faults.add("packagex", "create", Fault.fail_export())
    failed = packagex.wait(packagex.created_id("shipment"))
    assert (failed["status"], failed["count_total"]) == ("failed", 0)
    assert "please try again" in failed["reason"]
    assert "_json_url" not in failed
    sandbox.faults.add("packagex", "create", Fault.status_word("timed_out"))
    timed_out = packagex.wait(packagex.created_id("shipment"))
    assert timed_out["status"] == "timed_out"
    assert "processing limit" in timed_out["reason"]


def test_status_word_on_get_changes_one_answer(sandbox, packagex):
    export_id = packagex.created_id("asset")
    packagex.wait(export_id)
    sandbox.faults.add("packagex", "get", Fault.status_word("archived"))
    assert packagex.get(export_id).json()["data"]["status"] == "archived"
    assert packagex.get(export_id).json()["data"]["status"] == "completed"


def test_expire_link_fault_hands_out_dead_links(sandbox, packagex):
    export_id = packagex.created_id("asset")
    packagex.wait(export_id)
    sandbox.faults.add("packagex", "get", Fault.expire_link())
    dead = packagex.get(export_id, include_json="true").json()["data"]["_json_url"]
    assert requests.get(dead, timeout=10).status_code == 403
    fresh = packagex.get(export_id, include_json="true").json()["data"]["_json_url"]
    assert requests.get(fresh, timeout=10).status_code == 200


def test_malformed_rows_fault_breaks_items_of_both_data_files(sandbox, packagex):
    sandbox.faults.add("packagex", "create", Fault.malformed_rows(2))
    export = packagex.wait(packagex.created_id("item"))
    text = download(export["_json_url"]).decode()
    assert text.count('{"id": "#malformed", }') == 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    columns = len(emulator(sandbox).resources["item"].model.columns)
    assert download(export["_csv_url"]).decode().count("#malformed") == 2 * (columns + 1)


def test_switches_for_csv_only_bare_answers_and_no_error_rows(sandbox_factory: SandboxFactory):
    options = PackageXOptions(json_files=False, bare_create_response=True, error_every=0)
    sandbox = sandbox_factory(packagex=options, rows={"packagex/group": 50})
    client = PackageXClient(sandbox)
    created = client.create("group").json()
    assert created["object"] == "export"
    export = client.wait(created["id"])
    assert export["_json_url"] is None
    assert export["_csv_error_url"] is None
    assert len(csv_rows(export["_csv_url"])) == 50
    client.close()


def test_tap_settings_and_ground_truth(sandbox):
    settings = sandbox.tap_config()["packagex"]
    assert settings["base_url"] == sandbox.provider_url("packagex")
    assert len(settings["resources"]) == 10
    truth = sandbox.truth()
    assert truth["streams"]["packagex_shipments"] == 990
    assert truth["streams"]["packagex_exports"] == 10
    assert truth["streams"]["packagex_export_issues"] == 10 * (10 + 16)
    assert truth["exports"]["packagex"]["shipment"] == 1000 - 10 - 16
    assert truth["datasets"]["packagex/shipment"] == 1000


def test_only_awkward_text_reads_as_a_formula_and_ids_are_unique(sandbox):
    for model in MODELS:
        resource = emulator(sandbox).resources[model.name]
        snapshot = resource.timeline.snapshot()
        rows = [resource.values(i, snapshot) for i in range(1000)]
        assert [unsafe(row) for row in rows] == [formula_candidate(i) for i in range(1000)]
        assert len({row[0] for row in rows}) == 1000
        ids = [str(row[0]) for row in rows]
        assert all(id_.startswith(f"{model.prefix}_") and len(id_) == 26 for id_ in ids)
