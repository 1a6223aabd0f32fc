"""The part of Connect's query language an export accepts: ``filter`` and an absolute ``timeframe``.

Export queries may hold only these two keys (providers.md §3.2). Filters follow §3.5:
``{"prop": value}`` means ``eq``, several operators on one property all apply, nested
properties are written with dots, ``id``, ``_id`` and ``tp_*`` cannot be queried.
Relative timeframes are not emulated and are refused like any other invalid query.
A broken query raises :class:`QueryError`, which the emulator answers with 422.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Event = Mapping[str, Any]
"""An event as a flat mapping: nested properties under dotted names."""
Test = Callable[[Any, bool], bool]
"""Whether a property value (and whether it is present at all) passes one condition."""


class QueryError(ValueError):
    """A query Connect would refuse: the offending field and what is wrong."""

    def __init__(self, field: str, description: str) -> None:
        self.field = field
        self.description = description
        super().__init__(f"{field}: {description}")


def _same_kind(value: Any, argument: Any) -> bool:
    number = (int, float)
    if isinstance(value, bool) or isinstance(argument, bool):
        return isinstance(value, bool) and isinstance(argument, bool)
    if isinstance(value, number) and isinstance(argument, number):
        return True
    return isinstance(value, str) and isinstance(argument, str)


def _compare(check: Callable[[Any, Any], bool]) -> Callable[[Any], Test]:
    return lambda argument: (
        lambda value, present: present and _same_kind(value, argument) and check(value, argument)
    )


def _text(check: Callable[[str, str], bool]) -> Callable[[Any], Test]:
    def build(argument: Any) -> Test:
        if not isinstance(argument, str):
            msg = "expects a string"
            raise TypeError(msg)
        return lambda value, present: present and isinstance(value, str) and check(value, argument)

    return build


def _exists(argument: Any) -> Test:
    if not isinstance(argument, bool):
        msg = "expects true or false"
        raise TypeError(msg)
    return lambda _value, present: present == argument


def _in(argument: Any) -> Test:
    if not isinstance(argument, list) or not argument:
        msg = "expects a non-empty list"
        raise TypeError(msg)
    if any(type(item) is not type(argument[0]) for item in argument):
        msg = "expects values of one type"
        raise TypeError(msg)
    return lambda value, present: (
        present and any(_same_kind(value, item) and value == item for item in argument)
    )


def _neq(argument: Any) -> Test:
    equal = _compare(lambda value, other: value == other)(argument)
    return lambda value, present: not equal(value, present)


OPERATORS: dict[str, Callable[[Any], Test]] = {
    "eq": _compare(lambda value, argument: value == argument),
    "neq": _neq,
    "gt": _compare(lambda value, argument: value > argument),
    "gte": _compare(lambda value, argument: value >= argument),
    "lt": _compare(lambda value, argument: value < argument),
    "lte": _compare(lambda value, argument: value <= argument),
    "exists": _exists,
    "startsWith": _text(str.startswith),
    "endsWith": _text(str.endswith),
    "contains": _text(lambda value, argument: argument in value),
    "in": _in,
}
_UNQUERYABLE = ("id", "_id")


def _conditions(prop: str, spec: Any) -> list[Test]:
    if not prop or any(not part for part in prop.split(".")):
        raise QueryError("filter", f"'{prop}' is not a property name")
    if prop in _UNQUERYABLE or prop.startswith("tp_"):
        raise QueryError("filter", f"'{prop}' is reserved and cannot be queried")
    if not isinstance(spec, Mapping):
        spec = {"eq": spec}
    if not spec:
        raise QueryError("filter", f"'{prop}' has no condition")
    tests = []
    for operator, argument in spec.items():
        build = OPERATORS.get(operator)
        if build is None:
            raise QueryError("filter", f"'{operator}' on '{prop}' is not a known operator")
        try:
            tests.append(build(argument))
        except TypeError as exc:
            raise QueryError("filter", f"'{operator}' on '{prop}' {exc}") from None
    return tests


def _instant(value: Any, side: str) -> dt.datetime:
    if not isinstance(value, str):
        raise QueryError("timeframe", f"'{side}' must be an ISO-8601 date-time string")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise QueryError("timeframe", f"'{side}' is not an ISO-8601 date-time: {value}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class ExportQuery:
    """A parsed export query: the ``[start, end)`` timeframe and the filter's tests."""

    start: dt.datetime | None
    end: dt.datetime | None
    tests: tuple[tuple[str, Test], ...]

    @property
    def filtered(self) -> bool:
        """True when some events of the timeframe may not match."""
        return bool(self.tests)

    def matches(self, event: Event) -> bool:
        """Whether ``event`` passes every condition of the filter."""
        return all(test(event.get(prop), prop in event) for prop, test in self.tests)

    @classmethod
    def parse(cls, query: Any) -> ExportQuery:
        """Read an export query, or raise :class:`QueryError` naming what is wrong."""
        if query is None:
            query = {}
        if not isinstance(query, Mapping):
            raise QueryError("query", "must be a JSON object")
        extra = sorted(set(query) - {"filter", "timeframe", "timezone"})
        if extra:
            raise QueryError("query", f"an export may only use filter and timeframe, not {extra}")
        start = end = None
        timeframe = query.get("timeframe")
        if timeframe is not None:
            if not isinstance(timeframe, Mapping) or set(timeframe) - {"start", "end"}:
                raise QueryError("timeframe", "only absolute timeframes {start, end} are supported")
            if "start" in timeframe:
                start = _instant(timeframe["start"], "start")
            if "end" in timeframe:
                end = _instant(timeframe["end"], "end")
            if start is not None and end is not None and end < start:
                raise QueryError("timeframe", "'end' is before 'start'")
        if "timezone" in query:
            raise QueryError("timezone", "a timezone cannot be used with an absolute timeframe")
        query_filter = query.get("filter") or {}
        if not isinstance(query_filter, Mapping):
            raise QueryError("filter", "must be a JSON object")
        tests = tuple(
            (prop, test)
            for prop, spec in query_filter.items()
            for test in _conditions(str(prop), spec)
        )
        return cls(start, end, tests)
