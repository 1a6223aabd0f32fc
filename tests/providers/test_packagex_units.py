"""PackageX's row shaping, error reading, windows and state pruning, without a server."""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import pytest
import requests

from tap_exports.engine.job import Window
from tap_exports.errors import DataError
from tap_exports.providers.packagex.client import PackageXApi, describe_field_error, unwrap
from tap_exports.providers.packagex.exports import SCHEMAS, ResourceExport
from tap_exports.providers.packagex.listing import forget_deleted
from tap_exports.providers.packagex.resources import BY_NAME, RESOURCES, RowShape, unsanitized
from tap_exports_sandbox import DatasetRegistry
from tap_exports_sandbox.packagex.data import define_resources

SHIPMENTS = RowShape(SCHEMAS.get_schema("packagex_shipments"))
BOOKMARK = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def test_json_items_keep_their_types_and_get_rfc3339_times():
    item = {"id": "shp_1", "amount": 1299, "created_at": 1714564800, "sender": {"name": "Ada"}}
    assert SHIPMENTS.from_json(dict(item)) == {**item, "created_at": "2024-05-01T12:00:00Z"}
    assert SHIPMENTS.from_json({"updated_at": None}) == {"updated_at": None}


def test_csv_cells_become_the_schema_types():
    transform = SHIPMENTS.from_csv("shipment.csv")
    row = {
        "id": "shp_1",
        "amount": "-1299",
        "notes": "-42",
        "sender": '{"name":"Ada","address":{"city":"Austin"}}',
        "estimated_delivery_at": "2024-05-01T14:00:00+02:00",
        "fulfillment_id": "",
    }
    assert transform(row) == {
        "id": "shp_1",
        "amount": -1299,
        "notes": "-42",
        "sender": {"name": "Ada", "address": {"city": "Austin"}},
        "estimated_delivery_at": "2024-05-01T12:00:00Z",
        "fulfillment_id": None,
    }
    items = RowShape(SCHEMAS.get_schema("packagex_items")).from_csv("item.csv")
    assert items({"weight": "12.5", "dimensions": "null"}) == {"weight": 12.5, "dimensions": None}
    locations = RowShape(SCHEMAS.get_schema("packagex_locations")).from_csv("location.csv")
    assert locations({"is_active": "TRUE"}) == {"is_active": True}


def test_a_bad_cell_names_the_file_record_and_column():
    transform = SHIPMENTS.from_csv("PackageX export exp_1 (shipment.csv)")
    transform({"amount": "1"})
    with pytest.raises(DataError) as failure:
        transform({"amount": "twelve"})
    assert str(failure.value).startswith(
        "PackageX export exp_1 (shipment.csv), line 3: column 'amount': 'twelve' is not a "
        "valid integer"
    )


@pytest.mark.parametrize(
    ("cell", "data"),
    [
        ("'=HYPERLINK(1)", "=HYPERLINK(1)"),
        ("'+33 1", "+33 1"),
        ("'-42", "-42"),
        ("\t@mention", "@mention"),
        ("'quoted", "'quoted"),
        ("'", "'"),
        ("-42", "-42"),
    ],
)
def test_only_defused_formula_cells_are_restored(cell: str, data: str):
    assert unsanitized(cell) == data
    assert SHIPMENTS.from_csv("x", sanitized=True)({"notes": cell}) == {"notes": data}


def test_field_errors_and_envelopes_read_as_the_docs_show():
    assert describe_field_error("resource is locked") == "resource is locked"
    assert describe_field_error({"field": "options.limit", "message": "too large"}) == (
        "options.limit: too large"
    )
    assert describe_field_error({"message": "no field"}) == "no field"
    assert unwrap({"data": {"id": "exp_1"}, "status": 200}) == {"id": "exp_1"}
    assert unwrap({"id": "exp_1"}) == {"id": "exp_1"}


def response(status: int, body: bytes) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.reason = "Reason"
    answer._content = body
    return answer


def test_error_messages_quote_message_code_and_errors():
    api = PackageXApi("https://api.packagex.io", "px_key")
    envelope = {
        "message": "Validation failed",
        "error_code": "validation_error",
        "errors": [{"field": "resource", "message": "required"}],
    }
    assert api.error_message(response(400, json.dumps(envelope).encode())) == (
        "Validation failed (code validation_error): resource: required"
    )
    assert api.error_message(response(502, b"<html>bad gateway</html>")) == (
        "<html>bad gateway</html>"
    )
    assert api.error_message(response(500, b"[]")) == "[]"
    assert api.hint_for(403) == "check that packagex.api_key is scoped to the Exports API"


def export_of(resource: str) -> ResourceExport:
    api = PackageXApi("https://api.packagex.io", "px_key")
    name = f"packagex_{resource}s"
    return ResourceExport(api, BY_NAME[resource], RowShape(SCHEMAS.get_schema(name)), "json")


def test_incremental_windows_start_after_the_bookmark_or_at_start_date():
    shipments = export_of("shipment")
    assert shipments.windows(BOOKMARK, None, BOOKMARK) == [Window(BOOKMARK)]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    [first] = shipments.windows(None, start, BOOKMARK)
    assert shipments.options(first) == {
        "limit": "all",
        "order_by": "updated_at",
        "direction": "asc",
        "updated_at": "gt:2023-12-31T23:59:59Z",
    }
    assert shipments.options(Window(BOOKMARK))["updated_at"] == "gt:2024-05-01T12:00:00Z"
    assert shipments.windows(None, None, BOOKMARK) == [Window()]


def test_resources_without_an_updated_at_filter_are_exported_whole():
    inferences = export_of("shipping_label_inference")
    assert inferences.windows(BOOKMARK, BOOKMARK, BOOKMARK) == [Window()]
    assert inferences.options(Window()) == {
        "limit": "all",
        "order_by": "created_at",
        "direction": "asc",
    }


def test_reported_exports_are_forgotten_once_packagex_has_deleted_them():
    reported = {
        "exp_old": "2024-05-01T10:00:00Z",
        "exp_edge": "2024-05-01T12:00:00Z",
        "exp_new": "2024-05-02T12:00:00Z",
        "exp_unknown": None,
    }
    forget_deleted(reported)
    assert reported == {
        "exp_edge": "2024-05-01T12:00:00Z",
        "exp_new": "2024-05-02T12:00:00Z",
        "exp_unknown": None,
    }


def test_the_sandbox_rows_fill_exactly_the_stream_schemas():
    datasets = DatasetRegistry(
        seed=7,
        epoch=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        step=dt.timedelta(seconds=1),
        default_rows=120,
        rows={},
    )
    sources = define_resources(datasets)
    assert [resource.name for resource in RESOURCES] == list(sources)
    for resource in RESOURCES:
        schema = SCHEMAS.get_schema(resource.stream_name)
        shape = RowShape(schema)
        validator = jsonschema.Draft7Validator(schema)
        source = sources[resource.name]
        snapshot = source.timeline.snapshot()
        assert source.model.filters_updated_at is resource.incremental
        for index in range(120):
            record = shape.from_json(source.record(source.values(index, snapshot)))
            assert set(record) == set(schema["properties"]), resource.name
            validator.validate(record)
