"""``python -m benchmarks.pipeline``: the whole load, export to warehouse table, against COPY.

One Mailgun bounces export of ``--rows`` rows is loaded again and again, each time into an
empty table, by ``tap-exports`` (RECORD or BATCH output) or a stock singer-sdk tap piped
into the loaders of meltano.yml with their settings varied; the warehouse's own bulk load
of the same CSV file into the same table is the limit. Every run is checked: the table must
hold exactly the export's rows, and the note says when the ``_sdc_*`` metadata columns stay
empty. Each combination runs ``--repeat`` times in rounds, so the machine's load moves every
combination alike; the table shows medians and the spread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from benchmarks import loaders, paths, postgres
from benchmarks.measure import ROOT
from benchmarks.pipe import Piped, run_pipe
from benchmarks.report import MIB, machine_info, spread, table
from benchmarks.workloads import CSV_WORKLOAD, HISTORY_SECONDS, catalog, tap_config
from tap_exports.tap import TapExports
from tap_exports_sandbox import Sandbox, SandboxConfig, StatusDelays

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "pipeline.md"
SCHEMA = "tap_exports"
TABLE = CSV_WORKLOAD.stream
DOMAIN = "mg.example.com"
#: meltano.yml's loader settings that every combination starts from (connection aside).
POSTGRES_BASE = {
    "default_target_schema": SCHEMA,
    "load_method": "upsert",
    "add_record_metadata": True,
}
DUCKDB_BASE = {"default_target_schema": SCHEMA, "add_metadata_columns": True}
_FAST_POLLING = {"poll_interval_seconds": 0.2, "poll_max_interval_seconds": 1.0}
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Combination:
    """A tap output and the loader settings it is measured with.

    ``output`` is ``records`` (tap-exports' RECORD messages), ``stock`` (a stock
    singer-sdk tap emitting the same records) or a BATCH encoding such as ``jsonl.gz``,
    or ``jsonl`` (the loaders here have no pyarrow for Parquet); ``batch_size`` is the rows
    per BATCH file.
    """

    label: str
    output: str
    target: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None


POSTGRES = (
    Combination("stock singer-sdk tap, RECORD", "stock", {}),
    Combination("tap-exports RECORD", "records", {}),
    Combination(
        "tap-exports RECORD, no validation",
        "records",
        {"validate_records": False},
    ),
    Combination(
        "tap-exports RECORD, no validation, COPY",
        "records",
        {"validate_records": False, "use_copy": True},
    ),
    Combination(
        "tap-exports RECORD, no validation, COPY, 100k-row batches",
        "records",
        {
            "add_record_metadata": True,
            "validate_records": False,
            "use_copy": True,
            "batch_size_rows": 100_000,
        },
    ),
    Combination("tap-exports BATCH jsonl.gz", "jsonl.gz", {}),
    Combination("tap-exports BATCH jsonl.gz, COPY", "jsonl.gz", {"use_copy": True}),
    Combination("tap-exports BATCH jsonl, COPY", "jsonl", {"use_copy": True}),
    Combination(
        "tap-exports BATCH jsonl.gz, COPY, 100k-row files",
        "jsonl.gz",
        {"use_copy": True},
        batch_size=100_000,
    ),
)
DUCKDB = (
    Combination("stock singer-sdk tap, RECORD", "stock", {}),
    Combination("tap-exports RECORD", "records", {}),
    Combination(
        "tap-exports RECORD, 500k-row batches",
        "records",
        {"batch_size_rows": 500_000},
    ),
)
WAREHOUSES = ("postgres", "duckdb")


@dataclass
class Line:
    """One row of a result table: a combination's runs and what each loaded."""

    label: str
    walls: list[float] = field(default_factory=list)
    runs: list[Piped] = field(default_factory=list)
    loaded: list[int] = field(default_factory=list)
    metadata: list[bool] = field(default_factory=list)


@dataclass
class Workbench:
    """Everything a pipeline run needs: the sandbox, the tap's files, the loaders."""

    sandbox: Sandbox
    work: Path
    rows: int
    executables: dict[str, Path]
    timeout: float
    export_file: Path = field(init=False)
    stock_input: Path = field(init=False)

    def tap_config(self) -> dict[str, Any]:
        """tap-exports reading the export, polling fast (the wait is not what is measured)."""
        return tap_config(
            self.sandbox,
            CSV_WORKLOAD.settings(self.sandbox),
            export_timeout_seconds=self.timeout,
            **_FAST_POLLING,
        )

    def tap_command(self, combination: Combination) -> list[str]:
        """The producer of ``combination``, its config and catalog written to ``work``."""
        config = self.tap_config()
        if combination.output == "stock":
            stream = TapExports(config=config).streams[TABLE]
            stock = {
                "file": str(self.stock_input),
                "format": "ndjson",
                "stream": TABLE,
                "schema": dict(stream.schema),
                "primary_keys": list(stream.primary_keys or []),
            }
            path = paths.write_json(self.work / "stock-config.json", stock)
            return [sys.executable, "-m", "benchmarks.stock", "--config", str(path)]
        if combination.output != "records":
            batches = self.work / "batches"
            batches.mkdir(exist_ok=True)
            file_format, _, compression = combination.output.partition(".")
            encoding: dict[str, Any] = {"format": file_format}
            if file_format == "jsonl":
                encoding["compression"] = "gzip" if compression == "gz" else "none"
            config["batch_config"] = {"encoding": encoding, "storage": {"root": batches.as_uri()}}
            if combination.batch_size:
                config["batch_config"]["batch_size"] = combination.batch_size
        config_path = paths.write_json(self.work / "tap-config.json", config)
        catalog_path = paths.write_json(
            self.work / "catalog.json", catalog(config, [CSV_WORKLOAD.stream])
        )
        return [str(paths.TAP), "--config", str(config_path), "--catalog", str(catalog_path)]

    def target_command(self, name: str, config: dict[str, Any]) -> list[str]:
        """A loader of meltano.yml with ``config``."""
        path = paths.write_json(self.work / f"{name}-config.json", config)
        return [str(self.executables[name]), "--config", str(path)]

    def load(self, combination: Combination, target: list[str]) -> Piped:
        """One run of ``combination`` into ``target``; the sandbox is ready for the next."""
        try:
            piped = run_pipe(self.tap_command(combination), target, timeout=self.timeout)
            print(
                f"{Path(target[0]).name}, {combination.label}: {piped.wall:.1f} s", file=sys.stderr
            )
            return piped
        finally:
            self.sandbox.reset()
            for leftover in (self.work / "batches").glob("*"):
                leftover.unlink()


def prepare_files(bench: Workbench) -> None:
    """The export's CSV file (for COPY) and its records as NDJSON (for the stock tap)."""
    messages = bench.work / "messages.jsonl"
    paths.run_tap(
        bench.tap_config(),
        bench.work,
        streams=[TABLE],
        timeout=bench.timeout,
        stdout=messages,
    )
    bench.export_file = bench.work / "export.csv"
    CSV_WORKLOAD.save_file(bench.sandbox, bench.export_file)
    bench.sandbox.reset()
    bench.stock_input = bench.work / "records.ndjson"
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode
    with messages.open("rb") as lines, bench.stock_input.open("wb") as out:
        for line in lines:
            message = decode(line)
            if message.get("type") == "RECORD":
                out.write(encode(message["record"]) + b"\n")
    messages.unlink()


# PostgreSQL ---------------------------------------------------------------------------


def postgres_copy(bench: Workbench, cluster: postgres.Cluster, *, key: bool) -> float:
    """Seconds to COPY the export's CSV into an empty table shaped like the loaded one."""
    with cluster.connect() as connection:
        connection.execute("DROP SCHEMA IF EXISTS copy_limit CASCADE")
        connection.execute("CREATE SCHEMA copy_limit")
        connection.execute(
            f"CREATE TABLE copy_limit.{TABLE} (domain text NOT NULL DEFAULT '{DOMAIN}', "
            "address text NOT NULL, code text, error text, created_at timestamptz"
            + (", PRIMARY KEY (domain, address))" if key else ")")
        )
        started = time.monotonic()
        with (
            connection.cursor() as cursor,
            cursor.copy(
                f"COPY copy_limit.{TABLE} (address, code, error, created_at) "
                "FROM STDIN (FORMAT csv, HEADER true)"
            ) as copy,
            bench.export_file.open("rb") as source,
        ):
            while block := source.read(_BLOCK):
                copy.write(block)
        seconds = time.monotonic() - started
        counted = connection.execute(f"SELECT count(*) FROM copy_limit.{TABLE}").fetchone()
        connection.execute("DROP SCHEMA copy_limit CASCADE")
    if counted is None or counted[0] != bench.rows:
        msg = f"COPY loaded {counted} rows"
        raise RuntimeError(msg)
    return seconds


def postgres_counts(cluster: postgres.Cluster) -> tuple[int, bool]:
    """Rows in the loaded table, and whether every row has its extraction metadata."""
    with cluster.connect() as connection:
        rows, stamped = connection.execute(
            f"SELECT count(*), count(_sdc_extracted_at) FROM {SCHEMA}.{TABLE}"
        ).fetchone() or (0, 0)
        connection.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    return int(rows), stamped == rows


def measure_postgres(bench: Workbench, repeat: int) -> tuple[list[float], list[Line]]:
    """Every PostgreSQL combination ``repeat`` times, in rounds; and COPY with the key."""
    lines = [Line(combination.label) for combination in POSTGRES]
    copies: list[float] = []
    with postgres.cluster() as cluster:
        for _ in range(repeat):
            copies.append(postgres_copy(bench, cluster, key=True))
            for combination, line in zip(POSTGRES, lines, strict=True):
                config = {**cluster.target_config(), **POSTGRES_BASE, **combination.target}
                piped = bench.load(combination, bench.target_command("target-postgres", config))
                rows, stamped = postgres_counts(cluster)
                line.runs.append(piped)
                line.walls.append(piped.wall)
                line.loaded.append(rows)
                line.metadata.append(stamped)
        no_key = [postgres_copy(bench, cluster, key=False) for _ in range(repeat)]
    lines.insert(0, Line("COPY of the CSV, no primary key", walls=no_key))
    return copies, lines


# DuckDB -------------------------------------------------------------------------------


def duckdb_copy(bench: Workbench, database: Path) -> float:
    """Seconds to load the export's CSV into a DuckDB table with the key, dates parsed."""
    with duckdb.connect(str(database)) as connection:
        connection.execute(
            f"CREATE TABLE {TABLE} (domain VARCHAR, address VARCHAR, code VARCHAR, "
            "error VARCHAR, created_at TIMESTAMPTZ, PRIMARY KEY (domain, address))"
        )
        started = time.monotonic()
        connection.execute(
            f"INSERT INTO {TABLE} SELECT '{DOMAIN}', address, code, error, "
            "strptime(created_at, '%a, %d %b %Y %H:%M:%S %Z') "
            "FROM read_csv(?, header = true, all_varchar = true)",
            [str(bench.export_file)],
        )
        seconds = time.monotonic() - started
        result = connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    database.unlink()
    if result is None or result[0] != bench.rows:
        msg = f"DuckDB loaded {result} rows"
        raise RuntimeError(msg)
    return seconds


def duckdb_counts(database: Path) -> tuple[int, bool]:
    """Rows in the loaded table, and whether every row has its extraction metadata."""
    with duckdb.connect(str(database), read_only=True) as connection:
        result = connection.execute(
            f"SELECT count(*), count(_sdc_extracted_at) FROM {SCHEMA}.{TABLE}"
        ).fetchone()
    database.unlink()
    rows, stamped = result or (0, 0)
    return int(rows), stamped == rows


def measure_duckdb(bench: Workbench, repeat: int) -> tuple[list[float], list[Line]]:
    """Every DuckDB combination ``repeat`` times, in rounds; and DuckDB's own CSV load."""
    lines = [Line(combination.label) for combination in DUCKDB]
    copies: list[float] = []
    database = bench.work / "warehouse.duckdb"
    for _ in range(repeat):
        copies.append(duckdb_copy(bench, database))
        for combination, line in zip(DUCKDB, lines, strict=True):
            config = {"path": str(database), **DUCKDB_BASE, **combination.target}
            piped = bench.load(combination, bench.target_command("target-duckdb", config))
            rows, stamped = duckdb_counts(database)
            line.runs.append(piped)
            line.walls.append(piped.wall)
            line.loaded.append(rows)
            line.metadata.append(stamped)
    return copies, lines


# Report -------------------------------------------------------------------------------


def _spread(values: Sequence[float]) -> str:
    return spread(values, "{:.1f}".format)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _per_run(line: Line, show: Callable[[Piped], str]) -> str:
    """``show`` of the run with the median wall time; "-" for a line without pipelines."""
    if not line.runs:
        return "-"
    ranked = sorted(line.runs, key=lambda run: run.wall)
    return show(ranked[len(ranked) // 2])


def render_table(copies: list[float], lines: list[Line], expected: int, limit: str) -> list[str]:
    """One warehouse's table: each combination's wall time against the limit's."""
    limit_wall = _median(copies)
    rows = [[limit, _spread(copies), "1.0x", f"{expected / limit_wall:,.0f}", "-", "-", "-", ""]]
    for line in lines:
        note = ""
        if any(loaded != expected for loaded in line.loaded):
            note = f"loaded {', '.join(f'{n:,}' for n in line.loaded)} rows"
        elif line.metadata and not all(line.metadata):
            note = "_sdc_extracted_at/_sdc_batched_at empty"
        rows.append(
            [
                line.label,
                _spread(line.walls),
                f"{_median(line.walls) / limit_wall:.1f}x",
                f"{expected / _median(line.walls):,.0f}",
                _per_run(line, lambda run: f"{run.tap.cpu:.1f}"),
                _per_run(line, lambda run: f"{run.target.cpu:.1f}"),
                _per_run(line, lambda run: f"{run.target.peak_rss / MIB:.0f} MB"),
                note,
            ]
        )
    header = [
        "pipeline",
        "wall s, median (range)",
        "x limit",
        "rows/s",
        "tap CPU s",
        "target CPU s",
        "target peak RSS",
        "note",
    ]
    return table(header, rows)


def render(
    rows: int, repeat: int, results: dict[str, tuple[list[float], list[Line]]], machine: str
) -> str:
    """The report as markdown."""
    out = [
        f"## tap-exports pipeline benchmark, {rows:,} rows, {repeat} runs each",
        "",
        f"Machine: {machine}.",
    ]
    titles = {
        "postgres": (
            "PostgreSQL (meltanolabs-target-postgres, load_method upsert)",
            "limit: COPY of the CSV, primary key",
        ),
        "duckdb": ("DuckDB (target-duckdb)", "limit: read_csv into the table, primary key"),
    }
    for warehouse, (copies, lines) in results.items():
        title, limit = titles[warehouse]
        out += ["", f"### {title}", "", *render_table(copies, lines, rows, limit)]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print and save the pipeline tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the export")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each combination")
    parser.add_argument("--only", action="append", choices=WAREHOUSES, help="one warehouse")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)
    machine = machine_info()
    results: dict[str, tuple[list[float], list[Line]]] = {}
    sandbox_config = SandboxConfig(
        default_rows=10,
        rows={CSV_WORKLOAD.dataset: args.rows},
        delays=StatusDelays(running_after=0.05, complete_after=0.1),
        row_step_seconds=min(1.0, HISTORY_SECONDS / max(args.rows, 1)),
    )
    with tempfile.TemporaryDirectory(prefix="tap-exports-pipeline-") as tmp:
        work = Path(tmp)
        executables = loaders.install(("target-postgres", "target-duckdb"), work / "meltano")
        with Sandbox(sandbox_config) as sandbox:
            bench = Workbench(sandbox, work, args.rows, executables, args.timeout)
            prepare_files(bench)
            measure = {"postgres": measure_postgres, "duckdb": measure_duckdb}
            for warehouse in args.only or WAREHOUSES:
                results[warehouse] = measure[warehouse](bench, args.repeat)
    text = render(args.rows, args.repeat, results, machine)
    print(text, end="")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
