"""PackageX: asynchronous exports of its resources, pre-signed JSON and CSV files.

Streams: ``packagex_exports`` (the export list), one bulk stream per configured
resource (``packagex_shipments``, ...), and ``packagex_export_issues`` (rows an
export could not deliver).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk import typing as th
from typing_extensions import override

from tap_exports.providers.base import Provider
from tap_exports.providers.packagex.api import PackageXApi
from tap_exports.providers.packagex.exports import SCHEMAS, ResourceStream
from tap_exports.providers.packagex.listing import ExportIssuesStream, ExportsStream
from tap_exports.providers.packagex.resources import BY_NAME, RESOURCES, RowShape

if TYPE_CHECKING:
    from tap_exports.tap import TapExports

DEFAULT_BASE_URL = "https://api.packagex.io"
FILE_FORMATS = ("json", "csv")
EXPORT_STATUSES = ("queued", "processing", "completed", "failed", "timed_out")


def unknown_words(
    setting: str, words: Sequence[object], known: Sequence[str], errors: list[str]
) -> None:
    """Append an error naming the words of ``words`` that are not in ``known``."""
    unknown = [str(word) for word in words if word not in known]
    if unknown:
        errors.append(f"{setting}: unknown {', '.join(unknown)}; known: {', '.join(known)}")


class PackageXProvider(Provider):
    """PackageX's Exports API (``/v1/exports``)."""

    key = "packagex"
    title = "PackageX"
    credentials = ("api_key",)

    @property
    @override
    def settings(self) -> th.PropertiesList:
        return th.PropertiesList(
            th.Property(
                "api_key",
                th.StringType,
                secret=True,
                description="API key, sent in the PX-API-KEY header; it must be scoped to "
                "the Exports API.",
            ),
            th.Property(
                "base_url",
                th.StringType,
                default=DEFAULT_BASE_URL,
                description="API host (https://sandbox--api.packagex.io for the sandbox "
                "environment).",
            ),
            th.Property(
                "resources",
                th.ArrayType(th.StringType),
                default=[resource.name for resource in RESOURCES],
                description="Resources to export, one stream each (packagex_<resource>s): "
                + ", ".join(resource.name for resource in RESOURCES)
                + ".",
            ),
            th.Property(
                "file_format",
                th.StringType(allowed_values=list(FILE_FORMATS)),
                default="json",
                description="Which export file to read: 'json' keeps PackageX's types "
                "(the CSV file is read when an export has no JSON file); 'csv' reads "
                "the CSV file, where an empty text and a null both load as null.",
            ),
            th.Property(
                "export_statuses",
                th.ArrayType(th.StringType),
                description="Only list exports in these statuses in packagex_exports ("
                + ", ".join(EXPORT_STATUSES)
                + "); all when unset. packagex_export_issues reads the completed ones.",
            ),
        )

    @override
    def validate_section(self, section: Mapping[str, Any]) -> list[str]:
        errors: list[str] = []
        resources = section.get("resources")
        if resources is not None:
            if not resources:
                errors.append("packagex.resources: name at least one resource")
            if len(set(resources)) != len(resources):
                errors.append("packagex.resources: a resource is listed twice")
            unknown_words("packagex.resources", resources, tuple(BY_NAME), errors)
        unknown_words(
            "packagex.export_statuses",
            section.get("export_statuses") or (),
            EXPORT_STATUSES,
            errors,
        )
        return errors

    @override
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        section = self.section(tap.config)
        api = PackageXApi(str(section.get("base_url") or DEFAULT_BASE_URL), str(section["api_key"]))
        resources = [BY_NAME[name] for name in section.get("resources") or BY_NAME]
        file_format = str(section.get("file_format") or "json")
        shapes = {
            resource.name: RowShape(SCHEMAS.get_schema(resource.stream_name))
            for resource in resources
        }
        streams: list[Stream] = [
            ResourceStream(tap, api, resource, shapes[resource.name], file_format)
            for resource in resources
        ]
        exports = ExportsStream(
            tap,
            api,
            [resource.name for resource in resources],
            section.get("export_statuses") or (),
        )
        return [*streams, exports, ExportIssuesStream(tap, api, shapes)]


PACKAGEX = PackageXProvider()
