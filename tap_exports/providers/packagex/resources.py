"""The resources PackageX exports, and how their files' rows become records.

JSON files keep PackageX's own types, with times in epoch seconds; CSV files hold
text, nested values as JSON, times in the format the tap asks for. Both end up in
the stream schema's types with times as RFC 3339, so bookmarks compare as text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_exports.engine.adapter import Row, RowTransform
from tap_exports.errors import DataError
from tap_exports.instants import format_instant, parse_instant

#: How the tap asks PackageX to write times in CSV files: UTC, RFC 3339.
CSV_FIELD_OPTIONS = {"timezone": "UTC", "datetime_format": "yyyy-MM-dd'T'HH:mm:ssXXX"}
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@")
#: What a sanitizer puts in front of such a cell to defuse it. An assumption (see
#: docs/assumptions.md): PackageX does not document how its sanitized file defuses a cell.
SANITIZING_MARKS = ("'", "\t")


@dataclass(frozen=True)
class Resource:
    """One exportable PackageX resource."""

    name: str
    #: False when PackageX cannot filter the resource on ``updated_at``: full table.
    incremental: bool = True

    @property
    def stream_name(self) -> str:
        """``shipment`` → ``packagex_shipments``."""
        return f"packagex_{self.name}s"


RESOURCES: tuple[Resource, ...] = (
    Resource("contact"),
    Resource("group"),
    Resource("fulfillment"),
    Resource("item"),
    Resource("location"),
    Resource("manifest"),
    Resource("shipment"),
    Resource("tracker"),
    # Label inferences are OCR results written once; their list has no updated_at filter.
    Resource("shipping_label_inference", incremental=False),
    Resource("asset"),
)
BY_NAME: dict[str, Resource] = {resource.name: resource for resource in RESOURCES}


def epoch_to_instant(seconds: float) -> str:
    """Epoch seconds as RFC 3339 UTC."""
    return format_instant(dt.datetime.fromtimestamp(seconds, dt.UTC))


def unsanitized(text: str) -> str:
    """A cell as it was before a sanitizer defused it: the value is data, not a formula."""
    if len(text) > 1 and text[0] in SANITIZING_MARKS and text[1] in FORMULA_PREFIXES:
        return text[1:]
    return text


def _kind(prop: Mapping[str, Any]) -> str:
    types = prop.get("type", "string")
    names = [types] if isinstance(types, str) else list(types)
    if prop.get("format") == "date-time":
        return "date-time"
    return next(
        (kind for kind in ("integer", "number", "boolean", "object", "array") if kind in names),
        "string",
    )


class RowShape:
    """Turns one resource's file rows into records of its stream schema."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.kinds = {name: _kind(prop) for name, prop in schema["properties"].items()}
        self.times = tuple(name for name, kind in self.kinds.items() if kind == "date-time")

    def from_json(self, row: Row) -> Row:
        """A JSON item: only top-level times need converting."""
        for name in self.times:
            value = row.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                row[name] = epoch_to_instant(value)
        return row

    def from_csv(self, source_name: str, *, sanitized: bool = False) -> RowTransform:
        """A transform for the CSV file ``source_name``; ``sanitized`` undoes defused cells."""
        records = 0

        def transform(row: Row) -> Row:
            nonlocal records
            records += 1
            record: Row = {}
            for name, text in row.items():
                cell = unsanitized(text) if sanitized and text else text
                try:
                    record[name] = self._cell(name, cell)
                except ValueError as exc:
                    raise DataError(
                        source_name,
                        records + 1,
                        f"column {name!r}: {cell!r} is not a valid {self.kinds.get(name)} ({exc})",
                    ) from exc
            return record

        return transform

    def _cell(self, name: str, text: str | None) -> Any:
        if not text:
            return None
        kind = self.kinds.get(name, "string")
        if kind == "date-time":
            return format_instant(parse_instant(text))
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            if text.lower() not in {"true", "false"}:
                msg = "expected true or false"
                raise ValueError(msg)
            return text.lower() == "true"
        if kind in {"object", "array"}:
            return json.loads(text)
        return text
