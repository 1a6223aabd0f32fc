"""Compression is recognised by its bytes, streamed, and refused when it looks like a bomb."""

from __future__ import annotations

import gzip
import io
import tempfile
import zipfile
from pathlib import Path

import pytest

from tap_exports.errors import DataError
from tap_exports.io.decode import DecodeStats, DecompressionLimits, FileFormat, iter_records
from tap_exports.io.tempfiles import private_tempdir

CSV = b"address,code\na@x.io,550\nb@x.io,421\n"
ROWS = [{"address": "a@x.io", "code": "550"}, {"address": "b@x.io", "code": "421"}]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """Point temporary files at a directory the test can inspect."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_plain_file_counts_bytes(decode):
    stats = DecodeStats()
    assert decode(CSV, stats=stats) == ROWS
    assert (stats.source_bytes, stats.decompressed_bytes, stats.rows) == (len(CSV), len(CSV), 2)


def test_gzip_recognised_by_magic_bytes(decode):
    stats = DecodeStats()
    data = gzip.compress(CSV)
    assert decode(data, stats=stats) == ROWS
    assert (stats.source_bytes, stats.decompressed_bytes) == (len(data), len(CSV))


def test_multi_member_gzip_read_to_the_end(decode):
    data = gzip.compress(b"address,code\na@x.io,550\n") + gzip.compress(b"b@x.io,421\n")
    assert decode(data) == ROWS
    assert decode(data, trickle=1) == ROWS


def test_zero_padding_after_gzip_member_is_tolerated(decode):
    assert decode(gzip.compress(CSV) + b"\x00" * 16) == ROWS


def test_gzip_larger_than_one_read_is_streamed(decode):
    lines = b"".join(b"%d,%d\n" % (i, i * 7) for i in range(300_000))
    records = decode(gzip.compress(b"n,m\n" + lines))
    assert len(records) == 300_000
    assert records[-1] == {"n": "299999", "m": str(299_999 * 7)}


@pytest.mark.parametrize("cut", [5, 20, -9, -1])
def test_truncated_gzip_is_an_error_not_an_early_end(decode, cut):
    data = gzip.compress(CSV)[:cut]
    with pytest.raises(DataError, match="gzip"):
        decode(data)


def test_corrupt_gzip_is_an_error(decode):
    data = bytearray(gzip.compress(CSV * 50))
    data[20:30] = b"\xff" * 10
    with pytest.raises(DataError, match="gzip"):
        decode(bytes(data))


def test_zip_members_are_read_in_order_and_spool_removed(decode, scratch):
    data = _zip({"part1.csv": CSV, "dir/": b"", "part2.csv": b"address,code\nc@x.io,500\n"})
    assert [r["address"] for r in decode(data)] == ["a@x.io", "b@x.io", "c@x.io"]
    assert list(scratch.iterdir()) == []


def test_zip_spool_removed_when_decoding_fails(decode, scratch):
    data = _zip({"part1.csv": b"a,b\n1,2,3\n"})
    with pytest.raises(DataError) as caught:
        decode(data)
    assert caught.value.source == "export.csv (part1.csv)"
    assert caught.value.line == 2
    assert list(scratch.iterdir()) == []


def test_zip_spool_removed_when_reader_abandoned(scratch):
    records = iter_records(io.BytesIO(_zip({"a.csv": CSV})), fmt=FileFormat.CSV, source_name="x")
    next(records)
    assert len(list(scratch.iterdir())) == 1
    records.close()
    assert list(scratch.iterdir()) == []


def test_broken_zip_is_a_data_error(decode):
    with pytest.raises(DataError, match="zip"):
        decode(_zip({"a.csv": CSV})[:40])


def test_private_tempdir_is_owner_only_and_removed_after_error():
    seen: list[tuple[Path, int]] = []

    def use_and_fail() -> None:
        with private_tempdir() as path:
            seen.append((path, path.stat().st_mode & 0o777))
            (path / "spool").write_bytes(b"x")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        use_and_fail()
    [(path, mode)] = seen
    assert mode == 0o700
    assert not path.exists()


def test_gzip_bomb_refused_by_ratio(decode):
    bomb = gzip.compress(b"a\n" + b"0" * (50 << 20), 9)
    with pytest.raises(DataError, match="decompression bomb") as caught:
        decode(bomb)
    assert caught.value.source == "export.csv"


def test_zip_bomb_refused_by_ratio(decode):
    with pytest.raises(DataError, match="decompression bomb"):
        decode(_zip({"a.csv": b"a\n" + b"0" * (50 << 20)}))


def test_output_larger_than_limit_refused(decode):
    data = gzip.compress(b"n\n" + b"".join(b"%d\n" % i for i in range(400_000)))
    with pytest.raises(DataError, match="larger than the limit"):
        decode(data, limits=DecompressionLimits(max_bytes=1 << 20, max_ratio=1e9))


def test_small_files_are_not_judged_by_ratio(decode):
    data = gzip.compress(b"a\n" + b"1\n" * 100_000)
    assert len(decode(data)) == 100_000
    assert len(data) * 200 < 200_002
