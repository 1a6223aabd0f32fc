"""Writing records in bulk with the SDK's semantics decided once per stream.

The stock SDK path re-derives per row what is fixed for a whole export file:
which properties are selected, how each is conformed to the schema, whether a
stream map changes anything, and it flushes stdout after every message. Here
those decisions are made once (:class:`RecordShaper`), rows are shaped with one
dict comprehension, serialised with msgspec into a buffer, and written in large
blocks: as RECORD messages (:class:`RecordEmitter`) or as BATCH files
(:class:`BatchFileWriter`).

Semantics stay the SDK's: deselected properties and properties missing from the
schema are dropped (with one warning), boolean-only properties are conformed as
the SDK does, nested objects and arrays go through the SDK's own conformance, and
stream maps (aliases, filters, transforms, flattening) are applied by the SDK's
mapper objects. Tests compare this path with the stock one message by message.

Both sinks share one rule: after :meth:`flush` returns, everything written before
is durable downstream, so the stream may write a STATE message that counts it.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from itertools import repeat
from typing import IO, Any, Protocol, cast

import msgspec
from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform
from singer_sdk.singerlib import Message
from singer_sdk.singerlib.encoding import SimpleSingerWriter
from typing_extensions import override

from tap_exports.engine.records import as_dicts, is_records, names
from tap_exports.engine.sdk_compat import (
    BatchConfig,
    conform_record_data_types,
    is_exclusive_boolean_type,
    pop_deselected_record_properties,
    stream_version,
)
from tap_exports.io.gzip_writer import ThreadedGzipWriter
from tap_exports.io.output import write_fully

Row = dict[str, Any]

#: Output is written in blocks of about this size: large enough to make writes few, small
#: enough that the buffer's memory is reused (at 1 MB the tap took 2.5x the page faults).
FLUSH_BYTES = 1 << 18
#: Batch files are read once by the target: level 1 compresses JSON lines about five
#: times faster than the default 9, for files about a third larger. Compression runs on a
#: thread of its own (:class:`ThreadedGzipWriter`), beside the parsing.
GZIP_LEVEL = 1


def _encode_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def new_encoder() -> msgspec.json.Encoder:
    """The JSON encoder for records: msgspec, with dates as ISO text and decimals as numbers."""
    return msgspec.json.Encoder(enc_hook=_encode_default, decimal_format="number")


class RecordSink(Protocol):
    """Where a stream's shaped rows go."""

    def write_batch(self, rows: list[Any]) -> None:
        """Take a batch of source rows (dicts, or structs: :mod:`~tap_exports.engine.records`)."""

    def flush(self) -> int:
        """Make everything written so far durable downstream; return the rows it held."""


class RecordShaper:
    """Selection and conformance of one stream's rows, decided from its schema and catalog."""

    def __init__(self, stream: Stream, *, logger: logging.Logger) -> None:
        schema = stream.effective_schema
        properties: dict[str, Any] = schema.get("properties", {})
        mask = stream.mask
        self.stream_name = stream.name
        self.logger = logger
        self.schema = schema
        self.mask = mask
        self.additional = bool(schema.get("additionalProperties"))
        self.keep = frozenset(name for name in properties if mask[("properties", name)])
        self.deselected = frozenset(properties) - self.keep
        self.booleans = tuple(
            name for name in self.keep if is_exclusive_boolean_type(properties[name])
        )
        self.nested = frozenset(
            name for name in self.keep if {"object", "array"} & set(_types(properties[name]))
        )
        self.unmapped_warned = False

    @property
    def passes_everything(self) -> bool:
        """True when every property of a row is kept: undeclared ones pass, none is deselected."""
        return self.additional and not self.deselected

    @property
    def trivial(self) -> bool:
        """True when a row holding exactly the selected properties needs no change."""
        return (
            not self.booleans
            and not self.nested
            and (not self.additional or self.passes_everything)
        )

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

    def shape_batch(self, rows: list[Any]) -> list[Any]:
        """Shaped rows; the rows themselves when none holds a property outside the selection.

        The keys of a whole batch are checked in one C-level union (a batch of structs:
        its one type's names), so the common batch costs no per-row work here.
        """
        if self.trivial:
            keys = names(rows) if is_records(rows) else set().union(*rows)
            if self.passes_everything or self.keep.issuperset(keys):
                return rows
        return [self.shape(row) for row in as_dicts(rows)]

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
                self.stream_name,
            )

    def _conform_nested(self, name: str, value: Any) -> Any:
        holder = {name: value}
        pop_deselected_record_properties(holder, self.schema, self.mask)
        conformed, _ = conform_record_data_types(
            holder,
            {"properties": {name: self.schema["properties"][name]}},
            TypeConformanceLevel.RECURSIVE,
            None,
        )
        return conformed[name]


def to_stdout(data: bytes | bytearray) -> None:
    """Hand ``data`` (whole Singer messages) to stdout, every byte of it, and flush."""
    out = sys.stdout
    out.flush()
    raw = getattr(out, "buffer", None)
    if raw is not None:
        write_fully(raw, data)
        raw.flush()
    else:
        out.write(data.decode("utf-8"))
        out.flush()


class WholeMessageWriter(SimpleSingerWriter):
    """The SDK's writer for its own messages (SCHEMA, STATE, BATCH), written whole.

    The SDK writes through stdout's text layer, which ignores a raw write that a signal
    cut short when stdout is unbuffered: a message longer than a pipe's atomic 4 KB (a
    wide SCHEMA, the STATE of many sources) would reach the target cut.
    """

    @override
    def write_message(self, message: Message) -> None:
        to_stdout((self.format_message(message) + "\n").encode("utf-8"))


class RecordFrames:
    """RECORD messages of a stream with one identity map, as msgspec structs.

    msgspec encodes a batch of them in one call, the same bytes as the SDK's messages,
    where framing each encoded record in Python cost more than encoding it.
    """

    def __init__(self, stream: Stream) -> None:
        version = stream_version(stream)
        alias = next(
            stream_map.stream_alias
            for stream_map in stream.stream_maps
            if not isinstance(stream_map, RemoveRecordTransform)
        )
        # The SDK's field order: type, stream, record, version, time_extracted.
        fields: list[tuple[str, type]] = [("type", str), ("stream", str), ("record", Any)]
        if version is not None:
            fields.append(("version", int))
        fields.append(("time_extracted", str))
        self.message = msgspec.defstruct("RecordMessage", fields, gc=False)
        self.alias = alias
        self.version = version

    def messages(self, records: list[Any], extracted: str) -> list[msgspec.Struct]:
        """One message per record, all extracted at ``extracted``."""
        after = (extracted,) if self.version is None else (self.version, extracted)
        fixed = (repeat("RECORD"), repeat(self.alias), records, *map(repeat, after))
        return list(map(self.message, *fixed))


class RecordEmitter:
    """RECORD messages to stdout, buffered; :meth:`flush` writes them in one block."""

    def __init__(self, stream: Stream, shaper: RecordShaper) -> None:
        self.shaper = shaper
        self.encoder = new_encoder()
        self.buffer = bytearray()
        self.pending = 0
        self.maps = self._maps(stream)
        plain = len(self.maps) == 1 and self.maps[0][0] is None
        self.frames = RecordFrames(stream) if plain else None
        version = stream_version(stream)
        self.version = b"" if version is None else b',"version":' + msgspec.json.encode(version)
        self._stamp()

    @staticmethod
    def _maps(stream: Stream) -> list[tuple[Callable[[Row], Row | None] | None, bytes]]:
        """(transform, or None for identity; message prefix) for each stream map."""
        maps: list[tuple[Callable[[Row], Row | None] | None, bytes]] = []
        for stream_map in stream.stream_maps:
            if isinstance(stream_map, RemoveRecordTransform):
                continue
            identity = type(stream_map) is SameRecordTransform and not stream_map.flattening_enabled
            prefix = b'{"type":"RECORD","stream":' + msgspec.json.encode(stream_map.stream_alias)
            maps.append((None if identity else stream_map.transform, prefix + b',"record":'))
        return maps

    def _stamp(self) -> None:
        self.extracted = dt.datetime.now(dt.UTC).isoformat()
        extracted = b',"time_extracted":' + msgspec.json.encode(self.extracted) + b"}\n"
        self.suffix = self.version + extracted

    def write_batch(self, rows: list[Any]) -> None:
        """Queue the RECORD message(s) of a batch of source rows."""
        buffer = self.buffer
        encode_into = self.encoder.encode_into
        suffix = self.suffix
        shape = self.shaper.shape
        if self.frames is not None:
            # One identity map: msgspec writes the messages one per line in one call.
            records = self.shaper.shape_batch(rows)
            buffer += self.encoder.encode_lines(self.frames.messages(records, self.extracted))
        else:
            for row in as_dicts(rows):
                record = shape(row)
                for transform, prefix in self.maps:
                    mapped = record if transform is None else transform(record)
                    if mapped is not None:
                        buffer += prefix
                        encode_into(mapped, buffer, -1)
                        buffer += suffix
        self.pending += len(rows)
        if len(buffer) >= FLUSH_BYTES:
            self._write()

    def _write(self) -> None:
        if not self.buffer:
            return
        to_stdout(self.buffer)
        self.buffer.clear()
        self._stamp()

    def flush(self) -> int:
        """Write queued messages to stdout; return how many source rows they held."""
        self._write()
        written, self.pending = self.pending, 0
        return written


class BatchFileWriter:
    """JSONL batch files (the SDK's ``batch_config``) written straight from export rows.

    Each file holds at most ``batch_size`` records; a file is announced with a BATCH
    message when it is closed, which :meth:`flush` does, so a STATE written after a
    flush never counts rows that sit in an unannounced file.
    """

    def __init__(
        self,
        stream: Stream,
        shaper: RecordShaper,
        config: BatchConfig,
        announce: Callable[[list[str]], None],
    ) -> None:
        self.shaper = shaper
        self.config = config
        self.announce = announce
        self.encoder = new_encoder()
        self.sync_id = f"{stream.tap_name}--{stream.name}-{uuid.uuid4()}"
        self.compressed = config.encoding.compression == "gzip"
        self.parts = 0
        self.file: IO[bytes] | None = None
        self.open_files = ExitStack()
        self.filename = ""
        self.in_file = 0
        self.pending = 0

    def _open(self) -> IO[bytes]:
        self.parts += 1
        storage = self.config.storage
        suffix = ".json.gz" if self.compressed else ".json"
        self.filename = f"{storage.prefix or ''}{self.sync_id}-{self.parts}{suffix}"
        file: IO[bytes] = self.open_files.enter_context(storage.open(self.filename, "wb"))
        if self.compressed:
            gzipped = ThreadedGzipWriter(file, level=GZIP_LEVEL)
            file = self.open_files.enter_context(cast("IO[bytes]", gzipped))
        self.file = file
        return file

    def write_batch(self, rows: list[Any]) -> None:
        """Append shaped rows, starting a new file every ``batch_size`` rows."""
        start = 0
        while start < len(rows):
            room = self.config.batch_size - self.in_file
            part = rows[start : start + room]
            file = self.file or self._open()
            file.write(self.encoder.encode_lines(self.shaper.shape_batch(part)))
            self.in_file += len(part)
            self.pending += len(part)
            start += len(part)
            if self.in_file >= self.config.batch_size:
                self._close()

    def _close(self) -> None:
        if self.file is None:
            return
        self.open_files.close()
        self.file = None
        self.in_file = 0
        self.announce([self.config.storage.get_url(self.filename)])

    def flush(self) -> int:
        """Close and announce the open file; return how many rows were written since."""
        self._close()
        written, self.pending = self.pending, 0
        return written


def _types(property_schema: dict[str, Any]) -> list[str]:
    kind = property_schema.get("type", [])
    kinds = [kind] if isinstance(kind, str) else list(kind)
    for option in property_schema.get("anyOf", []):
        kinds.extend(_types(option))
    return kinds
