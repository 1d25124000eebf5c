"""Calls at every power of two of leaves (and pairs) and its neighbours up to 2^17 + 1:
``hash_leaves``, ``hash_subtrees`` and ``hash_nodes`` (with root-flag patterns)."""

from __future__ import annotations

import random

import numpy as np

from gpuhash.algorithms import BLAKE3, LTHASH, Algorithm
from gpuhash.backend import HashBackend
from gpuhash_conformance import oracle
from gpuhash_conformance.boundaries.calls import (
    Coverage,
    call_leaves,
    call_nodes,
    call_subtrees,
    compare,
    describe,
    expected_object_leaves,
    object_table,
)
from gpuhash_conformance.patterns import pattern

__all__ = ["COUNTS", "check_leaf_counts", "check_node_counts", "check_subtree_counts"]

#: Leaves (and pairs) per call: every power of two up to 2^17 and its neighbours.
COUNTS = tuple(sorted({(1 << k) + d for k in range(18) for d in (-1, 0, 1)} - {0}))


def _count_data(alg: Algorithm) -> memoryview:
    return pattern(0, COUNTS[-1] * alg.leaf_size, seed=1)


def check_leaf_counts(backend: HashBackend, family: str, cov: Coverage) -> None:
    """``hash_leaves`` of 1..2^17 + 1 leaves at every count of ``COUNTS``, largest first."""
    alg = Algorithm(family, 1024)
    d, top = alg.digest_size, COUNTS[-1]
    data = _count_data(alg)
    biggest = call_leaves(backend, alg, data, object_table(top, 1024), cov, f"{top} leaves")
    want_all = expected_object_leaves(alg, data, top, biggest)
    for n in reversed(COUNTS):
        table = object_table(n, 1024, root=n == 1)
        got = biggest if n == top else call_leaves(backend, alg, data, table, cov, f"{n} leaves")
        want = oracle.leaf_value(alg, data[:1024], 0, True) if n == 1 else want_all[: n * d]
        compare(got, want, d, f"hash_leaves with {n} leaves of 1024 bytes", describe(table))


def check_subtree_counts(backend: HashBackend, family: str, cov: Coverage) -> None:
    """``hash_subtrees`` of one group at every count of ``COUNTS`` (whole and not), then
    2^17 + 1 leaves in many groups in one call."""
    alg = Algorithm(family, 1024)
    d, top = alg.digest_size, COUNTS[-1]
    data = _count_data(alg)
    values = None
    if family == BLAKE3:
        values = call_leaves(backend, alg, data, object_table(top, 1024), cov, f"{top} leaves")
    trees = oracle.Subtrees(alg, expected_object_leaves(alg, data, top, values))
    for k, n in enumerate(reversed(COUNTS)):
        whole = k % 2 == 0
        table = object_table(n, 1024, root=whole and n == 1)
        got = call_subtrees(backend, alg, data, table, [n], [whole], cov, f"{n} leaves")
        want = oracle.leaf_value(alg, data[:1024], 0, whole) if n == 1 else trees.top(n, whole)
        compare(got, want, d, f"hash_subtrees of one group of {n} leaves (whole {whole})")
    # Every leaf of the buffer in one call, as groups of sizes around powers of two (windows of
    # one object: never whole), so a call's schedule has more than 2^17 values.
    sizes = [c for c in COUNTS if c <= 1 << 12]
    counts, pos, i = [], 0, 0
    while pos < top:
        c = min(sizes[i % len(sizes)], top - pos)
        counts.append(c)
        pos += c
        i += 1
    table = object_table(top, 1024)
    got = call_subtrees(
        backend, alg, data, table, counts, [False] * len(counts), cov, f"{len(counts)} groups"
    )
    want_parts, pos = [], 0
    for c in counts:
        want_parts.append(oracle.fold(alg, trees.levels[0][pos * d : (pos + c) * d], False))
        pos += c
    compare(
        got,
        b"".join(want_parts),
        d,
        f"hash_subtrees of {top} leaves in {len(counts)} groups",
        lambda g: f"group {g} ({counts[g]} leaves from leaf {sum(counts[:g])})",
    )


_ROOT_PATTERNS = ("none", "all", "alternating", "first", "last", "every fourth", "random")


def _roots(kind: str, m: int, seed: int) -> bytes:
    if kind == "none":
        return bytes(m)
    if kind == "all":
        return b"\x01" * m
    if kind == "alternating":
        return bytes(i % 2 for i in range(m))
    if kind == "first":
        return b"\x01" + bytes(m - 1)
    if kind == "last":
        return bytes(m - 1) + b"\x01"
    if kind == "every fourth":
        return bytes(int(i % 4 == 3) for i in range(m))
    rnd = random.Random(seed)
    return bytes(rnd.getrandbits(1) for _ in range(m))


def check_node_counts(backend: HashBackend, family: str, cov: Coverage) -> None:
    """``hash_nodes`` at every count of ``COUNTS`` (lattice: to 2^14 + 1) with root-flag
    patterns."""
    alg = Algorithm(family, 1024)
    d = alg.digest_size
    most = COUNTS[-1] if family != LTHASH else (1 << 14) + 1  # lattice pairs are 4 KiB each
    children = pattern(0, 2 * most * d, seed=3).tobytes()
    plain = oracle.node_values(alg, children, bytes(most))
    rooted = oracle.node_values(alg, children, b"\x01" * most) if family == BLAKE3 else plain
    a = np.frombuffer(plain, dtype=np.uint8).reshape(most, d)
    b = np.frombuffer(rooted, dtype=np.uint8).reshape(most, d)
    counts = [c for c in COUNTS if c <= most]
    for k, m in enumerate(counts):
        kinds = _ROOT_PATTERNS if m <= 257 or m == counts[-1] else [_ROOT_PATTERNS[k % 7]]
        for kind in kinds:
            roots = _roots(kind, m, m)
            mask = np.frombuffer(roots, dtype=np.uint8).astype(bool)
            want = np.where(mask[:, None], b[:m], a[:m]).tobytes()
            got = call_nodes(backend, alg, children[: 2 * m * d], roots, cov, f"{m} pairs")
            compare(
                got,
                want,
                d,
                f"hash_nodes of {m} pairs (roots: {kind})",
                lambda i, r=roots: f"pair {i} (root {r[i]})",
            )
