"""Downloads from FTP or explicit FTPS, resumed with ``REST`` after a cut."""

from __future__ import annotations

import contextlib
import dataclasses
import ftplib
import socket
import ssl
import time
from collections.abc import Callable
from typing import BinaryIO

from tap_exports.errors import DownloadError, redact
from tap_exports.io.resumable import Opened, open_resumable

_RETRY_ON: tuple[type[Exception], ...] = (
    OSError,
    EOFError,
    ftplib.error_temp,
    ftplib.error_reply,
    ftplib.error_proto,
)
_UNSAFE_IN_NAME = ("/", "\\", "\x00", "\r", "\n")


@dataclasses.dataclass(frozen=True)
class FtpLogin:
    """Where to log in, and the directory to work in."""

    host: str
    port: int
    username: str
    password: str
    directory: str
    tls: bool = False
    ca_file: str | None = None
    timeout: float = 60


def login(server: FtpLogin, refused: Callable[[Exception], DownloadError]) -> ftplib.FTP:
    """A logged-in control connection in ``server.directory``; a refusal goes to ``refused``."""
    # Plain FTP is what the provider offers; FTPS with a verified certificate when asked.
    ftp: ftplib.FTP
    if server.tls:
        context = ssl.create_default_context(cafile=server.ca_file)
        ftp = ftplib.FTP_TLS(context=context, timeout=server.timeout)  # noqa: S321
    else:
        ftp = ftplib.FTP(timeout=server.timeout)  # noqa: S321
    try:
        ftp.connect(server.host, server.port)
        ftp.login(server.username, server.password)
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        if server.directory:
            ftp.cwd(server.directory)
    except (ftplib.error_perm, ssl.SSLCertVerificationError) as exc:
        ftp.close()
        raise refused(exc) from None
    except BaseException:
        ftp.close()
        raise
    return ftp


def file_names(server: FtpLogin) -> list[str]:
    """The plain names of the files in ``server.directory``, for a file whose name is untold."""

    def refused(exc: Exception) -> DownloadError:
        reason = redact(str(exc), (server.password,))
        return DownloadError(f"FTP server {server.host} refused the listing ({reason})")

    ftp = login(dataclasses.replace(server, directory=""), refused)
    try:
        if server.directory:
            ftp.cwd(server.directory)
        names = ftp.nlst()
    except ftplib.error_perm as exc:
        # 550: no such directory yet, or (some servers) an empty one.
        if str(exc).startswith("550"):
            return []
        raise refused(exc) from None
    finally:
        ftp.close()
    return [name.rsplit("/", 1)[-1] for name in names]


class FtpSource:
    """A file the provider dropped on an FTP server; its name comes from the provider.

    With ``tls``, the server's certificate is always verified; ``ca_file`` names the CA
    of a server whose certificate no public CA signed.
    """

    def __init__(  # noqa: PLR0917 - mirrors the ftp settings block, in its order
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        directory: str,
        filename: str,
        *,
        tls: bool = False,
        ca_file: str | None = None,
        name: str,
        expected_size: int | None = None,
        timeout: float = 60,
        max_resumes: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not filename or filename in (".", "..") or any(c in filename for c in _UNSAFE_IN_NAME):
            msg = f"{name}: refusing file name {filename!r}: not a plain file name"
            raise DownloadError(msg)
        self.name = name
        self._server = FtpLogin(
            host, port, username, password, directory, tls=tls, ca_file=ca_file, timeout=timeout
        )
        self._filename = filename
        self._expected_size = expected_size
        self._max_resumes = max_resumes
        self._sleep = sleep

    def open(self) -> BinaryIO:
        """Start the download; the caller closes the returned file object."""
        return open_resumable(
            self._open_at,
            name=self.name,
            expected_size=self._expected_size,
            max_resumes=self._max_resumes,
            retry_on=_RETRY_ON,
            sleep=self._sleep,
        )

    def _open_at(self, offset: int) -> Opened:
        ftp = self._connect()
        try:
            ftp.voidcmd("TYPE I")
            total = self._size(ftp)
            data = ftp.transfercmd("RETR " + self._filename, rest=offset or None)
        except ftplib.error_perm as exc:
            ftp.close()
            raise self._refused(exc) from None
        except BaseException:
            ftp.close()
            raise
        transfer = _Transfer(ftp, data, self._refused)
        return Opened(read=transfer.read, close=transfer.close, total=total)

    def _connect(self) -> ftplib.FTP:
        return login(self._server, self._refused)

    def _size(self, ftp: ftplib.FTP) -> int | None:
        """The file's size, when the server supports ``SIZE``; it lets a cut be noticed."""
        try:
            return ftp.size(self._filename)
        except ftplib.error_perm:
            return None

    def _refused(self, exc: Exception) -> DownloadError:
        reason = redact(str(exc), (self._server.password,))
        return DownloadError(f"{self.name}: FTP server refused the download ({reason})")


class _Transfer:
    """One ``RETR`` data connection; its end is confirmed by the server's ``226`` reply."""

    def __init__(
        self,
        ftp: ftplib.FTP,
        data: socket.socket,
        refused: Callable[[Exception], DownloadError],
    ) -> None:
        self._ftp = ftp
        self._data = data
        self._refused = refused
        self._ended = False

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; at the end, a failed transfer reply raises instead."""
        chunk = self._data.recv(size)
        if not chunk and not self._ended:
            self._ended = True
            self._data.close()
            try:
                self._ftp.voidresp()
            except ftplib.error_perm as exc:
                raise self._refused(exc) from None
        return chunk

    def close(self) -> None:
        """Drop both connections; an unfinished transfer is simply abandoned."""
        with contextlib.suppress(OSError):
            self._data.close()
        self._ftp.close()
