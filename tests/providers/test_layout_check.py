"""``tap-exports-check`` against the sandbox: every provider's layout, as documented and not."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap_exports.layout_check import main
from tap_exports_sandbox import Sandbox, SandboxConfig
from tap_exports_sandbox.batch.options import BatchOptions
from tap_exports_sandbox.emarsys.options import EmarsysOptions
from tests.conftest import FAST_DELAYS, SandboxFactory

CHECK = Path(sys.executable).with_name("tap-exports-check")


def recent(**fields: Any) -> SandboxConfig:
    """Data up to now, so that the check's export of the last minutes holds rows."""
    epoch = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    return SandboxConfig(delays=FAST_DELAYS, default_rows=1500, epoch=epoch, **fields)


def report(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(sandbox.tap_config()), "utf-8")
    code = main(["--config", str(path)])
    return code, capsys.readouterr().out


def findings(text: str) -> dict[str, str]:
    """Each report line's outcome, by provider and stream."""
    lines = (
        re.match(r"(\w+ \S+(?: \([^)]*\))?): (matched|differs|not checked|failed) - ", line)
        for line in text.splitlines()
    )
    return {match[1]: match[2] for match in lines if match}


def secrets(config: dict[str, Any]) -> list[str]:
    return [
        value
        for section in config.values()
        if isinstance(section, dict)
        for key, value in section.items()
        if isinstance(value, str) and re.search("key|secret|password", key)
    ]


def test_a_sandbox_as_documented_matches_everywhere_it_can_be_checked(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    sandbox = sandbox_factory(recent())
    code, text = report(sandbox, tmp_path, capsys)
    outcomes = findings(text)
    assert code == 0, text
    assert outcomes["Batch batch_events"] == "matched"
    assert outcomes["Batch batch_profiles"] == "not checked"
    assert outcomes["Emarsys emarsys_responses"] == "matched"
    assert outcomes["Connect connect_purchases"] == "matched"
    assert outcomes["PackageX packagex_shipments"] == "matched"
    assert {outcome for name, outcome in outcomes.items() if name.startswith("Mailgun")} == {
        "not checked"
    }
    assert re.search(r"Batch batch_events: matched - \d+ rows read; fields: .*timestamp", text)
    created = sandbox.stats.exports_created("batch", "EVENTS")
    assert created == 1
    assert all(secret not in text for secret in secrets(sandbox.tap_config()))


def test_layouts_that_differ_are_reported_and_fail_the_check(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    sandbox = sandbox_factory(
        recent(
            batch=BatchOptions(event_fields=(("timestamp", "date"),)),
            emarsys=EmarsysOptions(honours_language=False, language="de"),
        )
    )
    code, text = report(sandbox, tmp_path, capsys)
    outcomes = findings(text)
    assert code == 1
    assert outcomes["Batch batch_events"] == "differs"
    assert "needed event, timestamp" in text
    assert outcomes["Emarsys emarsys_registrations"] == "differs"
    assert "found user_id, Vorname" in text
    assert outcomes["Connect connect_purchases"] == "matched"


def test_wrong_credentials_are_reported_without_the_secret(
    sandbox_factory: SandboxFactory, tmp_path: Path
):
    sandbox = sandbox_factory(recent())
    config = sandbox.tap_config()
    config = {
        **{key: value for key, value in config.items() if not isinstance(value, dict)},
        "batch": {**config["batch"], "rest_api_key": "rest_not-the-right-key"},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), "utf-8")
    done = subprocess.run(
        [str(CHECK), "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Batch batch_events: failed - " in done.stdout
    assert "HTTP 401" in done.stdout
    assert "rest_not-the-right-key" not in done.stdout + done.stderr
