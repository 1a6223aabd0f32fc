"""Transparent decompression, recognised by magic bytes and guarded against bombs.

Providers mislabel files (``.csv`` that is gzip, ``Content-Encoding`` missing), so the
bytes decide, never the name or a header.
"""

from __future__ import annotations

import codecs
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, NoReturn

from tap_exports.errors import DataError
from tap_exports.io.chunks import CHUNK_SIZE, read_chunks, take_head
from tap_exports.io.rows import DecodeStats
from tap_exports.io.tempfiles import private_tempdir

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_GZIP_OR_ZLIB = 47
"""``wbits`` value that makes zlib parse the gzip (or zlib) header itself."""

_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)
"""What zipfile raises for corrupt, encrypted or unsupported members."""

Payload = tuple[str, Iterator[bytes]]
"""A name for messages, and the decompressed bytes of one file."""


@dataclass(frozen=True)
class DecompressionLimits:
    """Upper bounds on what a compressed file may expand to."""

    max_bytes: int = 8 << 30
    max_ratio: float = 200.0
    ratio_checked_after: int = 1 << 20
    """The ratio is only meaningful once some output exists; tiny files compress oddly."""


class _Budget:
    """Tracks bytes in and out of a decompressor and stops a bomb early."""

    def __init__(self, source_name: str, limits: DecompressionLimits, stats: DecodeStats) -> None:
        self._source_name = source_name
        self._limits = limits
        self._stats = stats
        self.compressed = 0
        self._lines = 0

    def spend(self, output: bytes) -> bytes:
        """Account for ``output``; raise if it breaks a limit."""
        stats = self._stats
        stats.decompressed_bytes += len(output)
        self._lines += output.count(b"\n")
        self.check(stats.decompressed_bytes)
        return output

    def check(self, produced: int, source_name: str | None = None) -> None:
        """Raise if ``produced`` bytes of output from the input so far break a limit."""
        if produced > self._limits.max_bytes:
            self.fail(
                f"refusing to decompress: output is larger than the limit of "
                f"{self._limits.max_bytes} bytes",
                source_name,
            )
        ratio_limit = self._limits.max_ratio * max(self.compressed, 1)
        if produced > self._limits.ratio_checked_after and produced > ratio_limit:
            self.fail(
                f"refusing to decompress: looks like a decompression bomb ({produced} bytes "
                f"from {self.compressed}, ratio limit {self._limits.max_ratio:g})",
                source_name,
            )

    def fail(self, problem: str, source_name: str | None = None) -> NoReturn:
        """Raise a :class:`DataError` at the line decompression has reached."""
        raise DataError(source_name or self._source_name, self._lines + 1, problem)


def iter_payloads(
    raw: BinaryIO,
    *,
    source_name: str,
    limits: DecompressionLimits,
    stats: DecodeStats,
) -> Iterator[Payload]:
    """Yield each file inside ``raw``: itself, its gunzipped bytes, or each zip member.

    A payload's bytes must be consumed before advancing to the next payload.
    """
    head, chunks = take_head(_counted(read_chunks(raw), stats), len(_ZIP_MAGIC))
    if head.startswith(_GZIP_MAGIC):
        yield source_name, _gunzip(chunks, _Budget(source_name, limits, stats))
    elif head.startswith(_ZIP_MAGIC):
        yield from _unzip(chunks, source_name, limits, stats)
    else:
        yield source_name, _counted_out(chunks, stats)


def _counted(chunks: Iterable[bytes], stats: DecodeStats) -> Iterator[bytes]:
    for chunk in chunks:
        stats.source_bytes += len(chunk)
        yield chunk


def _counted_out(chunks: Iterable[bytes], stats: DecodeStats) -> Iterator[bytes]:
    for chunk in chunks:
        stats.decompressed_bytes += len(chunk)
        yield chunk


def _gunzip(chunks: Iterable[bytes], budget: _Budget) -> Iterator[bytes]:
    """Stream one or more concatenated gzip members; a cut-off stream is an error.

    Members written as files of their own start with a byte-order mark, which would
    glue onto their first line (a repeated header then reads as a data row): a mark
    at the start of a later member is dropped, as the decoders drop the first one.
    """
    in_member = False
    members = 0
    fresh = False
    try:
        for chunk in chunks:
            data = chunk
            while True:
                if not in_member:
                    data = data.lstrip(b"\x00")  # gzip allows zero padding after a member
                    if not data:
                        break
                    inflater = zlib.decompressobj(_GZIP_OR_ZLIB)
                    in_member = True
                    members += 1
                    fresh = members > 1
                output = inflater.decompress(data, CHUNK_SIZE)
                if fresh and output:
                    fresh = False
                    output = output.removeprefix(codecs.BOM_UTF8)
                rest = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
                # Only the input inflated so far counts: a bomb is refused as soon as its
                # output passes the ratio, not once a whole input chunk has expanded.
                budget.compressed += len(data) - len(rest)
                if output:
                    yield budget.spend(output)
                if inflater.eof:
                    data = rest
                    in_member = False
                    continue
                data = rest
                if not data and len(output) < CHUNK_SIZE:
                    break
    except zlib.error as exc:
        budget.fail(f"corrupt gzip data ({exc})")
    if in_member:
        budget.fail("file ends in the middle of a gzip stream (truncated download?)")


def _unzip(
    chunks: Iterable[bytes], source_name: str, limits: DecompressionLimits, stats: DecodeStats
) -> Iterator[Payload]:
    """Spool the archive to a private directory (zip needs seeking), then stream each member."""
    with private_tempdir() as directory:
        archive_path = directory / "archive.zip"
        with archive_path.open("wb") as spool:
            for chunk in chunks:
                spool.write(chunk)
        try:
            archive = zipfile.ZipFile(archive_path)
        except zipfile.BadZipFile as exc:
            raise DataError(source_name, 1, f"not a readable zip archive ({exc})") from None
        with archive:
            budget = _Budget(source_name, limits, stats)
            for member in archive.infolist():
                if member.is_dir():
                    continue
                member_name = f"{source_name} ({member.filename})"
                budget.compressed += member.compress_size
                # zipfile inflates no more than the declared size: refuse a bomb unread.
                budget.check(stats.decompressed_bytes + member.file_size, member_name)
                try:
                    stream = archive.open(member)
                except _ZIP_ERRORS as exc:
                    raise DataError(member_name, 1, f"unreadable zip member ({exc})") from None
                with stream:
                    yield member_name, _inflated(stream, budget, member_name)


def _inflated(stream: IO[bytes], budget: _Budget, member_name: str) -> Iterator[bytes]:
    try:
        for chunk in read_chunks(stream):
            yield budget.spend(chunk)
    except _ZIP_ERRORS as exc:
        raise DataError(member_name, 1, f"unreadable zip member ({exc})") from None
