"""A Batch project's profiles and message events as sandbox datasets, and their NDJSON lines.

Dataset rows are flat (the ground truth tests compare with); :func:`event_line` and
:func:`profile_line` nest them the way Batch's export files do, keeping only what the
export request asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tap_exports_sandbox.data import Dataset, DatasetRegistry, Draws, Row, Value, awkward_text

EVENTS_DATASET = "batch/events"
PROFILES_DATASET = "batch/profiles"

EVENT_NAMES = (
    "email_bounced",
    "email_click",
    "email_delivered",
    "email_open",
    "email_sent",
    "email_spam_complaint",
    "email_unsubscribed",
    "sms_sent",
    "sms_bounced",
    "sms_delivered",
    "sms_unsubscribed",
    "push_sent",
    "push_bounced",
    "push_open",
)
EVENT_COLUMNS = ("custom_id", "event", "timestamp", "orchestration_id", "orchestration_name")
#: Native attributes start with ``$``; the others are the project's custom attributes.
PROFILE_COLUMNS = (
    "custom_id",
    "installation_ids",
    "$email_address",
    "$email_marketing",
    "$language",
    "$region",
    "$timezone",
    "$last_activity",
    "plan",
    "score",
    "vip",
)
PROFILE_ATTRIBUTES = PROFILE_COLUMNS[2:]

_ORCHESTRATIONS = (
    ("orch_0b5e1c2a", "Welcome series"),
    ("orch_1f9d7e44", "Weekly digest"),
    ("orch_2a6c3b90", "Cart reminder"),
    ("orch_3d8e5f12", "Spring sale 🌸"),
)
_LANGUAGES = ("en", "fr", "de", "es", "ja")
_REGIONS = ("US", "FR", "DE", "ES", "JP")
_TIMEZONES = ("America/New_York", "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Asia/Tokyo")
_PLANS = ("free", "pro", "enterprise")


def rfc3339(moment: dt.datetime) -> str:
    """Batch's date format: RFC 3339 UTC with ``Z``."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _event_row(index: int, draws: Draws, moment: dt.datetime) -> Row:
    orchestration_id, name = draws.pick(_ORCHESTRATIONS)
    odd_name = awkward_text(index)
    return (
        f"user-{draws.below(500)}",
        draws.pick(EVENT_NAMES),
        rfc3339(moment),
        orchestration_id,
        name if odd_name is None else odd_name,
    )


def _profile_row(index: int, draws: Draws, moment: dt.datetime) -> Row:
    installations = ",".join(f"inst-{index}-{n}" for n in range(draws.below(3)))
    odd_plan = awkward_text(index)
    place = draws.below(len(_LANGUAGES))
    return (
        f"user-{index}",
        installations,
        f"user.{index}@example.com",
        draws.pick(("subscribed", "unsubscribed")),
        _LANGUAGES[place],
        _REGIONS[place],
        _TIMEZONES[place],
        rfc3339(moment),
        draws.pick(_PLANS) if odd_plan is None else odd_plan,
        draws.below(10_000) / 100,
        draws.below(10) == 0,
    )


def define_datasets(datasets: DatasetRegistry) -> tuple[Dataset, Dataset]:
    """The project's events (one per row step) and profiles."""
    return (
        datasets.define(EVENTS_DATASET, EVENT_COLUMNS, _event_row),
        datasets.define(PROFILES_DATASET, PROFILE_COLUMNS, _profile_row),
    )


def event_line(
    row: Mapping[str, Value],
    identifiers: Sequence[str],
    renamed: Mapping[str, str] | None = None,
    *,
    extras: bool = False,
) -> dict[str, Any]:
    """An event as one line of an EVENTS export file, its fields ``renamed`` as asked.

    Batch does not document the line; these names are the sandbox's guess, and the
    ``renamed`` and ``extras`` switches are the other plausible shapes.
    """
    names = renamed or {}
    line: dict[str, Any] = {
        "identifiers": {"custom_id": row["custom_id"]} if "custom_id" in identifiers else {}
    }
    for name in EVENT_COLUMNS[1:]:
        line[names.get(name, name)] = row[name]
    if extras:
        line["channel"] = str(row["event"]).partition("_")[0]
        line["message"] = {"language": "en"}
    return line


def installation_ids(row: Mapping[str, Value]) -> list[str]:
    """The profile's installation ids (kept comma-joined in the dataset)."""
    value = str(row["installation_ids"] or "")
    return value.split(",") if value else []


def profile_line(
    row: Mapping[str, Value], attributes: Sequence[str], identifiers: Sequence[str]
) -> dict[str, Any]:
    """A profile as one line of an ATTRIBUTES export: only what was asked for, if known."""
    ids: dict[str, Any] = {}
    if "custom_id" in identifiers:
        ids["custom_id"] = row["custom_id"]
    if "installation_ids" in identifiers:
        ids["installation_ids"] = installation_ids(row)
    return {
        "identifiers": ids,
        "attributes": {name: row[name] for name in attributes if name in PROFILE_ATTRIBUTES},
    }
