"""A fresh machine installs exactly what was tested, and each distribution declares what it imports.

The import scan is the quick check; the virtualenv tests are the real one: they install a
distribution alone, from the lock, and import every module it ships.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Distributions a package needs at run time without importing them by name.
NEEDED_UNIMPORTED = {
    "tap_exports_sandbox": {"pyopenssl": "pyftpdlib's TLS handler imports OpenSSL"},
}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert found, requirement
    return normalized(found.group())


def runtime_imports(package: Path) -> set[str]:
    """Top-level modules a package imports outside ``if TYPE_CHECKING:`` blocks."""
    found: set[str] = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for child in block.body
            for node in ast.walk(child)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__"}


def distributions(modules: set[str]) -> set[str]:
    """The installed distributions that provide ``modules``."""
    providers = importlib.metadata.packages_distributions()
    return {normalized(dist) for module in modules for dist in providers.get(module, [module])}


def declared(pyproject: Path) -> set[str]:
    """Required and optional dependencies (an extra's import is behind a check it is there)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {}).values()
    requirements = [*project["dependencies"], *(item for extra in extras for item in extra)]
    return {requirement_name(requirement) for requirement in requirements}


@pytest.mark.parametrize(
    ("package", "pyproject", "own"),
    [
        (ROOT / "tap_exports", ROOT / "pyproject.toml", {"tap-exports"}),
        (
            ROOT / "sandbox" / "tap_exports_sandbox",
            ROOT / "sandbox" / "pyproject.toml",
            {"tap-exports-sandbox"},
        ),
    ],
    ids=["tap", "sandbox"],
)
def test_declared_dependencies_match_imports(package: Path, pyproject: Path, own: set[str]):
    imported = distributions(runtime_imports(package)) - own
    extra = set(NEEDED_UNIMPORTED.get(package.name, {}))
    assert imported | extra == declared(pyproject)


def test_the_sandbox_imports_nothing_of_the_tap():
    assert "tap_exports" not in runtime_imports(ROOT / "sandbox" / "tap_exports_sandbox")


def test_the_demo_group_declares_what_the_summary_imports():
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "dependency-groups"
    ]
    demo = {requirement_name(item) for item in groups["demo"] if isinstance(item, str)}
    assert distributions(runtime_imports(ROOT / "demo")) - {"tap-exports"} <= demo


def uv() -> str:
    """The uv the scripts use (on PATH, or the one scripts/uv.sh installs)."""
    found = subprocess.run(
        ["bash", str(ROOT / "scripts" / "uv.sh")], capture_output=True, text=True, check=True
    )
    return found.stdout.strip()


def locked_requirements(*options: str) -> str:
    return subprocess.run(
        [uv(), "export", "--frozen", "--no-dev", "--no-emit-workspace", "--no-header", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_meltano_constraints_are_the_lock():
    """requirements/tap-exports.txt, which meltano.yml installs the tap with, is uv.lock's."""
    expected = locked_requirements("--extra", "parquet", "--no-hashes")
    assert (ROOT / "requirements" / "tap-exports.txt").read_text(encoding="utf-8") == expected


def test_every_meltano_plugin_is_pinned():
    urls = re.findall(r"^\s*pip_url: (.+)$", (ROOT / "meltano.yml").read_text(), re.MULTILINE)
    assert len(urls) == 4
    for url in urls:
        constraints = re.search(r"-c (requirements/\S+\.txt)", url)
        assert constraints, url
        assert (ROOT / constraints.group(1)).is_file()
        pins = re.findall(r"==\d", url)
        assert pins or url.startswith("-e ."), url


def fresh_venv(tmp_path: Path, requirements: str, project: Path) -> Path:
    """A virtualenv holding ``requirements`` and ``project`` (without its dependencies)."""
    venv = tmp_path / "venv"
    subprocess.run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    listing = tmp_path / "requirements.txt"
    listing.write_text(requirements, encoding="utf-8")
    python = str(venv / "bin" / "python")
    install = [uv(), "pip", "install", "--quiet", "--python", python]
    subprocess.run([*install, "-r", str(listing)], check=True, timeout=600)
    subprocess.run([*install, "--no-deps", str(project)], check=True, timeout=600)
    return venv


def import_all(venv: Path, package: str) -> subprocess.CompletedProcess[str]:
    script = (
        "import importlib, pkgutil\n"
        f"import {package} as package\n"
        "prefix = package.__name__ + '.'\n"
        "names = [m.name for m in pkgutil.walk_packages(package.__path__, prefix)]\n"
        "for name in names:\n"
        "    if not name.endswith('.__main__'):\n"
        "        importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", script],
        cwd=venv,  # not the repository, whose packages would be found on the path
        capture_output=True,
        text=True,
        check=False,
    )


def importable(venv: Path, module: str) -> bool:
    probe = f"import importlib.util; print(importlib.util.find_spec({module!r}) is not None)"
    output = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=venv,
        capture_output=True,
        text=True,
        check=True,
    )
    return output.stdout.strip() == "True"


@pytest.mark.slow
def test_the_tap_alone_imports_every_module(tmp_path: Path):
    venv = fresh_venv(tmp_path, locked_requirements("--no-hashes"), ROOT)
    imported = import_all(venv, "tap_exports")
    assert imported.returncode == 0, imported.stderr
    assert int(imported.stdout) > 40
    assert not importable(venv, "tap_exports_sandbox")
    assert not importable(venv, "flask")
    assert not (venv / "bin" / "tap-exports-sandbox").exists()
    about = subprocess.run(
        [str(venv / "bin" / "tap-exports"), "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"name": "tap-exports"' in about.stdout


@pytest.mark.slow
def test_the_sandbox_alone_imports_every_module(tmp_path: Path):
    requirements = locked_requirements("--no-hashes", "--package", "tap-exports-sandbox")
    venv = fresh_venv(tmp_path, requirements, ROOT / "sandbox")
    imported = import_all(venv, "tap_exports_sandbox")
    assert imported.returncode == 0, imported.stderr
    assert not importable(venv, "tap_exports")
    started = subprocess.run(
        [str(venv / "bin" / "tap-exports-sandbox"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode == 0, started.stderr
