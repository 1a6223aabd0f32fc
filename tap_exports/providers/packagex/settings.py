"""PackageX's settings: each default written once, read by validation and stream building."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from singer_sdk import typing as th

from tap_exports.providers.packagex.resources import BY_NAME, RESOURCES

FILE_FORMATS = ("json", "csv")
EXPORT_STATUSES = ("queued", "processing", "completed", "failed", "timed_out")


def unknown_words(
    setting: str, words: Sequence[object], known: Sequence[str], errors: list[str]
) -> None:
    """Append an error naming the words of ``words`` that are not in ``known``."""
    unknown = [str(word) for word in words if word not in known]
    if unknown:
        errors.append(f"{setting}: unknown {', '.join(unknown)}; known: {', '.join(known)}")


@dataclass(frozen=True)
class PackageXSettings:
    """The ``packagex`` settings object."""

    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.packagex.io"
    resources: Sequence[str] = tuple(resource.name for resource in RESOURCES)
    file_format: str = "json"
    export_statuses: Sequence[str] = ()

    def check(self) -> list[str]:
        """Problems the settings schema cannot express."""
        errors: list[str] = []
        if not self.resources:
            errors.append("packagex.resources: name at least one resource")
        if len(set(self.resources)) != len(self.resources):
            errors.append("packagex.resources: a resource is listed twice")
        unknown_words("packagex.resources", self.resources, tuple(BY_NAME), errors)
        unknown_words("packagex.export_statuses", self.export_statuses, EXPORT_STATUSES, errors)
        return errors


PROPERTIES = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        description="API key, sent in the PX-API-KEY header; it must be scoped to the Exports API.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        default=PackageXSettings.base_url,
        description="API host (https://sandbox--api.packagex.io for the sandbox environment).",
    ),
    th.Property(
        "resources",
        th.ArrayType(th.StringType),
        default=list(PackageXSettings.resources),
        description="Resources to export, one stream each (packagex_<resource>s): "
        + ", ".join(resource.name for resource in RESOURCES)
        + ".",
    ),
    th.Property(
        "file_format",
        th.StringType(allowed_values=list(FILE_FORMATS)),
        default=PackageXSettings.file_format,
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
