"""The results as markdown: one document to print, keep, and paste into the README."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Iterable, Sequence
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
    throughput: dict[str, list[list[Measured]]] = field(default_factory=dict)
    """Per workload, its rounds: every path once per round, in the same order."""
    memory: tuple[list[Measured], list[Measured]] | None = None
    """The tap's runs at the throughput rows, then at five times as many."""
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
REPEATED_INTRO = (
    " Median of {rounds} rounds, every path once per round; range in brackets. x limit is "
    "the median of each round's ratio to the limit of the same round."
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


def spread(values: Sequence[float], show: Callable[[float], str]) -> str:
    """The median; with more than one value, the range in brackets after it."""
    median = show(statistics.median(values))
    return median if len(values) == 1 else f"{median} ({show(min(values))}-{show(max(values))})"


def _limit_ratios(lines: list[Measured]) -> list[float]:
    """One round's rows/s against the limit with the same output (``/dev/null`` or a file)."""
    limits = {line.to_file: line.rate for line in lines if line.path.startswith(LIMIT)}
    return [line.rate / (limits.get(line.to_file) or limits[False]) for line in lines]


def throughput_rows(title: str, rounds: list[list[Measured]]) -> Iterable[list[str]]:
    """One row per path: medians over the rounds that measured it, and every note."""
    ratios = [_limit_ratios(lines) for lines in rounds]
    for index, runs in enumerate(zip(*rounds, strict=True)):
        notes = "; ".join(dict.fromkeys(line.note for line in runs if line.note))
        kept = [
            (line, line.run, ratio[index])
            for line, ratio in zip(runs, ratios, strict=True)
            if line.run is not None
        ]
        if not kept:
            yield [title, runs[0].path, "n/a", *["-"] * 7, f"n/a: {notes}"]
            continue
        lines = [line for line, _, _ in kept]
        processes = [run for _, run, _ in kept]
        waited = any(line.wait > 0 for line in lines)
        yield [
            title,
            lines[0].path,
            _number(lines[0].rows),
            _median([run.wall for run in processes], 1),
            _median([line.wait for line in lines], 1) if waited else "-",
            spread([line.rate for line in lines], _number),
            _median([line.wall_rate for line in lines]) if waited else "-",
            spread([ratio for _, _, ratio in kept], "{:.2f}x".format),
            _median([run.cpu for run in processes], 1),
            _median([run.peak_rss / MIB for run in processes]),
            notes,
        ]


def _median(values: Sequence[float], digits: int = 0) -> str:
    return _number(statistics.median(values), digits)


def _peak_rss_mib(lines: list[Measured]) -> list[float]:
    """Peak RSS of runs of the tap end to end, which always measure."""
    mib = [line.run.peak_rss / MIB for line in lines if line.run is not None]
    assert len(mib) == len(lines)
    return mib


def _memory_lines(small: list[Measured], large: list[Measured]) -> list[str]:
    """The verdict compares the medians, as every other figure of the report does."""
    small_mib, large_mib = _peak_rss_mib(small), _peak_rss_mib(large)
    growth = statistics.median(large_mib) / statistics.median(small_mib)
    flat = growth <= 1 + FLAT_TOLERANCE and statistics.median(large_mib) * MIB < MEMORY_CEILING
    return table(
        [f"{_number(small[0].rows)} rows", f"{_number(large[0].rows)} rows", "ratio", "verdict"],
        [
            [
                f"{spread(small_mib, _number)} MB",
                f"{spread(large_mib, _number)} MB",
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
            for title, rounds in report.throughput.items()
            for row in throughput_rows(title, rounds)
        )
        repeat = max(len(rounds) for rounds in report.throughput.values())
        intro = THROUGHPUT_INTRO + (REPEATED_INTRO.format(rounds=repeat) if repeat > 1 else "")
        lines += _section("Throughput", intro, table(THROUGHPUT_HEADER, rows))
    if report.memory:
        intro = "Peak RSS of the tap process, end to end on the CSV export."
        runs = len(report.memory[1])
        if runs > 1:
            intro += (
                f" Median of {runs} runs at each size; range in brackets. The ratio and the "
                "verdict compare the medians."
            )
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
