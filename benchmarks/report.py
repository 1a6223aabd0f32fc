"""The results as markdown: one document to print, keep, and paste into the README."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

from benchmarks.measure import ROOT
from benchmarks.paths import LIMIT, Measured
from tap_exports.tap import TapExports

MIB = 1 << 20
#: Peak RSS of the tap at five times the rows may exceed the smaller run's by this much.
FLAT_TOLERANCE = 0.10
MEMORY_CEILING = 200 * MIB


@dataclass(frozen=True)
class Waited:
    """One run of the tap that mostly waits for exports."""

    selected: int
    """Bulk exports the run selected."""
    prepare_seconds: float
    exports: int
    status_requests: int
    wall: float
    detected: tuple[float, ...]
    """Seconds from creating each export to the tap logging it COMPLETE."""


@dataclass
class Report:
    """Everything one run of the harness measured."""

    machine: str
    throughput: dict[str, list[Measured]] = field(default_factory=dict)
    memory: tuple[Measured, Measured] | None = None
    parallel: list[Waited] = field(default_factory=list)
    polling: list[Waited] = field(default_factory=list)


def machine_info() -> str:
    """Cores, CPU, memory, load, and the versions that decide the numbers."""
    model = "unknown CPU"
    memory = 0
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        names = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        model = names[0].split(":", 1)[1].strip() if names else model
    if meminfo.exists():
        memory = int(meminfo.read_text().split()[1]) * 1024
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    parquet = f", pyarrow {version('pyarrow')}" if find_spec("pyarrow") else ""
    return (
        f"{os.cpu_count()} cores ({model}), {memory / (1 << 30):.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, load average {load:.1f} at start; "
        f"Python {platform.python_version()}, singer-sdk {version('singer-sdk')}, "
        f"msgspec {version('msgspec')}{parquet}, tap-exports {version('tap-exports')}"
        + (f" ({commit})" if commit else "")
    )


THROUGHPUT_INTRO = (
    "The same file for every path, each path in a fresh process, stdout to /dev/null "
    "(or, where the path says so, to a file on local disk, removed after the run; its x limit "
    "compares with the limit writing to a file). BATCH paths write their messages to a file. "
    "rows/s leaves out the wait for the sandbox to prepare the export; x limit compares "
    "those rows/s."
)
THROUGHPUT_HEADER = (
    "file",
    "path",
    "rows",
    "wall s",
    "export wait s",
    "rows/s",
    "rows/s incl. wait",
    "x limit",
    "CPU s",
    "peak RSS MB",
    "note",
)


def table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    """A markdown table."""
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _number(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _throughput_rows(title: str, lines: list[Measured]) -> Iterable[list[str]]:
    """Each line's x limit is against the limit with the same output (``/dev/null`` or a file)."""
    limits = {line.to_file: line.rate for line in lines if line.path.startswith(LIMIT)}
    for line in lines:
        limit = limits.get(line.to_file) or limits[False]
        if line.run is None:
            yield [title, line.path, "n/a", *["-"] * 7, f"n/a: {line.note}"]
            continue
        waited = line.wait > 0
        yield [
            title,
            line.path,
            _number(line.rows),
            _number(line.run.wall, 1),
            _number(line.wait, 1) if waited else "-",
            _number(line.rate),
            _number(line.wall_rate) if waited else "-",
            f"{line.rate / limit:.2f}x",
            _number(line.run.cpu, 1),
            _number(line.run.peak_rss / MIB),
            line.note,
        ]


def _memory_lines(small: Measured, large: Measured) -> list[str]:
    assert small.run is not None
    assert large.run is not None
    growth = large.run.peak_rss / small.run.peak_rss
    flat = growth <= 1 + FLAT_TOLERANCE and large.run.peak_rss < MEMORY_CEILING
    return table(
        [f"{_number(small.rows)} rows", f"{_number(large.rows)} rows", "ratio", "verdict"],
        [
            [
                f"{_number(small.run.peak_rss / MIB)} MB",
                f"{_number(large.run.peak_rss / MIB)} MB",
                f"{growth:.2f}x",
                "flat" if flat else f"NOT flat (limit: +{FLAT_TOLERANCE:.0%}, under 200 MB)",
            ]
        ],
    )


def _section(title: str, intro: str, lines: list[str]) -> list[str]:
    return ["", f"### {title}", "", intro, "", *lines]


def _parallel_lines(runs: list[Waited]) -> list[str]:
    one = runs[0].wall
    return table(
        [
            "bulk exports selected",
            "exports created",
            "status requests",
            "last export seen COMPLETE after",
            "wall s",
            "vs one",
        ],
        [
            [
                str(run.selected),
                str(run.exports),
                str(run.status_requests),
                f"{max(run.detected, default=0):.1f} s",
                _number(run.wall, 1),
                f"{run.wall / one:.2f}x",
            ]
            for run in runs
        ],
    )


def _polling_lines(runs: list[Waited]) -> list[str]:
    return table(
        ["export ready after", "status requests", "tap saw COMPLETE after", "detection lag"],
        [
            [
                f"{run.prepare_seconds:g} s",
                _number(run.status_requests / max(run.exports, 1), 1),
                ", ".join(f"{seconds:.1f} s" for seconds in run.detected),
                ", ".join(f"{seconds - run.prepare_seconds:.1f} s" for seconds in run.detected),
            ]
            for run in runs
        ],
    )


def render(report: Report) -> str:
    """The whole report as markdown."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## tap-exports benchmarks, {stamp}", "", f"Machine: {report.machine}."]
    if report.throughput:
        rows = (
            row
            for title, measured in report.throughput.items()
            for row in _throughput_rows(title, measured)
        )
        lines += _section("Throughput", THROUGHPUT_INTRO, table(THROUGHPUT_HEADER, rows))
    if report.memory:
        intro = "Peak RSS of the tap process, end to end on the CSV export."
        lines += _section("Memory", intro, _memory_lines(*report.memory))
    if report.parallel:
        intro = (
            f"Each export takes {report.parallel[0].prepare_seconds:g} s to prepare; "
            "the tap's defaults for polling and max_concurrent_exports "
            f"({_default('max_concurrent_exports')}). The run ends soon after the last export "
            "is seen COMPLETE, and each export's polls follow their own jittered schedule."
        )
        lines += _section("Exports prepared in parallel", intro, _parallel_lines(report.parallel))
    if report.polling:
        intro = (
            "One export per run; the tap's defaults (poll_interval_seconds="
            f"{_default('poll_interval_seconds')}, poll_max_interval_seconds="
            f"{_default('poll_max_interval_seconds')}); status requests counted by the sandbox."
        )
        lines += _section("Polling cost", intro, _polling_lines(report.polling))
    return "\n".join(lines) + "\n"


def _default(setting: str) -> object:
    return TapExports.config_jsonschema["properties"][setting].get("default")
