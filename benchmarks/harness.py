"""``python -m benchmarks``: every measurement in one run, printed and saved as markdown."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import paths
from benchmarks.measure import ROOT, completion_times
from benchmarks.paths import Measured
from benchmarks.report import Report, Waited, machine_info, render
from benchmarks.workloads import (
    CSV_WORKLOAD,
    MAILGUN_LISTS,
    MAILGUN_STATUS_ROUTE,
    WORKLOADS,
    Workload,
    mailgun_settings,
    stream_schema,
    tap_config,
    throughput_sandbox,
    waiting_sandbox,
)
from tap_exports_sandbox import Sandbox

SECTIONS = ("throughput", "parallel", "polling")
#: The memory run reads this many times the rows of the throughput runs.
MEMORY_FACTOR = 5
#: BATCH outputs measured: the SDK's encodings, ``.gz`` for gzip compression.
BATCH_FORMATS = ("jsonl.gz", "jsonl", "parquet")
#: Where ``workload_paths`` puts the tap end to end (to ``/dev/null``): the memory run's match.
TAP_LINE = 3
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "latest.md"


@dataclass(frozen=True)
class Options:
    """What to measure and at which size."""

    rows: int
    prepare_seconds: float
    short_export_seconds: float
    long_export_seconds: float
    sections: tuple[str, ...]
    output: Path
    timeout: float
    repeat: int
    """Rounds of the throughput section (every path once per round); runs of each memory size."""


def parse_options(argv: Sequence[str] | None) -> Options:
    """Command-line options; ``--quick`` changes the defaults of the sizes not given."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure tap-exports against the sandbox: throughput, memory, waiting.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a sanity run")
    parser.add_argument("--rows", type=int, help="rows per export file (1,000,000; quick 20,000)")
    parser.add_argument(
        "--prepare-seconds",
        type=float,
        help="how long each export takes in the parallel runs (20; quick 3)",
    )
    parser.add_argument(
        "--short-export-seconds",
        type=float,
        help="the short export of the polling runs (2; quick 1)",
    )
    parser.add_argument(
        "--long-export-seconds",
        type=float,
        help="the long export of the polling runs (60; quick 8)",
    )
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds any one measured process may take"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="rounds of the throughput section, every path once per round, and as many memory "
        "runs; the report shows medians and ranges (1; parallel and polling run once)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    quick = args.quick
    return Options(
        rows=args.rows or (20_000 if quick else 1_000_000),
        prepare_seconds=args.prepare_seconds or (3.0 if quick else 20.0),
        short_export_seconds=args.short_export_seconds or (1.0 if quick else 2.0),
        long_export_seconds=args.long_export_seconds or (8.0 if quick else 60.0),
        sections=tuple(args.only or SECTIONS),
        output=args.output,
        timeout=args.timeout,
        repeat=args.repeat,
    )


def throughput(options: Options, work: Path, report: Report) -> None:
    """Every path over the same data, per workload; then the tap at five times the CSV rows."""
    for workload in WORKLOADS:
        largest = options.rows * (MEMORY_FACTOR if workload is CSV_WORKLOAD else 1)
        with throughput_sandbox(workload, options.rows, largest) as sandbox:
            rounds = workload_rounds(sandbox, workload, work, options)
            report.throughput[workload.title] = rounds
            if workload is CSV_WORKLOAD:
                sandbox.resize_dataset(workload.dataset, largest)
                large = []
                for _ in range(options.repeat):
                    large.append(paths.tap(sandbox, workload, work, timeout=options.timeout))
                    sandbox.reset()
                report.memory = ([lines[TAP_LINE] for lines in rounds], large)


def workload_rounds(
    sandbox: Sandbox, workload: Workload, work: Path, options: Options
) -> list[list[Measured]]:
    """Every path once per round, ``options.repeat`` rounds, so the machine's load moves
    every path alike; the export file the first round saves serves every round."""
    file = work / f"export.{workload.file_format}"
    rounds = [workload_paths(sandbox, workload, file, work, options) for _ in range(options.repeat)]
    file.unlink()
    return rounds


def workload_paths(
    sandbox: Sandbox, workload: Workload, file: Path, work: Path, options: Options
) -> list[Measured]:
    """The limit, stock and tap paths (to ``/dev/null``, then to a file) over one export.

    The limit and stock paths read ``file``: the export the tap downloaded, saved on the
    first call.
    """
    timeout = options.timeout
    tap = paths.tap(sandbox, workload, work, timeout=timeout)
    sandbox.reset()
    tap_to_file = paths.tap(sandbox, workload, work, timeout=timeout, to_file=True)
    if not file.exists():
        workload.save_file(sandbox, file)
    sandbox.reset()
    expected = workload.rows(sandbox)
    schema = stream_schema(sandbox, workload)
    lines = [
        paths.limit(workload, file, expected, work, timeout=timeout),
        paths.limit(workload, file, expected, work, timeout=timeout, to_file=True),
        paths.stock(workload, file, expected, work, schema=schema, timeout=timeout),
        tap,
        tap_to_file,
    ]
    for batch_format in BATCH_FORMATS:
        lines.append(paths.tap(sandbox, workload, work, timeout=timeout, batch_format=batch_format))
        sandbox.reset()
    return lines


def wait_for(prepare_seconds: float, lists: Sequence[str], work: Path, timeout: float) -> Waited:
    """Sync the bulk streams of Mailgun ``lists`` whose exports take ``prepare_seconds``."""
    with waiting_sandbox(prepare_seconds) as sandbox:
        config = tap_config(sandbox, mailgun_settings(sandbox, lists))
        result = paths.run_tap(config, work, timeout=timeout)
        return Waited(
            selected=len(lists),
            prepare_seconds=prepare_seconds,
            exports=sandbox.stats.exports_created("mailgun"),
            status_requests=sandbox.stats.requests(MAILGUN_STATUS_ROUTE),
            wall=result.wall,
            detected=tuple(sorted(completion_times(result.log).values())),
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected sections, print the report and write it to ``--output``."""
    options = parse_options(argv)
    report = Report(machine=machine_info())
    with tempfile.TemporaryDirectory(prefix="tap-exports-bench-") as tmp:
        work = Path(tmp)
        paths.warm_up(timeout=options.timeout)
        if "throughput" in options.sections:
            throughput(options, work, report)
        if "parallel" in options.sections:
            report.parallel = [
                wait_for(options.prepare_seconds, lists, work, options.timeout)
                for lists in (MAILGUN_LISTS[:1], MAILGUN_LISTS[1:])
            ]
        if "polling" in options.sections:
            report.polling = [
                wait_for(seconds, MAILGUN_LISTS[:1], work, options.timeout)
                for seconds in (options.short_export_seconds, options.long_export_seconds)
            ]
    text = render(report)
    print(text, end="")
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text, encoding="utf-8")
    return 0
