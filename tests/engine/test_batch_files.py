"""BATCH output: JSONL files from the export, announced before state counts them."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tap_exports.engine.stream import BulkExportStream
from tap_exports_sandbox import Sandbox
from tests.support import run_cli, sync

BOUNCES = "/v3/mg.example.com/bounces"


def read_manifest(url: str) -> list[dict[str, Any]]:
    path = Path(urlsplit(url).path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_batch_files_hold_exactly_the_records(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str
):
    monkeypatch.setattr(BulkExportStream, "CHECKPOINT_ROWS", 300)
    sandbox.resize_dataset("mailgun/mg.example.com/bounces", 2500)
    config = sandbox.tap_config()
    config["mailgun"] = {**config["mailgun"], "lists": [BOUNCES]}
    expected = sync(config).records["mailgun_bounces"]

    config["batch_config"] = {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": f"file://{tmp_path}", "prefix": "out-"},
        "batch_size": 1000,
    }
    result = sync(config)
    batches = [m for m in result.messages if m["type"] == "BATCH"]
    assert "mailgun_bounces" not in result.records
    files = [url for m in batches if m["stream"] == "mailgun_bounces" for url in m["manifest"]]
    rows = [row for url in files for row in read_manifest(url)]
    assert rows == expected
    assert len(files) >= 3
    assert all(Path(urlsplit(url).path).name.startswith("out-") for url in files)

    # A STATE message never counts rows that are not yet in an announced file.
    announced = 0
    checkpoints = []
    for message in result.messages:
        if message["type"] == "BATCH" and message["stream"] == "mailgun_bounces":
            announced += sum(len(read_manifest(url)) for url in message["manifest"])
        if message["type"] == "STATE":
            parts = message["value"]["bookmarks"].get("mailgun_bounces", {}).get("partitions", [])
            for part in parts:
                if "export" in part:
                    checkpoints.append(part["export"]["rows_emitted"])
                    assert part["export"]["rows_emitted"] <= announced
    assert max(checkpoints) >= 1000
    final = result.state["bookmarks"]["mailgun_bounces"]["partitions"][0]
    assert "export" not in final
    assert final["replication_key_value"] == max(row["created_at"] for row in expected)


def test_parquet_batch_files_hold_exactly_the_records(sandbox: Sandbox, tmp_path: Path):
    """The `parquet` extra makes the format meltano.yml offers work (pyarrow writes the files)."""
    import pyarrow.parquet as pq

    sandbox.resize_dataset("mailgun/mg.example.com/bounces", 2500)
    config = sandbox.tap_config()
    config["mailgun"] = {**config["mailgun"], "lists": [BOUNCES]}
    expected = sync(config).records["mailgun_bounces"]

    config["batch_config"] = {
        "encoding": {"format": "parquet", "compression": "gzip"},
        "storage": {"root": f"file://{tmp_path}", "prefix": "out-"},
        "batch_size": 1000,
    }
    result = sync(config)
    files = [
        url
        for message in result.messages
        if message["type"] == "BATCH" and message["stream"] == "mailgun_bounces"
        for url in message["manifest"]
    ]
    assert len(files) == 3
    rows = [row for url in files for row in pq.read_table(urlsplit(url).path).to_pylist()]
    assert rows == expected


def test_batch_count_metric_counts_every_batch_message(sandbox: Sandbox, tmp_path: Path):
    sandbox.resize_dataset("mailgun/mg.example.com/bounces", 2500)
    config = sandbox.tap_config()
    config["mailgun"] = {**config["mailgun"], "lists": [BOUNCES]}
    config["batch_config"] = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{tmp_path}"},
        "batch_size": 1000,
    }
    result = run_cli(config)

    assert result.returncode == 0, result.stderr
    batches = [m for m in result.messages if m["type"] == "BATCH"]
    by_stream = Counter(m["stream"] for m in batches)
    assert by_stream["mailgun_bounces"] == 3
    counted: Counter[str] = Counter()
    for line in result.stderr.splitlines():
        if "METRIC: " in line:
            point = json.loads(line.split("METRIC: ", 1)[1])
            if point["metric"] == "batch_count":
                counted[point["tags"]["stream"]] += point["value"]
    assert counted == by_stream
