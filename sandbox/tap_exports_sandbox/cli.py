"""``tap-exports-sandbox``: run the sandbox until SIGINT or SIGTERM, for demos and benchmarks."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from tap_exports_sandbox.config import SandboxConfig
from tap_exports_sandbox.server import Sandbox


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tap-exports-sandbox",
        description="Run a local emulator of the providers' export APIs on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="HTTP port (default: any free port)")
    parser.add_argument(
        "--rows", type=int, default=SandboxConfig.default_rows, help="rows per dataset"
    )
    parser.add_argument("--seed", type=int, default=SandboxConfig.seed, help="data seed")
    parser.add_argument(
        "--write-config", type=Path, metavar="FILE", help="write the tap config JSON to FILE"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the sandbox, print where it listens, and stop cleanly on a signal."""
    arguments = _arguments(argv)
    config = SandboxConfig(port=arguments.port, default_rows=arguments.rows, seed=arguments.seed)
    stopping = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Sandbox(config) as sandbox:
            if arguments.write_config:
                arguments.write_config.write_text(json.dumps(sandbox.tap_config(), indent=2) + "\n")
            print(f"tap-exports sandbox listening on {sandbox.base_url}", flush=True)
            print(f"  S3 storage on {sandbox.storage.endpoint_url}", flush=True)
            print(f"  FTP on {sandbox.ftp.host}:{sandbox.ftp.port}", flush=True)
            if arguments.write_config:
                print(f"  tap config written to {arguments.write_config}", flush=True)
            stopping.wait()
            print("stopping", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
