"""Settings shared by every provider, and the checks run before any request."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_exports.engine.job import parse_instant
from tap_exports.engine.retry import RetryLimits
from tap_exports.io.chunks import CHUNK_SIZE, MAX_ROW_BYTES
from tap_exports.io.decompress import DecompressionLimits

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
        default=3600,
        description="How long one run waits for an export to be prepared before failing. "
        "The export id stays in state, so the next run resumes it.",
    ),
    th.Property(
        "poll_interval_seconds",
        th.NumberType,
        default=2,
        description="First wait between two status checks of an export.",
    ),
    th.Property(
        "poll_max_interval_seconds",
        th.NumberType,
        default=60,
        description="Longest wait between two status checks. Below it, each wait is at most "
        "a third of the time already waited (with jitter), so an export is seen at most a "
        "third of its duration late.",
    ),
    th.Property(
        "max_concurrent_exports",
        th.IntegerType,
        default=4,
        description="How many exports are prepared at the same time while earlier streams "
        "emit rows.",
    ),
    th.Property(
        "max_retry_wait_seconds",
        th.NumberType,
        default=RetryLimits.max_wait_seconds,
        description="Longest wait before retrying an API call; a longer Retry-After (or "
        "provider hint) is cut to this.",
    ),
    th.Property(
        "max_retry_total_seconds",
        th.NumberType,
        default=RetryLimits.max_total_seconds,
        description="Longest total wait of one API call's retries; the call then fails, "
        "naming the export, and the next run resumes it.",
    ),
    th.Property(
        "on_bad_rows",
        th.StringType(allowed_values=["fail", "skip"]),
        default="fail",
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
        default=MAX_ROW_BYTES,
        description="Longest row (CSV or NDJSON line, JSON array element) read, at least "
        "1 MiB; a longer one is a malformed row ('on_bad_rows'), dropped as it arrives, so "
        "memory stays a small multiple of this.",
    ),
    th.Property(
        "max_decompressed_bytes",
        th.IntegerType,
        default=DecompressionLimits.max_bytes,
        description="A compressed export file that expands beyond this many bytes is refused.",
    ),
    th.Property(
        "max_compression_ratio",
        th.NumberType,
        default=DecompressionLimits.max_ratio,
        description="A compressed export file that expands more than this many times its "
        "size is refused as a likely decompression bomb.",
    ),
)


def is_number(value: object) -> TypeGuard[int | float | Decimal]:
    """Numbers as the SDK reads them from JSON (``Decimal`` for fractions), not booleans."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def positive_number(config: Mapping[str, Any], key: str, errors: list[str]) -> None:
    """Append an error when ``config[key]`` is set and not a positive number."""
    value = config.get(key)
    if value is not None and (not is_number(value) or value <= 0):
        errors.append(f"{key}: must be a positive number, got {value!r}")


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
        positive_number(config, key, errors)
    rows = config.get("max_row_bytes")
    if rows is not None and (not is_number(rows) or rows < CHUNK_SIZE):
        errors.append(f"max_row_bytes: must be at least {CHUNK_SIZE} (1 MiB), got {rows!r}")
    low, high = config.get("poll_interval_seconds"), config.get("poll_max_interval_seconds")
    if is_number(low) and is_number(high) and high < low:
        errors.append("poll_max_interval_seconds: must not be smaller than poll_interval_seconds")
    start = config.get("start_date")
    if start:
        try:
            when = parse_instant(str(start))
        except ValueError:
            errors.append(f"start_date: not an ISO 8601 date-time: {start!r}")
        else:
            if when > dt.datetime.now(dt.UTC):
                errors.append(f"start_date: {start} is in the future")
    return errors


def decompression_limits(config: Mapping[str, Any]) -> DecompressionLimits:
    """The bounds on decompressed export files, from the settings."""
    return DecompressionLimits(
        max_bytes=int(config.get("max_decompressed_bytes", DecompressionLimits.max_bytes)),
        max_ratio=float(config.get("max_compression_ratio", DecompressionLimits.max_ratio)),
    )
