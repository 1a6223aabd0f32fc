"""Records built column by column: the same records as the row path, and bad rows named."""

from __future__ import annotations

import pytest

from tap_exports.engine.records import as_dicts, column, is_records, record_type
from tap_exports.engine.rowcheck import ColumnRecords, RowCheck
from tap_exports.errors import DataError
from tap_exports.io.decode import CsvOptions
from tap_exports.io.rows import BadRowPolicy, DecodeStats
from tap_exports.providers.mailgun.exports import MailgunListExport

HEADER = ["address", "code", "created_at"]
GOOD = [
    ["a@example.com", "550", "Fri, 21 Oct 2011 11:02:55 UTC"],
    ["b@example.com", "", "Sat, 22 Oct 2011 00:00:01 GMT"],
]


def reader(on_bad_row: str = "fail") -> tuple[ColumnRecords, RowCheck]:
    export = MailgunListExport(None, "/v3/mg.example.com/bounces")  # type: ignore[arg-type]
    options = CsvOptions(empty_as_null=True)
    policy = BadRowPolicy("file.csv", on_bad_row, DecodeStats(), unit="data row")  # type: ignore[arg-type]
    columns = ColumnRecords(
        HEADER, transform=export.transform_columns, key="created_at", options=options
    )
    return columns, RowCheck(export.transform, "created_at", policy)


def test_column_records_equal_the_row_transform():
    columns, check = reader()
    records = check(columns(GOOD))
    assert is_records(records)
    rows = [dict(zip(HEADER, (cell or None for cell in row), strict=True)) for row in GOOD]
    assert as_dicts(records) == [
        MailgunListExport(None, "/v3/mg.example.com/bounces").transform(row) for row in rows
    ]  # type: ignore[arg-type]
    assert column(records, "created_at") == ["2011-10-21T11:02:55Z", "2011-10-22T00:00:01Z"]
    assert column(records, "missing") == [None, None]


def test_a_bad_value_sends_the_batch_row_by_row_and_names_its_row():
    columns, check = reader()
    batch = columns([*GOOD, ["c@example.com", "550", "yesterday"]])
    assert not is_records(batch)
    with pytest.raises(DataError, match="data row 3"):
        check(batch)


def test_skipped_bad_rows_leave_the_others():
    columns, check = reader("skip")
    kept = check(columns([["c@example.com", "550", "yesterday"], *GOOD]))
    assert [row["address"] for row in kept] == ["a@example.com", "b@example.com"]


def test_any_text_can_name_a_column():
    record = record_type(("a b", "c.d"))("x", None)
    assert as_dicts([record]) == [{"a b": "x", "c.d": None}]
