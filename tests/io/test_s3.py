"""S3Source against moto's S3 server on the loopback interface."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import botocore.exceptions
import pytest
from moto.server import ThreadedMotoServer

from tap_exports.errors import DownloadError
from tap_exports.io.s3 import S3Source, make_s3_client, parse_s3_path

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DATA = b"".join(b'{"event": "open", "n": %d}\n' % i for i in range(40_000))


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def client(s3_endpoint):
    s3 = make_s3_client("testing-key", "testing-secret", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="exports")
    s3.put_object(Bucket="exports", Key="connect/abc.json", Body=DATA)
    return s3


def as_client(fake: CutOnce) -> S3Client:
    """A fake that answers the calls S3Source makes, in place of a boto3 client."""
    return cast("S3Client", fake)


class CutOnce:
    """Delegates to a real client; the first body dies mid-stream like a dropped link."""

    def __init__(self, client, cut_at: int) -> None:
        self._client = client
        self._cut_at = cut_at
        self.calls: list[dict[str, Any]] = []

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        response: dict[str, Any] = self._client.get_object(**kwargs)
        if len(self.calls) == 1:
            response["Body"] = _DyingBody(response["Body"], self._cut_at)
        return response


class _DyingBody:
    def __init__(self, body, budget: int) -> None:
        self._body = body
        self._budget = budget

    def read(self, size: int) -> bytes:
        if not self._budget:
            raise botocore.exceptions.ResponseStreamingError(error="connection reset")
        data: bytes = self._body.read(min(size, self._budget))
        self._budget -= len(data)
        return data

    def close(self) -> None:
        self._body.close()


def _download(source: S3Source) -> bytes:
    with source.open() as stream:
        return stream.read()


def test_full_read(client):
    source = S3Source(client, "exports", "connect/abc.json", name="x", expected_size=len(DATA))
    assert _download(source) == DATA


def test_cut_stream_resumed_with_range(client):
    cutting = CutOnce(client, cut_at=70_001)
    source = S3Source(
        as_client(cutting), "exports", "connect/abc.json", name="x", sleep=lambda _: None
    )
    assert _download(source) == DATA
    assert [call.get("Range") for call in cutting.calls] == [None, "bytes=70001-"]


def test_missing_object_is_a_download_error(client):
    with pytest.raises(
        DownloadError, match=r"connect events: S3 refused the download \(NoSuchKey\)"
    ):
        _download(S3Source(client, "exports", "connect/missing.json", name="connect events"))


def test_object_shorter_than_announced_fails_after_resumes(client):
    source = S3Source(
        client,
        "exports",
        "connect/abc.json",
        name="connect events",
        expected_size=len(DATA) + 1,
        max_resumes=2,
        sleep=lambda _: None,
    )
    with pytest.raises(DownloadError) as caught:
        _download(source)
    assert str(caught.value) == (
        f"connect events: download cut short after 2 resumes: received {len(DATA)} of "
        f"{len(DATA) + 1} bytes (S3 InvalidRange)"
    )


def test_object_longer_than_announced_is_a_size_mismatch(client):
    source = S3Source(client, "exports", "connect/abc.json", name="x", expected_size=len(DATA) - 1)
    with pytest.raises(DownloadError, match="size mismatch"):
        _download(source)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("s3://my-bucket/exports/", ("my-bucket", "exports/")),
        ("s3://my-bucket", ("my-bucket", "")),
        ("https://my-bucket.s3.amazonaws.com/exports/", ("my-bucket", "exports/")),
        ("https://my.dotted.bucket.s3.eu-west-1.amazonaws.com/a/b/", ("my.dotted.bucket", "a/b/")),
        ("https://my-bucket.s3-us-west-2.amazonaws.com/x", ("my-bucket", "x")),
        ("https://s3.eu-central-1.amazonaws.com/my-bucket/exports/", ("my-bucket", "exports/")),
        ("http://127.0.0.1:9000/my-bucket/exports/", ("my-bucket", "exports/")),
    ],
)
def test_parse_s3_path(path, expected):
    assert parse_s3_path(path) == expected


@pytest.mark.parametrize(
    "path", ["", "my-bucket/exports", "s3:///exports", "https://s3.amazonaws.com/"]
)
def test_parse_s3_path_without_bucket(path):
    with pytest.raises(ValueError, match="bucket"):
        parse_s3_path(path)
