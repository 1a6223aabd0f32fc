"""The measured paths: the limit, a stock singer-sdk stream, and tap-exports end to end."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Collection
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchmarks.measure import Run, completion_times, records_counted, run
from benchmarks.workloads import Workload, catalog, tap_config
from tap_exports_sandbox import Sandbox

TAP = Path(sys.executable).with_name("tap-exports")
#: Poll fast in throughput runs: the wait is reported apart and taken out of rows/s anyway.
_FAST_POLLING = {"poll_interval_seconds": 0.2, "poll_max_interval_seconds": 1.0}


@dataclass(frozen=True)
class Measured:
    """One line of the throughput table; without ``run``, ``note`` says why it is missing."""

    path: str
    rows: int = 0
    run: Run | None = None
    wait: float = 0.0
    note: str = ""
    to_file: bool = False
    """stdout went to a file on disk, not to ``/dev/null``."""

    @property
    def rate(self) -> float:
        """Rows per second once the export was ready (wall time minus the preparation wait)."""
        return self.rows / max(self.run.wall - self.wait, 1e-9) if self.run else 0.0

    @property
    def wall_rate(self) -> float:
        """Rows per second over the whole run, preparation wait included."""
        return self.rows / self.run.wall if self.run else 0.0


def warm_up(*, timeout: float) -> None:
    """Start each measured program once, unmeasured, so that no measured run compiles bytecode."""
    for args in (
        [str(TAP), "--about"],
        [sys.executable, "-m", "benchmarks.stock", "--about"],
        [sys.executable, "-m", "benchmarks.limit", "--help"],
    ):
        run(args, timeout=timeout)


def checked(
    path: str, run: Run, stream: str, expected: int, *, wait: float = 0.0, to_file: bool = False
) -> Measured:
    """``run`` as a table line over the export's ``expected`` rows.

    The count the process itself reported (its ``record_count`` metrics) is kept in the
    note when it differs, so a path that loses rows, or miscounts them, shows it.
    """
    counted = records_counted(run.log, stream)
    note = "" if counted == expected else f"its record_count metrics say {counted:,} rows"
    return Measured(path, expected, run, wait, note, to_file)


TO_FILE = ", to a file"
LIMIT = "limit: bare loop, msgspec RECORD lines"


def output(work: Path, *, to_file: bool) -> Path | None:
    """Where a path's stdout goes: a file in ``work`` (removed after the run), or ``/dev/null``."""
    return work / "stdout.jsonl" if to_file else None


def limit(
    workload: Workload,
    file: Path,
    expected: int,
    work: Path,
    *,
    timeout: float,
    to_file: bool = False,
) -> Measured:
    """The bare loop over the downloaded file."""
    args = [sys.executable, "-m", "benchmarks.limit", workload.file_format, str(file)]
    stdout = output(work, to_file=to_file)
    try:
        result = run([*args, workload.stream], timeout=timeout, stdout=stdout)
    finally:
        if stdout is not None:
            stdout.unlink(missing_ok=True)
    label = LIMIT + (TO_FILE if to_file else "")
    return checked(label, result, workload.stream, expected, to_file=to_file)


def stock(
    workload: Workload,
    file: Path,
    expected: int,
    work: Path,
    *,
    schema: dict[str, Any],
    timeout: float,
) -> Measured:
    """A stock singer-sdk stream with the tap's ``schema`` over the downloaded file."""
    config = {
        "file": str(file),
        "format": workload.file_format,
        "stream": workload.stream,
        "schema": schema,
    }
    config_path = write_json(work / "stock-config.json", config)
    result = run(
        [sys.executable, "-m", "benchmarks.stock", "--config", str(config_path)], timeout=timeout
    )
    return checked("stock singer-sdk Stream", result, workload.stream, expected)


def tap(
    sandbox: Sandbox,
    workload: Workload,
    work: Path,
    *,
    timeout: float,
    batch_format: str | None = None,
    to_file: bool = False,
) -> Measured:
    """``tap-exports`` against the sandbox: create, poll, download, parse, emit.

    With ``batch_format`` (``jsonl``, ``jsonl.gz``, ``parquet``) the SDK's ``batch_config``
    is set and the records go to files.
    """
    label = (
        "tap-exports end to end" + (TO_FILE if to_file else "")
        if batch_format is None
        else f"tap-exports BATCH, {batch_format}"
    )
    if batch_format == "parquet" and find_spec("pyarrow") is None:
        return Measured(label, note="pyarrow is not installed")
    config = tap_config(
        sandbox, workload.settings(sandbox), export_timeout_seconds=timeout, **_FAST_POLLING
    )
    messages = output(work, to_file=to_file or batch_format is not None)
    if batch_format is not None:
        folder = work / "batches"
        folder.mkdir()
        file_format, _, compression = batch_format.partition(".")
        config["batch_config"] = {
            "encoding": {"format": file_format} | ({"compression": "gzip"} if compression else {}),
            "storage": {"root": folder.as_uri()},
        }
    try:
        result = run_tap(config, work, streams=[workload.stream], timeout=timeout, stdout=messages)
        if batch_format is not None and messages is not None and not batch_messages(messages):
            return Measured(label, note="the tap wrote no BATCH messages")
    finally:
        shutil.rmtree(work / "batches", ignore_errors=True)
        if messages is not None:
            messages.unlink(missing_ok=True)
    wait = sum(completion_times(result.log).values())
    expected = workload.rows(sandbox)
    return checked(label, result, workload.stream, expected, wait=wait, to_file=to_file)


def run_tap(
    config: dict[str, Any],
    work: Path,
    *,
    timeout: float,
    streams: Collection[str] | None = None,
    stdout: Path | None = None,
) -> Run:
    """Run the ``tap-exports`` command with ``config``, selecting ``streams`` (default: bulk)."""
    args = [str(TAP), "--config", str(write_json(work / "config.json", config))]
    args += ["--catalog", str(write_json(work / "catalog.json", catalog(config, streams)))]
    return run(args, timeout=timeout, stdout=stdout)


def batch_messages(path: Path) -> int:
    """How many BATCH messages a run wrote."""
    with path.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if json.loads(line).get("type") == "BATCH")


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as JSON to ``path``; returns ``path``."""
    path.write_text(json.dumps(value), encoding="utf-8")
    return path
