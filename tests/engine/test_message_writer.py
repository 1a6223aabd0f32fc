"""The SDK's own messages (SCHEMA, STATE, BATCH) reach stdout whole, like the RECORD blocks,
which are the SDK's RECORD messages byte for byte in meaning and field order."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from singer_sdk.singerlib import RecordMessage, SchemaMessage

from tap_exports.engine.emit import RecordEmitter, RecordShaper, WholeMessageWriter
from tap_exports.tap import TapExports
from tap_exports_sandbox import Sandbox
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


@pytest.mark.parametrize("version", [None, 1_764_000_000_000])
def test_record_messages_are_the_sdks_field_for_field_in_its_order(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, version: int | None
):
    stream = TapExports(config=sandbox.tap_config()).streams["mailgun_bounces"]
    monkeypatch.setattr(stream, "_stream_version", version)
    shaper = RecordShaper(stream, logger=stream.logger)
    emitter = RecordEmitter(stream, shaper)
    record = {"address": "a@x.io", "code": "550", "error": 'say "hi"\n', "created_at": None}
    raw = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(raw))

    emitter.write_batch([dict(record), dict(record)])
    extracted = emitter.extracted
    emitter.flush()

    lines = raw.getvalue().splitlines()
    expected = RecordMessage(
        stream="mailgun_bounces",
        record=shaper.shape(dict(record)),
        version=version,
        time_extracted=dt.datetime.fromisoformat(extracted),
    )
    sdk = json.loads(WholeMessageWriter().format_message(expected), object_pairs_hook=list)
    assert [json.loads(line, object_pairs_hook=list) for line in lines] == [sdk, sdk]
