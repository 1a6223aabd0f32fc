"""The README tells the truth about settings and commands."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support import TAP

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_readme():
    about = json.loads(
        subprocess.run([TAP, "--about", "--format=json"], check=True, capture_output=True).stdout
    )
    readme = (ROOT / "README.md").read_text()

    def names(properties: dict[str, Any], prefix: str = "") -> list[str]:
        out = []
        for name, spec in properties.items():
            out.append(prefix + name)
            out += names(spec.get("properties", {}), f"{prefix}{name}.")
        return out

    missing = [
        name for name in names(about["settings"]["properties"]) if f"| {name} |" not in readme
    ]
    assert not missing, "run scripts/readme_settings.py: " + ", ".join(missing)


def test_the_readme_commands_exist():
    readme = (ROOT / "README.md").read_text()
    for command in ("scripts/demo.sh", "scripts/test.sh"):
        assert command in readme
        assert (ROOT / command).exists()
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_the_streams_table_matches_the_tap(sandbox):
    """Name, provider, primary key, replication key and mode of every stream, as discovered."""
    from tap_exports.providers.registry import PROVIDERS
    from tap_exports.tap import TapExports

    titles = {provider.key: provider.title for provider in PROVIDERS}
    rows = set((ROOT / "README.md").read_text().splitlines())
    for name, stream in TapExports(config=sandbox.tap_config()).streams.items():
        shown = "connect_&lt;collection&gt;" if name.startswith("connect_") else name
        keys = ", ".join(stream.primary_keys or [])
        replication = stream.replication_key or "—"
        mode = "incremental" if stream.replication_key else "full table"
        provider = titles[name.split("_", 1)[0]]
        assert f"| `{shown}` | {provider} | {keys} | {replication} | {mode} |" in rows, name
