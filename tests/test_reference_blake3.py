"""The reference BLAKE3 (gpuhash.reference) against the `blake3` package, at every boundary."""

import blake3 as blake3_pkg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuhash.reference import (
    BLAKE3_CHUNK_LEN,
    BLAKE3_OUT_LEN,
    blake3,
    blake3_chunk_cv,
    blake3_parent_cv,
    blake3_subtree_cv,
)

KIB = BLAKE3_CHUNK_LEN

BOUNDARY_LENGTHS = [
    0,
    1,
    63,
    64,
    65,
    1023,
    1024,
    1025,
    2048,
    2049,
    3072,
    3073,
    4096,
    4097,
    8192,
    8193,
    16384,
    16385,
    31 * KIB,  # 16 + 8 + 4 + 2 + 1 chunks
    31 * KIB + 1,
    65536,
    65537,
]


def pattern(n: int) -> bytes:
    """Deterministic test input: bytes(i % 251 for i in range(n))."""
    return bytes(i % 251 for i in range(n))


def reference(data: bytes) -> bytes:
    digest: bytes = blake3_pkg.blake3(data).digest()
    return digest


def n_chunks(data: bytes) -> int:
    return max(1, -(-len(data) // BLAKE3_CHUNK_LEN))


def largest_pow2_below(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@pytest.mark.parametrize("n", BOUNDARY_LENGTHS)
def test_matches_reference_at_boundaries(n: int) -> None:
    data = pattern(n)
    out = blake3(data)
    assert len(out) == BLAKE3_OUT_LEN
    assert out == reference(data)


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=5000))
def test_matches_reference_random(data: bytes) -> None:
    assert blake3(data) == reference(data)


def test_empty_known_answer() -> None:
    # Official BLAKE3 test vector for the empty input.
    assert blake3(b"").hex() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def test_single_chunk_root_is_chunk_root() -> None:
    for n in (0, 1, 64, 1000, 1024):
        data = pattern(n)
        assert blake3_chunk_cv(data, 0, root=True) == reference(data)


@pytest.mark.parametrize("n", [1025, 2048, 2049, 3073, 5 * KIB + 7, 8193, 31 * KIB + 1])
def test_top_level_split_composes(n: int) -> None:
    data = pattern(n)
    chunks = n_chunks(data)
    assert chunks > 1
    k = largest_pow2_below(chunks)
    split = k * BLAKE3_CHUNK_LEN
    left = blake3_subtree_cv(data[:split], 0)
    right = blake3_subtree_cv(data[split:], k)
    assert blake3_parent_cv(left, right, root=True) == reference(data)


def _tree_from_cvs(cvs: list[bytes], *, root: bool) -> bytes:
    """Combine consecutive equal-size subtree CVs with BLAKE3's left-heavy split rule.

    Valid when every CV except possibly the last covers the same power-of-two number of
    chunks: then BLAKE3's split points always fall on group boundaries.
    """
    if len(cvs) == 1:
        assert root is False, "a single group must be hashed directly as the root"
        return cvs[0]
    k = largest_pow2_below(len(cvs))
    left = _tree_from_cvs(cvs[:k], root=False)
    right = _tree_from_cvs(cvs[k:], root=False)
    return blake3_parent_cv(left, right, root=root)


GROUPING_CASES = [
    (g, n)
    for g in (1, 2, 4, 8)
    for n in (2049, 4096, 5 * KIB + 3, 13 * KIB, 31 * KIB, 33 * KIB + 1)
    if n > g * KIB  # at least two groups
]


@pytest.mark.parametrize(("group_chunks", "n"), GROUPING_CASES)
def test_power_of_two_grouping_composes(group_chunks: int, n: int) -> None:
    data = pattern(n)
    group_len = group_chunks * BLAKE3_CHUNK_LEN
    groups = [data[i : i + group_len] for i in range(0, len(data), group_len)]
    assert len(groups) >= 2
    cvs = [blake3_subtree_cv(g, i * group_chunks) for i, g in enumerate(groups)]
    assert _tree_from_cvs(cvs, root=True) == reference(data)


@pytest.mark.parametrize("root", [False, True])
def test_subtree_of_one_chunk_is_chunk_cv(root: bool) -> None:
    data = pattern(700)
    assert blake3_subtree_cv(data, 5, root=root) == blake3_chunk_cv(data, 5, root=root)
