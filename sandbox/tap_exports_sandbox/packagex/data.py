"""PackageX's resources as sandbox datasets, and when their rows change.

A row is a dataset tuple in the resource's top-level field order. Nested fields
(addresses, groups, tracking updates, metadata) are compact JSON text, which is also
how a CSV export spells them (PackageX's "merge" mode); times are epoch seconds.

Datasets only grow and never change a row, but PackageX rows do change. A
:class:`Timeline` gives every row its ``updated_at``: rows that appear after the
sandbox started, and rows a test touches, change at a logical time later than any
row an export has seen before, so ``updated_at > bookmark`` always finds them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_exports_sandbox.data import Dataset, DatasetRegistry, Draws, Row, Value, awkward_text

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@")
ORGANIZATION_ID = "org_4pSyzQ2mXc9RkLw7Hq"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_PEOPLE = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Barbara Liskov", "Ken Thompson")
_PLACES = (
    ("New York", "NY", "10001"),
    ("Austin", "TX", "73301"),
    ("Seattle", "WA", "98101"),
    ("Boston", "MA", "02108"),
)
_STREETS = ("Main St", "Market St", "Broadway", "Elm St")
_PHRASES = ("Leave at front desk", "Fragile", "Call on arrival", "Back office", None)
_CARRIERS = ("usps", "ups", "fedex", "dhl")
_TIMEZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles")
_EVENTS = ("label_created", "in_transit", "out_for_delivery", "delivered")
_ERRORS = (
    "field metadata exceeds the 64 KiB export limit",
    "row references a deleted location",
    "could not serialize a nested value",
)


def compact(value: object) -> str:
    """JSON text as PackageX merges nested values into a CSV cell."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def base58(number: int, width: int) -> str:
    """``number`` in PackageX's id alphabet, ``width`` characters (most significant first)."""
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 58)
        digits.append(_BASE58[digit])
    return "".join(reversed(digits))


def _id(prefix: str, index: int, draws: Draws) -> str:
    """``<prefix>_`` and 22 base58 characters; unique because the index is part of it."""
    noise = (draws.below(2**31) << 62) | (draws.below(2**31) << 31) | draws.below(2**31)
    return f"{prefix}_{base58(index, 6)}{base58(noise, 16)}"


def _text(index: int, draws: Draws, pool: tuple[str | None, ...] = _PHRASES) -> str | None:
    """The row's free text: an awkward value at a fixed stride, else a plain phrase."""
    awkward = awkward_text(index)
    return awkward if awkward is not None else draws.pick(pool)


def _address(draws: Draws) -> dict[str, str | None]:
    city, state, postal_code = draws.pick(_PLACES)
    return {
        "line1": f"{1 + draws.below(999)} {draws.pick(_STREETS)}",
        "line2": draws.pick((None, "Suite 200", "Apt 4B")),
        "city": city,
        "state": state,
        "postal_code": postal_code,
        "country": "US",
    }


def _party(index: int, draws: Draws) -> str:
    name = draws.pick(_PEOPLE)
    email = f"{name.split()[0].lower()}.{index}@example.com"
    phone = f"(555) 01{draws.below(10)}-{draws.below(10000):04d}"
    return compact({"name": name, "phone": phone, "email": email, "address": _address(draws)})


def _metadata(revision: int) -> str:
    return compact({"source": "sandbox", "revision": revision})


def _contact(index: int, draws: Draws, _created: int) -> tuple[Value, ...]:
    name = draws.pick(_PEOPLE)
    groups = [{"id": f"grp_{base58(draws.below(50), 6)}", "name": f"Team {draws.below(5)}"}]
    return (
        name,
        f"{name.split()[0].lower()}.{index}@example.com",
        f"(555) 01{draws.below(10)}-{draws.below(10000):04d}",
        compact(_address(draws)),
        compact(groups[: draws.below(2)]),
        draws.below(2) == 1,
        _text(index, draws),
        draws.pick(("usr_admin", "usr_mailroom", None)),
    )


def _group(index: int, draws: Draws, _created: int) -> tuple[Value, ...]:
    return (
        f"Team {index}",
        _text(index, draws),
        draws.pick((None, "grp_111111root00000000000")),
        draws.below(40),
    )


def _fulfillment(index: int, draws: Draws, _created: int) -> tuple[Value, ...]:
    items = [
        {"item_id": f"itm_{base58(draws.below(10**6), 8)}", "quantity": 1 + draws.below(5)}
        for _ in range(1 + draws.below(3))
    ]
    return (
        draws.pick(("pending", "picking", "packed", "shipped")),
        f"loc_{base58(draws.below(20), 6)}",
        draws.pick((None, f"shp_{base58(index, 8)}")),
        compact(items),
        _text(index, draws),
    )


def _item(index: int, draws: Draws, _created: int) -> tuple[Value, ...]:
    dimensions = {
        "length": draws.below(600) / 10,
        "width": draws.below(400) / 10,
        "height": draws.below(300) / 10,
        "unit": "in",
    }
    return (
        f"Item {index}",
        f"SKU-{index:06d}",
        _text(index, draws),
        100 + draws.below(99_900),
        "usd",
        draws.below(50_000) / 100,
        compact(dimensions),
    )


def _location(index: int, draws: Draws, _created: int) -> tuple[Value, ...]:
    return (
        f"Hub {index}",
        compact(_address(draws)),
        draws.pick(_TIMEZONES),
        draws.below(5) != 0,
        _text(index, draws),
    )


def _manifest(index: int, draws: Draws, _created: int) -> tuple[Value, ...]:
    shipments = [f"shp_{base58(draws.below(10**9), 8)}" for _ in range(draws.below(4))]
    return (
        draws.pick(("open", "closed", "picked_up")),
        f"loc_{base58(draws.below(20), 6)}",
        draws.pick(_CARRIERS),
        compact(shipments),
        _text(index, draws),
    )


def _shipment(index: int, draws: Draws, created: int) -> tuple[Value, ...]:
    return (
        f"9400{index:018d}",
        draws.pick(("pre_transit", "in_transit", "delivered", "exception")),
        draws.pick(_CARRIERS),
        300 + draws.below(9700),
        "usd",
        draws.pick((None, f"ful_{base58(index, 8)}")),
        _party(index, draws),
        _party(index + 1, draws),
        created + 86_400 * (1 + draws.below(5)),
        _text(index, draws),
    )


def _tracker(index: int, draws: Draws, created: int) -> tuple[Value, ...]:
    events = _EVENTS[: 1 + draws.below(len(_EVENTS))]
    updates = [
        {
            "event": event,
            "comment": draws.pick(("", "Scanned at facility")),
            "created_at": created + 3600 * step,
        }
        for step, event in enumerate(events)
    ]
    return (
        f"1Z{index:016d}",
        events[-1],
        draws.pick(_CARRIERS),
        draws.pick((None, f"shp_{base58(index, 8)}")),
        compact(updates),
        _text(index, draws),
    )


def _inference(index: int, draws: Draws, _created: int) -> tuple[Value, ...]:
    return (
        draws.pick((None, f"9400{index:018d}")),
        draws.pick(_CARRIERS),
        draws.pick(("completed", "needs_review")),
        draws.pick(_PEOPLE),
        draws.below(10_000) / 10_000,
        _text(index, draws, ("SHIP TO", "PRIORITY MAIL", None)),
    )


def _asset(index: int, draws: Draws, _created: int) -> tuple[Value, ...]:
    return (
        f"Asset {index}",
        draws.pick(("scanner", "locker", "cart", "printer")),
        f"loc_{base58(draws.below(20), 6)}",
        f"SN{index:08d}",
        _text(index, draws),
    )


Fields = Callable[[int, Draws, int], tuple[Value, ...]]
"""A resource's own fields for row ``index`` created at the given epoch second."""


@dataclass(frozen=True)
class ResourceModel:
    """One resource: its id prefix, fields and which of them are times or nested JSON."""

    name: str
    prefix: str
    fields: tuple[str, ...]
    make: Fields
    nested: frozenset[str] = frozenset()
    extra_times: frozenset[str] = frozenset()
    #: Whether ``options.updated_at`` filters this resource's exports.
    filters_updated_at: bool = True

    @property
    def columns(self) -> tuple[str, ...]:
        """Every top-level field, in export order."""
        return (
            "id",
            "object",
            "organization_id",
            *self.fields,
            "metadata",
            "created_at",
            "updated_at",
        )

    @property
    def times(self) -> frozenset[str]:
        """Fields holding epoch seconds."""
        return self.extra_times | {"created_at", "updated_at"}

    @property
    def json_columns(self) -> frozenset[str]:
        """Fields held as JSON text."""
        return self.nested | {"metadata"}

    def row(self, index: int, draws: Draws, moment: dt.datetime) -> Row:
        """The dataset row maker: base values, never updated (``updated_at = created_at``)."""
        created = int(moment.timestamp())
        specific = self.make(index, draws, created)
        return (
            _id(self.prefix, index, draws),
            self.name,
            ORGANIZATION_ID,
            *specific,
            _metadata(0),
            created,
            created,
        )


MODELS: tuple[ResourceModel, ...] = (
    ResourceModel(
        "contact",
        "ctc",
        ("name", "email", "phone", "address", "groups", "is_primary", "notes", "updated_by"),
        _contact,
        nested=frozenset({"address", "groups"}),
    ),
    ResourceModel("group", "grp", ("name", "description", "parent_id", "contacts_count"), _group),
    ResourceModel(
        "fulfillment",
        "ful",
        ("status", "location_id", "shipment_id", "items", "notes"),
        _fulfillment,
        nested=frozenset({"items"}),
    ),
    ResourceModel(
        "item",
        "itm",
        ("name", "sku", "description", "price", "currency", "weight", "dimensions"),
        _item,
        nested=frozenset({"dimensions"}),
    ),
    ResourceModel(
        "location",
        "loc",
        ("name", "address", "timezone", "is_active", "notes"),
        _location,
        nested=frozenset({"address"}),
    ),
    ResourceModel(
        "manifest",
        "man",
        ("status", "location_id", "carrier", "shipments", "notes"),
        _manifest,
        nested=frozenset({"shipments"}),
    ),
    ResourceModel(
        "shipment",
        "shp",
        (
            "tracking_number",
            "status",
            "provider",
            "amount",
            "currency",
            "fulfillment_id",
            "sender",
            "recipient",
            "estimated_delivery_at",
            "notes",
        ),
        _shipment,
        nested=frozenset({"sender", "recipient"}),
        extra_times=frozenset({"estimated_delivery_at"}),
    ),
    ResourceModel(
        "tracker",
        "trk",
        ("tracking_number", "status", "provider", "shipment_id", "tracking_updates", "notes"),
        _tracker,
        nested=frozenset({"tracking_updates"}),
    ),
    ResourceModel(
        "shipping_label_inference",
        "inf",
        ("tracking_number", "provider", "status", "recipient_name", "confidence", "raw_text"),
        _inference,
        filters_updated_at=False,
    ),
    ResourceModel(
        "asset",
        "ast",
        ("name", "asset_type", "location_id", "serial_number", "notes"),
        _asset,
    ),
)


def unsafe(row: Row) -> bool:
    """Whether PackageX excludes the row as potentially malicious: a cell reads as a formula."""
    return any(isinstance(value, str) and value.startswith(FORMULA_PREFIXES) for value in row)


def sanitize(value: Value, mark: str) -> Value:
    """A cell defused by ``mark`` (a quote or a tab, the usual ways) before a formula character."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return f"{mark}{value}"
    return value


@dataclass(frozen=True)
class Snapshot:
    """When each row last changed, as an export created at one moment sees it."""

    size: int
    eras: tuple[tuple[int, int], ...]
    touched: Mapping[int, tuple[int, int]]
    created: Callable[[int], int]

    def updated_at(self, index: int) -> int:
        """Epoch seconds of the row's last change."""
        touched = self.touched.get(index)
        return touched[0] if touched else self.base_updated_at(index)

    def base_updated_at(self, index: int) -> int:
        """The change time of an untouched row; never decreases with the index."""
        created = self.created(index)
        era = bisect.bisect_right(self.eras, (index, 2**62)) - 1
        return max(created, self.eras[era][1]) if era >= 0 else created

    def revision(self, index: int) -> int:
        """How many times a test touched the row."""
        touched = self.touched.get(index)
        return touched[1] if touched else 0


@dataclass
class Timeline:
    """The logical times rows changed at, for one resource's dataset."""

    dataset: Dataset
    _seen: int = 0
    _last: int = 0
    _eras: list[tuple[int, int]] = field(default_factory=list)
    _touched: dict[int, tuple[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._seen = self.dataset.size

    def created(self, index: int) -> int:
        """Epoch seconds of the row's creation."""
        return int(self.dataset.timestamp(index).timestamp())

    def _next_time(self) -> int:
        newest = self.created(self.dataset.size - 1) if self.dataset.size else 0
        self._last = max(self._last, newest) + 1
        return self._last

    def _observe(self) -> None:
        size = self.dataset.size
        if size > self._seen:
            self._eras.append((self._seen, self._next_time()))
        elif size < self._seen:
            self._eras = [era for era in self._eras if era[0] < size]
            self._touched = {index: seen for index, seen in self._touched.items() if index < size}
        self._seen = size

    def touch(self, indexes: range | list[int]) -> int:
        """Change rows now: a new revision in their metadata, a new ``updated_at``."""
        with self._lock:
            self._observe()
            moment = self._next_time()
            for index in indexes:
                if not 0 <= index < self.dataset.size:
                    msg = f"row {index} is not in {self.dataset.name} (size {self.dataset.size})"
                    raise IndexError(msg)
                self._touched[index] = (moment, self.revision_of(index) + 1)
            return moment

    def revision_of(self, index: int) -> int:
        """Revision of a row right now (callers hold the lock)."""
        touched = self._touched.get(index)
        return touched[1] if touched else 0

    def snapshot(self) -> Snapshot:
        """The rows as they are now; later changes do not affect it."""
        with self._lock:
            self._observe()
            return Snapshot(self._seen, tuple(self._eras), dict(self._touched), self.created)

    def reset(self) -> None:
        """Forget every change (the dataset's size is observed afresh)."""
        with self._lock:
            self._eras.clear()
            self._touched.clear()
            self._last = 0
            self._seen = self.dataset.size


@dataclass(frozen=True)
class Resource:
    """A resource's model, dataset and timeline."""

    model: ResourceModel
    dataset: Dataset
    timeline: Timeline

    def values(self, index: int, snapshot: Snapshot) -> Row:
        """Row ``index`` as the snapshot sees it (top-level fields, nested as JSON text)."""
        row = list(self.dataset.row(index))
        revision = snapshot.revision(index)
        if revision:
            row[-3] = _metadata(revision)
        row[-1] = snapshot.updated_at(index)
        return tuple(row)

    def record(self, row: Row) -> dict[str, Any]:
        """A row as a JSON export item: nested values decoded."""
        nested = self.model.json_columns
        return {
            name: json.loads(value) if name in nested and isinstance(value, str) else value
            for name, value in zip(self.model.columns, row, strict=True)
        }

    def fails(self, index: int, error_every: int) -> str | None:
        """Why the row cannot be exported, for the rows that cannot."""
        if error_every and index % error_every == error_every // 2:
            return _ERRORS[(index // error_every) % len(_ERRORS)]
        return None


def define_resources(datasets: DatasetRegistry) -> dict[str, Resource]:
    """One dataset per resource, named ``packagex/<resource>``."""
    resources = {}
    for model in MODELS:
        dataset = datasets.define(f"packagex/{model.name}", model.columns, model.row)
        resources[model.name] = Resource(model, dataset, Timeline(dataset))
    return resources


def first_changed_after(snapshot: Snapshot, moment: int, *, inclusive: bool) -> int:
    """The first index whose untouched row changed after ``moment`` (at it, if inclusive)."""
    find = bisect.bisect_left if inclusive else bisect.bisect_right
    return find(range(snapshot.size), moment, key=snapshot.base_updated_at)


def rows_in_order(
    snapshot: Snapshot,
    keep: Callable[[int], bool],
    *,
    first: int = 0,
    order_by: str = "created_at",
    descending: bool = False,
) -> Iterator[int]:
    """Indexes of the rows ``keep`` accepts, sorted on ``order_by``, never held all at once.

    Untouched rows before ``first`` are known not to match (see
    :func:`first_changed_after`); touched rows are always looked at.
    """
    span = range(first, snapshot.size)
    untouched = (
        index for index in (reversed(span) if descending else span) if index not in snapshot.touched
    )
    key = snapshot.updated_at if order_by == "updated_at" else None
    touched = sorted(snapshot.touched, key=key, reverse=descending)
    merged = heapq.merge(untouched, touched, key=key, reverse=descending)
    return (index for index in merged if keep(index))
