"""Malformed export files: stop naming the provider, the file and the line, or skip and count.

Through the tap, each provider's emulator writes the malformed lines its format can
carry (``malformed_rows`` on create); every kind of damage is also read through the
decoders directly, in every format it applies to.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable

import pytest

from tap_exports.errors import DataError
from tap_exports.io.decode import DecodeStats, FileFormat, iter_records
from tap_exports_sandbox import Fault
from tests.faults.conftest import ScenarioFactory
from tests.faults.harness import Profile, Verdict, exports_of, profiles

BROKEN = 3


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_a_malformed_row_stops_the_run_naming_provider_file_and_line(
    profile: Profile, scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    run = scenario(profile)
    run.sandbox.faults.add(profile.name, profile.create, Fault.malformed_rows(BROKEN))
    failed = run.run_cli()
    assert failed.exit_code == 1, failed.stderr[-2000:]
    message = [line for line in failed.stderr.splitlines() if "ERROR" in line][-1]
    assert re.search(profile.name, message, re.IGNORECASE), message
    assert re.search(r"line \d+", message), message
    assert "on_bad_rows" in message, message
    # The window stays open: the export is resumed by the next run, here told to skip.
    assert exports_of(run.state or {}, run.stream)
    rerun = run.run_cli(on_bad_rows="skip")
    assert rerun.exit_code == 0, rerun.stderr[-2000:]
    result = verdict(run, "malformed rows: fail, then a rerun with on_bad_rows: skip")
    assert (result.rows_lost, result.rows_extra, result.rows_changed) == (0, 0, 0)
    assert result.duplicate_exports == 0


@pytest.mark.parametrize("profile", profiles(), ids=str)
def test_on_bad_rows_skip_loads_every_good_row_and_counts_the_bad_ones(
    profile: Profile, scenario: ScenarioFactory, verdict: Callable[..., Verdict]
):
    run = scenario(profile)
    run.sandbox.faults.add(profile.name, profile.create, Fault.malformed_rows(BROKEN))
    outcome = run.run_cli(on_bad_rows="skip")
    assert outcome.exit_code == 0, outcome.stderr[-2000:]
    # Each emulator breaks BROKEN rows of every file its format has (PackageX: two).
    skipped = [
        int(count)
        for count in re.findall(
            rf"skipped (\d+) malformed rows in {profile.name}", outcome.stderr, re.I
        )
    ]
    assert skipped
    assert sum(skipped) >= BROKEN
    assert sum(point["value"] for point in outcome.metrics("bad_rows")) == sum(skipped)
    result = verdict(run, "malformed rows, on_bad_rows: skip")
    assert (result.rows_lost, result.rows_extra, result.rows_changed) == (0, 0, 0)
    assert result.duplicate_exports == 0


GOOD_CSV = b"id,name\n1,a\n2,b\n"
GOOD_NDJSON = b'{"id": 1}\n{"id": 2}\n'
DAMAGE = {
    "CSV row with too many fields": (FileFormat.CSV, b"id,name\n1,a\n2,b,extra\n3,c\n"),
    "CSV row with too few fields": (FileFormat.CSV, b"id,name\n1,a\n2\n3,c\n"),
    "CSV invalid UTF-8 byte": (FileFormat.CSV, b"id,name\n1,a\n2,\xff\n3,c\n"),
    "CSV NUL byte": (FileFormat.CSV, b"id,name\n1,a\n2,b\x00\n3,c\n"),
    "NDJSON invalid line": (FileFormat.NDJSON, b'{"id": 1}\n{"id": 2\n{"id": 3}\n'),
    "NDJSON invalid UTF-8 byte": (FileFormat.NDJSON, b'{"id": 1}\n{"id": "\xff"}\n{"id": 3}\n'),
}


@pytest.mark.parametrize(("fmt", "data"), DAMAGE.values(), ids=DAMAGE.keys())
def test_every_kind_of_damage_is_reported_at_its_line_or_skipped(fmt: FileFormat, data: bytes):
    with pytest.raises(DataError) as error:
        list(iter_records(io.BytesIO(data), fmt=fmt, source_name="Acme export 7 (f)"))
    assert error.value.line == (3 if fmt is FileFormat.CSV else 2)
    assert str(error.value).startswith("Acme export 7 (f), line ")
    stats = DecodeStats()
    rows = list(
        iter_records(io.BytesIO(data), fmt=fmt, source_name="f", on_bad_row="skip", stats=stats)
    )
    assert len(rows) == 2
    assert stats.bad_rows == 1


@pytest.mark.parametrize("good", [GOOD_CSV, GOOD_NDJSON], ids=["csv", "ndjson"])
def test_a_truncated_gzip_is_never_read_as_complete(good: bytes):
    whole = gzip.compress(good * 200)
    fmt = FileFormat.CSV if good is GOOD_CSV else FileFormat.NDJSON
    for on_bad_row in ("fail", "skip"):
        with pytest.raises(DataError, match=r"truncated|corrupt"):
            list(
                iter_records(
                    io.BytesIO(whole[: len(whole) // 2]),
                    fmt=fmt,
                    source_name="f",
                    on_bad_row=on_bad_row,
                )
            )
