"""FtpSource against a pyftpdlib server on the loopback interface."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from tap_exports.errors import DownloadError
from tap_exports.io.ftp import FtpSource

with warnings.catch_warnings():
    # pyftpdlib is built on asyncore/asynchat, deprecated in Python 3.11.
    warnings.filterwarnings("ignore", r"The asyn\w+ module is deprecated", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.filesystems import AbstractedFS
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

DATA = b"user_id;E-Mail\n" + b"".join(b"%d;user%d@x.io\n" % (i, i) for i in range(50_000))
PASSWORD = "ftp-s3cret-pass"


class _ShortFile:
    """A file that ends early on its first opening, like a transfer the server broke off."""

    def __init__(self, file, limit: int) -> None:
        self._file = file
        self._left = limit

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._file.read(min(size, self._left) if size >= 0 else self._left)
        self._left -= len(data)
        return data

    def __getattr__(self, name):
        return getattr(self._file, name)


class FtpServerThread:
    """pyftpdlib serving one directory; records REST commands; cuts files on request."""

    def __init__(self, root: Path) -> None:
        self.rests: list[str] = []
        self.cuts: dict[str, int] = {}
        authorizer = DummyAuthorizer()
        authorizer.add_user("emarsys", PASSWORD, str(root), perm="elr")
        server_side = self

        class CuttingFS(AbstractedFS):  # type: ignore[misc]  # pyftpdlib has no type hints
            def open(self, filename, mode):
                file = super().open(filename, mode)
                limit = server_side.cuts.pop(Path(filename).name, None)
                return file if limit is None else _ShortFile(file, limit)

        class Handler(FTPHandler):  # type: ignore[misc]  # pyftpdlib has no type hints
            use_sendfile = False
            auth_failed_timeout = 0
            abstracted_fs = CuttingFS

            def ftp_REST(self, line):
                server_side.rests.append(line)
                return super().ftp_REST(line)

        Handler.authorizer = authorizer
        self._server = FTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._server.close_all()


@pytest.fixture
def ftp_server(tmp_path):
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "responses_17.csv").write_bytes(DATA)
    with FtpServerThread(tmp_path) as server:
        yield server


def _source(server, filename="responses_17.csv", **kwargs) -> FtpSource:
    options: dict[str, Any] = {"name": "emarsys responses", "timeout": 10, "sleep": lambda _: None}
    return FtpSource(
        "127.0.0.1", server.port, "emarsys", PASSWORD, "exports", filename, **(options | kwargs)
    )


def _download(source: FtpSource) -> bytes:
    with source.open() as stream:
        return stream.read()


def test_full_read(ftp_server):
    assert _download(_source(ftp_server, expected_size=len(DATA))) == DATA
    assert ftp_server.rests == []


def test_cut_transfer_resumed_with_rest(ftp_server):
    ftp_server.cuts["responses_17.csv"] = 100_003
    assert _download(_source(ftp_server)) == DATA
    assert ftp_server.rests == ["100003"]


def test_missing_file_is_a_download_error(ftp_server):
    with pytest.raises(DownloadError, match="emarsys responses: FTP server refused the download"):
        _download(_source(ftp_server, filename="nope.csv"))


def test_wrong_password_never_echoed(ftp_server):
    source = FtpSource(
        "127.0.0.1",
        ftp_server.port,
        "emarsys",
        "wrong-" + PASSWORD,
        "exports",
        "responses_17.csv",
        name="emarsys responses",
        timeout=10,
    )
    with pytest.raises(DownloadError, match="refused") as caught:
        _download(source)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "filename",
    ["", ".", "..", "../etc/passwd", "a/b.csv", "a\\b.csv", "x\x00.csv", "x.csv\r\nDELE y"],
)
def test_unsafe_file_names_refused(filename):
    with pytest.raises(DownloadError, match="not a plain file name"):
        FtpSource("127.0.0.1", 21, "u", "p", "exports", filename, name="emarsys responses")
