"""Where export files come from: one small interface over HTTP, S3 and FTP downloads."""

from __future__ import annotations

from typing import BinaryIO, Protocol

from tap_exports.io.ftp import FtpSource
from tap_exports.io.http import HttpSource
from tap_exports.io.s3 import S3Source, make_s3_client, parse_s3_path

__all__ = ["ByteSource", "FtpSource", "HttpSource", "S3Source", "make_s3_client", "parse_s3_path"]


class ByteSource(Protocol):
    """A downloadable file; every source resumes cut downloads the same way."""

    name: str
    """For messages and logs only: never a filesystem path, never a signed URL."""

    def open(self) -> BinaryIO:
        """A streaming, read-only file object; the caller closes it."""
        ...
