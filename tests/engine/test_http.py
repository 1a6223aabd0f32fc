"""The shared API client against a real local HTTP server."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from tap_exports.engine.http import ApiClient
from tap_exports.errors import ProviderError


class Acme(ApiClient):
    provider = "Acme"


def make_client(server: HTTPServer, waits: list[float], **kwargs) -> Acme:
    return Acme(server.url_for("/api"), sleep=waits.append, secrets=("s3cr3t-key",), **kwargs)


def test_retries_429_with_retry_after_then_succeeds(httpserver: HTTPServer):
    httpserver.expect_ordered_request("/api/things").respond_with_json(
        {"message": "slow down"}, status=429, headers={"Retry-After": "4"}
    )
    httpserver.expect_ordered_request("/api/things").respond_with_json({"ok": True})
    waits: list[float] = []
    assert make_client(httpserver, waits).json("GET", "/things") == {"ok": True}
    assert waits == [4.0]


def test_retries_5xx_and_gives_up_with_the_providers_message(httpserver: HTTPServer):
    httpserver.expect_request("/api/things").respond_with_json(
        {"message": "maintenance"}, status=503
    )
    waits: list[float] = []
    with pytest.raises(ProviderError, match=r"Acme: HTTP 503 on GET /api/things: maintenance"):
        make_client(httpserver, waits, max_tries=3).json("GET", "/things")
    assert len(waits) == 2


def test_client_errors_are_not_retried_and_secrets_are_redacted(httpserver: HTTPServer):
    httpserver.expect_request("/api/things").respond_with_json(
        {"message": "key s3cr3t-key is not valid"}, status=401
    )
    waits: list[float] = []
    with pytest.raises(ProviderError) as error:
        make_client(httpserver, waits).json("GET", "/things")
    assert waits == []
    assert "s3cr3t-key" not in str(error.value)
    assert "check the provider's credentials" in str(error.value)


def test_redirects_are_returned_not_followed(httpserver: HTTPServer):
    httpserver.expect_request("/api/file").respond_with_data(
        "", status=302, headers={"Location": "http://127.0.0.1:9/bucket/f.csv?X-Amz-Signature=abc"}
    )
    client = make_client(httpserver, [])
    assert (
        client.redirect_location("/file") == "http://127.0.0.1:9/bucket/f.csv?X-Amz-Signature=abc"
    )


def test_unreachable_host_names_the_provider():
    client = Acme("http://127.0.0.1:9", sleep=lambda s: None, max_tries=2, timeout=(0.5, 0.5))
    with pytest.raises(ProviderError, match="Acme: GET / failed after 2 attempts"):
        client.request("GET", "/")
