"""Emarsys (Core API v2): responses, registrations and contact-change exports.

An export is requested for a ``time_range`` (see :mod:`.kinds` for how windows and
timezones are handled), polled at ``GET /export/<id>`` until ``done`` (or, where that
route gives no status, until its file is served), then read page by page from
``/export/<id>/data`` or downloaded from the FTP server Emarsys uploaded it to.
Contact fields are named after their ``string_id`` in ``GET /field``, and a file's
columns are found by their English header names (:mod:`.columns`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from singer_sdk import Stream
from typing_extensions import override

from tap_exports.providers.base import Provider
from tap_exports.providers.emarsys.client import EmarsysApi
from tap_exports.providers.emarsys.columns import english_names
from tap_exports.providers.emarsys.exports import (
    EmarsysExport,
    EmarsysStream,
    ExportSettings,
    field_names,
)
from tap_exports.providers.emarsys.kinds import KINDS
from tap_exports.providers.emarsys.settings import PROPERTIES, EmarsysSettings

if TYPE_CHECKING:
    from tap_exports.tap import TapExports


class EmarsysProvider(Provider[EmarsysSettings]):
    """Emarsys' export endpoints, signed with WSSE."""

    key = "emarsys"
    title = "Emarsys"
    credentials = ("username", "secret")
    settings_type = EmarsysSettings
    properties = PROPERTIES

    @override
    def check(self, settings: EmarsysSettings) -> list[str]:
        return settings.check()

    @override
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        settings = self.settings(tap.config)
        api = EmarsysApi(settings.base_url, settings.username, settings.secret)
        fields = tuple(int(field) for field in settings.contact_fields)
        kinds = [KINDS[name] for name in settings.exports]
        reserved = {"user_id", *(column for kind in kinds for column in kind.columns)}
        export_settings = ExportSettings(
            contact_fields=fields,
            field_names=field_names(api, fields, reserved),
            field_headers=english_names(api, fields),
            distribution_method=settings.distribution_method,
            ftp=settings.ftp_settings(),
            zone=ZoneInfo(settings.timezone),
            overlap=dt.timedelta(hours=float(settings.overlap_hours)),
            window_days=settings.window_days,
            page_size=settings.page_size,
        )
        return [EmarsysStream(tap, EmarsysExport(api, kind, export_settings)) for kind in kinds]


EMARSYS = EmarsysProvider()
