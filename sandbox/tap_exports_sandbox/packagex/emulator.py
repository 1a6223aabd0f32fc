"""PackageX's Exports API as providers.md §2 describes it.

``POST /v1/exports`` (JSON body), ``GET /v1/exports`` (``page``/``limit``, filters on
resource, statuses and name) and ``GET /v1/exports/<id>`` (with ``include_csv`` and
``include_json``, pre-signed links to the files on the sandbox's S3 server once the
export has completed). Every answer, errors included, is PackageX's envelope; the key
goes in ``PX-API-KEY`` (``X-API-KEY`` works too).

Faults: ``fail_export`` and ``status_word`` on ``create`` decide how the export ends
(``status_word("timed_out")`` times it out); ``status_word`` on ``get`` or ``list``
changes one answer; ``expire_link`` on ``get`` hands out dead links; ``malformed_rows``
on ``create`` breaks items of the data files; ``storage_get`` faults hit downloads.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from tap_exports_sandbox.emulator import EmulatorContext, ProviderEmulator, Route
from tap_exports_sandbox.faults import FaultKind
from tap_exports_sandbox.packagex.data import ORGANIZATION_ID, Resource, define_resources
from tap_exports_sandbox.packagex.exports import (
    BATCH_ROWS,
    COMPLETED,
    FAILED,
    REASONS,
    STATUSES,
    CsvRendering,
    PackageXExport,
    Selection,
    ValidationFailed,
    formula_candidate,
    new_export_id,
)
from tap_exports_sandbox.packagex.options import LISTING_FILTERS, PACKAGEX_RESOURCES

LINKS = ("_csv_url", "_csv_error_url", "_csv_sanitized_url")
LIST_ORDERS = ("created_at", "count_batches", "count_total", "updated_at")


def envelope(
    data: Any,
    *,
    status: int = 200,
    message: str = "OK",
    errors: Iterable[Any] = (),
    code: str | None = None,
    pagination: Mapping[str, Any] | None = None,
) -> ResponseReturnValue:
    """PackageX's answer: the same envelope for success and error."""
    body = {
        "message": message,
        "data": data,
        "status": status,
        "errors": list(errors),
        "code": code,
        "pagination": pagination,
        "endpoint": request.path,
    }
    return jsonify(body), status


def refuse(errors: list[dict[str, str]]) -> ResponseReturnValue:
    """HTTP 400 listing the failed fields."""
    return envelope(
        None, status=400, message="Validation failed", errors=errors, code="validation_error"
    )


def stream_name(resource: str) -> str:
    """The tap stream a resource's rows go to."""
    return f"packagex_{resource}s"


class ExportBook:
    """The organization's exports; those older than 24 hours vanish on the next lookup."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exports: dict[str, PackageXExport] = {}

    def add(self, export: PackageXExport) -> None:
        """Record a new export."""
        with self._lock:
            self._exports[export.id] = export

    def live(self, context: EmulatorContext) -> list[PackageXExport]:
        """Exports younger than 24 hours (or kept as expired), oldest first."""
        now = context.clock.now()
        with self._lock:
            self._exports = {
                key: export
                for key, export in self._exports.items()
                if export.keep_expired or not export.expired(now)
            }
            return sorted(self._exports.values(), key=lambda export: export.created_at)

    def find(self, export_id: str, context: EmulatorContext) -> PackageXExport | None:
        """A live export by id."""
        return next((export for export in self.live(context) if export.id == export_id), None)

    def clear(self) -> None:
        """Forget every export."""
        with self._lock:
            self._exports.clear()


class PackageXEmulator(ProviderEmulator):
    """One PackageX organization holding every exportable resource."""

    name = "packagex"

    def __init__(self, context: EmulatorContext) -> None:
        super().__init__(context)
        self.options = context.config.packagex
        self.resources = define_resources(context.datasets)
        self.bucket = context.storage.create_bucket("packagex-exports", provider=self.name)
        self.exports = ExportBook()

    def routes(self) -> Sequence[Route]:
        """Create, list and retrieve."""
        return (
            Route("POST", "/v1/exports", "create", self.create_export),
            Route("GET", "/v1/exports", "list", self.list_exports),
            Route("GET", "/v1/exports/<export_id>", "get", self.get_export),
        )

    def check_request(self) -> ResponseReturnValue | None:
        """The key in ``PX-API-KEY`` or ``X-API-KEY``; 401 in the envelope otherwise."""
        key = request.headers.get("PX-API-KEY") or request.headers.get("X-API-KEY") or ""
        if hmac.compare_digest(key.encode(), self.options.api_key.encode()):
            return None
        return envelope(
            None,
            status=401,
            message="Unauthorized",
            errors=["a valid API key is required in the PX-API-KEY header"],
            code="unauthorized",
        )

    # Routes -------------------------------------------------------------------------

    def create_export(self) -> ResponseReturnValue:
        """Accept an export request; the files are written in the background."""
        body = request.get_json(silent=True)
        if not isinstance(body, Mapping):
            return refuse([{"field": "body", "message": "expected a JSON object"}])
        resource = self.resources.get(str(body.get("resource")))
        if resource is None:
            message = f"must be one of {', '.join(PACKAGEX_RESOURCES)}"
            return refuse([{"field": "resource", "message": message}])
        options = body.get("options") or {}
        csv_field_options = body.get("csv_field_options") or {}
        if not isinstance(options, Mapping) or not isinstance(csv_field_options, Mapping):
            return refuse([{"field": "options", "message": "expected objects"}])
        errors: list[dict[str, str]] = []
        try:
            selection = Selection.parse(resource, resource.timeline.snapshot(), options)
        except ValidationFailed as exc:
            errors += exc.errors
        try:
            rendering = CsvRendering.parse(resource, csv_field_options)
        except ValidationFailed as exc:
            errors += exc.errors
        if errors:
            return refuse(errors)
        word = self.injected(FaultKind.STATUS_WORD)
        malformed = self.injected(FaultKind.MALFORMED_ROWS)
        export = PackageXExport(
            id=new_export_id(),
            resource=resource,
            name=str(body.get("name") or f"{resource.model.name} export"),
            selection=selection,
            rendering=rendering,
            options=dict(options),
            csv_field_options=dict(csv_field_options),
            created_at=self.context.clock.now(),
            final_word=FAILED
            if self.injected(FaultKind.FAIL_EXPORT)
            else (word.word if word else COMPLETED),
            malformed_rows=malformed.rows if malformed else 0,
            sanitize_mark=self.options.sanitize_mark,
            keep_expired=self.options.keep_expired,
        )
        self.exports.add(export)
        self.context.stats.export_created(self.name, resource.model.name)
        if export.final_word == COMPLETED:
            self.context.jobs.submit(
                lambda cancelled: export.write_files(
                    self.context.storage,
                    self.bucket,
                    cancelled,
                    clock=self.context.clock,
                    json_file=self.options.json_files,
                    error_every=self.options.error_every,
                )
            )
        described = self._describe(export)
        if self.options.bare_create_response:
            return jsonify(described)
        return envelope(described, message="Export created")

    def get_export(self, export_id: str) -> ResponseReturnValue:
        """One export; its files' links once completed and asked for."""
        export = self.exports.find(export_id, self.context)
        if export is None:
            return envelope(None, status=404, message="Export not found", code="not_found")
        return envelope(
            self._describe(
                export,
                include_csv=_flag("include_csv"),
                include_json=_flag("include_json"),
                word=self._reported_word(),
            )
        )

    def list_exports(self) -> ResponseReturnValue:
        """Live exports, oldest first unless asked otherwise, one page at a time."""
        args = request.args
        errors: list[dict[str, str]] = []
        page = _positive(args.get("page", "1"), "page", errors)
        limit = _positive(args.get("limit", "10"), "limit", errors)
        most = self.options.max_page_size
        if most is not None and limit > most:
            if self.options.clamp_page_size:
                limit = most
            else:
                errors.append({"field": "limit", "message": f"at most {most}"})
        order_by = args.get("order_by", "created_at")
        if order_by not in LIST_ORDERS:
            errors.append({"field": "order_by", "message": f"one of {', '.join(LIST_ORDERS)}"})
        direction = args.get("direction", "asc")
        if direction not in {"asc", "desc"}:
            errors.append({"field": "direction", "message": "asc or desc"})
        resource = args.get("resource")
        filters = self.resources if self.options.list_filters_every_resource else LISTING_FILTERS
        if resource is not None and resource not in filters:
            message = f"resource must be one of {', '.join(filters)}"
            errors.append({"field": "resource", "message": message})
        statuses = [word for word in args.get("statuses", "").split(",") if word]
        unknown = [word for word in statuses if word not in STATUSES]
        if unknown:
            errors.append({"field": "statuses", "message": f"unknown {', '.join(unknown)}"})
        if errors:
            return refuse(errors)
        search = args.get("search", "").lower()
        word = self._reported_word()
        described = [
            (export.created_at, self._describe(export, word=word))
            for export in self.exports.live(self.context)
            if resource in {None, export.resource.model.name} and search in export.name.lower()
        ]
        described.sort(key=lambda pair: (pair[1][order_by], pair[0]), reverse=direction == "desc")
        chosen = [item for _, item in described if not statuses or item["status"] in statuses]
        start = (page - 1) * limit
        pagination = {
            "page": page,
            "limit": limit,
            "has_more": start + limit < len(chosen),
            "total_count": len(chosen),
        }
        return envelope(chosen[start : start + limit], pagination=pagination)

    def _describe(
        self,
        export: PackageXExport,
        *,
        include_csv: bool = False,
        include_json: bool = False,
        word: str | None = None,
    ) -> dict[str, Any]:
        """The export object; ``word`` replaces its status in this one answer."""
        delays = self.context.config.delays
        now = self.context.clock.now()
        status = word or export.status(now, delays)
        done = status == COMPLETED
        described: dict[str, Any] = {
            "id": export.id,
            "object": "export",
            "organization_id": ORGANIZATION_ID,
            "name": export.name,
            "resource": export.resource.model.name,
            "status": status,
            "reason": REASONS.get(status),
            "count_batches": -(-export.count_total // BATCH_ROWS) if done else 0,
            "count_total": export.count_total if done else 0,
            "options": dict(export.options),
            "csv_field_options": dict(export.csv_field_options),
            "created_at": int(export.created_at.timestamp()),
            "updated_at": export.updated_at(now, delays),
            "updated_by": "api",
        }
        if done and include_json:
            described["_json_url"] = self._link(export.files.get("_json_url"))
        if done and include_csv:
            described.update({link: self._link(export.files.get(link)) for link in LINKS})
        return described

    def _reported_word(self) -> str | None:
        fault = self.injected(FaultKind.STATUS_WORD)
        return fault.word if fault else None

    def _link(self, key: str | None) -> str | None:
        if key is None:
            return None
        storage = self.context.storage
        link = storage.presign(self.bucket, key, self.options.link_ttl_seconds)
        if self.injected(FaultKind.EXPIRE_LINK):
            storage.expire(link)
        return link

    # Sandbox wiring -------------------------------------------------------------------

    def tap_settings(self) -> dict[str, Any]:
        """``packagex`` settings exporting the configured resources."""
        return {
            "api_key": self.options.api_key,
            "base_url": self.url,
            "resources": list(self.options.resources),
        }

    def _configured(self) -> list[Resource]:
        return [self.resources[name] for name in self.options.resources]

    def _issues_of_full_export(self, resource: Resource) -> int:
        size = resource.dataset.size
        every = self.options.error_every
        failing = len(range(every // 2, size, every)) if every else 0
        unsafe_rows = sum(
            1
            for index in range(size)
            if formula_candidate(index) and not resource.fails(index, every)
        )
        return failing + unsafe_rows

    def stream_counts(self) -> dict[str, int]:
        """Rows a full sync emits: every row but the failing ones (unsafe rows are restored),
        the live exports plus one new export per resource, and their issue rows."""
        every = self.options.error_every
        configured = self._configured()
        names = {resource.model.name for resource in configured}
        live = [
            export
            for export in self.exports.live(self.context)
            if export.resource.model.name in names
        ]
        counts = {
            stream_name(resource.model.name): resource.dataset.size
            - (len(range(every // 2, resource.dataset.size, every)) if every else 0)
            for resource in configured
        }
        counts["packagex_exports"] = len(live) + len(configured)
        counts["packagex_export_issues"] = sum(
            export.count_errors + export.count_sanitized for export in live
        ) + sum(self._issues_of_full_export(resource) for resource in configured)
        return counts

    def export_counts(self) -> dict[str, int]:
        """Rows in the data file of a full export of each resource, made now."""
        return {
            name: resource.dataset.size - self._issues_of_full_export(resource)
            for name, resource in self.resources.items()
        }

    def touch(self, resource: str, indexes: range | list[int]) -> int:
        """Change rows of ``resource`` (tests: "a customer edited these shipments")."""
        return self.resources[resource].timeline.touch(indexes)

    def reset(self) -> None:
        """Forget every export and every change to rows."""
        self.exports.clear()
        for resource in self.resources.values():
            resource.timeline.reset()


def _flag(name: str) -> bool:
    """A ``true``/``false`` query parameter, false when absent."""
    return request.args.get(name, "false").lower() == "true"


def _positive(text: str, name: str, errors: list[dict[str, str]]) -> int:
    """A positive integer query parameter, or an entry in ``errors``."""
    if text.isdigit() and int(text) >= 1:
        return int(text)
    errors.append({"field": name, "message": "a positive integer"})
    return 1
