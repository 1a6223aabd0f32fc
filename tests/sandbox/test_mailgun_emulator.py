"""The Mailgun emulator behaves as providers.md §1 says, over real sockets."""

from __future__ import annotations

import time

import pytest
import requests

from tap_exports_sandbox import CsvFormat, Fault, MailgunOptions, Sandbox, StatusDelays
from tap_exports_sandbox.data import Value
from tap_exports_sandbox.mailgun.emulator import MailgunEmulator

BOUNCES = "/v3/mg.example.com/bounces"
#: For tests that must act while an export is still running, even on a loaded machine.
SLOW_DELAYS = StatusDelays(running_after=0.5, complete_after=1.0)


@pytest.fixture
def slow_mailgun(sandbox_factory, mailgun_client):
    return mailgun_client(sandbox_factory(delays=SLOW_DELAYS))


def truth(sandbox: Sandbox, url: str) -> list[dict[str, Value]]:
    return list(sandbox.datasets[f"mailgun/{url}"].rows())


def test_create_poll_list_and_download_serve_the_exact_list(sandbox, mailgun):
    created = mailgun.create(BOUNCES)
    assert created.status_code == 200
    body = created.json()
    assert set(body) == {"id", "status", "url"}
    assert len(body["id"]) == 24
    int(body["id"], 16)
    assert body["status"] == "requested"
    assert body["url"] == "mg.example.com/bounces"

    assert mailgun.wait_until_done(body["id"]) == "complete"
    assert mailgun.list().json() == {"items": [{**body, "status": "complete"}]}

    redirect = mailgun.download_url(body["id"])
    assert redirect.status_code == 302
    link = redirect.headers["Location"]
    assert link.startswith(sandbox.storage.endpoint_url)
    assert "X-Amz-Signature=" in link

    rows = mailgun.fetch_rows(link)
    assert rows == truth(sandbox, "mg.example.com/bounces")
    assert len(rows) == 1000
    assert list(rows[0]) == ["address", "code", "error", "created_at"]


def test_status_goes_through_processing(slow_mailgun):
    export_id = slow_mailgun.create("/v3/domains").json()["id"]
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (not seen or seen[-1] != "complete"):
        status = slow_mailgun.get(export_id).json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.01)
    assert seen == ["requested", "processing", "complete"]


def test_every_list_exports_its_own_columns(sandbox, mailgun):
    for url in sandbox.tap_config()["mailgun"]["lists"]:
        key = url.removeprefix("/v3/")
        assert mailgun.fetch_rows(mailgun.ready_link(url)) == truth(sandbox, key), url
    columns = {
        "domains": ["name", "state", "created_at", "smtp_login", "spam_action", "wildcard", "type"],
        "eu.example.org/unsubscribes": ["address", "tag", "created_at"],
        "eu.example.org/complaints": ["address", "created_at"],
    }
    for key, expected in columns.items():
        assert list(sandbox.datasets[f"mailgun/{key}"].columns) == expected


def test_rows_carry_rfc2822_dates_and_string_codes(sandbox):
    first = next(sandbox.datasets["mailgun/mg.example.com/bounces"].rows())
    assert first["created_at"] == sandbox.epoch.strftime("%a, %d %b %Y %H:%M:%S UTC")
    assert isinstance(first["code"], str)
    assert first["code"].isdigit()


def test_duplicate_request_while_processing_is_a_400(sandbox_factory, mailgun_client):
    sandbox = sandbox_factory(delays=SLOW_DELAYS)
    mailgun = mailgun_client(sandbox)
    first = mailgun.create(BOUNCES).json()
    duplicate = mailgun.create("v3/mg.example.com/bounces/")
    assert duplicate.status_code == 400
    assert duplicate.json() == {"message": "Export for this url is already processing"}
    assert mailgun.create("/v3/mg.example.com/complaints").status_code == 200

    mailgun.wait_until_done(first["id"])
    again = mailgun.create(BOUNCES)
    assert again.status_code == 200
    assert again.json()["id"] != first["id"]
    assert sandbox.stats.exports_created("mailgun") == 3
    assert sandbox.stats.exports_created("mailgun", "mg.example.com/bounces") == 2


def test_list_filter_matches_the_normalized_url_exactly(mailgun):
    bounces = mailgun.create(BOUNCES).json()
    mailgun.create("/v3/eu.example.org/bounces")
    for spelling in (
        BOUNCES,
        "mg.example.com/bounces",
        "https://api.mailgun.net/v3/mg.example.com/bounces",
    ):
        items = mailgun.list(spelling).json()["items"]
        assert [item["id"] for item in items] == [bounces["id"]], spelling
    assert mailgun.list("/v3/mg.example.com").json() == {"items": []}
    assert len(mailgun.list().json()["items"]) == 2


def test_unknown_export_and_not_ready_download_are_404(slow_mailgun):
    mailgun = slow_mailgun
    missing = mailgun.get("0123456789abcdef01234567")
    assert missing.status_code == 404
    assert missing.json() == {"message": "export not found"}
    assert mailgun.download_url("0123456789abcdef01234567").status_code == 404

    export_id = mailgun.create(BOUNCES).json()["id"]
    not_ready = mailgun.download_url(export_id)
    assert not_ready.status_code == 404
    assert not_ready.json() == {"message": "Export not ready"}


def test_exports_expire_24_hours_after_creation(sandbox, mailgun):
    export_id = mailgun.create(BOUNCES).json()["id"]
    mailgun.wait_until_done(export_id)
    sandbox.advance_clock(24 * 3600 - 60)
    assert mailgun.get(export_id).status_code == 200
    assert len(mailgun.list().json()["items"]) == 1

    sandbox.advance_clock(60)
    assert mailgun.get(export_id).status_code == 404
    assert mailgun.download_url(export_id).status_code == 404
    assert mailgun.list().json() == {"items": []}


def test_bad_or_missing_credentials_are_401_forbidden(sandbox, mailgun):
    for auth in (("api", "wrong-key"), ("user", sandbox.config.mailgun.api_key), None):
        response = requests.get(mailgun.api, auth=auth, timeout=10)
        assert response.status_code == 401
        assert response.text == "Forbidden"
        assert response.headers["Content-Type"].startswith("text/plain")


def test_missing_or_unknown_url_is_a_400(mailgun):
    assert mailgun.session.post(mailgun.api).status_code == 400
    unknown = mailgun.create("/v3/unknown.example.com/bounces")
    assert unknown.status_code == 400
    assert "message" in unknown.json()


def test_legacy_create_puts_the_url_in_the_path(mailgun):
    response = mailgun.session.post(f"{mailgun.api}/domains")
    assert response.status_code == 200
    assert response.json()["url"] == "domains"


def test_create_without_id_in_the_answer_is_found_through_the_list(sandbox_factory, mailgun_client):
    client = mailgun_client(sandbox_factory(mailgun=MailgunOptions(create_returns_id=False)))
    assert client.create(BOUNCES).json() == {"message": "success"}
    items = client.list(BOUNCES).json()["items"]
    assert [item["url"] for item in items] == ["mg.example.com/bounces"]


def test_account_without_the_exports_feature_answers_404(sandbox_factory, mailgun_client):
    client = mailgun_client(sandbox_factory(mailgun=MailgunOptions(exports_enabled=False)))
    assert client.list().status_code == 404
    assert client.create(BOUNCES).status_code == 404
    assert client.get("0123456789abcdef01234567").status_code == 404


def test_an_export_holds_the_rows_present_at_creation(sandbox, mailgun):
    export_id = mailgun.create(BOUNCES).json()["id"]
    sandbox.resize_dataset("mailgun/mg.example.com/bounces", 1500)
    assert sandbox.truth()["exports"]["mailgun"]["mg.example.com/bounces"] == 1500
    mailgun.wait_until_done(export_id)
    rows = mailgun.fetch_rows(mailgun.download_url(export_id).headers["Location"])
    assert rows == truth(sandbox, "mg.example.com/bounces")[:1000]
    exports = sandbox.emulator(MailgunEmulator).exports
    assert exports.find(export_id, sandbox.clock.now()).rows == 1000


def test_csv_format_is_configurable(sandbox_factory, mailgun_client):
    fmt = CsvFormat(delimiter=";", line_terminator="\n", header=False, bom=True)
    sandbox = sandbox_factory(mailgun=MailgunOptions(csv=fmt))
    client = mailgun_client(sandbox)
    link = client.ready_link("/v3/mg.example.com/unsubscribes")
    content = requests.get(link, timeout=10).content
    assert content.startswith("\ufeff".encode())
    columns = ["address", "tag", "created_at"]
    rows = client.fetch_rows(link, fieldnames=columns, delimiter=";")
    assert rows == truth(sandbox, "mg.example.com/unsubscribes")


def test_fail_export_fault_ends_in_failed(sandbox, mailgun):
    sandbox.faults.add("mailgun", "create", Fault.fail_export())
    export_id = mailgun.create(BOUNCES).json()["id"]
    assert mailgun.wait_until_done(export_id) == "failed"
    assert mailgun.download_url(export_id).status_code == 404


def test_status_word_fault_reports_an_unknown_word(sandbox, mailgun):
    export_id = mailgun.create(BOUNCES).json()["id"]
    sandbox.faults.add("mailgun", "get", Fault.status_word("exploded"))
    assert mailgun.get(export_id).json()["status"] == "exploded"
    assert mailgun.get(export_id).json()["status"] != "exploded"


def test_malformed_rows_fault_inserts_broken_lines_beside_every_real_row(sandbox, mailgun):
    sandbox.faults.add("mailgun", "create", Fault.malformed_rows(3))
    rows = mailgun.fetch_rows(mailgun.ready_link(BOUNCES))
    broken = [row for row in rows if row["address"] == "#malformed"]
    assert len(broken) == 3
    assert all(None in row for row in broken)
    assert [row for row in rows if row not in broken] == truth(sandbox, "mg.example.com/bounces")


def test_expire_link_fault_hands_out_a_dead_link(sandbox, mailgun):
    export_id = mailgun.create(BOUNCES).json()["id"]
    mailgun.wait_until_done(export_id)
    sandbox.faults.add("mailgun", "download_url", Fault.expire_link())
    dead = requests.get(mailgun.download_url(export_id).headers["Location"], timeout=10)
    assert dead.status_code == 403
    assert "<Code>AccessDenied</Code>" in dead.text
    fresh = requests.get(mailgun.download_url(export_id).headers["Location"], timeout=10)
    assert fresh.status_code == 200


def test_rate_limit_fault_answers_429_with_retry_hints(sandbox, mailgun):
    fault = Fault.rate_limited(retry_after=3, body={"retry-seconds": 3})
    sandbox.faults.add("mailgun", "create", fault)
    limited = mailgun.create(BOUNCES)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert limited.json() == {"retry-seconds": 3}
    assert mailgun.create(BOUNCES).status_code == 200
    assert [(f.operation, f.call, f.fault.code) for f in sandbox.faults.fired] == [
        ("create", 1, 429)
    ]


def test_server_error_and_reset_faults_on_the_second_poll(sandbox, mailgun):
    export_id = mailgun.create(BOUNCES).json()["id"]
    sandbox.faults.add("mailgun", "get", Fault.status(503, {"message": "busy"}), nth=2)
    sandbox.faults.add("mailgun", "get", Fault.reset(), nth=3)
    assert mailgun.get(export_id).status_code == 200
    assert mailgun.get(export_id).status_code == 503
    with pytest.raises(requests.ConnectionError):
        mailgun.get(export_id)
    assert mailgun.get(export_id).status_code == 200


def test_latency_fault_delays_the_answer(sandbox, mailgun):
    sandbox.faults.add("mailgun", "list", Fault.latency(0.3))
    started = time.monotonic()
    assert mailgun.list().status_code == 200
    assert time.monotonic() - started >= 0.3


def test_cut_after_fault_drops_the_download_midway(sandbox, mailgun):
    link = mailgun.ready_link(BOUNCES)
    sandbox.faults.add("mailgun", "storage_get", Fault.cut_after(10_000))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(link, timeout=10)
    assert mailgun.fetch_rows(link) == truth(sandbox, "mg.example.com/bounces")
