"""Boundary enumerations: the parameters a device port gets wrong, each walked systematically
on every default run (the Hypothesis properties explore around them; these never leave them to
chance).

Each ``check_*`` takes the backend, an algorithm family and a :class:`Coverage` that records
what the check fed the backend (calls, leaves per call, the largest byte offset and leaf index,
object sizes), so the report shows that a backend was tested past 2^32 bytes and 2^17 leaves
per call. A check raises ``AssertionError`` naming the first wrong value: the call, the row,
the leaf's offset, length and index.

What each enumeration is for (the bug it catches):

``check_leaf_counts`` / ``check_subtree_counts``
    leaves per call at every power of two and its neighbours up to 2^17 + 1: grids rounded
    to a block size, 16-bit launch or schedule indices, the last partial work-group.
``check_node_counts``
    pairs per ``hash_nodes`` call at the same counts, with root-flag patterns (none, all,
    alternating, first, last, every fourth): node grids and flags read at the wrong width.
``check_offsets_past_2_32``
    one call whose leaves lie around 2^31 and 2^32 bytes into its buffer, on non-zero,
    position-dependent data: 32-bit (or signed) byte offsets.
``check_indices_past_2_32``
    leaf indices whose byte position crosses 2^32, and indices (and BLAKE3 chunk counters)
    past 2^32: truncated counters, 32-bit index arithmetic.
``check_boundaries_in_a_large_call``
    the boundaries of the small checks (offsets and indices past 2^32, every padding length,
    shared prefixes and zero leaves, 1 MiB leaves) again, in one shuffled call of 2^17 + 2,600
    rows: a backend whose large-call path differs from its small-call path meets them there.
``check_concurrent_calls``
    (``concurrent`` backends) several threads calling at once, each result compared: slots
    that share buffers, kernel objects or queue state.
``check_mixed_batches``
    many objects of mixed sizes in one call, rows shuffled, groups out of order, windows of
    large objects beside whole ones: word-order slips in large batches, row-order assumptions.
``check_prefixes_and_zeros``
    leaves that share all but their last byte, all-zero leaves beside ones that are zero but
    for one byte, within one call and across calls: caches keyed on a prefix, zero shortcuts.
``check_repeated_calls``
    calls of changing shapes in one process: buffers, tables or schedules reused stale.
``check_block_boundaries``
    every message length around the primitive's block (and BLAKE3's chunk): padding.
``check_mixed_families``
    families and leaf sizes interleaved in one process: kernels or constants cached by the
    wrong key.
``check_large_leaves``
    leaves of 2 KiB to 16 MiB (the largest the spec allows): BLAKE3 chaining-value stacks,
    long messages.
``check_many_objects``
    2^17 + 1 one-leaf objects in one call: a root flag on every row, 2^17 + 1 tops to gather.
``check_windows``
    objects spanning windows through the engine at small batch sizes (every family,
    lattice included), and an object of more than 1024 windows.
``check_object_over_4_gib``
    a generated object of 2^32 + 208,953 bytes (non-zero, different at every position) through
    the engine at the backend's own batch size, against cached digests
    (``large.json``).
``check_device_arrays``
    objects already in the backend's device memory (``device_array``), whole and in windows.
``check_read_file_past_2_32``
    ``read_file`` (backends that read files into device memory) at offsets past 2^32.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np

from gpuhash import reference as ref
from gpuhash._typing import Buffer
from gpuhash.algorithms import BLAKE3, FAMILIES, LTHASH, Algorithm
from gpuhash.backend import HashBackend, LeafTable
from gpuhash.engine import hash_sources
from gpuhash.sources import Source, memory_source
from gpuhash_conformance import oracle
from gpuhash_conformance.patterns import PatternBytes, pattern, sparse_pattern

__all__ = [
    "COUNTS",
    "LARGE_SIZE",
    "Coverage",
    "check_block_boundaries",
    "check_boundaries_in_a_large_call",
    "check_concurrent_calls",
    "check_device_arrays",
    "check_indices_past_2_32",
    "check_large_leaves",
    "check_leaf_counts",
    "check_many_objects",
    "check_mixed_batches",
    "check_mixed_families",
    "check_node_counts",
    "check_object_over_4_gib",
    "check_offsets_past_2_32",
    "check_prefixes_and_zeros",
    "check_read_file_past_2_32",
    "check_repeated_calls",
    "check_subtree_counts",
    "check_windows",
    "large_digest",
]

#: Leaves (and pairs) per call: every power of two up to 2^17 and its neighbours.
COUNTS = tuple(sorted({(1 << k) + d for k in range(18) for d in (-1, 0, 1)} - {0}))
#: The generated object past 4 GiB: 2^32 bytes, three leaves of 64 KiB and a partial one.
LARGE_SIZE = (1 << 32) + 3 * (1 << 16) + 12345
LARGE_SEED = 9
LARGE_LEAF = 1 << 16


@dataclass
class Coverage:
    """What a check fed the backend (for the report)."""

    calls: int = 0
    leaves: int = 0
    max_leaves_per_call: int = 0
    max_pairs_per_call: int = 0
    max_groups_per_call: int = 0
    max_byte_offset: int = 0
    max_leaf_index: int = 0
    max_object_bytes: int = 0
    bytes_hashed: int = 0

    def table(self, table: LeafTable) -> None:
        n = len(table)
        self.calls += 1
        self.leaves += n
        self.max_leaves_per_call = max(self.max_leaves_per_call, n)
        if n:
            ends = np.frombuffer(table.offset, dtype=np.uint64) + np.frombuffer(
                table.length, dtype=np.uint64
            )
            self.max_byte_offset = max(self.max_byte_offset, int(ends.max()))
            self.max_leaf_index = max(self.max_leaf_index, max(table.index))
            self.bytes_hashed += int(np.frombuffer(table.length, dtype=np.uint64).sum())

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if v}


# -- calling the backend, comparing ---------------------------------------------------------


def make_table(
    offsets: Sequence[int], lengths: Sequence[int], indices: Sequence[int], roots: Sequence[int]
) -> LeafTable:
    return LeafTable(
        array("Q", offsets), array("Q", lengths), array("Q", indices), array("B", roots)
    )


def object_table(
    n: int,
    leaf: int,
    *,
    base: int = 0,
    offset: int = 0,
    size: int | None = None,
    root: bool = False,
) -> LeafTable:
    """Leaves ``base .. base + n - 1`` of an object laid out from ``offset`` of the buffer, full
    except perhaps the last (``size`` bytes in all); ``root`` marks a one-leaf whole object."""
    size = n * leaf if size is None else size
    lengths = array("Q", [leaf]) * max(0, n - 1)
    lengths.append(size - (n - 1) * leaf)
    return LeafTable(
        array("Q", range(offset, offset + n * leaf, leaf)),
        lengths,
        array("Q", range(base, base + n)),
        array("B", [int(root and n == 1)]) * n,
    )


def call_leaves(
    backend: HashBackend, alg: Algorithm, data: Buffer, table: LeafTable, cov: Coverage, what: str
) -> bytes:
    cov.table(table)
    got = backend.hash_leaves(alg, data, table)
    want = len(table) * alg.digest_size
    if len(got) != want:
        raise AssertionError(f"{what}: hash_leaves returned {len(got)} bytes, not {want}")
    return bytes(got)


def call_subtrees(
    backend: HashBackend,
    alg: Algorithm,
    data: Buffer,
    table: LeafTable,
    counts: Sequence[int],
    whole: Sequence[bool],
    cov: Coverage,
    what: str,
) -> bytes:
    cov.table(table)
    cov.max_groups_per_call = max(cov.max_groups_per_call, len(counts))
    got = backend.hash_subtrees(alg, data, table, list(counts), list(whole))
    want = len(counts) * alg.digest_size
    if len(got) != want:
        raise AssertionError(f"{what}: hash_subtrees returned {len(got)} bytes, not {want}")
    return bytes(got)


def call_nodes(
    backend: HashBackend, alg: Algorithm, children: bytes, roots: bytes, cov: Coverage, what: str
) -> bytes:
    cov.calls += 1
    cov.max_pairs_per_call = max(cov.max_pairs_per_call, len(roots))
    got = backend.hash_nodes(alg, children, roots)
    want = len(roots) * alg.digest_size
    if len(got) != want:
        raise AssertionError(f"{what}: hash_nodes returned {len(got)} bytes, not {want}")
    return bytes(got)


def compare(got: bytes, want: bytes, d: int, what: str, row: Any = None) -> None:
    """Equal, or an AssertionError naming the first differing value (``row(i)`` describes it)."""
    if got == want:
        return
    a = np.frombuffer(got, dtype=np.uint8).reshape(-1, d)
    b = np.frombuffer(want, dtype=np.uint8).reshape(-1, d)
    i = int(np.nonzero((a != b).any(axis=1))[0][0])
    detail = row(i) if row is not None else f"value {i}"
    raise AssertionError(
        f"{what}: {detail} of {len(b)}: {a[i].tobytes().hex()[:16]}... != "
        f"{b[i].tobytes().hex()[:16]}..."
    )


def describe(table: LeafTable) -> Any:
    def row(i: int) -> str:
        return (
            f"row {i} (leaf {table.index[i]}, offset {table.offset[i]}, "
            f"{table.length[i]} bytes, root {table.root[i]})"
        )

    return row


def expected_object_leaves(alg: Algorithm, data: Buffer, n: int, got: bytes | None) -> bytes:
    """Leaf values of leaves ``0..n-1`` (n >= 2) of the object ``data``: computed with hashlib;
    for BLAKE3 the backend's own values ``got`` once proved right against the blake3 package
    (``oracle.blake3_first_wrong_leaf``)."""
    view = memoryview(data).cast("B")
    if alg.family != BLAKE3:
        table = object_table(n, alg.leaf_size, size=len(view))
        return oracle.leaf_values(alg, view, table.offset, table.length, table.index, table.root)
    assert got is not None
    wrong = oracle.blake3_first_wrong_leaf(got[: n * alg.digest_size], view, alg.leaf_size)
    if wrong is not None:
        raise AssertionError(
            f"BLAKE3 leaf {wrong} of an object of {n} leaves is wrong (the values of leaves "
            f"0..{n - 1} do not fold to the blake3 package's digest of its {len(view)} bytes)"
        )
    return got[: n * alg.digest_size]


# -- leaves, subtrees and nodes per call --------------------------------------------------------


def _count_data(alg: Algorithm) -> memoryview:
    return pattern(0, COUNTS[-1] * alg.leaf_size, seed=1)


def check_leaf_counts(backend: HashBackend, family: str, cov: Coverage) -> None:
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


# -- 64-bit offsets and indices ----------------------------------------------------------------

_SPARSE_SIZE = (1 << 32) + (1 << 20)


def _close(view: memoryview, buf: Any) -> None:
    """Release a sparse buffer; if a failing check's traceback still holds a slice of it, the
    mapping is left to the garbage collector rather than hiding the failure."""
    with contextlib.suppress(BufferError):
        view.release()
        buf.close()


def check_offsets_past_2_32(backend: HashBackend, family: str, cov: Coverage) -> None:
    """One call over a buffer of 4 GiB + 1 MiB (a sparse mapping: pattern only where leaves
    lie) whose leaves straddle 2^31 and 2^32."""
    leaf = 4096
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    g31, g32, size = 1 << 31, 1 << 32, _SPARSE_SIZE
    regions = [(0, 1 << 16), (g31 - (1 << 16), g31 + (1 << 16)), (g32 - (1 << 16), size)]
    buf = sparse_pattern(size, regions, seed=4)
    view = memoryview(buf)
    try:
        rows = [
            (0, leaf, 0, 1),
            (7, leaf, 1, 0),
            (g31 - leaf, leaf, g31 // leaf - 1, 0),
            (g31 - leaf // 2 - 3, leaf, g31 // leaf, 0),
            (g31, leaf, 3, 0),
            (g31 + 5, leaf - 9, 4, 0),
            (g32 - leaf, leaf, g32 // leaf - 1, 0),
            (g32 - 1000, leaf, g32 // leaf, 0),
            (g32, leaf, 5, 0),
            (g32 + 1, leaf, (1 << 32) + 1, 0),
            (g32 + 3 * leaf, 17, 6, 0),
            (size - leaf, leaf, 7, 0),
            (size - 1, 1, 8, 0),
        ]
        offsets, lengths, indices, roots = (list(c) for c in zip(*rows, strict=True))
        table = make_table(offsets, lengths, indices, roots)
        got = call_leaves(backend, alg, view, table, cov, "leaves past 2^31 and 2^32")
        want = oracle.leaf_values(alg, view, offsets, lengths, indices, roots)
        compare(got, want, d, "hash_leaves over a 4 GiB buffer", describe(table))
        # Groups (windows of objects) straddling 2^31 and 2^32, one whole object at the end.
        groups = [
            (g31 - leaf - 3, 3, g31 // leaf - 1, False),
            (g32 - 2 * leaf - 5, 5, g32 // leaf - 2, False),
            (size - 2 * leaf, 2, 0, True),
        ]
        o: list[int] = []
        n_: list[int] = []
        ix: list[int] = []
        rt: list[int] = []
        for start, n, base, _whole in groups:
            o += range(start, start + n * leaf, leaf)
            n_ += [leaf] * n
            ix += range(base, base + n)
            rt += [0] * n
        table = make_table(o, n_, ix, rt)
        got = call_subtrees(
            backend,
            alg,
            view,
            table,
            [g[1] for g in groups],
            [g[3] for g in groups],
            cov,
            "groups past 2^31 and 2^32",
        )
        want_parts, pos = [], 0
        for _start, n, _base, whole in groups:
            values = oracle.leaf_values(
                alg, view, o[pos : pos + n], n_[pos : pos + n], ix[pos : pos + n], rt[pos : pos + n]
            )
            want_parts.append(oracle.fold(alg, values, whole))
            pos += n
        compare(
            got,
            b"".join(want_parts),
            d,
            "hash_subtrees over a 4 GiB buffer",
            lambda g: f"group {g} (from offset {groups[g][0]}, leaf {groups[g][2]})",
        )
    finally:
        _close(view, buf)


def _index_cases(family: str, leaf: int) -> list[int]:
    last = (1 << 64) // leaf - 1  # the last leaf of the largest object the spec allows
    cases = [
        (1 << 31) // leaf - 1,
        (1 << 31) // leaf,
        (1 << 32) // leaf - 1,
        (1 << 32) // leaf,
        (1 << 32) // leaf + 1,
        (1 << 32) - 1,
        1 << 32,
        (1 << 32) + 1,
        (1 << 40) + 3,
        last,
    ]
    if family == BLAKE3:  # chunk counters cross 2^32 where index * leaf / 1024 does
        cases.append((1 << 42) // leaf)
        if leaf > 4096:  # the reference is slow over large leaves: keep the rows few
            cases = [(1 << 32) // leaf, (1 << 42) // leaf, 1 << 32, last]
    return sorted(set(cases))


def check_indices_past_2_32(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Leaf indices whose byte position (index * L) or value crosses 2^32, in shuffled rows,
    and groups that are windows deep inside huge objects."""
    for leaf in (1024, 4096, 65536):
        alg = Algorithm(family, leaf)
        d = alg.digest_size
        cases = _index_cases(family, leaf)
        data = pattern(0, len(cases) * leaf, seed=5)
        order = list(range(len(cases)))
        random.Random(leaf).shuffle(order)
        offsets = [j * leaf for j in order]
        indices = [cases[j] for j in order]
        table = make_table(offsets, [leaf] * len(order), indices, [0] * len(order))
        got = call_leaves(backend, alg, data, table, cov, f"large indices, L={leaf}")
        want = oracle.leaf_values(alg, data, table.offset, table.length, table.index, table.root)
        compare(got, want, d, f"hash_leaves at large leaf indices (L={leaf})", describe(table))
        if leaf > 4096:
            continue
        # Windows whose byte position, BLAKE3 chunk counter (index * L / 1024) or index
        # crosses 2^32.
        bases = sorted({(1 << 32) // leaf - 2, (1 << 32) // (leaf // 1024) - 2, (1 << 32) - 2})
        n = 4
        data = pattern(0, n * len(bases) * leaf, seed=5)
        table = make_table(
            [j * leaf for j in range(n * len(bases))],
            [leaf] * (n * len(bases)),
            [b + j for b in bases for j in range(n)],
            [0] * (n * len(bases)),
        )
        got = call_subtrees(
            backend, alg, data, table, [n] * len(bases), [False] * len(bases), cov, "deep windows"
        )
        want_parts = []
        for g in range(len(bases)):
            rows = range(g * n, (g + 1) * n)
            values = oracle.leaf_values(
                alg,
                data,
                [table.offset[r] for r in rows],
                [leaf] * n,
                [table.index[r] for r in rows],
                [0] * n,
            )
            want_parts.append(oracle.fold(alg, values, False))
        compare(
            got,
            b"".join(want_parts),
            d,
            "hash_subtrees of windows deep in large objects",
            lambda g, b=bases: f"group {g} (from leaf {b[g]})",
        )


# -- every boundary at once, in one large call ------------------------------------------------

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
    top = 3 * BLOCKS.get(family, 64) + 3 if family != BLAKE3 else 2 * 1024 + 66
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
    regions += [(g31 - (1 << 16), g31 + (1 << 16)), (g32 - (1 << 16), _SPARSE_SIZE)]
    # Leaves sharing all but one byte, and zero leaves beside nearly-zero ones (16 KiB each,
    # one-leaf objects), in the high region.
    at = g32 + (1 << 17)
    for name, leaf in _prefix_leaves(16384):
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
    buf = sparse_pattern(_SPARSE_SIZE, regions, seed=52)
    view = memoryview(buf)
    prefixes = _prefix_leaves(16384)
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
        _close(view, buf)


# -- calls from several threads at once -------------------------------------------------------


def check_concurrent_calls(backend: HashBackend, family: str, cov: Coverage) -> None:
    """``in_flight + 1`` threads (at least three) at once, each with its own data and call
    shapes, eight rounds of ``hash_subtrees``, ``hash_leaves`` and ``hash_nodes``, each result
    compared: what the engine does with a ``concurrent`` backend, on purpose rather than by
    timing (slots that share a buffer, a kernel object or a queue's state)."""
    import threading

    caps = backend.capabilities()
    alg = Algorithm(family, 1024)
    d = alg.digest_size
    threads = max(3, caps.in_flight + 1)
    jobs = []
    for t in range(threads):
        n = 3000 + 517 * t
        data = pattern(0, n * 1024 - 7 * t, seed=60 + t)
        table = object_table(n, 1024, size=len(data))
        first = call_leaves(backend, alg, data, table, cov, f"thread {t}, alone")
        leaves = expected_object_leaves(alg, data, n, first)
        counts = [n // 3, n - n // 3]
        tops = oracle.fold(alg, leaves[: counts[0] * d], False) + oracle.fold(
            alg, leaves[counts[0] * d :], False
        )
        children = leaves[: 2 * (n // 2) * d]
        roots = bytes(i % 2 for i in range(n // 2))
        nodes = oracle.node_values(alg, children, roots)
        jobs.append((data, table, leaves, counts, tops, children, roots, nodes))
    barrier = threading.Barrier(threads)
    errors: list[str] = []

    def work(t: int) -> None:
        data, table, leaves, counts, tops, children, roots, nodes = jobs[t]
        try:
            barrier.wait()
            for r in range(8):
                got = backend.hash_subtrees(alg, data, table, counts, [False, False])
                if got != tops:
                    errors.append(f"thread {t}, round {r}: hash_subtrees differs")
                if backend.hash_leaves(alg, data, table) != leaves:
                    errors.append(f"thread {t}, round {r}: hash_leaves differs")
                if backend.hash_nodes(alg, children, roots) != nodes:
                    errors.append(f"thread {t}, round {r}: hash_nodes differs")
        except Exception as e:
            errors.append(f"thread {t}: {type(e).__name__}: {e}")

    workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    cov.calls += threads * 8 * 3
    cov.max_leaves_per_call = max(cov.max_leaves_per_call, max(len(j[1]) for j in jobs))
    if errors:
        raise AssertionError(f"{threads} threads at once: {errors[0]} ({len(errors)} errors)")


# -- many objects in one call ----------------------------------------------------------------

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


# -- shared prefixes, zero leaves, repeated calls --------------------------------------------


def _prefix_leaves(leaf: int) -> list[tuple[str, bytes]]:
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
    leaf = 16384
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    cases = _prefix_leaves(leaf)
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


def check_repeated_calls(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Calls whose shapes change and repeat: same row count with other offsets or data, a big
    call after a small one, subtree groups re-cut over the same leaves."""
    leaf = 1024
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    a = pattern(0, 4097 * leaf, seed=7)
    b = pattern(0, 8 * leaf + 5, seed=8)
    c = pattern(0, 8 * leaf + 5, seed=11)
    want_a = expected_object_leaves(
        alg,
        a,
        4097,
        call_leaves(backend, alg, a, object_table(4097, leaf), cov, "4097 leaves")
        if family == BLAKE3
        else None,
    )

    def small(buf: memoryview, shift: int) -> tuple[LeafTable, bytes]:
        table = make_table([shift + j * leaf for j in range(3)], [leaf] * 3, [1, 2, 3], [0] * 3)
        want = oracle.leaf_values(alg, buf, table.offset, table.length, table.index, table.root)
        return table, want

    steps: list[tuple[str, Any, LeafTable, bytes]] = []
    steps.append(("4097 leaves", a, object_table(4097, leaf), want_a))
    for name, buf, shift in (
        ("3 leaves", b, 0),
        ("3 leaves, shifted", b, 5),
        ("3 leaves, other data", c, 5),
        ("3 leaves again", b, 0),
    ):
        table, want = small(buf, shift)
        steps.append((name, buf, table, want))
    steps.append(("4097 leaves again", a, object_table(4097, leaf), want_a))
    empty = make_table([0], [0], [0], [1])
    steps.append(("an empty object", b"", empty, oracle.leaf_value(alg, b"", 0, True)))
    steps.append(("4096 leaves", a, object_table(4096, leaf), want_a[: 4096 * d]))
    for name, buf, table, want in steps:
        got = call_leaves(backend, alg, buf, table, cov, name)
        compare(got, want, d, f"hash_leaves: {name} (after other calls)", describe(table))
    table = object_table(4097, leaf)
    for counts, whole in (
        ([4097], [True]),
        ([2048, 2049], [False, False]),
        ([1, 4096], [False, False]),
        ([4097], [False]),
        ([4097], [True]),
    ):
        got = call_subtrees(backend, alg, a, table, counts, whole, cov, f"groups {counts}")
        parts, pos = [], 0
        for n, w in zip(counts, whole, strict=True):
            parts.append(oracle.fold(alg, want_a[pos * d : (pos + n) * d], w))
            pos += n
        compare(got, b"".join(parts), d, f"hash_subtrees of groups {counts} (whole {whole})")


# -- block boundaries, mixed families ----------------------------------------------------------

#: Bytes per block of each family's primitive (SHA3-256 and SHAKE256: the sponge rate).
BLOCKS = {"merkle-sha256": 64, "merkle-sha512": 128, "merkle-sha3-256": 136, LTHASH: 136}


def check_block_boundaries(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Every leaf length up to three blocks and two past (the leaf's role byte makes each
    message one longer), so every length modulo the block occurs; for BLAKE3 every length to
    two chunks and a block, and the last leaf of two-leaf objects at every block boundary."""
    leaf = 4096
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    top = 3 * BLOCKS[family] + 3 if family != BLAKE3 else 2 * 1024 + 66
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


def check_mixed_families(backend: HashBackend, cov: Coverage) -> None:
    """Every family and two leaf sizes, interleaved in one process, the same call shapes each
    time (families of equal digest sizes follow each other)."""
    order = ["merkle-sha256", "merkle-sha3-256", BLAKE3, LTHASH, "merkle-sha512"]
    assert sorted(order) == sorted(FAMILIES)
    claimed = backend.capabilities().families
    order = [f for f in order if f in claimed]
    data = pattern(0, 3 * 4096, seed=13)
    children = pattern(0, 6 * ref.LATTICE_BYTES, seed=14).tobytes()
    for _ in range(2):
        for leaf in (1024, 4096, 1024):
            for family in order:
                alg = Algorithm(family, leaf)
                d = alg.digest_size
                table = make_table([0, leaf, 2 * leaf], [leaf] * 3, [5, 6, 7], [0] * 3)
                got = call_leaves(backend, alg, data, table, cov, family)
                want = oracle.leaf_values(
                    alg, data, table.offset, table.length, table.index, table.root
                )
                compare(got, want, d, f"{alg.id} leaves after other families", describe(table))
                roots = b"\x00\x01\x00"
                got = call_nodes(backend, alg, children[: 6 * d], roots, cov, family)
                compare(
                    got,
                    oracle.node_values(alg, children[: 6 * d], roots),
                    d,
                    f"{family} nodes after other families",
                )


# -- through the engine -------------------------------------------------------------------------


def object_digest(alg: Algorithm, data: Buffer) -> bytes:
    """OBJECT of ``data`` (sections 3-5) from hashlib and the blake3 package."""
    view = memoryview(data).cast("B")
    size = len(view)
    n = ref.leaf_count(size, alg.leaf_size)
    if alg.family == BLAKE3:
        import blake3

        return bytes(blake3.blake3(view).digest())
    table = object_table(n, alg.leaf_size, size=size, root=True)
    values = oracle.leaf_values(alg, view, table.offset, table.length, table.index, table.root)
    if alg.family == LTHASH:
        lanes = np.frombuffer(values, dtype="<u2").reshape(n, ref.LATTICE_LANES)
        total = lanes.sum(axis=0, dtype=np.uint64)
        total += np.frombuffer(
            ref.lattice_bytes(ref.lattice_length_element(size, alg.leaf_size)), dtype="<u2"
        )
        return bytes((total % 65536).astype("<u2").tobytes())
    top = values if n == 1 else oracle.fold(alg, values, True)
    return ref.finish_object(alg.family, top, size, alg.leaf_size)


#: Leaf sizes past the usual 1-64 KiB, to the largest the spec allows (BLAKE3: 16,384 chunks
#: a leaf, a chaining-value stack 14 deep; SHA-2 and SHA-3: long messages).
LARGE_LEAVES = (2048, 128 << 10, 1 << 20, ref.MAX_LEAF_SIZE)


def check_large_leaves(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Objects of two full leaves and a partial one at leaf sizes from 2 KiB to 16 MiB:
    ``hash_leaves`` (every value), ``hash_subtrees`` (the object's top) and the engine."""
    for leaf in LARGE_LEAVES:
        alg = Algorithm(family, leaf)
        d = alg.digest_size
        size = 2 * leaf + leaf // 3 + 1
        data = pattern(0, size, seed=50)
        table = object_table(3, leaf, size=size)
        got = call_leaves(backend, alg, data, table, cov, f"leaves of {leaf} bytes")
        want = expected_object_leaves(alg, data, 3, got)
        compare(got, want, d, f"hash_leaves of leaves of {leaf} bytes", describe(table))
        top = call_subtrees(backend, alg, data, table, [3], [True], cov, f"leaves of {leaf}")
        compare(top, oracle.fold(alg, want, True), d, f"hash_subtrees of leaves of {leaf} bytes")
        (obj,) = hash_sources(backend, alg, [memory_source("o", ref.KIND_FILE, data)])
        cov.max_object_bytes = max(cov.max_object_bytes, size)
        if obj.digest != object_digest(alg, data):
            raise AssertionError(f"an object of {size} bytes at leaf size {leaf} differs")


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


def check_windows(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Objects of 1..33 leaves (full and partial last leaves) through the engine with batches
    of one, two and eight leaves (so objects span windows), all in one run; then one object
    of 2051 windows (more than the engine's group of 1024)."""
    leaf = 1024
    alg = Algorithm(family, leaf)
    sizes = [k * leaf + t for k in (0, 1, 2, 3, 4, 7, 8, 16, 33) for t in (0, 1, leaf - 1)]
    sizes = [s for s in sizes if s]
    datas = [pattern(0, s, seed=20 + i) for i, s in enumerate(sizes)]
    for batch in (leaf, 2 * leaf, 3 * leaf, 8 * leaf):
        sources = [memory_source(f"o{i}", ref.KIND_FILE, x) for i, x in enumerate(datas)]
        got = hash_sources(backend, alg, sources, batch_bytes=batch)
        for g, x in zip(got, datas, strict=True):
            cov.calls += 1
            cov.max_object_bytes = max(cov.max_object_bytes, len(x))
            want = object_digest(alg, x)
            if g.digest != want:
                raise AssertionError(
                    f"an object of {len(x)} bytes hashed in windows of {batch} bytes differs"
                )
    big = pattern(0, 2051 * leaf - 7, seed=30)
    (g,) = hash_sources(backend, alg, [memory_source("big", ref.KIND_FILE, big)], batch_bytes=leaf)
    cov.max_object_bytes = max(cov.max_object_bytes, len(big))
    if g.digest != object_digest(alg, big):
        raise AssertionError("an object of 2051 windows (more than 1024) differs")


@functools.cache
def _large_vectors() -> dict[str, str]:
    text = resources.files("gpuhash_conformance").joinpath("large.json").read_text("utf-8")
    document = json.loads(text)
    if document["size"] != LARGE_SIZE or document["seed"] != LARGE_SEED:
        raise AssertionError("large.json describes another object (regenerate it)")
    return dict(document["digests"])


def large_digest(family: str) -> bytes:
    """The cached digest of the generated object past 4 GiB (``large.json``)."""
    return bytes.fromhex(_large_vectors()[Algorithm(family, LARGE_LEAF).id])


def check_object_over_4_gib(backend: HashBackend, family: str, cov: Coverage) -> None:
    alg = Algorithm(family, LARGE_LEAF)
    src = Source("large", ref.KIND_FILE, LARGE_SIZE, data=PatternBytes(LARGE_SIZE, LARGE_SEED))
    (got,) = hash_sources(backend, alg, [src])
    cov.calls += 1
    cov.max_object_bytes = LARGE_SIZE
    cov.bytes_hashed += LARGE_SIZE
    if got.digest != large_digest(family):
        raise AssertionError(
            f"the generated object of {LARGE_SIZE} bytes (pattern {LARGE_SEED}) differs"
        )


def check_device_arrays(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Objects already on the device (``backend.device_array(data, offset)``: the backend's
    own kind of array, as views starting 0, 3 and 4101 bytes into their allocations) hashed in
    place through the engine, whole and in windows (slices at further offsets), against the
    same bytes hashed from the host."""
    make = getattr(backend, "device_array", None)
    assert make is not None
    alg = Algorithm(family, 1024)
    sizes = [1, 1023, 1024, 1025, 5 * 1024 + 3, 33 * 1024, (3 << 20) + 5]
    datas = [pattern(0, s, seed=40 + i) for i, s in enumerate(sizes)]
    for k, batch in enumerate((None, 4 * 1024, 4 * 1024)):
        offsets = [(0, 3, 4101)[(i + k) % 3] for i in range(len(datas))]
        sources = [
            memory_source(f"d{i}", ref.KIND_FILE, make(x, at))
            for i, (x, at) in enumerate(zip(datas, offsets, strict=True))
        ]
        got = hash_sources(backend, alg, sources, batch_bytes=batch)
        for g, x in zip(got, datas, strict=True):
            cov.calls += 1
            cov.max_object_bytes = max(cov.max_object_bytes, len(x))
            if g.digest != object_digest(alg, x):
                raise AssertionError(
                    f"a device array of {len(x)} bytes (batches of {batch or 'default'} bytes) "
                    "differs from the same bytes on the host"
                )


def check_read_file_past_2_32(backend: HashBackend, cov: Coverage) -> None:
    """``read_file`` windows of a sparse file at and past 2^32 (pattern there, holes
    elsewhere), hashed in place and compared with the same bytes hashed by the reference."""
    alg = Algorithm("merkle-sha256", 4096)
    g32 = 1 << 32
    size = g32 + (16 << 20)
    start = g32 - (16 << 20)
    with tempfile.TemporaryDirectory(prefix="gpuhash-conformance-") as tmp:
        path = os.path.join(tmp, "sparse.bin")
        with open(path, "wb") as f:
            f.truncate(size)
            f.seek(start)
            for at in range(start, size, 8 << 20):  # 32 MiB of pattern around 2^32
                f.write(pattern(at, min(8 << 20, size - at), seed=15).tobytes())
        fd = os.open(path, os.O_RDONLY)
        try:
            for at, length in (
                (g32 - 4096 - 3, 3 * 4096),
                (g32, 4096 + 5),
                (g32 - (8 << 20) - 5, 16 << 20),  # a large window across 2^32: chunked reads
                (size - 8192, 8192),
            ):
                array_ = backend.read_file(fd, at, length)
                if array_ is None:
                    raise AssertionError("read_file returned None although file_reads is set")
                cov.calls += 1
                cov.max_byte_offset = max(cov.max_byte_offset, at + length)
                source = memory_source("w", ref.KIND_FILE, array_)
                if not source.device:
                    raise AssertionError(
                        f"read_file returned {type(array_).__name__}, not a device array"
                    )
                if source.size != length:
                    raise AssertionError(f"read_file returned {source.size} of {length} bytes")
                (got,) = hash_sources(backend, alg, [source])
                want = object_digest(alg, pattern(at, length, seed=15))
                if got.digest != want:
                    raise AssertionError(f"read_file of {length} bytes at offset {at} differs")
        finally:
            os.close(fd)
