"""Byte-chunk plumbing shared by the decoders: reading, peeking and cutting at line ends."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import IO

CHUNK_SIZE = 1 << 20
"""Read size: large enough to amortise per-call overhead, small enough to keep memory flat."""
BLOCK_BYTES = 256 * 1024
"""Most bytes of lines decoded at once. A decoder allocates a block's rows together; at
this size the allocator keeps reusing the same memory, where 1 MB blocks cost the tap
two to three times the page faults and more CPU time."""


def read_chunks(raw: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the stream's bytes in chunks of at most ``size``."""
    while chunk := raw.read(size):
        yield chunk


def take_head(chunks: Iterable[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """Return at least ``size`` leading bytes (fewer only at EOF) and an iterator over all bytes.

    Sources may hand out very short chunks, so sniffing a prefix has to gather several.
    """
    source = iter(chunks)
    parts: list[bytes] = []
    seen = 0
    while seen < size:
        chunk = next(source, None)
        if chunk is None:
            break
        parts.append(chunk)
        seen += len(chunk)
    head = b"".join(parts)
    return head, chain((head,) if head else (), source)


def strip_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Drop a leading UTF-8 byte-order mark, which spreadsheet tools like to add."""
    head, rest = take_head(chunks, len(codecs.BOM_UTF8))
    if head.startswith(codecs.BOM_UTF8):
        next(rest)
        remainder = head[len(codecs.BOM_UTF8) :]
        return chain((remainder,) if remainder else (), rest)
    return rest


MAX_ROW_BYTES = 64 << 20
"""Default bound on one line (or JSON element): a longer one is a bad row, never buffered."""

LongLine = Callable[[int], None]
"""Told the number of a line longer than the bound; raises, or lets it be skipped."""


def line_blocks(
    chunks: Iterable[bytes],
    size: int = BLOCK_BYTES,
    *,
    max_line: int = MAX_ROW_BYTES,
    on_long_line: LongLine | None = None,
) -> Iterator[bytes]:
    """Regroup chunks into blocks that end just after a ``\\n`` (the last block may not).

    Line-oriented decoders can then work a block at a time without splitting a line.
    A block holds at most ``size`` bytes unless one line is longer. A line longer
    than ``max_line`` (which must not be below a chunk's size) is reported to
    ``on_long_line`` as soon as it is, and stands as an empty line: its bytes are
    dropped as they arrive, so memory stays bounded and line numbers stay right.
    """
    for block in _whole_lines(chunks, max_line, on_long_line or _refuse_long_line):
        start = 0
        while len(block) - start > size:
            cut = block.rfind(b"\n", start, start + size) + 1 or block.find(b"\n", start) + 1
            if not cut:
                break
            yield block[start:cut]
            start = cut
        if start < len(block):
            yield block[start:] if start else block


def _refuse_long_line(number: int) -> None:
    msg = f"line {number} is longer than the row size limit"
    raise ValueError(msg)


def _whole_lines(chunks: Iterable[bytes], max_line: int, on_long_line: LongLine) -> Iterator[bytes]:
    """Chunks regrouped to end just after a line end, whatever their size.

    Only a line that spans chunks can pass ``max_line`` (chunks are smaller), so only
    the carried part of a line is measured.
    """
    carry: list[bytes] = []
    carried = 0
    dropping = False
    lines = 0
    """Line ends handed on so far: the carried line is number ``lines + 1``."""
    for chunk in chunks:
        head = b""
        start = 0
        if carry or dropping:
            end = chunk.find(b"\n") + 1
            if not end:
                if not dropping:
                    carry.append(chunk)
                    carried += len(chunk)
                    if carried > max_line:
                        on_long_line(lines + 1)
                        carry, carried, dropping = [], 0, True
                continue
            if not dropping and carried + end > max_line:
                on_long_line(lines + 1)
                dropping = True
            head = b"\n" if dropping else b"".join([*carry, chunk[:end]])
            carry, carried, dropping = [], 0, False
            start = end
        cut = chunk.rfind(b"\n", start) + 1
        if cut > start:
            body = chunk[start:cut] if start or cut < len(chunk) else chunk
            lines += body.count(b"\n")
            head = head + body if head else body
        if head:
            lines += 1 if start else 0
            yield head
        if cut < len(chunk) and max(cut, start) < len(chunk):
            carry = [chunk[max(cut, start) :]]
            carried = len(carry[0])
    tail = b"".join(carry)
    if tail:
        yield tail
