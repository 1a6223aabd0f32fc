"""Fixtures shared by every test: a running sandbox on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from tap_exports_sandbox import Sandbox, SandboxConfig, StatusDelays

#: Test directories whose tests share costly session fixtures (a Meltano project with its
#: plugins installed, a PostgreSQL server): each file's tests run on one pytest-xdist
#: worker, so those are set up once per file rather than once per test.
SHARED_SESSIONS = ("e2e",)

#: Exports finish in a fraction of a second, so lifecycle tests stay fast.
FAST_DELAYS = StatusDelays(running_after=0.05, complete_after=0.15)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests of each file of :data:`SHARED_SESSIONS` (``--dist loadgroup``)."""
    tests = Path(__file__).parent
    for item in items:
        where = item.path.relative_to(tests)
        if where.parts[0] in SHARED_SESSIONS:
            item.add_marker(pytest.mark.xdist_group(where.as_posix()))


class SandboxFactory(Protocol):
    def __call__(self, config: SandboxConfig | None = None, **fields: Any) -> Sandbox: ...


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start sandboxes from a config (default: fast delays) with ``fields`` replaced.

    ``sandbox_factory(default_rows=10)`` or ``sandbox_factory(SandboxConfig(...))``;
    every sandbox started is stopped after the test.
    """
    started: list[Sandbox] = []

    def start(config: SandboxConfig | None = None, **fields: Any) -> Sandbox:
        chosen = dataclasses.replace(config or SandboxConfig(delays=FAST_DELAYS), **fields)
        sandbox = Sandbox(chosen).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    """A started sandbox with default data sizes and fast export delays."""
    return sandbox_factory()
