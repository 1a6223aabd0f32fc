"""The Emarsys streams run as users run them, against the sandbox over real sockets."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from typing import Any

import pytest

from tap_exports.errors import (
    DownloadError,
    ExportFailedError,
    ExportTimeoutError,
    ProviderError,
    UnknownStatusError,
)
from tap_exports.tap import TapExports
from tap_exports_sandbox import Sandbox
from tap_exports_sandbox.emarsys.data import FIELDS, contact_value
from tap_exports_sandbox.emarsys.emulator import EmarsysEmulator
from tap_exports_sandbox.emarsys.options import EmarsysOptions
from tap_exports_sandbox.faults import Fault
from tests.conftest import SandboxFactory
from tests.support import SyncResult, run_cli, sync

STREAMS = ("emarsys_responses", "emarsys_registrations", "emarsys_contact_changes")
DATA_ROUTE = "GET /emarsys/api/v2/export/<int:export_id>/data"
PATHS = {
    "emarsys_responses": "/email/getresponses",
    "emarsys_registrations": "/contact/getregistrations",
    "emarsys_contact_changes": "/contact/getchanges",
}


def emarsys_sandbox(sandbox_factory: SandboxFactory, **options: Any) -> Sandbox:
    return sandbox_factory(emarsys=EmarsysOptions(**options))


def emarsys_config(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    """The sandbox's tap config with only Emarsys, its settings overridden."""
    config = sandbox.tap_config()
    for emulator in sandbox.emulators:
        config.pop(emulator.name, None)
    config["emarsys"] = {**sandbox.tap_config()["emarsys"], "window_days": 60, **overrides}
    return config


def expected(sandbox: Sandbox, stream: str, stop: int | None = None) -> list[dict[str, Any]]:
    """Ground truth: the dataset's rows joined with the contacts' configured fields."""
    emulator = sandbox.emulator(EmarsysEmulator)
    dataset = emulator.exports_by_path[PATHS[stream]].dataset
    fields = emulator.options.contact_fields
    names = {f: FIELDS[f].string_id or f"field_{f}" for f in fields}
    seed = sandbox.config.seed
    return [
        {
            "user_id": row["user_id"],
            **{names[f]: contact_value(seed, int(str(row["user_id"])), f) for f in fields},
            **{key: value for key, value in row.items() if key != "user_id"},
        }
        for row in dataset.rows(0, stop)
    ]


def exports_created(sandbox: Sandbox, kind: str | None = None) -> int:
    return sandbox.stats.exports_created("emarsys", kind)


def assert_complete(run: SyncResult, sandbox: Sandbox) -> None:
    truth = sandbox.truth()["streams"]
    assert run.counts() == {stream: truth[stream] for stream in STREAMS}
    for stream in STREAMS:
        assert run.records[stream] == expected(sandbox, stream)
        bookmark = run.state["bookmarks"][stream]
        assert "export" not in bookmark
        end = dt.datetime.fromisoformat(bookmark["replication_key_value"])
        assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - end <= dt.timedelta(days=1)


def cli_state_after_a_timeout(config: dict[str, Any]) -> dict[str, Any]:
    """Run the CLI until the export timeout stops it; the state it left (exports in flight)."""
    run = run_cli({**config, "export_timeout_seconds": 0.1})
    assert run.returncode != 0
    assert "raise export_timeout_seconds" in run.stderr
    return run.state


def test_local_delivery_reads_every_row_of_the_three_exports(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory)
    run = sync(emarsys_config(sandbox))
    assert_complete(run, sandbox)
    assert exports_created(sandbox) == 3
    responses = run.records["emarsys_responses"]
    assert {"click", "open"} <= {row["source"] for row in responses}
    assert any("\n" in str(row["first_name"]) for row in responses)


def test_ftp_delivery_downloads_the_uploaded_files(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory, distribution_method="ftp")
    config = emarsys_config(sandbox)
    assert config["emarsys"]["distribution_method"] == "ftp"
    run = sync(config)
    assert_complete(run, sandbox)
    assert sandbox.stats.requests(DATA_ROUTE) == 0
    uploaded = sorted(path.name for path in (sandbox.ftp.root / "exports").iterdir())
    assert [re.sub(r"_\d+_1_en-[0-9a-f]{6}\.csv$", "", name) for name in uploaded] == [
        "changes",
        "clicks",
        "registrations",
    ]


def test_ftps_delivery_trusts_the_servers_certificate_through_ca_file(sandbox_factory):
    sandbox = sandbox_factory(ftp_tls=True, emarsys=EmarsysOptions(distribution_method="ftp"))
    config = emarsys_config(sandbox, exports=["registrations"])
    assert config["emarsys"]["ftp"]["tls"] is True
    run = sync(config)
    assert run.records["emarsys_registrations"] == expected(sandbox, "emarsys_registrations")
    untrusted = {key: value for key, value in config["emarsys"]["ftp"].items() if key != "ca_file"}
    with pytest.raises(DownloadError, match="CERTIFICATE_VERIFY_FAILED"):
        sync({**config, "emarsys": {**config["emarsys"], "ftp": untrusted}})


@pytest.mark.parametrize(
    "options",
    [
        {"delimiter": ";", "header": False, "language": "de"},
        {"delimiter": ";", "header": True, "language": "de"},
        {"data_format": "json", "language": "de"},
    ],
    ids=["semicolon-no-header", "semicolon-german-header", "json-pages"],
)
def test_file_layouts_map_onto_the_same_fields(sandbox_factory, options):
    sandbox = emarsys_sandbox(sandbox_factory, **options)
    run = sync(emarsys_config(sandbox, page_size=300))
    assert_complete(run, sandbox)


@pytest.mark.parametrize(
    "options",
    [
        {"column_order": "reversed"},
        {"column_order": "reversed", "delimiter": ";", "language": "de"},
        {"column_order": "reversed", "data_format": "json"},
        {"column_order": "reversed", "distribution_method": "ftp"},
    ],
    ids=["reversed", "reversed-semicolon-german-account", "reversed-json", "reversed-ftp"],
)
def test_columns_in_another_order_are_found_by_their_names(sandbox_factory, options):
    """No document promises the request's column order; the header row decides."""
    sandbox = emarsys_sandbox(sandbox_factory, **options)
    run = sync(emarsys_config(sandbox, page_size=300))
    assert_complete(run, sandbox)
    requests = [e.settings[1] for e in sandbox.emulator(EmarsysEmulator).exports()]
    assert all('"language": "en"' in body for body in requests)


@pytest.mark.parametrize("exports", [["responses"], ["registrations"]])
def test_a_header_in_another_language_fails_naming_expected_and_found(sandbox_factory, exports):
    """An account that ignores ``language: en`` must not have its columns guessed."""
    sandbox = emarsys_sandbox(sandbox_factory, honours_language=False, language="de")
    with pytest.raises(ProviderError) as error:
        sync(emarsys_config(sandbox, exports=exports))
    message = str(error.value)
    assert "header row does not match the export" in message
    assert "expected the columns user_id, First Name, Last Name, E-Mail" in message
    assert "found user_id, Vorname, Nachname, E-Mail" in message


@pytest.mark.parametrize("method", ["local", "ftp"])
def test_contact_changes_without_a_status_are_read_once_their_file_is_there(
    sandbox_factory, method
):
    """``GET /export/<id>`` answers 4002 for them, as documented: the file tells instead."""
    sandbox = emarsys_sandbox(sandbox_factory, distribution_method=method, ready_seconds=0.3)
    run = sync(emarsys_config(sandbox, exports=["contact_changes"]))
    records = run.records["emarsys_contact_changes"]
    assert records == expected(sandbox, "emarsys_contact_changes")
    assert records
    assert sandbox.stats.requests("GET /emarsys/api/v2/export/<int:export_id>") >= 1
    assert exports_created(sandbox) == 1


def test_contact_changes_with_a_status_answer_are_read_too(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory, status_of_changes=True)
    run = sync(emarsys_config(sandbox, exports=["contact_changes"]))
    assert run.records["emarsys_contact_changes"] == expected(sandbox, "emarsys_contact_changes")


@pytest.mark.parametrize("mode", ["until_done", "served", "stays"])
def test_a_ready_local_export_is_read_as_soon_as_its_data_is_served(sandbox_factory, mode):
    """Whether a local export turns ``done`` is undocumented: ``/data`` is asked after ``ready``."""
    sandbox = emarsys_sandbox(sandbox_factory, local_ready=mode, ready_seconds=0.5)
    run = sync(emarsys_config(sandbox, exports=["registrations", "responses"]))
    for stream in ("emarsys_registrations", "emarsys_responses"):
        assert run.records[stream] == expected(sandbox, stream)


def test_more_rows_than_one_page_are_read_page_by_page(sandbox_factory):
    sandbox = sandbox_factory(
        rows={"emarsys/registrations": 5000}, emarsys=EmarsysOptions(ready_seconds=0)
    )
    run = sync(emarsys_config(sandbox, exports=["registrations"], page_size=1200))
    assert run.records["emarsys_registrations"] == expected(sandbox, "emarsys_registrations")
    assert sandbox.stats.requests(DATA_ROUTE) == math.ceil(5000 / 1200) + 1


def test_a_wrong_secret_fails_at_once_saying_the_signature_was_rejected(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory)
    config = emarsys_config(sandbox, secret="not-the-right-secret")
    with pytest.raises(ProviderError) as error:
        TapExports(config=config)
    message = str(error.value)
    assert message.startswith("Emarsys: HTTP 401 on GET /emarsys/api/v2/field")
    assert "signature was rejected" in message
    assert "not-the-right-secret" not in message
    assert sandbox.stats.requests("GET /emarsys/api/v2/field") == 1


def test_an_error_inside_http_200_is_an_error(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory)
    body = {"replyCode": 10001, "replyText": "Invalid contact field id: 4711", "data": ""}
    sandbox.faults.add("emarsys", "create", Fault.status(200, body))
    with pytest.raises(ProviderError) as error:
        sync(emarsys_config(sandbox, exports=["registrations"]))
    assert "HTTP 200 on POST /emarsys/api/v2/contact/getregistrations" in str(error.value)
    assert "Invalid contact field id: 4711 (replyCode 10001)" in str(error.value)
    assert exports_created(sandbox) == 0


@pytest.mark.parametrize("in_http_200", [False, True])
def test_an_export_already_running_is_adopted(sandbox_factory, in_http_200):
    """State was lost while an export ran: the next run waits for that export, not a new one."""
    sandbox = emarsys_sandbox(
        sandbox_factory,
        ready_seconds=1.0,
        errors_in_http_200=in_http_200,
        duplicate_names_export=True,
    )
    config = emarsys_config(sandbox, exports=["contact_changes"])
    with pytest.raises(ExportTimeoutError):
        sync({**config, "export_timeout_seconds": 0.1})
    run = sync(config)
    assert run.records["emarsys_contact_changes"] == expected(sandbox, "emarsys_contact_changes")
    assert exports_created(sandbox) == 1


def test_without_the_running_exports_id_the_tap_waits_for_it_to_end(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory, ready_seconds=0.5, duplicate_names_export=False)
    config = emarsys_config(sandbox, exports=["contact_changes"])
    with pytest.raises(ExportTimeoutError):
        sync({**config, "export_timeout_seconds": 0.1})
    run = sync(config)
    assert run.records["emarsys_contact_changes"] == expected(sandbox, "emarsys_contact_changes")
    assert exports_created(sandbox) == 2


def test_rate_limits_wait_until_the_reset_time(sandbox_factory, caplog):
    sandbox = emarsys_sandbox(sandbox_factory, rate_limit=4, rate_limit_window_seconds=1.0)
    with caplog.at_level(logging.WARNING, logger="tap_exports.http"):
        run = sync(emarsys_config(sandbox, exports=["registrations"]))
    assert run.records["emarsys_registrations"] == expected(sandbox, "emarsys_registrations")
    waits = [r.args[3] for r in caplog.records if r.args and r.args[1] == "HTTP 429"]
    assert waits
    assert all(0 <= wait <= 1.0 for wait in waits)


def test_a_run_that_stopped_resumes_the_export_in_state(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory, ready_seconds=0.5)
    config = emarsys_config(sandbox)
    state = cli_state_after_a_timeout(config)
    assert len([b for b in state["bookmarks"].values() if "export" in b]) == 3
    run = sync(config, state)
    assert_complete(run, sandbox)
    # The three exports in state were finished, not made again; then, as every run does,
    # the second run exported the overlap before the bookmark they left (no rows there).
    assert exports_created(sandbox) == 3 + 3


def test_settings_changed_under_an_export_in_state_create_a_new_one(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory, ready_seconds=0.5)
    config = emarsys_config(sandbox, exports=["registrations"], contact_fields=[1, 2])
    state = cli_state_after_a_timeout(config)
    run = sync(emarsys_config(sandbox, exports=["registrations"]), state)
    assert run.records["emarsys_registrations"] == expected(sandbox, "emarsys_registrations")
    # The first export, its replacement with the configured fields, then the overlap.
    assert exports_created(sandbox) == 3


def test_an_export_in_state_asked_for_without_english_names_is_made_again(sandbox_factory):
    """State left by a version that read columns by position: its export's names may not match."""
    sandbox = emarsys_sandbox(sandbox_factory, ready_seconds=0.5)
    config = emarsys_config(sandbox, exports=["registrations"])
    state = cli_state_after_a_timeout(config)
    del state["bookmarks"]["emarsys_registrations"]["export"]["detail"]["language"]
    run = sync(config, state)
    assert run.records["emarsys_registrations"] == expected(sandbox, "emarsys_registrations")
    assert exports_created(sandbox) == 3


def test_a_file_no_longer_stored_is_exported_again(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory)
    gone = {"replyCode": 4003, "replyText": "The export file is no longer stored", "data": ""}
    sandbox.faults.add("emarsys", "data", Fault.status(410, gone))
    run = sync(emarsys_config(sandbox, exports=["responses"]))
    assert run.records["emarsys_responses"] == expected(sandbox, "emarsys_responses")
    assert exports_created(sandbox, "responses") == 2


def test_a_page_cut_mid_transfer_is_read_again_without_duplicates(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory, ready_seconds=0)
    sandbox.faults.add("emarsys", "data", Fault.cut_after(20_000))
    run = sync(emarsys_config(sandbox, exports=["responses"]))
    assert run.records["emarsys_responses"] == expected(sandbox, "emarsys_responses")
    assert sandbox.stats.requests(DATA_ROUTE) == 3
    assert [fired.operation for fired in sandbox.faults.fired] == ["data"]


def test_a_failed_export_is_reported_with_its_id(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory)
    sandbox.faults.add("emarsys", "create", Fault.fail_export())
    with pytest.raises(ExportFailedError) as error:
        sync(emarsys_config(sandbox, exports=["registrations"]))
    assert str(error.value).startswith("Emarsys, stream emarsys_registrations, export 3931993:")
    assert "'error'" in str(error.value)


def test_an_unknown_status_word_names_the_word(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory)
    sandbox.faults.add("emarsys", "get", Fault.status_word("paused"))
    with pytest.raises(UnknownStatusError, match="unknown export status 'paused'"):
        sync(emarsys_config(sandbox, exports=["registrations"]))


def test_an_upload_that_never_happens_is_not_taken_for_done(sandbox_factory):
    """Emarsys keeps an export ``ready`` while its FTP upload fails."""
    sandbox = emarsys_sandbox(sandbox_factory, distribution_method="ftp")
    config = emarsys_config(sandbox, exports=["registrations"])
    config["emarsys"]["ftp"] = {**config["emarsys"]["ftp"], "password": "wrong-ftp-password"}
    with pytest.raises(ExportTimeoutError, match="still RUNNING"):
        sync({**config, "export_timeout_seconds": 1.0})
    assert sandbox.stats.requests(DATA_ROUTE) == 0


def test_late_rows_within_the_overlap_are_read_and_repeated_rows_keep_their_key(sandbox_factory):
    """Rows that appear after a run, timestamped before its bookmark, arrive with the next run."""
    now = dt.datetime.now(dt.UTC)
    sandbox = sandbox_factory(
        epoch=(now - dt.timedelta(minutes=10)).replace(second=0, microsecond=0),
        rows={"emarsys/responses": 300},
    )
    config = emarsys_config(sandbox, exports=["responses"], overlap_hours=0.25)
    first = sync(config)
    assert first.records["emarsys_responses"] == expected(sandbox, "emarsys_responses")
    sandbox.resize_dataset("emarsys/responses", 2000)  # the newest rows lie in the future
    second = sync(config, first.state)
    bookmark = second.state["bookmarks"]["emarsys_responses"]["replication_key_value"]
    truth = [row for row in expected(sandbox, "emarsys_responses") if row["time"] < bookmark]
    assert len(truth) > 300
    keys = ("user_id", "campaign_id", "source", "time", "url")
    loaded = {tuple(row[k] for k in keys): row for row in first.records["emarsys_responses"]}
    for row in second.records["emarsys_responses"]:
        assert loaded.setdefault(tuple(row[k] for k in keys), row) == row
    assert list(loaded.values()) == truth


def test_secrets_appear_in_no_log_line_or_message(sandbox_factory, caplog):
    sandbox = emarsys_sandbox(sandbox_factory, distribution_method="ftp")
    config = emarsys_config(sandbox)
    secrets = (config["emarsys"]["secret"], config["emarsys"]["ftp"]["password"])
    with caplog.at_level(logging.DEBUG):
        run = sync(config)
    text = caplog.text + json.dumps(run.messages)
    assert not [secret for secret in secrets if secret in text]


@pytest.mark.parametrize("distribution_method", ["local", "ftp"])
def test_the_cli_loads_exact_counts_and_continues_from_its_state(
    sandbox_factory, distribution_method
):
    """What ``meltano run`` does with only Emarsys configured, twice."""
    sandbox = emarsys_sandbox(sandbox_factory, distribution_method=distribution_method)
    config = emarsys_config(sandbox)
    first = run_cli(config)
    assert first.returncode == 0, first.stderr
    assert_complete(first, sandbox)
    secrets = (config["emarsys"]["secret"], config["emarsys"].get("ftp", {}).get("password"))
    assert not [secret for secret in secrets if secret and secret in first.stderr]
    second = run_cli(config, first.state)
    assert second.returncode == 0, second.stderr
    assert second.counts() == {}
    for stream in STREAMS:
        before = first.state["bookmarks"][stream]["replication_key_value"]
        assert second.state["bookmarks"][stream]["replication_key_value"] >= before
    assert exports_created(sandbox) == 6


def test_the_sandbox_configures_emarsys_and_reports_its_truth(sandbox):
    assert sandbox.tap_config()["emarsys"]["base_url"] == f"{sandbox.base_url}/emarsys/api/v2"
    assert {stream: sandbox.truth()["streams"][stream] for stream in STREAMS} == dict.fromkeys(
        STREAMS, 1000
    )


def test_a_contact_field_the_account_lacks_is_named_at_discovery(sandbox_factory):
    sandbox = emarsys_sandbox(sandbox_factory)
    with pytest.raises(ProviderError, match=r"emarsys.contact_fields: no field with id 9999"):
        TapExports(config=emarsys_config(sandbox, contact_fields=[1, 9999]))
    assert exports_created(sandbox) == 0
