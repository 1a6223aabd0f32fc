"""Deterministic datasets generated row by row, so any size can be served with flat memory.

A row is a pure function of ``(seed, dataset name, index)``: nothing is stored, a
dataset can grow without changing the rows it already had, and tests compare what the
tap loaded with :meth:`Dataset.rows` as ground truth.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

Value = str | int | float | bool | None
Row = tuple[Value, ...]
T = TypeVar("T")

#: Values that break naive CSV writers and readers, or spreadsheet tools: delimiters,
#: quotes, embedded line breaks, non-ASCII text and formula-like prefixes.
AWKWARD_TEXT: tuple[str, ...] = (
    "comma, inside",
    'say "hello"',
    "line one\nline two",
    "crlf\r\ninside",
    "semi;colon",
    "tab\tinside",
    "naïve café — 東京 🚀",
    '=HYPERLINK("http://example.com")',
    "+33 1 23 45 67",
    "-42",
    "@mention",
    "  padded  ",
    "",
)
_AWKWARD_EVERY = 17


def awkward_text(index: int) -> str | None:
    """The awkward value row ``index`` carries in its free-text column, if any.

    Spread at a fixed stride so that even a few hundred rows contain every kind.
    """
    if index % _AWKWARD_EVERY != 3:
        return None
    return AWKWARD_TEXT[(index // _AWKWARD_EVERY) % len(AWKWARD_TEXT)]


class Draws:
    """Pseudo-random choices for one row, taken from a hash of the row's identity."""

    __slots__ = ("_digest", "_position")

    def __init__(self, digest: bytes) -> None:
        self._digest = digest
        self._position = 0

    def below(self, bound: int) -> int:
        """An integer in ``[0, bound)``."""
        if self._position + 4 > len(self._digest):
            self._digest = hashlib.blake2b(self._digest, digest_size=32).digest()
            self._position = 0
        value = int.from_bytes(self._digest[self._position : self._position + 4], "big")
        self._position += 4
        return value % bound

    def pick(self, choices: Sequence[T]) -> T:
        """One of ``choices``."""
        return choices[self.below(len(choices))]


RowMaker = Callable[[int, Draws, dt.datetime], Row]
"""Builds row ``index`` from its draws and its timestamp."""


@dataclass
class Dataset:
    """An ordered, append-only table whose rows are computed on demand.

    ``size`` may change at any time (tests grow datasets between syncs); row ``i``
    is the same whatever the size, and row timestamps increase with ``i``.
    """

    name: str
    columns: tuple[str, ...]
    make_row: RowMaker
    seed: int
    epoch: dt.datetime
    step: dt.timedelta
    size: int
    _hasher: hashlib.blake2b = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._hasher = hashlib.blake2b(f"{self.seed}/{self.name}/".encode(), digest_size=32)

    @property
    def count(self) -> int:
        """How many rows the dataset holds right now."""
        return self.size

    def timestamp(self, index: int) -> dt.datetime:
        """When row ``index`` happened: ``epoch + index * step``."""
        return self.epoch + index * self.step

    def row(self, index: int) -> Row:
        """Row ``index`` as a tuple in column order."""
        hasher = self._hasher.copy()
        hasher.update(index.to_bytes(8, "big"))
        return self.make_row(index, Draws(hasher.digest()), self.timestamp(index))

    def tuples(self, start: int = 0, stop: int | None = None) -> Iterator[Row]:
        """Rows ``[start, stop)`` as tuples; ``stop`` defaults to the current size."""
        for index in range(start, self.size if stop is None else stop):
            yield self.row(index)

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Value]]:
        """Rows ``[start, stop)`` as dicts keyed by column: the ground truth tests compare with."""
        for values in self.tuples(start, stop):
            yield dict(zip(self.columns, values, strict=True))


class DatasetRegistry:
    """Every dataset of the sandbox, by name, sized from the sandbox configuration."""

    def __init__(
        self,
        *,
        seed: int,
        epoch: dt.datetime,
        step: dt.timedelta,
        default_rows: int,
        rows: Mapping[str, int],
    ) -> None:
        self._seed = seed
        self._epoch = epoch
        self._step = step
        self._default_rows = default_rows
        self._configured_rows = dict(rows)
        self._datasets: dict[str, Dataset] = {}
        self._lock = threading.Lock()

    def define(self, name: str, columns: Sequence[str], make_row: RowMaker) -> Dataset:
        """Create the dataset ``name`` with its configured size."""
        dataset = Dataset(
            name=name,
            columns=tuple(columns),
            make_row=make_row,
            seed=self._seed,
            epoch=self._epoch,
            step=self._step,
            size=self._configured_rows.get(name, self._default_rows),
        )
        with self._lock:
            if name in self._datasets:
                msg = f"dataset {name!r} is defined twice"
                raise ValueError(msg)
            self._datasets[name] = dataset
        return dataset

    def __getitem__(self, name: str) -> Dataset:
        with self._lock:
            return self._datasets[name]

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._datasets

    def names(self) -> list[str]:
        """Dataset names in definition order."""
        with self._lock:
            return list(self._datasets)

    def resize(self, name: str, size: int) -> Dataset:
        """Grow (or shrink) a dataset; existing rows keep their values."""
        if size < 0:
            msg = "a dataset size cannot be negative"
            raise ValueError(msg)
        dataset = self[name]
        dataset.size = size
        return dataset

    def reset(self) -> None:
        """Put every dataset back to its configured size."""
        with self._lock:
            for name, dataset in self._datasets.items():
                dataset.size = self._configured_rows.get(name, self._default_rows)
