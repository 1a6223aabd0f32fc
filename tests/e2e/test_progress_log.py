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
    for line_number, export in created:
        export_id, stream = export["id"], export["stream"]
        position = {
            "created": line_number,
            "status": max(i for i, line in enumerate(lines) if f"export {export_id} is " in line),
            "emitted": next(
                i for i, line in enumerate(lines) if f"export {export_id}: emitted " in line
            ),
        }
        done = next(
            i
            for i, line in enumerate(lines)
            if i > position["emitted"]
            and line.startswith(f"{export['provider']} {stream}: ")
            and " done, bookmark " in line
        )
        downloaded = [
            i
            for i, line in enumerate(lines)
            if position["status"] < i < position["emitted"] and ": downloaded " in line
        ]
        assert position["created"] < position["status"] < position["emitted"] < done, export_id
        assert downloaded, f"no download progress for export {export_id}"
        timers = [
            json.loads(line.removeprefix("METRIC: "))
            for line in lines
            if '"job_duration"' in line and export_id in line
        ]
        assert timers
        assert timers[-1]["tags"]["export_status"] == "COMPLETE"
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
