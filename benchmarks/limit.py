"""The limit: parse the downloaded file and write each row as a Singer RECORD line, nothing more.

``python -m benchmarks.limit {csv,ndjson} FILE STREAM`` writes to stdout and reports its
row count on stderr as a ``record_count`` metric. No tap can emit the same messages from
the same file faster in Python, so every other path is shown as a fraction of this one.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from benchmarks.measure import metric_line


def file_records(raw: BinaryIO, file_format: str) -> Iterator[dict[str, Any]]:
    """Rows of a CSV file (``csv.reader``, header as keys) or an NDJSON file (msgspec)."""
    if file_format == "ndjson":
        decode = msgspec.json.Decoder().decode
        for line in raw:
            if line.strip():
                yield decode(line)
        return
    reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
    header = next(reader, [])
    for row in reader:
        yield dict(zip(header, row, strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    """Emit every row of the file as a RECORD message."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.limit")
    parser.add_argument("format", choices=("csv", "ndjson"))
    parser.add_argument("file", type=Path)
    parser.add_argument("stream")
    args = parser.parse_args(argv)
    encode = msgspec.json.Encoder().encode
    out = sys.stdout.buffer
    extracted = dt.datetime.now(dt.UTC).isoformat()
    rows = 0
    with args.file.open("rb") as raw:
        for record in file_records(raw, args.format):
            message = {
                "type": "RECORD",
                "stream": args.stream,
                "record": record,
                "time_extracted": extracted,
            }
            out.write(encode(message) + b"\n")
            rows += 1
    out.flush()
    print(metric_line(args.stream, rows), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
