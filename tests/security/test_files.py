"""Export data on disk stays private and short-lived; provider names never become paths;
a file that expands too far is refused."""

from __future__ import annotations

import io
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap_exports.errors import DataError, DownloadError
from tap_exports.io.decode import FileFormat, iter_records
from tap_exports.io.fetch import FtpSource
from tap_exports.settings import CommonSettings, read_settings
from tap_exports_sandbox import Sandbox
from tap_exports_sandbox.batch.options import BatchOptions
from tests.faults.harness import PROFILES, Scenario, profiles, sandbox_config


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process's temporary directory, empty at the start."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_is_spooled_privately_and_its_member_names_never_become_paths(
    scratch: Path, tmp_path: Path
):
    archive = _zip({"../../escape.csv": b"id\n1\n", "/etc/absolute.csv": b"id\n2\n"})
    modes: list[int] = []
    rows = []
    for row in iter_records(io.BytesIO(archive), fmt=FileFormat.CSV, source_name="Acme 1"):
        modes += [stat.S_IMODE(path.stat().st_mode) for path in scratch.iterdir()]
        rows.append(row)
    assert rows == [{"id": "1"}, {"id": "2"}]
    assert modes
    assert set(modes) == {0o700}
    assert list(scratch.iterdir()) == []
    assert not any(path.name.endswith(".csv") for path in tmp_path.rglob("*"))


def test_the_spool_is_removed_when_reading_fails(scratch: Path):
    archive = bytearray(_zip({"a.csv": b"id\n" + b"1\n" * 5000}))
    archive[60:80] = b"\x00" * 20  # corrupt the member's deflate stream
    with pytest.raises(DataError):
        list(iter_records(io.BytesIO(bytes(archive)), fmt=FileFormat.CSV, source_name="Acme 2"))
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("name", ["../x.csv", "a/b.csv", "..", "x\r\nDELE y", "nul\x00.csv"])
def test_a_file_name_from_the_provider_is_never_a_path(name: str):
    with pytest.raises(DownloadError, match="not a plain file name"):
        FtpSource("127.0.0.1", 21, "user", "pass", "/", name, name="Acme export 3")


@pytest.fixture
def gzip_batch() -> Iterator[Sandbox]:
    """Every provider exporting (Connect too), Batch with gzipped files."""
    config = sandbox_config(PROFILES["connect"], batch=BatchOptions(gzip=True))
    with Sandbox(config) as sandbox:
        yield sandbox


def test_every_provider_leaves_no_file_behind_even_when_failing(scratch: Path, gzip_batch: Sandbox):
    sandbox_own = set(scratch.iterdir())  # the sandbox's FTP home, for instance
    failed = Scenario(gzip_batch, PROFILES["batch"]).run(max_decompressed_bytes=10_000)
    assert failed.error is not None
    for profile in profiles():
        assert Scenario(gzip_batch, profile).run().error is None
    assert set(scratch.iterdir()) == sandbox_own


def test_a_file_expanding_beyond_the_bound_is_refused_through_the_tap(gzip_batch: Sandbox):
    run = Scenario(gzip_batch, PROFILES["batch"])
    outcome = run.run(max_decompressed_bytes=10_000)
    assert isinstance(outcome.error, DataError)
    assert "Batch export" in str(outcome.error)
    assert "larger than the limit of 10000 bytes" in str(outcome.error)
    assert outcome.records(run.stream) == [] or len(outcome.records(run.stream)) < 300


def test_the_ratio_bound_comes_from_the_settings():
    limits = read_settings(
        CommonSettings, {"max_compression_ratio": 5, "max_decompressed_bytes": 1 << 40}
    ).decompression_limits
    assert (limits.max_ratio, limits.max_bytes) == (5.0, 1 << 40)
    bomb = _zip({"bomb.csv": b"id\n" + b"0\n" * 3_000_000})
    with pytest.raises(DataError, match="decompression bomb"):
        list(
            iter_records(io.BytesIO(bomb), fmt=FileFormat.CSV, source_name="Acme 4", limits=limits)
        )
