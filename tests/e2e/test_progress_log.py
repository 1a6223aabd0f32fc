"""A run's log reads like a progress report, export by export, and never line by row."""

from __future__ import annotations

import json
import logging
import re

from tap_exports.io.progress import EMISSION, ProgressLogger
from tests.support import sync

CREATED = re.compile(r"^(?P<provider>\w+) (?P<stream>\w+): created export (?P<id>\S+) for ")


def test_rows_progress_reads_like_download_progress(caplog):
    now = [0.0]
    progress = ProgressLogger("Acme things: export x1", measure=EMISSION, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="tap_exports.io"):
        for step in range(1, 13):
            now[0] = float(step)
            progress.update(step * 2_500)
        progress.finish(30_000)
    assert [record.getMessage() for record in caplog.records] == [
        "Acme things: export x1: emitting 12,500 rows at 2,500 rows/s",
        "Acme things: export x1: emitting 25,000 rows at 2,500 rows/s",
        "Acme things: export x1: emitted 30,000 rows at 2,500 rows/s",
    ]


def test_a_run_logs_each_export_from_creation_to_done(sandbox, caplog, monkeypatch):
    monkeypatch.setattr("tap_exports.engine.emit.FLUSH_BYTES", 4096)  # flushes mid-export too
    with caplog.at_level(logging.INFO):
        result = sync(sandbox.tap_config())
    lines = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    created = [(i, match) for i, line in enumerate(lines) if (match := CREATED.match(line))]
    assert created
    for created_at, export in created:
        export_id, stream = export["id"], export["stream"]

        def first(text: str, after: int) -> int:
            return next(i for i, line in enumerate(lines) if i > after and text in line)

        status = max(i for i, line in enumerate(lines) if f"export {export_id} is " in line)
        final = lines[status].split(f"export {export_id} is ")[1].split()[0]
        assert created_at < status
        if final == "EMPTY":
            read = first(f"export {export_id} has no data", status)
        else:
            assert final == "COMPLETE", lines[status]
            read = first(f"export {export_id}: emitted ", status)
            assert any(": downloaded " in line for line in lines[status:read]), export_id
        assert any(
            line.startswith(f"{export['provider']} {stream}: ") and " done, bookmark " in line
            for line in lines[read:]
        ), export_id
        timers = [
            json.loads(line.removeprefix("METRIC: "))
            for line in lines
            if '"job_duration"' in line and export_id in line
        ]
        assert timers[-1]["tags"]["export_status"] == final
    counted: dict[str, int] = {}
    for line in lines:
        if line.startswith("METRIC: ") and '"record_count"' in line:
            point = json.loads(line.removeprefix("METRIC: "))
            stream = point["tags"]["stream"]
            counted[stream] = counted.get(stream, 0) + point["value"]
    assert counted == result.counts()
    rows = sum(result.counts().values())
    assert rows >= 1000
    assert len(lines) < rows / 20, "INFO lines must not grow with the number of rows"
