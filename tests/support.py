"""Running the tap as users do, in-process or through its CLI, and reading what it wrote."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tap_exports.tap import TapExports

TAP = str(Path(sys.executable).with_name("tap-exports"))


@dataclass
class SyncResult:
    """The Singer messages of one run, sorted by kind."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    returncode: int = 0
    stderr: str = ""

    @property
    def records(self) -> dict[str, list[dict[str, Any]]]:
        by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in self.messages:
            if message["type"] == "RECORD":
                by_stream[message["stream"]].append(message["record"])
        return dict(by_stream)

    def counts(self) -> dict[str, int]:
        return {stream: len(rows) for stream, rows in self.records.items()}

    @property
    def states(self) -> list[dict[str, Any]]:
        return [message["value"] for message in self.messages if message["type"] == "STATE"]

    @property
    def state(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}


@contextmanager
def captured_stdout() -> Iterator[io.BytesIO]:
    """What the tap writes to stdout while the block runs, as bytes."""
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    saved = sys.stdout
    sys.stdout = text
    try:
        yield raw
    finally:
        text.flush()
        sys.stdout = saved


def sync(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> SyncResult:
    """Run ``sync_all`` in this process and parse what it printed."""
    with captured_stdout() as raw:
        TapExports(config=config, state=state, catalog=catalog).sync_all()
        sys.stdout.flush()
        lines = raw.getvalue().decode("utf-8").splitlines()
    return SyncResult([json.loads(line) for line in lines if line.strip()])


def bookmark(
    state: dict[str, Any], stream: str, partition: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A stream's (or one partition's) bookmark from a STATE value."""
    entry = state["bookmarks"][stream]
    if partition is None:
        return dict(entry)
    for item in entry.get("partitions", []):
        if item["context"] == partition:
            return dict(item)
    raise KeyError(partition)


def run_cli(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    *,
    stop_when: Callable[[dict[str, Any]], bool] | None = None,
    stop_signal: int = signal.SIGKILL,
    timeout: float = 120,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> SyncResult:
    """Run ``tap-exports`` in a subprocess; send ``stop_signal`` once a message matches."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(config))
        args = [TAP, "--config", str(config_path), *extra_args]
        if state is not None:
            state_path = Path(tmp, "state.json")
            state_path.write_text(json.dumps(state))
            args += ["--state", str(state_path)]
        stderr_path = Path(tmp, "stderr.log")
        with stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, **(env or {})},
            )
            result = SyncResult()
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    if not line.strip():
                        continue
                    message = json.loads(line)
                    result.messages.append(message)
                    if stop_when is not None and stop_when(message):
                        process.send_signal(stop_signal)
                        break
                process.wait(timeout=timeout)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=30)
        result.returncode = process.returncode
        result.stderr = stderr_path.read_text()
    return result
