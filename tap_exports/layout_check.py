"""A check run against a real account: does each provider still look as the tap expects?

The tap is tested against a sandbox that follows the providers' documents; where they
are silent, it guesses (docs/assumptions.md). ``tap-exports-check --config FILE`` signs
in to every configured provider and, for each bulk stream, asks for the smallest
export the stream can make (its last few minutes of data; a day for exports made of
whole days), waits for it, reads its first rows as the stream reads them and reports
what matched and what differs. Streams whose exports cannot be limited in time
(Mailgun's lists, full-table snapshots) are not exported: a check must not cost a
nightly load's worth of work. Nothing is written to state; secrets never appear.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

from tap_exports.engine.adapter import DownloadTarget, ExportAdapter, Row
from tap_exports.engine.job import Window
from tap_exports.engine.lifecycle import wait_until_done
from tap_exports.engine.reading import FileReader
from tap_exports.engine.records import as_dicts
from tap_exports.engine.status import ExportStatus
from tap_exports.engine.stream import BulkExportStream
from tap_exports.errors import DataError, LayoutError, TapExportsError, redact
from tap_exports.tap import TapExports

#: How far back the check's export reaches: a minute beyond the longest lag a stream keeps
#: from now (Batch's 10 minutes), so each stream's last planned window is a few minutes.
SPAN = dt.timedelta(minutes=11)
#: Rows read from the check's export: enough to see the layout.
ROWS = 5
MATCHED, DIFFERS, NOT_CHECKED, FAILED = "matched", "differs", "not checked", "failed"


@dataclass(frozen=True)
class Finding:
    """What the check found for one stream (or one partition of it)."""

    provider: str
    stream: str
    outcome: str
    detail: str

    def line(self) -> str:
        """One line of the report."""
        return f"{self.provider} {self.stream}: {self.outcome} - {self.detail}"


def secret_values(schema: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[str, ...]:
    """The values of every setting the settings schema marks secret."""
    found: list[str] = []
    for name, prop in (schema.get("properties") or {}).items():
        value = config.get(name)
        if prop.get("secret") and isinstance(value, str):
            found.append(value)
        elif isinstance(value, Mapping):
            found += secret_values(prop, value)
    return tuple(found)


def small_window(adapter: ExportAdapter, now: dt.datetime) -> Window | None:
    """The stream's last planned window when exports start ``SPAN`` ago (a day earlier for
    exports of whole days, which plan nothing shorter); None if it cannot be limited."""
    if adapter.filters_client_side:
        return None
    for span in (SPAN, SPAN + dt.timedelta(days=1)):
        windows = adapter.windows(None, now - span, now)
        if windows:
            return windows[-1] if windows[-1].start is not None else None
    return None


def first_rows(files: FileReader, target: DownloadTarget) -> list[Row]:
    """The first rows of one file, read as the stream reads it (limits, bad rows, transform),
    as dicts (a batch may be structs: :mod:`~tap_exports.engine.records`)."""
    with closing(files.batches(target)) as batches:
        return list(islice(chain.from_iterable(map(as_dicts, batches)), ROWS))


def compare(stream: BulkExportStream, rows: Sequence[Row]) -> tuple[str, str]:
    """The outcome of reading ``rows``: which of the schema's required fields they hold."""
    if not rows:
        return MATCHED, "signed in and exported; the window held no rows to compare"
    required = [str(name) for name in stream.schema.get("required", [])]
    missing = sorted({name for row in rows for name in required if row.get(name) is None})
    fields = ", ".join(rows[0])
    if missing:
        return DIFFERS, f"rows lack {', '.join(missing)}; fields found: {fields}"
    return MATCHED, f"{len(rows)} rows read; fields: {fields}"


def check_adapter(
    tap: TapExports, stream: BulkExportStream, adapter: ExportAdapter, now: dt.datetime
) -> tuple[str, str]:
    """Create the smallest export the adapter can make, wait for it and read its first rows."""
    window = small_window(adapter, now)
    if window is None:
        return NOT_CHECKED, "its exports cannot be limited in time, so none was created"
    inline = adapter.fetch_inline(window) if adapter.has_inline_path else None
    if inline is not None:
        rows = [dict(row) for row in islice(inline, ROWS)]
        return compare(stream, rows)
    job = wait_until_done(adapter, adapter.create(window), tap.runtime.timing, stream=stream.name)
    if job.status in {ExportStatus.FAILED, ExportStatus.EXPIRED}:
        return FAILED, f"export {job.export_id} of {window} ended {job.status.value}"
    if job.status is ExportStatus.EMPTY:
        return compare(stream, [])
    files = tap.runtime.files(adapter.provider, stream.name, stream.replication_key)
    rows = next((first_rows(files, target) for target in adapter.targets(job)), [])
    return compare(stream, rows)


def adapters_of(stream: BulkExportStream) -> Iterator[tuple[str, ExportAdapter]]:
    """Each source the stream reads, named for the report."""
    if isinstance(stream.adapters, ExportAdapter):
        yield stream.name, stream.adapters
        return
    for key, adapter in stream.adapters.items():
        yield f"{stream.name} ({key})", adapter


def run_check(tap: TapExports, now: dt.datetime | None = None) -> list[Finding]:
    """One finding per bulk stream and source of the configured providers."""
    moment = now or dt.datetime.now(dt.UTC)
    secrets = secret_values(tap.config_jsonschema, tap.config)
    try:
        streams = list(tap.streams.values())
    except TapExportsError as exc:
        return [Finding("tap-exports", "discovery", FAILED, redact(str(exc), secrets))]
    findings = []
    for stream in streams:
        if not isinstance(stream, BulkExportStream):
            continue
        for name, adapter in adapters_of(stream):
            try:
                outcome, detail = check_adapter(tap, stream, adapter, moment)
            except (LayoutError, DataError) as exc:
                outcome, detail = DIFFERS, str(exc)
            except TapExportsError as exc:
                outcome, detail = FAILED, str(exc)
            findings.append(Finding(adapter.provider, name, outcome, redact(detail, secrets)))
    return findings


def main(argv: Sequence[str] | None = None) -> int:
    """``tap-exports-check --config FILE``: print the report; exit 1 if anything differs."""
    parser = argparse.ArgumentParser(prog="tap-exports-check", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="the tap's config file")
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text("utf-8"))
    findings = run_check(TapExports(config=config, parse_env_config=True))
    for finding in findings:
        print(finding.line())
    return 0 if all(f.outcome in {MATCHED, NOT_CHECKED} for f in findings) else 1


if __name__ == "__main__":
    sys.exit(main())
