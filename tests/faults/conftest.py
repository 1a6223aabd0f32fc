"""Fixtures of the fault suite: sandboxes, clean reference runs, and the fault table."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from tap_exports_sandbox import Sandbox
from tests.faults.harness import FAST, Profile, Reference, Scenario, Verdict, judge, sandbox_config

TABLE = Path("build/fault-table.md")


class ScenarioFactory(Protocol):
    def __call__(
        self,
        profile: Profile,
        *,
        rows: int | None = None,
        sandbox: dict[str, Any] | None = None,
        **common: Any,
    ) -> Scenario: ...


class FaultTable:
    """Verdicts per fault and provider, written as a Markdown table when the session ends."""

    def __init__(self) -> None:
        self.cells: dict[str, dict[str, Verdict]] = {}

    def record(self, fault: str, provider: str, verdict: Verdict) -> None:
        self.cells.setdefault(fault, {})[provider] = verdict

    def markdown(self) -> str:
        providers = sorted({name for row in self.cells.values() for name in row})
        lines = [
            "rows lost / duplicate exports / exit codes of the runs (first: the faulty one)",
            "",
            "| fault | " + " | ".join(providers) + " |",
            "|---|" + "---|" * len(providers),
        ]
        for fault, row in self.cells.items():
            cells = []
            for name in providers:
                verdict = row.get(name)
                cells.append(
                    "n/a"
                    if verdict is None
                    else f"{verdict.rows_lost} / {verdict.duplicate_exports} / "
                    + ",".join(str(code) for code in verdict.exit_codes)
                )
            lines.append(f"| {fault} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def fault_table(pytestconfig: pytest.Config) -> Iterator[FaultTable]:
    table = FaultTable()
    yield table
    if table.cells:
        path = pytestconfig.rootpath / TABLE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(table.markdown())


@pytest.fixture(scope="session")
def references() -> dict[tuple[str, int, str], Reference]:
    """Clean runs, computed once per provider and data size."""
    return {}


@pytest.fixture
def reference(
    references: dict[tuple[str, int, str], Reference],
) -> Callable[[Scenario], Reference]:
    """The clean run matching a scenario: same provider, stream, data and epoch."""

    def get(scenario: Scenario) -> Reference:
        config = scenario.sandbox.config
        key = (scenario.profile.name, config.default_rows, scenario.stream)
        if key not in references:
            with Sandbox(dataclasses.replace(config, delays=FAST)) as clean:
                run = Scenario(clean, scenario.profile)
                outcome = run.run()
                assert outcome.error is None, outcome.error
                truth = clean.truth()["streams"][scenario.stream]
                assert len(outcome.records(scenario.stream)) == truth
                references[key] = Reference(run.loaded())
        return references[key]

    return get


@pytest.fixture
def scenario() -> Iterator[ScenarioFactory]:
    """Scenarios on fresh sandboxes, each stopped after the test."""
    started: list[Sandbox] = []

    def make(
        profile: Profile,
        *,
        rows: int | None = None,
        sandbox: dict[str, Any] | None = None,
        **common: Any,
    ) -> Scenario:
        fields = dict(sandbox or {})
        if rows is not None:
            fields["default_rows"] = rows
        started.append(Sandbox(sandbox_config(profile, **fields)).start())
        return Scenario(started[-1], profile, **common)

    yield make
    for running in reversed(started):
        running.stop()


@pytest.fixture
def verdict(
    reference: Callable[[Scenario], Reference], fault_table: FaultTable
) -> Callable[..., Verdict]:
    """Judge a scenario against its reference and record it in the fault table."""

    def give(scenario: Scenario, fault: str) -> Verdict:
        result = judge(scenario, reference(scenario))
        fault_table.record(fault, scenario.profile.name, result)
        return result

    return give
