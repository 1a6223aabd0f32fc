"""Emarsys account switches the sandbox can emulate (providers.md §5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmarsysOptions:
    """How the emulated Emarsys account behaves.

    ``language``, ``delimiter`` and ``header`` are the account defaults a request can
    override (``language``, ``delimiter``, ``add_field_names_header``).
    ``data_format="json"`` answers ``/export/<id>/data`` with the envelope listing the
    rows instead of a CSV file (the current OpenAPI text says so when ``limit`` is used).
    ``errors_in_http_200`` sends request errors (10001, 4001) with HTTP 200.
    ``duplicate_names_export=False`` leaves the running export's id out of a 4001.
    ``rate_limit`` requests per ``rate_limit_window_seconds`` are allowed, then 429/7003.
    """

    username: str = "sandbox_emarsys"
    secret: str = "sandbox-emarsys-secret-5b1c0e7f"  # noqa: S105 - a sandbox credential
    timezone: str = "Europe/Vienna"
    language: str = "en"
    delimiter: str = ","
    header: bool = True
    data_format: str = "csv"
    errors_in_http_200: bool = False
    duplicate_names_export: bool = True
    ready_seconds: float = 0.2
    file_retention_hours: float = 24.0
    rate_limit: int | None = None
    rate_limit_window_seconds: float = 60.0
    contact_fields: tuple[int, ...] = (1, 2, 3, 4711)
    distribution_method: str = "local"
