"""Termination signals turned into an orderly stop at a point where nothing is half done.

A signal handler runs between two bytecodes of the main thread, wherever it is. Raising
there is what makes a stop prompt (a long poll wait or download ends at once), but it
must not cut a RECORD line in half on stdout, or land between creating an export and
writing its id to state. Those steps run inside :meth:`Interruptions.deferred`; a
signal arriving during one is raised when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tap_exports.errors import RunInterruptedError


class Interruptions:
    """Where the main thread may be stopped by a signal, and a signal waiting to be raised."""

    def __init__(self) -> None:
        self._depth = 0
        self._pending: int | None = None

    def stop(self, signum: int) -> None:
        """Called by the signal handler: raise now, or as soon as the current step ends."""
        if self._depth:
            self._pending = signum
            return
        raise RunInterruptedError(signum)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A step that a signal must not cut in half (writing output, recording an export)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth and self._pending is not None:
                signum, self._pending = self._pending, None
                raise RunInterruptedError(signum)
