"""Batch.com: profile EVENTS and ATTRIBUTES exports, multi-part NDJSON behind 20-minute links.

Streams: ``batch_exports`` (the export list), ``batch_events`` (windows on the event
time within Batch's 90-day lookback) and ``batch_profiles`` (a snapshot each run).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from singer_sdk import Stream
from typing_extensions import override

from tap_exports.providers.base import Provider
from tap_exports.providers.batch.client import BatchApi
from tap_exports.providers.batch.exports import (
    BatchEventsExport,
    BatchEventsStream,
    BatchProfilesExport,
    BatchProfilesStream,
)
from tap_exports.providers.batch.listing import BatchExportsStream
from tap_exports.providers.batch.settings import PROPERTIES, BatchSettings

if TYPE_CHECKING:
    from tap_exports.tap import TapExports


class BatchProvider(Provider[BatchSettings]):
    """Batch.com's profile export API."""

    key = "batch"
    title = "Batch"
    credentials = ("rest_api_key", "project_key")
    settings_type = BatchSettings
    properties = PROPERTIES

    @override
    def check(self, settings: BatchSettings) -> list[str]:
        return settings.check()

    @override
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        settings = self.settings(tap.config)
        api = BatchApi(settings.base_url, settings.rest_api_key, settings.project_key)
        profiles = BatchProfilesExport(api, settings.attributes, settings.identifiers)
        events = BatchEventsExport(
            api, settings.events, stream=BatchEventsStream.name, fields=settings.event_fields
        )
        return [
            BatchExportsStream(tap, api),
            BatchEventsStream(tap, events),
            BatchProfilesStream(tap, profiles),
        ]


BATCH = BatchProvider()
