"""The SDK's own messages (SCHEMA, STATE, BATCH) reach stdout whole, like the RECORD blocks."""

from __future__ import annotations

import io
import json

import pytest
from singer_sdk.singerlib import SchemaMessage

from tap_exports.engine.emit import WholeMessageWriter
from tap_exports.tap import TapExports
from tests.io.test_output import ShortWrites


def test_a_long_message_is_written_whole_where_each_raw_write_is_cut_short(
    monkeypatch: pytest.MonkeyPatch,
):
    # Unbuffered stdout: the text layer over the raw file, which takes 4,096 bytes a write.
    raw = ShortWrites(step=4096)
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(raw, write_through=True))  # type: ignore[type-var]
    properties = {f"column_{n}": {"type": ["string", "null"]} for n in range(2000)}
    schema = {"type": "object", "properties": properties}
    message = SchemaMessage(stream="wide", schema=schema, key_properties=["column_0"])

    TapExports.message_writer_class().write_message(message)

    assert raw.received.endswith(b"\n")
    assert json.loads(bytes(raw.received))["schema"] == schema


def test_the_tap_writes_its_messages_with_the_whole_message_writer():
    assert issubclass(TapExports.message_writer_class, WholeMessageWriter)
