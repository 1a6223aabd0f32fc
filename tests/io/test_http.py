"""HttpSource against a real local HTTP server: cuts, expired links, and no credentials."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tap_exports.errors import DownloadError
from tap_exports.io.http import HttpSource

DATA = bytes(range(256)) * 4_000  # 1 MB, larger than one read
SIGNED = "/file.csv?X-Amz-Credential=AKIA&X-Amz-Signature=s3cr3tsig"


def _cut(data: bytes, announced: int) -> Response:
    """A body that stops early while its headers promise more: the server hangs up."""
    response = Response(iter([data]), headers={"Connection": "close"})
    response.headers["Content-Length"] = str(announced)
    return response


class FileServer:
    """Serves DATA at one path with scripted misbehaviour, and records the requests."""

    def __init__(
        self,
        httpserver: HTTPServer,
        *,
        cut_first_at: int | None = None,
        honour_range: bool = True,
        statuses: Sequence[int] = (),
    ) -> None:
        self.requests: list[Request] = []
        self._cut_first_at = cut_first_at
        self._honour_range = honour_range
        self._statuses = list(statuses)
        httpserver.expect_request("/file.csv").respond_with_handler(self._respond)
        self.url = httpserver.url_for(SIGNED)

    @property
    def ranges(self) -> list[str | None]:
        return [r.headers.get("Range") for r in self.requests]

    def _respond(self, request: Request) -> Response:
        self.requests.append(request)
        if self._statuses:
            return Response("no", status=self._statuses.pop(0))
        if len(self.requests) == 1 and self._cut_first_at is not None:
            return _cut(DATA[: self._cut_first_at], len(DATA))
        wanted = request.headers.get("Range")
        if wanted and self._honour_range:
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
            headers = {"Content-Range": f"bytes {start}-{len(DATA) - 1}/{len(DATA)}"}
            return Response(DATA[start:], status=206, headers=headers)
        return Response(DATA)


def _download(source: HttpSource) -> bytes:
    with source.open() as stream:
        return stream.read()


def test_full_read(httpserver):
    server = FileServer(httpserver)
    assert _download(HttpSource(lambda: server.url, name="bounces export")) == DATA
    assert server.ranges == [None]
    assert server.requests[0].headers["Accept-Encoding"] == "identity"


def test_credentials_never_reach_the_file_host(httpserver):
    server = FileServer(httpserver)
    httpserver.expect_request("/download_url").respond_with_response(
        Response(status=302, headers={"Location": SIGNED})
    )
    session = requests.Session()
    session.auth = ("api", "key-secret")
    session.headers["Authorization"] = "Bearer provider-token"
    session.cookies.set("session", "cookie-secret")
    source = HttpSource(lambda: httpserver.url_for("/download_url"), name="x", session=session)
    assert _download(source) == DATA
    hops = [entry[0] for entry in httpserver.log]
    assert [hop.path for hop in hops] == ["/download_url", "/file.csv"]
    assert server.requests == [hops[1]]
    for hop in hops:
        assert "Authorization" not in hop.headers
        assert "Cookie" not in hop.headers


def test_cut_connection_resumed_with_range(httpserver):
    server = FileServer(httpserver, cut_first_at=300_000)
    delays: list[float] = []
    source = HttpSource(lambda: server.url, name="x", sleep=delays.append)
    assert _download(source) == DATA
    assert server.ranges == [None, "bytes=300000-"]
    assert len(delays) == 1
    assert 0 < delays[0] <= 8


def test_server_ignoring_range_still_yields_identical_bytes(httpserver):
    server = FileServer(httpserver, cut_first_at=123_457, honour_range=False)
    source = HttpSource(lambda: server.url, name="x", sleep=lambda _: None)
    assert _download(source) == DATA
    assert server.ranges == [None, "bytes=123457-"]


def test_cut_with_expected_size_resumed(httpserver):
    server = FileServer(httpserver, cut_first_at=10)
    source = HttpSource(lambda: server.url, name="x", expected_size=len(DATA), sleep=lambda _: None)
    assert _download(source) == DATA


@pytest.mark.parametrize("status", [403, 410])
def test_refused_link_replaced_by_a_fresh_one(httpserver, status):
    server = FileServer(httpserver, statuses=[status])
    resolved: list[str] = []

    def resolve() -> str:
        resolved.append(server.url)
        return server.url

    assert _download(HttpSource(resolve, name="x", sleep=lambda _: None)) == DATA
    assert len(resolved) == 2


def test_server_errors_retried(httpserver):
    server = FileServer(httpserver, statuses=[503, 500])
    assert _download(HttpSource(lambda: server.url, name="x", sleep=lambda _: None)) == DATA
    assert len(server.requests) == 3


def test_short_body_against_expected_size_fails_after_max_resumes(httpserver):
    short = DATA[:5_000]
    httpserver.expect_request("/file.csv").respond_with_handler(lambda _: Response(short))
    source = HttpSource(
        lambda: httpserver.url_for(SIGNED),
        name="bounces export",
        expected_size=len(DATA),
        max_resumes=3,
        sleep=lambda _: None,
    )
    with pytest.raises(DownloadError) as caught:
        _download(source)
    message = str(caught.value)
    assert message.startswith("bounces export: download cut short after 3 resumes")
    assert f"received 5000 of {len(DATA)} bytes" in message
    assert len(httpserver.log) == 4


def test_more_bytes_than_announced_is_a_size_mismatch(httpserver):
    server = FileServer(httpserver)
    source = HttpSource(lambda: server.url, name="x", expected_size=len(DATA) - 1)
    with pytest.raises(DownloadError, match="size mismatch"):
        _download(source)


def test_client_error_names_status_without_the_signature(httpserver):
    server = FileServer(httpserver, statuses=[404])
    with pytest.raises(DownloadError) as caught:
        _download(HttpSource(lambda: server.url, name="bounces export"))
    message = str(caught.value)
    assert "HTTP 404" in message
    assert "/file.csv" in message
    assert "s3cr3tsig" not in message
    assert "AKIA" not in message
    assert caught.value.__cause__ is None


def test_giving_up_never_shows_the_signature(httpserver):
    server = FileServer(httpserver, statuses=[500] * 10)
    delays: list[float] = []
    with pytest.raises(DownloadError, match="after 5 resumes") as caught:
        _download(HttpSource(lambda: server.url, name="x", sleep=delays.append))
    assert "s3cr3tsig" not in str(caught.value)
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert len(delays) == 5
    assert all(0 < delay <= 8 for delay in delays)
