"""Byte-chunk plumbing shared by the decoders: reading, peeking and cutting at line ends."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import IO

CHUNK_SIZE = 1 << 20
"""Read size: large enough to amortise per-call overhead, small enough to keep memory flat."""


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


def line_blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Regroup chunks into blocks that end just after a ``\\n`` (the last block may not).

    Line-oriented decoders can then work a block at a time without splitting a line.
    """
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
