"""The README tells the truth about settings and commands."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support import TAP

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_readme():
    about = json.loads(
        subprocess.run([TAP, "--about", "--format=json"], check=True, capture_output=True).stdout
    )
    readme = (ROOT / "README.md").read_text()

    def names(properties: dict, prefix: str = "") -> list[str]:
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
