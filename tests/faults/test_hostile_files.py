"""Export files built to hurt: one huge row, a huge JSON element, a decompression bomb.

Each is served by a local HTTP server in 1 MB pieces and read the way the engine reads an
export (``HttpSource`` → ``iter_record_batches``) with a 1 MB row limit: memory stays a
small multiple of the limit, the huge row is a bad row naming its line, and a bomb is
refused once its output passes the ratio, not after a whole input chunk has expanded.
"""

from __future__ import annotations

import codecs
import gzip
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug import Request, Response

from tap_exports.errors import DataError
from tap_exports.io import jsonrows
from tap_exports.io.decode import DecodeStats, DecompressionLimits, FileFormat, iter_record_batches
from tap_exports.io.http import HttpSource

LIMIT = 1 << 20
HUGE = 50 << 20
PIECE = 1 << 20


def _huge_row_file(layout: FileFormat) -> Callable[[], Iterator[bytes]]:
    """Two good rows around one of 50 MB, generated piece by piece."""

    def pieces() -> Iterator[bytes]:
        if layout is FileFormat.CSV:
            yield b"address,note\na@x.io,ok\nb@x.io,"
        elif layout is FileFormat.NDJSON:
            yield b'{"address":"a@x.io"}\n{"address":"b@x.io","note":"'
        else:
            yield b'[{"address":"a@x.io"},\n{"address":"b@x.io","note":"'
        for _ in range(HUGE // PIECE):
            yield b"x" * PIECE
        if layout is FileFormat.CSV:
            yield b"\nc@x.io,ok\n"
        elif layout is FileFormat.NDJSON:
            yield b'"}\n{"address":"c@x.io"}\n'
        else:
            yield b'"},\n{"address":"c@x.io"}]'

    return pieces


def _serve(httpserver: Any, pieces: Callable[[], Iterator[bytes]]) -> HttpSource:
    def respond(request: Request) -> Response:
        return Response(pieces(), headers={"Connection": "close"})

    httpserver.expect_request("/export").respond_with_handler(respond)
    return HttpSource(lambda: httpserver.url_for("/export"), name="export 42 (data)")


def _read(
    source: HttpSource, layout: FileFormat, stats: DecodeStats | None = None, **options: Any
) -> tuple[list[dict[str, Any]], DecodeStats]:
    stats = stats or DecodeStats()
    with source.open() as raw:
        rows = [
            row
            for batch in iter_record_batches(
                raw, fmt=layout, source_name=source.name, stats=stats, **options
            )
            for row in batch
        ]
    return rows, stats


@pytest.mark.parametrize("layout", [FileFormat.CSV, FileFormat.NDJSON, FileFormat.JSON], ids=str)
def test_a_huge_row_is_skipped_in_memory_bounded_by_the_row_limit(httpserver, layout):
    source = _serve(httpserver, _huge_row_file(layout))
    tracemalloc.start()
    try:
        rows, stats = _read(source, layout, on_bad_row="skip", max_row_bytes=LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [row["address"] for row in rows] == ["a@x.io", "c@x.io"]
    assert stats.bad_rows == 1
    assert peak < 16 * LIMIT, f"peak {peak / 2**20:.0f} MB for a {LIMIT >> 20} MB row limit"


@pytest.mark.parametrize("layout", [FileFormat.CSV, FileFormat.NDJSON, FileFormat.JSON], ids=str)
def test_a_huge_row_fails_naming_its_line_before_it_is_read_whole(httpserver, layout):
    source = _serve(httpserver, _huge_row_file(layout))
    stats = DecodeStats()
    with pytest.raises(DataError, match=r"export 42 \(data\), line [23]: row longer than"):
        _read(source, layout, max_row_bytes=LIMIT, stats=stats)
    assert stats.source_bytes < 4 * LIMIT


def test_a_huge_json_element_is_scanned_once(httpserver, monkeypatch):
    """Each byte of an element is looked at a bounded number of times, not once per refill."""
    scanned = [0]
    skip = jsonrows._skip

    def counting(pattern: Any, data: bytes | bytearray, pos: int) -> int:
        scanned[0] += len(data) - pos
        return skip(pattern, data, pos)

    monkeypatch.setattr(jsonrows, "_skip", counting)
    size = 30 << 20
    document = b'[{"note":"' + b"y" * size + b'"}]'
    httpserver.expect_request("/export").respond_with_data(document)
    source = HttpSource(lambda: httpserver.url_for("/export"), name="export 42 (data)")
    rows, _ = _read(source, FileFormat.JSON, max_row_bytes=64 << 20)
    assert len(rows[0]["note"]) == size
    assert scanned[0] < 4 * size


def test_a_gzip_bomb_is_refused_as_soon_as_its_output_passes_the_ratio(httpserver):
    member = gzip.compress(b"0,0\n" * (16 << 20), compresslevel=9)  # 64 MB from ~64 KB
    bomb = gzip.compress(b"a,b\n") + member * 16  # 1 GB from ~1 MB
    httpserver.expect_request("/export").respond_with_data(bomb)
    source = HttpSource(lambda: httpserver.url_for("/export"), name="export 42 (data)")
    stats = DecodeStats()
    with pytest.raises(DataError, match="decompression bomb"):
        _read(source, FileFormat.CSV, stats=stats, limits=DecompressionLimits(max_ratio=200))
    # The ratio is checked against the input inflated so far (a few KB), not the whole
    # first megabyte read, which would have let 200 MB out first.
    assert stats.decompressed_bytes < 4 * DecompressionLimits.ratio_checked_after


def test_a_second_gzip_member_with_its_own_bom_and_header_adds_only_its_rows(httpserver):
    first = codecs.BOM_UTF8 + b"address,code\na@x.io,550\nb@x.io,551\n"
    second = codecs.BOM_UTF8 + b"address,code\nc@x.io,552\n"
    httpserver.expect_request("/export").respond_with_data(
        gzip.compress(first) + gzip.compress(second)
    )
    source = HttpSource(lambda: httpserver.url_for("/export"), name="export 42 (data)")
    rows, stats = _read(source, FileFormat.CSV)
    assert [row["address"] for row in rows] == ["a@x.io", "b@x.io", "c@x.io"]
    assert stats.bad_rows == 0
