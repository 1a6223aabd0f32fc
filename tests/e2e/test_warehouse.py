"""Meltano end to end: ``meltano run tap-exports target-postgres`` into a real PostgreSQL.

Every provider the sandbox emulates is synced through the repository's meltano.yml; the
warehouse is compared with the sandbox's ground truth, a second run after the datasets
grew must bring only the new rows, and Meltano's stored state must hold the bookmarks
and no export left in flight.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from benchmarks.postgres import Cluster
from demo.summary import (
    demo_settings,
    environment_settings,
    loaded_counts,
    meltano_env,
)
from tap_exports.engine.stream import BulkExportStream
from tap_exports.instants import parse_instant
from tap_exports.tap import TapExports
from tap_exports_sandbox import Sandbox
from tests.e2e.conftest import ROOT, MeltanoProject
from tests.support import sync

pytestmark = pytest.mark.slow

ROWS = 300
GROWTH = 40
SAMPLE = 5


@dataclass(frozen=True)
class Job:
    """One Meltano pipeline against one sandbox, loading into its own schema."""

    meltano: MeltanoProject
    postgres: Cluster
    sandbox: Sandbox
    schema: str
    suffix: str

    @property
    def state_id(self) -> str:
        return f"sandbox:tap-exports-to-target-postgres:{self.suffix}"

    def env(self, **extra: str) -> dict[str, str]:
        settings = meltano_env(
            self.sandbox.tap_config(), skip=environment_settings(ROOT / "meltano.yml")
        )
        return {
            **settings,
            **self.postgres.target_env(),
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": self.schema,
            **extra,
        }

    def run(
        self, *, suffix: str | None = None, meltano: MeltanoProject | None = None, **extra: str
    ) -> None:
        (meltano or self.meltano).run(
            "--environment",
            "sandbox",
            "run",
            "--state-id-suffix",
            suffix or self.suffix,
            "tap-exports",
            "target-postgres",
            env=self.env(**extra),
        )

    def counts(self) -> dict[str, int]:
        with self.postgres.connect() as connection:
            return loaded_counts(connection.cursor(), self.schema)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.postgres.connect() as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []


@pytest.fixture
def job(request, sandbox_factory, postgres, meltano) -> Iterator[Job]:
    name = request.node.name.removeprefix("test_")[:40]
    sandbox = sandbox_factory(default_rows=ROWS)
    yield Job(meltano, postgres, sandbox, schema=name, suffix=name)
    with postgres.connect() as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def bulk_streams(config: dict[str, Any]) -> dict[str, BulkExportStream]:
    return {
        stream.name: stream
        for stream in TapExports(config=config).streams.values()
        if isinstance(stream, BulkExportStream)
    }


def same_value(loaded: Any, emitted: Any) -> bool:
    """A warehouse value equals what the tap emitted, once PostgreSQL's types are undone."""
    if isinstance(loaded, dt.datetime) and isinstance(emitted, str):
        expected = parse_instant(emitted)
        return loaded.replace(tzinfo=loaded.tzinfo or dt.UTC) == expected
    if isinstance(loaded, Decimal) and isinstance(emitted, int | float):
        return loaded == Decimal(str(emitted))
    return bool(loaded == emitted)


def assert_sample_matches(job: Job, records: dict[str, list[dict[str, Any]]]) -> None:
    """A few rows of every table, found by primary key, hold what the tap emitted."""
    with job.postgres.connect() as connection:
        for name, stream in bulk_streams(job.sandbox.tap_config()).items():
            keys = list(stream.primary_keys or [])
            rows = records[name]
            for record in rows[:: max(1, len(rows) // SAMPLE)][:SAMPLE]:
                where = " AND ".join(f'"{key}" = %s' for key in keys)
                cursor = connection.execute(
                    f'SELECT * FROM "{job.schema}"."{name}" WHERE {where}',
                    [record[key] for key in keys],
                )
                columns = [column.name for column in cursor.description or []]
                (loaded,) = cursor.fetchall()
                row = dict(zip(columns, loaded, strict=True))
                for field, value in record.items():
                    assert same_value(row[field], value), (name, field, row[field], value)


@dataclass(frozen=True)
class Reference:
    """The ground truth as a keyed warehouse holds it.

    The sandbox counts rows; a warehouse upserts on the primary key, so a stream whose
    rows repeat a key (a contact changed twice) holds one row per key. A fresh
    in-process sync shows the tap delivers exactly the truth's rows; their distinct
    keys are what the warehouse must hold.
    """

    records: dict[str, list[dict[str, Any]]]
    keys: dict[str, int]

    @classmethod
    def of(cls, sandbox: Sandbox) -> Reference:
        config = sandbox.tap_config()
        records = sync(config).records
        truth = sandbox.truth()["streams"]
        keys = {}
        for name, stream in bulk_streams(config).items():
            assert len(records.get(name, [])) == truth[name], f"{name}: the tap vs the truth"
            primary = list(stream.primary_keys or [])
            keys[name] = len({tuple(row[key] for key in primary) for row in records[name]})
        return cls(records, keys)


def test_meltano_loads_every_stream_then_only_new_rows(job: Job):
    job.run()
    before = Reference.of(job.sandbox)
    counts = job.counts()
    assert {stream: counts.get(stream) for stream in before.keys} == before.keys
    assert_sample_matches(job, before.records)

    first_sync = {
        stream: job.query(f'SELECT max(_sdc_sync_started_at) FROM "{job.schema}"."{stream}"')[0][0]
        for stream in before.keys
    }
    state = job.meltano.state(job.state_id, env=job.env())["singer_state"]["bookmarks"]
    streams = bulk_streams(job.sandbox.tap_config())
    for name, size in job.sandbox.truth()["datasets"].items():
        job.sandbox.resize_dataset(name, size + GROWTH)
    job.run()

    after = Reference.of(job.sandbox)
    assert after.keys != before.keys
    counts = job.counts()
    for name, stream in streams.items():
        (touched,) = job.query(
            f'SELECT count(*) FROM "{job.schema}"."{name}" '
            f"WHERE _sdc_sync_started_at > {first_sync[name]}"
        )[0]
        if stream.replication_key is None:
            assert touched == counts[name] == after.keys[name], f"{name}: full table, every row"
            continue
        key = stream.replication_key
        newest = max((str(row[key]) for row in before.records[name] if row.get(key)), default="")
        bookmarks = [
            entry.get("replication_key_value") or ""
            for entry in state[name].get("partitions") or [state[name]]
        ]
        if max(bookmarks) > newest:
            # The bookmark is the end of a closed time window: the grown rows are dated
            # inside it, so they are late for this provider and nothing is read again.
            assert (touched, counts[name]) == (0, before.keys[name]), name
            continue
        new_rows = after.keys[name] - before.keys[name]
        # A source whose exports cannot be filtered re-reads its boundary row on purpose.
        sources = len(stream.partitions) if stream.partitions else 1
        assert counts[name] == after.keys[name], name
        assert new_rows <= touched <= new_rows + sources, name

    bookmarks = job.meltano.state(job.state_id, env=job.env())["singer_state"]["bookmarks"]
    for name, stream in streams.items():
        for entry in bookmarks[name].get("partitions") or [bookmarks[name]]:
            assert "export" not in entry, (name, entry)
            if stream.replication_key:
                assert entry["replication_key_value"], (name, entry)


def split_streams(config: dict[str, Any]) -> list[list[str]]:
    """Two groups of bulk streams: half of the providers each, or half of a lone one's streams."""
    by_provider: dict[str, list[str]] = {}
    for name in sorted(bulk_streams(config)):
        by_provider.setdefault(name.split("_", 1)[0], []).append(name)
    providers = list(by_provider.values())
    if len(providers) == 1:
        (names,) = providers
        return [names[: len(names) // 2], names[len(names) // 2 :]]
    half = len(providers) // 2
    return [
        [name for names in providers[:half] for name in names],
        [name for names in providers[half:] for name in names],
    ]


def test_parallel_jobs_with_their_own_state_ids_do_not_clobber_each_other(job: Job, tmp_path):
    groups = split_streams(job.sandbox.tap_config())
    jobs = {f"{job.suffix}-{number}": names for number, names in enumerate(groups)}
    shared_state = {"MELTANO_STATE_BACKEND_URI": f"file://{tmp_path}/state"}
    # Two targets creating one schema at the same moment can collide in PostgreSQL's catalog.
    job.query(f'CREATE SCHEMA "{job.schema}"')
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        workers = dict(
            zip(jobs, pool.map(lambda s: job.meltano.worker(s, **shared_state), jobs), strict=True)
        )

    def run(suffix: str) -> None:
        select = json.dumps([f"{name}.*" for name in jobs[suffix]])
        job.run(suffix=suffix, meltano=workers[suffix], TAP_EXPORTS__SELECT=select)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        list(pool.map(run, jobs))

    truth = Reference.of(job.sandbox).keys
    counts = job.counts()
    assert {stream: counts.get(stream) for stream in truth} == truth

    def states() -> dict[str, dict[str, Any]]:
        return {
            suffix: workers[suffix].state(
                f"sandbox:tap-exports-to-target-postgres:{suffix}", env=job.env()
            )["singer_state"]["bookmarks"]
            for suffix in jobs
        }

    before = states()
    for suffix, names in jobs.items():
        assert set(before[suffix]) == set(names), suffix

    first, *others = jobs
    for name, size in job.sandbox.truth()["datasets"].items():
        job.sandbox.resize_dataset(name, size + GROWTH)
    run(first)
    after = states()
    assert set(after[first]) == set(jobs[first])
    for suffix in others:
        assert after[suffix] == before[suffix], f"job {first} changed the state of {suffix}"
    counts = job.counts()
    for suffix in others:
        for stream in jobs[suffix]:
            assert counts[stream] == truth[stream], f"job {first} loaded rows of {stream}"


def test_the_demo_warehouse_loses_no_row_and_a_second_run_duplicates_none(job: Job):
    """DuckDB, the README demo's warehouse, holds exactly the ground truth, run after run.

    The demo keeps primary keys, so a second run (from state, not a full refresh)
    upserts the full-table streams it reads again instead of doubling them.
    """
    warehouse = job.meltano.output_dir / f"{job.schema}.duckdb"
    truth = job.sandbox.truth()["streams"]  # what the next full sync emits

    def run_and_count() -> dict[str, int]:
        job.meltano.run(
            "--environment",
            "sandbox",
            "run",
            "--state-id-suffix",
            job.suffix,
            "tap-exports",
            "target-duckdb",
            env={
                **job.env(),
                **demo_settings(job.sandbox.tap_config()),
                "TARGET_DUCKDB_PATH": str(warehouse),
            },
        )
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            return loaded_counts(connection.cursor(), "tap_exports")

    counts = run_and_count()
    assert {stream: counts.get(stream) for stream in truth} == truth
    counts = run_and_count()
    bulk = bulk_streams(job.sandbox.tap_config())
    assert {stream: counts.get(stream) for stream in bulk} == {s: truth[s] for s in bulk}
