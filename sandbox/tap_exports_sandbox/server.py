"""The sandbox: provider emulators, S3 storage and FTP on 127.0.0.1, started and stopped as one.

One Flask app serves every emulator under ``/<provider>`` and the control API under
``/_sandbox``; the S3 and FTP servers run beside it on their own ports.
"""

from __future__ import annotations

import datetime as dt
from types import TracebackType
from typing import Any, Self, TypeVar

from flask import Flask, request

from tap_exports_sandbox.background import BackgroundJobs
from tap_exports_sandbox.clock import SandboxClock
from tap_exports_sandbox.config import SandboxConfig
from tap_exports_sandbox.control import control_blueprint
from tap_exports_sandbox.data import Dataset, DatasetRegistry
from tap_exports_sandbox.emulator import EmulatorContext, ProviderEmulator
from tap_exports_sandbox.faults import FaultPlan
from tap_exports_sandbox.ftp import SandboxFtp
from tap_exports_sandbox.httpd import LocalHttpServer
from tap_exports_sandbox.registry import EMULATORS
from tap_exports_sandbox.stats import Stats
from tap_exports_sandbox.storage import Storage

E = TypeVar("E", bound=ProviderEmulator)

_HISTORY = dt.timedelta(days=30)


def _default_epoch(now: dt.datetime) -> dt.datetime:
    return (now - _HISTORY).replace(second=0, microsecond=0)


class Sandbox:
    """Every emulated provider and the servers they deliver files through.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. The Python
    methods and the ``/_sandbox`` routes offer the same controls.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.clock = SandboxClock()
        self.faults = FaultPlan()
        self.stats = Stats()
        self.epoch = self.config.epoch or _default_epoch(self.clock.now())
        self.datasets = DatasetRegistry(
            seed=self.config.seed,
            epoch=self.epoch,
            step=dt.timedelta(seconds=self.config.row_step_seconds),
            default_rows=self.config.default_rows,
            rows=self.config.rows,
        )
        self.storage = Storage(self.clock, self.faults)
        self.ftp = SandboxFtp(tls=self.config.ftp_tls)
        self.jobs = BackgroundJobs()
        self._emulators: list[ProviderEmulator] = []
        self._http: LocalHttpServer | None = None

    def start(self) -> Self:
        """Start storage, FTP and the HTTP server with every emulator mounted.

        If anything fails to start, what did start is stopped again.
        """
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.storage.start()
        self.ftp.start()
        app = Flask(__name__)
        app.json.sort_keys = False  # type: ignore[attr-defined]
        self._http = LocalHttpServer(app, port=self.config.port)
        context = EmulatorContext(
            config=self.config,
            clock=self.clock,
            faults=self.faults,
            datasets=self.datasets,
            storage=self.storage,
            ftp=self.ftp,
            jobs=self.jobs,
            stats=self.stats,
            base_url=self._http.url,
        )
        self._emulators = [emulator(context) for emulator in EMULATORS]
        for emulator in self._emulators:
            app.register_blueprint(emulator.blueprint())
        app.register_blueprint(control_blueprint(self))
        app.before_request(self._count_request)
        self._http.start()

    def stop(self) -> None:
        """Stop everything that :meth:`start` started, in reverse order."""
        self.faults.release()
        self.jobs.stop()
        if self._http is not None:
            self._http.stop()
        self.ftp.stop()
        self.storage.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the HTTP server."""
        if self._http is None:
            msg = "the sandbox is not started"
            raise RuntimeError(msg)
        return self._http.url

    def provider_url(self, name: str) -> str:
        """A provider's base URL, as its ``base_url`` setting."""
        return f"{self.base_url}/{name}"

    @property
    def emulators(self) -> list[ProviderEmulator]:
        """The running emulators, in registry order."""
        return list(self._emulators)

    def emulator(self, kind: type[E]) -> E:
        """The running emulator of class ``kind``."""
        for emulator in self._emulators:
            if isinstance(emulator, kind):
                return emulator
        msg = f"no running {kind.__name__}; is the sandbox started?"
        raise LookupError(msg)

    def tap_config(self) -> dict[str, Any]:
        """A complete tap config pointing every emulated provider at this sandbox."""
        delays = self.config.delays
        config: dict[str, Any] = {
            "start_date": self.epoch.replace(hour=0, minute=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "poll_interval_seconds": max(delays.running_after / 2, 0.05),
            "poll_max_interval_seconds": max(delays.complete_after, 0.5),
            "export_timeout_seconds": 300,
        }
        for emulator in self._emulators:
            config[emulator.name] = emulator.tap_settings()
        return config

    def truth(self) -> dict[str, Any]:
        """Rows per stream, per export key (by provider) and per dataset, as of now."""
        return {
            "streams": {
                stream: count
                for emulator in self._emulators
                for stream, count in emulator.stream_counts().items()
            },
            "exports": {emulator.name: emulator.export_counts() for emulator in self._emulators},
            "datasets": {name: self.datasets[name].size for name in self.datasets.names()},
        }

    def report(self) -> dict[str, Any]:
        """Requests, exports created, credential leaks and faults fired so far."""
        return {
            **self.stats.snapshot(),
            "credential_leaks": [leak.to_dict() for leak in self.storage.credential_leaks],
            "faults_fired": [fired.to_dict() for fired in self.faults.fired],
        }

    def advance_clock(self, seconds: float) -> dt.datetime:
        """Move the sandbox clock forward; returns the new sandbox time."""
        return self.clock.advance(seconds)

    def resize_dataset(self, name: str, size: int) -> Dataset:
        """Grow (or shrink) a dataset; existing rows never change."""
        return self.datasets.resize(name, size)

    def reset(self) -> None:
        """Back to the state right after :meth:`start`: no exports, files, faults or counts."""
        self.jobs.cancel_all()
        for emulator in self._emulators:
            emulator.reset()
        self.storage.clear()
        self.ftp.clear()
        self.faults.clear()
        self.stats.reset()
        self.clock.reset()
        self.datasets.reset()

    def _count_request(self) -> None:
        if not request.path.startswith("/_sandbox/"):
            rule = request.url_rule.rule if request.url_rule else request.path
            self.stats.request(f"{request.method} {rule}")
