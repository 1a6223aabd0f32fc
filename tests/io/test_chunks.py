"""Line blocks: whole lines, bounded size, nothing lost or added."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_exports.io.chunks import line_blocks

_lines = st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=30)


@settings(deadline=None, max_examples=300, database=None)
@given(
    lines=_lines,
    last_ends=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=10),
    size=st.integers(min_value=1, max_value=50),
)
def test_blocks_are_whole_bounded_lines_that_rebuild_the_input(lines, last_ends, cuts, size):
    data = b"\n".join(lines) + (b"\n" if last_ends and lines else b"")
    chunks, start = [], 0
    for cut in cuts:
        chunks.append(data[start : start + cut])
        start += cut
    chunks.append(data[start:])

    blocks = list(line_blocks(chunks, size=size))

    assert b"".join(blocks) == data
    assert all(blocks)
    for block in blocks[:-1]:
        assert block.endswith(b"\n")
        assert len(block) <= size or block.count(b"\n") == 1
