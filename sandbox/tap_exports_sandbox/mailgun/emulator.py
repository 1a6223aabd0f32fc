"""Mailgun's exports API as providers.md §1 describes it (final form, 2017 to 2019).

``POST /v3/exports`` (form field ``url``; the legacy ``POST /v3/exports/<url>`` too),
``GET /v3/exports[?url=]``, ``GET /v3/exports/<id>`` and ``GET /v3/exports/<id>/download_url``
(302 to a pre-signed link on the sandbox's S3 server), HTTP Basic auth as user ``api``.
"""

from __future__ import annotations

import hmac
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, jsonify, redirect, request
from flask.typing import ResponseReturnValue

from tap_exports_sandbox.background import until_cancelled
from tap_exports_sandbox.emulator import EmulatorContext, ProviderEmulator, Route
from tap_exports_sandbox.encoders import encode_csv, malformed_positions
from tap_exports_sandbox.faults import FaultKind
from tap_exports_sandbox.mailgun.datasets import define_lists
from tap_exports_sandbox.mailgun.exports import (
    COMPLETE,
    ExportBook,
    MailgunExport,
    new_export_id,
    normalize_url,
)


def _message(status: int, message: str) -> ResponseReturnValue:
    return jsonify(message=message), status


class MailgunEmulator(ProviderEmulator):
    """One Mailgun account with a domains list and, per domain, three suppression lists."""

    name = "mailgun"

    def __init__(self, context: EmulatorContext) -> None:
        super().__init__(context)
        self.options = context.config.mailgun
        self.lists = define_lists(context.datasets, self.options.domains)
        self.bucket = context.storage.create_bucket("mailgun-exports", provider=self.name)
        self.exports = ExportBook()

    def routes(self) -> Sequence[Route]:
        """The four export routes, plus the legacy create form."""
        return (
            Route("POST", "/v3/exports", "create", self.create_export),
            Route("POST", "/v3/exports/<path:legacy_url>", "create", self.create_legacy_export),
            Route("GET", "/v3/exports", "list", self.list_exports),
            Route("GET", "/v3/exports/<export_id>", "get", self.get_export),
            Route("GET", "/v3/exports/<export_id>/download_url", "download_url", self.download_url),
        )

    def check_request(self) -> ResponseReturnValue | None:
        """Basic auth ``api:<key>`` (401 ``Forbidden`` otherwise); 404 without the feature."""
        auth = request.authorization
        if (
            auth is None
            or auth.type != "basic"
            or auth.username != "api"
            or not hmac.compare_digest(
                (auth.password or "").encode(), self.options.api_key.encode()
            )
        ):
            return Response(
                "Forbidden",
                401,
                mimetype="text/plain",
                headers={"WWW-Authenticate": 'Basic realm="MG API"'},
            )
        if not self.options.exports_enabled:
            return _message(404, "Not Found")
        return None

    def create_export(self) -> ResponseReturnValue:
        """Request an export of the list named by the form field ``url``."""
        url = request.form.get("url")
        if not url:
            return _message(400, "Missing mandatory parameter: url")
        return self._create(url)

    def create_legacy_export(self, legacy_url: str) -> ResponseReturnValue:
        """The 2016 form: the list's url is the rest of the path, there is no body."""
        return self._create(legacy_url)

    def _create(self, raw_url: str) -> ResponseReturnValue:
        source = self.lists.get(normalize_url(raw_url))
        if source is None:
            return _message(400, f"Invalid url: {raw_url} is not an exportable list")
        now = self.context.clock.now()
        malformed = self.injected(FaultKind.MALFORMED_ROWS)
        values = self.injected(FaultKind.ROW_VALUES)
        export = MailgunExport(
            id=new_export_id(now),
            source=source,
            rows=source.dataset.size,
            created_at=now,
            fails=self.injected(FaultKind.FAIL_EXPORT) is not None,
            failure_word=self.options.failure_word,
            malformed_rows=malformed.rows if malformed else 0,
            row_values=(values.column, values.values) if values else None,
        )
        if not self.exports.add_unless_running(export, self.context.config.delays):
            return _message(400, "Export for this url is already processing")
        self.context.stats.export_created(self.name, source.url)
        if not export.fails:
            self.context.jobs.submit(lambda cancelled: self._write_file(export, cancelled))
        if not self.options.create_returns_id:
            return jsonify(message="success")
        return jsonify(self._describe(export))

    def _write_file(self, export: MailgunExport, cancelled: threading.Event) -> None:
        dataset = export.source.dataset
        rows = dataset.tuples(0, export.rows)
        if "tag" in dataset.columns and self.options.all_tag != "*":
            column = dataset.columns.index("tag")
            rows = (
                (*row[:column], self.options.all_tag, *row[column + 1 :])
                if row[column] == "*"
                else row
                for row in rows
            )
        if export.row_values is not None:
            rows = _with_values(rows, dataset.columns, *export.row_values)
        chunks = encode_csv(
            dataset.columns,
            rows,
            self.options.csv,
            malformed_after=malformed_positions(export.rows, export.malformed_rows),
        )
        self.context.storage.put_stream(
            self.bucket, export.object_key, until_cancelled(chunks, cancelled), "text/csv"
        )
        export.file_ready.set()

    def _describe(self, export: MailgunExport) -> dict[str, str]:
        word = self.injected(FaultKind.STATUS_WORD)
        status = (
            word.word
            if word
            else export.status(self.context.clock.now(), self.context.config.delays)
        )
        return {"id": export.id, "status": status, "url": export.source.url}

    def list_exports(self) -> ResponseReturnValue:
        """Exports of the last 24 hours, optionally only those of one ``url``."""
        wanted = request.args.get("url")
        key = None if wanted is None else normalize_url(wanted)
        exports = self.exports.live(self.context.clock.now())
        return jsonify(
            items=[self._describe(export) for export in exports if key in {None, export.source.url}]
        )

    def get_export(self, export_id: str) -> ResponseReturnValue:
        """One export's status."""
        export = self.exports.find(export_id, self.context.clock.now())
        if export is None:
            return _message(404, "export not found")
        return jsonify(self._describe(export))

    def download_url(self, export_id: str) -> ResponseReturnValue:
        """302 to a fresh pre-signed link to the CSV file, once the export is complete."""
        now = self.context.clock.now()
        export = self.exports.find(export_id, now)
        if export is None:
            return _message(404, "export not found")
        if export.status(now, self.context.config.delays) != COMPLETE:
            return _message(404, "Export not ready")
        storage = self.context.storage
        link = storage.presign(self.bucket, export.object_key, self.options.link_ttl_seconds)
        if self.injected(FaultKind.EXPIRE_LINK):
            storage.expire(link)
        return redirect(link, 302)

    def tap_settings(self) -> dict[str, Any]:
        """``mailgun`` settings exporting every list of the account."""
        return {
            "api_key": self.options.api_key,
            "base_url": self.url,
            "lists": [f"/v3/{url}" for url in self.lists],
        }

    def stream_counts(self) -> dict[str, int]:
        """Rows per Mailgun stream, summed over the account's domains."""
        counts: Counter[str] = Counter()
        for source in self.lists.values():
            counts[source.stream] += source.dataset.size
        return dict(counts)

    def export_counts(self) -> dict[str, int]:
        """Rows per list url."""
        return {url: source.dataset.size for url, source in self.lists.items()}

    def reset(self) -> None:
        """Forget every export."""
        self.exports.clear()


def _with_values(
    rows: Iterable[tuple[Any, ...]], columns: Sequence[str], column: str, values: Sequence[str]
) -> Iterator[tuple[Any, ...]]:
    """``rows`` whose first ones carry ``values`` in ``column`` (a row-values fault)."""
    at = columns.index(column)
    for index, row in enumerate(rows):
        yield (*row[:at], values[index], *row[at + 1 :]) if index < len(values) else row
