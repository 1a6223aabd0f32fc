"""Batch files compressed on a worker thread: the same gzip stream, and its failures raised."""

from __future__ import annotations

import gzip
import io
from typing import IO, cast

import pytest

from tap_exports.io.gzip_writer import ThreadedGzipWriter


def test_every_block_lands_in_one_gzip_stream_in_order():
    blocks = [f"{n},row {n}\n".encode() * 50 for n in range(200)]
    out = io.BytesIO()
    with ThreadedGzipWriter(out, level=1) as writer:
        for block in blocks:
            writer.write(block)

    assert gzip.decompress(out.getvalue()) == b"".join(blocks)


def test_an_empty_file_is_still_a_valid_gzip_stream():
    out = io.BytesIO()
    ThreadedGzipWriter(out, level=1).close()

    assert gzip.decompress(out.getvalue()) == b""


class FullDisk(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise OSError(28, "No space left on device")


def test_a_failed_write_is_raised_to_the_writer():
    writer = ThreadedGzipWriter(cast("IO[bytes]", FullDisk()), level=1)
    writer.write(b"x" * 100_000)

    with pytest.raises(OSError, match="No space left"):
        writer.close()
    with pytest.raises(OSError, match="No space left"):
        writer.write(b"y")
