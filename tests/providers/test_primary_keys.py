"""Every provider's records are unique on their stream's primary key, which is never null.

Targets upsert on the key: two records of one run sharing a key would merge into one row,
and a null key cannot be loaded at all.
"""

from __future__ import annotations

from tap_exports_sandbox import Sandbox
from tests.support import sync


def test_one_run_of_every_stream_is_unique_on_its_key(sandbox: Sandbox):
    run = sync(sandbox.tap_config())
    keys = {
        message["stream"]: message["key_properties"]
        for message in run.messages
        if message["type"] == "SCHEMA"
    }
    checked = 0
    for stream, records in run.records.items():
        if not keys.get(stream) or not records:
            continue
        values = [tuple(record.get(name) for name in keys[stream]) for record in records]
        nulls = [value for value in values if None in value]
        assert not nulls, f"{stream}: null key values, e.g. {nulls[0]}"
        assert len(set(values)) == len(values), f"{stream}: key {keys[stream]} repeats"
        checked += 1
    assert checked >= 15
