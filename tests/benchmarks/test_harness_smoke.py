"""The benchmark harness runs end to end at a tiny size and fills every table.

Only the shape of the report is checked: timings belong to the harness's output, never to
assertions here.
"""

from __future__ import annotations

import re

import pytest

from benchmarks.harness import BATCH_FORMATS, main
from benchmarks.workloads import WORKLOADS


def table_rows(report: str, heading: str) -> list[list[str]]:
    """Body rows of the table under ``heading``."""
    section = report.split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


@pytest.mark.slow
def test_a_tiny_run_fills_every_table(tmp_path, capsys):
    output = tmp_path / "report.md"
    arguments = ["--rows", "2000", "--output", str(output), "--prepare-seconds", "0.5"]
    arguments += ["--short-export-seconds", "0.5", "--long-export-seconds", "1"]

    assert main(arguments) == 0

    report = output.read_text(encoding="utf-8")
    assert capsys.readouterr().out == report
    assert report.startswith("## tap-exports benchmarks")
    assert "\nMachine: " in report

    throughput = check_throughput(report)
    assert all(re.fullmatch(r"[\d,]+", row[5]) for row in throughput if row[2] != "n/a")
    memory = check_memory(report)
    assert all(re.fullmatch(r"[\d,]+ MB", cell) for cell in memory[:2])

    parallel = table_rows(report, "Exports prepared in parallel")
    assert [(row[0], row[1]) for row in parallel] == [("1", "1"), ("5", "5")]

    polling = table_rows(report, "Polling cost")
    assert [row[0] for row in polling] == ["0.5 s", "1 s"]
    assert all(float(row[1]) >= 1 for row in polling)


@pytest.mark.slow
def test_repeated_rounds_fill_the_throughput_tables_with_medians_and_ranges(tmp_path):
    output = tmp_path / "report.md"

    assert (
        main(["--rows", "2000", "--only", "throughput", "--repeat", "2", "--output", str(output)])
        == 0
    )

    report = output.read_text(encoding="utf-8")
    assert "Median of 2 rounds" in report
    for row in check_throughput(report):
        if row[2] != "n/a":
            assert re.fullmatch(r"[\d,]+ \([\d,]+-[\d,]+\)", row[5]), row
            assert re.fullmatch(r"[\d.]+x \([\d.]+x-[\d.]+x\)", row[7]), row
    memory = check_memory(report)
    assert all(re.fullmatch(r"[\d,]+ \([\d,]+-[\d,]+\) MB", cell) for cell in memory[:2])
    assert "Exports prepared in parallel" not in report


def check_throughput(report: str) -> list[list[str]]:
    """The throughput table's rows, once checked: every path of every workload, every row."""
    throughput = table_rows(report, "Throughput")
    expected_paths = [
        "limit: bare loop, msgspec RECORD lines",
        "limit: bare loop, msgspec RECORD lines, to a file",
        "stock singer-sdk Stream",
        "tap-exports end to end",
        "tap-exports end to end, to a file",
        *(f"tap-exports BATCH, {batch_format}" for batch_format in BATCH_FORMATS),
    ]
    for workload in WORKLOADS:
        lines = {row[1]: row for row in throughput if row[0] == workload.title}
        assert list(lines) == expected_paths
        for path in expected_paths[:3]:
            assert lines[path][2] == "2,000", lines[path]
        for row in lines.values():
            assert row[2] == "2,000" or row[-1].startswith("n/a: "), row
            assert "record_count" not in row[-1], row
    csv_tap = next(row for row in throughput if row[1] == "tap-exports end to end")
    assert csv_tap[2] == "2,000"
    return throughput


def check_memory(report: str) -> list[str]:
    """The memory table's one row."""
    memory = table_rows(report, "Memory")
    assert len(memory) == 1
    return memory[0]
