"""Every use of singer-sdk's private API, one line each on why.

The rest of the tap speaks to the SDK through its public API and the named methods
below. The SDK is pinned in ``pyproject.toml`` to the range these were tested with;
after changing it, run ``tests/engine/test_bulk_writer.py`` first (the bulk writer
against the SDK's own record path, message by message), then the whole suite.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from types import FrameType
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError

# The type of ``batch_config``, which the SDK exposes only from a private module.
from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig

# Deselection of nested properties exactly as the SDK's record path does it.
from singer_sdk.helpers._catalog import pop_deselected_record_properties

# Conformance of nested values and the boolean rule, decided once per stream.
from singer_sdk.helpers._typing import (
    _conform_record_data_types as conform_record_data_types,
)
from singer_sdk.helpers._typing import _is_exclusive_boolean_type as is_exclusive_boolean_type
from singer_sdk.helpers.types import Context
from typing_extensions import override

__all__ = [
    "BatchConfig",
    "ExportStreamHooks",
    "ExportTapHooks",
    "conform_record_data_types",
    "finalize_state",
    "is_exclusive_boolean_type",
    "pop_deselected_record_properties",
    "stream_version",
    "tap_of",
    "write_batch_message",
    "write_starting_replication_value",
    "write_state",
]

Row = dict[str, Any]


def stream_version(stream: Stream) -> int | None:
    """The ``version`` every RECORD of a full-table stream carries (framed once per stream)."""
    return stream._stream_version


def tap_of(stream: Stream) -> Tap:
    """The tap a stream belongs to: a connection test looks at a provider's other streams."""
    return stream._tap


def write_state(stream: Stream) -> None:
    """A STATE message now: at every checkpoint, not only where the SDK's loop writes one."""
    stream._write_state_message()


def write_batch_message(
    stream: Stream, encoding: BaseBatchFileEncoding, manifest: list[str]
) -> None:
    """A BATCH message for a file the bulk writer has closed."""
    stream._write_batch_message(encoding=encoding, manifest=manifest)


def write_starting_replication_value(stream: Stream, context: Context | None) -> None:
    """What the SDK's loop does before a partition's first record."""
    stream._write_starting_replication_value(context)


def finalize_state(stream: Stream, state: dict[str, Any]) -> None:
    """What the SDK's loop does after a partition's last record (progress markers)."""
    stream._finalize_state(state)


class ExportStreamHooks(Stream):
    """The SDK's private stream hooks, overridden here and handed to named methods."""

    def bulk_applies(self, *, write_messages: bool) -> bool:
        """True when :meth:`sync_records_in_bulk` replaces the SDK's per-row loop."""
        return False

    def sync_records_in_bulk(self, context: Context | None) -> None:
        """Write every record of ``context`` as RECORD messages."""
        raise NotImplementedError

    def sync_batches_in_bulk(self, batch_config: BatchConfig, context: Context | None) -> bool:
        """Write every record of ``context`` to BATCH files; False leaves it to the SDK."""
        return False

    # The SDK's per-row record loop; the bulk sinks replace it.
    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[Row, Any, Any]:
        if not self.bulk_applies(write_messages=write_messages):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        self.sync_records_in_bulk(context)

    # The SDK's BATCH loop, which would read every record through the per-row path.
    @override
    def _sync_batches(self, batch_config: BatchConfig, context: Context | None = None) -> None:
        if not self.sync_batches_in_bulk(batch_config, context):
            super()._sync_batches(batch_config, context)

    # The SDK copies the partition's keys into each record; rows keep exactly the schema's.
    @override
    def _process_record(
        self,
        record: Row,
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Nothing to add: rows keep exactly the schema's fields."""

    # The SDK moves bookmarks per row; an export's bookmark moves when its window closes.
    @override
    def _increment_stream_state(
        self, latest_record: Row, *, context: Context | None = None
    ) -> None:
        """Nothing per row: the runner moves the bookmark when a window is complete."""


class ExportTapHooks(Tap):
    """The SDK's private tap hooks and final entry points, handed to named methods."""

    def config_errors(self) -> list[str]:
        """Every problem of the settings, schema included, each naming its setting."""
        return []

    def on_termination(self, signum: int) -> None:
        """A termination signal arrived."""

    def before_sync(self, streams: Iterable[Stream], *, dry_run: bool) -> None:
        """Called before the first stream of a sync (or of a dry run) is read."""

    def after_sync(self) -> None:
        """Called however a sync (or a dry run) ends."""

    # The only hook where a tap's own checks run, in every mode, before any request; the
    # SDK's own pass only fills in the schema's defaults (config_errors reports its findings).
    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        super()._validate_config(raise_errors=False)
        errors = self.config_errors()
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

    # The SDK's handler writes the in-memory state and exits 0, counting unsent records.
    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_termination(signum)

    # Final in the SDK, which has no hook before the first stream; wrapped, not changed.
    @override  # type: ignore[misc]
    def sync_all(self) -> None:
        try:
            self.before_sync(self.streams.values(), dry_run=False)
            super().sync_all()
        finally:
            self.after_sync()

    # Final in the SDK, as sync_all; wrapped, not changed.
    @override  # type: ignore[misc]
    def run_sync_dry_run(
        self, dry_run_record_limit: int | None = 1, streams: Iterable[Stream] | None = None
    ) -> bool:
        tested = list(self.streams.values() if streams is None else streams)
        try:
            self.before_sync(tested, dry_run=True)
            return super().run_sync_dry_run(dry_run_record_limit, tested)
        finally:
            self.after_sync()
