"""Metrics the SDK has no name for, logged in its ``METRIC: {...}`` format."""

from __future__ import annotations

import json
import os

from singer_sdk.metrics import get_metrics_logger


def count_bad_rows(count: int, *, stream: str, source: str) -> None:
    """A ``bad_rows`` counter: malformed rows skipped in one file (``on_bad_rows: skip``)."""
    _counter("bad_rows", count, {"stream": stream, "file": source})


def count_future_rows(count: int, *, stream: str, source: str) -> None:
    """A ``future_rows`` counter: rows dated after the run's start, kept out of the bookmark."""
    _counter("future_rows", count, {"stream": stream, "export": source})


def _counter(metric: str, count: int, tags: dict[str, str]) -> None:
    point = {
        "type": "counter",
        "metric": metric,
        "value": count,
        "tags": {**tags, "pid": os.getpid()},
    }
    get_metrics_logger().info("METRIC: %s", json.dumps(point, separators=(",", ":")))
