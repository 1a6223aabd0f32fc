"""``tap-exports --test``: proves every provider's credentials cheaply and starts no big export."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from tap_exports.engine.stream import BulkExportStream
from tap_exports.instants import parse_instant
from tap_exports.providers.base import Provider
from tap_exports.providers.registry import PROVIDERS
from tap_exports.tap import TapExports
from tests.support import run_cli, sync


def configured(config: dict[str, Any]) -> list[Provider[Any]]:
    return [provider for provider in PROVIDERS if provider.configured(config)]


def bulk_streams(config) -> dict[str, bool]:
    """Bulk stream → whether a dry run reads it (its first window is small)."""
    return {
        stream.name: stream.dry_run_window() is not None
        for stream in TapExports(config=config).streams.values()
        if isinstance(stream, BulkExportStream)
    }


def test_connection_test_asks_every_provider_and_starts_no_whole_table_export(sandbox):
    config = sandbox.tap_config()
    result = run_cli(config, extra_args=("--test",))
    assert result.returncode == 0, result.stderr[-2000:]
    report = sandbox.report()
    read = bulk_streams(config)
    assert sum(report["exports_created"].values()) <= sum(read.values())
    for stream, sampled in read.items():
        assert (f"{stream}: dry run, no export started" in result.stderr) is not sampled
    for provider in configured(config):
        assert any(f" /{provider.key}/" in route for route in report["requests"]), provider.key


def test_connection_test_leaves_no_export_and_no_bookmark_in_state(sandbox):
    result = run_cli(sandbox.tap_config(), extra_args=("--test",))
    assert result.returncode == 0, result.stderr[-2000:]
    for bookmark in result.state["bookmarks"].values():
        for entry in [bookmark, *bookmark.get("partitions", [])]:
            assert "export" not in entry
            assert "replication_key_value" not in entry


def test_connection_test_fails_on_wrong_credentials_naming_the_provider(sandbox):
    config = sandbox.tap_config()
    for provider in configured(config):
        wrong = copy.deepcopy(config)
        for name in provider.credentials:
            wrong[provider.key][name] = f"wrong-{provider.key}-{name}-0000"
        result = run_cli(wrong, extra_args=("--test",))
        assert result.returncode != 0, provider.key
        assert provider.title in result.stderr
        assert f"wrong-{provider.key}" not in result.stderr
    assert sum(sandbox.report()["exports_created"].values()) == 0


def test_connection_test_creates_an_export_only_where_nothing_else_proves_access(sandbox):
    """Listings prove Mailgun, PackageX and Batch; Connect answers inline; Emarsys needs one."""
    result = run_cli(sandbox.tap_config(), extra_args=("--test",))
    assert result.returncode == 0, result.stderr[-2000:]
    assert sandbox.report()["exports_created"] == {"emarsys": 1}
    created = [line for line in result.stderr.splitlines() if "dry run, created export" in line]
    (line,) = created
    start, end = line.split(" for [")[1].split(")")[0].split(", ")
    assert parse_instant(end) - parse_instant(start) <= dt.timedelta(days=1)


def test_a_stream_deselected_or_mapped_away_creates_no_export(sandbox):
    full = sandbox.tap_config()
    config = {key: value for key, value in full.items() if not isinstance(value, dict)}
    config |= {"mailgun": full["mailgun"], "batch": full["batch"]}
    config["stream_maps"] = {"batch_events": None, "batch_profiles": "__NULL__"}
    catalog = TapExports(config=config).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] != "mailgun_bounces"
    result = sync(config, catalog=catalog)
    created = sandbox.report()["exports_created"]
    assert "batch" not in created
    bounces = [name for name in config["mailgun"]["lists"] if name.endswith("/bounces")]
    assert created["mailgun"] == len(config["mailgun"]["lists"]) - len(bounces)
    assert not result.records.get("mailgun_bounces")
    assert result.records.get("mailgun_domains")
