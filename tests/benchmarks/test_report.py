"""The report's throughput and memory tables over repeated rounds, from made-up runs."""

from __future__ import annotations

from benchmarks.measure import Run
from benchmarks.paths import LIMIT, TO_FILE, Measured
from benchmarks.report import MIB, THROUGHPUT_INTRO, Report, render
from tests.benchmarks.test_harness_smoke import table_rows

ROWS = 1200
TAP = "tap-exports end to end"
PARQUET = "tap-exports BATCH, parquet"
MISCOUNT = "its record_count metrics say 1,199 rows"


def measured(
    path: str,
    wall: float,
    *,
    wait: float = 0.0,
    cpu: float = 1.0,
    rss: int = 50,
    note: str = "",
) -> Measured:
    """``ROWS`` rows in ``wall`` seconds, ``rss`` MiB at peak; "to a file" as the path says."""
    run = Run(wall=wall, cpu=cpu, peak_rss=rss * MIB, log="")
    return Measured(path, ROWS, run, wait, note, to_file=path.endswith(TO_FILE))


def workload_round(
    limit_wall: float, tap_wall: float, tap_to_file_wall: float, *, tap_note: str = ""
) -> list[Measured]:
    """One round: the limits take ``limit_wall`` (twice that to a file), the taps wait 1 s."""
    return [
        measured(LIMIT, limit_wall),
        measured(LIMIT + TO_FILE, 2 * limit_wall),
        measured(TAP, tap_wall, wait=1.0, cpu=tap_wall / 2, rss=100 + int(tap_wall), note=tap_note),
        measured(TAP + TO_FILE, tap_to_file_wall, wait=1.0),
        Measured(PARQUET, note="pyarrow is not installed"),
    ]


def throughput(report: Report) -> dict[str, list[str]]:
    """The throughput table's rows by path."""
    return {row[1]: row for row in table_rows(render(report), "Throughput")}


def test_one_round_shows_single_values_as_before():
    report = Report(machine="test", throughput={"CSV": [workload_round(1.0, 5.0, 5.0)]})

    lines = throughput(report)

    assert lines[LIMIT] == [
        "CSV",
        LIMIT,
        "1,200",
        "1.0",
        "-",
        "1,200",
        "-",
        "1.00x",
        "1.0",
        "50",
        "",
    ]
    assert lines[TAP] == [
        "CSV",
        TAP,
        "1,200",
        "5.0",
        "1.0",
        "300",
        "240",
        "0.25x",
        "2.5",
        "105",
        "",
    ]
    assert lines[TAP + TO_FILE][7] == "0.50x"
    assert lines[PARQUET] == ["CSV", PARQUET, "n/a", *["-"] * 7, "n/a: pyarrow is not installed"]
    assert f"\n{THROUGHPUT_INTRO}\n" in render(report)


def test_rounds_show_medians_ranges_and_each_rounds_ratio_to_its_limit():
    rounds = [
        workload_round(1.0, 5.0, 5.0),  # limit 1,200 rows/s, tap 300: 0.25x
        workload_round(0.5, 2.0, 3.0, tap_note=MISCOUNT),  # limit 2,400, tap 1,200: 0.50x
        workload_round(2.0, 7.0, 6.0),  # limit 600, tap 200: 0.33x
    ]
    report = Report(machine="test", throughput={"CSV": rounds})

    lines = throughput(report)

    assert lines[LIMIT][5:8] == ["1,200 (600-2,400)", "-", "1.00x (1.00x-1.00x)"]
    # Medians: wall 5.0 s, wait 1.0 s, 300 rows/s, 240 rows/s with the wait, 2.5 CPU s, 105 MB.
    # The median of the rounds' ratios (0.33x) is not the ratio of the medians (300 / 1,200).
    assert lines[TAP] == [
        "CSV",
        TAP,
        "1,200",
        "5.0",
        "1.0",
        "300 (200-1,200)",
        "240",
        "0.33x (0.25x-0.50x)",
        "2.5",
        "105",
        MISCOUNT,
    ]
    # To a file, against the limit to a file of the same round: 300/600, 600/1,200, 240/300.
    assert lines[TAP + TO_FILE][7] == "0.50x (0.50x-0.80x)"
    assert lines[PARQUET][-1] == "n/a: pyarrow is not installed"
    assert "Median of 3 rounds, every path once per round; range in brackets." in render(report)


def test_memory_compares_the_medians_of_each_size():
    small = [measured(TAP, 1.0, rss=rss) for rss in (40, 42, 41)]
    large = [measured(TAP, 5.0, rss=rss) for rss in (43, 60, 44)]
    report = Report(machine="test", memory=(small, large))

    (line,) = table_rows(render(report), "Memory")

    assert line == ["41 (40-42) MB", "44 (43-60) MB", "1.07x", "flat"]
    assert "Median of 3 runs at each size" in render(report)
