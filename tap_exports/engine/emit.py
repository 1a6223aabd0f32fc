"""Writing RECORD messages in bulk with the SDK's semantics decided once per stream.

The stock SDK path re-derives per row what is fixed for a whole export file:
which properties are selected, how each is conformed to the schema, whether a
stream map changes anything, and it flushes stdout after every message. Here
those decisions are made once, rows are shaped with one dict comprehension,
serialised with msgspec into a buffer, and the buffer is written in large blocks.

Semantics stay the SDK's: deselected properties and properties missing from the
schema are dropped (with one warning), boolean-only properties are conformed as
the SDK does, nested objects and arrays go through the SDK's own conformance, and
stream maps (aliases, filters, transforms, flattening) are applied by the SDK's
mapper objects. Tests compare this path with the stock one message by message.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable
from typing import Any

import msgspec
from singer_sdk import Stream
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import _conform_record_data_types, _is_exclusive_boolean_type
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform

Row = dict[str, Any]

FLUSH_BYTES = 1 << 20


def _encode_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


class RecordEmitter:
    """Buffered RECORD writer for one stream.

    :meth:`flush` must run before anything else is written to stdout (the stream's
    checkpoints do it), so the order of RECORD and STATE messages is preserved.
    """

    def __init__(self, stream: Stream, *, logger: logging.Logger) -> None:
        schema = stream.effective_schema
        properties: dict[str, Any] = schema.get("properties", {})
        mask = stream.mask
        self.stream = stream
        self.logger = logger
        self.additional = bool(schema.get("additionalProperties"))
        self.keep = frozenset(name for name in properties if mask[("properties", name)])
        self.deselected = frozenset(properties) - self.keep
        self.booleans = tuple(
            name for name in self.keep if _is_exclusive_boolean_type(properties[name])
        )
        self.nested = frozenset(
            name for name in self.keep if {"object", "array"} & set(_types(properties[name]))
        )
        self.schema = schema
        self.mask = mask
        self.unmapped_warned = False
        self.encoder = msgspec.json.Encoder(enc_hook=_encode_default, decimal_format="number")
        self.buffer = bytearray()
        self.pending = 0
        self.maps = self._maps(stream)
        self._stamp()

    def _maps(self, stream: Stream) -> list[tuple[Callable[[Row], Row | None] | None, bytes]]:
        """(transform or None for identity, message prefix) for each stream map."""
        maps: list[tuple[Callable[[Row], Row | None] | None, bytes]] = []
        version = stream._stream_version
        for stream_map in stream.stream_maps:
            if isinstance(stream_map, RemoveRecordTransform):
                continue
            identity = type(stream_map) is SameRecordTransform and not stream_map.flattening_enabled
            prefix = b'{"type":"RECORD","stream":' + msgspec.json.encode(stream_map.stream_alias)
            if version is not None:
                prefix += b',"version":' + msgspec.json.encode(version)
            maps.append((None if identity else stream_map.transform, prefix + b',"record":'))
        return maps

    def _stamp(self) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        self.suffix = b',"time_extracted":' + msgspec.json.encode(now) + b"}\n"

    def shape(self, row: Row) -> Row:
        """Select and conform one row exactly as the SDK would."""
        keep = self.keep
        out = {name: value for name, value in row.items() if name in keep}
        if len(out) != len(row):
            self._unmapped(row, out)
        for name in self.booleans:
            value = out.get(name)
            if value is not None and value is not True and value is not False:
                out[name] = value != 0
        for name in self.nested & out.keys():
            value = out[name]
            if isinstance(value, dict | list):
                out[name] = self._conform_nested(name, value)
        return out

    def _unmapped(self, row: Row, out: Row) -> None:
        extra = [name for name in row if name not in self.keep and name not in self.deselected]
        if not extra:
            return
        if self.additional:
            out.update({name: row[name] for name in extra})
        elif not self.unmapped_warned:
            self.unmapped_warned = True
            self.logger.warning(
                "Properties %s were present in the '%s' stream but not found in catalog "
                "schema. Ignoring.",
                tuple(extra),
                self.stream.name,
            )

    def _conform_nested(self, name: str, value: Any) -> Any:
        holder = {name: value}
        pop_deselected_record_properties(holder, self.schema, self.mask)
        conformed, _ = _conform_record_data_types(
            holder,
            {"properties": {name: self.schema["properties"][name]}},
            TypeConformanceLevel.RECURSIVE,
            None,
        )
        return conformed[name]

    def write(self, row: Row) -> None:
        """Queue the RECORD message(s) of one source row."""
        record = self.shape(row)
        buffer = self.buffer
        encode_into = self.encoder.encode_into
        for transform, prefix in self.maps:
            mapped = record if transform is None else transform(record)
            if mapped is None:
                continue
            buffer += prefix
            encode_into(mapped, buffer, -1)
            buffer += self.suffix
        self.pending += 1
        if len(buffer) >= FLUSH_BYTES:
            self._write_buffer()

    def flush(self) -> int:
        """Write queued messages to stdout; return how many source rows were queued since
        the last flush (the record counter's increment)."""
        self._write_buffer()
        written, self.pending = self.pending, 0
        return written

    def _write_buffer(self) -> None:
        if not self.buffer:
            return
        out = sys.stdout
        out.flush()
        raw = getattr(out, "buffer", None)
        if raw is not None:
            raw.write(self.buffer)
            raw.flush()
        else:
            out.write(self.buffer.decode("utf-8"))
            out.flush()
        self.buffer.clear()
        self._stamp()


def _types(property_schema: dict[str, Any]) -> list[str]:
    kind = property_schema.get("type", [])
    kinds = [kind] if isinstance(kind, str) else list(kind)
    for option in property_schema.get("anyOf", []):
        kinds.extend(_types(option))
    return kinds
