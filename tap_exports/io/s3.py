"""Downloads from S3 or an S3-compatible store, e.g. a bucket the provider writes into.

boto3 is imported on first use: it adds a tenth of a second to every start of the
tap, and only Connect's exports to the customer's bucket need it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

import urllib3.exceptions

from tap_exports.errors import DownloadError
from tap_exports.io.resumable import Opened, TransientError, open_resumable, parse_content_range

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$")
"""Virtual-hosted AWS names: ``bucket.s3.amazonaws.com``, ``bucket.s3.<region>.amazonaws.com``."""


def parse_s3_path(path: str) -> tuple[str, str]:
    """Split an S3 location into bucket and key prefix.

    Accepts ``s3://bucket/prefix/``, virtual-hosted and path-style AWS URLs, and
    path-style URLs of S3-compatible endpoints (``http://host:port/bucket/prefix/``).
    """
    parts = urlsplit(path.strip())
    host = (parts.hostname or "").lower()
    segments = parts.path.lstrip("/")
    if parts.scheme == "s3":
        bucket, prefix = host, segments
    elif parts.scheme in ("http", "https") and (virtual := _VIRTUAL_HOST.match(host)):
        bucket, prefix = virtual["bucket"], segments
    elif parts.scheme in ("http", "https") and host:
        bucket, _, prefix = segments.partition("/")
    else:
        bucket = prefix = ""
    if not bucket:
        msg = f"cannot find a bucket in S3 path {path!r}"
        raise ValueError(msg)
    return bucket, prefix


def make_s3_client(
    access_key_id: str,
    secret_access_key: str,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
) -> S3Client:
    """A client with these credentials only, never the ambient AWS profile.

    Custom endpoints get path-style addressing, which S3-compatible stores expect.
    """
    import boto3  # imported late: see the module docstring
    import botocore.config

    config = botocore.config.Config(
        retries={"mode": "standard", "max_attempts": 5},
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    return boto3.session.Session().client(
        "s3",
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        endpoint_url=endpoint_url,
        region_name=region,
        config=config,
    )


class S3Source:
    """One object in a bucket, read with ranged ``GetObject`` calls when a read is cut."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        *,
        name: str,
        expected_size: int | None = None,
        max_resumes: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._client = client
        self._bucket = bucket
        self._key = key
        self._expected_size = expected_size
        self._max_resumes = max_resumes
        self._sleep = sleep
        #: The ETag of the first answer: a resumed read asks for that version only.
        self._etag: str | None = None

    def open(self) -> BinaryIO:
        """Start the download; the caller closes the returned file object."""
        import botocore.exceptions  # imported late: see the module docstring

        return open_resumable(
            self._open_at,
            name=self.name,
            expected_size=self._expected_size,
            max_resumes=self._max_resumes,
            retry_on=(
                botocore.exceptions.HTTPClientError,
                botocore.exceptions.ConnectionError,
                botocore.exceptions.IncompleteReadError,
                urllib3.exceptions.ProtocolError,
                urllib3.exceptions.ReadTimeoutError,
            ),
            sleep=self._sleep,
        )

    def _open_at(self, offset: int) -> Opened:
        import botocore.exceptions

        try:
            if offset and self._etag:
                response = self._client.get_object(
                    Bucket=self._bucket,
                    Key=self._key,
                    Range=f"bytes={offset}-",
                    IfMatch=self._etag,
                )
            elif offset:
                response = self._client.get_object(
                    Bucket=self._bucket, Key=self._key, Range=f"bytes={offset}-"
                )
            else:
                response = self._client.get_object(Bucket=self._bucket, Key=self._key)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = error.get("Code", "unknown")
            if status == 412:
                msg = (
                    f"{self.name}: the object changed while it was downloaded (ETag "
                    f"{self._etag} at first); run again to read the export from its start"
                )
                raise DownloadError(msg) from None
            if status in (416, 429) or status >= 500 or code == "SlowDown":
                msg = f"S3 {code}"
                raise TransientError(msg) from None
            msg = f"{self.name}: S3 refused the download ({code})"
            raise DownloadError(msg) from None
        if not offset:
            self._etag = response.get("ETag")
        body = response["Body"]
        content_range = response.get("ContentRange")
        total = (
            parse_content_range(content_range)[1]
            if content_range
            else response.get("ContentLength")
        )
        return Opened(read=body.read, close=body.close, total=total)
