"""Certificates are always verified: no switch turns it off, and a bad one fails at once."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typing_extensions import override

from tap_exports.errors import DownloadError, ProviderError
from tap_exports.io.fetch import HttpSource
from tap_exports.tap import TapExports
from tests.faults.harness import catalog_selecting

SOURCE = Path(__file__).resolve().parents[2] / "tap_exports"
UNVERIFIED = re.compile(
    r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|_create_unverified_context"
    r"|InsecureRequestWarning|disable_warnings"
)


def test_no_source_file_turns_verification_off():
    offenders = [
        f"{path.relative_to(SOURCE.parent)}:{number}"
        for path in SOURCE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNVERIFIED.search(line)
    ]
    assert offenders == []


class _Counting(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        self.send_response(200)
        self.end_headers()

    @override
    def log_message(self, *args: object) -> None:
        pass


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate no trusted CA signed."""
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    _Counting.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_an_api_with_an_untrusted_certificate_fails_at_once(untrusted_https: str):
    config = {"mailgun": {"api_key": "key-tls-test-0000", "base_url": untrusted_https}}
    catalog = catalog_selecting(config, "mailgun_domains")
    with pytest.raises(ProviderError, match="TLS certificate could not be verified") as error:
        TapExports(config=config, catalog=catalog).sync_all()
    assert "Mailgun" in str(error.value)
    assert "key-tls-test-0000" not in str(error.value)
    assert _Counting.requests == 0  # the handshake failed: nothing was sent


def test_a_download_with_an_untrusted_certificate_fails_at_once(untrusted_https: str):
    source = HttpSource(lambda: f"{untrusted_https}/file.csv", name="Acme export 1")
    with pytest.raises(DownloadError, match="CERTIFICATE_VERIFY_FAILED"):
        source.open().read()
