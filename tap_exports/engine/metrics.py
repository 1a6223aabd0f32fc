"""Metrics the SDK has no name for, logged in its ``METRIC: {...}`` format."""

from __future__ import annotations

import json
import os

from singer_sdk.metrics import get_metrics_logger


def count_bad_rows(count: int, *, stream: str, source: str) -> None:
    """A ``bad_rows`` counter: malformed rows skipped in one file (``on_bad_rows: skip``)."""
    point = {
        "type": "counter",
        "metric": "bad_rows",
        "value": count,
        "tags": {"stream": stream, "file": source, "pid": os.getpid()},
    }
    get_metrics_logger().info("METRIC: %s", json.dumps(point, separators=(",", ":")))
