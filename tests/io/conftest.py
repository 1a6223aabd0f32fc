"""Fixtures shared by the byte-source and decoder tests."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, BinaryIO, cast

import pytest
from typing_extensions import override

from tap_exports.io.decode import FileFormat, iter_records


class Trickle(io.RawIOBase):
    """A stream that hands out at most ``size`` bytes per read, like a slow network."""

    def __init__(self, data: bytes, size: int = 1) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._size = size
        self._pos = 0

    @override
    def readable(self) -> bool:
        return True

    @override
    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._size, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


Decode = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def decode() -> Decode:
    """Decode bytes into a list of records; ``trickle=n`` feeds ``n`` bytes per read."""

    def run(
        data: bytes, fmt: FileFormat = FileFormat.CSV, *, trickle: int | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        # A trickle reads like a socket: it stands in for the binary file it is not.
        raw = cast("BinaryIO", Trickle(data, trickle)) if trickle else io.BytesIO(data)
        with raw:
            return list(iter_records(raw, fmt=fmt, source_name="export.csv", **kwargs))

    return run


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """Keep pytest-httpserver on the loopback interface, on a free port."""
    return ("127.0.0.1", 0)
