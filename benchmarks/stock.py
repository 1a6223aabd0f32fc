"""A stock singer-sdk tap over the same local file: what the SDK's defaults cost per row.

``python -m benchmarks.stock --config FILE`` with ``{"file", "format", "stream", "schema"}``
(the schema the tap declares for that stream) and optionally ``primary_keys``, so a target
upserts its rows as it does the tap's. The stream reads the file the obvious way;
writer, type conformance, state and metrics are all the SDK's defaults.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.helpers.types import Context
from typing_extensions import override


class FileStream(Stream):
    """Rows of one downloaded export file."""

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        with Path(self.config["file"]).open(encoding="utf-8", newline="") as handle:
            if self.config["format"] == "csv":
                yield from csv.DictReader(handle)
            else:
                yield from (json.loads(line) for line in handle if line.strip())


class StockTap(Tap):
    """One stream, nothing tuned."""

    name = "stock-sdk"
    config_jsonschema = th.PropertiesList(
        th.Property("file", th.StringType, required=True),
        th.Property("format", th.StringType(allowed_values=["csv", "ndjson"]), required=True),
        th.Property("stream", th.StringType, required=True),
        th.Property("schema", th.ObjectType(), required=True),
        th.Property("primary_keys", th.ArrayType(th.StringType)),
    ).to_dict()

    @override
    def discover_streams(self) -> Sequence[Stream]:
        stream = FileStream(self, name=self.config["stream"], schema=self.config["schema"])
        stream.primary_keys = self.config.get("primary_keys") or []
        return [stream]


if __name__ == "__main__":
    StockTap.cli()
