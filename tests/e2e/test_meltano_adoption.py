"""A Meltano user's first day: settings from variables, clear refusals, provider jobs.

Containers and CI set everything through environment variables, so every setting
meltano.yml declares (objects aside) is set that way here, and Meltano must pass each
on with its type; discovery (``meltano select``) refuses a typo or an empty
configuration in words; and two provider jobs of meltano.yml run side by side, each
with its own state id, as the example schedules run them.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
import yaml

from benchmarks.postgres import Cluster
from demo.summary import environment_settings, loaded_counts, meltano_env
from tap_exports.tap import TapExports
from tests.e2e.conftest import ROOT, MeltanoProject

pytestmark = pytest.mark.slow

PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text())
(EXTRACTOR,) = (p for p in PROJECT["plugins"]["extractors"] if p["name"] == "tap-exports")
#: Values for the settings the sandbox does not give, one per setting, all valid.
SAMPLES: dict[str, str] = {
    "export_timeout_seconds": "300",
    "poll_interval_seconds": "1",
    "poll_max_interval_seconds": "2",
    "max_compression_ratio": "150",
    "emarsys.ftp.host": "127.0.0.1",
    "emarsys.ftp.username": "exports",
    "emarsys.ftp.password": "ftp-secret-0000",
    "emarsys.ftp.ca_file": str(ROOT / "README.md"),
    "emarsys.ftp.directory": "exports",
    "faker_config.seed": "7",
    "faker_config.locale": '["en_US"]',
    "flattening_enabled": "true",
    "flattening_max_depth": "1",
    "flattening_max_key_length": "60",
    "flattening_separator": "__",
    "batch_config.encoding.format": "jsonl",
    "batch_config.encoding.compression": "gzip",
    "batch_config.storage.prefix": "exports-",
    "packagex.export_statuses": '["completed"]',
}


#: A frame of the tap's own code in a traceback (Meltano prints its own for ``select``).
TAP_FRAME = re.compile(r"(tap_exports|singer_sdk)/[\w/]+\.py")


def variable(setting: str) -> str:
    return "TAP_EXPORTS_" + setting.replace(".", "_").upper()


def every_setting_as_a_variable(config: Mapping[str, Any], batch_root: str) -> dict[str, str]:
    """Each non-object setting of meltano.yml: the sandbox's value, a sample or the default."""
    from_sandbox = meltano_env(config, skip=environment_settings(ROOT / "meltano.yml"))
    env: dict[str, str] = {}
    for setting in EXTRACTOR["settings"]:
        if setting["kind"] == "object":
            continue
        name, default = setting["name"], setting.get("value")
        value = from_sandbox.get(variable(name)) or SAMPLES.get(name)
        if value is None and default is not None:
            value = default if isinstance(default, str) else json.dumps(default)
        env[variable(name)] = value if value is not None else ""
    env[variable("batch_config.storage.root")] = batch_root
    return env


def test_every_setting_from_its_variable_reaches_the_tap(
    sandbox, meltano: MeltanoProject, tmp_path
):
    env = every_setting_as_a_variable(sandbox.tap_config(), f"file://{tmp_path}")
    missing = [name for name, value in env.items() if value == ""]
    assert not missing, f"no value chosen for {missing}"

    dumped = meltano.run("invoke", "--dump=config", "tap-exports", env=env).stdout
    config = json.loads(dumped)
    assert config["export_timeout_seconds"] == 300
    assert config["poll_interval_seconds"] == 1
    assert config["max_compression_ratio"] == 150
    assert config["emarsys"]["ftp"]["port"] == 21
    assert config["flattening_enabled"] is True

    listed = meltano.run("select", "tap-exports", "--list", "--all", env=env)
    assert "mailgun_domains" in listed.stdout
    assert "emarsys_responses" in listed.stdout

    synced = meltano.run(
        "invoke", "tap-exports", env={**env, "TAP_EXPORTS__SELECT": '["mailgun_domains.*"]'}
    )
    messages = [json.loads(line) for line in synced.stdout.splitlines() if line.startswith("{")]
    assert {m["stream"] for m in messages if m["type"] == "BATCH"} == {"mailgun_domains"}
    assert "Traceback" not in synced.stderr


def test_a_connection_test_is_cheap_and_clear_and_discovery_refuses_a_bad_or_empty_config_in_words(
    sandbox, meltano: MeltanoProject
):
    env = meltano_env(sandbox.tap_config(), skip=environment_settings(ROOT / "meltano.yml"))
    meltano.run("invoke", "tap-exports", "--test", env=env)
    assert sandbox.report()["exports_created"] == {"emarsys": 1}
    wrong = {**env, variable("mailgun.api_key"): "wrong-mailgun-key-0000"}
    refused = meltano.run("invoke", "tap-exports", "--test", env=wrong, check=False)
    assert refused.returncode == 1
    assert "Mailgun: HTTP 401 on GET " in refused.stderr
    assert not TAP_FRAME.search(refused.stderr)

    env[variable("packagex.resources")] = '["bogus"]'
    env[variable("emarsys.timezone")] = "Mars/Olympus"
    typo = meltano.run("select", "tap-exports", "--list", env=env, check=False)
    assert typo.returncode != 0
    assert "packagex.resources: unknown bogus" in typo.stderr
    assert "emarsys.timezone: unknown timezone 'Mars/Olympus'" in typo.stderr
    assert not TAP_FRAME.search(typo.stderr)

    nothing = meltano.run("run", "tap-exports", "target-jsonl", check=False)
    assert nothing.returncode != 0
    assert "no provider is configured" in nothing.stderr
    assert "mailgun.api_key" in nothing.stderr
    assert not TAP_FRAME.search(nothing.stderr)


def provider_streams(config: dict[str, Any], provider: str) -> set[str]:
    return {name for name in TapExports(config=config).streams if name.startswith(f"{provider}_")}


def test_two_provider_jobs_run_side_by_side_each_with_its_own_state(
    sandbox, meltano: MeltanoProject, postgres: Cluster, tmp_path
):
    schema = "provider_jobs"
    env = {
        **meltano_env(sandbox.tap_config(), skip=environment_settings(ROOT / "meltano.yml")),
        **postgres.target_env(),
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        "MELTANO_STATE_BACKEND_URI": f"file://{tmp_path}/state",
    }
    with postgres.connect() as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    jobs = {"mailgun": "mailgun-to-postgres", "batch": "batch-to-postgres"}
    # Meltano keeps a run's catalog per extractor, so two provider extractors share a project.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(
            pool.map(
                lambda job: meltano.run("--environment", "sandbox", "run", job, env=env),
                jobs.values(),
            )
        )

    states = meltano.run("--environment", "sandbox", "state", "list", env=env).stdout.split()
    truth = sandbox.truth()["streams"]
    with postgres.connect() as connection:
        counts = loaded_counts(connection.cursor(), schema)
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    for provider in jobs:
        state_id = f"sandbox:tap-exports-{provider}-to-target-postgres"
        assert state_id in states
        bookmarks = meltano.state(state_id, env=env)["singer_state"]["bookmarks"]
        expected = provider_streams(sandbox.tap_config(), provider)
        assert set(bookmarks) <= expected, state_id
        assert any(bookmarks.values()), state_id
        for stream in expected & set(truth):
            assert counts.get(stream) is not None, stream

    schedules = meltano.run("schedule", "list").stdout
    assert "mailgun-hourly: mailgun-to-postgres" in schedules
    assert "emarsys-daily: emarsys-to-postgres" in schedules


def test_a_throwaway_project_installs_the_tap_from_a_git_pip_url(
    sandbox, meltano: MeltanoProject, tmp_path
):
    """What the README tells an adopter: the plugin block of meltano.yml, pinned by git."""
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    plugin = {**EXTRACTOR, "pip_url": f"git+file://{ROOT}@{commit}"}
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / "meltano.yml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "project_id": "throwaway",
                "default_environment": "dev",
                "environments": [{"name": "dev"}],
                "plugins": {"extractors": [plugin]},
            }
        )
    )
    project = replace(meltano, root=project_dir, system_dir=tmp_path / "system")
    project.run("install")
    env = {
        **meltano_env({"mailgun": sandbox.tap_config()["mailgun"]}),
        "TAP_EXPORTS__SELECT": '["mailgun_domains.*"]',
    }
    synced = project.run("invoke", "tap-exports", env=env)
    records = [line for line in synced.stdout.splitlines() if '"type":"RECORD"' in line]
    assert len(records) == sandbox.truth()["streams"]["mailgun_domains"]
