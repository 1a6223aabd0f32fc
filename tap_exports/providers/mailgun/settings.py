"""Mailgun's settings: each default written once, read by validation and stream building."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from singer_sdk import typing as th

LIST_KINDS = ("domains", "bounces", "unsubscribes", "complaints")


def list_kind(list_url: str) -> tuple[str, str | None]:
    """``/v3/domains`` → ``("domains", None)``; ``/v3/d.com/bounces`` → ``("bounces", "d.com")``."""
    parts = [part for part in list_url.strip("/").split("/") if part]
    if parts[:1] == ["v3"]:
        parts = parts[1:]
    if parts == ["domains"]:
        return "domains", None
    if len(parts) == 2 and parts[1] in LIST_KINDS[1:]:
        return parts[1], parts[0]
    msg = f"not an exportable list: {list_url!r}"
    raise ValueError(msg)


@dataclass(frozen=True)
class MailgunSettings:
    """The ``mailgun`` settings object."""

    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.mailgun.net"
    lists: Sequence[str] = ("/v3/domains",)

    def check(self) -> list[str]:
        """Problems the settings schema cannot express."""
        errors = [] if self.lists else ["mailgun.lists: name at least one list"]
        for url in self.lists:
            try:
                list_kind(str(url))
            except ValueError as exc:
                errors.append(f"mailgun.lists: {exc}")
        return errors


PROPERTIES = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        description="Private API key (HTTP Basic auth as user 'api').",
    ),
    th.Property(
        "base_url",
        th.StringType,
        default=MailgunSettings.base_url,
        description="API host; https://api.eu.mailgun.net for EU accounts.",
    ),
    th.Property(
        "lists",
        th.ArrayType(th.StringType),
        default=list(MailgunSettings.lists),
        description="Lists to export, e.g. /v3/domains, /v3/<domain>/bounces, "
        "/v3/<domain>/unsubscribes, /v3/<domain>/complaints.",
    ),
)
