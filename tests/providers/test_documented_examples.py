"""The example answers printed in the providers' documents, read by the tap's own client code.

The sandbox answers as the project reads the documents; these bodies are the
documents' own words (copied as printed, ids and all), served over a local socket to
the same code that reads a real account. Where a document prints no example, the
body is built from the fields it lists.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pytest_httpserver import HTTPServer

from tap_exports.engine.job import ExportJob, Window
from tap_exports.engine.status import ExportStatus
from tap_exports.providers.batch.client import BatchApi
from tap_exports.providers.batch.exports import BatchProfilesExport
from tap_exports.providers.batch.settings import EVENTS
from tap_exports.providers.connect.client import ConnectApi
from tap_exports.providers.connect.exports import ConnectCollectionExport
from tap_exports.providers.connect.settings import Collection
from tap_exports.providers.emarsys.client import EmarsysApi
from tap_exports.providers.emarsys.exports import EmarsysExport, ExportSettings
from tap_exports.providers.emarsys.kinds import RESPONSES
from tap_exports.providers.mailgun.client import MailgunApi
from tap_exports.providers.mailgun.exports import MailgunListExport
from tap_exports.providers.packagex.client import PackageXApi
from tap_exports.providers.packagex.exports import ResourceExport, get_export
from tap_exports.providers.packagex.resources import BY_NAME, RowShape
from tap_exports_sandbox.batch.data import EVENT_NAMES

BATCH_SPEC = Path(__file__).parent / "specs" / "batch-exports-list.openapi.json"

#: doc.batch.com, "View export request" (API version 2.2 page).
BATCH_VIEW = {
    "id": "export_nvctr8tgdjf7bppacxxt2aeemnjehfmw",
    "request_date": "2024-02-28T16:28:42Z",
    "scope": "PROFILE_ATTRIBUTES",
    "status": "SUCCESS",
    "request": {
        "export_type": "ATTRIBUTES",
        "attributes": [
            "$region",
            "$phone_number",
            "$timezone",
            "$email_marketing",
            "$sms_marketing",
            "$language",
            "$email_address",
        ],
        "identifiers": ["installation_ids", "custom_id"],
    },
    "completion_date": "2024-02-28T16:28:48Z",
    "start_date": "2024-02-28T16:28:48Z",
    "files": [
        {
            "id": "file_etxhwckcfc05egew7y97bdjtc75p7g8b",
            "part": 1,
            "size": 592752,
            "url": "https://api.batch.com/2.2/exports/download?id=file_etxhwckcfc05egew7y97bdjtc75p7g8b",
        }
    ],
}
#: doc.batch.com, "Export profile data": the 202 answer.
BATCH_CREATED = {"id": "export_063bc4w4x8e363yem6wfnxc5c13c0n46"}
#: Emarsys API docs, "Querying Export Status", result example.
EMARSYS_STATUS = {
    "replyCode": 0,
    "replyText": "OK",
    "data": {
        "id": "123",
        "created": "2012-05-23 11:08:56",
        "status": "done",
        "type": "Responses",
        "file_name": "clicks_3931993_1_en-df0ef2.csv",
        "ftp_host": "88.99.123.23",
        "ftp_dir": "folder/subfolder",
    },
}
#: getconnect/connect-docs, docs/http/exporting-events.md, "Monitoring the export".
CONNECT_MONITOR = {
    "filename": "55b80dd4eb6742481c62c05e.json",
    "collection": "testing",
    "status": "Pending",
    "created": "2015-07-28T23:18:44.698Z",
    "started": None,
    "finished": None,
    "error": None,
    "percentDone": 0,
    "transferredBytes": 0,
    "totalBytes": 0,
}
#: The same document, "Small exports": the 200 answer.
CONNECT_SMALL_EXPORT = {
    "results": [
        {
            "id": "9eb91561-1964-468a-b6bf-c16034b6757c",
            "timestamp": "2015-07-28T00:00:30.295Z",
            "name": "test",
        },
        {
            "id": "28c86f2e-4ad8-423a-85ea-b09a5ab9549d",
            "timestamp": "2015-07-28T00:00:52.549Z",
            "name": "test",
        },
    ]
}
#: docs.packagex.io prints no export object: the envelope of "Requests and responses"
#: around the fields "Retrieve Exports" and the overview name, with the documented id.
PACKAGEX_EXPORT = {
    "message": "Export retrieved",
    "data": {
        "id": "exp_7xKyu1HYgPnSAXZhtdxFxk",
        "status": "completed",
        "resource": "shipment",
        "count_batches": 1,
        "count_total": 2,
        "created_at": 1709137722,
        "updated_at": 1709137728,
    },
    "status": 200,
    "errors": [],
    "code": None,
    "pagination": None,
    "endpoint": "/v1/exports/exp_7xKyu1HYgPnSAXZhtdxFxk",
}
#: Mailgun's removed Exports page (mailgun/documentation, source/api-export.rst): the
#: create answer.
MAILGUN_CREATED = {"id": "57b2085d7cedb2684815e08c", "status": "requested", "url": "domains"}


def test_batch_event_names_are_the_documented_ones_in_tap_and_sandbox():
    """Both lists are written out on purpose (the sandbox imports nothing of the tap);
    each is checked against Batch's OpenAPI document rather than against the other."""
    spec = json.loads(BATCH_SPEC.read_text("utf-8"))
    events = spec["components"]["schemas"]["ExportEventRequest"]["properties"]["events"]
    documented = events["items"]["enum"]
    assert list(EVENTS) == documented
    assert list(EVENT_NAMES) == documented


def test_batch_view_example_is_a_finished_export_with_its_part_and_url(httpserver: HTTPServer):
    export_id = str(BATCH_VIEW["id"])
    httpserver.expect_request("/exports/view", query_string={"id": export_id}).respond_with_json(
        BATCH_VIEW
    )
    adapter = BatchProfilesExport(BatchApi(httpserver.url_for(""), "rest_k", "project_k"), [], [])
    job = adapter.poll(ExportJob(str(export_id)))
    assert job.status is ExportStatus.COMPLETE
    assert job.detail["files"] == [
        {
            "id": "file_etxhwckcfc05egew7y97bdjtc75p7g8b",
            "part": 1,
            "size": 592752,
            "url": "https://api.batch.com/2.2/exports/download?id=file_etxhwckcfc05egew7y97bdjtc75p7g8b",
        }
    ]


def test_batch_create_example_gives_the_export_id(httpserver: HTTPServer):
    httpserver.expect_request("/exports/list").respond_with_json({"exports": [], "has_more": False})
    httpserver.expect_request("/profiles/export", method="POST").respond_with_json(
        BATCH_CREATED, status=202
    )
    api = BatchApi(httpserver.url_for(""), "rest_k", "project_k")
    adapter = BatchProfilesExport(api, ["$language"], ["custom_id"])
    assert adapter.create(Window()).export_id == BATCH_CREATED["id"]


def emarsys_adapter(server: HTTPServer) -> EmarsysExport:
    settings = ExportSettings(
        contact_fields=(1,),
        field_names=("first_name",),
        field_headers=("First Name",),
        distribution_method="ftp",
        ftp=None,
        zone=ZoneInfo("Europe/Vienna"),
        overlap=dt.timedelta(hours=3),
        window_days=30,
        page_size=1000,
    )
    return EmarsysExport(
        EmarsysApi(server.url_for("/api/v2"), "user", "secret"), RESPONSES, settings
    )


def test_emarsys_status_example_is_done_with_its_file_on_ftp(httpserver: HTTPServer):
    httpserver.expect_request("/api/v2/export/123").respond_with_json(EMARSYS_STATUS)
    job = emarsys_adapter(httpserver).poll(ExportJob("123", detail={"distribution_method": "ftp"}))
    assert job.status is ExportStatus.COMPLETE
    data: Any = EMARSYS_STATUS["data"]
    assert {key: job.detail[key] for key in ("file_name", "ftp_host", "ftp_dir")} == {
        key: data[key] for key in ("file_name", "ftp_host", "ftp_dir")
    }


def connect_adapter(server: HTTPServer) -> ConnectCollectionExport:
    api = ConnectApi(server.url_for(""), "project", "key")
    return ConnectCollectionExport(
        api, Collection("testing"), bucket=None, lag=dt.timedelta(minutes=1)
    )


def test_connect_monitor_example_is_a_pending_export(httpserver: HTTPServer):
    httpserver.expect_request("/events/testing/export/55b80dd4eb6742481c62c05e").respond_with_json(
        CONNECT_MONITOR
    )
    job = connect_adapter(httpserver).poll(ExportJob("55b80dd4eb6742481c62c05e"))
    assert job.status is ExportStatus.PENDING
    assert job.detail["filename"] == CONNECT_MONITOR["filename"]
    assert job.detail["percent_done"] == 0


def test_connect_small_export_example_is_read_as_its_events(httpserver: HTTPServer):
    httpserver.expect_request("/events/testing/export").respond_with_json(CONNECT_SMALL_EXPORT)
    window = Window(
        dt.datetime(2015, 7, 28, tzinfo=dt.UTC), dt.datetime(2015, 7, 29, tzinfo=dt.UTC)
    )
    rows = connect_adapter(httpserver).fetch_inline(window)
    assert rows is not None
    assert [row["id"] for row in rows] == [event["id"] for event in CONNECT_SMALL_EXPORT["results"]]


def test_packagex_envelope_example_is_a_completed_export(httpserver: HTTPServer):
    export_id = "exp_7xKyu1HYgPnSAXZhtdxFxk"
    httpserver.expect_request(f"/v1/exports/{export_id}").respond_with_json(PACKAGEX_EXPORT)
    api = PackageXApi(httpserver.url_for(""), "px_key")
    assert get_export(api, export_id)["id"] == export_id
    adapter = ResourceExport(
        api, BY_NAME["shipment"], RowShape({"properties": {"id": {"type": "string"}}}), "json"
    )
    job = adapter.poll(ExportJob(export_id))
    assert (job.status, job.detail["count_total"]) == (ExportStatus.COMPLETE, 2)


def test_mailgun_create_example_gives_the_export_id(httpserver: HTTPServer):
    httpserver.expect_request("/v3/exports", method="GET").respond_with_json({"items": []})
    httpserver.expect_request("/v3/exports", method="POST").respond_with_json(MAILGUN_CREATED)
    adapter = MailgunListExport(MailgunApi(httpserver.url_for(""), "key"), "/v3/domains")
    assert adapter.create(Window()).export_id == MAILGUN_CREATED["id"]
