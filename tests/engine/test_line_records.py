"""NDJSON lines read column by column give what reading them as dicts gives, bad rows too."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_exports.engine.records import as_dicts, is_records
from tap_exports.engine.rowcheck import LineRecords, RowCheck
from tap_exports.errors import DataError, LayoutError
from tap_exports.io.jsonrows import iter_ndjson_batches
from tap_exports.io.rows import BadRowPolicy, DecodeStats
from tap_exports.providers.batch.exports import EVENT_LINE_FIELDS, BatchEventsExport

EXPORT = BatchEventsExport(None, ["open"], stream="batch_events")  # type: ignore[arg-type]
Outcome = tuple[list[dict[str, Any]], int, int, str | None]


def read(chunks: list[bytes], *, columns: bool, on_bad_row: str) -> Outcome:
    """Records (as dicts), rows, bad rows and the error, as the stream's reader would have them."""
    stats = DecodeStats()
    policy = BadRowPolicy("f", on_bad_row, stats, unit="data row")  # type: ignore[arg-type]
    check = RowCheck(EXPORT.transform, "timestamp", policy)
    lines = (
        LineRecords(EVENT_LINE_FIELDS, transform=EXPORT.transform_columns, key="timestamp")
        if columns
        else None
    )
    records: list[dict[str, Any]] = []
    error = None
    try:
        for batch in iter_ndjson_batches(
            chunks,
            source_name="f",
            on_bad_row=on_bad_row,  # type: ignore[arg-type]
            stats=stats,
            records=lines,
        ):
            records += as_dicts(check(batch))
    except (DataError, LayoutError, TypeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    return records, stats.rows, stats.bad_rows, error


def line(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


WHOLE = {
    "identifiers": {"custom_id": "a"},
    "event": "open",
    "timestamp": "2026-01-01T00:00:00Z",
    "orchestration_id": "o",
    "orchestration_name": "n",
}


def test_a_block_of_whole_lines_becomes_structs():
    block = b"\n".join([line(**WHOLE), b"", line(**{**WHOLE, "identifiers": None})]) + b"\n"
    lines = LineRecords(EVENT_LINE_FIELDS, transform=EXPORT.transform_columns, key="timestamp")
    records = lines(block)
    assert records is not None
    assert is_records(records)
    assert [record["custom_id"] for record in as_dicts(records)] == ["a", None]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(line(**{**WHOLE, "channel": "email"}), id="another-field"),
        pytest.param(
            line(**{k: v for k, v in WHOLE.items() if k != "orchestration_id"}), id="one-less"
        ),
        pytest.param(line(**{**WHOLE, "timestamp": None}), id="no-time"),
        pytest.param(line(**{**WHOLE, "timestamp": "yesterday"}), id="not-an-instant"),
        pytest.param(line(**{**WHOLE, "identifiers": ["a"]}), id="identifiers-a-list"),
        pytest.param(b'{"event": "open"', id="cut-json"),
        pytest.param(b"[1]", id="not-an-object"),
        pytest.param(line(**WHOLE)[:-1] + b', "event": "x"}', id="a-repeated-field"),
    ],
)
def test_a_block_with_any_other_line_is_left_to_the_dict_path(text: bytes):
    lines = LineRecords(EVENT_LINE_FIELDS, transform=EXPORT.transform_columns, key="timestamp")
    block = line(**WHOLE) + b"\n" + text + b"\n"
    if text.endswith(b'"event": "x"}'):
        # A repeated field: the last one counts, in a struct as in a dict.
        records = lines(block)
        assert records is not None
        assert as_dicts(records)[1]["event"] == "x"
        return
    assert lines(block) is None


_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-02T03:04:05.5+02:00", "not a time"]),
    st.text(max_size=5),
    st.integers(-2, 2),
    st.fixed_dictionaries({}, optional={"custom_id": st.one_of(st.none(), st.text(max_size=3))}),
    st.lists(st.integers(), max_size=2),
)
_FIELDS = st.sampled_from([*EVENT_LINE_FIELDS, "channel"])
_LINE = st.one_of(
    st.dictionaries(_FIELDS, _VALUES).map(lambda fields: json.dumps(fields).encode()),
    st.fixed_dictionaries(
        {
            "identifiers": st.one_of(
                st.none(), st.fixed_dictionaries({"custom_id": st.text(max_size=3)})
            ),
            "event": st.sampled_from(["open", "click"]),
            "timestamp": st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.25Z"]),
            "orchestration_id": st.one_of(st.none(), st.text(max_size=3)),
            "orchestration_name": st.one_of(st.none(), st.text(max_size=3)),
        }
    ).map(lambda fields: json.dumps(fields, ensure_ascii=False).encode()),
    st.sampled_from([b"", b"  ", b"{", b"[]", b'"x"', b"\xff", b'{"event": "\xc3"}']),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_LINE, max_size=30),
    cuts=st.lists(st.integers(0, 2000), max_size=6),
    on_bad_row=st.sampled_from(["fail", "skip"]),
)
def test_reading_lines_as_columns_changes_nothing(
    lines: list[bytes], cuts: list[int], on_bad_row: str
):
    """Arbitrary lines, cut into chunks anywhere (so into blocks of either kind)."""
    data = b"\n".join(lines)
    points = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    chunks = [data[start:end] for start, end in itertools.pairwise(points)]
    expected = read(chunks, columns=False, on_bad_row=on_bad_row)
    assert read(chunks, columns=True, on_bad_row=on_bad_row) == expected
