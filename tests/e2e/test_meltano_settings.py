"""meltano.yml describes the tap exactly as the tap describes itself (``--about``).

Meltano passes a setting to the tap only when meltano.yml declares it, and masks it in
``meltano config list`` only when it is marked sensitive, so a setting added to the tap
but not to meltano.yml is silently unusable, and a secret not marked sensitive leaks.
Numbers are declared ``integer``: Meltano 4.4 reads a ``decimal`` setting from an
environment variable as a ``Decimal`` and then fails to write the tap's config file,
while an integer passes through (a fraction still can, from meltano.yml).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
JSON_KINDS = {
    "string": "string",
    "number": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def about() -> dict[str, Any]:
    executable = Path(sys.executable).with_name("tap-exports")
    result = subprocess.run(
        [str(executable), "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    about: dict[str, Any] = json.loads(result.stdout)
    return about


def meltano_kind(schema: dict[str, Any]) -> str | None:
    """The Meltano setting kind for a JSON schema; None when it is a union Meltano cannot name."""
    if "enum" in schema:
        return "options"
    if schema.get("format") == "date-time":
        return "date_iso8601"
    types = schema.get("type")
    types = [types] if isinstance(types, str) else [t for t in types or [] if t != "null"]
    return JSON_KINDS[types[0]] if len(types) == 1 else None


def leaf_settings(properties: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Settings by dotted name, the way Meltano addresses nested objects.

    An object with named properties is walked into; a free-form object (stream maps,
    whose keys are stream names) is one setting.
    """
    leaves: dict[str, dict[str, Any]] = {}
    for name, schema in properties.items():
        nested = schema.get("properties")
        if nested and not isinstance(schema.get("additionalProperties"), dict):
            leaves.update(leaf_settings(nested, f"{prefix}{name}."))
        else:
            leaves[f"{prefix}{name}"] = schema
    return leaves


@pytest.fixture(scope="module")
def tap_about() -> dict[str, Any]:
    return about()


@pytest.fixture(scope="module")
def extractor() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugins: list[dict[str, Any]] = project["plugins"]["extractors"]
    (plugin,) = (p for p in plugins if p["name"] == "tap-exports")
    return plugin


def test_every_tap_setting_is_declared_with_its_kind(tap_about, extractor):
    declared = {setting["name"]: setting for setting in extractor["settings"]}
    expected = leaf_settings(tap_about["settings"]["properties"])
    missing = [
        f"- name: {name}\n  kind: {meltano_kind(expected[name]) or 'string'}"
        + ("\n  sensitive: true" if expected[name].get("secret") else "")
        for name in expected
        if name not in declared
    ]
    assert not missing, "meltano.yml lacks these settings of the tap:\n" + "\n".join(missing)
    assert sorted(declared) == sorted(expected), "meltano.yml declares settings the tap lacks"
    for name, schema in expected.items():
        kind = meltano_kind(schema)
        if kind is not None:
            assert declared[name]["kind"] == kind, name
        if "enum" in schema:
            assert [option["value"] for option in declared[name]["options"]] == schema["enum"]


def test_defaults_are_declared_as_values(tap_about, extractor):
    """``meltano config list`` shows the defaults the tap really uses."""
    declared = {setting["name"]: setting for setting in extractor["settings"]}
    for name, schema in leaf_settings(tap_about["settings"]["properties"]).items():
        assert declared[name].get("value") == schema.get("default"), name


def test_secrets_are_sensitive_and_nothing_else_is(tap_about, extractor):
    secrets = {
        name
        for name, schema in leaf_settings(tap_about["settings"]["properties"]).items()
        if schema.get("secret")
    }
    sensitive = {s["name"] for s in extractor["settings"] if s.get("sensitive")}
    assert secrets
    assert sensitive == secrets


def test_every_setting_is_documented(extractor):
    for setting in extractor["settings"]:
        assert setting.get("label"), setting["name"]
        assert setting.get("description"), setting["name"]


def test_capabilities_match_the_tap(tap_about, extractor):
    assert sorted(extractor["capabilities"]) == sorted(tap_about["capabilities"])


def test_plugins_install_without_the_hub(extractor):
    """Every plugin is custom (no ``variant``) or inherits one: Meltano Hub may be out of reach."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugins = [plugin for kind in project["plugins"].values() for plugin in kind]
    names = {plugin["name"] for plugin in plugins}
    assert extractor in plugins
    for plugin in plugins:
        assert "variant" not in plugin, plugin["name"]
        if "inherit_from" in plugin:
            assert plugin["inherit_from"] in names, plugin["name"]
            continue
        assert {"namespace", "pip_url", "executable"} <= plugin.keys(), plugin["name"]
