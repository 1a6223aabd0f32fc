"""Thirty scheduled runs of every provider against a sandbox that fails at random.

The faults come from a fixed seed (``FaultPlan.randomize``); the data grows between
runs; each run starts from the last STATE of the one before, as Meltano does. At the
end the union of everything loaded equals a clean run over the final data, and no
export was created for a window that was already in flight. Data grows for the
providers whose new rows a later run finds (``Profile.grows``); the sandbox dates the
rows of time-windowed providers in the past, behind any bookmark.
"""

from __future__ import annotations

import pytest

from tap_exports_sandbox import Sandbox
from tests.faults.conftest import FaultTable
from tests.faults.harness import PROFILES, Profile, Scenario, Verdict, catalog_selecting, profiles
from tests.faults.harness import sandbox_config as fault_sandbox

RUNS = 30
FIRST_ROWS = 40
GROWTH = 12
SEED = 20_261_123
RATE = 0.04


def grows(profile: Profile) -> bool:
    return profile.grows


@pytest.mark.slow
def test_thirty_scheduled_runs_with_random_faults_lose_and_double_nothing(
    fault_table: FaultTable,
):
    # Connect's profile makes it export rather than answer inline once data grows.
    config = fault_sandbox(PROFILES["connect"], default_rows=FIRST_ROWS)
    streams = [profile.stream for profile in profiles()]
    with Sandbox(config) as sandbox:
        runs = Scenario(sandbox, profiles()[0])
        runs.config = sandbox.tap_config()
        runs.catalog = catalog_selecting(runs.config, *streams)
        growing = [
            name
            for name in sandbox.datasets.names()
            if any(name.startswith(f"{profile.name}/") for profile in profiles(grows))
        ]
        sandbox.faults.randomize(SEED, RATE)
        for run in range(RUNS):
            if run:  # new data arrives between two scheduled runs
                for name in growing:
                    sandbox.resize_dataset(name, sandbox.datasets[name].size + GROWTH)
            outcome = runs.run()
            assert outcome.error is None, outcome.stderr[-3000:]
        fired = len(sandbox.faults.fired)
        logged = sum(len(outcome.creations()) for outcome in runs.outcomes)
        assert sum(sandbox.stats.snapshot()["exports_created"].values()) == logged
        duplicates = runs.duplicate_exports()
        loaded = {stream: runs.loaded(stream) for stream in streams}

        # The ground truth: a first run of a new pipeline over the final data, no faults.
        sandbox.faults.clear()
        truth = Scenario(sandbox, profiles()[0])
        truth.config, truth.catalog = runs.config, runs.catalog
        assert truth.run().error is None
        counts = sandbox.truth()["streams"]
        expected = {stream: truth.loaded(stream) for stream in streams}

    assert fired >= RUNS, "the random faults hardly fired"
    for profile in profiles():
        want, got = expected[profile.stream], loaded[profile.stream]
        fault_table.record(
            f"soak: {RUNS} runs, {fired} random faults",
            profile.name,
            Verdict(
                len(want.keys() - got.keys()),
                len(got.keys() - want.keys()),
                0,
                duplicates,
                sorted({outcome.exit_code for outcome in runs.outcomes}),
            ),
        )
        assert len(truth.outcomes[0].records(profile.stream)) == counts[profile.stream]
        assert got == want, profile.name
    assert duplicates == 0
