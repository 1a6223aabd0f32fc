"""The tap's command line fails on a bad configuration or a provider's refusal in plain words.

Every mode (sync, ``--discover``, ``--test``) lists every problem of the settings, each
with its dotted name, and exits 1 without a traceback; a configuration naming no
provider fails instead of syncing nothing; a provider's error is one ERROR line.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tap_exports.providers.registry import PROVIDERS
from tests.support import TAP, run_cli

MODES = {"sync": (), "discover": ("--discover",), "test": ("--test",)}


def run(
    tmp_path: Path, config: dict[str, Any], *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [TAP, "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
def test_every_mode_lists_every_problem_without_a_traceback(sandbox, tmp_path, mode):
    config = copy.deepcopy(sandbox.tap_config())
    config["on_bad_rows"] = "ignore"  # a schema error hides nothing
    config["packagex"]["resources"] = ["bogus"]
    config["mailgun"].pop("api_key")
    config["emarsys"]["timezone"] = "Mars/Olympus"
    config["emarsys"]["distribution_method"] = "ftp"
    before = sandbox.stats.snapshot()["requests"]
    done = run(tmp_path, config, *mode)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    for setting in (
        "on_bad_rows",
        "packagex.resources",
        "mailgun.api_key",
        "emarsys.timezone",
        "emarsys.ftp.host",
    ):
        assert f"Config validation error: {setting}: " in done.stderr, setting
    assert sandbox.stats.snapshot()["requests"] == before


@pytest.mark.parametrize(
    "config",
    [{}, {"mailgn": {"api_key": "key-0123456789"}}, {"start_date": "2024-01-01T00:00:00Z"}],
    ids=["empty", "misspelt provider", "no provider"],
)
def test_a_config_without_a_provider_fails_naming_the_expected_keys(tmp_path, config):
    for mode in MODES.values():
        done = run(tmp_path, config, *mode)
        assert done.returncode == 1, mode
        assert "no provider is configured" in done.stderr, mode
        for provider in PROVIDERS:
            assert f"{provider.key}.{provider.credentials[0]}" in done.stderr
        found = done.stderr.split("Settings found: ")[1].splitlines()[0]
        assert found == (", ".join(sorted(config)) or "none")


def test_unknown_settings_are_warned_about_with_the_closest_name(sandbox, tmp_path):
    config = copy.deepcopy(sandbox.tap_config())
    config["poll_intervall_seconds"] = 5
    config["mailgun"]["apikey"] = "k"
    done = run(tmp_path, config, "--discover")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "unknown setting 'poll_intervall_seconds' is ignored "
        "(did you mean 'poll_interval_seconds'?)" in done.stderr
    )
    assert "unknown setting 'mailgun.apikey' is ignored (did you mean 'mailgun.api_key'?)" in (
        done.stderr
    )


def test_a_provider_error_is_one_line_and_its_traceback_is_kept_for_debug(sandbox):
    config = copy.deepcopy(sandbox.tap_config())
    config["mailgun"]["api_key"] = "wrong-mailgun-key-0000"
    for extra, level in (((), "INFO"), (("--test",), "INFO"), ((), "DEBUG")):
        result = run_cli(config, extra_args=extra, env={"TAP_EXPORTS_LOGLEVEL": level})
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if "| ERROR " in line]
        assert any(
            line.endswith("check the provider's credentials and their permissions)")
            for line in errors
        ), errors
        assert ("Traceback" in result.stderr) is (level == "DEBUG")
        assert "wrong-mailgun-key" not in result.stderr


def test_a_secret_of_the_wrong_type_is_named_but_never_shown(tmp_path):
    done = run(tmp_path, {"mailgun": {"api_key": 98765432123}}, "--discover")
    assert done.returncode == 1
    assert "Config validation error: mailgun.api_key: is not valid" in done.stderr
    assert "98765432123" not in done.stderr
