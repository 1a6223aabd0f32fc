"""Every problem in a configuration, listed at once, before any request and in every mode.

Discovery (``--discover``, ``meltano select``, the start of ``meltano run``) reads the
settings as a sync does, so it checks them as a sync does: a typo fails there with the
dotted name of the setting, not with a traceback from deep inside a provider.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from singer_sdk.plugin_base import JSONSchemaValidator

from tap_exports.providers.registry import PROVIDERS
from tap_exports.settings import sets_anything, validate_common


def problems(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every problem of ``config``, each starting with its dotted setting name.

    A provider whose settings break the schema is not checked further (its own checks
    expect the types the schema promises), but every other check still runs, so one
    bad value never hides the rest.
    """
    violations = schema_violations(config, schema)
    errors = [f"{'.'.join(path) or 'config'}: {message}" for path, message in violations]
    broken = {path[0] for path, _ in violations if path}
    errors += validate_common(config)
    for provider in PROVIDERS:
        if provider.configured(config) and provider.key not in broken:
            errors += provider.validate(config)
    if not any(provider.configured(config) for provider in PROVIDERS):
        errors.append(no_provider(config, schema))
    return errors


def schema_violations(
    config: Mapping[str, Any], schema: Mapping[str, Any]
) -> list[tuple[tuple[str, ...], str]]:
    """Each place ``config`` breaks ``schema``: the path of the setting and the message."""
    validator = JSONSchemaValidator(dict(schema))
    # The validator fills in defaults as it goes; the caller's config stays as given.
    found = validator.iter_errors(copy.deepcopy(dict(config)))
    violations = []
    for error in found:
        path = tuple(str(part) for part in error.path)
        # A schema message quotes the value; a secret's value is never shown.
        message = "is not valid (the value is secret, so it is not shown)"
        violations.append((path, message if _secret(schema, path) else error.message))
    return sorted(violations)


def _secret(schema: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    """True when ``path`` leads to, or into, a setting marked secret."""
    for name in path:
        schema = (schema.get("properties") or {}).get(name) or {}
        if schema.get("secret"):
            return True
    return False


def no_provider(config: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """Why a configuration without any provider is refused, and what it holds instead.

    Settings left at their defaults are not listed: they are not what the user wrote.
    """
    expected = "; ".join(
        f"{provider.key} ({', '.join(f'{provider.key}.{name}' for name in provider.credentials)})"
        for provider in PROVIDERS
    )
    properties = schema.get("properties") or {}
    given = sorted(name for name in config if sets_anything({name: config[name]}, properties))
    found = ", ".join(given) or "none"
    return (
        "config: no provider is configured, so there is nothing to sync; set the "
        f"credentials of at least one of: {expected}. Settings found: {found}"
    )


def unknown_settings(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Warnings for settings the tap does not know, each with the closest known name.

    A misspelt name would otherwise be ignored in silence, and the setting it was meant
    to be would keep its default.
    """
    warnings = []
    for name, known in _unknown(config, schema.get("properties") or {}, prefix=""):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        warnings.append(f"unknown setting {name!r} is ignored{hint}")
    return warnings


def _unknown(
    config: Mapping[str, Any], properties: Mapping[str, Any], prefix: str
) -> Iterator[tuple[str, list[str]]]:
    """Unknown names at the top level and inside the providers' settings objects."""
    known = [f"{prefix}{name}" for name in properties]
    providers = {provider.key for provider in PROVIDERS}
    for name, value in config.items():
        schema = properties.get(name)
        if schema is None:
            yield f"{prefix}{name}", known
        elif isinstance(value, Mapping) and (prefix or name in providers):
            yield from _unknown(value, schema.get("properties") or {}, f"{prefix}{name}.")
