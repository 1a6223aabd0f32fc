"""Connect collections as sandbox datasets: event shapes, timeframes, and JSON rendering.

Columns with dotted names are nested properties (``customer.tier``), the same dotted
notation Connect's filters use, so a row is matched flat and rendered nested.
Events are ordered by ``timestamp``; a timeframe is found by bisection, so a window of
a collection of millions is located without reading the rows before it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tap_exports_sandbox.data import Dataset, DatasetRegistry, Draws, Row, RowMaker, awkward_text

CHUNK_BYTES = 64 * 1024
_PRODUCTS = ("Banana", "Coffee beans", "Notebook", "Desk lamp", "Headphones", "Bicycle bell")
_NAMES = ("Alice", "Bob", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gustavo", "Hana")
_TIERS = ("free", "silver", "gold")
_BROWSERS = ("Chrome", "Firefox", "Safari", "Edge")
_PAGES = ("/", "/pricing", "/docs/start", "/blog/launch", "/search?q=caf%C3%A9")


@dataclass(frozen=True)
class ConnectOptions:
    """The emulated Connect project.

    ``inline_limit`` is how many events ``GET /events/:collection/export`` answers
    before it says 413 (10,000 at Connect; tests lower it to exercise the S3 path
    with small collections). ``any_s3_path=True`` accepts ``s3://`` and path-style
    locations as ``s3Path`` too; Connect documents the
    ``https://<bucket>.s3.amazonaws.com/<prefix>/`` form only, and by default the
    sandbox refuses the others with 422.
    """

    project_id: str = "sandbox-project"
    api_key: str = "sandbox-connect-query-key-0123456789"
    collections: tuple[str, ...] = ("purchases", "pageviews")
    inline_limit: int = 10_000
    bucket: str = "connect-exports"
    prefix: str = "exports/"
    any_s3_path: bool = False


def event_id(draws: Draws) -> str:
    """A GUID-shaped id drawn from the row's hash."""
    digits = "".join(f"{draws.below(1 << 16):04x}" for _ in range(8))
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def event_time(moment: dt.datetime) -> dt.datetime:
    """Connect keeps timestamps to the millisecond."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: dt.datetime) -> str:
    """``2015-06-16T04:40:26.123Z``."""
    return f"{moment.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _purchase(index: int, draws: Draws, moment: dt.datetime) -> Row:
    return (
        event_id(draws),
        iso(event_time(moment)),
        draws.pick(_PRODUCTS),
        draws.below(100_000) / 100,
        1 + draws.below(5),
        draws.below(10) != 0,
        f"c-{draws.below(5000)}",
        draws.pick(_NAMES),
        draws.pick(_TIERS),
        awkward_text(index),
    )


def _pageview(index: int, draws: Draws, moment: dt.datetime) -> Row:
    return (
        event_id(draws),
        iso(event_time(moment)),
        draws.pick(_PAGES),
        draws.pick(_BROWSERS),
        draws.below(60_000),
        f"s-{index // 7}",
        None if index % 3 else "https://example.com/?ref=" + str(draws.below(100)),
    )


Types = dict[str, str | list[str]]
"""JSON types of a collection's columns, in column order."""

SHAPES: dict[str, tuple[Types, RowMaker]] = {
    "purchases": (
        {
            "id": "string",
            "timestamp": "string",
            "product": "string",
            "price": "number",
            "quantity": "integer",
            "paid": "boolean",
            "customer.id": "string",
            "customer.firstName": "string",
            "customer.tier": "string",
            "note": ["string", "null"],
        },
        _purchase,
    ),
    "pageviews": (
        {
            "id": "string",
            "timestamp": "string",
            "url": "string",
            "browser": "string",
            "durationMs": "integer",
            "session.id": "string",
            "referrer": ["string", "null"],
        },
        _pageview,
    ),
}


class EventCollection:
    """One collection of the project, backed by a dataset."""

    def __init__(self, name: str, dataset: Dataset, types: Types) -> None:
        self.name = name
        self.dataset = dataset
        self.types = types
        self._paths = [column.split(".") for column in dataset.columns]

    def properties(self) -> dict[str, Any]:
        """The events' properties as JSON Schema, nested like the events."""
        schema: dict[str, Any] = {}
        for path, json_type in zip(self._paths, self.types.values(), strict=True):
            node = schema
            for part in path[:-1]:
                node = node.setdefault(part, {"type": "object", "properties": {}})["properties"]
            node[path[-1]] = {"type": json_type}
        return schema

    @property
    def stream(self) -> str:
        """The tap stream this collection feeds."""
        return f"connect_{self.name}"

    def span(self, start: dt.datetime | None, end: dt.datetime | None) -> range:
        """Indexes of the events with ``start <= timestamp < end`` (either side open)."""
        size = self.dataset.size

        def moment(index: int) -> dt.datetime:
            return event_time(self.dataset.timestamp(index))

        first = 0 if start is None else bisect.bisect_left(range(size), start, key=moment)
        stop = size if end is None else bisect.bisect_left(range(size), end, key=moment)
        return range(first, max(first, stop))

    def flat(self, indexes: range) -> Iterator[dict[str, Any]]:
        """Events as flat mappings keyed by dotted column names (for filters)."""
        yield from self.dataset.rows(indexes.start, indexes.stop)

    def nest(self, flat: dict[str, Any]) -> dict[str, Any]:
        """A flat event as Connect returns it: dotted names become nested objects."""
        event: dict[str, Any] = {}
        for path, value in zip(self._paths, flat.values(), strict=True):
            node = event
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return event

    def events(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Events ``[start, stop)`` as Connect returns them: the ground truth of tests."""
        return map(self.nest, self.dataset.rows(start, stop))


def define_collections(
    datasets: DatasetRegistry, names: Iterable[str]
) -> dict[str, EventCollection]:
    """The project's collections (``connect/<name>`` datasets), by name."""
    collections = {}
    for name in names:
        if name not in SHAPES:
            msg = f"the sandbox has no Connect collection shape {name!r} (known: {list(SHAPES)})"
            raise ValueError(msg)
        types, make_row = SHAPES[name]
        dataset = datasets.define(f"connect/{name}", tuple(types), make_row)
        collections[name] = EventCollection(name, dataset, types)
    return collections


def json_chunks(
    events: Iterable[dict[str, Any]],
    *,
    separator: bytes,
    head: bytes = b"",
    tail: bytes = b"",
    malformed_after: Collection[int] = (),
) -> Iterator[bytes]:
    """Encode ``events`` one by one into ~64 KiB chunks (``separator`` between events).

    ``tail`` closes a non-empty output (an empty NDJSON file stays empty);
    ``malformed_after`` inserts, after each listed event, a line that is not JSON.
    """
    buffer = bytearray(head)
    index = -1
    for index, event in enumerate(events):
        if index:
            buffer += separator
        buffer += json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        if index in malformed_after:
            buffer += separator + b'{"id": "malformed'
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if head or index >= 0:
        buffer += tail
    if buffer:
        yield bytes(buffer)
