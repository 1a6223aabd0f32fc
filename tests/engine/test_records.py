"""Records built column by column: the same records as the row path, and bad rows named."""

from __future__ import annotations

import pytest

from tap_exports.engine.records import as_dicts, column, is_records, record_type
from tap_exports.engine.rowcheck import _INSTANTS, ColumnRecords, RowCheck, valid_instants
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
    export = MailgunListExport(None, "/v3/mg.example.com/bounces")  # type: ignore[arg-type]
    assert as_dicts(records) == [export.transform(row) for row in rows]
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


@pytest.mark.parametrize(
    "values",
    [
        ["2026-01-01T00:00:00Z", None, "2026-12-31T23:59:59Z"],
        ["2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00.1Z"],
        ["2026-01-01T00:00:00.123456789Z"],
        ["2026-02-30T00:00:00Z"],
        ["2026-01-01T24:00:00Z"],
        ["2026-13-01T00:00:00Z"],
        ["2026-01-01T00:00:00+02:00", "2026-01-01T00:00:00Z"],
        ["2026-01-01T00:00:00+00:60"],
        ["2026-01-01T00:00:00"],
        ["٢٠٢٦-01-01T00:00:00Z"],
        ["2026-01-01T00:00:00Z\n2026-01-01T00:00:00Z"],
        ["2026-01-01 00:00:00Z"],
        [3],
    ],
)
def test_replication_values_are_judged_by_the_instant_pattern(values: list[object]):
    present = [value for value in values if value is not None]
    try:
        expected = _INSTANTS.fullmatch("\n".join(present)) is not None  # type: ignore[arg-type]
    except TypeError:
        expected = False
    assert valid_instants(values) is expected
