"""The Emarsys emulator over real sockets: WSSE, the envelope, exports, data pages and FTP."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import secrets
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tap_exports_sandbox import Sandbox, StatusDelays
from tap_exports_sandbox.emarsys.options import EmarsysOptions

VIENNA = ZoneInfo("Europe/Vienna")
SLOW = StatusDelays(running_after=0.2, complete_after=0.4)
TIME_RANGE = ["2000-01-01 00:00:00", "2100-01-01 00:00:00"]
REGISTRATIONS = {
    "distribution_method": "local",
    "time_range": TIME_RANGE,
    "contact_fields": [1, 3],
}


def wsse(
    options: EmarsysOptions,
    *,
    created: str | None = None,
    nonce: str | None = None,
    standard_digest: bool = False,
) -> str:
    nonce = nonce or secrets.token_hex(16)
    created = created or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sha1 = hashlib.sha1(f"{nonce}{created}{options.secret}".encode(), usedforsecurity=False)
    raw = sha1.digest() if standard_digest else sha1.hexdigest().encode()
    digest = base64.b64encode(raw).decode()
    return (
        f'UsernameToken Username="{options.username}", PasswordDigest="{digest}", '
        f'Nonce="{nonce}", Created="{created}"'
    )


def call(sandbox: Sandbox, method: str, path: str, *, header: str | None = None, **kwargs: Any):
    options = sandbox.config.emarsys
    return requests.request(
        method,
        f"{sandbox.base_url}/emarsys/api/v2{path}",
        headers={"X-WSSE": header or wsse(options)},
        timeout=10,
        **kwargs,
    )


def create(sandbox: Sandbox, path: str = "/contact/getregistrations", **body: Any) -> int:
    response = call(sandbox, "POST", path, json={**REGISTRATIONS, **body})
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["id"])


def wait_for(sandbox: Sandbox, export_id: int, word: str) -> dict[str, Any]:
    for _ in range(200):
        data: dict[str, Any] = call(sandbox, "GET", f"/export/{export_id}").json()["data"]
        if data["status"] == word:
            return data
        time.sleep(0.02)
    raise AssertionError(f"export {export_id} never reached {word!r}")


def test_the_emarsys_digest_is_accepted_and_the_envelope_wraps_the_answer(sandbox):
    body = call(sandbox, "GET", "/field").json()
    assert body["replyCode"] == 0
    assert body["replyText"] == "OK"
    assert {"id": 1, "name": "First Name", "application_type": "shorttext"}.items() <= (
        body["data"][0].items()
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"standard_digest": True}, "Unauthorized"),
        ({"created": "2014-03-20T12:51:45Z"}, "Unauthorized Time frame is invalid"),
        ({"created": "yesterday"}, "Unauthorized Time frame is invalid"),
    ],
    ids=["standard-wsse-digest", "stale-created", "unreadable-created"],
)
def test_wrong_signatures_are_refused_with_reply_code_1(sandbox, header, reason):
    response = call(sandbox, "GET", "/field", header=wsse(sandbox.config.emarsys, **header))
    assert response.status_code == 401
    assert response.json() == {"replyCode": 1, "replyText": reason, "data": ""}


def test_a_reused_nonce_and_a_missing_header_are_refused(sandbox):
    header = wsse(sandbox.config.emarsys)
    assert call(sandbox, "GET", "/field", header=header).status_code == 200
    assert call(sandbox, "GET", "/field", header=header).status_code == 401
    unsigned = requests.get(f"{sandbox.base_url}/emarsys/api/v2/field", timeout=10)
    assert unsigned.status_code == 401


def test_created_without_timezone_is_read_as_vienna_time(sandbox):
    vienna = dt.datetime.now(VIENNA).strftime("%Y-%m-%dT%H:%M:%S")
    utc = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    options = sandbox.config.emarsys
    assert call(sandbox, "GET", "/field", header=wsse(options, created=vienna)).status_code == 200
    assert call(sandbox, "GET", "/field", header=wsse(options, created=utc)).status_code == 401


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"distribution_method": None}, "Missing parameter: distribution_method"),
        ({"distribution_method": "mail"}, "Invalid distribution method: mail"),
        ({"time_range": "2024-01-01"}, "Invalid data format for time_range. Array expected"),
        ({"time_range": ["2024-01-01"]}, "Array size must be 2"),
        ({"time_range": ["2024-02-01", "2024-01-01"]}, "end_date is earlier than the start_date"),
        ({"contact_fields": [27]}, "Invalid contact field id: 27"),
    ],
)
def test_invalid_requests_are_10001_errors(sandbox_factory, body, text):
    sandbox = sandbox_factory()
    request = {key: value for key, value in {**REGISTRATIONS, **body}.items() if value is not None}
    response = call(sandbox, "POST", "/contact/getregistrations", json=request)
    assert response.status_code == 400
    assert response.json()["replyCode"] == 10001
    assert text in response.json()["replyText"]


def test_changes_need_whole_days_that_differ(sandbox):
    body = {**REGISTRATIONS, "origin": "all", "origin_id": 0}
    for time_range in (["2024-01-01 10:00:00", "2024-01-02"], ["2024-01-01", "2024-01-01"]):
        response = call(
            sandbox, "POST", "/contact/getchanges", json={**body, "time_range": time_range}
        )
        assert response.json()["replyCode"] == 10001


def test_errors_can_arrive_inside_http_200(sandbox_factory):
    sandbox = sandbox_factory(emarsys=EmarsysOptions(errors_in_http_200=True))
    response = call(sandbox, "POST", "/contact/getregistrations", json={})
    assert response.status_code == 200
    assert response.json()["replyCode"] == 10001


@pytest.mark.parametrize("names_export", [True, False])
def test_an_identical_running_export_is_a_4001(sandbox_factory, names_export):
    sandbox = sandbox_factory(
        delays=SLOW, emarsys=EmarsysOptions(duplicate_names_export=names_export)
    )
    export_id = create(sandbox)
    response = call(sandbox, "POST", "/contact/getregistrations", json=REGISTRATIONS)
    assert response.status_code == 400
    assert response.json()["replyCode"] == 4001
    assert response.json()["data"] == ({"id": export_id} if names_export else "")
    other = call(
        sandbox, "POST", "/contact/getregistrations", json={**REGISTRATIONS, "contact_fields": [1]}
    )
    assert other.json()["replyCode"] == 0
    assert sandbox.stats.exports_created("emarsys", "registrations") == 2


def test_a_local_export_goes_through_ready_before_done_and_serves_pages(sandbox_factory):
    sandbox = sandbox_factory(delays=SLOW, emarsys=EmarsysOptions(ready_seconds=0.3))
    export_id = create(sandbox)
    assert call(sandbox, "GET", f"/export/{export_id}").json()["data"]["status"] == "scheduled"
    wait_for(sandbox, export_id, "in progress")
    ready = wait_for(sandbox, export_id, "ready")
    assert ready["file_name"] is None
    early = call(sandbox, "GET", f"/export/{export_id}/data")
    assert (early.status_code, early.json()["replyCode"]) == (404, 4005)
    done = wait_for(sandbox, export_id, "done")
    assert done["type"] == "Registrations"
    assert done["file_name"].startswith(f"registrations_{export_id}_1_en-")
    page = call(sandbox, "GET", f"/export/{export_id}/data", params={"offset": 990, "limit": 20})
    assert page.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(page.text)))
    assert rows[0] == ["user_id", "First Name", "E-Mail", "Registration date"]
    assert [row[0] for row in rows[1:]] == [str(100_000 + i) for i in range(990, 1000)]
    empty = call(sandbox, "GET", f"/export/{export_id}/data", params={"offset": 1000, "limit": 20})
    assert list(csv.reader(io.StringIO(empty.text))) == [rows[0]]


CHANGES = {**REGISTRATIONS, "time_range": ["2000-01-01", "2100-01-01"], "origin": "all"}


def data_answer(sandbox: Sandbox, export_id: int) -> tuple[int, int | None]:
    """HTTP status and replyCode (None for a file) of the first ``/data`` page."""
    response = call(sandbox, "GET", f"/export/{export_id}/data", params={"limit": 1})
    is_json = "json" in response.headers["Content-Type"]
    return response.status_code, response.json()["replyCode"] if is_json else None


def test_contact_change_exports_have_no_status_as_documented(sandbox_factory):
    sandbox = sandbox_factory(delays=SLOW)
    export_id = create(sandbox, "/contact/getchanges", **CHANGES, origin_id=0)
    refused = call(sandbox, "GET", f"/export/{export_id}")
    assert (refused.status_code, refused.json()["replyCode"]) == (400, 4002)
    assert refused.json()["replyText"] == "Invalid export type"
    assert data_answer(sandbox, export_id) == (404, 4005)
    for _ in range(200):
        if data_answer(sandbox, export_id) == (200, None):
            break
        time.sleep(0.02)
    assert data_answer(sandbox, export_id) == (200, None)


def test_a_mode_reports_the_status_of_contact_change_exports(sandbox_factory):
    sandbox = sandbox_factory(emarsys=EmarsysOptions(status_of_changes=True))
    export_id = create(sandbox, "/contact/getchanges", **CHANGES, origin_id=0)
    assert wait_for(sandbox, export_id, "done")["type"] == "Changes"


@pytest.mark.parametrize(
    ("mode", "served_when_ready", "reaches_done"),
    [("until_done", False, True), ("served", True, True), ("stays", True, False)],
)
def test_what_a_ready_local_export_does_is_a_mode(
    sandbox_factory, mode, served_when_ready, reaches_done
):
    sandbox = sandbox_factory(
        delays=SLOW, emarsys=EmarsysOptions(ready_seconds=0.5, local_ready=mode)
    )
    export_id = create(sandbox)
    wait_for(sandbox, export_id, "ready")
    assert data_answer(sandbox, export_id) == ((200, None) if served_when_ready else (404, 4005))
    sandbox.advance_clock(3600)
    status = call(sandbox, "GET", f"/export/{export_id}").json()["data"]["status"]
    assert status == ("done" if reaches_done else "ready")
    assert data_answer(sandbox, export_id) == (200, None)


@pytest.mark.parametrize(
    ("options", "header"),
    [
        ({}, ["user_id", "First Name", "E-Mail", "Registration date"]),
        ({"column_order": "reversed"}, ["Registration date", "E-Mail", "First Name", "user_id"]),
        (
            {"honours_language": False, "language": "de"},
            ["user_id", "Vorname", "E-Mail", "Registrierungsdatum"],
        ),
    ],
    ids=["request-order", "reversed", "account-language"],
)
def test_column_order_and_header_language_are_modes(sandbox_factory, options, header):
    sandbox = sandbox_factory(emarsys=EmarsysOptions(**options))
    export_id = create(sandbox, language="en")
    wait_for(sandbox, export_id, "done")
    text = call(sandbox, "GET", f"/export/{export_id}/data", params={"limit": 1}).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == header
    assert dict(zip(header, rows[1], strict=True))["user_id"] == "100000"


def test_fields_are_translated_on_request(sandbox_factory):
    sandbox = sandbox_factory(emarsys=EmarsysOptions(language="de"))
    german = call(sandbox, "GET", "/field").json()["data"]
    english = call(sandbox, "GET", "/field/translate/en").json()["data"]
    assert [field["name"] for field in german][:2] == ["Vorname", "Nachname"]
    assert [field["name"] for field in english][:2] == ["First Name", "Last Name"]
    assert [field["string_id"] for field in english] == [field["string_id"] for field in german]


def test_the_file_honours_delimiter_header_and_language(sandbox):
    export_id = create(sandbox, delimiter=";", add_field_names_header=1, language="de")
    wait_for(sandbox, export_id, "done")
    text = call(sandbox, "GET", f"/export/{export_id}/data", params={"limit": 2}).text
    header, first = text.splitlines()[:2]
    assert header == "user_id;Vorname;E-Mail;Registrierungsdatum"
    registered = sandbox.datasets["emarsys/registrations"].timestamp(0).astimezone(VIENNA)
    assert first.startswith("100000;")
    assert first.endswith(";" + registered.strftime("%Y-%m-%d %H:%M:%S"))


def test_json_data_lists_rows_keyed_by_header_name(sandbox_factory):
    sandbox = sandbox_factory(emarsys=EmarsysOptions(data_format="json"))
    export_id = create(sandbox)
    wait_for(sandbox, export_id, "done")
    body = call(sandbox, "GET", f"/export/{export_id}/data", params={"limit": 3}).json()
    assert body["replyCode"] == 0
    assert [row["user_id"] for row in body["data"]] == [100_000, 100_001, 100_002]
    assert list(body["data"][0]) == ["user_id", "First Name", "E-Mail", "Registration date"]


def test_data_errors_name_their_cause(sandbox_factory):
    sandbox = sandbox_factory(emarsys=EmarsysOptions(file_retention_hours=1))
    ftp_export = create(sandbox, distribution_method="ftp", ftp_settings=sandbox.ftp.settings())
    local_export = create(sandbox, contact_fields=[2])
    wait_for(sandbox, local_export, "done")
    wrong_method = call(sandbox, "GET", f"/export/{ftp_export}/data")
    assert (wrong_method.status_code, wrong_method.json()["replyCode"]) == (404, 4004)
    bad_limit = call(sandbox, "GET", f"/export/{local_export}/data", params={"limit": 0})
    assert bad_limit.json()["replyCode"] == 10001
    sandbox.advance_clock(2 * 3600)
    gone = call(sandbox, "GET", f"/export/{local_export}/data")
    assert (gone.status_code, gone.json()["replyCode"]) == (410, 4003)
    unknown = call(sandbox, "GET", f"/export/{local_export}")
    assert (unknown.status_code, unknown.json()["replyCode"]) == (400, 10001)


def test_ftp_exports_are_uploaded_to_the_named_server_only(sandbox):
    settings = sandbox.ftp.settings()
    ftp = {"host": settings["host"], "port": settings["port"], "username": settings["username"]}
    good = create(
        sandbox,
        distribution_method="ftp",
        ftp_settings={**ftp, "password": settings["password"], "folder": "/drop"},
    )
    bad = create(
        sandbox, distribution_method="ftp", ftp_settings={**ftp, "password": "nope", "folder": "/x"}
    )
    done = wait_for(sandbox, good, "done")
    assert (done["ftp_host"], done["ftp_dir"]) == ("127.0.0.1", "/drop")
    uploaded = (sandbox.ftp.root / "drop" / done["file_name"]).read_bytes().decode()
    assert len(list(csv.reader(io.StringIO(uploaded)))) == 1 + 1000
    wait_for(sandbox, bad, "ready")
    time.sleep(0.2)
    assert call(sandbox, "GET", f"/export/{bad}").json()["data"]["status"] == "ready"


def test_the_rate_limit_answers_429_7003_with_its_reset_time(sandbox_factory):
    sandbox = sandbox_factory(emarsys=EmarsysOptions(rate_limit=2, rate_limit_window_seconds=60))
    answers = [call(sandbox, "GET", "/field") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused.json()["replyCode"] == 7003
    assert refused.headers["X-RateLimit-Limit"] == "2"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["X-RateLimit-Reset"]) - time.time() <= 60


def test_a_million_row_export_streams_in_pages(sandbox_factory):
    sandbox = sandbox_factory(rows={"emarsys/registrations": 1_000_000})
    export_id = create(sandbox)
    wait_for(sandbox, export_id, "done")
    response = call(
        sandbox,
        "GET",
        f"/export/{export_id}/data",
        params={"offset": 999_998, "limit": 10},
        stream=True,
    )
    lines = response.text.splitlines()
    assert [line.split(",")[0] for line in lines] == ["user_id", "1099998", "1099999"]
