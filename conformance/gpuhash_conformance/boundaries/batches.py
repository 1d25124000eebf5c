"""Many objects in one call: objects of mixed sizes with rows and groups out of order, and
2^17 + 1 one-leaf objects (a root on every row, as many tops)."""

from __future__ import annotations

import random

from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, Algorithm
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
)
from gpuhash_conformance.boundaries.counts import COUNTS
from gpuhash_conformance.patterns import pattern

__all__ = ["check_many_objects", "check_mixed_batches"]


#: Object sizes (bytes, at 1 KiB leaves) for the mixed batch: empty, around block and leaf
#: boundaries, around powers of two of leaves, and two of over 2^15 leaves.
_MIXED_SIZES = (
    0,
    1,
    55,
    56,
    63,
    64,
    65,
    111,
    112,
    127,
    128,
    135,
    136,
    137,
    1023,
    1024,
    1025,
    2047,
    2048,
    2049,
    3000,
    4096 + 17,
    7 * 1024,
    8 * 1024,
    9 * 1024 - 1,
    255 * 1024 + 7,
    256 * 1024,
    257 * 1024 - 1,
    1000 * 1024 + 1,
    4096 * 1024 + 100,
    (1 << 15) * 1024 - 5,
    ((1 << 15) + 1) * 1024,
    33 * 1024,
    100,
    5 * 1024 + 5,
    65536 * 1024 + 3,
)


def _objects_expected(
    alg: Algorithm,
    data: memoryview,
    spans: list[tuple[int, int]],
    values: bytes | None,
    first_row: list[int],
) -> list[bytes]:
    """Expected leaf values of each object (its leaves 0..n-1)."""
    out = []
    for k, (start, size) in enumerate(spans):
        n = ref.leaf_count(size, alg.leaf_size)
        obj = data[start : start + size]
        if n == 1:
            out.append(oracle.leaf_value(alg, obj, 0, True))
            continue
        got = None
        if values is not None:
            d = alg.digest_size
            got = values[first_row[k] * d : (first_row[k] + n) * d]
        out.append(expected_object_leaves(alg, obj, n, got))
    return out


def check_mixed_batches(backend: HashBackend, family: str, cov: Coverage) -> None:
    """~70 objects of mixed sizes (2^17 leaves and more) in one call: rows shuffled for
    ``hash_leaves``; for ``hash_subtrees`` whole objects in shuffled order with windows of
    large objects (deep leaf indices) between them."""
    leaf = 1024
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    rnd = random.Random(6)
    sizes = list(_MIXED_SIZES) + [rnd.randrange(1, 40 * leaf) for _ in range(34)]
    spans, pos = [], 0
    for s in sizes:
        pos += rnd.randrange(0, 8)  # objects packed at odd offsets, as the engine packs them
        spans.append((pos, s))
        pos += s
    data = pattern(0, pos, seed=6)
    rows: list[tuple[int, int, int, int, int]] = []  # offset, length, index, root, object
    first_row = []
    for k, (start, size) in enumerate(spans):
        n = ref.leaf_count(size, leaf)
        first_row.append(len(rows))
        for j in range(n):
            length = min(leaf, size - j * leaf) if size else 0
            rows.append((start + j * leaf, length, j, int(n == 1), k))
    # hash_leaves in object order (BLAKE3 values proved per object), then shuffled.
    in_order = make_table(*[[r[c] for r in rows] for c in range(4)])
    values = call_leaves(backend, alg, data, in_order, cov, "mixed objects in order")
    per_object = _objects_expected(
        alg, data, spans, values if family == BLAKE3 else None, first_row
    )
    want_rows = b"".join(per_object)
    compare(values, want_rows, d, f"hash_leaves of {len(spans)} objects", describe(in_order))
    order = list(range(len(rows)))
    rnd.shuffle(order)
    shuffled = make_table(*[[rows[i][c] for i in order] for c in range(4)])
    got = call_leaves(backend, alg, data, shuffled, cov, "mixed objects, rows shuffled")
    want = b"".join(want_rows[i * d : (i + 1) * d] for i in order)
    compare(got, want, d, "hash_leaves with rows out of object order", describe(shuffled))
    # hash_subtrees: whole objects in shuffled order; windows of 3 and 5 leaves (never whole,
    # deep leaf indices) between them.
    objs = list(range(len(spans)))
    rnd.shuffle(objs)
    o: list[int] = []
    n_: list[int] = []
    ix: list[int] = []
    rt: list[int] = []
    counts: list[int] = []
    whole: list[bool] = []
    wants: list[bytes] = []
    for step, k in enumerate(objs):
        start, size = spans[k]
        n = ref.leaf_count(size, leaf)
        r0 = first_row[k]
        for r in rows[r0 : r0 + n]:
            o.append(r[0])
            n_.append(r[1])
            ix.append(r[2])
            rt.append(r[3])
        counts.append(n)
        whole.append(True)
        obj_values = want_rows[r0 * d : (r0 + n) * d]
        wants.append(obj_values if n == 1 else oracle.fold(alg, obj_values, True))
        if step % 9 == 4:  # a window: 3 or 5 full leaves deep inside some large object
            w = 3 if step % 2 else 5
            base = (1 << 20) + step
            at = rnd.randrange(0, max(1, len(data) - w * leaf))
            o += range(at, at + w * leaf, leaf)
            n_ += [leaf] * w
            ix += range(base, base + w)
            rt += [0] * w
            counts.append(w)
            whole.append(False)
            window = oracle.leaf_values(
                alg,
                data,
                list(range(at, at + w * leaf, leaf)),
                [leaf] * w,
                list(range(base, base + w)),
                [0] * w,
            )
            wants.append(oracle.fold(alg, window, False))
    table = make_table(o, n_, ix, rt)
    got = call_subtrees(backend, alg, data, table, counts, whole, cov, "mixed groups")
    compare(
        got,
        b"".join(wants),
        d,
        f"hash_subtrees of {len(counts)} groups in one call",
        lambda g: f"group {g} ({counts[g]} leaves, whole {whole[g]})",
    )


def check_many_objects(backend: HashBackend, family: str, cov: Coverage) -> None:
    """2^17 + 1 one-leaf objects in one call: ``hash_leaves`` with every row a root (BLAKE3's
    ROOT flag on every leaf), and ``hash_subtrees`` with as many groups (so as many tops)."""
    leaf = 1024
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    n = COUNTS[-1]
    lengths = [1 + (j * 37) % leaf for j in range(n)]
    offsets, pos = [], 0
    for length in lengths:
        offsets.append(pos)
        pos += length
    data = pattern(0, pos, seed=51)
    table = make_table(offsets, lengths, [0] * n, [1] * n)
    want = oracle.leaf_values(alg, data, offsets, lengths, [0] * n, [1] * n)
    got = call_leaves(backend, alg, data, table, cov, f"{n} one-leaf objects")
    compare(got, want, d, f"hash_leaves of {n} one-leaf objects", describe(table))
    got = call_subtrees(backend, alg, data, table, [1] * n, [True] * n, cov, f"{n} groups")
    compare(got, want, d, f"hash_subtrees of {n} one-leaf objects (tops)", describe(table))
