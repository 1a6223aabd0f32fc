"""Termination signals turned into an orderly stop at a point where nothing is half done.

A signal handler runs between two bytecodes of the main thread, wherever it is. Raising
there is what makes a stop prompt (a long poll wait or download ends at once), but it
must not cut a RECORD line in half on stdout, or land between creating an export and
writing its id to state. Those steps run inside :meth:`Interruptions.deferred`; a
signal arriving during one is raised when it ends.

A step is short, but one that waits on a network answer may hang: a deferred signal is
raised anyway after :data:`GRACE_SECONDS`, or at once when a second signal comes. Writing
output has no such grace: a write blocked by a slow target is back-pressure, not a hang,
and cutting it would hand the target half a message; only a second signal abandons it. Waits
of any thread (retry pauses, poll pauses) go through :func:`pause`, which a signal ends
at once; a signal is delivered to the whole process, so that flag is process-wide.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tap_exports.errors import RunInterruptedError

#: Longest a signal waits for the step in progress (an API call that hangs) to end.
GRACE_SECONDS = 5.0

_stopping = threading.Event()
_signum: list[int] = []


def pause(seconds: float) -> None:
    """Sleep ``seconds`` in any thread; a termination signal ends the sleep by raising."""
    if _stopping.wait(max(0.0, seconds)):
        raise RunInterruptedError(_signum[-1])


def _signal_main_thread(signum: int) -> None:
    """Deliver ``signum`` to the main thread again, interrupting a blocking call there."""
    signal.pthread_kill(threading.main_thread().ident or 0, signum)


class Interruptions:
    """Where the main thread may be stopped by a signal, and a signal waiting to be raised."""

    def __init__(self) -> None:
        self._depth = 0
        #: Steps in progress that write output, which no grace period cuts short.
        self._writing = 0
        self._pending: int | None = None
        self._grace: threading.Timer | None = None
        # A new run: a stop requested of an earlier run in this process is over.
        _stopping.clear()
        _signum.clear()

    def stop(self, signum: int) -> None:
        """Called by the signal handler: raise now, or as soon as the current step ends.

        A step that outlasts the grace period, or a second signal, is abandoned.
        """
        _signum.append(signum)
        _stopping.set()
        if self._depth and self._pending is None:
            self._pending = signum
            if not self._writing:
                self._grace = threading.Timer(GRACE_SECONDS, _signal_main_thread, (signum,))
                self._grace.daemon = True
                self._grace.start()
            return
        self._pending = None
        self._cancel_grace()
        raise RunInterruptedError(signum)

    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    @contextmanager
    def deferred(self, *, writing: bool = False) -> Iterator[None]:
        """A step a signal must not cut in half: recording an export, or ``writing`` output."""
        self._depth += 1
        self._writing += writing
        try:
            yield
        finally:
            self._depth -= 1
            self._writing -= writing
            if not self._depth and self._pending is not None:
                signum, self._pending = self._pending, None
                self._cancel_grace()
                raise RunInterruptedError(signum)
