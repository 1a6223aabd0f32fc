"""Downloads from (usually pre-signed) HTTP links, never carrying provider credentials.

Pre-signed links reject a second auth mechanism, and forwarding an API key to a storage
host would leak it, so every request and every redirect hop is stripped of credentials.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO, NoReturn
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from typing_extensions import override

from tap_exports.errors import DownloadError, redact
from tap_exports.io.chunks import CHUNK_SIZE
from tap_exports.io.resumable import Opened, TransientError, open_resumable, parse_content_range

_CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")
_MAX_REDIRECTS = 10
_REFUSED_LINK = frozenset({403, 410})
"""How storage services answer an expired pre-signed link."""
RETRY_ON: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
)
"""What a cut HTTP body raises; reading resumes from the current offset."""

Timeout = tuple[float, float]
"""Connect and read timeouts in seconds."""


class HttpSource:
    """A file behind a URL that may expire; ``resolve_url`` asks the provider for a fresh one."""

    #: Connect and read timeouts; a stalled read is resumed like a dropped connection.
    timeout: Timeout = (10, 120)

    def __init__(
        self,
        resolve_url: Callable[[], str],
        *,
        name: str,
        expected_size: int | None = None,
        session: requests.Session | None = None,
        timeout: Timeout | None = None,
        max_resumes: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._resolve_url = resolve_url
        self._expected_size = expected_size
        self._session = session
        if timeout is not None:
            self.timeout = timeout
        self._max_resumes = max_resumes
        self._sleep = sleep

    def open(self) -> BinaryIO:
        """Start the download; the caller closes the returned file object."""
        session = self._session or requests.Session()
        download = _Download(self.name, self._resolve_url, session, self.timeout)
        return open_resumable(
            download.open_at,
            name=self.name,
            expected_size=self._expected_size,
            max_resumes=self._max_resumes,
            retry_on=RETRY_ON,
            sleep=self._sleep,
            on_close=None if self._session else session.close,
        )


class _Download:
    """The state of one download: its session and the link currently in use."""

    def __init__(
        self,
        name: str,
        resolve_url: Callable[[], str],
        session: requests.Session,
        timeout: Timeout,
    ) -> None:
        self._name = name
        self._resolve_url = resolve_url
        self._session = session
        self._timeout = timeout
        self._url: str | None = None
        #: What identifies the version of the file the first bytes came from.
        self._version: _Version | None = None

    def open_at(self, offset: int) -> Opened:
        """GET the file from ``offset``, asking for a fresh link when the current one is refused.

        A resumed request carries ``If-Range``, and every answer's version is compared
        with the first one's: bytes of a file that changed in between are never spliced
        onto the ones already read.
        """
        if self._url is None:
            self._url = self._resolve_url()
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if self._version is not None and self._version.validator:
                headers["If-Range"] = self._version.validator
        response = self._get(self._url, headers)
        status = response.status_code
        if status not in (200, 206):
            response.close()
            self._refuse(status)
        read = partial(response.raw.read, decode_content=False)
        try:
            self._check_version(response, offset)
            total = self._seek(response, read, offset)
        except BaseException:
            response.close()
            raise
        return Opened(read=read, close=response.close, total=total)

    def _check_version(self, response: requests.Response, offset: int) -> None:
        version = _Version.of(response)
        if self._version is None or not offset:
            self._version = version
            return
        if not self._version.same_file(version):
            msg = (
                f"{self._name}: the file changed while it was downloaded "
                f"({self._version} at first, {version} when resuming at byte {offset}); "
                "nothing of the new version was read: run again to read the export from "
                "its start (rows already loaded are skipped)"
            )
            raise DownloadError(msg)

    def _seek(
        self, response: requests.Response, read: Callable[[int], bytes], offset: int
    ) -> int | None:
        """Position the body at ``offset``; return the size of the whole file if known."""
        if response.status_code == 206:
            first, total = parse_content_range(response.headers.get("Content-Range", ""))
            if first != offset:
                msg = f"{self._name}: server resumed at byte {first}, not {offset}"
                raise DownloadError(msg)
            return total
        discard(read, offset)
        length = response.headers.get("Content-Length", "")
        return int(length) if length.isdigit() else None

    def _refuse(self, status: int) -> NoReturn:
        if status in _REFUSED_LINK:
            self._url = None
            msg = f"HTTP {status}: link expired or refused; asking the provider for a fresh one"
            raise TransientError(msg)
        if status == 416:
            msg = "HTTP 416: the server holds no more bytes"
            raise TransientError(msg)
        if status == 429 or status >= 500:
            msg = f"HTTP {status}"
            raise TransientError(msg)
        msg = f"{self._name}: HTTP {status} from {redact(self._url or '')}"
        raise DownloadError(msg)

    def _get(self, url: str, headers: dict[str, str]) -> requests.Response:
        """GET following redirects by hand, so no hop can add credentials back."""
        session = self._session
        verify = session.verify if isinstance(session.verify, str) else True
        for _ in range(_MAX_REDIRECTS + 1):
            scheme = urlsplit(url).scheme.lower()
            if scheme not in {"http", "https"}:
                msg = (
                    f"{self._name}: refusing the link to a {scheme or 'relative'}: URL "
                    f"({redact(url)}); files are downloaded over http(s) only"
                )
                raise DownloadError(msg)
            prepared = session.prepare_request(requests.Request("GET", url, headers=headers))
            for header in _CREDENTIAL_HEADERS:
                prepared.headers.pop(header, None)
            settings = session.merge_environment_settings(url, {}, True, verify, None)
            try:
                response = session.send(
                    prepared, allow_redirects=False, timeout=self._timeout, **settings
                )
            except (requests.exceptions.SSLError, requests.exceptions.InvalidURL) as exc:
                msg = f"{self._name}: cannot fetch {redact(url)} ({redact(str(exc))})"
                raise DownloadError(msg) from None
            if not response.is_redirect:
                return response
            url = urljoin(url, response.headers["Location"])
            response.close()
        msg = f"{self._name}: more than {_MAX_REDIRECTS} redirects"
        raise DownloadError(msg)


@dataclass(frozen=True)
class _Version:
    """What a server says about which version of a file it sends."""

    etag: str | None
    last_modified: str | None
    size: int | None

    @classmethod
    def of(cls, response: requests.Response) -> _Version:
        headers = response.headers
        size: int | None = None
        if response.status_code == 206:
            size = parse_content_range(headers.get("Content-Range", ""))[1]
        elif headers.get("Content-Length", "").isdigit():
            size = int(headers["Content-Length"])
        return cls(headers.get("ETag"), headers.get("Last-Modified"), size)

    @property
    def validator(self) -> str | None:
        """What ``If-Range`` can carry: a strong ETag, else the modification date."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    def same_file(self, other: _Version) -> bool:
        """False when anything both answers state differs (without any, nothing can tell)."""
        pairs = (
            (self.etag, other.etag),
            (self.last_modified, other.last_modified),
            (self.size, other.size),
        )
        return all(mine == theirs for mine, theirs in pairs if mine and theirs)

    @override
    def __str__(self) -> str:
        parts = [f"ETag {self.etag}" if self.etag else "", self.last_modified or ""]
        parts.append(f"{self.size} bytes" if self.size is not None else "")
        return ", ".join(part for part in parts if part) or "no version given"


def discard(read: Callable[[int], bytes], count: int) -> None:
    """Skip bytes already delivered, for servers that ignore ``Range`` and send it all again."""
    while count:
        data = read(min(count, CHUNK_SIZE))
        if not data:
            msg = "server sent fewer bytes than before"
            raise TransientError(msg)
        count -= len(data)
