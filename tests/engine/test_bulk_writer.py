"""The bulk record writer emits exactly what the SDK's own per-row path emits."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tap_exports.engine.stream import BulkExportStream
from tap_exports.tap import TapExports
from tap_exports_sandbox import Sandbox
from tests.support import SyncResult, sync

LISTS = ["/v3/domains", "/v3/mg.example.com/bounces", "/v3/mg.example.com/unsubscribes"]


def comparable(result: SyncResult) -> list[dict[str, Any]]:
    """SCHEMA and RECORD messages in order, without the extraction time."""
    return [
        {key: value for key, value in message.items() if key != "time_extracted"}
        for message in result.messages
        if message["type"] in {"SCHEMA", "RECORD"}
    ]


def bookmarks(result: SyncResult) -> dict[str, Any]:
    """Final replication values per stream partition (export ids differ between runs)."""
    return {
        stream: [
            (part["context"], part.get("replication_key_value"), "export" in part)
            for part in entry.get("partitions", [])
        ]
        for stream, entry in result.state["bookmarks"].items()
    }


def catalog_with(config: dict[str, Any], deselect: dict[str, list[str]]) -> dict[str, Any]:
    catalog = TapExports(config=config).catalog_dict
    catalog = copy.deepcopy(catalog)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = entry["tap_stream_id"] != "mailgun_exports"
            elif item["breadcrumb"][-1] in deselect.get(entry["tap_stream_id"], []):
                item["metadata"]["selected"] = False
    return catalog


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {
                "stream_maps": {
                    "mailgun_bounces": {
                        "address": "address.upper()",
                        "code": "__NULL__",
                        "__filter__": "int(code) >= 550",
                        "__alias__": "bounced",
                    },
                    "mailgun_domains_copy": {"__source__": "mailgun_domains", "name": "name + '!'"},
                    "mailgun_unsubscribes": "__NULL__",
                }
            },
            id="stream-maps",
        ),
        pytest.param({"flattening_enabled": True, "flattening_max_depth": 2}, id="flattening"),
    ],
)
def test_bulk_writer_matches_the_sdk_path(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]
):
    # Mailgun only: other providers list earlier exports, so two runs would differ.
    config = {
        key: value
        for key, value in sandbox.tap_config().items()
        if key == "mailgun" or not isinstance(value, dict)
    }
    config = {**config, **extra, "mailgun": {**config["mailgun"], "lists": LISTS}}
    deselect = {"mailgun_bounces": ["error"], "mailgun_domains": ["smtp_login"]}
    catalog = catalog_with(config, deselect)

    fast = sync(config, catalog=catalog)
    monkeypatch.setattr(BulkExportStream, "BULK_WRITER", False)
    stock = sync(config, catalog=catalog)

    assert fast.counts() == stock.counts()
    assert sum(fast.counts().values()) > 1000
    assert comparable(fast) == comparable(stock)
    assert bookmarks(fast) == bookmarks(stock)


def test_deselected_and_unknown_properties_are_dropped(sandbox: Sandbox):
    config = sandbox.tap_config()
    config["mailgun"] = {**config["mailgun"], "lists": ["/v3/mg.example.com/bounces"]}
    catalog = catalog_with(config, {"mailgun_bounces": ["error"]})
    records = sync(config, catalog=catalog).records["mailgun_bounces"]
    assert set(records[0]) == {"domain", "address", "code", "created_at"}
