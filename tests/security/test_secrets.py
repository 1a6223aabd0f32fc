"""No secret setting ever leaves the tap except towards its provider's API.

Every provider runs at DEBUG level (the SDK's and every library's loggers), then once more
failing with a traceback; every secret value is looked for in every line printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_exports.tap import TapExports
from tap_exports_sandbox import Fault, Sandbox, SandboxConfig
from tap_exports_sandbox.connect.events import ConnectOptions
from tests.conftest import FAST_DELAYS

TAP = str(Path(sys.executable).with_name("tap-exports"))
DEBUG = {"TAP_EXPORTS_LOGLEVEL": "DEBUG", "LOGLEVEL": "DEBUG"}


def secret_values(schema: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
    """Every value of ``config`` whose setting the tap's schema marks secret, by dotted name."""
    found: dict[str, str] = {}
    for name, spec in schema.get("properties", {}).items():
        value = config.get(name)
        if spec.get("secret") and isinstance(value, str):
            found[name] = value
        elif isinstance(value, dict):
            inner = secret_values(spec, value)
            found.update({f"{name}.{key}": secret for key, secret in inner.items()})
    return found


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    config = SandboxConfig(
        delays=FAST_DELAYS, default_rows=60, connect=ConnectOptions(inline_limit=20)
    )
    with Sandbox(config) as running:
        yield running


def run_tap(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [TAP, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **DEBUG},
        check=False,
    )


#: What a signed link, a SigV4 signature or a credential header look like in a log line.
CREDENTIAL_SHAPES = re.compile(
    r"(?i)X-Amz-(?:Signature|Credential|Security-Token)=(?!<redacted>)"
    r"|Signature=(?!<redacted>)[0-9a-f]"
    r"|Signature:\s*[0-9a-f]{16}"
    r"|Credential=(?!<redacted>)\w"
    r"|authorization['\"]?\s*[:=]\s*+(?-i:b)?+['\"]?+(?:Bearer |Basic )?+(?!<)\w"
)


def assert_no_secret(secrets: dict[str, str], *outputs: str) -> None:
    for name, secret in secrets.items():
        for output in outputs:
            assert secret not in output, f"{name} leaked"
    for output in outputs:
        shape = CREDENTIAL_SHAPES.search(output)
        assert shape is None, output[max(0, shape.start() - 200) : shape.end() + 80]


def test_every_provider_at_debug_level_prints_no_secret(sandbox: Sandbox, tmp_path: Path):
    config = sandbox.tap_config()
    secrets = secret_values(TapExports.config_jsonschema, config)
    assert {
        "mailgun.api_key",
        "packagex.api_key",
        "connect.api_key",
        "connect.s3_secret_access_key",
        "batch.rest_api_key",
        "emarsys.secret",
    } <= set(secrets)
    done = run_tap(config, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DEBUG" in done.stderr
    # Both download paths ran at DEBUG: pre-signed links (urllib3) and Connect's bucket (botocore).
    assert "urllib3.connectionpool" in done.stderr
    assert "botocore" in done.stderr
    # The customer's S3 access key id is half a credential: never printed either.
    secrets["connect.s3_access_key_id"] = config["connect"]["s3_access_key_id"]
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    streams = {message["stream"] for message in records if message["type"] == "RECORD"}
    assert streams >= set(sandbox.truth()["streams"]) - {"packagex_export_issues"}
    assert_no_secret(secrets, done.stdout, done.stderr)
    # No credential was sent along with a pre-signed download link.
    assert sandbox.storage.credential_leaks == []


def test_a_failing_run_keeps_secrets_out_of_its_error_and_traceback(
    sandbox: Sandbox, tmp_path: Path
):
    config = sandbox.tap_config()
    secrets = secret_values(TapExports.config_jsonschema, config)
    # The provider echoes the key it was sent in its error, as some do.
    echoed = {"message": f"invalid key {config['mailgun']['api_key']}"}
    sandbox.faults.add("mailgun", "create", Fault.status(400, echoed))
    try:
        done = run_tap(config, tmp_path)
    finally:
        sandbox.faults.clear()
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "invalid key <redacted>" in done.stderr
    assert_no_secret(secrets, done.stdout, done.stderr)


def test_state_messages_hold_no_secret_nor_signed_link(sandbox: Sandbox, tmp_path: Path):
    config = sandbox.tap_config()
    secrets = secret_values(TapExports.config_jsonschema, config)
    # Each export is written to state with its provider detail as soon as it is created.
    done = run_tap(config, tmp_path)
    states = [
        line
        for line in done.stdout.splitlines()
        if line.strip() and json.loads(line)["type"] == "STATE"
    ]
    assert states
    assert_no_secret(secrets, *states)
    for state in states:
        assert "X-Amz-Signature" not in state
        assert "Signature=" not in state
