"""The pipeline benchmark runs end to end at a tiny size: every combination loads every row.

Only the report's shape and the loaded rows are checked; timings belong to the report.
"""

from __future__ import annotations

import os

import pytest

from benchmarks.loaders import MELTANO
from benchmarks.pipeline import DUCKDB, POSTGRES, main
from benchmarks.postgres import PostgresMissingError, bindir
from tests.benchmarks.test_harness_smoke import table_rows


@pytest.mark.slow
def test_a_tiny_pipeline_run_loads_every_row_everywhere(tmp_path):
    try:
        bindir()
    except PostgresMissingError as missing:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(missing))
    if not MELTANO.exists() and not os.environ.get("CI"):
        pytest.skip("Meltano not installed (scripts/install-meltano.sh)")
    output = tmp_path / "pipeline.md"

    assert main(["--rows", "300", "--repeat", "1", "--output", str(output)]) == 0

    report = output.read_text(encoding="utf-8")
    postgres = table_rows(report, "PostgreSQL (meltanolabs-target-postgres, load_method upsert)")
    duckdb = table_rows(report, "DuckDB (target-duckdb)")
    assert [row[0] for row in postgres[2:]] == [combination.label for combination in POSTGRES]
    assert [row[0] for row in duckdb[1:]] == [combination.label for combination in DUCKDB]
    for row in postgres + duckdb:
        assert not row[-1].startswith("loaded"), row
    batch_rows = [row for row in postgres if "BATCH" in row[0]]
    assert batch_rows
    assert all(row[-1] == "_sdc_extracted_at/_sdc_batched_at empty" for row in batch_rows)
    assert all(row[-1] == "" for row in postgres if "RECORD" in row[0])
