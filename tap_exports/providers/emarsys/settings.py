"""Emarsys' settings: each default written once, read by validation and stream building."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from singer_sdk import typing as th

from tap_exports.io.ftp import FtpLogin
from tap_exports.providers.emarsys.kinds import KINDS, RESPONSE_ANALYSIS_FIELDS

#: Fields Emarsys refuses in exports (visit and e-mail statistics, user status, source).
FORBIDDEN_FIELDS = frozenset({27, 28, 29, 32, 33})
#: ``getresponses`` takes at most 20 contact and analysis fields together.
MAX_RESPONSE_FIELDS = 20
MAX_PAGE_SIZE = 10_000_000
DEFAULT_FTP_PORT = 21


@dataclass(frozen=True)
class FtpSettings:
    """Where Emarsys uploads export files (``emarsys.ftp``)."""

    host: str
    port: int
    username: str
    password: str
    directory: str
    tls: bool
    ca_file: str | None

    def request(self) -> dict[str, Any]:
        """The ``ftp_settings`` of an export request."""
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "folder": self.directory,
        }

    def server(self) -> FtpLogin:
        """Where the tap logs in to read (or look for) the files."""
        return FtpLogin(
            self.host,
            self.port,
            self.username,
            self.password,
            self.directory,
            tls=self.tls,
            ca_file=self.ca_file,
        )


@dataclass(frozen=True)
class EmarsysSettings:
    """The ``emarsys`` settings object."""

    username: str = ""
    secret: str = field(default="", repr=False)
    base_url: str = "https://api.emarsys.net/api/v2"
    exports: Sequence[str] = tuple(KINDS)
    contact_fields: Sequence[int] = (1, 2, 3)
    distribution_method: str = "local"
    ftp: Mapping[str, Any] = field(default_factory=dict, repr=False)
    timezone: str = "Europe/Vienna"
    overlap_hours: float = 3
    window_days: int = 30
    page_size: int = 20_000

    def check(self) -> list[str]:
        """Problems the settings schema cannot express."""
        errors = []
        if not self.exports:
            errors.append("emarsys.exports: name at least one export")
        errors += [
            f"emarsys.exports: unknown export {name!r}"
            for name in self.exports
            if name not in KINDS
        ]
        errors += self._check_fields()
        if self.distribution_method == "ftp":
            errors += self._check_ftp()
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(f"emarsys.timezone: unknown timezone {self.timezone!r}")
        if self.overlap_hours < 0:
            errors.append("emarsys.overlap_hours: must not be negative")
        if self.window_days < 1:
            errors.append("emarsys.window_days: must be at least 1")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            errors.append(f"emarsys.page_size: must be between 1 and {MAX_PAGE_SIZE}")
        return errors

    def _check_fields(self) -> list[str]:
        fields = self.contact_fields
        errors = []
        if not fields:
            errors.append("emarsys.contact_fields: name at least one contact field")
        if len(set(fields)) != len(fields):
            errors.append("emarsys.contact_fields: a field is listed twice")
        forbidden = sorted(FORBIDDEN_FIELDS.intersection(fields))
        if forbidden:
            errors.append(f"emarsys.contact_fields: Emarsys does not export fields {forbidden}")
        room = MAX_RESPONSE_FIELDS - len(RESPONSE_ANALYSIS_FIELDS)
        if "responses" in self.exports and len(fields) > room:
            errors.append(
                f"emarsys.contact_fields: the responses export takes at most {room} contact fields"
            )
        return errors

    def _check_ftp(self) -> list[str]:
        errors = [
            f"emarsys.ftp.{name}: required when distribution_method is 'ftp'"
            for name in ("host", "username", "password")
            if not self.ftp.get(name)
        ]
        if not 1 <= self.ftp.get("port", DEFAULT_FTP_PORT) <= 65535:
            errors.append("emarsys.ftp.port: must be between 1 and 65535")
        ca_file = self.ftp.get("ca_file")
        if ca_file and not Path(ca_file).is_file():
            errors.append(f"emarsys.ftp.ca_file: no such file {ca_file!r}")
        return errors

    def ftp_settings(self) -> FtpSettings | None:
        """``emarsys.ftp`` when files are delivered by FTP."""
        if self.distribution_method != "ftp":
            return None
        ftp = self.ftp
        return FtpSettings(
            host=str(ftp["host"]),
            port=int(ftp.get("port") or DEFAULT_FTP_PORT),
            username=str(ftp["username"]),
            password=str(ftp["password"]),
            directory=str(ftp.get("directory") or ""),
            tls=bool(ftp.get("tls")),
            ca_file=ftp.get("ca_file"),
        )


PROPERTIES = th.PropertiesList(
    th.Property("username", th.StringType, description="WSSE API user name."),
    th.Property("secret", th.StringType, secret=True, description="WSSE API secret."),
    th.Property(
        "base_url",
        th.StringType,
        default=EmarsysSettings.base_url,
        description="Core API v2 root.",
    ),
    th.Property(
        "exports",
        th.ArrayType(th.StringType(allowed_values=list(KINDS))),
        default=list(EmarsysSettings.exports),
        description="Which exports to read: responses, registrations, contact_changes.",
    ),
    th.Property(
        "contact_fields",
        th.ArrayType(th.IntegerType),
        default=list(EmarsysSettings.contact_fields),
        description="Contact field ids to include in every row (1 first name, "
        "2 last name, 3 e-mail, ...); named after their string_id.",
    ),
    th.Property(
        "distribution_method",
        th.StringType(allowed_values=["local", "ftp"]),
        default=EmarsysSettings.distribution_method,
        description="'local' pages the file from the API; 'ftp' has Emarsys upload "
        "it to emarsys.ftp, where the tap downloads it.",
    ),
    th.Property(
        "ftp",
        th.ObjectType(
            th.Property("host", th.StringType),
            th.Property("port", th.IntegerType, default=DEFAULT_FTP_PORT),
            th.Property("username", th.StringType),
            th.Property("password", th.StringType, secret=True),
            th.Property("directory", th.StringType, default=""),
            th.Property("tls", th.BooleanType, default=False, description="FTPS."),
            th.Property(
                "ca_file",
                th.StringType,
                description="PEM file of the CA that signed the FTPS server's "
                "certificate, when it is not a public one.",
            ),
        ),
        description="The FTP server Emarsys uploads to (distribution_method 'ftp').",
    ),
    th.Property(
        "timezone",
        th.StringType,
        default=EmarsysSettings.timezone,
        description="Timezone in which Emarsys reads time_range and writes "
        "timestamps: the account's timezone.",
    ),
    th.Property(
        "overlap_hours",
        th.NumberType,
        default=EmarsysSettings.overlap_hours,
        description="Each run starts this long before its bookmark, so rows that "
        "arrived late are not missed; rows read twice keep their primary key.",
    ),
    th.Property(
        "window_days",
        th.IntegerType,
        default=EmarsysSettings.window_days,
        description="Longest time range of one export.",
    ),
    th.Property(
        "page_size",
        th.IntegerType,
        default=EmarsysSettings.page_size,
        description="Rows per request to /export/<id>/data.",
    ),
)
