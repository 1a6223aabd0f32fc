"""Emarsys (Core API v2): responses, registrations and contact-change exports.

An export is requested for a ``time_range`` (see :mod:`.kinds` for how windows and
timezones are handled), polled at ``GET /export/<id>`` until ``done``, then read page
by page from ``/export/<id>/data`` or downloaded from the FTP server Emarsys uploaded
it to. Contact fields are named after their ``string_id`` in ``GET /field``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.schema.source import SchemaDirectory
from typing_extensions import override

from tap_exports import schemas
from tap_exports.engine.stream import BulkExportStream
from tap_exports.errors import ProviderError
from tap_exports.providers.base import Provider
from tap_exports.providers.emarsys.api import EmarsysApi
from tap_exports.providers.emarsys.delivery import FtpSettings
from tap_exports.providers.emarsys.exports import EmarsysExport, ExportSettings
from tap_exports.providers.emarsys.kinds import KINDS, RESPONSE_ANALYSIS_FIELDS

if TYPE_CHECKING:
    from tap_exports.tap import TapExports

SCHEMAS = SchemaDirectory(schemas)
#: Defaults of the optional settings, shared by the settings schema and their readers.
DEFAULTS: dict[str, Any] = {
    "base_url": "https://api.emarsys.net/api/v2",
    "exports": list(KINDS),
    "contact_fields": [1, 2, 3],
    "distribution_method": "local",
    "timezone": "Europe/Vienna",
    "overlap_hours": 3,
    "window_days": 30,
    "page_size": 20_000,
}
#: Fields Emarsys refuses in exports (visit and e-mail statistics, user status, source).
FORBIDDEN_FIELDS = frozenset({27, 28, 29, 32, 33})
#: ``getresponses`` takes at most 20 contact and analysis fields together.
MAX_RESPONSE_FIELDS = 20
MAX_PAGE_SIZE = 10_000_000


class EmarsysStream(BulkExportStream):
    """The rows of one export kind; the schema grows the configured contact fields."""

    def __init__(self, tap: TapExports, adapter: EmarsysExport) -> None:
        kind = adapter.kind
        schema = SCHEMAS.get_schema(kind.stream)
        contact = {name: {"type": ["string", "null"]} for name in adapter.settings.field_names}
        super().__init__(
            tap,
            adapter,
            name=kind.stream,
            schema={**schema, "properties": {**schema["properties"], **contact}},
        )
        self.primary_keys = kind.primary_keys
        self.replication_key = kind.replication_key


def field_names(api: EmarsysApi, wanted: Sequence[int], reserved: set[str]) -> tuple[str, ...]:
    """Stable property names for contact fields: their ``string_id``, else ``field_<id>``."""
    catalogue = api.call("GET", "/field")
    string_ids = {
        int(item["id"]): str(item.get("string_id") or "")
        for item in catalogue or []
        if isinstance(item, Mapping) and "id" in item
    }
    unknown = [field for field in wanted if field not in string_ids]
    if unknown:
        raise ProviderError(
            "Emarsys",
            f"emarsys.contact_fields: no field with id {', '.join(map(str, unknown))} "
            "in this account",
            hint="GET /field lists the account's fields",
        )
    names = [string_ids[field] or f"field_{field}" for field in wanted]
    return tuple(
        f"field_{field}" if names.count(name) > 1 or name in reserved else name
        for field, name in zip(wanted, names, strict=True)
    )


class EmarsysProvider(Provider):
    """Emarsys' export endpoints, signed with WSSE."""

    key = "emarsys"
    title = "Emarsys"
    credentials = ("username", "secret")

    @property
    @override
    def settings(self) -> th.PropertiesList:
        return th.PropertiesList(
            th.Property("username", th.StringType, description="WSSE API user name."),
            th.Property("secret", th.StringType, secret=True, description="WSSE API secret."),
            th.Property(
                "base_url",
                th.StringType,
                default=DEFAULTS["base_url"],
                description="Core API v2 root.",
            ),
            th.Property(
                "exports",
                th.ArrayType(th.StringType(allowed_values=list(KINDS))),
                default=DEFAULTS["exports"],
                description="Which exports to read: responses, registrations, contact_changes.",
            ),
            th.Property(
                "contact_fields",
                th.ArrayType(th.IntegerType),
                default=DEFAULTS["contact_fields"],
                description="Contact field ids to include in every row (1 first name, "
                "2 last name, 3 e-mail, ...); named after their string_id.",
            ),
            th.Property(
                "distribution_method",
                th.StringType(allowed_values=["local", "ftp"]),
                default=DEFAULTS["distribution_method"],
                description="'local' pages the file from the API; 'ftp' has Emarsys upload "
                "it to emarsys.ftp, where the tap downloads it.",
            ),
            th.Property(
                "ftp",
                th.ObjectType(
                    th.Property("host", th.StringType),
                    th.Property("port", th.IntegerType, default=21),
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
                default=DEFAULTS["timezone"],
                description="Timezone in which Emarsys reads time_range and writes "
                "timestamps: the account's timezone.",
            ),
            th.Property(
                "overlap_hours",
                th.NumberType,
                default=DEFAULTS["overlap_hours"],
                description="Each run starts this long before its bookmark, so rows that "
                "arrived late are not missed; rows read twice keep their primary key.",
            ),
            th.Property(
                "window_days",
                th.IntegerType,
                default=DEFAULTS["window_days"],
                description="Longest time range of one export.",
            ),
            th.Property(
                "page_size",
                th.IntegerType,
                default=DEFAULTS["page_size"],
                description="Rows per request to /export/<id>/data.",
            ),
        )

    @override
    def validate_section(self, section: Mapping[str, Any]) -> list[str]:
        errors = []
        exports = setting(section, "exports")
        if not exports:
            errors.append("emarsys.exports: name at least one export")
        errors += [
            f"emarsys.exports: unknown export {name!r}" for name in exports if name not in KINDS
        ]
        errors += self._check_fields(setting(section, "contact_fields"), exports)
        if setting(section, "distribution_method") == "ftp":
            errors += self._check_ftp(section.get("ftp") or {})
        try:
            ZoneInfo(str(setting(section, "timezone")))
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(f"emarsys.timezone: unknown timezone {section.get('timezone')!r}")
        if setting(section, "overlap_hours") < 0:
            errors.append("emarsys.overlap_hours: must not be negative")
        if setting(section, "window_days") < 1:
            errors.append("emarsys.window_days: must be at least 1")
        if not 1 <= setting(section, "page_size") <= MAX_PAGE_SIZE:
            errors.append(f"emarsys.page_size: must be between 1 and {MAX_PAGE_SIZE}")
        return errors

    @staticmethod
    def _check_fields(fields: Sequence[int], exports: Sequence[str]) -> list[str]:
        errors = []
        if not fields:
            errors.append("emarsys.contact_fields: name at least one contact field")
        if len(set(fields)) != len(fields):
            errors.append("emarsys.contact_fields: a field is listed twice")
        forbidden = sorted(FORBIDDEN_FIELDS.intersection(fields))
        if forbidden:
            errors.append(f"emarsys.contact_fields: Emarsys does not export fields {forbidden}")
        room = MAX_RESPONSE_FIELDS - len(RESPONSE_ANALYSIS_FIELDS)
        if "responses" in exports and len(fields) > room:
            errors.append(
                f"emarsys.contact_fields: the responses export takes at most {room} contact fields"
            )
        return errors

    @staticmethod
    def _check_ftp(ftp: Mapping[str, Any]) -> list[str]:
        errors = [
            f"emarsys.ftp.{name}: required when distribution_method is 'ftp'"
            for name in ("host", "username", "password")
            if not ftp.get(name)
        ]
        if not 1 <= ftp.get("port", 21) <= 65535:
            errors.append("emarsys.ftp.port: must be between 1 and 65535")
        ca_file = ftp.get("ca_file")
        if ca_file and not Path(ca_file).is_file():
            errors.append(f"emarsys.ftp.ca_file: no such file {ca_file!r}")
        return errors

    @override
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        section = self.section(tap.config)
        api = EmarsysApi(
            str(setting(section, "base_url")), str(section["username"]), str(section["secret"])
        )
        fields = tuple(int(field) for field in setting(section, "contact_fields"))
        kinds = [KINDS[name] for name in setting(section, "exports")]
        reserved = {"user_id", *(column for kind in kinds for column in kind.columns)}
        settings = ExportSettings(
            contact_fields=fields,
            field_names=field_names(api, fields, reserved),
            distribution_method=str(setting(section, "distribution_method")),
            ftp=ftp_settings(section),
            zone=ZoneInfo(str(setting(section, "timezone"))),
            overlap=dt.timedelta(hours=float(setting(section, "overlap_hours"))),
            window_days=int(setting(section, "window_days")),
            page_size=int(setting(section, "page_size")),
        )
        return [EmarsysStream(tap, EmarsysExport(api, kind, settings)) for kind in kinds]


def setting(section: Mapping[str, Any], name: str) -> Any:
    """An optional setting, or its default."""
    value = section.get(name)
    return DEFAULTS[name] if value is None else value


def ftp_settings(section: Mapping[str, Any]) -> FtpSettings | None:
    """``emarsys.ftp`` when files are delivered by FTP."""
    if setting(section, "distribution_method") != "ftp":
        return None
    ftp = section["ftp"]
    return FtpSettings(
        host=str(ftp["host"]),
        port=int(ftp.get("port") or 21),
        username=str(ftp["username"]),
        password=str(ftp["password"]),
        directory=str(ftp.get("directory") or ""),
        tls=bool(ftp.get("tls")),
        ca_file=ftp.get("ca_file"),
    )


EMARSYS = EmarsysProvider()
