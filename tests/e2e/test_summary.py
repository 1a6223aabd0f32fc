"""The demo's helpers: sandbox settings as Meltano variables, and the loaded-vs-truth table."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from demo.summary import (
    compare,
    environment_settings,
    fetch_truth,
    loaded_counts,
    log_digest,
    main,
    meltano_env,
    render,
)
from tap_exports_sandbox import Sandbox, SandboxConfig


def test_nested_settings_become_dotted_meltano_variables():
    env = meltano_env(
        {
            "start_date": "2024-01-01T00:00:00Z",
            "poll_interval_seconds": 0.1,
            "acme": {"api_key": "k-1", "lists": ["/a", "/b"], "ftp": {"port": 2121, "tls": False}},
        }
    )
    assert env == {
        "TAP_EXPORTS_START_DATE": "2024-01-01T00:00:00Z",
        "TAP_EXPORTS_POLL_INTERVAL_SECONDS": "0.1",
        "TAP_EXPORTS_ACME_API_KEY": "k-1",
        "TAP_EXPORTS_ACME_LISTS": '["/a", "/b"]',
        "TAP_EXPORTS_ACME_FTP_PORT": "2121",
        "TAP_EXPORTS_ACME_FTP_TLS": "false",
    }


def test_settings_in_skip_are_left_out():
    env = meltano_env({"timeout": 30, "acme": {"rate": 0.5, "port": 21}}, skip={"acme.rate"})
    assert env == {"TAP_EXPORTS_TIMEOUT": "30", "TAP_EXPORTS_ACME_PORT": "21"}


def test_the_sandbox_environment_settings_are_read_from_the_project():
    """The sandbox's fractions of a second stay in meltano.yml: variables carry integers."""
    chosen = environment_settings(Path(__file__).resolve().parents[2] / "meltano.yml")
    assert "poll_interval_seconds" in chosen
    assert "max_concurrent_exports" not in chosen


def test_env_command_prints_exports_a_shell_can_eval(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"poll_interval_seconds": 0.1, "acme": {"api_key": "it's $ecret"}})
    )
    project = tmp_path / "meltano.yml"
    project.write_text(
        "environments:\n- name: sandbox\n  config:\n    plugins:\n      extractors:\n"
        "      - name: tap-exports\n        config: {poll_interval_seconds: 0.2}\n"
    )
    assert main(["env", str(config), "--meltano-yml", str(project)]) == 0
    printed = capsys.readouterr().out
    shell = subprocess.run(
        ["bash", "-c", f'{printed}\nprintf %s "$TAP_EXPORTS_ACME_API_KEY"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout == "it's $ecret"
    assert printed.startswith("export TAP_EXPORTS_ACME_API_KEY=")
    assert "POLL_INTERVAL" not in printed


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA tap_exports")
        connection.execute("CREATE TABLE tap_exports.acme_things (id INT, _sdc_deleted_at VARCHAR)")
        connection.execute(
            "INSERT INTO tap_exports.acme_things VALUES (0, NULL), (1, NULL), (2, '2024-01-01')"
        )
        connection.execute("CREATE TABLE tap_exports.acme_other (id INT)")
        connection.execute("INSERT INTO tap_exports.acme_other VALUES (7)")
    return path


def test_counts_live_rows_per_table(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        counts = loaded_counts(connection.cursor(), "tap_exports")
    assert counts == {"acme_other": 1, "acme_things": 2}


def test_table_flags_differences_and_missing_streams_and_shows_listings():
    lines = compare(
        {"acme_things": 2, "acme_gone": 5, "acme_other": 1}, {"acme_things": 2, "acme_exports": 3}
    )
    assert [(line.stream, line.ok) for line in lines] == [
        ("acme_exports", True),
        ("acme_gone", False),
        ("acme_other", False),
        ("acme_things", True),
    ]
    table = render(lines).splitlines()
    assert table[2].split()[:3] == ["acme_exports", "3", "-"]
    assert "not counted in advance" in table[2]
    assert table[3].split() == ["acme_gone", "missing", "5", "MISMATCH"]
    assert table[5].split() == ["acme_things", "2", "2", "ok"]
    assert table[-1].split() == ["total", "compared", "2", "8"]


def test_log_digest_counts_and_explains_the_sandbox_warnings():
    lines = [
        "t [info     ] tap-exports  Acme acme_things: created export x1 for [...)",
        'METRIC: {"metric": "record_count"}',
        "t [warning  ] tap-exports  PackageX export e1 (item): 21 rows could not be exported",
        "t [warning  ] tap-exports  Something nobody expected",
        "t [error    ] meltano      Loader failed",
    ]
    digest = log_digest(lines, "output/demo.log").splitlines()
    assert digest[0] == "5 log lines in output/demo.log (1 of them METRIC lines for monitoring)"
    assert digest[1] == "1 exports created and read"
    assert digest[2].startswith("1 warnings are the sandbox's PackageX fixtures")
    assert digest[3:] == [
        "other warnings:",
        "  t [warning  ] tap-exports  Something nobody expected",
        "errors:",
        "  t [error    ] meltano      Loader failed",
    ]


def test_demo_settings_keep_keys_and_fill_a_missing_text_key_part():
    from demo.summary import MISSING_KEY_PART, demo_settings

    with Sandbox(SandboxConfig(default_rows=5)) as sandbox:
        maps = json.loads(demo_settings(sandbox.tap_config())["TAP_EXPORTS_STREAM_MAPS"])
    assert all("__key_properties__" not in stream_map for stream_map in maps.values())
    assert maps["emarsys_responses"]["url"] == f"url or {MISSING_KEY_PART!r}"


def test_truth_saved_before_the_run_is_read_back(tmp_path):
    saved = tmp_path / "truth.json"
    saved.write_text(json.dumps({"streams": {"acme_things": 3}, "datasets": {"acme/things": 3}}))
    assert fetch_truth(str(saved)) == {"acme_things": 3}
