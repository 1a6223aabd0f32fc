"""Transient faults the tap must ride out: one per run, every provider, nothing lost or doubled."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tap_exports.engine.http import ApiClient
from tap_exports.io.http import HttpSource
from tap_exports_sandbox import Fault
from tests.faults.conftest import ScenarioFactory
from tests.faults.harness import FAST, Profile, Verdict, exports_of, profiles

#: A read timeout the latency faults below outlast, so a hung answer is detected quickly.
SHORT_TIMEOUT = (5.0, 0.5)
HUNG = Fault.latency(1.5)
EXPIRED = Fault.status(
    403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
)


@dataclass(frozen=True)
class Case:
    """A fault on one call of the export's life: ``create``, ``poll``, ``link`` or ``file``."""

    name: str
    role: str
    fault: Callable[[Profile], Fault | None]
    #: Consecutive calls hurt: the first one, then the retries.
    times: int = 1
    #: What the log must say about how the tap dealt with it.
    expect_log: str = ""
    #: Seconds an export takes to complete, when the fault needs it still running.
    export_seconds: float | None = None
    adoption: bool = False

    def applies(self, profile: Profile) -> bool:
        return (
            self.fault(profile) is not None
            and (self.role != "link" or profile.link is not None)
            and (profile.adopts_running or not self.adoption)
        )


def _in(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


CASES = (
    Case(
        "429 Retry-After seconds on create",
        "create",
        lambda _: Fault.rate_limited(1),
        expect_log=r"HTTP 429 on POST \S+, retrying in 1\.0 s",
    ),
    Case(
        "429 Retry-After HTTP-date on poll",
        "poll",
        lambda _: Fault.rate_limited(_in(2.5)),
        expect_log=r"HTTP 429 on GET \S+, retrying in [12]\.\d s",
    ),
    Case(
        "429 with the provider's own hint",
        "create",
        lambda profile: profile.rate_hint() if profile.rate_hint else None,
        expect_log=r"HTTP 429 on POST \S+, retrying in [12]\.\d s",
    ),
    Case("500 on create", "create", lambda _: Fault.status(500, {"message": "internal"})),
    Case("502 on poll", "poll", lambda _: Fault.status(502, "Bad Gateway")),
    Case("503 on the download link", "link", lambda _: Fault.status(503, "Unavailable")),
    Case("connection reset on create", "create", lambda _: Fault.reset()),
    Case("connection reset on poll", "poll", lambda _: Fault.reset()),
    # The retried create meets the export the lost one made, still running, and adopts it.
    Case(
        "create answer lost after the export was made",
        "create",
        lambda _: Fault.cut_after(0),
        export_seconds=2.0,
        adoption=True,
    ),
    Case("read timeout on poll", "poll", lambda _: HUNG),
    Case("503 from storage", "file", lambda _: Fault.status(503, "Slow Down")),
    Case("connection reset by storage", "file", lambda _: Fault.reset()),
    Case(
        "download cut short",
        "file",
        lambda _: Fault.cut_after(5000),
        expect_log=r"at byte \d+; resuming \(1 of",
    ),
    Case("download cut short twice", "file", lambda _: Fault.cut_after(100), times=2),
    Case("read timeout on download", "file", lambda _: HUNG),
    Case(
        "download link handed out expired",
        "link",
        lambda _: Fault.expire_link(),
        expect_log="link expired or refused; asking the provider for a fresh one",
    ),
    Case(
        "storage refuses the link as expired (403)",
        "file",
        lambda profile: EXPIRED if profile.signed_links else None,
        expect_log="link expired or refused; asking the provider for a fresh one",
    ),
)


def _params() -> list[object]:
    return [
        pytest.param(case, profile, id=f"{profile}-{case.name}")
        for case in CASES
        for profile in profiles(case.applies)
    ]


@pytest.mark.parametrize(("case", "profile"), _params())
def test_transient_fault_is_survived(
    case: Case,
    profile: Profile,
    scenario: ScenarioFactory,
    verdict: Callable[..., Verdict],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(ApiClient, "timeout", SHORT_TIMEOUT)
    monkeypatch.setattr(HttpSource, "timeout", SHORT_TIMEOUT)
    delays = (
        {"delays": dataclasses.replace(FAST, complete_after=case.export_seconds)}
        if case.export_seconds
        else {}
    )
    run = scenario(profile, sandbox=delays)
    fault = case.fault(profile)
    assert fault is not None
    where = {"create": profile.create, "poll": profile.poll, "link": profile.link}
    provider, operation = profile.file if case.role == "file" else (profile.name, where[case.role])
    assert operation is not None
    run.sandbox.faults.add(provider, operation, fault, times=case.times)

    outcome = run.run()

    assert outcome.error is None, outcome.stderr
    assert [fired.fault for fired in run.sandbox.faults.fired] == [fault] * case.times
    assert re.search(case.expect_log, outcome.stderr), outcome.stderr
    result = verdict(run, case.name)
    assert (result.rows_lost, result.rows_extra, result.rows_changed) == (0, 0, 0)
    assert result.duplicate_exports == 0
    assert exports_of(run.state or {}, run.stream) == []
