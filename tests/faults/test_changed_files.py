"""A download cut short and resumed must continue the same file, or fail saying so.

A local server cuts the first answer after ten rows, then answers the resumed request
with a file of the same length whose content (and version) changed, either ignoring
``Range`` or honouring ``If-Range`` as HTTP says; the rows of two versions are never
spliced together.
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from werkzeug import Request, Response

from tap_exports.errors import DownloadError
from tap_exports.io.decode import FileFormat, iter_records
from tap_exports.io.http import HttpSource
from tap_exports.io.s3 import S3Source, make_s3_client
from tests.io.test_s3 import CutOnce, as_client

ROWS = 100


def _version(tag: str) -> bytes:
    body = "".join(f"{tag}{n:04d}@x.io,{tag}\n" for n in range(ROWS))
    return ("address,version\n" + body).encode()


OLD, NEW = _version("a"), _version("b")
assert len(OLD) == len(NEW)
CUT = len(b"address,version\n") + 10 * len(b"a0000@x.io,a\n")


class ChangingServer:
    """Serves OLD, cut after ten rows; every later request gets NEW."""

    def __init__(self, httpserver: Any, *, validators: str, honour_if_range: bool) -> None:
        self.requests: list[Request] = []
        self._validators = validators
        self._honour_if_range = honour_if_range
        httpserver.expect_request("/export.csv").respond_with_handler(self._respond)
        self.url = httpserver.url_for("/export.csv")

    def _headers(self, version: str) -> dict[str, str]:
        day = "21" if version == "a" else "22"
        return {
            "etag": {"ETag": f'"{version}"'},
            "last-modified": {"Last-Modified": f"Fri, {day} Oct 2026 11:02:55 GMT"},
        }[self._validators]

    def _respond(self, request: Request) -> Response:
        self.requests.append(request)
        if len(self.requests) == 1:
            response = Response(iter([OLD[:CUT]]), headers={"Connection": "close"})
            response.headers.update(self._headers("a"))
            response.headers["Content-Length"] = str(len(OLD))
            return response
        wanted = request.headers.get("Range")
        condition = request.headers.get("If-Range")
        current = next(iter(self._headers("b").values()))
        if wanted and self._honour_if_range and condition == current:
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
            headers = {"Content-Range": f"bytes {start}-{len(NEW) - 1}/{len(NEW)}"}
            return Response(NEW[start:], status=206, headers={**headers, **self._headers("b")})
        return Response(NEW, headers=self._headers("b"))


@pytest.mark.parametrize("validators", ["etag", "last-modified"])
@pytest.mark.parametrize("honour_if_range", [True, False], ids=["if-range", "ignores-range"])
def test_a_file_that_changed_before_the_resume_is_never_spliced(
    httpserver, validators, honour_if_range
):
    server = ChangingServer(httpserver, validators=validators, honour_if_range=honour_if_range)
    source = HttpSource(lambda: server.url, name="export 42 (bounces.csv)", sleep=lambda _: None)
    rows: list[dict[str, Any]] = []
    with (
        pytest.raises(DownloadError, match="the file changed while it was downloaded"),
        source.open() as raw,
    ):
        rows.extend(iter_records(raw, fmt=FileFormat.CSV, source_name=source.name))
    assert {row["version"] for row in rows} <= {"a"}
    assert server.requests[1].headers.get("If-Range") is not None


class OverwrittenOnCut(CutOnce):
    """The first body dies after ten rows; the object is replaced before the resume."""

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        if len(self.calls) == 1:
            self._client.put_object(Bucket="exports", Key="export.csv", Body=NEW)
        return super().get_object(**kwargs)


def test_an_object_that_changed_before_the_resume_is_never_spliced():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = make_s3_client("key-id", "secret", endpoint_url=f"http://{host}:{port}")
        client.create_bucket(Bucket="exports")
        client.put_object(Bucket="exports", Key="export.csv", Body=OLD)
        cutting = OverwrittenOnCut(client, cut_at=CUT)
        source = S3Source(
            as_client(cutting),
            "exports",
            "export.csv",
            name="connect export 7",
            sleep=lambda _: None,
        )
        rows: list[dict[str, Any]] = []
        with (
            pytest.raises(DownloadError, match="the object changed while it was downloaded"),
            source.open() as raw,
        ):
            rows.extend(iter_records(raw, fmt=FileFormat.CSV, source_name=source.name))
        assert {row["version"] for row in rows} <= {"a"}
        assert cutting.calls[1]["IfMatch"]
    finally:
        server.stop()
