"""A block written to stdout arrives whole, even where each write takes only part of it."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tap_exports.io.output import write_fully


class ShortWrites(io.RawIOBase):
    """A raw file whose writes take at most ``step`` bytes, as a pipe a signal interrupts."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.received = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        taken = bytes(data[: self.step])
        self.received += taken
        return len(taken)


def test_every_byte_is_written_however_short_each_write():
    out = ShortWrites(step=7)
    block = bytes(range(256)) * 40
    write_fully(out, bytearray(block))  # type: ignore[arg-type]
    assert bytes(out.received) == block


def test_a_stream_that_takes_nothing_is_an_error_not_a_loop():
    with pytest.raises(BlockingIOError, match="took 0 of 5 bytes"):
        write_fully(ShortWrites(step=0), b"hello")  # type: ignore[arg-type]


def test_a_signal_during_a_write_to_a_slow_pipe_loses_no_byte():
    # An unbuffered child writes 4 MB to a pipe nobody reads yet; SIGUSR1 arrives while
    # the write waits, so the raw write returns short; the whole block must still arrive.
    child = textwrap.dedent(
        """
        import signal, sys
        from tap_exports.io.output import write_fully
        signal.signal(signal.SIGUSR1, lambda *_: None)
        sys.stderr.write("ready\\n"); sys.stderr.flush()
        write_fully(sys.stdout.buffer, b"x" * (4 << 20))
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-u", "-c", child],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        assert process.stderr.readline() == b"ready\n"
        first = process.stdout.read(1 << 16)  # the writer is now blocked on a full pipe
        process.send_signal(signal.SIGUSR1)
        rest = process.stdout.read()
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert len(first) + len(rest) == 4 << 20
