"""The base every provider emulator builds on: one Flask blueprint, fault-aware routes.

An emulator lists its routes with the name of the operation each one performs; the base
counts calls, applies transport faults (latency, error status, reset, cut body) before
and after the view, and keeps the other faults fired by the call where the view can ask
for them with :meth:`ProviderEmulator.injected`.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import Blueprint, g, make_response, request
from flask.typing import ResponseReturnValue

from tap_exports_sandbox.background import BackgroundJobs
from tap_exports_sandbox.clock import SandboxClock
from tap_exports_sandbox.config import SandboxConfig
from tap_exports_sandbox.data import DatasetRegistry
from tap_exports_sandbox.faults import Fault, FaultKind, FaultPlan
from tap_exports_sandbox.ftp import SandboxFtp
from tap_exports_sandbox.stats import Stats
from tap_exports_sandbox.storage import Storage
from tap_exports_sandbox.transport import cut_response, early_response

View = Callable[..., ResponseReturnValue]


@dataclass(frozen=True)
class EmulatorContext:
    """What an emulator may use from its sandbox."""

    config: SandboxConfig
    clock: SandboxClock
    faults: FaultPlan
    datasets: DatasetRegistry
    storage: Storage
    ftp: SandboxFtp
    jobs: BackgroundJobs
    stats: Stats
    base_url: str


@dataclass(frozen=True)
class Route:
    """One URL rule of an emulator and the operation faults are registered against."""

    method: str
    rule: str
    operation: str
    view: View


class ProviderEmulator(ABC):
    """A provider's API, mounted under ``/<name>`` on the sandbox server."""

    name: ClassVar[str]

    def __init__(self, context: EmulatorContext) -> None:
        self.context = context

    @property
    def url(self) -> str:
        """The provider's base URL in the sandbox, as the tap's ``base_url`` setting."""
        return f"{self.context.base_url}/{self.name}"

    @abstractmethod
    def routes(self) -> Sequence[Route]:
        """The provider's URL rules, relative to its prefix."""

    @abstractmethod
    def tap_settings(self) -> dict[str, Any]:
        """The tap's settings object for this provider, pointing at the sandbox."""

    @abstractmethod
    def stream_counts(self) -> dict[str, int]:
        """Rows a full sync of :meth:`tap_settings` emits, per stream name."""

    @abstractmethod
    def export_counts(self) -> dict[str, int]:
        """Rows an export created now would hold, per export key (what it exports)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every export (the sandbox clears storage, faults and counters itself)."""

    def check_request(self) -> ResponseReturnValue | None:
        """Authentication and account switches; a response here refuses the request."""
        return None

    @staticmethod
    def injected(kind: FaultKind) -> Fault | None:
        """The fault of ``kind`` fired by the current call, if any."""
        faults: tuple[Fault, ...] = g.get("sandbox_faults", ())
        return next((fault for fault in faults if fault.kind is kind), None)

    def blueprint(self) -> Blueprint:
        """A blueprint serving :meth:`routes` under ``/<name>``."""
        blueprint = Blueprint(self.name, __name__, url_prefix=f"/{self.name}")
        for route in self.routes():
            blueprint.add_url_rule(
                route.rule,
                endpoint=route.view.__name__,
                view_func=self._with_faults(route),
                methods=[route.method],
            )
        return blueprint

    def _with_faults(self, route: Route) -> View:
        @functools.wraps(route.view)
        def view(**arguments: Any) -> ResponseReturnValue:
            faults = self.context.faults.take(self.name, route.operation)
            g.sandbox_faults = faults
            early = early_response(faults, request.environ, self.context.faults.released)
            if early is not None:
                return early
            refusal = self.check_request()
            if refusal is not None:
                return refusal
            response = make_response(route.view(**arguments))
            return cut_response(response, faults, request.environ)

        return view
