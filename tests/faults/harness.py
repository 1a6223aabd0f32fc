"""One provider of the sandbox, one fault, and the verdict users care about.

A :class:`Scenario` runs the tap as users do (in process through ``sync_all``, or
the ``tap-exports`` command in a subprocess) against one provider's bulk stream,
keeps every Singer message of every run, and judges the union of the runs against
a clean reference run: rows lost, rows that should not be there, and exports created
again for a window that was still in flight.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from typing_extensions import override

from tap_exports.engine.job import Window
from tap_exports.tap import TapExports
from tap_exports_sandbox import Fault, Sandbox, SandboxConfig, StatusDelays
from tap_exports_sandbox.connect.events import ConnectOptions
from tap_exports_sandbox.emarsys.options import EmarsysOptions
from tap_exports_sandbox.registry import EMULATORS
from tests.support import captured_stdout

TAP = str(Path(sys.executable).with_name("tap-exports"))
#: Exports finish within a fraction of a second; every fault sandbox shares one epoch so
#: that a reference run in another sandbox sees exactly the same rows.
FAST = StatusDelays(running_after=0.05, complete_after=0.15)
EPOCH = (dt.datetime.now(dt.UTC) - dt.timedelta(days=20)).replace(
    hour=0, minute=0, second=0, microsecond=0
)
SMALL_ROWS = 150
#: More rows than ``BulkExportStream.CHECKPOINT_ROWS`` in one file, so a run can be
#: stopped after it checkpointed part of a download.
BIG_ROWS = 16_000
#: Bound on one run of the CLI: a hang is caught, and a run on a loaded two-core machine
#: (the sandbox writing 16,000 rows to its S3 server took 20 s once) is not.
CLI_TIMEOUT = 60.0

#: The engine's log line for each export it creates.
CREATED = re.compile(
    r" (?P<stream>\w+): created export \S+ for (?P<window>full table|\[[^)]*\))"
    r"(?: of (?P<source>\S+))?"
)

Message = dict[str, Any]
Record = dict[str, Any]


@dataclass(frozen=True)
class Profile:
    """Where one provider's emulator can be hurt: the operations its routes register.

    ``file`` names the fault-plan provider and operation that serve the export file's
    bytes; ``link`` the call that hands out a download link that can expire;
    ``sandbox`` the sandbox settings that make this provider export at all (Connect
    answers small windows inline).
    """

    name: str
    stream: str
    create: str
    poll: str
    file: tuple[str, str]
    #: The provider's word for an export still being prepared.
    running_word: str
    link: str | None = None
    rate_hint: Callable[[], Fault] | None = None
    #: A create that meets a running export of the same data adopts it.
    adopts_running: bool = False
    #: The file arrives through a link the storage can refuse as expired.
    signed_links: bool = False
    #: New rows of its sandbox datasets are found by the next run. Rows of a time-windowed
    #: provider carry timestamps in the past, behind its bookmark: they never "arrive".
    grows: bool = False
    sandbox: Mapping[str, Any] = field(default_factory=dict)

    @override
    def __str__(self) -> str:
        return self.name


def _emarsys_rate_limit() -> Fault:
    reset = int(time.time()) + 2
    return Fault.status(
        429,
        {"replyCode": 7003, "replyText": "Too many requests", "data": ""},
        {"X-RateLimit-Reset": str(reset)},
    )


PROFILES: dict[str, Profile] = {
    "mailgun": Profile(
        name="mailgun",
        running_word="processing",
        stream="mailgun_bounces",
        create="create",
        poll="get",
        link="download_url",
        file=("mailgun", "storage_get"),
        rate_hint=lambda: Fault.status(429, {"message": "slow down", "retry-seconds": 1}),
        adopts_running=True,
        signed_links=True,
        grows=True,
    ),
    "packagex": Profile(
        name="packagex",
        running_word="processing",
        stream="packagex_shipments",
        create="create",
        poll="get",
        file=("packagex", "storage_get"),
        signed_links=True,
        grows=True,
    ),
    "connect": Profile(
        name="connect",
        running_word="Running",
        stream="connect_purchases",
        create="create",
        poll="get",
        file=("connect", "storage_get"),
        sandbox={"connect": ConnectOptions(inline_limit=100)},
    ),
    "batch": Profile(
        name="batch",
        running_word="RUNNING",
        stream="batch_events",
        create="create",
        poll="view",
        link="download",
        file=("batch", "storage_get"),
        signed_links=True,
    ),
    "emarsys": Profile(
        name="emarsys",
        running_word="in progress",
        stream="emarsys_responses",
        create="create",
        poll="get",
        file=("emarsys", "data"),
        rate_hint=_emarsys_rate_limit,
        adopts_running=True,
        # Adopting needs the running export's id in the 4001, a mode (the documents print
        # only the message); exports go from in progress to done, so a fault on "data"
        # meets the file's pages rather than a check whether a ready export is served.
        sandbox={"emarsys": EmarsysOptions(duplicate_names_export=True, ready_seconds=0)},
    ),
}


def profiles(where: Callable[[Profile], bool] = lambda _: True) -> list[Profile]:
    """The profiles of the providers the sandbox serves, filtered by ``where``."""
    served = {emulator.name for emulator in EMULATORS}
    return [profile for name, profile in PROFILES.items() if name in served and where(profile)]


def sandbox_config(profile: Profile, **fields: Any) -> SandboxConfig:
    """The fault suite's sandbox: small data, fast exports, the shared epoch."""
    defaults = {"delays": FAST, "default_rows": SMALL_ROWS, "epoch": EPOCH, "seed": 7}
    return SandboxConfig(**{**defaults, **profile.sandbox, **fields})


def tap_config(sandbox: Sandbox, profile: Profile, **common: Any) -> dict[str, Any]:
    """The sandbox's tap config reduced to one provider, with common settings overridden."""
    config = sandbox.tap_config()
    names = {emulator.name for emulator in sandbox.emulators}
    config = {key: value for key, value in config.items() if key not in names - {profile.name}}
    return {**config, **common}


def catalog_selecting(config: dict[str, Any], *streams: str) -> dict[str, Any]:
    """The tap's discovered catalog with only ``streams`` selected."""
    catalog = TapExports(config=config).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


@dataclass
class Outcome:
    """What one run wrote and how it ended."""

    messages: list[Message]
    exit_code: int
    stderr: str = ""
    error: BaseException | None = None
    #: The STATE the run started from.
    input_state: dict[str, Any] | None = None

    def creations(self) -> list[tuple[str, str, str]]:
        """(stream, source, window) of every export the run created, from its log."""
        return [
            (match["stream"], match["source"] or "", match["window"])
            for match in CREATED.finditer(self.stderr)
        ]

    def in_flight(self) -> set[tuple[str, str, str]]:
        """(stream, source, window) of the exports its input state held: to resume."""
        return {
            (stream, _source(part), str(Window.from_state(export["window"])))
            for stream, entry in (self.input_state or {}).get("bookmarks", {}).items()
            for part in [entry, *entry.get("partitions", [])]
            for export in _exports(part)
        }

    def states(self) -> list[dict[str, Any]]:
        return [message["value"] for message in self.messages if message["type"] == "STATE"]

    def records(self, stream: str) -> list[Record]:
        return [
            message["record"]
            for message in self.messages
            if message["type"] == "RECORD" and message["stream"] == stream
        ]

    def metrics(self, metric: str) -> list[dict[str, Any]]:
        """SDK-style ``METRIC: {...}`` log lines of ``metric`` (CLI runs)."""
        points = []
        for line in self.stderr.splitlines():
            _, found, text = line.partition("METRIC: ")
            if found:
                point = json.loads(text)
                if point["metric"] == metric:
                    points.append(point)
        return points


def _signal_once(
    process: subprocess.Popen[str], condition: Callable[[], bool], signum: int
) -> None:
    """Send ``signum`` to ``process`` from a thread once ``condition`` holds (or it ended)."""

    def watch() -> None:
        deadline = time.monotonic() + CLI_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if condition():
                process.send_signal(signum)
                return
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()


def _source(bookmark: dict[str, Any]) -> str:
    """A partition's source, as the engine's log names it (empty for a whole stream)."""
    return str(next(iter(bookmark.get("context", {}).values()), ""))


def exports_of(state: dict[str, Any], stream: str) -> list[dict[str, Any]]:
    """Every in-flight export a STATE value holds for ``stream`` (any partition)."""
    entry = state.get("bookmarks", {}).get(stream, {})
    return [export for part in [entry, *entry.get("partitions", [])] for export in _exports(part)]


def _exports(part: dict[str, Any]) -> list[dict[str, Any]]:
    """The exports one state entry holds: its oldest window's, then those created ahead."""
    saved = [part.get("export"), *part.get("exports_ahead", [])]
    return [export for export in saved if isinstance(export, dict)]


def _parse(lines: list[str]) -> list[Message]:
    return [json.loads(line) for line in lines if line.strip()]


class Scenario:
    """One provider's bulk stream, run as often as a test needs, judged as a whole."""

    def __init__(self, sandbox: Sandbox, profile: Profile, **common: Any) -> None:
        self.sandbox = sandbox
        self.profile = profile
        self.config = tap_config(sandbox, profile, **common)
        self.catalog = catalog_selecting(self.config, profile.stream)
        stream = TapExports(config=self.config).streams[profile.stream]
        #: Sources (SDK partitions) the stream reads, each with its own export.
        self.sources = len(stream.partitions) if stream.partitions else 1
        self.outcomes: list[Outcome] = []

    @property
    def stream(self) -> str:
        return self.profile.stream

    @property
    def state(self) -> dict[str, Any] | None:
        """The last STATE any run emitted (what Meltano would hand the next run)."""
        for outcome in reversed(self.outcomes):
            states = outcome.states()
            if states:
                return states[-1]
        return None

    def run(self, **overrides: Any) -> Outcome:
        """``sync_all`` in this process, from the last state; an error ends it with code 1."""
        config = {**self.config, **overrides}
        state = self.state
        handler = _LogCollector()
        logging.getLogger().addHandler(handler)
        tap_logger = logging.getLogger("tap_exports")
        level = tap_logger.level
        tap_logger.setLevel(logging.INFO)
        error: BaseException | None = None
        try:
            with captured_stdout() as raw:
                try:
                    TapExports(config=config, state=state, catalog=self.catalog).sync_all()
                except Exception as exc:  # the CLI would log it and exit 1
                    error = exc
                sys.stdout.flush()
                lines = raw.getvalue().decode("utf-8").splitlines()
        finally:
            logging.getLogger().removeHandler(handler)
            tap_logger.setLevel(level)
        outcome = Outcome(_parse(lines), 0 if error is None else 1, handler.text(), error)
        outcome.input_state = state
        self.outcomes.append(outcome)
        return outcome

    def run_cli(
        self,
        *,
        stop_when: Callable[[Message], bool] | None = None,
        stop_signal: int = signal.SIGKILL,
        signal_when: Callable[[], bool] | None = None,
        env: dict[str, str] | None = None,
        **overrides: Any,
    ) -> Outcome:
        """``tap-exports`` in a subprocess; ``stop_signal`` once a message matches ``stop_when``,
        or once ``signal_when`` (asked every few milliseconds) is true.

        Stdout is read to its end even after the signal: whatever reached the pipe
        reached the target. A process killed with SIGKILL can leave its last line cut
        (a write to a pipe is atomic only up to 4 KB); a target drops that line, and so
        does this reader. Any other line that is not a whole message fails the run.
        """
        with tempfile.TemporaryDirectory() as tmp:
            files = {
                "config": {**self.config, **overrides},
                "catalog": self.catalog,
                "state": self.state,
            }
            args = [TAP]
            for name, content in files.items():
                if content is not None:
                    path = Path(tmp, f"{name}.json")
                    path.write_text(json.dumps(content))
                    args += [f"--{name}", str(path)]
            stderr_path = Path(tmp, "stderr.log")
            with stderr_path.open("w") as stderr:
                process = subprocess.Popen(
                    args,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    # Unbuffered, stdout is the raw pipe: a signal can cut a write short.
                    env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                )
                timed_out = threading.Event()

                def kill_on_timeout() -> None:
                    timed_out.set()
                    process.kill()

                watchdog = threading.Timer(CLI_TIMEOUT, kill_on_timeout)
                watchdog.start()
                if signal_when is not None:
                    _signal_once(process, signal_when, stop_signal)
                messages: list[Message] = []
                try:
                    assert process.stdout is not None
                    signalled = False
                    cut: str | None = None
                    for line in process.stdout:
                        if not line.strip():
                            continue
                        if cut is not None:
                            _not_whole(cut, stderr_path)
                        try:
                            messages.append(json.loads(line))
                        except ValueError:
                            cut = line
                            continue
                        if not signalled and stop_when is not None and stop_when(messages[-1]):
                            process.send_signal(stop_signal)
                            signalled = True
                    process.wait(timeout=CLI_TIMEOUT)
                    if timed_out.is_set():
                        _timed_out(stderr_path)
                    if cut is not None and not (signalled and stop_signal == signal.SIGKILL):
                        _not_whole(cut, stderr_path)
                finally:
                    watchdog.cancel()
                    if process.poll() is None:
                        process.kill()
                        process.wait(timeout=30)
            outcome = Outcome(messages, process.returncode, stderr_path.read_text())
        outcome.input_state = files["state"]
        self.outcomes.append(outcome)
        return outcome

    # Verdicts -------------------------------------------------------------------

    def loaded(self, stream: str | None = None) -> dict[str, Record]:
        """Every record of the stream from every run, deduplicated by primary key."""
        stream = stream or self.stream
        keys = tuple(TapExports(config=self.config).streams[stream].primary_keys or ())

        def key(record: Record) -> str:
            if not keys:
                return json.dumps(record, sort_keys=True)
            return json.dumps([record.get(name) for name in keys])

        return {
            key(record): record for outcome in self.outcomes for record in outcome.records(stream)
        }

    def exports_created(self) -> int:
        return self.sandbox.stats.exports_created(self.profile.name)

    def duplicate_exports(self) -> int:
        """Exports created for a source and window already in flight: in the state the run
        started from (it should have been resumed), or created earlier in the same run."""
        duplicates = 0
        for outcome in self.outcomes:
            created = Counter(outcome.creations())
            in_flight = outcome.in_flight()
            duplicates += sum(count - 1 + (key in in_flight) for key, count in created.items())
        return duplicates


class _LogCollector(logging.Handler):
    """Formatted log lines of an in-process run, as the CLI would print them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    @override
    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Reference:
    """A clean run's records by key."""

    records: dict[str, Record]


@dataclass
class Verdict:
    """The outcome of a fault, as the fault table shows it."""

    rows_lost: int
    rows_extra: int
    rows_changed: int
    duplicate_exports: int
    exit_codes: list[int] = field(default_factory=list)


def judge(scenario: Scenario, reference: Reference) -> Verdict:
    """Compare the union of a scenario's runs with the reference run.

    Every export the sandbox saw created must be one the tap logged (a retried create
    that made a second export would show here).
    """
    loaded = scenario.loaded()
    expected = reference.records
    both = expected.keys() & loaded.keys()
    logged = sum(len(outcome.creations()) for outcome in scenario.outcomes)
    assert scenario.exports_created() == logged, (scenario.exports_created(), logged)
    return Verdict(
        rows_lost=len(expected.keys() - loaded.keys()),
        rows_extra=len(loaded.keys() - expected.keys()),
        rows_changed=sum(1 for key in both if loaded[key] != expected[key]),
        duplicate_exports=scenario.duplicate_exports(),
        exit_codes=[outcome.exit_code for outcome in scenario.outcomes],
    )


def _timed_out(stderr_path: Path) -> NoReturn:
    """The watchdog killed the run: a timeout, whatever the cut output looks like."""
    tail = stderr_path.read_text()[-2000:]
    msg = f"tap-exports was still running after {CLI_TIMEOUT:.0f} s and was killed:\n{tail}"
    raise AssertionError(msg)


def _not_whole(line: str, stderr: Path) -> NoReturn:
    tail = stderr.read_text(errors="replace")[-3000:]
    msg = f"not a whole Singer message: {line[:300]!r}; the tap's log ends:\n{tail}"
    raise AssertionError(msg)
