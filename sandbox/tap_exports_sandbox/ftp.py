"""A real FTP server on 127.0.0.1 for providers that deliver export files by FTP (Emarsys).

With ``tls`` it speaks explicit FTPS only, with a throwaway self-signed certificate made at
start-up; clients trust it through ``ca_file`` instead of turning verification off.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import secrets
import tempfile
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tap_exports_sandbox.httpd import HOST

with warnings.catch_warnings():
    # pyftpdlib is built on asyncore and asynchat, deprecated since Python 3.11.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

# pyftpdlib configures logging to stderr for the whole process unless its logger already
# has a handler; its records still propagate to whatever the application configured.
logging.getLogger("pyftpdlib").addHandler(logging.NullHandler())

FTP_USER = "sandbox"
_POLL_SECONDS = 0.05
_JOIN_SECONDS = 10.0


def self_signed_certificate(directory: Path) -> Path:
    """Write a key and a certificate for ``HOST`` (its own CA) to ``directory``; the PEM path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tap-exports sandbox")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    path = directory / "sandbox-ftps.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + certificate.public_bytes(serialization.Encoding.PEM)
    )
    return path


class SandboxFtp:
    """One FTP user with a temporary home directory, served from a thread."""

    def __init__(
        self, *, user: str = FTP_USER, password: str | None = None, tls: bool = False
    ) -> None:
        self.user = user
        self.password = password or secrets.token_hex(8)
        self.tls = tls
        self._home = tempfile.TemporaryDirectory(prefix="tap-exports-ftp-")
        self.root = Path(self._home.name).resolve()
        """The user's home directory on disk (``/`` over FTP)."""
        self._private = tempfile.TemporaryDirectory(prefix="tap-exports-ftps-")
        self.ca_file: Path | None = None
        """With ``tls``: the server's certificate, which clients trust as its own CA."""
        authorizer = DummyAuthorizer()
        authorizer.add_user(self.user, self.password, str(self.root), perm="elradfmw")
        # Refuse a bad login at once: pyftpdlib's 3 s anti-brute-force pause only slows tests.
        attributes: dict[str, object] = {"authorizer": authorizer, "auth_failed_timeout": 0.05}
        base: type[FTPHandler] = FTPHandler
        if tls:
            from pyftpdlib.handlers import TLS_FTPHandler  # needs PyOpenSSL

            self.ca_file = self_signed_certificate(Path(self._private.name))
            base = TLS_FTPHandler
            attributes |= {
                "certfile": str(self.ca_file),
                "tls_control_required": True,
                "tls_data_required": True,
            }
        handler = type("SandboxFtpHandler", (base,), attributes)
        self._ioloop = IOLoop()
        self._server = FTPServer((HOST, 0), handler, ioloop=self._ioloop)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sandbox-ftp", daemon=True)

    @property
    def host(self) -> str:
        """Always ``127.0.0.1``."""
        return HOST

    @property
    def port(self) -> int:
        """The control connection's port."""
        return int(self._server.address[1])

    def settings(self, directory: str = "/") -> dict[str, object]:
        """The tap's ``ftp`` settings for this server."""
        return {
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "password": self.password,
            "directory": directory,
            "tls": self.tls,
            **({"ca_file": str(self.ca_file)} if self.ca_file else {}),
        }

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            self._ioloop.loop(_POLL_SECONDS, blocking=False)
        self._server.close_all()

    def stop(self) -> None:
        """Disconnect every client, stop serving and delete the files."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(_JOIN_SECONDS)
        else:
            self._server.close_all()
        self._home.cleanup()
        self._private.cleanup()

    def upload(self, name: str, chunks: Iterable[bytes]) -> Path:
        """Deliver a file (``name`` relative to the home directory), chunk by chunk.

        It is written under a temporary name and renamed at the end, so a client never
        downloads half a file.
        """
        target = self.root / name
        if self.root not in target.resolve().parents:
            msg = f"{name!r} is outside the FTP home directory"
            raise ValueError(msg)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with partial.open("wb") as file:
            for chunk in chunks:
                file.write(chunk)
        partial.replace(target)
        return target

    def clear(self) -> None:
        """Delete every delivered file (sandbox reset)."""
        for path in sorted(self.root.rglob("*"), reverse=True):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
