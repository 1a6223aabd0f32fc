"""Datasets are deterministic, grow as strict prefix extensions, and encode losslessly."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_exports_sandbox import CsvFormat, DatasetRegistry, encode_csv, encode_ndjson
from tap_exports_sandbox.data import AWKWARD_TEXT
from tap_exports_sandbox.encoders import CHUNK_BYTES
from tap_exports_sandbox.mailgun.datasets import define_lists

EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def registry(seed: int = 7, rows: int = 500, **sizes: int) -> DatasetRegistry:
    datasets = DatasetRegistry(
        seed=seed, epoch=EPOCH, step=dt.timedelta(seconds=2), default_rows=rows, rows=sizes
    )
    define_lists(datasets, ("mg.example.com",))
    return datasets


def test_same_seed_same_rows_other_seed_other_rows():
    first, again, other = registry(), registry(), registry(seed=8)
    name = "mailgun/mg.example.com/bounces"
    assert list(first[name].rows()) == list(again[name].rows())
    assert list(first[name].rows()) != list(other[name].rows())


def test_datasets_differ_from_each_other():
    datasets = registry()
    bounces = [row["address"] for row in datasets["mailgun/mg.example.com/bounces"].rows()]
    complaints = [row["address"] for row in datasets["mailgun/mg.example.com/complaints"].rows()]
    assert bounces != complaints


def test_a_bigger_dataset_extends_a_smaller_one():
    name = "mailgun/mg.example.com/unsubscribes"
    small = list(registry(rows=100)[name].rows())
    datasets = registry(rows=100)
    datasets.resize(name, 400)
    bigger = list(datasets[name].rows())
    assert len(bigger) == 400
    assert bigger[:100] == small
    assert datasets[name].row(250) == registry(rows=10)[name].row(250)


def test_row_timestamps_follow_the_epoch_and_step():
    dataset = registry()["mailgun/domains"]
    assert dataset.timestamp(0) == EPOCH
    assert dataset.timestamp(30) == EPOCH + dt.timedelta(seconds=60)
    assert dataset.row(30)[2] == "Mon, 01 Jan 2024 00:01:00 UTC"


def test_reset_restores_configured_sizes():
    datasets = registry(**{"mailgun/domains": 30})
    datasets.resize("mailgun/domains", 99)
    datasets.reset()
    assert datasets["mailgun/domains"].size == 30
    assert datasets["mailgun/mg.example.com/bounces"].size == 500


def test_every_awkward_value_appears_in_a_few_hundred_rows():
    errors = {row["error"] for row in registry()["mailgun/mg.example.com/bounces"].rows()}
    assert set(AWKWARD_TEXT) <= errors


def parse(content: bytes, fmt: CsvFormat) -> list[list[str]]:
    text = content.decode("utf-8-sig" if fmt.bom else "utf-8")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter))


FORMATS = [
    CsvFormat(),
    CsvFormat(delimiter=";", line_terminator="\n", header=False, bom=True),
]


def test_csv_round_trips_awkward_values_in_every_format():
    dataset = registry()["mailgun/mg.example.com/bounces"]
    for fmt in FORMATS:
        parsed = parse(b"".join(encode_csv(dataset.columns, dataset.tuples(), fmt)), fmt)
        expected = [list(row) for row in dataset.tuples()]
        assert parsed == ([list(dataset.columns)] if fmt.header else []) + expected


def test_csv_uses_the_chosen_line_ending_and_bom():
    content = b"".join(
        encode_csv(("a",), [("x",), ("y",)], CsvFormat(line_terminator="\n", bom=True))
    )
    assert content == "\ufeffa\nx\ny\n".encode()
    assert b"".join(encode_csv(("a",), [("x",)])) == b"a\r\nx\r\n"


def test_csv_spells_none_and_booleans_like_exports_do():
    content = b"".join(encode_csv(("a", "b", "c", "d"), [(None, True, False, 1.5)]))
    assert content == b"a,b,c,d\r\n,true,false,1.5\r\n"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.text(), st.text()), max_size=20),
    st.sampled_from(FORMATS),
)
def test_csv_round_trips_any_text(rows, fmt):
    parsed = parse(b"".join(encode_csv(("x", "y"), rows, fmt)), fmt)
    assert parsed[1 if fmt.header else 0 :] == [list(row) for row in rows]


def test_encoders_yield_bounded_chunks():
    dataset = registry(rows=20_000)["mailgun/mg.example.com/bounces"]
    for chunks in (
        list(encode_csv(dataset.columns, dataset.tuples())),
        list(encode_ndjson(dataset.columns, dataset.tuples())),
    ):
        assert len(chunks) > 10
        assert all(len(chunk) < 2 * CHUNK_BYTES for chunk in chunks)


def test_ndjson_holds_one_object_per_row():
    dataset = registry()["mailgun/mg.example.com/bounces"]
    lines = b"".join(encode_ndjson(dataset.columns, dataset.tuples())).decode().splitlines()
    assert [json.loads(line) for line in lines] == list(dataset.rows())


def test_malformed_lines_are_inserted_not_substituted():
    rows = [(str(i),) for i in range(10)]
    content = b"".join(encode_csv(("n",), rows, malformed_after={4}))
    assert content.decode().split("\r\n")[1:-1] == [
        "0",
        "1",
        "2",
        "3",
        "4",
        "#malformed,#malformed",
        "5",
        "6",
        "7",
        "8",
        "9",
    ]
