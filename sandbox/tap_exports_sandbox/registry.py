"""The provider emulators a sandbox serves, each under ``/<name>``: add one line per provider."""

from __future__ import annotations

from tap_exports.sandbox.batch import BatchEmulator
from tap_exports.sandbox.connect import ConnectEmulator
from tap_exports.sandbox.emarsys import EmarsysEmulator
from tap_exports.sandbox.emulator import ProviderEmulator
from tap_exports.sandbox.mailgun.emulator import MailgunEmulator
from tap_exports.sandbox.packagex import PackageXEmulator

EMULATORS: tuple[type[ProviderEmulator], ...] = (
    MailgunEmulator,
    PackageXEmulator,
    ConnectEmulator,
    BatchEmulator,
    EmarsysEmulator,
)
