"""A gzip file written on a thread of its own, so compressing overlaps parsing.

zlib releases the GIL while it deflates: handing each block to a worker thread lets a
second core compress BATCH files while the main thread reads and encodes the next rows.
At most ``QUEUED_BLOCKS`` blocks wait, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import queue
import threading
import zlib
from typing import IO

#: Blocks waiting for the worker; the writer blocks beyond this.
QUEUED_BLOCKS = 4
#: zlib's window bits for a gzip container (header, CRC-32 and size trailer included).
_GZIP_CONTAINER = 16 + zlib.MAX_WBITS


class ThreadedGzipWriter:
    """Writes a gzip stream of everything given to :meth:`write` into ``out``."""

    def __init__(self, out: IO[bytes], *, level: int) -> None:
        self.out = out
        self.compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_CONTAINER)
        self.blocks: queue.Queue[bytes | None] = queue.Queue(QUEUED_BLOCKS)
        self.failure: BaseException | None = None
        self.worker = threading.Thread(target=self._compress, name="batch-gzip", daemon=True)
        self.worker.start()

    def _compress(self) -> None:
        while (block := self.blocks.get()) is not None:
            if self.failure is None:
                try:
                    self.out.write(self.compressor.compress(block))
                except BaseException as error:  # re-raised on the writing thread
                    self.failure = error
        if self.failure is None:
            try:
                self.out.write(self.compressor.flush())
            except BaseException as error:
                self.failure = error

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def write(self, block: bytes) -> int:
        """Queue ``block`` for compression; raises what the worker met so far."""
        self._raise_failure()
        self.blocks.put(block)
        return len(block)

    def close(self) -> None:
        """Compress what is queued, end the gzip stream, and raise any failure."""
        if self.worker.is_alive():
            self.blocks.put(None)
            self.worker.join()
        self._raise_failure()

    def __enter__(self) -> ThreadedGzipWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
