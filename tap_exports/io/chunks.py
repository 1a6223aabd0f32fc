"""Byte-chunk plumbing shared by the decoders: reading, peeking and cutting at line ends."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
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


def line_blocks(chunks: Iterable[bytes], size: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Regroup chunks into blocks that end just after a ``\\n`` (the last block may not).

    Line-oriented decoders can then work a block at a time without splitting a line.
    A block holds at most ``size`` bytes unless one line is longer.
    """
    for block in _whole_lines(chunks):
        start = 0
        while len(block) - start > size:
            cut = block.rfind(b"\n", start, start + size) + 1 or block.find(b"\n", start) + 1
            if not cut:
                break
            yield block[start:cut]
            start = cut
        if start < len(block):
            yield block[start:] if start else block


def _whole_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Chunks regrouped to end just after a line end, whatever their size."""
    carry: list[bytes] = []
    for chunk in chunks:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            carry.append(chunk)
            continue
        if carry:
            carry.append(chunk[:cut])
            yield b"".join(carry)
        else:
            yield chunk if cut == len(chunk) else chunk[:cut]
        carry = [chunk[cut:]] if cut < len(chunk) else []
    tail = b"".join(carry)
    if tail:
        yield tail
