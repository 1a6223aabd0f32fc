"""Mailgun account switches the sandbox can emulate (providers.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tap_exports_sandbox.encoders import CsvFormat


@dataclass(frozen=True)
class MailgunOptions:
    """How the emulated Mailgun account behaves.

    ``exports_enabled=False`` is an account without the (undocumented since 2019)
    exports feature: every ``/v3/exports`` route answers 404. ``create_returns_id=False``
    answers a create like the official mock does, ``{"message": "success"}``, so the
    tap has to find its export through the list filter.

    Where the documents are silent: ``failure_word`` is what an export that fails (a
    fault) shows; Mailgun documents no failure state, so ``None`` leaves it
    ``processing`` until it expires. ``all_tag`` is how an unsubscribe from every tag
    reads in the CSV: ``*`` as Mailgun's JSON lists show it, or ``""`` (empty).
    """

    api_key: str = "key-sandbox-mailgun-0123456789abcdef"
    domains: tuple[str, ...] = ("mg.example.com", "eu.example.org")
    exports_enabled: bool = True
    create_returns_id: bool = True
    link_ttl_seconds: int = 900
    failure_word: str | None = "failed"
    all_tag: str = "*"
    csv: CsvFormat = field(default_factory=CsvFormat)
