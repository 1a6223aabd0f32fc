"""Connect (getconnect.io): one stream per event collection, read window by window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from singer_sdk import Stream
from typing_extensions import override

from tap_exports.providers.base import Provider
from tap_exports.providers.connect.client import ConnectApi
from tap_exports.providers.connect.exports import (
    Bucket,
    ConnectCollectionExport,
    ConnectCollectionStream,
)
from tap_exports.providers.connect.settings import PROPERTIES, Collection, ConnectSettings

if TYPE_CHECKING:
    from tap_exports.tap import TapExports


class ConnectProvider(Provider[ConnectSettings]):
    """Connect's event export API."""

    key = "connect"
    title = "Connect"
    credentials = ("project_id", "api_key")
    url_settings = ("base_url", "s3_endpoint_url")
    settings_type = ConnectSettings
    properties = PROPERTIES

    @override
    def check(self, settings: ConnectSettings) -> list[str]:
        return settings.check()

    @override
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        settings = self.settings(tap.config)
        bucket = (
            Bucket(
                path=settings.s3_path,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
                endpoint_url=settings.s3_endpoint_url,
            )
            if settings.s3_path
            else None
        )
        api = ConnectApi(
            settings.base_url,
            settings.project_id,
            settings.api_key,
            secrets=(bucket.secret_access_key,) if bucket else (),
        )
        lag = dt.timedelta(seconds=settings.lag_seconds)
        return [
            ConnectCollectionStream(
                tap,
                ConnectCollectionExport(api, Collection.from_setting(item), bucket=bucket, lag=lag),
            )
            for item in settings.collections
        ]


CONNECT = ConnectProvider()
