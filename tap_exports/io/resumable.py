"""One resumable reader for every byte source: a dropped link continues where it stopped.

Sources only know how to open their object at an offset; this module owns retrying,
backoff, size checks and progress, so HTTP, S3 and FTP behave the same way.
"""

from __future__ import annotations

import contextlib
import io
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from typing_extensions import override

from tap_exports.errors import DownloadError, redact
from tap_exports.io.chunks import CHUNK_SIZE
from tap_exports.io.progress import LOGGER, ProgressLogger

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_FIRST_DELAY = 0.5
_MAX_DELAY = 8.0


class TransientError(Exception):
    """A failure worth retrying from the current offset: 5xx, an expired link, a short reply."""


@dataclass(frozen=True)
class Opened:
    """A source's object, opened at the requested offset."""

    read: Callable[[int], bytes]
    """Up to ``n`` bytes; ``b""`` at the end of the stream."""
    close: Callable[[], None]
    total: int | None
    """Size of the whole object when the server tells it."""


OpenAt = Callable[[int], Opened]


def parse_content_range(value: str) -> tuple[int, int | None]:
    """First byte and total size of a ``Content-Range: bytes a-b/total`` header.

    A garbled header is treated like a garbled reply: worth another try.
    """
    _unit, _, spec = value.strip().partition(" ")
    span, _, size = spec.partition("/")
    try:
        first = int(span.partition("-")[0])
    except ValueError:
        msg = f"unreadable Content-Range {value!r}"
        raise TransientError(msg) from None
    return first, int(size) if size.isdigit() else None


class ResumableReader(io.RawIOBase):
    """Reads an object through ``open_at``, reopening at the current offset after a cut.

    A cut is an exception listed in ``retry_on`` (or :class:`TransientError`), or an end
    of stream before the known size. Gives up with :class:`DownloadError` after
    ``max_resumes`` reopenings, and never reports success when the size is wrong.
    """

    def __init__(
        self,
        open_at: OpenAt,
        *,
        name: str,
        expected_size: int | None = None,
        max_resumes: int = 5,
        retry_on: tuple[type[Exception], ...] = (),
        sleep: Callable[[float], None] = time.sleep,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._open_at = open_at
        self._name = name
        self._expected_size = expected_size
        self._max_resumes = max_resumes
        self._retry_on: tuple[type[Exception], ...] = (TransientError, *retry_on)
        self._sleep = sleep
        self._on_close = on_close
        self._stream: Opened | None = None
        self._total = expected_size
        self._position = 0
        self._resumes = 0
        self._finished = False
        self._progress = ProgressLogger(name, expected_size)

    @override
    def readable(self) -> bool:
        """Always: this is a download."""
        return True

    @override
    def readinto(self, buffer: WriteableBuffer) -> int:
        """Fill ``buffer`` with the next bytes, reopening the source as often as allowed."""
        if self._finished:
            return 0
        view = memoryview(buffer).cast("B")
        while True:
            try:
                stream = self._stream or self._reopen()
                data = stream.read(len(view))
            except self._retry_on as exc:
                self._resume(redact(str(exc)) or type(exc).__name__)
                continue
            if data:
                view[: len(data)] = data
                self._position += len(data)
                self._progress.update(self._position)
                return len(data)
            if self._total is not None and self._position < self._total:
                self._resume("connection closed early")
                continue
            self._finish()
            return 0

    @override
    def close(self) -> None:
        """Close the current connection and run the source's cleanup."""
        if not self.closed:
            self._drop_stream()
            if self._on_close is not None:
                self._on_close()
        super().close()

    def _reopen(self) -> Opened:
        self._stream = self._open_at(self._position)
        if self._total is None and self._stream.total is not None:
            self._total = self._progress.total = self._stream.total
        return self._stream

    def _drop_stream(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
            self._stream = None

    def _resume(self, reason: str) -> None:
        self._drop_stream()
        self._resumes += 1
        if self._resumes > self._max_resumes:
            msg = (
                f"{self._name}: download cut short after {self._max_resumes} resumes: "
                f"received {self._position} of {self._describe_total()} bytes ({reason})"
            )
            raise DownloadError(msg) from None
        LOGGER.warning(
            "%s: %s at byte %d; resuming (%d of %d)",
            self._name,
            reason,
            self._position,
            self._resumes,
            self._max_resumes,
        )
        delay = min(_MAX_DELAY, _FIRST_DELAY * 2 ** (self._resumes - 1))
        self._sleep(delay * random.uniform(0.5, 1.0))

    def _finish(self) -> None:
        self._finished = True
        self._drop_stream()
        expected = self._expected_size
        if expected is not None and self._position != expected:
            msg = (
                f"{self._name}: size mismatch: received {self._position} bytes, "
                f"the provider announced {expected}"
            )
            raise DownloadError(msg)
        self._progress.finish(self._position)

    def _describe_total(self) -> str:
        return "an unknown number of" if self._total is None else str(self._total)


def open_resumable(
    open_at: OpenAt,
    *,
    name: str,
    expected_size: int | None = None,
    max_resumes: int = 5,
    retry_on: tuple[type[Exception], ...] = (),
    sleep: Callable[[float], None] = time.sleep,
    on_close: Callable[[], None] | None = None,
) -> BinaryIO:
    """A buffered, read-only file object over :class:`ResumableReader`."""
    reader = ResumableReader(
        open_at,
        name=name,
        expected_size=expected_size,
        max_resumes=max_resumes,
        retry_on=retry_on,
        sleep=sleep,
        on_close=on_close,
    )
    return io.BufferedReader(reader, buffer_size=CHUNK_SIZE)
