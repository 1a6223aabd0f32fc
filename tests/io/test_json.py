"""NDJSON and JSON-array decoding, streamed element by element."""

from __future__ import annotations

import io
import itertools
import json
import tracemalloc
from typing import BinaryIO, cast

import pytest
from typing_extensions import override

from tap_exports.errors import DataError
from tap_exports.io.decode import DecodeStats, FileFormat, iter_records

TRICKY = [
    {
        "id": 1,
        "text": "brackets ] } [ { inside",
        "quote": 'say "hi" \\ ',
        "nested": {"a": [1, [2]]},
    },
    {"id": 2, "unicode": "café ☕", "escaped": '\\"]', "empty": {}, "list": []},
    {"id": 3, "null": None, "float": 1.5, "bool": True},
]


def test_ndjson_lines_with_blank_lines_and_crlf(decode):
    data = b'{"a": 1}\r\n\r\n{"b": [1, 2]}\n  \n{"c": "x"}'
    assert decode(data, FileFormat.NDJSON) == [{"a": 1}, {"b": [1, 2]}, {"c": "x"}]


def test_ndjson_invalid_line_reported_by_line(decode):
    data = b'{"a": 1}\n\n{"a": 2\n{"a": 3}\n'
    with pytest.raises(DataError) as caught:
        decode(data, FileFormat.NDJSON)
    assert caught.value.line == 3
    assert "invalid JSON" in caught.value.problem


def test_ndjson_line_that_is_not_an_object(decode):
    with pytest.raises(DataError, match="line 2: not a JSON object"):
        decode(b'{"a": 1}\n[1, 2]\n', FileFormat.NDJSON)


def test_ndjson_invalid_utf8_reported_by_line(decode):
    with pytest.raises(DataError, match="line 2: invalid UTF-8"):
        decode(b'{"a": 1}\n{"a": "caf\xe9"}\n', FileFormat.NDJSON)


def test_ndjson_bad_lines_skipped_and_counted(decode):
    stats = DecodeStats()
    data = b'{"a": 1}\nnope\n"text"\n{"a": "\xff"}\n{"a": 2}\n'
    assert decode(data, FileFormat.NDJSON, on_bad_row="skip", stats=stats) == [{"a": 1}, {"a": 2}]
    assert (stats.rows, stats.bad_rows) == (2, 3)


def test_ndjson_with_bom_and_one_byte_reads(decode):
    data = b"\xef\xbb\xbf" + b"\n".join(json.dumps(r).encode() for r in TRICKY)
    assert decode(data, FileFormat.NDJSON, trickle=1) == TRICKY


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("trickle", [None, 1, 7])
def test_json_array_elements_with_tricky_strings(decode, indent, trickle):
    data = json.dumps(TRICKY, indent=indent, ensure_ascii=False).encode()
    assert decode(data, FileFormat.JSON, trickle=trickle) == TRICKY


@pytest.mark.parametrize("data", [b"", b"  \n", b"[]", b" [ \n ] \n"])
def test_json_array_without_elements(decode, data):
    assert decode(data, FileFormat.JSON) == []


def test_json_array_element_not_an_object(decode):
    with pytest.raises(DataError, match="line 3: not a JSON object"):
        decode(b'[\n{"a": 1},\n[1, {"b": "]"}],\n{"a": 2}\n]', FileFormat.JSON)


def test_json_array_bad_elements_skipped(decode):
    stats = DecodeStats()
    data = b'[{"a": 1}, 2, "x,]", [3], {"a": tru}, null, {"a": "\xe9"}, {"a": 2}]'
    assert decode(data, FileFormat.JSON, on_bad_row="skip", stats=stats) == [{"a": 1}, {"a": 2}]
    assert (stats.rows, stats.bad_rows) == (2, 6)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"a": 1}', "expected a JSON array"),
        (b'[{"a": 1} {"a": 2}]', "expected ',' or ']'"),
        (b'[{"a": 1},]', "trailing comma"),
        (b'[{"a": 1}, {"a": 2', "file ends inside an array element"),
        (b'[{"a": "unterminated}]', "file ends inside an array element"),
        (b'[{"a": 1}, ', "file ends before the JSON array is closed"),
        (b'[{"a": 1}]\n[{"a": 2}]', "unexpected data after the JSON array"),
    ],
)
def test_broken_json_array_fails_even_when_skipping(decode, data, problem):
    with pytest.raises(DataError, match=problem):
        decode(data, FileFormat.JSON, on_bad_row="skip")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b' \n[{"a": 1}, {"a": 2}]', [{"a": 1}, {"a": 2}]),
        (b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
        (b"", []),
    ],
)
def test_auto_tells_array_from_ndjson(decode, data, expected):
    assert decode(data, FileFormat.AUTO, trickle=1) == expected


def test_auto_refuses_other_content(decode):
    with pytest.raises(DataError, match="line 2: cannot tell"):
        decode(b"\nid,name\n1,x\n", FileFormat.AUTO)


class _GeneratedArray(io.RawIOBase):
    """A large JSON array produced on the fly, so only the decoder could hold it in memory."""

    def __init__(self, elements: int) -> None:
        super().__init__()
        body = (
            b'%s{"id": %d, "text": "%s"}' % (b"," if i else b"", i, b"x" * 150)
            for i in range(elements)
        )
        self._pieces = itertools.chain([b"["], body, [b"]"])
        self._pending = b""

    @override
    def readable(self) -> bool:
        return True

    @override
    def readinto(self, buffer):
        while len(self._pending) < len(buffer):
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._pending += piece
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _peak_while_reading(elements: int) -> int:
    tracemalloc.start()
    try:
        count = 0
        for record in iter_records(
            cast("BinaryIO", _GeneratedArray(elements)),
            fmt=FileFormat.JSON,
            source_name="big.json",
        ):
            count += record["id"] == count
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == elements
    return peak


def test_json_array_memory_stays_flat():
    small = _peak_while_reading(30_000)  # about 5 MB of JSON, generated lazily
    large = _peak_while_reading(120_000)  # about 20 MB
    # Read buffers and one batch of records only: four times the file, same peak.
    assert large < small * 1.25 + (1 << 20)
    assert large < 20 << 20
