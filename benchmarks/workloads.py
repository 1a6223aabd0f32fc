"""What the benchmarks read: sandbox exports, their files, and tap configs that select them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any, ClassVar

from typing_extensions import override

from tap_exports.engine.stream import BulkExportStream
from tap_exports.tap import TapExports
from tap_exports_sandbox import CsvFormat, Sandbox, SandboxConfig, StatusDelays
from tap_exports_sandbox.batch.data import EVENTS_DATASET
from tap_exports_sandbox.batch.emulator import BatchEmulator
from tap_exports_sandbox.batch.options import BatchOptions
from tap_exports_sandbox.mailgun.emulator import MailgunEmulator
from tap_exports_sandbox.mailgun.options import MailgunOptions

#: Rows are spread over this much of the sandbox's 30 days of history, so none is in the future.
HISTORY_SECONDS = 20 * 86_400
#: Exports of tiny lists that no throughput path reads.
BACKGROUND_ROWS = 10
#: Batch's own limit for one part of an export file.
BATCH_PART_BYTES = 100 * 1000 * 1000
#: Every Mailgun list the sandbox account can export, one export each.
MAILGUN_LISTS = (
    "/v3/domains",
    "/v3/mg.example.com/bounces",
    "/v3/mg.example.com/unsubscribes",
    "/v3/mg.example.com/complaints",
    "/v3/eu.example.org/bounces",
    "/v3/eu.example.org/unsubscribes",
)
MAILGUN_STATUS_ROUTE = "GET /mailgun/v3/exports/<export_id>"
_POLL_SETTINGS = ("poll_interval_seconds", "poll_max_interval_seconds")


class Workload(ABC):
    """One export file format, the sandbox data behind it, and the tap stream that reads it."""

    title: ClassVar[str]
    file_format: ClassVar[str]
    stream: ClassVar[str]
    dataset: ClassVar[str]
    #: How the sandbox's Mailgun account writes its CSV files.
    mailgun_csv: ClassVar[CsvFormat] = CsvFormat()

    @abstractmethod
    def settings(self, sandbox: Sandbox) -> dict[str, Any]:
        """Provider settings exporting only this data."""

    @abstractmethod
    def save_file(self, sandbox: Sandbox, path: Path) -> None:
        """Write the export file the tap downloaded (after a tap run) to ``path``."""

    def rows(self, sandbox: Sandbox) -> int:
        """Rows a sync of this stream emits now: the sandbox's ground truth."""
        return sandbox.datasets[self.dataset].size


class MailgunBounces(Workload):
    """Mailgun's bounces of one domain: a CSV file behind a pre-signed S3 link.

    Every 17th row holds an awkward value, quoted: commas, quotes, line ends (LF and
    CRLF) inside the value, non-ASCII text.
    """

    title = "Mailgun bounces, CSV"
    file_format = "csv"
    stream = "mailgun_bounces"
    dataset = "mailgun/mg.example.com/bounces"

    @override
    def settings(self, sandbox: Sandbox) -> dict[str, Any]:
        """The sandbox account, exporting this one list."""
        return mailgun_settings(sandbox, ["/v3/mg.example.com/bounces"])

    @override
    def save_file(self, sandbox: Sandbox, path: Path) -> None:
        """Copy the export object from the sandbox's storage."""
        save_objects(sandbox, sandbox.emulator(MailgunEmulator).bucket, path)


class MailgunBouncesBom(MailgunBounces):
    """The same export as a spreadsheet tool writes it: a UTF-8 byte-order mark first."""

    title = "Mailgun bounces, CSV with BOM"
    mailgun_csv = CsvFormat(bom=True)


class BatchEvents(Workload):
    """Batch's message events: NDJSON in parts, each behind a short-lived link."""

    title = "Batch events, NDJSON"
    file_format = "ndjson"
    stream = "batch_events"
    dataset = EVENTS_DATASET

    @override
    def settings(self, sandbox: Sandbox) -> dict[str, Any]:
        """The sandbox project; the catalog selects its events stream only."""
        return {"batch": sandbox.emulator(BatchEmulator).tap_settings()}

    @override
    def save_file(self, sandbox: Sandbox, path: Path) -> None:
        """Every part of the export, from the project's bucket."""
        save_objects(sandbox, sandbox.emulator(BatchEmulator).bucket, path)

    @override
    def rows(self, sandbox: Sandbox) -> int:
        """Events inside Batch's lookback and older than the tap's lag: what a sync reads."""
        return int(sandbox.truth()["streams"][self.stream])


WORKLOADS: tuple[Workload, ...] = (MailgunBounces(), MailgunBouncesBom(), BatchEvents())
CSV_WORKLOAD = WORKLOADS[0]


def throughput_sandbox(workload: Workload, rows: int, largest: int) -> Sandbox:
    """A sandbox whose ``workload`` holds ``rows`` rows, room for ``largest``, exports ready at
    once."""
    return Sandbox(
        SandboxConfig(
            default_rows=BACKGROUND_ROWS,
            rows={workload.dataset: rows},
            delays=StatusDelays(running_after=0.05, complete_after=0.1),
            row_step_seconds=min(1.0, HISTORY_SECONDS / max(largest, 1)),
            batch=BatchOptions(part_max_bytes=BATCH_PART_BYTES),
            mailgun=MailgunOptions(csv=workload.mailgun_csv),
        )
    )


def waiting_sandbox(prepare_seconds: float) -> Sandbox:
    """A sandbox whose exports take ``prepare_seconds`` to prepare, with little data."""
    return Sandbox(
        SandboxConfig(
            default_rows=BACKGROUND_ROWS,
            delays=StatusDelays(running_after=prepare_seconds / 4, complete_after=prepare_seconds),
        )
    )


def mailgun_settings(sandbox: Sandbox, lists: Iterable[str]) -> dict[str, Any]:
    """The sandbox's Mailgun account, exporting ``lists``."""
    settings = sandbox.emulator(MailgunEmulator).tap_settings()
    return {"mailgun": {**settings, "lists": list(lists)}}


def tap_config(sandbox: Sandbox, settings: dict[str, Any], **common: Any) -> dict[str, Any]:
    """Only ``settings``' providers, the tap's default poll pace, then ``common`` on top."""
    providers = {emulator.name for emulator in sandbox.emulators}
    config = {
        key: value
        for key, value in sandbox.tap_config().items()
        if key not in providers and key not in _POLL_SETTINGS
    }
    return {**config, **settings, **common}


def stream_schema(sandbox: Sandbox, workload: Workload) -> dict[str, Any]:
    """The schema the tap declares for the workload's stream."""
    tap = TapExports(config=tap_config(sandbox, workload.settings(sandbox)))
    return dict(tap.streams[workload.stream].schema)


def catalog(config: dict[str, Any], streams: Collection[str] | None = None) -> dict[str, Any]:
    """The tap's catalog with only ``streams`` selected (default: every bulk export stream)."""
    tap = TapExports(config=config)
    wanted = {
        name
        for name, stream in tap.streams.items()
        if (name in streams if streams is not None else isinstance(stream, BulkExportStream))
    }
    discovered = tap.catalog_dict
    for entry in discovered["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return discovered


def save_objects(sandbox: Sandbox, bucket: str, path: Path) -> None:
    """Every object of ``bucket``, in key order, concatenated into ``path``."""
    client = sandbox.storage.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
    if not keys:
        msg = f"no export file in bucket {bucket}: the tap read no export"
        raise RuntimeError(msg)
    write_chunks(
        path,
        (
            chunk
            for key in keys
            for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1 << 20)
        ),
    )


def write_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    """Stream ``chunks`` to ``path``."""
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
