"""TapExports: the Singer tap, assembled from the configured providers' streams."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

from singer_sdk import Stream
from singer_sdk import typing as th
from typing_extensions import override

from tap_exports import config_check, logredact
from tap_exports.cli_errors import explained_failures
from tap_exports.engine.emit import WholeMessageWriter
from tap_exports.engine.lifecycle import ExportPool, Timing
from tap_exports.engine.retry import PollSchedule
from tap_exports.engine.retry import configure as configure_retries
from tap_exports.engine.runtime import Runtime
from tap_exports.engine.sdk_compat import ExportTapHooks
from tap_exports.engine.signals import Interruptions
from tap_exports.engine.stream import BulkExportStream
from tap_exports.instants import parse_instant
from tap_exports.io.allocator import fix_mmap_threshold
from tap_exports.providers.registry import PROVIDERS
from tap_exports.settings import COMMON_SETTINGS, CommonSettings, read_settings

LOGGER = logging.getLogger("tap_exports")


class TapExports(ExportTapHooks):
    """Singer tap for SaaS asynchronous export APIs."""

    name = "tap-exports"
    message_writer_class = WholeMessageWriter
    config_jsonschema = th.PropertiesList(
        *COMMON_SETTINGS.wrapped.values(),
        *(provider.settings_property() for provider in PROVIDERS),
    ).to_dict()

    #: Discovery checks the settings as a sync does (the SDK skips the check otherwise).
    dynamic_catalog = True

    @override
    def config_errors(self) -> list[str]:
        """Every problem at once, in every mode, before any request (see config_check)."""
        for warning in config_check.unknown_settings(self.config, self.config_jsonschema):
            LOGGER.warning("%s", warning)
        return config_check.problems(self.config, self.config_jsonschema)

    @classmethod
    @override
    def invoke(cls, **kwargs: Any) -> None:
        with explained_failures(cls.logger):
            super().invoke(**kwargs)

    @classmethod
    @override
    def cb_discover(cls, ctx: Any, param: Any, value: bool) -> None:
        with explained_failures(cls.logger):
            super().cb_discover(ctx, param, value)

    @classmethod
    @override
    def cb_test(cls, ctx: Any, param: Any, value: str) -> None:
        with explained_failures(cls.logger):
            super().cb_test(ctx, param, value)

    #: Stream names in the order the providers listed them.
    _discovery_order: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        logredact.install(logredact.credential_values(self.config_jsonschema, self.config))

    @override
    def discover_streams(self) -> Sequence[Stream]:
        configure_retries(read_settings(CommonSettings, self.config).retry_limits)
        streams = [
            stream
            for provider in PROVIDERS
            if provider.configured(self.config)
            for stream in provider.streams(self)
        ]
        self._discovery_order = tuple(stream.name for stream in streams)
        return streams

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """Streams in discovery order, which is the sync order, not the SDK's alphabetical one.

        A provider lists its bulk streams before the streams that look into the
        exports those bulk streams have just made (PackageX's export issues).
        """
        order = {name: place for place, name in enumerate(self._discovery_order)}
        loaded = super().streams
        return dict(sorted(loaded.items(), key=lambda item: order.get(item[0], len(order))))

    @override
    def on_termination(self, signum: int) -> None:
        """Stop now, but never with a state that counts records the target did not get.

        The SDK writes the in-memory state and exits 0; here the signal unwinds the
        run instead (at once, or when the output being written is complete): the
        stream being read hands its buffered records on and writes the state that
        counts them (``BulkExportStream._drive``), and the process exits with
        ``128 + signum`` so the scheduler knows the run did not finish.
        """
        LOGGER.warning(
            "%s received: writing the records in hand and the state, then stopping",
            signal.Signals(signum).name,
        )
        self.runtime.interruptions.stop(signum)

    @cached_property
    def runtime(self) -> Runtime:
        """What the run's bulk streams share, from the common settings.

        A new tap is a new run: its interruptions start with no stop requested.
        """
        settings = read_settings(CommonSettings, self.config)
        return Runtime(
            interruptions=Interruptions(),
            pool=ExportPool(int(settings.max_concurrent_exports)),
            timing=Timing(
                schedule=PollSchedule(
                    initial=float(settings.poll_interval_seconds),
                    maximum=float(settings.poll_max_interval_seconds),
                ),
                timeout_seconds=float(settings.export_timeout_seconds),
            ),
            limits=settings.decompression_limits,
            max_row_bytes=int(settings.max_row_bytes),
            on_bad_rows=settings.on_bad_rows,
            start_date=parse_instant(settings.start_date) if settings.start_date else None,
        )

    @override
    def before_sync(self, streams: Iterable[Stream], *, dry_run: bool) -> None:
        """Create or resume every wanted stream's first export up front, then the
        exports of later windows while fewer than ``max_concurrent_exports`` are being
        prepared; a dry run only asks each provider to check its requests (``preflight``).

        Providers then prepare their files in parallel while earlier streams emit, and
        refuse invalid requests before any row is out.
        """
        if not dry_run:
            # Large buffers are kept out of the heap from here on, so memory stays flat
            # however many rows follow.
            fix_mmap_threshold()
        bulk = [stream for stream in streams if isinstance(stream, BulkExportStream)]
        if dry_run:
            for stream in bulk:
                stream.preflight()
            return
        wanted = [stream for stream in bulk if stream.wanted]
        for stream in wanted:
            stream.prepare()
        self.runtime.ahead.extend(stream.prepare_ahead for stream in wanted)
        self.runtime.look_ahead()

    @override
    def after_sync(self) -> None:
        """However the run ends, the waits still polling stop with it, not at their timeout."""
        self.runtime.pool.shutdown()
