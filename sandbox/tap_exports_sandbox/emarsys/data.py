"""The emulated Emarsys account's data: contact fields, contacts and the three export datasets.

Dataset rows hold what the tap should emit (timestamps as RFC 3339 UTC); the emulator
renders them as Emarsys does (local time, localized headers). Contacts are not stored:
a contact's field values are a pure function of the seed and its ``user_id``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tap_exports_sandbox.data import Dataset, DatasetRegistry, Draws, Row, awkward_text

CONTACTS = 5000
_FIRST = ("Anna", "Ben", "Clara", "Dávid", "Eva", "Felix", "Grete", "Hugo", "Ida", "Jonas")
_LAST = ("Huber", "Gruber", "Bauer", "Wagner", "Müller", "Pichler", "Steiner", "Moser")
_COUNTRIES = ("Austria", "Germany", "Hungary", "France")
_TIERS = ("gold", "silver", "bronze", "")
_CAMPAIGNS = ((101, "Spring sale"), (102, "Newsletter, week 12"), (103, 'The "big" launch'))
_LINKS = (
    ("Shop now", "https://shop.example.com/?utm=mail"),
    ("Read more", "https://example.com/a;b"),
)
_SOURCES = ("click", "open", "click", "unsubscribe")


def utc_text(moment: dt.datetime) -> str:
    """A timestamp as the tap emits it: RFC 3339 UTC, whole seconds."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ContactField:
    """One field of ``GET /field``: its id, ``string_id`` and names per language."""

    id: int
    string_id: str
    names: Mapping[str, str]
    application_type: str
    value: Callable[[int, Draws], str]


def _first_name(user_id: int, draws: Draws) -> str:
    name = draws.pick(_FIRST)
    return awkward_text(user_id) or name


def _email(user_id: int, draws: Draws) -> str:
    return f"{draws.pick(_FIRST).lower()}.{user_id}@example.com"


#: The account's fields: some system fields and a custom one without a ``string_id``.
FIELDS: dict[int, ContactField] = {
    field.id: field
    for field in (
        ContactField(
            1, "first_name", {"en": "First Name", "de": "Vorname"}, "shorttext", _first_name
        ),
        ContactField(
            2,
            "last_name",
            {"en": "Last Name", "de": "Nachname"},
            "shorttext",
            lambda _user, draws: draws.pick(_LAST),
        ),
        ContactField(3, "email", {"en": "E-Mail", "de": "E-Mail"}, "longtext", _email),
        ContactField(
            4,
            "birth_date",
            {"en": "Date of Birth", "de": "Geburtsdatum"},
            "birthdate",
            lambda _user, draws: (
                f"19{50 + draws.below(50)}-0{1 + draws.below(9)}-1{draws.below(9)}"
            ),
        ),
        ContactField(
            5,
            "gender",
            {"en": "Gender", "de": "Geschlecht"},
            "singlechoice",
            lambda _user, draws: draws.pick(("1", "2", "")),
        ),
        ContactField(
            14,
            "country",
            {"en": "Country", "de": "Land"},
            "singlechoice",
            lambda _user, draws: draws.pick(_COUNTRIES),
        ),
        ContactField(
            4711,
            "",
            {"en": "Loyalty tier", "de": "Treuestufe"},
            "singlechoice",
            lambda _user, draws: draws.pick(_TIERS),
        ),
    )
}
#: Fields Emarsys refuses in exports.
UNEXPORTABLE_FIELDS = frozenset({27, 28, 29, 32, 33})


def contact_value(seed: int, user_id: int, field_id: int) -> str:
    """The value of one field of one contact, the same on every call."""
    digest = hashlib.blake2b(f"{seed}/emarsys/contact/{user_id}/{field_id}".encode()).digest()
    return FIELDS[field_id].value(user_id, Draws(digest))


def _response_row(index: int, draws: Draws, moment: dt.datetime) -> Row:
    campaign_id, title = draws.pick(_CAMPAIGNS)
    source = draws.pick(_SOURCES)
    link_title, url = draws.pick(_LINKS) if source == "click" else ("", "")
    return (
        1 + draws.below(CONTACTS),
        campaign_id,
        awkward_text(index) or title,
        link_title,
        url,
        utc_text(moment),
        source,
    )


def _registration_row(index: int, draws: Draws, moment: dt.datetime) -> Row:
    del draws
    return (100_000 + index, utc_text(moment))


def _change_row(index: int, draws: Draws, moment: dt.datetime) -> Row:
    """A changed contact, each row its own: Emarsys lists a contact once per export.

    The export holds the contact's current values, so ``user_id`` is the stream's key.
    """
    del draws
    # Emarsys sometimes leaves "last update" empty.
    return (1 + index, None if index % 50 == 7 else utc_text(moment))


@dataclass(frozen=True)
class Column:
    """A column the export adds after the contact fields: dataset column and header names."""

    source: str
    names: Mapping[str, str]
    timestamp: bool = False


#: ``getresponses`` analysis fields the emulator can export, by id.
ANALYSIS_FIELDS: dict[int, Column] = {
    1: Column("campaign_title", {"en": "Campaign title", "de": "Kampagnentitel"}),
    4: Column("link_title", {"en": "Link title", "de": "Linktitel"}),
    5: Column("url", {"en": "Url", "de": "Url"}),
    8: Column("time", {"en": "Time", "de": "Zeit"}, timestamp=True),
    12: Column("campaign_id", {"en": "Campaign ID", "de": "Kampagnen-ID"}),
}
RESPONSE_SOURCE = Column("source", {"en": "source", "de": "Quelle"})
REGISTRATION_TIME = Column(
    "registered_at", {"en": "Registration date", "de": "Registrierungsdatum"}, timestamp=True
)
LAST_UPDATE = Column("last_update", {"en": "last update", "de": "letzte Änderung"}, timestamp=True)


@dataclass(frozen=True)
class ExportType:
    """One export endpoint of the account and the dataset it exports.

    ``type_word`` is the ``type`` its status answer names; None for the kinds whose
    status ``GET /export/<id>`` does not report (it documents Responses and
    Registrations only).
    """

    key: str
    stream: str
    type_word: str | None
    file_prefix: str
    dataset: Dataset
    whole_days: bool = False


def define_exports(datasets: DatasetRegistry) -> dict[str, ExportType]:
    """The account's three export datasets, keyed by endpoint path."""
    responses = datasets.define(
        "emarsys/responses",
        ("user_id", "campaign_id", "campaign_title", "link_title", "url", "time", "source"),
        _response_row,
    )
    registrations = datasets.define(
        "emarsys/registrations", ("user_id", "registered_at"), _registration_row
    )
    changes = datasets.define("emarsys/contact_changes", ("user_id", "last_update"), _change_row)
    return {
        "/email/getresponses": ExportType(
            "responses", "emarsys_responses", "Responses", "clicks", responses
        ),
        "/contact/getregistrations": ExportType(
            "registrations",
            "emarsys_registrations",
            "Registrations",
            "registrations",
            registrations,
        ),
        "/contact/getchanges": ExportType(
            "contact_changes",
            "emarsys_contact_changes",
            None,
            "changes",
            changes,
            whole_days=True,
        ),
    }
