"""Every boundary at once: the boundaries of the small checks again, in one shuffled call of
2^17 + 2,600 rows over a 4 GiB buffer (and as groups of one ``hash_subtrees`` call)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gpuhash.algorithms import BLAKE3, Algorithm, family_info
from gpuhash.backend import HashBackend, LeafTable
from gpuhash_conformance import oracle
from gpuhash_conformance.boundaries.calls import (
    Coverage,
    call_leaves,
    call_subtrees,
    compare,
    expected_object_leaves,
    make_table,
)
from gpuhash_conformance.boundaries.contents import prefix_leaves
from gpuhash_conformance.boundaries.past_2_32 import SPARSE_SIZE, close_sparse
from gpuhash_conformance.patterns import sparse_pattern

__all__ = ["check_boundaries_in_a_large_call"]


_BIG_LEAF = 1 << 20


def _big_call_rows(
    family: str,
) -> tuple[list[tuple[int, int, int, int, str]], list[tuple[int, int]]]:
    """The rows of ``check_boundaries_in_a_large_call`` (offset, length, index, root, what) at
    leaf size 1 MiB, and the regions of the sparse buffer that hold pattern bytes."""
    g31, g32 = 1 << 31, 1 << 32
    rows: list[tuple[int, int, int, int, str]] = []
    # 2^17 one-leaf objects of 1..512 bytes: the call's bulk (64 MiB of leaves).
    pos = 0
    for j in range(1 << 17):
        n = 1 + (j * 131) % 512
        rows.append((pos, n, 0, 1, "a one-leaf object"))
        pos += n
    regions = [(0, pos)]
    # Every message length to three blocks and two past (padding), as one-leaf objects.
    base = pos + 4096
    top = 3 * family_info(family).block_size + 3 if family != BLAKE3 else 2 * 1024 + 66
    rows.extend((base, n, 0, 1, f"a one-leaf object of {n} bytes") for n in range(top))
    # A whole object of two full 1 MiB leaves (1,024 chunks each: BLAKE3's stack).
    two = base + 8192
    rows.append((two, _BIG_LEAF, 0, 0, "leaf 0 of a 2 MiB object"))
    rows.append((two + _BIG_LEAF, _BIG_LEAF, 1, 0, "leaf 1 of a 2 MiB object"))
    regions.append((base, two + 2 * _BIG_LEAF))
    # Leaves at 2^31 and 2^32 bytes into the buffer, at large leaf indices (last leaves of
    # huge objects: shorter than L, so their lengths are free).
    for at, index, n in (
        (g31 - 1000, g31 // _BIG_LEAF, 3000),
        (g31 + 7, 4097, 4096),
        (g32 - 4096, (1 << 22) - 1, 4096),
        (g32 - 3, 1 << 22, 2000),
        (g32, (1 << 32) + 5, 4096),
        (g32 + 4099, (1 << 40) + 1, 1),
    ):
        rows.append((at, n, index, 0, f"a last leaf at offset {at}, index {index}"))
    regions += [(g31 - (1 << 16), g31 + (1 << 16)), (g32 - (1 << 16), SPARSE_SIZE)]
    # Leaves sharing all but one byte, and zero leaves beside nearly-zero ones (16 KiB each,
    # one-leaf objects), in the high region.
    at = g32 + (1 << 17)
    for name, leaf in prefix_leaves(16384):
        rows.append((at, len(leaf), 0, 1, name))
        at += len(leaf)
    return rows, regions


def _rows_table(rows: Sequence[tuple[int, int, int, int, str]]) -> LeafTable:
    return make_table(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )


def check_boundaries_in_a_large_call(backend: HashBackend, family: str, cov: Coverage) -> None:
    """The boundaries of the small checks again, inside one call of 2^17 + 2,600 rows over
    a 4 GiB buffer, rows shuffled: a backend that routes small calls to another path, or whose
    kernel goes wrong only in large launches, meets them on its large-call path. Then the same
    rows as groups of one ``hash_subtrees`` call."""
    alg = Algorithm(family, _BIG_LEAF)
    d = alg.digest_size
    rows, regions = _big_call_rows(family)
    buf = sparse_pattern(SPARSE_SIZE, regions, seed=52)
    view = memoryview(buf)
    prefixes = prefix_leaves(16384)
    at = (1 << 32) + (1 << 17)
    for _, leaf in prefixes:  # the prefix leaves are bytes of their own, not the pattern
        view[at : at + len(leaf)] = leaf
        at += len(leaf)
    try:
        order = list(range(len(rows)))
        random.Random(53).shuffle(order)
        shuffled = [rows[i] for i in order]
        table = _rows_table(shuffled)
        got = call_leaves(backend, alg, view, table, cov, "every boundary in one call")
        two = next(i for i, r in enumerate(rows) if r[4] == "leaf 0 of a 2 MiB object")
        want_rows = []
        for i, (o, n, index, root, _what) in enumerate(rows):
            if i in (two, two + 1):
                want_rows.append(b"")  # proved below, as an object
            else:
                want_rows.append(oracle.leaf_value(alg, view[o : o + n], index, bool(root)))
        obj = view[rows[two][0] : rows[two][0] + 2 * _BIG_LEAF]
        pos = {row: k for k, row in enumerate(order)}
        pair = (
            got[pos[two] * d : (pos[two] + 1) * d] + got[pos[two + 1] * d : (pos[two + 1] + 1) * d]
        )
        proved = expected_object_leaves(alg, obj, 2, pair)
        want_rows[two], want_rows[two + 1] = proved[:d], proved[d:]
        want = b"".join(want_rows[i] for i in order)
        compare(
            got,
            want,
            d,
            f"hash_leaves of every boundary in one call of {len(rows)} rows",
            lambda k: f"row {k} ({shuffled[k][4]})",
        )
        # As groups: each row its own group (whole where it is a root), the 2 MiB object one.
        groups = [[i] for i in range(len(rows)) if i not in (two, two + 1)] + [[two, two + 1]]
        random.Random(54).shuffle(groups)
        flat = [rows[i] for g in groups for i in g]
        table = _rows_table(flat)
        whole = [len(g) == 2 or bool(rows[g[0]][3]) for g in groups]
        got = call_subtrees(
            backend, alg, view, table, [len(g) for g in groups], whole, cov, "groups"
        )
        tops = [oracle.fold(alg, proved, True) if len(g) == 2 else want_rows[g[0]] for g in groups]
        compare(
            got,
            b"".join(tops),
            d,
            f"hash_subtrees of every boundary in {len(groups)} groups",
            lambda k: f"group {k} ({rows[groups[k][0]][4]})",
        )
    finally:
        close_sparse(view, buf)
