"""The sandbox is an oracle only while it shares nothing with the tap it judges."""

from __future__ import annotations

import ast
from pathlib import Path

import tap_exports_sandbox

SANDBOX = Path(tap_exports_sandbox.__file__).parent
TAP_PACKAGE = "tap_exports"


def package_of(source: Path) -> str:
    """The dotted package a sandbox file belongs to, for resolving relative imports."""
    return ".".join(source.relative_to(SANDBOX.parent).with_suffix("").parts[:-1])


def imported_modules(text: str, package: str) -> set[str]:
    """Every module ``text`` imports, at any depth of its code (relative imports resolved)."""
    tree = ast.parse(text)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            else:
                found.add(node.module or "")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
            found.update(
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            )
    return found


def test_no_sandbox_module_imports_the_tap():
    sources = sorted(SANDBOX.rglob("*.py"))
    assert len(sources) > 20
    offending = {
        str(source.relative_to(SANDBOX)): sorted(
            name
            for name in imported_modules(source.read_text("utf-8"), package_of(source))
            if name == TAP_PACKAGE or name.startswith(f"{TAP_PACKAGE}.")
        )
        for source in sources
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_the_scan_sees_every_way_of_importing():
    text = (
        "import importlib\n"
        "def later():\n"
        "    from tap_exports.providers import batch\n"
        "    importlib.import_module('tap_exports.engine')\n"
        "from ..data import Dataset\n"
    )
    assert imported_modules(text, "tap_exports_sandbox.batch") >= {
        "tap_exports.providers",
        "tap_exports.engine",
        "tap_exports_sandbox.data",
    }
