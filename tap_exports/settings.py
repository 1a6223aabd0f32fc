"""Settings shared by every provider, and the checks run before any request."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_exports.instants import parse_instant
from tap_exports.io.chunks import CHUNK_SIZE, MAX_ROW_BYTES
from tap_exports.io.decompress import DecompressionLimits
from tap_exports.io.rows import BadRows
from tap_exports.retry_limits import RetryLimits

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SettingsT = TypeVar("SettingsT", bound="DataclassInstance")


def read_settings(settings_type: type[SettingsT], section: Mapping[str, Any]) -> SettingsT:
    """A settings dataclass from its section: a setting absent or null takes the dataclass
    default, so each default is written once, in the dataclass.
    """
    known = {field.name for field in dataclasses.fields(settings_type)}
    given = {name: value for name, value in section.items() if name in known and value is not None}
    return settings_type(**given)


@dataclass(frozen=True)
class CommonSettings:
    """The settings every provider shares."""

    start_date: str | None = None
    export_timeout_seconds: float = 3600
    poll_interval_seconds: float = 2
    poll_max_interval_seconds: float = 60
    max_concurrent_exports: int = 32
    max_retry_wait_seconds: float = RetryLimits.max_wait_seconds
    max_retry_total_seconds: float = RetryLimits.max_total_seconds
    on_bad_rows: BadRows = "fail"
    max_row_bytes: int = MAX_ROW_BYTES
    max_decompressed_bytes: int = DecompressionLimits.max_bytes
    max_compression_ratio: float = DecompressionLimits.max_ratio

    def check(self) -> list[str]:
        """Errors in the common settings, each starting with the setting's name.

        Each check guards its own types, so a value the schema refuses never hides the
        other problems.
        """
        errors: list[str] = []
        for key in (
            "max_decompressed_bytes",
            "max_compression_ratio",
            "export_timeout_seconds",
            "poll_interval_seconds",
            "poll_max_interval_seconds",
            "max_concurrent_exports",
            "max_retry_wait_seconds",
            "max_retry_total_seconds",
        ):
            value = getattr(self, key)
            if not is_number(value) or value <= 0:
                errors.append(f"{key}: must be a positive number, got {value!r}")
        rows = self.max_row_bytes
        if not is_number(rows) or rows < CHUNK_SIZE:
            errors.append(f"max_row_bytes: must be at least {CHUNK_SIZE} (1 MiB), got {rows!r}")
        low, high = self.poll_interval_seconds, self.poll_max_interval_seconds
        if is_number(low) and is_number(high) and high < low:
            errors.append(
                "poll_max_interval_seconds: must not be smaller than poll_interval_seconds"
            )
        if self.start_date:
            try:
                when = parse_instant(str(self.start_date))
            except ValueError:
                errors.append(f"start_date: not an ISO 8601 date-time: {self.start_date!r}")
            else:
                if when > dt.datetime.now(dt.UTC):
                    errors.append(f"start_date: {self.start_date} is in the future")
        return errors

    @property
    def decompression_limits(self) -> DecompressionLimits:
        """The bounds on decompressed export files."""
        return DecompressionLimits(
            max_bytes=int(self.max_decompressed_bytes),
            max_ratio=float(self.max_compression_ratio),
        )

    @property
    def retry_limits(self) -> RetryLimits:
        """How long one API call may keep retrying."""
        return RetryLimits(
            max_wait_seconds=float(self.max_retry_wait_seconds),
            max_total_seconds=float(self.max_retry_total_seconds),
        )


COMMON_SETTINGS = th.PropertiesList(
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Earliest record time to export on the first run (ISO 8601). "
        "Later runs continue from the bookmark.",
    ),
    th.Property(
        "export_timeout_seconds",
        th.NumberType,
        default=CommonSettings.export_timeout_seconds,
        description="How long one run waits for an export to be prepared before failing. "
        "The export id stays in state, so the next run resumes it.",
    ),
    th.Property(
        "poll_interval_seconds",
        th.NumberType,
        default=CommonSettings.poll_interval_seconds,
        description="First wait between two status checks of an export.",
    ),
    th.Property(
        "poll_max_interval_seconds",
        th.NumberType,
        default=CommonSettings.poll_max_interval_seconds,
        description="Longest wait between two status checks. Below it, each wait is at most "
        "a third of the time already waited (with jitter), so an export is seen at most a "
        "third of its duration late.",
    ),
    th.Property(
        "max_concurrent_exports",
        th.IntegerType,
        default=CommonSettings.max_concurrent_exports,
        description="How many exports are prepared at the same time while earlier windows "
        "and streams emit rows. Every stream's first export is created up front; the exports "
        "of later windows only while fewer than this many are being prepared.",
    ),
    th.Property(
        "max_retry_wait_seconds",
        th.NumberType,
        default=CommonSettings.max_retry_wait_seconds,
        description="Longest wait before retrying an API call; a longer Retry-After (or "
        "provider hint) is cut to this.",
    ),
    th.Property(
        "max_retry_total_seconds",
        th.NumberType,
        default=CommonSettings.max_retry_total_seconds,
        description="Longest total wait of one API call's retries; the call then fails, "
        "naming the export, and the next run resumes it.",
    ),
    th.Property(
        "on_bad_rows",
        th.StringType(allowed_values=["fail", "skip"]),
        default=CommonSettings.on_bad_rows,
        description="'fail' stops at a malformed row, naming the file and line; "
        "'skip' drops it and counts it in the log and the bad_rows metric.",
    ),
    th.Property(
        "allow_plain_http",
        th.BooleanType,
        default=False,
        description="Allow http:// (unencrypted) provider URLs to hosts other than this "
        "machine; off, such a URL is refused, since credentials would cross the network "
        "in clear.",
    ),
    th.Property(
        "max_row_bytes",
        th.IntegerType,
        default=CommonSettings.max_row_bytes,
        description="Longest row (CSV or NDJSON line, JSON array element) read, at least "
        "1 MiB; a longer one is a malformed row ('on_bad_rows'), dropped as it arrives, so "
        "memory stays a small multiple of this.",
    ),
    th.Property(
        "max_decompressed_bytes",
        th.IntegerType,
        default=CommonSettings.max_decompressed_bytes,
        description="A compressed export file that expands beyond this many bytes is refused.",
    ),
    th.Property(
        "max_compression_ratio",
        th.NumberType,
        default=CommonSettings.max_compression_ratio,
        description="A compressed export file that expands more than this many times its "
        "size is refused as a likely decompression bomb.",
    ),
)


def is_number(value: object) -> TypeGuard[int | float | Decimal]:
    """Numbers as the SDK reads them from JSON (``Decimal`` for fractions), not booleans."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def sets_anything(values: Mapping[str, Any], properties: Mapping[str, Any]) -> bool:
    """True when ``values`` gives any setting a value other than its declared default.

    Meltano hands every declared default on (``value:`` in meltano.yml), so a settings
    object holding only defaults says nothing about what the user wants.
    """
    for name, value in values.items():
        schema: Mapping[str, Any] = properties.get(name) or {}
        if isinstance(value, Mapping) and "properties" in schema:
            if sets_anything(value, schema["properties"]):
                return True
        elif value is not None and value != schema.get("default"):
            return True
    return False


def http_url(value: object, setting: str, errors: list[str], *, plain_ok: bool = False) -> None:
    """Append an error unless ``value`` is an absolute http(s) URL.

    Plain ``http://`` carries the credentials in clear: only to this machine, unless
    the user said ``allow_plain_http``.
    """
    parts = urlsplit(str(value)) if isinstance(value, str) else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc:
        errors.append(f"{setting}: must be an absolute http(s) URL, got {value!r}")
    elif parts.scheme == "http" and not plain_ok and not _loopback(parts.hostname or ""):
        errors.append(
            f"{setting}: {value} would send the credentials unencrypted to another machine; "
            "use https, or set allow_plain_http: true if the network path is trusted"
        )


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_common(config: Mapping[str, Any]) -> list[str]:
    """Errors in the common settings, each starting with the setting's name."""
    return read_settings(CommonSettings, config).check()
