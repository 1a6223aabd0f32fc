"""PackageX: asynchronous exports of its resources, pre-signed JSON and CSV files.

Streams: ``packagex_exports`` (the export list), one bulk stream per configured
resource (``packagex_shipments``, ...), and ``packagex_export_issues`` (rows an
export could not deliver).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from singer_sdk import Stream
from typing_extensions import override

from tap_exports.providers.base import Provider
from tap_exports.providers.packagex.client import PackageXApi
from tap_exports.providers.packagex.exports import SCHEMAS, ResourceStream
from tap_exports.providers.packagex.listing import ExportIssuesStream, ExportsStream
from tap_exports.providers.packagex.resources import BY_NAME, RowShape
from tap_exports.providers.packagex.settings import PROPERTIES, PackageXSettings

if TYPE_CHECKING:
    from tap_exports.tap import TapExports


class PackageXProvider(Provider[PackageXSettings]):
    """PackageX's Exports API (``/v1/exports``)."""

    key = "packagex"
    title = "PackageX"
    credentials = ("api_key",)
    settings_type = PackageXSettings
    properties = PROPERTIES

    @override
    def check(self, settings: PackageXSettings) -> list[str]:
        return settings.check()

    @override
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        settings = self.settings(tap.config)
        api = PackageXApi(settings.base_url, settings.api_key)
        resources = [BY_NAME[name] for name in settings.resources]
        shapes = {
            resource.name: RowShape(SCHEMAS.get_schema(resource.stream_name))
            for resource in resources
        }
        streams: list[Stream] = [
            ResourceStream(tap, api, resource, shapes[resource.name], settings.file_format)
            for resource in resources
        ]
        exports = ExportsStream(
            tap, api, [resource.name for resource in resources], settings.export_statuses
        )
        return [*streams, exports, ExportIssuesStream(tap, api, shapes)]


PACKAGEX = PackageXProvider()
