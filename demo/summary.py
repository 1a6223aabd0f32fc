"""The sandbox seen from Meltano: its settings as environment variables, and loaded rows vs truth.

``python -m demo.summary env CONFIG`` prints ``export TAP_EXPORTS_...``
lines for a tap config written by ``tap-exports-sandbox --write-config``, the way Meltano
reads dotted settings (``mailgun.api_key`` → ``TAP_EXPORTS_MAILGUN_API_KEY``), so every
provider the sandbox emulates is configured without naming any of them; the settings that
meltano.yml's ``sandbox`` environment sets (the polling pace) are left to it.

``python -m demo.summary compare --truth FILE --duckdb FILE`` prints, per
stream, the rows the warehouse holds next to the sandbox's ground truth, and exits
non-zero when any differ.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import urllib.request
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

ENV_PREFIX = "TAP_EXPORTS"
#: What the demo warehouse holds for a text key part the provider left empty.
MISSING_KEY_PART = "(none)"


class Cursor(Protocol):
    """The part of a DB-API cursor the row counts need (DuckDB's and psycopg's both fit)."""

    def execute(self, query: str, /) -> object: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...


def meltano_env(
    config: Mapping[str, Any], *, skip: Container[str] = (), prefix: str = ""
) -> dict[str, str]:
    """Environment variables carrying ``config`` to Meltano, one per dotted setting.

    Nested objects become dotted names; every other value is a leaf (lists and
    non-string scalars as JSON, the form Meltano parses for array and number kinds).
    Settings named in ``skip`` (dotted) are left out.
    """
    env: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            env.update(meltano_env(value, skip=skip, prefix=f"{name}."))
        elif name not in skip:
            variable = f"{ENV_PREFIX}_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}"
            env[variable] = value if isinstance(value, str) else json.dumps(value)
    return env


def environment_settings(project: Path, environment: str = "sandbox") -> set[str]:
    """The extractor's settings that an environment of a meltano.yml sets.

    The sandbox's own config polls every tenth of a second; Meltano reads integer
    settings from the environment, so the fractions stay in meltano.yml (the
    ``sandbox`` environment) and are not exported as variables.
    """
    environments = yaml.safe_load(project.read_text()).get("environments") or []
    return {
        str(name)
        for env in environments
        if env.get("name") == environment
        for plugin in env.get("config", {}).get("plugins", {}).get("extractors", [])
        for name in plugin.get("config") or {}
    }


def demo_settings(config: Mapping[str, Any]) -> dict[str, str]:
    """Settings that make the demo's DuckDB hold every row the tap delivers, as delivered.

    Tables keep the streams' primary keys, so running the pipeline again upserts
    instead of duplicating rows. target-duckdb makes key columns NOT NULL and reads an
    empty text as NULL, so a text key part that may be missing (an Emarsys response
    without a URL) loads as MISSING_KEY_PART.
    A property that may hold any JSON type loads as JSON text, which target-duckdb's
    typed columns accept.
    """
    from tap_exports.tap import TapExports

    maps: dict[str, dict[str, Any]] = {}
    for stream in TapExports(config=dict(config)).streams.values():
        stream_map: dict[str, Any] = {}
        keys = set(stream.primary_keys or [])
        for name, schema in stream.schema.get("properties", {}).items():
            types = schema.get("type")
            if isinstance(types, list) and len(set(types) - {"null"}) > 1:
                stream_map[name] = f"json.dumps({name})"
            elif name in keys and isinstance(types, list) and set(types) == {"string", "null"}:
                stream_map[name] = f"{name} or {MISSING_KEY_PART!r}"
        if stream_map:
            maps[stream.name] = stream_map
    return {f"{ENV_PREFIX}_STREAM_MAPS": json.dumps(maps)}


def fetch_truth(source: str) -> dict[str, int]:
    """Rows per stream according to the sandbox: its ``/_sandbox/truth`` URL or a saved copy.

    The truth says what the *next* full sync emits (listings count the exports that
    sync will create), so it is read before the run.
    """
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 - local
            body = json.load(response)
    else:
        body = json.loads(Path(source).read_text())
    return {str(stream): int(count) for stream, count in body["streams"].items()}


def loaded_counts(cursor: Cursor, schema: str) -> dict[str, int]:
    """Live rows per table of ``schema`` (rows a target marked deleted do not count)."""
    cursor.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns")
    columns: dict[str, set[str]] = {}
    for table_schema, table, column in cursor.fetchall():
        if table_schema == schema:
            columns.setdefault(str(table), set()).add(str(column))
    counts: dict[str, int] = {}
    for table, names in sorted(columns.items()):
        live = " WHERE _sdc_deleted_at IS NULL" if "_sdc_deleted_at" in names else ""
        # Names come from the catalog itself, quoted as identifiers.
        cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}"{live}')  # noqa: S608
        counts[table] = int(cursor.fetchall()[0][0])
    return counts


@dataclass(frozen=True)
class Line:
    """One table of the comparison; ``expected`` is None where the truth has no count."""

    stream: str
    expected: int | None
    loaded: int | None

    @property
    def ok(self) -> bool:
        return self.expected is None or self.loaded == self.expected


def compare(truth: Mapping[str, int], loaded: Mapping[str, int]) -> list[Line]:
    """One line per stream the sandbox knows or the warehouse holds, in name order.

    The listings of Mailgun's and Batch's exports hold whatever exports the provider
    keeps (the demo's own among them), which the sandbox does not count in advance;
    they are shown, not compared.
    """
    return [
        Line(stream, truth.get(stream), loaded.get(stream)) for stream in sorted({*truth, *loaded})
    ]


def render(lines: Sequence[Line]) -> str:
    """A fixed-width table with a verdict per stream and a total."""
    width = max([len("stream"), *(len(line.stream) for line in lines)])
    rows = [f"{'stream':<{width}}  {'loaded':>10}  {'expected':>10}  ", "-" * (width + 28)]
    for line in lines:
        loaded = "missing" if line.loaded is None else f"{line.loaded:,}"
        expected = "-" if line.expected is None else f"{line.expected:,}"
        verdict = "ok" if line.ok else "MISMATCH"
        if line.expected is None:
            verdict = "listing of exports, not counted in advance"
        rows.append(f"{line.stream:<{width}}  {loaded:>10}  {expected:>10}  {verdict}")
    compared = [line for line in lines if line.expected is not None]
    total_loaded = sum(line.loaded or 0 for line in compared)
    total_expected = sum(line.expected or 0 for line in compared)
    rows.append("-" * (width + 28))
    rows.append(f"{'total compared':<{width}}  {total_loaded:>10,}  {total_expected:>10,}")
    return "\n".join(rows)


#: Warnings every demo run shows: the sandbox marks some rows of each PackageX export as
#: failed or unsafe, as PackageX does, and the tap reports them.
SANDBOX_FIXTURE = re.compile(
    r"PackageX .*(rows could not be exported|could not export some rows|rows as unsafe)"
)


def log_digest(lines: Sequence[str], path: str) -> str:
    """What a person needs from the run's log: counts, unexplained warnings, errors."""
    warnings = [line for line in lines if "[warning" in line]
    fixtures = [line for line in warnings if SANDBOX_FIXTURE.search(line)]
    others = [line for line in warnings if line not in fixtures]
    errors = [line for line in lines if "[error" in line]
    created = sum(1 for line in lines if ": created export " in line)
    metrics = sum(1 for line in lines if re.search(r"\bMETRIC\b", line))
    digest = [
        f"{len(lines)} log lines in {path} ({metrics} of them METRIC lines for monitoring)",
        f"{created} exports created and read",
        f"{len(fixtures)} warnings are the sandbox's PackageX fixtures: some rows of every "
        "export are marked as failed or unsafe, as PackageX does; the tap loads the unsafe "
        "ones as plain data and lists both kinds in packagex_export_issues",
    ]
    if others:
        digest += ["other warnings:", *(f"  {line}" for line in others)]
    if errors:
        digest += ["errors:", *(f"  {line}" for line in errors)]
    return "\n".join(digest)


def _duckdb_counts(path: Path, schema: str) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        return loaded_counts(connection.cursor(), schema)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m demo.summary``."""
    parser = argparse.ArgumentParser(prog="python -m demo.summary")
    commands = parser.add_subparsers(dest="command", required=True)
    save = commands.add_parser("truth", help="print the sandbox's ground truth (before a run)")
    save.add_argument("url")
    env = commands.add_parser("env", help="print shell exports of a sandbox tap config")
    env.add_argument("config", type=Path)
    env.add_argument("--meltano-yml", type=Path, default=Path("meltano.yml"))
    env.add_argument("--demo", action="store_true", help="add the demo warehouse's settings")
    digest = commands.add_parser("log", help="a digest of a meltano run's log")
    digest.add_argument("path", type=Path)
    check = commands.add_parser("compare", help="rows in a DuckDB warehouse vs the truth")
    check.add_argument(
        "--truth", required=True, help="/_sandbox/truth as read before the run (URL or file)"
    )
    check.add_argument("--duckdb", required=True, type=Path, help="the warehouse file")
    check.add_argument("--schema", default="tap_exports")
    arguments = parser.parse_args(argv)
    if arguments.command == "truth":
        print(json.dumps({"streams": fetch_truth(arguments.url)}))
        return 0
    if arguments.command == "log":
        print(log_digest(arguments.path.read_text().splitlines(), str(arguments.path)))
        return 0
    if arguments.command == "env":
        config = json.loads(arguments.config.read_text())
        env_vars = meltano_env(config, skip=environment_settings(arguments.meltano_yml))
        if arguments.demo:
            env_vars.update(demo_settings(config))
        for name, value in sorted(env_vars.items()):
            print(f"export {name}={shlex.quote(value)}")
        return 0
    lines = compare(
        fetch_truth(arguments.truth), _duckdb_counts(arguments.duckdb, arguments.schema)
    )
    print(render(lines))
    bad = [line.stream for line in lines if not line.ok]
    if bad:
        print(f"\nFAILED: {len(bad)} stream(s) differ from the ground truth: {', '.join(bad)}")
        return 1
    compared = sum(1 for line in lines if line.expected is not None)
    print(f"\nOK: all {compared} streams the sandbox counts match its ground truth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
