"""Mailgun list exports: create (adopting a running twin), poll, the CSV behind a 302, rows.

Exports cannot be filtered, so the engine drops rows older than the window start
(``filters_client_side``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, cast

from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from typing_extensions import override

from tap_exports import schemas
from tap_exports.engine.adapter import Columns, DownloadTarget, ExportAdapter, Row
from tap_exports.engine.http import segment
from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.status import ExportStatus, StatusMap
from tap_exports.engine.stream import BulkExportStream
from tap_exports.errors import ProviderError
from tap_exports.instants import format_instant
from tap_exports.io.decode import CsvOptions, FileFormat
from tap_exports.io.fetch import HttpSource
from tap_exports.providers.mailgun.client import PROVIDER, MailgunApi
from tap_exports.providers.mailgun.settings import list_kind

if TYPE_CHECKING:
    from tap_exports.tap import TapExports

SCHEMAS = SchemaDirectory(schemas)

STATUSES = StatusMap(
    PROVIDER,
    {
        "requested": ExportStatus.PENDING,
        "processing": ExportStatus.RUNNING,
        "complete": ExportStatus.COMPLETE,
        # An assumption (docs/assumptions.md): no failure state is documented; "failed" is
        # the likely word, and an export that never ends runs into export_timeout_seconds.
        "failed": ExportStatus.FAILED,
    },
)


def normalized(list_url: str) -> str:
    """The list path as Mailgun reports it back: no leading ``/v3/``."""
    kind, domain = list_kind(list_url)
    return kind if domain is None else f"{domain}/{kind}"


MONTHS = {
    name: f"{number:02d}"
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


_UTC = frozenset((" UTC", " GMT"))
_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d")


@functools.lru_cache(maxsize=4096)
def _utc_day(prefix: str) -> str | None:
    """``Fri, 21 Oct 2011`` → ``2011-10-21T``; None for another layout or no such day."""
    month = MONTHS.get(prefix[8:11])
    if month is None or prefix[4] != " " or prefix[7] != " " or prefix[11] != " ":
        return None
    try:
        day = dt.date(int(prefix[12:16]), int(month), int(prefix[5:7]))
    except ValueError:
        return None
    return f"{day.isoformat()}T"


def rfc2822_to_iso(value: str | None) -> str | None:
    """Mailgun dates (``Fri, 21 Oct 2011 11:02:55 UTC``) as RFC 3339 UTC.

    Mailgun writes one fixed UTC/GMT layout, which is cut apart directly, its day
    worked out once (this runs once per row); anything else goes through the
    general RFC 2822 parser. A date without a zone (or with ``-0000``, "zone
    unknown") is in Mailgun's zone, UTC, never the host's. Anything unreadable raises
    ``ValueError``, which makes the row a bad row.
    """
    if not value:
        return None
    if len(value) == 29 and value[25:] in _UTC and value[16] == " ":
        day = _utc_day(value[:16])
        if day is not None and _TIME.fullmatch(value, 17, 25):
            return day + value[17:25] + "Z"
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        msg = f"unreadable date {value!r}"
        raise ValueError(msg) from None
    return format_instant(parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC))


_TIMES = re.compile(f"(?:{_TIME.pattern}\n)*{_TIME.pattern}")
"""Many times, one per line: a whole column checked in one call."""
_DAY_PART: Callable[[str], str] = operator.itemgetter(slice(0, 16))
_GAP: Callable[[str], str] = operator.itemgetter(16)
_TIME_PART: Callable[[str], str] = operator.itemgetter(slice(17, 25))
_ZONE: Callable[[str], str] = operator.itemgetter(slice(25, None))


def rfc2822_column(values: Iterable[str | None]) -> list[str | None]:
    """:func:`rfc2822_to_iso` of every value; by C-level calls over the column when every
    value is in the fixed layout (the same tests as the one-value path, a column at a time).
    """
    values = list(values)
    if None not in values and set(map(len, values)) == {29}:  # type: ignore[arg-type]
        texts = cast("list[str]", values)
        times = list(map(_TIME_PART, texts))
        if (
            set(map(_GAP, texts)) == {" "}
            and set(map(_ZONE, texts)) <= _UTC
            and _TIMES.fullmatch("\n".join(times))
        ):
            days = list(map(_utc_day, map(_DAY_PART, texts)))
            if None not in days:
                parts = zip(cast("list[str]", days), times, repeat("Z"))
                return list(map("".join, parts))
    return [rfc2822_to_iso(value) for value in values]


class MailgunListExport(ExportAdapter):
    """The export of one Mailgun list."""

    provider = PROVIDER
    filters_client_side = True

    def __init__(self, api: MailgunApi, list_url: str) -> None:
        self.api = api
        self.list_url = "/" + list_url.strip("/")
        self.kind, self.domain = list_kind(list_url)

    @override
    def create(self, window: Window) -> ExportJob:
        response = self.api.request(
            "POST", "/v3/exports", data={"url": self.list_url}, accept=(200, 400, 404)
        )
        if response.status_code == 404:
            raise ProviderError(
                self.provider,
                "this account has no export feature (HTTP 404 on /v3/exports)",
                hint="ask Mailgun support to enable exports, or remove the mailgun settings",
            )
        if response.status_code == 400:
            running = self._find_export(active_only=True)
            if running is None:
                raise self.api.error(response, "POST /v3/exports")
            return ExportJob(running, window=window)
        # The official mock answers without an id, or with no body at all.
        body = self.api.body(response) if response.content else {}
        export_id = body.get("id") if isinstance(body, Mapping) else None
        if not export_id:
            export_id = self._find_export(active_only=False)
        if not export_id:
            raise ProviderError(
                self.provider, f"the export of {self.list_url} was accepted but cannot be found"
            )
        return ExportJob(str(export_id), window=window)

    def _find_export(self, *, active_only: bool) -> str | None:
        """The newest export of this list, e.g. the one a duplicate request collided with."""
        items = self.api.json("GET", "/v3/exports", params={"url": normalized(self.list_url)}).get(
            "items", []
        )
        mine = [
            item
            for item in items
            if item.get("url", "").strip("/")
            in {normalized(self.list_url), self.list_url.strip("/")}
            and (
                not active_only
                or STATUSES(item.get("status"), export_id=item.get("id"))
                in {ExportStatus.PENDING, ExportStatus.RUNNING}
            )
        ]
        return str(mine[-1]["id"]) if mine else None

    @override
    def poll(self, job: ExportJob) -> ExportJob:
        response = self.api.get_export(
            f"/v3/exports/{segment(job.export_id)}",
            export_id=job.export_id,
            gone="export no longer exists (exports last 24 hours)",
        )
        body = self.api.body(response, export_id=job.export_id)
        return job.with_status(STATUSES(body.get("status"), export_id=job.export_id))

    @override
    def targets(self, job: ExportJob) -> Iterator[DownloadTarget]:
        path = f"/v3/exports/{segment(job.export_id)}/download_url"
        yield DownloadTarget(
            source=HttpSource(
                lambda: self.api.redirect_location(path, export_id=job.export_id),
                name=f"Mailgun export {job.export_id} ({normalized(self.list_url)}.csv)",
            ),
            format=FileFormat.CSV,
            csv=CsvOptions(empty_as_null=True),
            transform=self.transform,
            columns=self.transform_columns,
        )

    def transform(self, row: Row) -> Row:
        """CSV cells → schema fields: ISO dates, booleans, the list's domain.

        Empty cells already arrive as None. Each row is a fresh dict: changed in place.
        """
        row["created_at"] = rfc2822_to_iso(row.get("created_at"))
        if self.kind == "domains":
            wildcard = row.get("wildcard")
            row["wildcard"] = None if wildcard is None else str(wildcard).lower() == "true"
        else:
            row["domain"] = self.domain
        if self.kind == "unsubscribes":
            # An assumption (docs/assumptions.md): an empty tag is an unsubscribe from
            # every tag, which Mailgun's JSON lists write as "*".
            row["tag"] = row.get("tag") or "*"
        return row

    def transform_columns(self, columns: Columns, rows: int) -> Columns:
        """:meth:`transform` of a whole batch, column by column: the same records."""
        nothing = repeat(None, rows)
        columns["created_at"] = rfc2822_column(columns.get("created_at", nothing))
        if self.kind == "domains":
            columns["wildcard"] = [
                None if wildcard is None else str(wildcard).lower() == "true"
                for wildcard in columns.get("wildcard", nothing)
            ]
        else:
            columns["domain"] = repeat(self.domain, rows)
        if self.kind == "unsubscribes":
            columns["tag"] = [tag or "*" for tag in columns.get("tag", nothing)]
        return columns


class MailgunBulkStream(BulkExportStream):
    """A Mailgun list kind, one partition per configured list of that kind."""

    schema = StreamSchema(SCHEMAS)
    replication_key = "created_at"

    def __init__(self, tap: TapExports, api: MailgunApi, lists: Sequence[str]) -> None:
        super().__init__(
            tap, {url: MailgunListExport(api, url) for url in lists}, partition_key="list"
        )


class MailgunDomainsStream(MailgunBulkStream):
    """Every sending domain of the account."""

    name = "mailgun_domains"
    primary_keys = ("name",)


class MailgunBouncesStream(MailgunBulkStream):
    """Bounced addresses, per domain."""

    name = "mailgun_bounces"
    primary_keys = ("domain", "address")


class MailgunUnsubscribesStream(MailgunBulkStream):
    """Unsubscribed addresses and the tag they left, per domain."""

    name = "mailgun_unsubscribes"
    primary_keys = ("domain", "address", "tag")


class MailgunComplaintsStream(MailgunBulkStream):
    """Addresses that marked mail as spam, per domain."""

    name = "mailgun_complaints"
    primary_keys = ("domain", "address")


BULK_STREAMS: dict[str, type[MailgunBulkStream]] = {
    "domains": MailgunDomainsStream,
    "bounces": MailgunBouncesStream,
    "unsubscribes": MailgunUnsubscribesStream,
    "complaints": MailgunComplaintsStream,
}
