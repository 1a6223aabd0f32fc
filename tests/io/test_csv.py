"""CSV decoding: the quirks of real provider files, and bad rows reported by line."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_exports.errors import DataError
from tap_exports.io.csvrows import CsvOptions, as_rows, iter_csv_batches, iter_csv_rows
from tap_exports.io.decode import DecodeStats


def test_bom_stripped_and_crlf_line_ends(decode):
    data = b"\xef\xbb\xbfaddress,code\r\na@x.io,550\r\nb@x.io,421\r\n"
    assert decode(data) == [
        {"address": "a@x.io", "code": "550"},
        {"address": "b@x.io", "code": "421"},
    ]


def test_quoted_newlines_and_delimiters_stay_in_the_value(decode):
    data = b'id,error\n1,"line one\r\nline two, with comma"\n2,"say ""hi"""\n'
    assert decode(data) == [
        {"id": "1", "error": "line one\r\nline two, with comma"},
        {"id": "2", "error": 'say "hi"'},
    ]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_sniffed_from_the_first_line(decode, delimiter):
    sep = delimiter.encode()
    data = b"user_id" + sep + b"E-Mail" + sep + b"last update\n7" + sep + b"a,b@x.io" + sep + b"\n"
    assert decode(data) == [{"user_id": "7", "E-Mail": "a,b@x.io", "last update": ""}]


def test_explicit_delimiter_wins_over_sniffing(decode):
    data = b"a;b,c\n1;2,3\n"
    assert decode(data, csv_options=CsvOptions(delimiter=",")) == [{"a;b": "1;2", "c": "3"}]


def test_file_without_header_uses_fieldnames(decode):
    options = CsvOptions(has_header=False, fieldnames=("address", "created_at"))
    assert decode(b"a@x.io,Mon\nb@x.io,Tue\n", csv_options=options) == [
        {"address": "a@x.io", "created_at": "Mon"},
        {"address": "b@x.io", "created_at": "Tue"},
    ]


def test_fieldnames_required_without_header():
    with pytest.raises(ValueError, match="fieldnames"):
        CsvOptions(has_header=False)


def test_repeated_header_of_paged_csv_is_dropped(decode):
    data = b"user_id;E-Mail\n1;a@x.io\nuser_id;E-Mail\n2;b@x.io\n"
    assert [r["user_id"] for r in decode(data)] == ["1", "2"]


def test_repeated_header_kept_when_asked(decode):
    data = b"a,b\n1,2\na,b\n"
    options = CsvOptions(skip_repeated_header=False)
    assert decode(data, csv_options=options) == [{"a": "1", "b": "2"}, {"a": "a", "b": "b"}]


@pytest.mark.parametrize(
    ("data", "line", "problem"),
    [
        (b"a,b\n1,2\n3,4,5\n", 3, "expected 2 fields, found 3"),
        (b"a,b\n1,2\n3\n", 3, "expected 2 fields, found 1"),
        (b'a,b\n1,"x\ny"\n"multi\nline",2\n4,5,6\n', 6, "expected 2 fields, found 3"),
    ],
)
def test_ragged_row_fails_with_its_physical_line(decode, data, line, problem):
    with pytest.raises(DataError) as caught:
        decode(data)
    assert (caught.value.source, caught.value.line, caught.value.problem) == (
        "export.csv",
        line,
        problem,
    )


def test_ragged_rows_skipped_and_counted(decode):
    stats = DecodeStats()
    data = b"a,b\n1,2\n3,4,5\n6\n7,8\n"
    rows = decode(data, on_bad_row="skip", stats=stats)
    assert rows == [{"a": "1", "b": "2"}, {"a": "7", "b": "8"}]
    assert (stats.rows, stats.bad_rows) == (2, 2)


def test_nul_byte_fails_with_line(decode):
    with pytest.raises(DataError, match=r"line 3: NUL byte"):
        decode(b"a,b\n1,2\n3,x\x00y\n4,5\n")


def test_nul_byte_row_skipped(decode):
    stats = DecodeStats()
    rows = decode(b"a,b\n1,2\n3,x\x00y\n4,5\n", on_bad_row="skip", stats=stats)
    assert rows == [{"a": "1", "b": "2"}, {"a": "4", "b": "5"}]
    assert stats.bad_rows == 1


def test_invalid_utf8_fails_with_line(decode):
    with pytest.raises(DataError) as caught:
        decode(b"a,b\n1,2\n3,caf\xe9\n")
    assert caught.value.line == 3
    assert "invalid UTF-8" in caught.value.problem


def test_invalid_utf8_row_skipped_and_reading_continues(decode):
    stats = DecodeStats()
    data = b'a,b\n1,"ok\nstill ok"\n3,caf\xe9\n4,"\xff\nmore"\n5,\xc3\xa9\n'
    rows = decode(data, on_bad_row="skip", stats=stats)
    assert rows == [{"a": "1", "b": "ok\nstill ok"}, {"a": "5", "b": "é"}]
    assert (stats.rows, stats.bad_rows) == (2, 2)


def test_bad_header_always_fails(decode):
    with pytest.raises(DataError, match="line 1"):
        decode(b"a,\xff\n1,2\n", on_bad_row="skip")


def test_duplicate_column_names_fail(decode):
    with pytest.raises(DataError, match="column twice"):
        decode(b"a,a\n1,2\n")


def test_unterminated_quote_is_not_silently_accepted(decode):
    with pytest.raises(DataError, match="line 2: malformed CSV"):
        decode(b'a,b\n1,"cut off\n')


def test_a_quoted_value_longer_than_csvs_own_limit_loads(decode):
    body = "<p>" + "x" * 300_000 + "</p>\n<p>two</p>"
    data = b"id,html\n1," + f'"{body}"'.encode() + b"\n2,short\n"
    assert decode(data) == [{"id": "1", "html": body}, {"id": "2", "html": "short"}]


def test_a_value_over_max_row_bytes_is_a_bad_row_naming_the_setting(decode):
    # Each line is short; the quoted value they make together is not.
    value = "\n".join(["y" * 900] * 3)
    data = b'id,text\n1,"' + value.encode() + b'"\n2,fine\n'
    message = r"line 2: a value longer than max_row_bytes \(2048 bytes\)"
    with pytest.raises(DataError, match=message):
        decode(data, max_row_bytes=2048)
    stats = DecodeStats()
    rows = decode(data, max_row_bytes=2048, on_bad_row="skip", stats=stats)
    assert rows == [{"id": "2", "text": "fine"}]
    assert stats.bad_rows == 1


def test_formula_like_values_are_data_and_unchanged(decode):
    data = b'a,b,c,d\n=1+2,+SUM(A1),-3,@cmd\n"=HYPERLINK(""x"")",\t1, 2 ,\n'
    assert decode(data) == [
        {"a": "=1+2", "b": "+SUM(A1)", "c": "-3", "d": "@cmd"},
        {"a": '=HYPERLINK("x")', "b": "\t1", "c": " 2 ", "d": ""},
    ]


def test_blank_trailing_lines_ignored(decode):
    assert decode(b"a,b\r\n1,2\r\n\r\n") == [{"a": "1", "b": "2"}]


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"a,b\n", b"a,b"])
def test_files_without_rows(decode, data):
    assert decode(data) == []


def test_last_line_without_line_end(decode):
    assert decode(b"a,b\n1,2") == [{"a": "1", "b": "2"}]


def test_one_byte_reads_give_the_same_rows(decode):
    data = b'\xef\xbb\xbfa;b\r\n1;"x\r\ny"\r\n2;caf\xc3\xa9\r\n'
    assert decode(data, trickle=1) == decode(data)


def test_row_reader_yields_header_then_lists():
    rows = iter_csv_rows([b"a,b\n1,", b"2\n3,4\n"], source_name="x.csv")
    assert list(rows) == [["a", "b"], ["1", "2"], ["3", "4"]]


_cell = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))


@settings(deadline=None, max_examples=200, database=None)
@given(
    header=st.lists(
        _cell.filter(lambda v: not v.startswith("\ufeff")), min_size=1, max_size=5, unique=True
    ),
    data=st.data(),
)
def test_round_trip_of_anything_csv_writer_writes(header, data):
    rows = data.draw(
        st.lists(st.lists(_cell, min_size=len(header), max_size=len(header)), max_size=8)
    )
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    options = CsvOptions(delimiter=",", skip_repeated_header=False)
    read = list(iter_csv_rows([text.getvalue().encode()], source_name="x.csv", options=options))
    assert read == [header, *rows]


_MESSY = (
    b"a,b\n"
    b'1,"x\ny"\n'  # lines 2-3
    b"\n"  # 4: blank, ignored
    b"a,b\n"  # 5: repeated header, dropped
    b"5,6,7\n"  # 6: too many fields
    b'8,"cut\xff\nhere"\n'  # 7-8: bad UTF-8 on line 7
    b'9,"q"x\n'  # 9: stray quote (csv.Error)
    b"10,11\n"  # 10
    b'12,"a\r\nb"\n'  # 11-12
    b"13\n"  # 13: too few fields
    b"14,x\x00\n"  # 14: NUL byte
    b"15,16\n"  # 15
)
_MESSY_GOOD = [["1", "x\ny"], ["10", "11"], ["12", "a\r\nb"], ["15", "16"]]
_MESSY_BAD_LINES = [6, 7, 9, 13, 14]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 2048])
def test_batches_skip_bad_rows_whatever_the_batch_size(size):
    stats = DecodeStats()
    batches = iter_csv_batches(
        [_MESSY], source_name="x.csv", on_bad_row="skip", stats=stats, size=size
    )
    header, *rows = [row for batch in batches for row in as_rows(batch)]
    assert (header, rows) == (["a", "b"], _MESSY_GOOD)
    assert (stats.rows, stats.bad_rows) == (4, 5)


@pytest.mark.parametrize("size", [1, 3, 2048])
def test_each_bad_row_is_named_by_its_first_line_whatever_the_batch_size(size):
    lines = []
    data = _MESSY
    for _ in _MESSY_BAD_LINES:
        with pytest.raises(DataError) as caught:
            list(iter_csv_batches([data], source_name="x.csv", size=size))
        lines.append(caught.value.line)
        # Blank the reported row's lines (keeping the line count) and read again.
        split = data.split(b"\n")
        first = caught.value.line - 1
        last = first + 1 if split[first].count(b'"') % 2 else first
        for index in range(first, last + 1):
            split[index] = b""
        data = b"\n".join(split)
    assert lines == _MESSY_BAD_LINES


def test_rows_before_a_bad_row_are_handed_on_before_it_fails():
    batches = iter_csv_batches([b"a,b\n1,2\n3,4\n5\n6,7\n"], source_name="x.csv")
    assert next(batches) == [["a", "b"]]
    assert next(batches) == [["1", "2"], ["3", "4"]]
    with pytest.raises(DataError, match="line 4"):
        next(batches)


def test_empty_cells_read_as_null_when_the_provider_says_so(decode):
    data = b'a,b,c\n,x,""\n'
    assert decode(data) == [{"a": "", "b": "x", "c": ""}]
    assert decode(data, csv_options=CsvOptions(empty_as_null=True)) == [
        {"a": None, "b": "x", "c": None}
    ]
