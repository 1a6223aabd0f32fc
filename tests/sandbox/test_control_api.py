"""``/_sandbox/`` controls the sandbox from another process, like the Python methods do."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import requests

from tap_exports_sandbox import Fault, Sandbox

BOUNCES = "/v3/mg.example.com/bounces"


def control(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{sandbox.base_url}/_sandbox/{path}", timeout=10, **kwargs)


def test_config_points_the_tap_at_the_sandbox(sandbox):
    config = control(sandbox, "GET", "config").json()
    assert config == sandbox.tap_config()
    assert config["mailgun"]["base_url"] == sandbox.provider_url("mailgun")
    assert config["mailgun"]["base_url"].startswith("http://127.0.0.1:")
    assert config["mailgun"]["lists"][0] == "/v3/domains"
    assert config["start_date"] <= sandbox.epoch.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_truth_counts_rows_per_stream_and_export_key(sandbox_factory):
    sandbox = sandbox_factory(default_rows=10, rows={"mailgun/eu.example.org/bounces": 25})
    truth = control(sandbox, "GET", "truth").json()
    assert truth == sandbox.truth()
    mailgun_streams = {k: v for k, v in truth["streams"].items() if k.startswith("mailgun_")}
    assert mailgun_streams == {
        "mailgun_domains": 10,
        "mailgun_bounces": 35,
        "mailgun_unsubscribes": 20,
        "mailgun_complaints": 20,
    }
    assert truth["exports"]["mailgun"]["eu.example.org/bounces"] == 25
    assert truth["datasets"]["mailgun/domains"] == 10


def test_datasets_grow_through_the_api(sandbox):
    name = "mailgun/mg.example.com/complaints"
    before = list(sandbox.datasets[name].rows())
    response = control(sandbox, "POST", f"datasets/{name}/size", json={"size": 1200})
    assert response.json() == {"name": name, "size": 1200}
    assert list(sandbox.datasets[name].rows())[:1000] == before
    assert control(sandbox, "POST", "datasets/nope/size", json={"size": 1}).status_code == 404
    assert control(sandbox, "POST", f"datasets/{name}/size", json={"size": -1}).status_code == 400


def test_faults_and_clock_through_the_api(sandbox, mailgun):
    spec = {
        "provider": "mailgun",
        "operation": "list",
        "kind": "status",
        "code": 502,
        "body": "bad gateway",
    }
    assert control(sandbox, "POST", "faults", json=spec).status_code == 201
    assert mailgun.list().status_code == 502
    assert mailgun.list().status_code == 200
    assert control(sandbox, "POST", "faults", json={"kind": "status"}).status_code == 400

    export_id = mailgun.create(BOUNCES).json()["id"]
    now = control(sandbox, "POST", "clock/advance", json={"seconds": 86400}).json()["now"]
    ahead = dt.datetime.fromisoformat(now) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23, minutes=59) < ahead <= dt.timedelta(hours=24)
    assert mailgun.get(export_id).status_code == 404

    stats = control(sandbox, "GET", "stats").json()
    assert stats["exports_created"] == {"mailgun": 1}
    assert stats["exports_by_key"] == {"mailgun": {"mg.example.com/bounces": 1}}
    assert stats["requests"]["GET /mailgun/v3/exports"] == 2
    assert [fired["fault"]["code"] for fired in stats["faults_fired"]] == [502]
    assert stats["credential_leaks"] == []


def test_reset_returns_to_a_fresh_sandbox(sandbox, mailgun):
    link = mailgun.ready_link(BOUNCES)
    sandbox.faults.add("mailgun", "list", Fault.reset())
    sandbox.advance_clock(60)
    sandbox.resize_dataset("mailgun/domains", 5)
    assert control(sandbox, "POST", "reset").json() == {"reset": True}

    assert mailgun.list().json() == {"items": []}
    assert requests.get(link, timeout=10).status_code == 404
    assert sandbox.datasets["mailgun/domains"].size == 1000
    assert sandbox.report()["exports_created"] == {}
    assert mailgun.create(BOUNCES).status_code == 200


def test_stop_leaves_no_thread_behind(sandbox_factory, mailgun_client):
    before = set(threading.enumerate())
    sandbox = sandbox_factory(default_rows=300_000)
    client = mailgun_client(sandbox)
    client.create(BOUNCES)
    assert client.list().status_code == 200
    sandbox.stop()
    assert set(threading.enumerate()) - before == set()
