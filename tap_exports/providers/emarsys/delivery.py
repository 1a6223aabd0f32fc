"""Reading a finished Emarsys export: paged from ``/export/<id>/data``, or one file on FTP.

Emarsys writes CSV with ``,`` or ``;``, with a header row when asked (the tap always
asks, in English). The export's first file starts with it; its names find the columns
and the delimiter under which it matches is the file's (:mod:`.columns`). Whether
later pages of ``/data`` repeat it is undocumented: a page is read with or without it.
The engine reads every file; each one's first line tells its layout (:meth:`ColumnMap.layout`).
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from tap_exports.engine.adapter import CountingTransform, DownloadTarget, Row, RowTransform
from tap_exports.engine.http import segment
from tap_exports.errors import ExportGoneError, ProviderError
from tap_exports.io.decode import CsvOptions, FileFormat
from tap_exports.io.fetch import ByteSource
from tap_exports.io.ftp import FtpSource, file_names
from tap_exports.io.http import RETRY_ON, discard
from tap_exports.io.resumable import Opened, open_resumable
from tap_exports.providers.emarsys.client import EmarsysApi, EmarsysError, reply_of
from tap_exports.providers.emarsys.columns import ColumnMap
from tap_exports.providers.emarsys.settings import FtpSettings

if TYPE_CHECKING:
    import requests

#: ``/data`` errors after which only a new export helps: 4003 the file is no longer
#: stored, 4006 the file was not found, 10001 the export id is not known.
FILE_GONE = frozenset({4003, 4006, 10001})
#: ``/data`` while the export is still in progress.
IN_PROGRESS = 4005
#: Pages of one export; with the largest page size this is far beyond any real export.
MAX_PAGES = 100_000


@dataclass
class OpenedFile:
    """A byte source that is already open; the engine reads it exactly once."""

    name: str
    stream: BinaryIO

    def open(self) -> BinaryIO:
        """The open stream."""
        return self.stream


def csv_file(source: ByteSource, columns: ColumnMap, transform: RowTransform) -> DownloadTarget:
    """A CSV file of the export, its delimiter and header told by its first line."""
    return DownloadTarget(
        source=source,
        format=FileFormat.CSV,
        csv=CsvOptions(layout=columns.layout),
        transform=transform,
    )


def uploaded_file(settings: FtpSettings, export_id: str) -> str | None:
    """The name of an export's file on FTP, for exports whose status Emarsys does not report.

    An assumption (docs/assumptions.md): the name holds ``_<export id>_`` and ends in
    ``.csv`` as in the documented example (``clicks_3931993_1_en-df0ef2.csv``), and the
    file takes that name only once it is complete (a hidden or other name while written).
    """
    marker = f"_{export_id}_"
    found = sorted(
        name
        for name in file_names(settings.server())
        if marker in name and name.endswith(".csv") and not name.startswith(".")
    )
    return found[0] if found else None


def data_served(api: EmarsysApi, export_id: str) -> bool:
    """Whether ``/data`` serves the export's file yet (4005: still in progress)."""
    try:
        response = api.request(
            "GET",
            f"/export/{segment(export_id)}/data",
            params={"offset": 0, "limit": 1},
            stream=True,
            export_id=export_id,
        )
    except EmarsysError as exc:
        if exc.reply_code == IN_PROGRESS:
            return False
        if exc.reply_code in FILE_GONE:
            raise ExportGoneError(
                "Emarsys", "the export's file is no longer stored", export_id=export_id
            ) from exc
        raise
    response.close()
    return True


def ftp_file(
    settings: FtpSettings,
    export_id: str,
    detail: dict[str, Any],
    columns: ColumnMap,
    transform: RowTransform,
) -> DownloadTarget:
    """The file Emarsys uploaded, named by the finished export's status.

    The FTP login goes only to the configured host: a status (or a state) naming
    another one is refused, never followed with the user's credentials.
    """
    filename = str(detail.get("file_name") or "")
    named = str(detail.get("ftp_host") or settings.host)
    if _host_key(named) != _host_key(settings.host):
        raise ProviderError(
            "Emarsys",
            f"the export names FTP host {named!r}, not the configured {settings.host!r}; "
            "the FTP credentials are sent only to the configured host",
            export_id=export_id,
            hint="check emarsys.ftp.host, and where Emarsys was told to upload the file",
        )
    source = FtpSource(
        settings.host,
        settings.port,
        settings.username,
        settings.password,
        str(detail.get("ftp_dir") or settings.directory),
        filename,
        tls=settings.tls,
        ca_file=settings.ca_file,
        name=f"Emarsys export {export_id} ({filename} on FTP)",
    )
    return csv_file(source, columns, transform)


def _host_key(host: str) -> str:
    """A host name as compared: case and a final dot do not matter."""
    return host.strip().rstrip(".").lower()


class DataPages:
    """The pages of ``GET /export/<id>/data``, until the first one without rows.

    Each answer is read according to its content type: CSV is streamed (a cut
    connection asks for the same page again and skips what was read), JSON is the
    envelope whose ``data`` lists the page's rows.
    """

    def __init__(
        self,
        api: EmarsysApi,
        export_id: str,
        page_size: int,
        columns: ColumnMap,
        transform: RowTransform,
    ) -> None:
        self.api = api
        self.export_id = export_id
        self.page_size = page_size
        self.columns = columns
        self.transform = transform

    def __iter__(self) -> Iterator[DownloadTarget]:
        """Each page in turn, until one without rows; only the last may hold fewer than
        ``page_size``.

        Pages are asked for by offset, so a page cut short (a body without a length
        that ends at a line end) followed by another would silently lose rows: the
        first row of the page after a short one fails the run, before any is emitted.
        """
        previous: CountingTransform | None = None
        for number in range(MAX_PAGES):
            if previous is not None and not previous.count:
                return
            offset = number * self.page_size
            target = self._page(offset)
            if target is None:
                return
            transform = target.transform
            if previous is not None and previous.count < self.page_size:
                transform = partial(self._cut_short, offset - self.page_size, previous.count)
            previous = CountingTransform(transform)
            yield dataclasses.replace(target, transform=previous)
        raise ProviderError(
            "Emarsys", f"more than {MAX_PAGES} pages of data", export_id=self.export_id
        )

    def _cut_short(self, offset: int, count: int, row: Row) -> NoReturn:
        """Refuses the rows of the page after the short one at ``offset``."""
        del row
        raise ProviderError(
            "Emarsys",
            f"the page of rows from {offset + 1} held {count} rows of {self.page_size}, yet "
            "more pages follow: it was cut short",
            export_id=self.export_id,
            hint="run again: the rows already loaded are skipped",
        )

    def _get(self, offset: int) -> requests.Response:
        try:
            return self.api.request(
                "GET",
                f"/export/{segment(self.export_id)}/data",
                params={"offset": offset, "limit": self.page_size},
                stream=True,
                export_id=self.export_id,
            )
        except EmarsysError as exc:
            if exc.reply_code in FILE_GONE:
                raise ExportGoneError(
                    "Emarsys", "the export's file is no longer stored", export_id=self.export_id
                ) from exc
            raise

    def _page(self, offset: int) -> DownloadTarget | None:
        name = f"Emarsys export {self.export_id}, rows from {offset + 1}"
        response = self._get(offset)
        reply = reply_of(response)
        if reply is not None:
            return self._json_page(reply.data, name)
        first = [response]

        def open_at(skip: int) -> Opened:
            page = first.pop() if first else self._get(offset)
            read = partial(page.raw.read, decode_content=True)
            discard(read, skip)
            length = page.headers.get("Content-Length", "")
            plain = "Content-Encoding" not in page.headers and length.isdigit()
            return Opened(read=read, close=page.close, total=int(length) if plain else None)

        stream = open_resumable(open_at, name=name, retry_on=RETRY_ON)
        return csv_file(OpenedFile(name, stream), self.columns, self.transform)

    def _json_page(self, rows: Any, name: str) -> DownloadTarget | None:
        if not isinstance(rows, list):
            raise ProviderError(
                "Emarsys",
                f"{name}: expected a list of rows in the JSON answer, got {type(rows).__name__}",
                export_id=self.export_id,
            )
        if not rows:
            return None
        if isinstance(rows[0], dict):
            self.columns.learn(list(rows[0]))
        return DownloadTarget(
            source=OpenedFile(name, io.BytesIO(json.dumps(rows).encode())),
            format=FileFormat.JSON,
            transform=self.transform,
        )
