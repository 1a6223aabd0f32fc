"""Arrow's columnar CSV reading gives exactly what csv gives, or leaves the bytes to csv.

Every case reads the same bytes twice, with and without ``columns``, and compares the rows,
the counters and the bad rows reported (with their lines). Tiny segments make each file
switch between the two readers many times.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_exports.errors import DataError
from tap_exports.io import csvarrow
from tap_exports.io.csvarrow import CsvColumns
from tap_exports.io.csvrows import CsvOptions, as_rows, iter_csv_batches
from tap_exports.io.rows import DecodeStats

pytestmark = pytest.mark.skipif(not csvarrow.AVAILABLE, reason="pyarrow is not installed")


def _read(data: bytes, *, columns: bool, piece: int, **kwargs: Any) -> dict[str, Any]:
    """Rows, counters, bad rows logged and the error raised, reading ``data`` in pieces."""
    stats = DecodeStats()
    chunks = [data[start : start + piece] for start in range(0, len(data), piece)]
    rows: list[list[str]] = []
    kinds: set[str] = set()
    error = None
    try:
        for batch in iter_csv_batches(
            chunks, source_name="x.csv", stats=stats, columns=columns, **kwargs
        ):
            kinds.add(type(batch).__name__)
            rows.extend(list(row) for row in as_rows(batch))
    except DataError as exc:
        error = str(exc)
    return {
        "rows": rows,
        "stats": (stats.rows, stats.bad_rows),
        "error": error,
        "kinds": kinds,
    }


def _same(
    data: bytes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, **kwargs: Any
) -> dict[str, Any]:
    """Both readings of ``data``; asserts they agree and returns the columnar one."""
    monkeypatch.setattr(csvarrow, "SEGMENT_BYTES", 8)
    monkeypatch.setattr(csvarrow, "MAX_SEGMENT_BYTES", 64)
    piece = kwargs.pop("piece", 7)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        plain = _read(data, columns=False, piece=piece, **kwargs)
        plain_log = [record.getMessage() for record in caplog.records]
        caplog.clear()
        fast = _read(data, columns=True, piece=piece, **kwargs)
        fast_log = [record.getMessage() for record in caplog.records]
    assert {key: fast[key] for key in ("rows", "stats", "error")} == {
        key: plain[key] for key in ("rows", "stats", "error")
    }
    assert fast_log == plain_log
    return fast


def test_quoted_values_line_ends_and_repeated_headers_read_alike(monkeypatch, caplog):
    data = (
        b"id,text\r\n"
        b'1,"a, b"\r\n'
        b'2,"line one\r\nline two"\n'
        b"\n"
        b"id,text\n"
        b'3,"say ""hi"""\n'
        + b"".join(b"%d,plain value %d\n" % (n, n) for n in range(4, 40))
        + b'40,"\xc3\xa4 \xe2\x82\xac"\n'
        b"41,last"
    )
    fast = _same(data, monkeypatch, caplog)
    assert "CsvColumns" in fast["kinds"]
    assert fast["rows"][2] == ["2", "line one\r\nline two"]
    assert ["id", "text"] not in fast["rows"][1:]


@pytest.mark.parametrize(
    "bad",
    [
        b'5,"closed"then more\n',  # text after a closing quote: csv's strict error
        b'5,bare "quote" inside\n',  # a quote inside a bare value: csv keeps it
        b"5,lone\rcarriage return\n",
        b"5,nul \x00 byte\n",
        b"5,not utf-8 \xff\n",
        b"5,too,many\n",
        b"5\n",
        b'5,"never closed\n6,x\n',
    ],
)
@pytest.mark.parametrize("on_bad_row", ["skip", "fail"])
def test_what_csv_calls_bad_or_reads_its_own_way_is_left_to_csv(
    monkeypatch, caplog, bad, on_bad_row
):
    good = b"".join(b"%d,value %d\n" % (n, n) for n in range(6, 30))
    data = b"id,text\n1,one\n2,two\n3,three\n4,four\n" + bad + good
    _same(data, monkeypatch, caplog, on_bad_row=on_bad_row)


def test_quotes_left_open_hand_the_rest_of_the_file_to_csv(monkeypatch, caplog):
    good = b"".join(b"%d,value %d\n" % (n, n) for n in range(6, 30))
    data = b"id,text\n1,one\n2,two\n" + b'3,"open' + b" and on" * 20 + b"\n" + good
    fast = _same(data, monkeypatch, caplog, on_bad_row="skip")
    assert fast["kinds"] == {"list"}


def test_a_value_over_max_row_bytes_reads_alike(monkeypatch, caplog):
    lines = "\n".join(["y" * 60] * 3)
    data = b'id,text\n1,a\n2,b\n3,"' + lines.encode() + b'"\n4,fine\n5,also\n'
    _same(data, monkeypatch, caplog, on_bad_row="skip", max_row_bytes=128)


def test_other_delimiters_and_files_without_a_header(monkeypatch, caplog):
    data = b"".join(b'%d;"a;b %d";x\n' % (n, n) for n in range(30))
    options = CsvOptions(delimiter=";", has_header=False, fieldnames=("n", "v", "w"))
    fast = _same(data, monkeypatch, caplog, options=options)
    assert fast["rows"][1] == ["0", "a;b 0", "x"]
    assert "CsvColumns" in fast["kinds"]


_PIECES = [
    b"a",
    b"b",
    b",",
    b'"',
    b'""',
    b"\n",
    b"\r\n",
    b"\r",
    b" ",
    b"\xc3\xa4",
    b"\xff",
    b"\x00",
    b'"x"',
    b"1,2",
    b"a,b",
]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.lists(st.sampled_from(_PIECES), max_size=80).map(b"".join),
    on_bad_row=st.sampled_from(["skip", "fail"]),
    piece=st.integers(min_value=1, max_value=13),
)
def test_any_bytes_read_alike(monkeypatch, caplog, body, on_bad_row, piece):
    _same(b"a,b\n1,2\n" + body, monkeypatch, caplog, on_bad_row=on_bad_row, piece=piece)


def test_large_file_reads_as_columns_in_batches_of_the_size(monkeypatch):
    monkeypatch.setattr(csvarrow, "SEGMENT_BYTES", 50_000)
    rows = [[str(n), f"value, {n}"] for n in range(10_000)]
    data = b"id,text\n" + "".join(f'{n},"{text}"\n' for n, text in rows).encode()
    chunks = [data[start : start + 10_000] for start in range(0, len(data), 10_000)]

    batches = list(iter_csv_batches(chunks, source_name="x.csv", columns=True, size=500))
    assert batches[0] == [["id", "text"]]
    # csv reads the first segment (the header's), Arrow every one after it.
    kinds = [isinstance(batch, CsvColumns) for batch in batches[1:]]
    assert kinds == sorted(kinds)
    assert sum(kinds) > len(kinds) / 2
    assert max(len(batch) for batch in batches[1:]) == 500
    assert [list(row) for batch in batches[1:] for row in as_rows(batch)] == rows


@pytest.mark.parametrize(("rows", "imported"), [(100, False), (200_000, True)])
def test_arrow_is_imported_only_for_a_file_longer_than_its_first_segment(rows, imported):
    # Importing it costs a third of a second and 33 MB: a short file never pays.
    code = (
        "import sys\n"
        "from tap_exports.io.csvrows import iter_csv_batches\n"
        f"data = b'id,text\\n' + b''.join(b'%d,\"v, %d\"\\n' % (n, n) for n in range({rows}))\n"
        "chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]\n"
        "batches = iter_csv_batches(chunks, source_name='x.csv', columns=True)\n"
        "print(sum(len(batch) for batch in batches), 'pyarrow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [str(rows + 1), str(imported)]
