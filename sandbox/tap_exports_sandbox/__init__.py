"""A local emulator of the providers' export APIs, for tests, benchmarks and the demo.

Start one with ``with Sandbox() as sandbox:`` (or the ``tap-exports-sandbox`` command)
and point the tap at ``sandbox.tap_config()``.
"""

from tap_exports_sandbox.clock import SandboxClock
from tap_exports_sandbox.config import SandboxConfig, StatusDelays
from tap_exports_sandbox.data import Dataset, DatasetRegistry
from tap_exports_sandbox.encoders import CsvFormat, encode_csv, encode_ndjson
from tap_exports_sandbox.faults import Fault, FaultKind, FaultPlan, FiredFault
from tap_exports_sandbox.ftp import SandboxFtp
from tap_exports_sandbox.mailgun.options import MailgunOptions
from tap_exports_sandbox.server import Sandbox
from tap_exports_sandbox.storage import Storage

__all__ = [
    "CsvFormat",
    "Dataset",
    "DatasetRegistry",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FiredFault",
    "MailgunOptions",
    "Sandbox",
    "SandboxClock",
    "SandboxConfig",
    "SandboxFtp",
    "StatusDelays",
    "Storage",
    "encode_csv",
    "encode_ndjson",
]
