"""Writing a block of bytes whole, whatever the stream underneath does with a signal."""

from __future__ import annotations

from typing import BinaryIO


def write_fully(out: BinaryIO, data: bytes | bytearray) -> None:
    """Write every byte of ``data`` to ``out``.

    With ``PYTHONUNBUFFERED`` set (``python -u``; many container images set it)
    ``sys.stdout.buffer`` is the raw file, not a buffered writer, and a raw write to a
    pipe stops short when a signal arrives while it waits for a slow reader: the target
    would get half a message and the rest of the block would be lost. Every pass writes
    at least one byte.
    """
    view = memoryview(data)
    while view:
        written = out.write(view)
        if not written:
            msg = f"the output took {written!r} of {len(view)} bytes (a non-blocking stdout?)"
            raise BlockingIOError(msg)
        view = view[written:]
