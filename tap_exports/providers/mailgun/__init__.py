"""Mailgun: account-level exports of any list (``POST /v3/exports``), CSV via a 302 to S3.

The export API was dropped from Mailgun's public documentation in 2019 but is still
implemented by its official SDK; exports cannot be filtered, so every run exports
the whole list and the engine keeps only rows newer than the bookmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from singer_sdk import Stream
from typing_extensions import override

from tap_exports.providers.base import Provider
from tap_exports.providers.mailgun.client import MailgunApi
from tap_exports.providers.mailgun.exports import BULK_STREAMS
from tap_exports.providers.mailgun.listing import MailgunExportsStream
from tap_exports.providers.mailgun.settings import PROPERTIES, MailgunSettings, list_kind

if TYPE_CHECKING:
    from tap_exports.tap import TapExports


class MailgunProvider(Provider[MailgunSettings]):
    """Mailgun's (legacy) Exports API."""

    key = "mailgun"
    title = "Mailgun"
    credentials = ("api_key",)
    settings_type = MailgunSettings
    properties = PROPERTIES

    @override
    def check(self, settings: MailgunSettings) -> list[str]:
        return settings.check()

    @override
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        settings = self.settings(tap.config)
        api = MailgunApi(settings.base_url, settings.api_key)
        lists = [str(url) for url in settings.lists]
        by_kind: dict[str, list[str]] = {}
        for url in lists:
            by_kind.setdefault(list_kind(url)[0], []).append(url)
        streams: list[Stream] = [MailgunExportsStream(tap, api, lists)]
        streams += [BULK_STREAMS[kind](tap, api, urls) for kind, urls in by_kind.items()]
        return streams


MAILGUN = MailgunProvider()
