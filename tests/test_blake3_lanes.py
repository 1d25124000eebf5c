"""gpuhash.blake3_lanes (numpy BLAKE3 chaining values) against the pure-Python reference and the
blake3 package: every chunk and block boundary, counters past 2^32, roots, odd offsets."""

from __future__ import annotations

import blake3
from hypothesis import given
from hypothesis import strategies as st

from gpuhash import blake3_lanes
from gpuhash import reference as ref

DATA = bytes((i * 131 + (i >> 9)) % 256 for i in range(70_000))
LENGTHS = sorted(
    {0, 1, 2, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 3073, 4095, 4096}
)


def test_leaves_of_every_boundary_length_equal_the_reference() -> None:
    rows = []
    for leaf_size in (1024, 4096):
        for n in LENGTHS:
            if n > leaf_size:
                continue
            for index in (0, 1, 7, (1 << 32) // (leaf_size // 1024), (1 << 32) + 3):
                for root in (False, True):
                    if (root and index) or (n == 0 and not root):
                        continue
                    rows.append((leaf_size, 3 + n % 5, n, index, root))
    got = blake3_lanes.leaf_cvs(
        DATA,
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] * (r[0] // 1024) for r in rows],
        [int(r[4]) for r in rows],
    )
    for k, (leaf_size, offset, n, index, root) in enumerate(rows):
        leaf = DATA[offset : offset + n]
        want = ref.leaf_value(ref.BLAKE3, leaf, index, leaf_size, root)
        assert got[32 * k : 32 * (k + 1)] == want, (leaf_size, offset, n, index, root)
        if root:
            assert want == blake3.blake3(leaf).digest()
        # The same row alone (a call of one or two chunks takes the scalar path).
        alone = blake3_lanes.leaf_cvs(DATA, [offset], [n], [index * (leaf_size // 1024)], [root])
        assert alone == want


@given(
    size=st.integers(0, 40_000),
    offset=st.integers(0, 9),
    threads=st.sampled_from([1, 3]),
)
def test_a_whole_input_as_one_leaf_equals_the_blake3_package(
    size: int, offset: int, threads: int
) -> None:
    leaf = DATA[offset : offset + size]
    got = blake3_lanes.leaf_cvs(
        DATA, [offset] * threads, [size] * threads, [0] * threads, [1] * threads
    )
    assert got == blake3.blake3(leaf).digest() * threads


def test_parents_equal_the_reference() -> None:
    children = DATA[: 64 * 300]
    roots = bytes(i % 3 == 0 for i in range(300))
    got = blake3_lanes.parent_cvs(children, roots)
    for i in range(300):
        left, right = children[64 * i : 64 * i + 32], children[64 * i + 32 : 64 * i + 64]
        assert got[32 * i : 32 * (i + 1)] == ref.blake3_parent_cv(left, right, root=bool(roots[i]))
    assert blake3_lanes.parent_cvs(b"", b"") == b""
    assert blake3_lanes.leaf_cvs(DATA, [], [], [], []) == b""
