"""Batch project switches the sandbox can emulate (providers.md §4)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchOptions:
    """How the emulated Batch project behaves.

    A file part is closed once it holds ``part_max_bytes`` of NDJSON (Batch's own limit
    is 100 MB; the default is small so that sandbox exports come in several parts).
    ``gzip=True`` compresses every part, which Batch does not document either way.
    """

    rest_api_key: str = "rest_sandbox_batch_0123456789abcdef"
    project_key: str = "project_sandbox_batch_0123456789"
    api_version: str = "2.11"
    link_ttl_seconds: int = 20 * 60
    lookback_days: int = 90
    list_retention_days: int = 120
    part_max_bytes: int = 64 * 1024
    gzip: bool = False
