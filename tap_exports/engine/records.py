"""Records built column by column, without a dict per row.

A CSV batch is cut into columns with one C-level ``zip``, or an NDJSON block decoded
into structs of the fields its lines hold (:func:`line_type`) and read field by field;
a provider reshapes the columns (:data:`~tap_exports.engine.adapter.ColumnTransform`),
and the records are msgspec structs made by one C-level ``map``: a fraction of a
dict's cost to build and to encode. The engine reads them through :func:`column`;
where a stream map or the SDK's conformance needs dicts, :func:`as_dicts` makes them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

import msgspec

Row = dict[str, Any]


def _struct(kind: str, names: tuple[str, ...], **options: Any) -> type[msgspec.Struct]:
    """A struct whose fields encode (and decode) as ``names``, in order: any text may be a
    name. ``by_name`` maps each name to its field."""
    fields = [f"f{index}" for index in range(len(names))]
    return msgspec.defstruct(
        kind,
        [(field, Any) for field in fields],
        rename=dict(zip(fields, names, strict=True)),
        gc=False,
        namespace={"by_name": dict(zip(names, fields, strict=True))},
        **options,
    )


@functools.lru_cache(maxsize=64)
def record_type(names: tuple[str, ...]) -> type[msgspec.Struct]:
    """The struct of records whose properties are ``names``, in order."""
    return _struct("Record", names)


@functools.lru_cache(maxsize=64)
def line_type(names: tuple[str, ...]) -> type[msgspec.Struct]:
    """A struct for JSON lines holding exactly the fields ``names``, whatever their values.

    Decoding into it refuses a line that lacks one of them or holds another, so a
    block it decodes whole has the same fields in every line, as columns; any other
    block is read as dicts.
    """
    return _struct("Line", names, forbid_unknown_fields=True)


def line_columns(lines: Sequence[Any]) -> dict[str, Iterable[Any]]:
    """The values of each field of ``lines`` (structs of one :func:`line_type`), by name."""
    if not lines:
        return {}
    fields = type(lines[0]).by_name
    return {name: list(map(getattr, lines, repeat(field))) for name, field in fields.items()}


def is_records(rows: Sequence[Any]) -> bool:
    """True for a batch of structs (a batch never mixes structs and dicts)."""
    return bool(rows) and type(rows[0]) is not dict


def names(rows: Sequence[Any]) -> frozenset[str]:
    """The property names of a batch of structs."""
    return frozenset(type(rows[0]).by_name) if rows else frozenset()


def column(rows: Sequence[Any], name: str) -> list[Any]:
    """The value of ``name`` in every row (None where it is missing), for dicts or structs."""
    if not is_records(rows):
        return [row.get(name) for row in rows]
    field = type(rows[0]).by_name.get(name)
    return list(map(getattr, rows, repeat(field))) if field else [None] * len(rows)


def as_dicts(rows: list[Any]) -> list[Row]:
    """The rows as dicts, for the code that needs them (stream maps, the SDK's own loop)."""
    if not is_records(rows):
        return rows
    values = msgspec.structs.astuple
    keys = list(type(rows[0]).by_name)
    return [dict(zip(keys, values(row), strict=True)) for row in rows]
