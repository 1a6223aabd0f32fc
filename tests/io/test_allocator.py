"""The mmap threshold is fixed where glibc allows it, and nothing happens elsewhere."""

from __future__ import annotations

import platform
import sys

from tap_exports.io.allocator import fix_mmap_threshold


def test_the_threshold_is_fixed_exactly_under_glibc():
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

    assert fix_mmap_threshold() is glibc
