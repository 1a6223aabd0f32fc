"""TapExports: the Singer tap, assembled from the configured providers' streams."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator, Sequence
from functools import cached_property
from types import FrameType
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_exports import config_check, logredact
from tap_exports.cli_errors import explained_failures
from tap_exports.engine.lifecycle import ExportPool, Timing
from tap_exports.engine.retry import PollSchedule, RetryLimits
from tap_exports.engine.retry import configure as configure_retries
from tap_exports.engine.signals import Interruptions
from tap_exports.engine.stream import BulkExportStream
from tap_exports.io.allocator import fix_mmap_threshold
from tap_exports.providers.registry import PROVIDERS
from tap_exports.settings import COMMON_SETTINGS

LOGGER = logging.getLogger("tap_exports")


class TapExports(Tap):
    """Singer tap for SaaS asynchronous export APIs."""

    name = "tap-exports"
    config_jsonschema = th.PropertiesList(
        *COMMON_SETTINGS.wrapped.values(),
        *(provider.settings_property() for provider in PROVIDERS),
    ).to_dict()

    #: Discovery checks the settings as a sync does (the SDK skips the check otherwise).
    dynamic_catalog = True

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Every problem at once, in every mode, before any request (see config_check)."""
        super()._validate_config(raise_errors=False)  # fills in the schema's defaults
        for warning in config_check.unknown_settings(self.config, self.config_jsonschema):
            LOGGER.warning("%s", warning)
        errors = config_check.problems(self.config, self.config_jsonschema)
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

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

    #: Steps of the run that a termination signal waits for.
    interruptions: Interruptions
    #: Stream names in the order the providers listed them.
    _discovery_order: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        logredact.install(logredact.credential_values(self.config_jsonschema, self.config))

    @override
    def _setup_signal_handlers(self) -> None:
        """A new run starts with no stop requested, then the SDK's handlers are installed."""
        self.interruptions = Interruptions()
        super()._setup_signal_handlers()

    @override
    def discover_streams(self) -> Sequence[Stream]:
        configure_retries(RetryLimits.from_config(self.config))
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
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
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
        self.interruptions.stop(signum)

    @cached_property
    def timing(self) -> Timing:
        """How the engine paces polls, from the common settings."""
        config: dict[str, Any] = dict(self.config)
        return Timing(
            schedule=PollSchedule(
                initial=float(config.get("poll_interval_seconds", 2)),
                maximum=float(config.get("poll_max_interval_seconds", 60)),
            ),
            timeout_seconds=float(config.get("export_timeout_seconds", 3600)),
        )

    @cached_property
    def export_pool(self) -> ExportPool:
        """Waits for several exports at once (``max_concurrent_exports``)."""
        return ExportPool(int(self.config.get("max_concurrent_exports", 4)))

    @contextlib.contextmanager
    def exports_prepared(self) -> Iterator[None]:
        """Prepare every selected export once; if a stream fails, stop waiting for the others.

        Without the stop, a failed run would keep polling the other streams' exports
        until their timeout before the process could exit.
        """
        try:
            self.prepare_exports()
            yield
        except GeneratorExit:
            raise
        except BaseException:
            self.export_pool.shutdown()
            raise

    def prepare_exports(self) -> None:
        """Before the first stream emits, create or resume every selected bulk stream's export.

        Large buffers are kept out of the heap from here on, so memory stays flat however
        many rows follow.
        """
        if not self.export_pool.claim_preparation():
            return
        fix_mmap_threshold()
        for stream in self.streams.values():
            if isinstance(stream, BulkExportStream) and stream.wanted:
                stream.prepare()
