"""PackageX end to end against the sandbox, over real sockets."""

from __future__ import annotations

import dataclasses
import datetime as dt
import signal
from collections.abc import Iterable
from typing import Any

import pytest
import requests
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.errors import DataError, ExportFailedError, ProviderError, UnknownStatusError
from tap_exports.providers.packagex import listing
from tap_exports.tap import TapExports
from tap_exports_sandbox import Sandbox
from tap_exports_sandbox.faults import Fault
from tap_exports_sandbox.packagex.data import unsafe
from tap_exports_sandbox.packagex.emulator import PackageXEmulator
from tap_exports_sandbox.packagex.options import PACKAGEX_RESOURCES, PackageXOptions
from tests.conftest import FAST_DELAYS, SandboxFactory
from tests.support import bookmark, run_cli, sync

SMALL: dict[str, Any] = {"default_rows": 200}


def config_for(sandbox: Sandbox, *resources: str, **settings: Any) -> dict[str, Any]:
    """A tap config holding only PackageX (all its resources unless some are named)."""
    config = {
        key: value
        for key, value in sandbox.tap_config().items()
        if key in {"packagex", "start_date"} or "_seconds" in key
    }
    chosen = list(resources) or config["packagex"]["resources"]
    config["packagex"] = {**config["packagex"], "resources": chosen, **settings}
    return config


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected(
    sandbox: Sandbox, resource: str, indexes: Iterable[int] | None = None, *, csv: bool = False
) -> dict[str, dict[str, Any]]:
    """The rows a sync must load, shaped as the stream schema says, by id.

    Rows PackageX cannot export are absent; rows it excluded as unsafe are present,
    restored. CSV cannot tell an empty text from null.
    """
    source = sandbox.emulator(PackageXEmulator).resources[resource]
    snapshot = source.timeline.snapshot()
    every = sandbox.config.packagex.error_every
    records = {}
    for index in range(snapshot.size) if indexes is None else indexes:
        if source.fails(index, every):
            continue
        record = source.record(source.values(index, snapshot))
        for name in source.model.times:
            record[name] = iso(record[name])
        if csv:
            record = {key: None if value == "" else value for key, value in record.items()}
        records[record["id"]] = record
    return records


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    loaded = {record["id"]: record for record in records}
    assert len(loaded) == len(records), "a row was loaded twice"
    return loaded


def issues_of(sandbox: Sandbox, resource: str, indexes: Iterable[int]) -> list[tuple[str, str]]:
    """``(kind, record id)`` of the rows an export of ``indexes`` cannot deliver."""
    source = sandbox.emulator(PackageXEmulator).resources[resource]
    snapshot = source.timeline.snapshot()
    every = sandbox.config.packagex.error_every
    errors, sanitized = [], []
    for index in indexes:
        values = source.values(index, snapshot)
        if source.fails(index, every):
            errors.append(("error", str(values[0])))
        elif unsafe(values):
            sanitized.append(("sanitized", str(values[0])))
    return errors + sanitized


def test_every_resource_loads_exactly_the_ground_truth(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(**SMALL)
    truth = sandbox.truth()["streams"]
    result = sync(config_for(sandbox))
    counts = result.counts()
    for stream, count in truth.items():
        if stream.startswith("packagex_"):
            assert counts.get(stream, 0) == count, stream
    for resource in PACKAGEX_RESOURCES:
        stream = f"packagex_{resource}s"
        assert by_id(result.records[stream]) == expected(sandbox, resource), stream
    assert sandbox.stats.exports_created("packagex") == 10
    assert sandbox.report()["credential_leaks"] == []

    shipments = bookmark(result.state, "packagex_shipments")
    source = sandbox.emulator(PackageXEmulator).resources["shipment"]
    assert shipments == {
        "replication_key": "updated_at",
        "replication_key_value": iso(source.timeline.created(199)),
    }
    assert "replication_key" not in bookmark(result.state, "packagex_shipping_label_inferences")
    issues = bookmark(result.state, "packagex_export_issues")
    assert sorted(issues["reported_exports"]) == sorted(
        record["id"] for record in result.records["packagex_exports"]
    )


def test_csv_files_load_the_same_rows(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(**SMALL)
    result = sync(config_for(sandbox, "contact", "tracker", "item", file_format="csv"))
    for resource in ("contact", "tracker", "item"):
        loaded = by_id(result.records[f"packagex_{resource}s"])
        assert loaded == expected(sandbox, resource, csv=True), resource


def test_csv_is_read_when_an_export_has_no_json_file(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(packagex=PackageXOptions(json_files=False), **SMALL)
    result = sync(config_for(sandbox, "shipment"))
    assert by_id(result.records["packagex_shipments"]) == expected(sandbox, "shipment", csv=True)


@pytest.mark.parametrize("mark", ["'", "\t"], ids=["quote", "tab"])
def test_error_and_unsafe_rows_are_reported_and_unsafe_ones_loaded_as_data(
    sandbox_factory: SandboxFactory, caplog: pytest.LogCaptureFixture, mark: str
):
    """How the sanitized file defuses a cell is undocumented: a quote or a tab, both read."""
    sandbox = sandbox_factory(
        rows={"packagex/location": 400}, packagex=PackageXOptions(sanitize_mark=mark), **SMALL
    )
    with caplog.at_level("WARNING"):
        result = sync(config_for(sandbox, "location"))
    wanted = expected(sandbox, "location")
    loaded = by_id(result.records["packagex_locations"])
    assert loaded == wanted
    assert {loaded[key]["notes"] for key in loaded} >= {
        '=HYPERLINK("http://example.com")',
        "+33 1 23 45 67",
        "-42",
        "@mention",
    }

    [export] = result.records["packagex_exports"]
    issues = result.records["packagex_export_issues"]
    assert [(issue["kind"], issue["record_id"]) for issue in issues] == issues_of(
        sandbox, "location", range(400)
    )
    assert [issue["line"] for issue in issues if issue["kind"] == "error"] == [1, 2, 3, 4]
    assert all(issue["export_id"] == export["id"] for issue in issues)
    assert all(issue["export_updated_at"] == export["updated_at"] for issue in issues)
    errors = [issue for issue in issues if issue["kind"] == "error"]
    assert all(issue["message"] and issue["data"] is None for issue in errors)
    for issue in issues:
        if issue["kind"] == "sanitized":
            assert issue["data"] == wanted[issue["record_id"]]
            assert issue["message"].endswith("notes started with =, +, - or @")
    unsafe_rows = len(issues) - len(errors)
    assert (len(errors), unsafe_rows) == (4, 8)
    messages = [record.getMessage() for record in caplog.records]
    assert (
        f"PackageX export {export['id']} (location): 4 rows could not be exported, "
        "8 rows were excluded as unsafe; see packagex_export_issues"
    ) in messages
    assert any("excluded 8 rows as unsafe" in message for message in messages)


def test_a_second_run_loads_only_what_changed(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(**SMALL)
    config = config_for(sandbox, "shipment", "tracker", "shipping_label_inference")
    first = sync(config)
    emulator = sandbox.emulator(PackageXEmulator)
    emulator.touch("shipment", [5, 122, 150])
    sandbox.resize_dataset("packagex/tracker", 260)

    second = sync(config, state=first.state)
    assert by_id(second.records["packagex_shipments"]) == expected(
        sandbox, "shipment", [5, 122, 150]
    )
    assert second.records["packagex_shipments"][0]["metadata"] == {
        "source": "sandbox",
        "revision": 1,
    }
    assert by_id(second.records["packagex_trackers"]) == expected(
        sandbox, "tracker", range(200, 260)
    )
    # Label inferences cannot be filtered on updated_at: exported whole again.
    assert by_id(second.records["packagex_shipping_label_inferences"]) == expected(
        sandbox, "shipping_label_inference"
    )
    assert len(second.records["packagex_exports"]) == 6
    new_exports = {record["id"] for record in second.records["packagex_exports"]} - {
        record["id"] for record in first.records["packagex_exports"]
    }
    issues = second.records["packagex_export_issues"]
    assert {issue["export_id"] for issue in issues} <= new_exports
    assert [(issue["kind"], issue["record_id"]) for issue in issues] == [
        *issues_of(sandbox, "shipment", [5, 122, 150]),
        *issues_of(sandbox, "tracker", range(200, 260)),
        *issues_of(sandbox, "shipping_label_inference", range(200)),
    ]
    assert sandbox.stats.exports_created("packagex") == 6

    third = sync(config, state=second.state)
    assert "packagex_shipments" not in third.records
    assert "packagex_trackers" not in third.records
    moved = bookmark(second.state, "packagex_trackers")["replication_key_value"]
    assert moved > bookmark(first.state, "packagex_trackers")["replication_key_value"]


def test_a_failed_export_names_the_provider_export_and_reason(sandbox: Sandbox):
    sandbox.faults.add("packagex", "create", Fault.fail_export())
    result = run_cli(config_for(sandbox, "shipment"))
    assert result.returncode != 0
    emulator = sandbox.emulator(PackageXEmulator)
    [export] = emulator.exports.live(emulator.context)
    export_id = export.id
    assert (
        f"PackageX, stream packagex_shipments, export {export_id}: the provider reports the "
        "export failed: the export worker stopped while writing batch 1; please try again"
    ) in result.stderr
    assert "export" not in bookmark(result.state, "packagex_shipments")

    retried = sync(config_for(sandbox, "shipment"), state=result.state)
    assert by_id(retried.records["packagex_shipments"]) == expected(sandbox, "shipment")
    assert sandbox.stats.exports_created("packagex") == 2


def test_a_timed_out_export_quotes_the_provider(sandbox: Sandbox):
    sandbox.faults.add("packagex", "create", Fault.status_word("timed_out"))
    with pytest.raises(ExportFailedError) as failure:
        sync(config_for(sandbox, "group"))
    assert str(failure.value).endswith(
        "export failed: timed out at PackageX: the export did not finish within the 30 minute "
        "processing limit (check the stream's settings; the next run creates a new export)"
    )


def test_an_unknown_status_word_is_an_error_naming_it(sandbox: Sandbox):
    sandbox.faults.add("packagex", "get", Fault.status_word("archived"), times=None)
    with pytest.raises(UnknownStatusError) as failure:
        sync(config_for(sandbox, "group"))
    assert "PackageX" in str(failure.value)
    assert "unknown export status 'archived'" in str(failure.value)
    assert "known statuses: completed, expired, failed, processing, queued, timed_out" in str(
        failure.value
    )


def test_the_export_list_pages_until_has_more_is_false(
    sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
):
    sandbox = sandbox_factory(rows={"packagex/group": 20})
    settings = sandbox.tap_config()["packagex"]
    sandbox.faults.add("packagex", "create", Fault.fail_export())
    for _ in range(4):
        requests.post(
            f"{settings['base_url']}/v1/exports",
            json={"resource": "group"},
            headers={"PX-API-KEY": settings["api_key"]},
            timeout=10,
        ).raise_for_status()
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    result = sync(config_for(sandbox, "group"))
    listed = result.records["packagex_exports"]
    assert len(listed) == 5 == len({record["id"] for record in listed})
    assert sandbox.stats.requests("GET /packagex/v1/exports") == 3
    assert [record["resource"] for record in listed] == ["group"] * 5
    assert all(record["created_at"].endswith("Z") for record in listed)
    assert [record["status"] for record in listed].count("completed") == 4

    only_failed = sync(config_for(sandbox, "group", export_statuses=["failed", "timed_out"]))
    [failed] = only_failed.records["packagex_exports"]
    assert failed["status"] == "failed"
    assert failed["reason"].endswith("please try again")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"list_filters_every_resource": True},
        {"max_page_size": 100},
        {"max_page_size": 2, "clamp_page_size": True},
    ],
    ids=["documented-filters", "every-filter", "page-cap", "clamped-pages"],
)
def test_the_export_list_holds_each_resources_exports_whatever_the_list_accepts(
    sandbox_factory: SandboxFactory, options: dict[str, Any]
):
    """``item`` is no documented list filter: its exports are picked from the whole list."""
    sandbox = sandbox_factory(packagex=PackageXOptions(**options), **SMALL)
    settings = sandbox.tap_config()["packagex"]
    made: dict[str, list[str]] = {"group": [], "item": []}
    for resource in ("group", "item", "group", "item", "group"):
        sandbox.faults.add("packagex", "create", Fault.fail_export())
        answer = requests.post(
            f"{settings['base_url']}/v1/exports",
            json={"resource": resource},
            headers={"PX-API-KEY": settings["api_key"]},
            timeout=10,
        )
        answer.raise_for_status()
        made[resource].append(answer.json()["data"]["id"])
    result = sync(config_for(sandbox, "group", "item", export_statuses=["failed"]))
    listed = result.records["packagex_exports"]
    assert {
        resource: sorted(r["id"] for r in listed if r["resource"] == resource) for resource in made
    } == {resource: sorted(ids) for resource, ids in made.items()}
    assert len(listed) == 5


def test_a_run_killed_while_the_export_is_processing_resumes_it(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(delays=dataclasses.replace(FAST_DELAYS, complete_after=1.0), **SMALL)
    config = config_for(sandbox, "asset")

    def export_in_flight(message: dict[str, Any]) -> bool:
        state = message.get("value", {}) if message["type"] == "STATE" else {}
        return "export" in state.get("bookmarks", {}).get("packagex_assets", {})

    killed = run_cli(config, stop_when=export_in_flight, stop_signal=signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    in_flight = bookmark(killed.state, "packagex_assets")["export"]
    assert in_flight["status"] == "PENDING"
    assert in_flight["detail"] == {"resource": "asset"}

    rerun = run_cli(config, state=killed.state)
    assert rerun.returncode == 0, rerun.stderr
    assert by_id(rerun.records["packagex_assets"]) == expected(sandbox, "asset")
    assert sandbox.stats.exports_created("packagex", "asset") == 1
    assert f"resuming export {in_flight['id']}" in rerun.stderr
    assert "export" not in bookmark(rerun.state, "packagex_assets")


def test_an_export_deleted_meanwhile_is_created_again(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(**SMALL)
    state = {
        "bookmarks": {
            "packagex_items": {
                "export": {
                    "id": "exp_1111111111111111111111",
                    "window": {"start": None, "end": None},
                    "status": "RUNNING",
                    "created_at": "2024-01-01T00:00:00Z",
                    "detail": {"resource": "item"},
                    "rows_emitted": 0,
                }
            }
        }
    }
    result = sync(config_for(sandbox, "item"), state=state)
    assert by_id(result.records["packagex_items"]) == expected(sandbox, "item")
    assert sandbox.stats.exports_created("packagex") == 1


@pytest.mark.parametrize("keep_expired", [False, True], ids=["deleted", "kept-as-expired"])
def test_an_export_past_its_24_hours_is_created_again(
    sandbox_factory: SandboxFactory, keep_expired: bool
):
    """Deletion is documented; an ``expired`` status is the sibling batch model's guess."""
    sandbox = sandbox_factory(packagex=PackageXOptions(keep_expired=keep_expired), **SMALL)
    settings = sandbox.tap_config()["packagex"]
    old = requests.post(
        f"{settings['base_url']}/v1/exports",
        json={"resource": "item"},
        headers={"PX-API-KEY": settings["api_key"]},
        timeout=10,
    ).json()["data"]["id"]
    sandbox.advance_clock(25 * 3600)
    export = {"id": old, "window": {"start": None, "end": None}, "status": "RUNNING"}
    state = {"bookmarks": {"packagex_items": {"export": {**export, "detail": {}}}}}
    result = sync(config_for(sandbox, "item"), state=state)
    assert by_id(result.records["packagex_items"]) == expected(sandbox, "item")
    assert sandbox.stats.exports_created("packagex") == 2


def test_transient_failures_and_dead_links_lose_no_row(
    sandbox_factory: SandboxFactory, caplog: pytest.LogCaptureFixture
):
    sandbox = sandbox_factory(**SMALL)
    faults = sandbox.faults
    faults.add("packagex", "create", Fault.rate_limited(0.2, body={"message": "Too many requests"}))
    faults.add("packagex", "get", Fault.status(503, {"message": "busy"}, {"Retry-After": "0.1"}))
    faults.add("packagex", "get", Fault.reset(), nth=2)
    faults.add("packagex", "list", Fault.status(502, "bad gateway", {"Retry-After": "0.1"}))
    faults.add("packagex", "get", Fault.expire_link(), nth=4)
    faults.add("packagex", "storage_get", Fault.cut_after(5000))
    with caplog.at_level("WARNING"):
        result = sync(config_for(sandbox, "contact"))
    assert by_id(result.records["packagex_contacts"]) == expected(sandbox, "contact")
    assert len(result.records["packagex_export_issues"]) == len(
        issues_of(sandbox, "contact", range(200))
    )
    assert sandbox.stats.exports_created("packagex") == 1
    fired = {(fired.operation, fired.fault.kind.value) for fired in faults.fired}
    assert fired == {
        ("create", "status"),
        ("get", "status"),
        ("get", "reset"),
        ("list", "status"),
        ("get", "expire_link"),
        ("storage_get", "cut_after"),
    }
    waits = [
        record.getMessage() for record in caplog.records if "retrying in" in record.getMessage()
    ]
    assert any("HTTP 429 on POST /packagex/v1/exports, retrying in 0.2 s" in w for w in waits)
    assert sandbox.report()["credential_leaks"] == []


def test_malformed_items_fail_with_file_and_line_or_are_skipped(
    sandbox_factory: SandboxFactory, caplog: pytest.LogCaptureFixture
):
    sandbox = sandbox_factory(**SMALL)
    sandbox.faults.add("packagex", "create", Fault.malformed_rows(1))
    with pytest.raises(DataError) as failure:
        sync(config_for(sandbox, "manifest"))
    assert "(manifest.json), line 3: invalid JSON" in str(failure.value)

    sandbox.faults.add("packagex", "create", Fault.malformed_rows(2))
    with caplog.at_level("WARNING"):
        skipped = sync(config_for(sandbox, "manifest") | {"on_bad_rows": "skip"})
    assert by_id(skipped.records["packagex_manifests"]) == expected(sandbox, "manifest")
    assert any("skipped 2 malformed rows" in record.getMessage() for record in caplog.records)


def test_invalid_settings_fail_before_any_request(sandbox: Sandbox):
    config = config_for(
        sandbox,
        "shipment",
        "parcel",
        "shipment",
        export_statuses=["done"],
        base_url="ftp://api.packagex.io",
    )
    del config["packagex"]["api_key"]
    with pytest.raises(ConfigValidationError) as failure:
        TapExports(config=config)
    assert failure.value.errors == [
        "packagex.api_key: required when packagex is configured",
        "packagex.base_url: must be an absolute http(s) URL, got 'ftp://api.packagex.io'",
        "packagex.resources: a resource is listed twice",
        "packagex.resources: unknown parcel; known: contact, group, fulfillment, item, "
        "location, manifest, shipment, tracker, shipping_label_inference, asset",
        "packagex.export_statuses: unknown done; known: queued, processing, completed, "
        "failed, timed_out",
    ]
    with pytest.raises(ConfigValidationError) as wrong_format:
        TapExports(config=config_for(sandbox, "shipment", file_format="xml"))
    assert "packagex.file_format: 'xml' is not one of" in str(wrong_format.value.errors)
    assert sum(sandbox.stats.snapshot()["requests"].values()) == 0


def test_errors_quote_the_envelope_and_never_the_key(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
):
    config = config_for(sandbox, "shipment")
    wrong = {**config, "packagex": {**config["packagex"], "api_key": "px_wrong_key_123"}}
    with caplog.at_level("DEBUG"), pytest.raises(ProviderError) as denied:
        sync(wrong)
    assert str(denied.value) == (
        "PackageX: HTTP 401 on POST /packagex/v1/exports: Unauthorized (code unauthorized): "
        "a valid API key is required in the PX-API-KEY header (check packagex.api_key; "
        "PackageX's sandbox and production keys differ)"
    )

    body = {
        "message": "Validation failed",
        "data": None,
        "status": 400,
        "errors": [{"field": "options.limit", "message": "too large"}, "resource is locked"],
        "code": "validation_error",
        "pagination": None,
    }
    sandbox.faults.add("packagex", "create", Fault.status(400, body))
    with caplog.at_level("DEBUG"), pytest.raises(ProviderError) as refused:
        sync(config)
    assert "Validation failed (code validation_error): options.limit: too large; " in str(
        refused.value
    )
    with caplog.at_level("DEBUG"):
        result = sync(config)
    logged = caplog.text + str(result.messages)
    for secret in (config["packagex"]["api_key"], "px_wrong_key_123"):
        assert secret not in logged
    assert sandbox.report()["credential_leaks"] == []


def test_a_bare_create_answer_is_read_too(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(packagex=PackageXOptions(bare_create_response=True), **SMALL)
    result = sync(config_for(sandbox, "fulfillment"))
    assert by_id(result.records["packagex_fulfillments"]) == expected(sandbox, "fulfillment")


def test_the_cli_loads_every_resource_then_only_what_changed(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(**SMALL)
    truth = sandbox.truth()["streams"]
    config = config_for(sandbox)
    first = run_cli(config)
    assert first.returncode == 0, first.stderr
    assert first.counts() == {
        stream: n for stream, n in truth.items() if stream.startswith("packagex_")
    }
    summaries = [line for line in first.stderr.splitlines() if "rows could not be exported" in line]
    assert len(summaries) == 10

    sandbox.emulator(PackageXEmulator).touch("contact", [1, 2])
    sandbox.resize_dataset("packagex/shipment", 230)
    second = run_cli(config, state=first.state)
    assert second.returncode == 0, second.stderr
    new_shipments = issues_of(sandbox, "shipment", range(200, 230))
    inferences = issues_of(sandbox, "shipping_label_inference", range(200))
    assert second.counts() == {
        "packagex_contacts": 2,
        "packagex_shipments": len(expected(sandbox, "shipment", range(200, 230))),
        "packagex_shipping_label_inferences": len(expected(sandbox, "shipping_label_inference")),
        "packagex_exports": 20,
        "packagex_export_issues": len(new_shipments) + len(inferences),
    }
