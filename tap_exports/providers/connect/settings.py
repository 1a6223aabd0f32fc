"""Connect's settings and collections: each default written once, read by validation and
stream building."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from singer_sdk import typing as th

from tap_exports.io.fetch import parse_s3_path

FILTER_OPERATORS = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "exists", "startsWith", "endsWith", "contains", "in"}
)
S3_SETTINGS = ("s3_path", "s3_access_key_id", "s3_secret_access_key")


@dataclass(frozen=True)
class Collection:
    """A configured collection, its optional filter and declared properties, and its stream."""

    name: str
    filter: Mapping[str, Any] | None = None
    properties: Mapping[str, Any] | None = None

    @property
    def stream_name(self) -> str:
        """``connect_<collection>``, lower case, other characters as ``_``."""
        return "connect_" + re.sub(r"[^0-9a-z]+", "_", self.name.lower()).strip("_")

    @classmethod
    def from_setting(cls, item: object) -> Collection:
        """Read one ``collections`` entry: a name, or ``{"name": ..., "filter": {...}}``."""
        name: object
        query_filter: object = None
        properties: object = None
        if isinstance(item, str):
            name = item
        elif isinstance(item, Mapping):
            name, query_filter, properties = (
                item.get(key) for key in ("name", "filter", "properties")
            )
        else:
            msg = f"expected a collection name or an object with a name, got {item!r}"
            raise TypeError(msg)
        if not isinstance(name, str) or not name.strip():
            msg = f"a collection needs a non-empty name, got {name!r}"
            raise ValueError(msg)
        if query_filter is not None and not isinstance(query_filter, Mapping):
            msg = f"the filter of {name!r} must be an object, got {query_filter!r}"
            raise ValueError(msg)
        if properties is not None and not (
            isinstance(properties, Mapping)
            and all(isinstance(schema, Mapping) for schema in properties.values())
        ):
            msg = f"the properties of {name!r} must map names to JSON schemas, got {properties!r}"
            raise ValueError(msg)
        return cls(name, query_filter or None, properties or None)


def filter_problems(collection: Collection) -> list[str]:
    """Mistakes in a filter that Connect would reject, found before any request."""
    problems = []
    for prop, condition in (collection.filter or {}).items():
        if not prop or prop.startswith(".") or prop.endswith(".") or ".." in prop:
            problems.append(f"{collection.name}: {prop!r} is not a property name")
        if isinstance(condition, Mapping):
            unknown = sorted(set(condition) - FILTER_OPERATORS)
            if unknown or not condition:
                problems.append(
                    f"{collection.name}: {prop!r} uses unknown operators {unknown} (known: "
                    f"{', '.join(sorted(FILTER_OPERATORS))}; nested properties are written a.b)"
                )
    return problems


@dataclass(frozen=True)
class ConnectSettings:
    """The ``connect`` settings object."""

    project_id: str = ""
    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.getconnect.io"
    collections: Sequence[Any] = ()
    s3_path: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = field(default="", repr=False)
    s3_endpoint_url: str | None = None
    lag_seconds: int = 60

    def check(self) -> list[str]:
        """Problems the settings schema cannot express."""
        errors = []
        if not self.collections:
            errors.append("connect.collections: name at least one collection")
        streams: dict[str, str] = {}
        for item in self.collections:
            try:
                collection = Collection.from_setting(item)
            except (TypeError, ValueError) as exc:
                errors.append(f"connect.collections: {exc}")
                continue
            errors += [f"connect.collections: {problem}" for problem in filter_problems(collection)]
            if collection.stream_name == "connect_":
                errors.append(f"connect.collections: {collection.name!r} has no letter or digit")
            other = streams.setdefault(collection.stream_name, collection.name)
            if other != collection.name:
                errors.append(
                    f"connect.collections: {collection.name!r} and {other!r} would both "
                    f"be stream {collection.stream_name!r}"
                )
        given = [name for name in S3_SETTINGS if getattr(self, name)]
        if given and len(given) < len(S3_SETTINGS):
            errors += [
                f"connect.{name}: required when connect.{given[0]} is set"
                for name in S3_SETTINGS
                if name not in given
            ]
        if self.s3_path:
            try:
                parse_s3_path(self.s3_path)
            except ValueError as exc:
                errors.append(f"connect.s3_path: {exc}")
        if not isinstance(self.lag_seconds, int) or self.lag_seconds < 0:
            errors.append(
                f"connect.lag_seconds: must be a whole number >= 0, got {self.lag_seconds!r}"
            )
        return errors


COLLECTION = th.CustomType(
    {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "filter": {"type": "object"},
                    "properties": {"type": "object"},
                },
                "required": ["name"],
            },
        ]
    }
)
PROPERTIES = th.PropertiesList(
    th.Property("project_id", th.StringType, description="Project id (X-Project-Id)."),
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        description="A Query, Push/Query or Master key of the project (X-Api-Key).",
    ),
    th.Property("base_url", th.StringType, default=ConnectSettings.base_url),
    th.Property(
        "collections",
        th.ArrayType(COLLECTION),
        description="Collections to read, one stream connect_<collection> each: a name, "
        'or {"name": ..., "filter": {...}, "properties": {...}} with a filter in '
        "Connect's query language and the JSON schemas of the events' properties "
        "(Connect has none to discover; undeclared ones pass through untyped).",
    ),
    th.Property(
        "s3_path",
        th.StringType,
        description="Where Connect writes exports too large to answer inline, e.g. "
        "https://my-bucket.s3.amazonaws.com/exports/ or s3://my-bucket/exports/ (sent to "
        "Connect in the https form it documents); without it, such windows are split until "
        "each part fits.",
    ),
    th.Property("s3_access_key_id", th.StringType, description="Key id for s3_path."),
    th.Property(
        "s3_secret_access_key",
        th.StringType,
        secret=True,
        description="Secret key for s3_path (given to Connect to write, used to read).",
    ),
    th.Property(
        "s3_endpoint_url",
        th.StringType,
        description="Endpoint of an S3-compatible store holding s3_path (not AWS).",
    ),
    th.Property(
        "lag_seconds",
        th.IntegerType,
        default=ConnectSettings.lag_seconds,
        description="Each run stops this far before now, leaving events that may "
        "still be arriving to the next run.",
    ),
)
