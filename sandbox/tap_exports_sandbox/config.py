"""How a sandbox is set up: data sizes, seed, export timings and per-provider switches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from tap_exports_sandbox.batch.options import BatchOptions
from tap_exports_sandbox.connect.events import ConnectOptions
from tap_exports_sandbox.emarsys.options import EmarsysOptions
from tap_exports_sandbox.mailgun.options import MailgunOptions
from tap_exports_sandbox.packagex.options import PackageXOptions


@dataclass(frozen=True)
class StatusDelays:
    """Seconds after creation (sandbox clock) at which every emulated export moves on.

    Each provider maps the three phases onto its own words (Mailgun: requested,
    processing, complete). A large export also stays running until its file is written.
    """

    running_after: float = 0.2
    complete_after: float = 0.5


@dataclass(frozen=True)
class SandboxConfig:
    """Everything a :class:`~tap_exports_sandbox.server.Sandbox` is built from.

    ``rows`` overrides ``default_rows`` per dataset name (``"mailgun/domains"``,
    ``"mailgun/mg.example.com/bounces"``, ...). Row ``i`` happens at ``epoch + i *
    row_step_seconds``; the default epoch is 30 days before the sandbox starts, so with
    one row per second up to 2.5 million rows lie in the past. ``ftp_tls`` makes the FTP
    server speak FTPS only.
    """

    seed: int = 1
    default_rows: int = 1000
    rows: Mapping[str, int] = field(default_factory=dict)
    delays: StatusDelays = StatusDelays()
    epoch: dt.datetime | None = None
    row_step_seconds: float = 1.0
    port: int = 0
    ftp_tls: bool = False
    mailgun: MailgunOptions = field(default_factory=MailgunOptions)
    packagex: PackageXOptions = field(default_factory=PackageXOptions)
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    batch: BatchOptions = field(default_factory=BatchOptions)
    emarsys: EmarsysOptions = field(default_factory=EmarsysOptions)
