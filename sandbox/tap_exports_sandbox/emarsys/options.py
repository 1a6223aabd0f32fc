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
    ``duplicate_names_export=True`` puts the running export's id into a 4001's ``data``
    (the documents print only the message).
    ``status_of_changes=True`` answers ``GET /export/<id>`` for contact-change exports
    too (type ``Changes``); the status document supports responses and registrations
    only and answers 4002 "Invalid export type" for the others.
    ``local_ready`` is what a ``local`` export does once ``ready`` (undocumented):
    ``"until_done"`` serves ``/data`` only once ``done``, ``"served"`` serves it from
    ``ready`` on, ``"stays"`` serves it and never reaches ``done``.
    ``column_order="reversed"`` writes the file's columns in the reverse of the request
    order (the documents do not promise the request order), and
    ``honours_language=False`` ignores a request's ``language``, naming the columns in
    the account's language.
    ``rate_limit`` requests per ``rate_limit_window_seconds`` are allowed, then 429/7003.
    ``reported_ftp_host`` is the ``ftp_host`` an export's status names instead of the host
    it was given: an API that points the client's FTP login at another server.
    """

    username: str = "sandbox_emarsys"
    secret: str = "sandbox-emarsys-secret-5b1c0e7f"  # noqa: S105 - a sandbox credential
    timezone: str = "Europe/Vienna"
    language: str = "en"
    delimiter: str = ","
    header: bool = True
    data_format: str = "csv"
    errors_in_http_200: bool = False
    duplicate_names_export: bool = False
    status_of_changes: bool = False
    local_ready: str = "until_done"
    column_order: str = "request"
    honours_language: bool = True
    ready_seconds: float = 0.2
    file_retention_hours: float = 24.0
    rate_limit: int | None = None
    rate_limit_window_seconds: float = 60.0
    contact_fields: tuple[int, ...] = (1, 2, 3, 4711)
    distribution_method: str = "local"
    reported_ftp_host: str | None = None
