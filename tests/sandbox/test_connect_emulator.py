"""The Connect emulator over real sockets, spoken to with plain HTTP and boto3."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema
import pytest
import requests

from tap_exports_sandbox import Sandbox
from tap_exports_sandbox.connect.emulator import ConnectEmulator
from tap_exports_sandbox.connect.events import ConnectOptions, event_time
from tap_exports_sandbox.faults import Fault
from tests.conftest import SandboxFactory

WAIT_SECONDS = 10.0


class ConnectClient:
    """Calls the emulated Connect API with the sandbox's project and key."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.settings = sandbox.tap_config()["connect"]
        self.session = requests.Session()
        self.session.headers["X-Project-Id"] = self.settings["project_id"]
        self.session.headers["X-Api-Key"] = self.settings["api_key"]

    def url(self, collection: str, export_id: str = "") -> str:
        suffix = f"/{export_id}" if export_id else ""
        return f"{self.settings['base_url']}/events/{collection}/export{suffix}"

    def inline(self, collection: str, query: dict[str, Any]) -> requests.Response:
        return self.session.get(self.url(collection), params={"query": json.dumps(query)})

    def create(self, collection: str, query: dict[str, Any], **overrides: str) -> requests.Response:
        body = {
            "query": query,
            "s3Path": self.settings["s3_path"],
            "s3AccessKeyId": self.settings["s3_access_key_id"],
            "s3SecretAccessKey": self.settings["s3_secret_access_key"],
            **overrides,
        }
        return self.session.post(self.url(collection), json=body)

    def wait(self, location: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            monitor = self.session.get(location).json()
            if monitor["status"] not in {"Pending", "Running"}:
                return dict(monitor)
            time.sleep(0.02)
        pytest.fail(f"{location} did not finish within {WAIT_SECONDS} s")


@pytest.fixture
def connect_sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(
        connect=ConnectOptions(inline_limit=50),
        rows={"connect/purchases": 120, "connect/pageviews": 30},
    )


@pytest.fixture
def client(connect_sandbox: Sandbox):
    made = ConnectClient(connect_sandbox)
    yield made
    made.session.close()


def emulator(sandbox: Sandbox) -> ConnectEmulator:
    return sandbox.emulator(ConnectEmulator)


def timeframe(sandbox: Sandbox, first: int, stop: int) -> dict[str, str]:
    dataset = emulator(sandbox).collections["purchases"].dataset
    return {
        "start": event_time(dataset.timestamp(first)).isoformat(),
        "end": event_time(dataset.timestamp(stop)).isoformat(),
    }


def test_requests_without_the_projects_key_are_refused(client: ConnectClient):
    client.session.headers["X-Api-Key"] = "wrong"
    response = client.inline("purchases", {})
    assert response.status_code == 401
    assert "errorMessage" in response.json()


def test_small_export_answers_the_timeframe_start_inclusive_end_exclusive(
    connect_sandbox: Sandbox, client: ConnectClient
):
    response = client.inline("purchases", {"timeframe": timeframe(connect_sandbox, 10, 40)})
    assert response.status_code == 200
    truth = list(emulator(connect_sandbox).collections["purchases"].events(10, 40))
    assert response.json() == {"results": truth}
    assert truth[0]["customer"]["tier"] in {"free", "silver", "gold"}


def test_more_events_than_the_inline_limit_is_413_unless_a_filter_narrows_them(
    connect_sandbox: Sandbox, client: ConnectClient
):
    assert client.inline("purchases", {}).status_code == 413
    gold = {"customer.tier": "gold", "price": {"lt": 500}}
    response = client.inline("purchases", {"filter": gold})
    truth = [
        event
        for event in emulator(connect_sandbox).collections["purchases"].events()
        if event["customer"]["tier"] == "gold" and event["price"] < 500
    ]
    assert 0 < len(truth) <= 50
    assert response.status_code == 200
    assert response.json()["results"] == truth


def test_invalid_queries_are_422_with_connects_errors(client: ConnectClient):
    response = client.inline("purchases", {"filter": {"price": {"in": 5}}})
    assert response.status_code == 422
    assert response.json() == {
        "errors": [{"field": "filter", "description": "'in' on 'price' expects a non-empty list"}]
    }
    assert client.create("purchases", {"timeframe": "today"}).status_code == 422


def test_unknown_collections_are_empty(client: ConnectClient):
    assert client.inline("nothing-pushed-yet", {}).json() == {"results": []}


def test_s3_export_writes_ndjson_into_the_users_bucket(
    connect_sandbox: Sandbox, client: ConnectClient
):
    response = client.create("purchases", {"timeframe": timeframe(connect_sandbox, 5, 105)})
    assert response.status_code == 201
    export_id = response.json()["id"]
    assert response.headers["Location"] == client.url("purchases", export_id)
    assert response.json()["status"] == "Pending"
    monitor = client.wait(response.headers["Location"])
    assert monitor["status"] == "Complete"
    assert monitor["percentDone"] == 100
    assert monitor["filename"] == f"{export_id}.json"
    storage = connect_sandbox.storage
    bucket = emulator(connect_sandbox).bucket
    stored = storage.client().get_object(Bucket=bucket, Key=f"exports/{export_id}.json")
    body = stored["Body"].read()
    assert len(body) == monitor["totalBytes"] == monitor["transferredBytes"]
    lines = body.decode().splitlines()
    assert [json.loads(line) for line in lines] == list(
        emulator(connect_sandbox).collections["purchases"].events(5, 105)
    )
    assert connect_sandbox.stats.exports_created("connect", "purchases") == 1


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"s3AccessKeyId": "AKIAWRONG"}, "InvalidAccessKeyId"),
        ({"s3SecretAccessKey": "wrong-secret"}, "SignatureDoesNotMatch"),
        ({"s3Path": "https://someone-elses-bucket.s3.amazonaws.com/exports/"}, "NoSuchBucket"),
    ],
)
def test_exports_the_bucket_refuses_end_failed_with_s3s_error(
    connect_sandbox: Sandbox, client: ConnectClient, overrides: dict[str, str], words: str
):
    response = client.create("purchases", {}, **overrides)
    monitor = client.wait(response.headers["Location"])
    assert monitor["status"] == "Failed"
    assert words in monitor["error"]
    listed = connect_sandbox.storage.client().list_objects_v2(
        Bucket=emulator(connect_sandbox).bucket
    )
    assert listed.get("KeyCount", 0) == 0


@pytest.mark.parametrize("path", ["s3://{bucket}/exports/", "http://127.0.0.1:9/{bucket}/x/"])
def test_only_the_documented_s3_path_form_is_accepted_unless_a_mode_says(
    sandbox_factory, path: str
):
    strict = sandbox_factory(default_rows=5)
    client = ConnectClient(strict)
    s3_path = path.format(bucket=emulator(strict).bucket)
    refused = client.create("purchases", {}, s3Path=s3_path)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "s3Path"
    lenient = sandbox_factory(default_rows=5, connect=ConnectOptions(any_s3_path=True))
    accepted = ConnectClient(lenient).create("purchases", {}, s3Path=s3_path)
    assert accepted.status_code == 201


def test_faults_fail_the_export_or_report_an_unknown_status(
    connect_sandbox: Sandbox, client: ConnectClient
):
    connect_sandbox.faults.add("connect", "create", Fault.fail_export())
    failed = client.create("purchases", {})
    assert client.wait(failed.headers["Location"])["status"] == "Failed"
    connect_sandbox.faults.add("connect", "get", Fault.status_word("Queued"))
    done = client.create("purchases", {})
    assert client.session.get(done.headers["Location"]).json()["status"] == "Queued"


def test_malformed_rows_fault_puts_broken_lines_into_the_file(
    connect_sandbox: Sandbox, client: ConnectClient
):
    connect_sandbox.faults.add("connect", "create", Fault.malformed_rows(2))
    response = client.create("purchases", {})
    monitor = client.wait(response.headers["Location"])
    stored = connect_sandbox.storage.client().get_object(
        Bucket=emulator(connect_sandbox).bucket, Key=f"exports/{monitor['filename']}"
    )
    lines = stored["Body"].read().decode().splitlines()
    assert len(lines) == 122
    assert sum(1 for line in lines if line.endswith('"malformed')) == 2


def test_unknown_exports_are_404(client: ConnectClient):
    response = client.session.get(client.url("purchases", "0" * 24))
    assert response.status_code == 404


def test_truth_counts_events_older_than_the_lag(connect_sandbox: Sandbox):
    truth = connect_sandbox.truth()
    assert truth["streams"]["connect_purchases"] == 120
    assert truth["streams"]["connect_pageviews"] == 30
    assert truth["exports"]["connect"] == {"purchases": 120, "pageviews": 30}


def test_declared_properties_describe_every_event(connect_sandbox: Sandbox):
    settings = connect_sandbox.tap_config()["connect"]
    for declared in settings["collections"]:
        events = emulator(connect_sandbox).collections[declared["name"]].events()
        schema = {
            "type": "object",
            "properties": declared["properties"],
            "additionalProperties": False,
        }
        validator = jsonschema.Draft202012Validator(schema)
        assert [error.message for event in events for error in validator.iter_errors(event)] == []
