"""A CSV file's delimiter and header told by its first line, read ahead within a bound."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest

from tap_exports.errors import DataError, LayoutError
from tap_exports.io.csvrows import (
    DELIMITERS,
    CsvLayout,
    CsvOptions,
    FirstLine,
    iter_csv_batches,
    read_first_line,
)
from tests.io.conftest import Decode

NAMES = ("user id", "e-mail")


def expecting(names: tuple[str, ...]) -> CsvOptions:
    """Options whose rule finds the delimiter under which the first line names ``names``;
    a first line that does not is a row of a file without header."""

    def layout(line: FirstLine) -> CsvLayout:
        for delimiter in DELIMITERS:
            if tuple(line.cells(delimiter)) == names:
                return CsvLayout(delimiter)
        return CsvLayout(line.likeliest_delimiter(), fieldnames=names)

    return CsvOptions(layout=layout)


@pytest.mark.parametrize("delimiter", DELIMITERS)
def test_the_delimiter_is_found_outside_quoted_names(decode: Decode, delimiter: str):
    others = "".join(d for d in DELIMITERS if d != delimiter)
    sep = delimiter.encode()
    data = b'"a' + others.encode() + b'"' + sep + b"b" + sep + b'"c""' + others.encode() + b'"\n'
    data += b"1" + sep + b"2" + sep + b"3\n"
    assert decode(data) == [{f"a{others}": "1", "b": "2", f'c"{others}': "3"}]


@pytest.mark.parametrize("delimiter", DELIMITERS)
def test_a_layout_rule_tells_delimiter_and_header(decode: Decode, delimiter: str):
    sep = delimiter.encode()
    data = b"user id" + sep + b"e-mail\r\n7" + sep + b"a@x.io\r\n"
    assert decode(data, csv_options=expecting(NAMES)) == [{"user id": "7", "e-mail": "a@x.io"}]


def test_a_file_without_header_is_read_with_the_names_the_rule_gives(decode: Decode):
    assert decode(b"7;a@x.io\n8;b@x.io\n", csv_options=expecting(NAMES)) == [
        {"user id": "7", "e-mail": "a@x.io"},
        {"user id": "8", "e-mail": "b@x.io"},
    ]


def test_the_rule_sees_the_header_without_its_byte_order_mark(decode: Decode):
    options = expecting(NAMES)
    data = b"\xef\xbb\xbfuser id|e-mail\n7|a@x.io\n"
    assert decode(data, csv_options=options) == [{"user id": "7", "e-mail": "a@x.io"}]


def test_a_quoted_header_with_line_ends_and_delimiters_in_its_names(decode: Decode):
    names = ("user;id", "e-mail\r\nhome")
    data = b'"user;id";"e-mail\r\nhome"\r\n7;a@x.io\r\n'
    assert decode(data, csv_options=expecting(names)) == [
        {"user;id": "7", "e-mail\r\nhome": "a@x.io"}
    ]


@pytest.mark.parametrize("trickle", [1, 2, 3, 5])
def test_a_header_split_across_reads_is_read_whole(decode: Decode, trickle: int):
    data = b'\xef\xbb\xbf"user id"\t"e-mail"\r\n7\ta@x.io\r\n'
    read = decode(data, csv_options=expecting(NAMES), trickle=trickle)
    assert read == [{"user id": "7", "e-mail": "a@x.io"}]


def test_the_first_line_is_read_ahead_and_every_byte_handed_on():
    chunks = [b'"a\n', b'b",c\r', b"\n1,2\n", b"3,4\n"]
    line, rest = read_first_line(chunks, "f.csv")
    assert line == FirstLine('"a\nb",c\r\n')
    assert b"".join(rest) == b"".join(chunks)
    assert read_first_line([], "f.csv")[0] is None
    assert read_first_line([b"a;b"], "f.csv")[0] == FirstLine("a;b")


def endless_line() -> Iterator[bytes]:
    while True:
        yield b"x" * 1000


@pytest.mark.parametrize(
    "chunks",
    [[b"a" * 40 + b"\n1\n"], [b"a" * 10] * 5 + [b"\n1\n"], endless_line()],
    ids=["one-read", "many-reads", "no-line-end"],
)
def test_a_first_line_longer_than_the_look_ahead_is_refused(chunks: Iterable[bytes]):
    batches = iter_csv_batches(chunks, source_name="f.csv", header_bytes=32)
    with pytest.raises(DataError, match=r"f\.csv, line 1: the first line is longer than 32 bytes"):
        next(batches)


def test_a_rule_that_refuses_the_file_stops_before_any_row():
    def refuse(line: FirstLine) -> CsvLayout:
        raise LayoutError("P", f"unexpected header {line.cells(',')}")

    batches = iter_csv_batches(
        [b"a,b\n1,2\n"], source_name="f.csv", options=CsvOptions(layout=refuse)
    )
    with pytest.raises(LayoutError, match=r"unexpected header \['a', 'b'\]"):
        next(batches)
