"""Batch project switches the sandbox can emulate (providers.md §4)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchOptions:
    """How the emulated Batch project behaves.

    A file part is closed once it holds ``part_max_bytes`` of NDJSON (Batch's own limit
    is 100 MB; the default is small so that sandbox exports come in several parts).
    ``gzip=True`` compresses every part, which Batch does not document either way.

    Where the documents are silent: an event line's shape is undocumented, so
    ``event_fields`` renames its fields (``(("timestamp", "date"),)``) and
    ``event_extras=True`` adds fields no one asked for; ``download_version`` serves the
    download route only under another API version, which ``files[].url`` names (Batch's
    examples show 2.4 links), so only a client using each URL as returned reads the
    files; ``unknown_export_status`` answers a view or download of an unknown id (400,
    "malformed", is among the documented answers; 404 is not);
    ``missing_project_status`` answers a call without ``X-Batch-Project``.
    """

    rest_api_key: str = "rest_sandbox_batch_0123456789abcdef"
    project_key: str = "project_sandbox_batch_0123456789"
    api_version: str = "2.11"
    link_ttl_seconds: int = 20 * 60
    lookback_days: int = 90
    list_retention_days: int = 120
    part_max_bytes: int = 64 * 1024
    gzip: bool = False
    event_fields: tuple[tuple[str, str], ...] = ()
    event_extras: bool = False
    download_version: str | None = None
    unknown_export_status: int = 400
    missing_project_status: int = 401
