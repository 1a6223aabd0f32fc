"""``python -m benchmarks.windows``: what waiting costs when one stream needs several exports.

Every stream's first export is created up front, then the exports of later windows while
fewer than ``max_concurrent_exports`` are being prepared. This measures the wait with exports
that each take ``--prepare-seconds``: a Batch events backfill of one 30-day window against
one of three, and every bulk stream of the five providers at once against a single export
(one Mailgun list, one Emarsys window), with the default ``max_concurrent_exports`` and each
of ``--limits``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import paths
from benchmarks.measure import ROOT, completion_times
from benchmarks.report import machine_info, table
from benchmarks.workloads import MAILGUN_LISTS, mailgun_settings, tap_config, waiting_sandbox
from tap_exports_sandbox import Sandbox
from tap_exports_sandbox.batch.emulator import BatchEmulator
from tap_exports_sandbox.emarsys.emulator import EmarsysEmulator

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "windows.md"


@dataclass(frozen=True)
class Case:
    """One measured sync: the providers' settings, the streams, how far back it starts."""

    label: str
    settings: Callable[[Sandbox], dict[str, Any]]
    streams: tuple[str, ...] | None = None
    backfill_days: float | None = None
    max_concurrent_exports: int | None = None


def _batch(sandbox: Sandbox) -> dict[str, Any]:
    return {"batch": sandbox.emulator(BatchEmulator).tap_settings()}


def _emarsys(sandbox: Sandbox) -> dict[str, Any]:
    return {"emarsys": sandbox.emulator(EmarsysEmulator).tap_settings()}


def _every_provider(sandbox: Sandbox) -> dict[str, Any]:
    return {emulator.name: emulator.tap_settings() for emulator in sandbox.emulators}


CASES = (
    Case("Batch events, 20 days (1 window)", _batch, ("batch_events",), backfill_days=20),
    Case("Batch events, 80 days (3 windows)", _batch, ("batch_events",), backfill_days=80),
    Case(
        "one Mailgun list (1 export)", lambda sandbox: mailgun_settings(sandbox, MAILGUN_LISTS[1:2])
    ),
    # The slowest single export of the five: Emarsys reports ready a little after the rest.
    Case("one Emarsys window (1 export)", _emarsys, ("emarsys_responses",), backfill_days=1 / 24),
    Case("every bulk stream of the five providers", _every_provider),
)


def run_case(case: Case, prepare_seconds: float, work: Path, timeout: float) -> tuple[float, int]:
    """Wall seconds of one sync, and how many exports it waited for."""
    with waiting_sandbox(prepare_seconds) as sandbox:
        config = tap_config(sandbox, case.settings(sandbox), export_timeout_seconds=timeout)
        if case.max_concurrent_exports is not None:
            config["max_concurrent_exports"] = case.max_concurrent_exports
        if case.backfill_days is not None:
            start = dt.datetime.now(dt.UTC) - dt.timedelta(days=case.backfill_days)
            config["start_date"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        result = paths.run_tap(config, work, timeout=timeout, streams=case.streams)
        return result.wall, len(completion_times(result.log))


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case ``--repeat`` times in rounds; print and save the medians."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.windows")
    parser.add_argument("--prepare-seconds", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--limits",
        type=int,
        nargs="*",
        default=[],
        help="also run every bulk stream with each of these max_concurrent_exports",
    )
    args = parser.parse_args(argv)
    cases = CASES + tuple(
        Case(
            f"every bulk stream, max_concurrent_exports {limit}",
            _every_provider,
            max_concurrent_exports=limit,
        )
        for limit in args.limits
    )
    machine = machine_info()
    walls: dict[str, list[float]] = {case.label: [] for case in cases}
    exports: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="tap-exports-windows-") as tmp:
        paths.warm_up(timeout=args.timeout)
        for _ in range(args.repeat):
            for case in cases:
                wall, waited = run_case(case, args.prepare_seconds, Path(tmp), args.timeout)
                walls[case.label].append(wall)
                exports[case.label] = waited
    rows = [
        [
            name,
            str(exports[name]),
            f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})",
            f"{statistics.median(values) / args.prepare_seconds:.1f}x",
        ]
        for name, values in walls.items()
    ]
    header = ["sync", "exports waited for", "wall s, median (range)", "x one export's wait"]
    text = "\n".join(
        [
            f"## Exports of {args.prepare_seconds:g} s, {args.repeat} runs each",
            "",
            f"Machine: {machine}.",
            "",
            *table(header, rows),
        ]
    )
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
