"""Every setting is checked before the first request; each problem names its dotted setting."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.tap import TapExports
from tap_exports_sandbox import Sandbox, SandboxConfig

TAP = str(Path(sys.executable).with_name("tap-exports"))
Config = dict[str, Any]


def _drop(section: str, key: str) -> Callable[[Config], None]:
    return lambda config: config[section].pop(key)


def _set(path: str, value: Any) -> Callable[[Config], None]:
    *parents, leaf = path.split(".")

    def change(config: Config) -> None:
        target = config
        for name in parents:
            target = target.setdefault(name, {})
        target[leaf] = value

    return change


TOMORROW = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
CASES: dict[str, tuple[Callable[[Config], None], str]] = {
    "missing Mailgun key": (_drop("mailgun", "api_key"), "mailgun.api_key"),
    "missing PackageX key": (_drop("packagex", "api_key"), "packagex.api_key"),
    "missing Connect project": (_drop("connect", "project_id"), "connect.project_id"),
    "missing Batch REST key": (_drop("batch", "rest_api_key"), "batch.rest_api_key"),
    "missing Emarsys secret": (_drop("emarsys", "secret"), "emarsys.secret"),
    "missing half of Connect's S3 keys": (
        _drop("connect", "s3_secret_access_key"),
        "connect.s3_secret_access_key",
    ),
    "malformed Mailgun URL": (_set("mailgun.base_url", "api.mailgun.net"), "mailgun.base_url"),
    "malformed Batch URL": (_set("batch.base_url", "ftp://api.batch.com"), "batch.base_url"),
    "malformed Connect S3 path": (
        _set("connect.s3_path", "bucket-without-scheme"),
        "connect.s3_path",
    ),
    "start_date in the future": (_set("start_date", TOMORROW), "start_date"),
    "start_date not a date": (_set("start_date", "last tuesday"), "start_date"),
    "unknown Batch event": (_set("batch.events", ["app_open", "teleported"]), "batch.events"),
    "unknown Batch identifier": (_set("batch.identifiers", ["shoe_size"]), "batch.identifiers"),
    "unknown PackageX resource": (_set("packagex.resources", ["spaceship"]), "packagex.resources"),
    "Emarsys page size out of range": (_set("emarsys.page_size", 10**9), "emarsys.page_size"),
    "Emarsys window out of range": (_set("emarsys.window_days", 0), "emarsys.window_days"),
    "Emarsys too many contact fields": (
        _set("emarsys.contact_fields", list(range(1, 200))),
        "emarsys.contact_fields",
    ),
    "Emarsys FTP without host": (
        _set("emarsys.distribution_method", "ftp"),
        "emarsys.ftp.host",
    ),
    "unknown Emarsys timezone": (_set("emarsys.timezone", "Mars/Olympus"), "emarsys.timezone"),
    "invalid Mailgun list": (_set("mailgun.lists", ["/v3/x.com/events"]), "mailgun.lists"),
    "poll interval above its maximum": (
        _set("poll_interval_seconds", 90),
        "poll_max_interval_seconds",
    ),
    "negative export timeout": (_set("export_timeout_seconds", -1), "export_timeout_seconds"),
    "no concurrent exports": (_set("max_concurrent_exports", 0), "max_concurrent_exports"),
    "unknown on_bad_rows": (_set("on_bad_rows", "ignore"), "on_bad_rows"),
    "zero decompression bound": (_set("max_decompressed_bytes", 0), "max_decompressed_bytes"),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(default_rows=10)) as running:
        yield running


@pytest.mark.parametrize(("change", "setting"), CASES.values(), ids=CASES.keys())
def test_a_bad_setting_fails_before_any_request_naming_it(
    sandbox: Sandbox, change: Callable[[Config], None], setting: str
):
    config = copy.deepcopy(sandbox.tap_config())
    change(config)
    before = sandbox.stats.snapshot()["requests"]
    with pytest.raises(ConfigValidationError) as failed:
        TapExports(config=config).sync_all()
    assert any(setting in error for error in failed.value.errors), failed.value.errors
    assert sandbox.stats.snapshot()["requests"] == before


def test_the_command_exits_1_listing_every_problem(sandbox: Sandbox, tmp_path: Path):
    config = copy.deepcopy(sandbox.tap_config())
    config["mailgun"].pop("api_key")
    config["start_date"] = TOMORROW
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    before = sandbox.stats.snapshot()["requests"]
    done = subprocess.run(
        [TAP, "--config", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "mailgun.api_key: required" in done.stderr
    assert "start_date" in done.stderr
    assert sandbox.stats.snapshot()["requests"] == before
