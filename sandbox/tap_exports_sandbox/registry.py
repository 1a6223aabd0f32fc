"""The provider emulators a sandbox serves, each under ``/<name>``: add one line per provider."""

from __future__ import annotations

from tap_exports_sandbox.batch.emulator import BatchEmulator
from tap_exports_sandbox.connect.emulator import ConnectEmulator
from tap_exports_sandbox.emarsys.emulator import EmarsysEmulator
from tap_exports_sandbox.emulator import ProviderEmulator
from tap_exports_sandbox.mailgun.emulator import MailgunEmulator
from tap_exports_sandbox.packagex.emulator import PackageXEmulator

EMULATORS: tuple[type[ProviderEmulator], ...] = (
    MailgunEmulator,
    PackageXEmulator,
    ConnectEmulator,
    BatchEmulator,
    EmarsysEmulator,
)
