"""What the leaves hold: every message length around the primitive's block (padding), and
leaves that share all but one byte or are zero but for one byte (prefix caches, zero
shortcuts)."""

from __future__ import annotations

from gpuhash.algorithms import BLAKE3, Algorithm, family_info
from gpuhash.backend import HashBackend
from gpuhash_conformance import oracle
from gpuhash_conformance.boundaries.calls import (
    Coverage,
    call_leaves,
    call_subtrees,
    compare,
    describe,
    expected_object_leaves,
    make_table,
    object_table,
)
from gpuhash_conformance.patterns import pattern

__all__ = ["check_block_boundaries", "check_prefixes_and_zeros", "prefix_leaves"]


def check_block_boundaries(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Every leaf length up to three blocks and two past (the leaf's role byte makes each
    message one longer), so every length modulo the block occurs; for BLAKE3 every length to
    two chunks and a block, and the last leaf of two-leaf objects at every block boundary."""
    leaf = 4096
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    top = 3 * family_info(family).block_size + 3 if family != BLAKE3 else 2 * 1024 + 66
    data = pattern(0, top * (top + 1) // 2 + top, seed=12)
    offsets, lengths, pos = [], [], 0
    for n in range(top):
        offsets.append(pos)
        lengths.append(n)
        pos += n
    table = make_table(offsets, lengths, [0] * top, [1] * top)
    got = call_leaves(backend, alg, data, table, cov, "every length")
    want = oracle.leaf_values(alg, data, offsets, lengths, [0] * top, [1] * top)
    compare(got, want, d, f"hash_leaves at every length 0..{top - 1}", describe(table))
    if family == BLAKE3:
        tails = sorted(
            {
                1,
                63,
                64,
                65,
                127,
                128,
                129,
                1023,
                1024,
                1025,
                2047,
                2048,
                2049,
                3071,
                3072,
                3073,
                4095,
                4096,
            }
        )
        for t in tails:
            obj = data[: leaf + t]
            table = object_table(2, leaf, size=leaf + t)
            got = call_leaves(backend, alg, obj, table, cov, f"last leaf of {t} bytes")
            expected_object_leaves(alg, obj, 2, got)
            top_value = call_subtrees(backend, alg, obj, table, [2], [True], cov, "two leaves")
            compare(
                top_value,
                oracle.leaf_value(alg, obj, 0, True),
                d,
                f"hash_subtrees of a whole object of {leaf} + {t} bytes",
            )


def prefix_leaves(leaf: int) -> list[tuple[str, bytes]]:
    """Named leaves of ``leaf`` bytes (one a byte shorter) that share prefixes or are
    (nearly) zero."""
    p = pattern(0, leaf, seed=10).tobytes()
    z = bytes(leaf)

    def flip(b: bytes, i: int) -> bytes:
        return b[:i] + bytes([b[i] ^ 0x5A]) + b[i + 1 :]

    page = min(4096, leaf // 2)
    return [
        ("zeros", z),
        ("zeros but the last byte", flip(z, leaf - 1)),
        ("zeros for a page, then the pattern", z[:page] + p[page:]),
        ("zeros again", z),
        ("pattern", p),
        ("pattern, last byte changed", flip(p, leaf - 1)),
        ("pattern, a middle byte changed", flip(p, leaf // 2)),
        ("pattern, first byte changed", flip(p, 0)),
        ("pattern again", p),
        ("zeros but the first byte", flip(z, 0)),
        ("zeros, one byte shorter", z[:-1]),
    ]


def check_prefixes_and_zeros(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Leaves sharing prefixes and zero leaves beside nearly-zero ones: as one-leaf objects
    and as one object, in both orders, then one by one across calls."""
    leaf = 16384
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    cases = prefix_leaves(leaf)
    for order in (cases, cases[::-1]):
        names = [c[0] for c in order]
        data = b"".join(c[1] for c in order)
        offsets, pos = [], 0
        for _, b in order:
            offsets.append(pos)
            pos += len(b)
        lengths = [len(b) for _, b in order]
        # Each leaf its own one-leaf object (index 0, root), then all as leaves of one object
        # (indices 0..k-1; a shorter leaf only last).
        table = make_table(offsets, lengths, [0] * len(order), [1] * len(order))
        got = call_leaves(backend, alg, data, table, cov, "one-leaf objects")
        want = b"".join(oracle.leaf_value(alg, b, 0, True) for _, b in order)
        compare(
            got,
            want,
            d,
            "hash_leaves of leaves sharing prefixes",
            lambda i, n=names: f"row {i} ({n[i]})",
        )
        full = [(name, b) for name, b in order if len(b) == leaf]
        obj = b"".join(b for _, b in full)
        table = object_table(len(full), leaf)
        got = call_leaves(backend, alg, obj, table, cov, "leaves of one object")
        want = expected_object_leaves(alg, obj, len(full), got)
        compare(
            got,
            want,
            d,
            "hash_leaves of an object of such leaves",
            lambda i, f=full: f"leaf {i} ({f[i][0]})",
        )
    # Across calls: a zero leaf, then one that is zero but for its last byte; a pattern leaf,
    # then the same with its last byte changed (same index, same call shape).
    for first, second in ((0, 1), (4, 5), (1, 0), (5, 4)):
        for k in (first, second):
            name, b = cases[k]
            table = make_table([0], [leaf], [0], [1])
            got = call_leaves(backend, alg, b, table, cov, name)
            compare(
                got,
                oracle.leaf_value(alg, b, 0, True),
                d,
                f"hash_leaves of one leaf ({name}) after ({cases[first][0]})",
            )
