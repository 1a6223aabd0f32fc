"""The sandbox's S3 server: real pre-signed links, S3's refusals, ranges and faults."""

from __future__ import annotations

import pytest
import requests

from tap_exports_sandbox import Fault, Sandbox

BODY = bytes(range(256)) * 1024  # 256 KiB, every byte value


@pytest.fixture
def stored(sandbox: Sandbox) -> tuple[str, str]:
    """A bucket and key holding ``BODY``, written in uneven chunks."""
    bucket = sandbox.storage.create_bucket("files", provider="tests")
    chunks = [BODY[i : i + 10_000] for i in range(0, len(BODY), 10_000)]
    assert sandbox.storage.put_stream(bucket, "dir/file.bin", chunks) == len(BODY)
    return bucket, "dir/file.bin"


def test_presigned_link_serves_the_object(sandbox, stored):
    link = sandbox.storage.presign(*stored, ttl_seconds=60)
    response = requests.get(link, timeout=10)
    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"].startswith('"')


def test_boto3_sees_streamed_objects_like_any_other(sandbox, stored):
    bucket, key = stored
    client = sandbox.storage.client()
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == BODY
    assert sandbox.faults.calls("tests", "storage_get") == 1, "served by the streaming front"
    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(BODY)
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(item["Key"], item["Size"]) for item in listed] == [(key, len(BODY))]
    ranged = client.get_object(Bucket=bucket, Key=key, Range="bytes=10-19")
    assert ranged["Body"].read() == BODY[10:20]

    client.put_object(Bucket=bucket, Key="plain.txt", Body=b"hello")
    link = sandbox.storage.presign(bucket, "plain.txt", ttl_seconds=60)
    assert requests.get(link, timeout=10).content == b"hello"


def test_authorization_header_on_a_presigned_link_is_refused_and_recorded(sandbox, stored):
    link = sandbox.storage.presign(*stored, ttl_seconds=60)
    response = requests.get(link, headers={"Authorization": "Basic c2VjcmV0LXZhbHVl"}, timeout=10)
    assert response.status_code == 400
    assert "<Code>InvalidArgument</Code>" in response.text
    assert "Only one auth mechanism allowed" in response.text
    assert "c2VjcmV0LXZhbHVl" not in response.text

    [leak] = sandbox.storage.credential_leaks
    assert leak.method == "GET"
    assert leak.path == f"/{stored[0]}/{stored[1]}"
    assert "Authorization" in leak.header_names
    assert "c2VjcmV0LXZhbHVl" not in repr(leak)
    assert sandbox.report()["credential_leaks"] == [leak.to_dict()]


def test_link_expires_on_the_sandbox_clock(sandbox, stored):
    link = sandbox.storage.presign(*stored, ttl_seconds=600)
    sandbox.advance_clock(599)
    assert requests.get(link, timeout=10).status_code == 200
    sandbox.advance_clock(1)
    expired = requests.get(link, timeout=10)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text
    assert "<Message>Request has expired</Message>" in expired.text
    assert requests.get(sandbox.storage.presign(*stored, ttl_seconds=60), timeout=10).ok


@pytest.mark.parametrize(
    ("header", "status", "expected"),
    [
        ("bytes=0-99", 206, BODY[:100]),
        ("bytes=1000-", 206, BODY[1000:]),
        ("bytes=-10", 206, BODY[-10:]),
        ("bytes=262000-999999", 206, BODY[262000:]),
        ("bytes=0-1,5-6", 200, BODY),
        ("lines=1-2", 200, BODY),
    ],
)
def test_range_requests(sandbox, stored, header, status, expected):
    link = sandbox.storage.presign(*stored, ttl_seconds=60)
    response = requests.get(link, headers={"Range": header}, timeout=10)
    assert response.status_code == status
    assert response.content == expected
    if status == 206:
        start = (
            len(BODY) - len(expected)
            if header.startswith("bytes=-")
            else int(header[6:].split("-")[0])
        )
        assert (
            response.headers["Content-Range"]
            == f"bytes {start}-{start + len(expected) - 1}/{len(BODY)}"
        )


def test_unsatisfiable_range_is_416(sandbox, stored):
    link = sandbox.storage.presign(*stored, ttl_seconds=60)
    response = requests.get(link, headers={"Range": f"bytes={len(BODY)}-"}, timeout=10)
    assert response.status_code == 416
    assert "<Code>InvalidRange</Code>" in response.text


def test_conditional_requests(sandbox, stored):
    link = sandbox.storage.presign(*stored, ttl_seconds=60)
    etag = requests.head(link, timeout=10).headers["ETag"]
    assert requests.get(link, headers={"If-None-Match": etag}, timeout=10).status_code == 304
    assert requests.get(link, headers={"If-Match": '"other"'}, timeout=10).status_code == 412
    assert requests.get(link, headers={"If-Match": etag}, timeout=10).content == BODY


def test_storage_faults_apply_to_the_bucket_owner(sandbox, stored):
    link = sandbox.storage.presign(*stored, ttl_seconds=60)
    sandbox.faults.add("tests", "storage_get", Fault.cut_after(1000))
    sandbox.faults.add("tests", "storage_get", Fault.status(500, "boom"), nth=2)
    sandbox.faults.add("tests", "storage_get", Fault.reset(), nth=3)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(link, timeout=10)
    assert requests.get(link, timeout=10).status_code == 500
    with pytest.raises(requests.ConnectionError):
        requests.get(link, timeout=10)
    assert requests.get(link, timeout=10).content == BODY
    assert [fired.fault.kind for fired in sandbox.faults.fired] == ["cut_after", "status", "reset"]


def test_cut_after_sends_exactly_that_many_bytes(sandbox, stored):
    link = sandbox.storage.presign(*stored, ttl_seconds=60)
    sandbox.faults.add("tests", "storage_get", Fault.cut_after(12_345))
    received = bytearray()

    def read_all(response: requests.Response) -> None:
        for chunk in response.iter_content(1):
            received.extend(chunk)

    with requests.get(link, stream=True, timeout=10) as response:
        assert response.headers["Content-Length"] == str(len(BODY))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            read_all(response)
    assert bytes(received) == BODY[:12_345]


def test_two_sandboxes_do_not_share_buckets(sandbox, sandbox_factory):
    other = sandbox_factory()
    mine = sandbox.storage.create_bucket("shared-name")
    theirs = other.storage.create_bucket("shared-name")
    assert mine != theirs
    sandbox.storage.put_stream(mine, "k", [b"mine"])
    assert other.storage.client().list_objects_v2(Bucket=theirs)["KeyCount"] == 0
