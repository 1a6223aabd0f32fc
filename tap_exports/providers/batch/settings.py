"""Batch's settings: each default written once, read by validation and stream building."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from singer_sdk import typing as th

from tap_exports import schemas

EVENTS = (
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
IDENTIFIERS = ("custom_id", "installation_ids")
#: The fields of an event line the tap reads, by the names it assumes (Batch does not
#: document the line); ``batch.event_fields`` maps any of them to the file's own names.
EVENT_FIELDS = ("event", "timestamp", "orchestration_id", "orchestration_name")


def profile_properties() -> dict[str, Any]:
    """The identifier and native-attribute columns Batch can export, keyed by column."""
    text = resources.files(schemas).joinpath("batch_profiles.json").read_text("utf-8")
    properties: dict[str, Any] = json.loads(text)["properties"]
    return properties


NATIVE_ATTRIBUTES = tuple(f"${name}" for name in profile_properties() if name not in IDENTIFIERS)


def column(attribute: str) -> str:
    """The column an attribute loads into: native ``$language`` → ``language``."""
    return attribute.removeprefix("$")


@dataclass(frozen=True)
class BatchSettings:
    """The ``batch`` settings object; an empty list stays empty, a null one takes the default."""

    rest_api_key: str = field(default="", repr=False)
    project_key: str = field(default="", repr=False)
    base_url: str = "https://api.batch.com/2.11"
    events: Sequence[str] = EVENTS
    attributes: Sequence[str] = (
        "$email_address",
        "$language",
        "$region",
        "$timezone",
        "$last_activity",
    )
    identifiers: Sequence[str] = IDENTIFIERS
    event_fields: Mapping[str, str] = field(default_factory=dict)

    def check(self) -> list[str]:
        """Problems the settings schema cannot express."""
        errors: list[str] = [
            f"batch.event_fields: unknown field {name!r}; known: {', '.join(EVENT_FIELDS)}"
            for name in self.event_fields
            if name not in EVENT_FIELDS
        ]
        if not self.events:
            errors.append("batch.events: name at least one event")
        errors += [
            f"batch.events: unknown event {name!r}; known: {', '.join(EVENTS)}"
            for name in self.events
            if name not in EVENTS
        ]
        errors += [
            f"batch.identifiers: unknown identifier {name!r}; known: {', '.join(IDENTIFIERS)}"
            for name in self.identifiers
            if name not in IDENTIFIERS
        ]
        if not self.attributes and not self.identifiers:
            errors.append("batch.attributes: name at least one attribute or identifier")
        columns: dict[str, str] = {name: name for name in self.identifiers}
        for name in self.attributes:
            if not isinstance(name, str) or name in {"", "$"}:
                errors.append(f"batch.attributes: not an attribute name: {name!r}")
            elif name.startswith("$") and name not in NATIVE_ATTRIBUTES:
                errors.append(
                    f"batch.attributes: unknown native attribute {name!r}; "
                    f"known: {', '.join(NATIVE_ATTRIBUTES)}"
                )
            elif column(name) in columns:
                errors.append(
                    f"batch.attributes: {name!r} and {columns[column(name)]!r} would both "
                    f"load into column {column(name)!r}"
                )
            else:
                columns[column(name)] = name
        return errors


PROPERTIES = th.PropertiesList(
    th.Property(
        "rest_api_key",
        th.StringType,
        secret=True,
        description="REST API key, sent as 'Authorization: Bearer <key>'.",
    ),
    th.Property(
        "project_key",
        th.StringType,
        secret=True,
        description="Project key, sent as the X-Batch-Project header.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        default=BatchSettings.base_url,
        description="API root including the version, e.g. https://api.batch.com/2.11.",
    ),
    th.Property(
        "events",
        th.ArrayType(th.StringType),
        default=list(BatchSettings.events),
        description="Event types exported into batch_events (email_open, push_sent, "
        "...); the default is every type Batch exports.",
    ),
    th.Property(
        "attributes",
        th.ArrayType(th.StringType),
        default=list(BatchSettings.attributes),
        description="Profile attributes exported into batch_profiles: native ones start "
        "with $ (loaded without it), any other name is a custom attribute.",
    ),
    th.Property(
        "identifiers",
        th.ArrayType(th.StringType),
        default=list(BatchSettings.identifiers),
        description="Profile identifiers exported into batch_profiles: custom_id, "
        "installation_ids.",
    ),
    th.Property(
        "event_fields",
        th.ObjectType(additional_properties=th.StringType),
        description="Names of batch_events' fields in Batch's event lines, where they differ "
        "from event, timestamp, orchestration_id, orchestration_name (Batch does not "
        'document the lines), e.g. {"timestamp": "date"}.',
    ),
)
