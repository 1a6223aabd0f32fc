"""Streaming access to object bodies kept by moto's S3 backend.

moto's server builds a completed multipart upload and every GetObject answer as one
``bytes`` value; for exports of millions of rows that would make the sandbox's memory
grow with the file. moto keeps each body in a spooled temporary file, so the sandbox
writes and reads those files in chunks instead. Everything else (buckets, listings,
HEAD, clients' own uploads) goes through moto's ordinary API. This module is the only
place that touches moto's object internals.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

_PARTITION = "aws"
_READ_BYTES = 64 * 1024


def _backend() -> Any:
    return s3_backends[DEFAULT_ACCOUNT_ID][_PARTITION]


def write_object(bucket: str, key: str, chunks: Iterable[bytes], content_type: str) -> int:
    """Store ``chunks`` as object ``key``, chunk by chunk; returns the size in bytes."""
    stored = _backend().put_object(bucket, key, b"")
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    with stored.lock:
        body = stored._value_buffer
        for chunk in chunks:
            body.write(chunk)
            md5.update(chunk)
            size += len(chunk)
        stored.contentsize = size
        stored._etag = md5.hexdigest()
    stored.set_metadata({"Content-Type": content_type})
    return size


@dataclass(frozen=True)
class StoredObject:
    """An object's headers and a way to read any byte range of its body."""

    size: int
    etag: str
    content_type: str
    last_modified: dt.datetime
    _stored: Any

    def read(self, start: int, stop: int) -> Iterator[bytes]:
        """Bytes ``[start, stop)`` in chunks; safe beside other readers of the same object."""
        position = start
        while position < stop:
            with self._stored.lock:
                self._stored._value_buffer.seek(position)
                chunk = self._stored._value_buffer.read(min(_READ_BYTES, stop - position))
            if not chunk:
                return
            position += len(chunk)
            yield chunk


def find_object(bucket: str, key: str) -> StoredObject | None:
    """The current version of ``bucket/key``, or ``None`` if there is no such object."""
    try:
        stored = _backend().get_object(bucket, key)
    except MissingBucket:
        return None
    if stored is None:
        return None
    return StoredObject(
        size=stored.size,
        etag=stored.etag,
        content_type=stored.metadata.get("Content-Type", "binary/octet-stream"),
        last_modified=stored.last_modified,
        _stored=stored,
    )
