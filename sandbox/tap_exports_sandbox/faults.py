"""Faults a test asks the sandbox to inject, consumed deterministically and recorded.

A test registers a fault for one ``(provider, operation)`` pair (``"*"`` matches
any), to fire on the ``nth`` matching call after registration and on ``times``
calls in a row (``None``: every call from then on). Operations are named by the
emulators (``create``, ``get``, ``list``, ``download_url``, ...) and by the storage
server (``storage_get``). Every fault that fires is recorded, so tests can assert
which ones the tap actually met.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import threading
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

JsonBody = str | dict[str, Any] | list[Any] | None


class FaultKind(StrEnum):
    """What goes wrong."""

    LATENCY = "latency"  # answer after ``seconds``
    HANG = "hang"  # never answer: hold the connection until the plan is cleared or stopped
    STATUS = "status"  # answer ``code`` with ``body`` and ``headers`` instead
    RESET = "reset"  # close the connection without answering
    CUT_AFTER = "cut_after"  # send the headers, then only ``n_bytes`` of the body
    TRUNCATE = "truncate"  # end the body cleanly at the last line end within ``n_bytes``,
    # with no Content-Length: a short file only a count can tell
    EXPIRE_LINK = "expire_link"  # hand out a download link that has already expired
    FAIL_EXPORT = "fail_export"  # the export ends in the provider's failure state
    STATUS_WORD = "status_word"  # report ``word`` as the export status
    MALFORMED_ROWS = "malformed_rows"  # the export file carries ``rows`` malformed lines
    ROW_VALUES = "row_values"  # the export's first rows carry ``values`` in ``column`` (Mailgun)


@dataclass(frozen=True)
class Fault:
    """One fault and its parameters; build it with the named constructors."""

    kind: FaultKind
    seconds: float = 0.0
    code: int = 0
    body: JsonBody = None
    headers: Mapping[str, str] = field(default_factory=dict)
    n_bytes: int = 0
    word: str = ""
    rows: int = 0
    column: str = ""
    values: tuple[str, ...] = ()

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Delay the answer."""
        return cls(FaultKind.LATENCY, seconds=seconds)

    @classmethod
    def hang(cls) -> Fault:
        """Accept the request and never answer (until the sandbox stops or faults are cleared)."""
        return cls(FaultKind.HANG)

    @classmethod
    def status(
        cls, code: int, body: JsonBody = None, headers: Mapping[str, str] | None = None
    ) -> Fault:
        """Answer with an error status; a dict or list body is sent as JSON."""
        return cls(FaultKind.STATUS, code=code, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limited(
        cls, retry_after: float | dt.datetime | None = None, body: JsonBody = None
    ) -> Fault:
        """A 429, with ``Retry-After`` in seconds or as an HTTP-date when given."""
        headers: dict[str, str] = {}
        if isinstance(retry_after, dt.datetime):
            headers["Retry-After"] = email.utils.format_datetime(
                retry_after.astimezone(dt.UTC), usegmt=True
            )
        elif retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        return cls.status(429, body, headers)

    @classmethod
    def reset(cls) -> Fault:
        """Drop the connection before answering."""
        return cls(FaultKind.RESET)

    @classmethod
    def cut_after(cls, n_bytes: int) -> Fault:
        """Drop the connection after ``n_bytes`` of the body."""
        return cls(FaultKind.CUT_AFTER, n_bytes=n_bytes)

    @classmethod
    def truncate(cls, n_bytes: int) -> Fault:
        """End the body at the last line end within ``n_bytes``, sent without a length."""
        return cls(FaultKind.TRUNCATE, n_bytes=n_bytes)

    @classmethod
    def expire_link(cls) -> Fault:
        """Issue a download link that is already expired."""
        return cls(FaultKind.EXPIRE_LINK)

    @classmethod
    def fail_export(cls) -> Fault:
        """Let the export being created end in failure."""
        return cls(FaultKind.FAIL_EXPORT)

    @classmethod
    def status_word(cls, word: str) -> Fault:
        """Report a status word the provider does not document."""
        return cls(FaultKind.STATUS_WORD, word=word)

    @classmethod
    def malformed_rows(cls, rows: int = 1) -> Fault:
        """Insert ``rows`` malformed lines into the export being created."""
        return cls(FaultKind.MALFORMED_ROWS, rows=rows)

    @classmethod
    def row_values(cls, column: str, *values: str) -> Fault:
        """Write ``values`` into ``column`` of the first rows of the export being created."""
        return cls(FaultKind.ROW_VALUES, column=column, values=values)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as accepted by :meth:`from_dict`."""
        data = asdict(self)
        data["headers"] = dict(self.headers)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Read the JSON form (unknown keys are an error, to catch typos)."""
        known = {name for name in cls.__dataclass_fields__ if name != "kind"}
        unknown = set(data) - known - {"kind"}
        if unknown:
            msg = f"unknown fault fields: {', '.join(sorted(unknown))}"
            raise ValueError(msg)
        fields = {key: data[key] for key in known if key in data}
        if "values" in fields:
            fields["values"] = tuple(fields["values"])
        return cls(FaultKind(data["kind"]), **fields)


#: What a soak test meets by default: transient errors a tap must survive.
SOAK_FAULTS: tuple[Fault, ...] = (
    Fault.status(500, {"message": "internal error"}),
    Fault.status(503, {"message": "service unavailable"}),
    Fault.rate_limited(1, {"retry-seconds": 1}),
    Fault.reset(),
    Fault.latency(0.2),
)


@dataclass(frozen=True)
class FiredFault:
    """A fault that fired, on which call of which operation."""

    provider: str
    operation: str
    call: int
    fault: Fault

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "provider": self.provider,
            "operation": self.operation,
            "call": self.call,
            "fault": self.fault.to_dict(),
        }


@dataclass
class _Rule:
    provider: str
    operation: str
    fault: Fault
    skip: int
    remaining: int | None

    def matches(self, provider: str, operation: str) -> bool:
        return self.provider in {"*", provider} and self.operation in {"*", operation}


@dataclass
class _RandomFaults:
    rng: random.Random
    rate: float
    faults: Sequence[Fault]
    operations: Collection[tuple[str, str]] | None


class FaultPlan:
    """The faults still to fire, and the ones that did; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._random: _RandomFaults | None = None
        self._calls: Counter[tuple[str, str]] = Counter()
        self._fired: list[FiredFault] = []
        #: Set to end every hanging answer: when the plan is cleared or the sandbox stops.
        self.released = threading.Event()

    def release(self) -> None:
        """End every answer held by a ``hang`` fault."""
        self.released.set()

    def add(
        self, provider: str, operation: str, fault: Fault, *, nth: int = 1, times: int | None = 1
    ) -> None:
        """Fire ``fault`` on the ``nth`` matching call from now, and ``times`` calls in all."""
        if nth < 1 or (times is not None and times < 1):
            msg = "nth and times count from 1"
            raise ValueError(msg)
        with self._lock:
            self._rules.append(_Rule(provider, operation, fault, nth - 1, times))

    def randomize(
        self,
        seed: int,
        rate: float,
        faults: Sequence[Fault] = SOAK_FAULTS,
        operations: Collection[tuple[str, str]] | None = None,
    ) -> None:
        """Fire one of ``faults`` on a seeded ``rate`` of calls (of ``operations``, or all)."""
        if not 0.0 <= rate <= 1.0 or not faults:
            msg = "rate must be within [0, 1] and faults non-empty"
            raise ValueError(msg)
        with self._lock:
            self._random = _RandomFaults(random.Random(seed), rate, tuple(faults), operations)

    def take(self, provider: str, operation: str) -> tuple[Fault, ...]:
        """Count one call of ``operation`` and return the faults it must suffer."""
        with self._lock:
            key = (provider, operation)
            self._calls[key] += 1
            fired = [rule.fault for rule in self._rules if self._consume(rule, provider, operation)]
            self._rules = [rule for rule in self._rules if rule.remaining != 0]
            chaos = self._random
            if (
                chaos
                and (chaos.operations is None or key in chaos.operations)
                and chaos.rng.random() < chaos.rate
            ):
                fired.append(chaos.rng.choice(chaos.faults))
            call = self._calls[key]
            self._fired.extend(FiredFault(provider, operation, call, fault) for fault in fired)
            return tuple(fired)

    @staticmethod
    def _consume(rule: _Rule, provider: str, operation: str) -> bool:
        if not rule.matches(provider, operation):
            return False
        if rule.skip:
            rule.skip -= 1
            return False
        if rule.remaining is not None:
            rule.remaining -= 1
        return True

    @property
    def fired(self) -> list[FiredFault]:
        """Every fault that fired, in order."""
        with self._lock:
            return list(self._fired)

    def calls(self, provider: str, operation: str) -> int:
        """How many calls of ``operation`` the sandbox has seen."""
        with self._lock:
            return self._calls[(provider, operation)]

    def clear(self) -> None:
        """Forget every pending fault, call count and record."""
        with self._lock:
            self._rules.clear()
            self._random = None
            self._calls.clear()
            self._fired.clear()
            self.released.set()
            self.released = threading.Event()

    def add_from_dict(self, spec: Mapping[str, Any]) -> None:
        """Register a fault from the control API's JSON.

        ``{"provider", "operation", "nth"?, "times"?, "kind", ...fault fields}``, or
        ``{"random": {"seed", "rate", "operations"?: [[provider, operation], ...]}}``.
        """
        if "random" in spec:
            chaos = spec["random"]
            operations = chaos.get("operations")
            self.randomize(
                int(chaos["seed"]),
                float(chaos["rate"]),
                operations=None if operations is None else {tuple(pair) for pair in operations},
            )
            return
        rule_keys = {"provider", "operation", "nth", "times"}
        fault = Fault.from_dict({key: value for key, value in spec.items() if key not in rule_keys})
        self.add(
            str(spec["provider"]),
            str(spec["operation"]),
            fault,
            nth=int(spec.get("nth", 1)),
            times=spec.get("times", 1),
        )
