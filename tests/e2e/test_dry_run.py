"""``tap-exports --test``: proves every provider's credentials cheaply and starts no big export."""

from __future__ import annotations

import copy

from tap_exports.engine.stream import BulkExportStream
from tap_exports.providers.registry import PROVIDERS
from tap_exports.tap import TapExports
from tests.support import run_cli


def configured(config):
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
