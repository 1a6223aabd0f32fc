"""Emarsys pieces that need no server: the WSSE digest, windows, file layout, settings."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from pytest_httpserver import HTTPServer
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.engine.adapter import Row
from tap_exports.engine.job import Window
from tap_exports.engine.reading import FileReader
from tap_exports.errors import ProviderError
from tap_exports.io.chunks import MAX_ROW_BYTES, strip_bom
from tap_exports.io.csvrows import FirstLine, read_first_line
from tap_exports.io.decompress import DecompressionLimits
from tap_exports.providers.emarsys.client import WsseAuth, password_digest
from tap_exports.providers.emarsys.columns import Column, ColumnMap
from tap_exports.providers.emarsys.delivery import OpenedFile, csv_file
from tap_exports.providers.emarsys.kinds import CONTACT_CHANGES, RESPONSES, parse_local_time
from tap_exports.tap import TapExports

VIENNA = ZoneInfo("Europe/Vienna")
UTC = dt.UTC


def test_digest_matches_the_published_vector():
    digest = password_digest(
        "d36e316282959a9ed4c89851497a717f", "2014-03-20T12:51:45Z", "customersecret"
    )
    assert digest == "YWQyNWE5Y2JkOTY2ZTU1ODg2M2QzNzVhNDZlZGQwZjg5YjZlZTk4Yw=="
    assert digest != "rSWpy9lm5ViGPTdaRu3Q+Jtu6Yw="  # standard WSSE, which Emarsys refuses


def test_every_request_gets_a_fresh_nonce_and_a_created_with_timezone():
    auth = WsseAuth("api_user", "customersecret")
    headers = []
    for _ in range(3):
        request = requests.Request("GET", "http://127.0.0.1/api/v2/field").prepare()
        headers.append(auth(request).headers["X-WSSE"])
    fields = [dict(re.findall(r'(\w+)="([^"]*)"', header)) for header in headers]
    assert all(header.startswith("UsernameToken ") for header in headers)
    assert len({field["Nonce"] for field in fields}) == 3
    for field in fields:
        assert re.fullmatch(r"[0-9a-f]{32}", field["Nonce"])
        assert field["Username"] == "api_user"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", field["Created"])
        assert field["PasswordDigest"] == password_digest(
            field["Nonce"], field["Created"], "customersecret"
        )


def test_time_range_is_rendered_in_the_account_timezone():
    window = Window(
        dt.datetime(2024, 3, 30, 23, 0, tzinfo=UTC), dt.datetime(2024, 6, 1, tzinfo=UTC)
    )
    assert RESPONSES.time_range(window, VIENNA) == ["2024-03-31 00:00:00", "2024-06-01 02:00:00"]
    assert CONTACT_CHANGES.time_range(window, VIENNA) == ["2024-03-31", "2024-06-01"]


def test_timed_windows_chain_minute_aligned_up_to_the_current_minute():
    start = dt.datetime(2024, 1, 1, 10, 0, 42, tzinfo=UTC)
    now = dt.datetime(2024, 1, 3, 12, 30, 59, tzinfo=UTC)
    windows = RESPONSES.windows(start, now, VIENNA, days=1)
    assert [(w.start, w.end) for w in windows] == [
        (dt.datetime(2024, 1, 1, 10, 0, tzinfo=UTC), dt.datetime(2024, 1, 2, 10, 0, tzinfo=UTC)),
        (dt.datetime(2024, 1, 2, 10, 0, tzinfo=UTC), dt.datetime(2024, 1, 3, 10, 0, tzinfo=UTC)),
        (dt.datetime(2024, 1, 3, 10, 0, tzinfo=UTC), dt.datetime(2024, 1, 3, 12, 30, tzinfo=UTC)),
    ]
    assert RESPONSES.windows(now, now, VIENNA, days=1) == []


def test_whole_day_windows_follow_local_midnights_across_a_dst_change_and_skip_today():
    start = dt.datetime(2024, 3, 29, 12, 0, tzinfo=UTC)
    now = dt.datetime(2024, 4, 2, 8, 0, tzinfo=UTC)
    windows = CONTACT_CHANGES.windows(start, now, VIENNA, days=2)
    assert [CONTACT_CHANGES.time_range(w, VIENNA) for w in windows] == [
        ["2024-03-29", "2024-03-31"],
        ["2024-03-31", "2024-04-02"],
    ]
    # Vienna moves from UTC+1 to UTC+2 on 2024-03-31: the windows still meet exactly.
    assert windows[0].end == windows[1].start == dt.datetime(2024, 3, 30, 23, tzinfo=UTC)
    assert windows[1].end == dt.datetime(2024, 4, 1, 22, tzinfo=UTC)
    assert CONTACT_CHANGES.windows(now, now, VIENNA, days=1) == []


def test_local_timestamps_become_utc():
    assert parse_local_time("2024-07-01 10:22:13", VIENNA) == "2024-07-01T08:22:13Z"
    assert parse_local_time("2024-01-01 10:22:13", VIENNA) == "2024-01-01T09:22:13Z"


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [
        (b"user_id,First Name\r\n", ","),
        (b"\xef\xbb\xbfFirst Name;user_id\n", ";"),
        (b'"user_id";"First Name"\n', ";"),
    ],
)
def test_the_header_line_tells_the_delimiter(line, delimiter):
    columns = ColumnMap("s", "1", (Column("user_id", "user_id"), Column("name", "First Name")))
    columns.learn_line(first_line(line))
    assert (columns.delimiter, set(columns.fields.values())) == (delimiter, {"user_id", "name"})


def test_a_header_name_holding_the_other_delimiter_is_split_where_it_matches():
    columns = ColumnMap("s", "1", (Column("user_id", "user_id"), Column("w", "Week, number")))
    columns.learn_line(first_line(b"user_id;Week, number\n"))
    assert columns.delimiter == ";"


def first_line(data: bytes) -> FirstLine:
    line, _ = read_first_line(strip_bom([data]), "f")
    assert line is not None
    return line


LAYOUT = (Column("user_id", "user_id"), Column("first_name", "First Name"))


def column_map(*extra: Column) -> ColumnMap:
    return ColumnMap("emarsys_registrations", "42", (*LAYOUT, *extra))


def rows_of(content: bytes, columns: ColumnMap) -> list[Row]:
    """The rows of one file as the engine reads it, keyed by field."""
    reader = FileReader("Emarsys", "s", DecompressionLimits(), MAX_ROW_BYTES, "fail")
    target = csv_file(OpenedFile("f", io.BytesIO(content)), columns, columns.rename)
    return [row for batch in reader.batches(target) for row in batch]


def test_a_file_with_only_a_header_or_nothing_has_no_rows():
    for content in (b"", b"user_id;First Name\r\n"):
        assert rows_of(content, column_map()) == []


def test_a_page_without_header_is_read_with_the_names_of_the_first_page():
    columns = column_map()
    assert rows_of(b"First Name;user_id\r\nAnna;7\r\n", columns) == [
        {"first_name": "Anna", "user_id": "7"}
    ]
    assert (columns.delimiter, columns.header) == (";", ("First Name", "user_id"))
    assert rows_of(b"First Name;user_id\r\nCleo;9\r\n", columns) == [
        {"first_name": "Cleo", "user_id": "9"}
    ]
    assert rows_of(b"Ben;8\r\n", columns) == [{"first_name": "Ben", "user_id": "8"}]


def test_a_file_without_any_header_is_refused_naming_the_columns_expected():
    with pytest.raises(ProviderError, match="expected the columns user_id, First Name"):
        rows_of(b"7;Anna\r\n", column_map())


def test_header_names_match_without_case_or_spacing_and_one_unnamed_column_is_left_over():
    columns = column_map(Column("url", "URL"), Column("registered_at", None))
    columns.learn(["Registriert am", " url ", "user_id", "FIRST  name"])
    assert columns.fields == {
        "Registriert am": "registered_at",
        " url ": "url",
        "user_id": "user_id",
        "FIRST  name": "first_name",
    }


@pytest.mark.parametrize(
    "header",
    [
        ["user_id", "Vorname"],
        ["user_id"],
        ["user_id", "First Name", "Last Name"],
        ["user_id", "First Name", "First Name"],
    ],
    ids=["localized", "missing", "extra", "twice"],
)
def test_a_header_that_does_not_match_names_expected_and_found(header):
    with pytest.raises(ProviderError) as error:
        column_map().learn(header)
    assert f"found {', '.join(header)}" in str(error.value)
    assert "Emarsys, stream emarsys_registrations, export 42" in str(error.value)


def emarsys_config(server: HTTPServer, **settings: Any) -> dict[str, Any]:
    base = {"username": "u", "secret": "s3cr3t-value", "base_url": server.url_for("/api/v2")}
    return {"emarsys": {**base, **settings}}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"exports": []}, "emarsys.exports: name at least one export"),
        ({"contact_fields": []}, "emarsys.contact_fields: name at least one contact field"),
        ({"contact_fields": [1, 1]}, "emarsys.contact_fields: a field is listed twice"),
        (
            {"contact_fields": [3, 27]},
            "emarsys.contact_fields: Emarsys does not export fields [27]",
        ),
        (
            {"contact_fields": list(range(1, 17))},
            "emarsys.contact_fields: the responses export takes at most 15 contact fields",
        ),
        ({"distribution_method": "ftp"}, "emarsys.ftp.host: required when"),
        (
            {
                "distribution_method": "ftp",
                "ftp": {"host": "h", "username": "u", "password": "p", "port": 0},
            },
            "emarsys.ftp.port: must be between 1 and 65535",
        ),
        (
            {
                "distribution_method": "ftp",
                "ftp": {"host": "h", "username": "u", "password": "p", "ca_file": "/nope.pem"},
            },
            "emarsys.ftp.ca_file: no such file",
        ),
        ({"timezone": "Mars/Olympus"}, "emarsys.timezone: unknown timezone"),
        ({"overlap_hours": -1}, "emarsys.overlap_hours: must not be negative"),
        ({"window_days": 0}, "emarsys.window_days: must be at least 1"),
        ({"page_size": 0}, "emarsys.page_size: must be between 1 and 10000000"),
        ({"base_url": "api.emarsys.net"}, "emarsys.base_url: must be an absolute http(s) URL"),
        ({"secret": ""}, "emarsys.secret: required when emarsys is configured"),
    ],
)
def test_invalid_settings_fail_before_any_request(httpserver: HTTPServer, settings, message):
    with pytest.raises(ConfigValidationError) as error:
        TapExports(config=emarsys_config(httpserver, **settings))
    assert any(problem.startswith(message) for problem in error.value.errors), error.value.errors
    assert not any("s3cr3t-value" in problem for problem in error.value.errors)
    assert httpserver.log == []
