"""Mailgun end to end against the sandbox, over real sockets."""

from __future__ import annotations

import dataclasses
import signal
from typing import Any

import pytest

from tap_exports.errors import ExportFailedError, ExportTimeoutError
from tap_exports.io import csvarrow
from tap_exports.providers.mailgun.exports import rfc2822_column, rfc2822_to_iso
from tap_exports_sandbox import Sandbox
from tap_exports_sandbox.faults import Fault
from tap_exports_sandbox.mailgun.options import MailgunOptions
from tests.conftest import FAST_DELAYS, SandboxFactory
from tests.support import bookmark, run_cli, sync

BOUNCES = "/v3/mg.example.com/bounces"
LIST_DATASETS = {
    "/v3/domains": "mailgun/domains",
    "/v3/mg.example.com/bounces": "mailgun/mg.example.com/bounces",
    "/v3/eu.example.org/complaints": "mailgun/eu.example.org/complaints",
}


def expected_rows(sandbox: Sandbox, dataset: str, domain: str | None) -> list[dict[str, Any]]:
    """The sandbox's ground truth, shaped as the tap's schema says."""
    rows = []
    for row in sandbox.datasets[dataset].rows():
        shaped: dict[str, Any] = {
            key: (value if value != "" else None) for key, value in row.items()
        }
        shaped["created_at"] = rfc2822_to_iso(shaped["created_at"])
        if domain is None:
            shaped["wildcard"] = shaped["wildcard"] == "true"
        else:
            shaped["domain"] = domain
        if dataset.endswith("unsubscribes"):
            shaped["tag"] = shaped["tag"] or "*"
        rows.append(shaped)
    return rows


def config_for(sandbox: Sandbox, *lists: str) -> dict[str, Any]:
    config = sandbox.tap_config()
    config = {
        key: value
        for key, value in config.items()
        if key in {"mailgun", "start_date"} or "_seconds" in key
    }
    if lists:
        config["mailgun"] = {**config["mailgun"], "lists": list(lists)}
    return config


def test_every_list_loads_exactly_the_ground_truth(sandbox: Sandbox):
    result = sync(config_for(sandbox))
    truth = sandbox.truth()["streams"]
    counts = result.counts()
    for stream in (
        "mailgun_domains",
        "mailgun_bounces",
        "mailgun_unsubscribes",
        "mailgun_complaints",
    ):
        assert counts[stream] == truth[stream], stream
    assert sandbox.stats.exports_created("mailgun") == 7


def test_row_values_match_the_ground_truth(sandbox: Sandbox):
    result = sync(config_for(sandbox, *LIST_DATASETS))
    records = result.records
    assert records["mailgun_domains"] == expected_rows(sandbox, "mailgun/domains", None)
    assert records["mailgun_bounces"] == expected_rows(
        sandbox, "mailgun/mg.example.com/bounces", "mg.example.com"
    )
    assert records["mailgun_complaints"] == expected_rows(
        sandbox, "mailgun/eu.example.org/complaints", "eu.example.org"
    )


@pytest.mark.skipif(not csvarrow.AVAILABLE, reason="pyarrow is not installed")
def test_rows_read_by_arrow_match_the_ground_truth_and_the_csv_path(
    sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
):
    # A file of several blocks, in small segments: Arrow reads all but its first block.
    sandbox = sandbox_factory(rows={LIST_DATASETS[BOUNCES]: 20_000})
    monkeypatch.setattr(csvarrow, "SEGMENT_BYTES", 4096)
    read_by_arrow: list[int] = []
    columns = csvarrow.ColumnarCsv.columns

    def counted(self: csvarrow.ColumnarCsv, segment: bytes) -> csvarrow.ArrowSegment | None:
        read = columns(self, segment)
        read_by_arrow.append(len(read) if read is not None else 0)
        return read

    monkeypatch.setattr(csvarrow.ColumnarCsv, "columns", counted)
    config = config_for(sandbox, BOUNCES)
    arrow = sync(config)
    monkeypatch.setattr(csvarrow, "AVAILABLE", False)
    plain = sync(config)

    assert sum(read_by_arrow) > 15_000
    assert arrow.records["mailgun_bounces"] == expected_rows(
        sandbox, LIST_DATASETS[BOUNCES], "mg.example.com"
    )
    assert arrow.records["mailgun_bounces"] == plain.records["mailgun_bounces"]
    assert bookmark(arrow.state, "mailgun_bounces") == bookmark(plain.state, "mailgun_bounces")


UNSUBSCRIBES = "/v3/eu.example.org/unsubscribes"


@pytest.mark.parametrize("all_tag", ["*", ""], ids=["star", "empty"])
def test_an_unsubscribe_from_every_tag_loads_as_a_star(
    sandbox_factory: SandboxFactory, all_tag: str
):
    """An assumption: the CSV writes "every tag" as the JSON lists do ("*") or leaves it empty."""
    sandbox = sandbox_factory(mailgun=MailgunOptions(all_tag=all_tag))
    records = sync(config_for(sandbox, UNSUBSCRIBES)).records["mailgun_unsubscribes"]
    dataset = "mailgun/eu.example.org/unsubscribes"
    assert records == expected_rows(sandbox, dataset, "eu.example.org")
    assert "*" in {record["tag"] for record in records}


@pytest.mark.parametrize(
    ("failure_word", "error", "words"),
    [
        ("failed", ExportFailedError, "failed"),
        (None, ExportTimeoutError, "still RUNNING"),
    ],
    ids=["failed-word", "stays-processing"],
)
def test_a_failing_export_stops_the_run_whatever_it_shows(
    sandbox_factory: SandboxFactory, failure_word: str | None, error: type[Exception], words: str
):
    """Mailgun documents no failure state: a 'failed' word, or an export that never ends."""
    sandbox = sandbox_factory(mailgun=MailgunOptions(failure_word=failure_word))
    sandbox.faults.add("mailgun", "create", Fault.fail_export())
    config = {**config_for(sandbox, BOUNCES), "export_timeout_seconds": 1}
    with pytest.raises(error, match=words):
        sync(config)


def test_state_after_a_run_and_the_incremental_second_run(sandbox: Sandbox):
    config = config_for(sandbox, BOUNCES)
    first = sync(config)
    rows = sandbox.datasets["mailgun/mg.example.com/bounces"].rows()
    newest = max(filter(None, (rfc2822_to_iso(str(row["created_at"])) for row in rows)))
    saved = bookmark(first.state, "mailgun_bounces", {"list": BOUNCES})
    assert saved["replication_key"] == "created_at"
    assert saved["replication_key_value"] == newest
    assert "export" not in saved

    size = sandbox.datasets["mailgun/mg.example.com/bounces"].size
    sandbox.resize_dataset("mailgun/mg.example.com/bounces", size + 25)
    second = sync(config, state=first.state)
    addresses = [row["address"] for row in second.records["mailgun_bounces"]]
    all_rows = list(sandbox.datasets["mailgun/mg.example.com/bounces"].rows())
    new = [row["address"] for row in all_rows[size:]]
    # Mailgun exports cannot be filtered: the boundary row (same second as the bookmark)
    # is read again on purpose, so a row created in that second is never missed.
    assert addresses == [all_rows[size - 1]["address"], *new]
    assert sandbox.stats.exports_created("mailgun") == 2


def test_a_run_killed_while_the_export_is_processing_resumes_it(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(delays=dataclasses.replace(FAST_DELAYS, complete_after=3.0))
    config = config_for(sandbox, BOUNCES)

    def export_in_flight(message: dict[str, Any]) -> bool:
        if message["type"] != "STATE":
            return False
        partitions = (
            message["value"].get("bookmarks", {}).get("mailgun_bounces", {}).get("partitions", [])
        )
        return any("export" in part for part in partitions)

    killed = run_cli(config, stop_when=export_in_flight, stop_signal=signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    in_flight = bookmark(killed.state, "mailgun_bounces", {"list": BOUNCES})["export"]
    assert in_flight["status"] == "PENDING"

    rerun = run_cli(config, state=killed.state)
    assert rerun.returncode == 0, rerun.stderr
    assert (
        len(rerun.records["mailgun_bounces"]) == sandbox.truth()["streams"]["mailgun_bounces"] // 2
    )
    assert sandbox.stats.exports_created("mailgun", "mg.example.com/bounces") == 1
    assert f"resuming export {in_flight['id']}" in rerun.stderr
    assert "export" not in bookmark(rerun.state, "mailgun_bounces", {"list": BOUNCES})


def test_a_duplicate_export_adopts_the_running_one(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(delays=dataclasses.replace(FAST_DELAYS, complete_after=1.0))
    config = config_for(sandbox, BOUNCES)
    import requests

    settings = config["mailgun"]
    running = requests.post(
        f"{settings['base_url']}/v3/exports",
        data={"url": BOUNCES},
        auth=("api", settings["api_key"]),
        timeout=10,
    ).json()
    result = sync(config)
    assert len(result.records["mailgun_bounces"]) == 1000
    assert sandbox.stats.exports_created("mailgun") == 1
    assert running["id"]


def test_create_without_an_id_finds_the_export_through_the_list_filter(
    sandbox_factory: SandboxFactory,
):
    sandbox = sandbox_factory(mailgun=MailgunOptions(create_returns_id=False))
    result = sync(config_for(sandbox, BOUNCES))
    assert (
        len(result.records["mailgun_bounces"])
        == sandbox.datasets["mailgun/mg.example.com/bounces"].size
    )


def test_an_account_without_exports_gets_a_clear_error(sandbox_factory: SandboxFactory):
    sandbox = sandbox_factory(mailgun=MailgunOptions(exports_enabled=False))
    result = run_cli(config_for(sandbox, BOUNCES))
    assert result.returncode != 0
    assert "Mailgun" in result.stderr
    assert "this account has no export feature" in result.stderr


def test_rate_limits_honour_retry_seconds(sandbox: Sandbox, caplog: pytest.LogCaptureFixture):
    sandbox.faults.add("mailgun", "create", Fault.rate_limited(None, body={"retry-seconds": 1}))
    sandbox.faults.add("mailgun", "get", Fault.rate_limited(1.0))
    with caplog.at_level("WARNING"):
        result = sync(config_for(sandbox, BOUNCES))
    assert len(result.records["mailgun_bounces"]) == 1000
    waits = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert any("HTTP 429 on POST" in w and "retrying in 1.0 s" in w for w in waits)
    assert any("HTTP 429 on GET" in w and "retrying in 1.0 s" in w for w in waits)


def test_bad_credentials_fail_with_the_provider_named(sandbox: Sandbox):
    config = config_for(sandbox, BOUNCES)
    config["mailgun"]["api_key"] = "key-wrong-0000"
    result = run_cli(config)
    assert result.returncode != 0
    assert "Mailgun" in result.stderr
    assert "HTTP 401" in result.stderr
    assert "key-wrong-0000" not in result.stderr


def test_invalid_lists_fail_before_any_request(sandbox: Sandbox):
    config = config_for(sandbox, "/v3/mg.example.com/events")
    result = run_cli(config)
    assert result.returncode != 0
    assert "mailgun.lists" in result.stderr
    assert (
        sandbox.stats.snapshot()["requests"] == {}
        or sum(sandbox.stats.snapshot()["requests"].values()) == 0
    )


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Fri, 21 Oct 2011 11:02:55 UTC", "2011-10-21T11:02:55Z"),
        ("Fri, 21 Oct 2011 11:02:55 GMT", "2011-10-21T11:02:55Z"),
        ("Fri, 21 Oct 2011 13:02:55 +0200", "2011-10-21T11:02:55Z"),
        ("", None),
    ],
)
def test_rfc2822_dates(text: str, iso: str | None):
    assert rfc2822_to_iso(text) == iso


FIXED = ["Fri, 21 Oct 2011 11:02:55 UTC", "Sat, 29 Feb 2020 23:59:59 GMT"]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(FIXED, id="fixed-layout"),
        pytest.param([*FIXED, None, ""], id="empty"),
        pytest.param([*FIXED, "Fri, 21 Oct 2011 13:02:55 +0200"], id="other-zone"),
        pytest.param([*FIXED, "Fri, 21 Oct 2011 11:02:55 UTC\nFri, 21 Oct 2011"], id="line-end"),
        pytest.param([*FIXED, "Fri, \u0662\u0661 Oct 2011 11:02:55 UTC"], id="arabic-digits"),
    ],
)
def test_a_date_column_converts_as_each_date_would(values: list[str | None]):
    expected = []
    for value in values:
        try:
            expected.append(rfc2822_to_iso(value))
        except ValueError:
            expected.append("ValueError")
    try:
        converted: list[str | None] = rfc2822_column(values)
    except ValueError:
        assert "ValueError" in expected
    else:
        assert converted == expected


def test_a_day_that_does_not_exist_fails_the_column():
    with pytest.raises(ValueError, match="unreadable date"):
        rfc2822_column([*FIXED, "Mon, 30 Feb 2026 10:00:00 UTC"])
