"""Calling a backend's primitives in the boundary checks: leaf tables, the coverage record of
what a check fed the backend, and comparisons that name the first wrong value."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gpuhash.algorithms import BLAKE3, Algorithm
from gpuhash.backend import HashBackend, LeafTable
from gpuhash_conformance import oracle

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "Coverage",
    "call_leaves",
    "call_nodes",
    "call_subtrees",
    "compare",
    "describe",
    "expected_object_leaves",
    "make_table",
    "object_table",
]


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
        """Record one call's leaf table."""
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
        """The non-zero counts, by name (for the report)."""
        return {k: v for k, v in asdict(self).items() if v}


def make_table(
    offsets: Sequence[int], lengths: Sequence[int], indices: Sequence[int], roots: Sequence[int]
) -> LeafTable:
    """A leaf table from the four columns."""
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
    """``hash_leaves``, recorded in ``cov``; its result checked for length."""
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
    """``hash_subtrees``, recorded in ``cov``; its result checked for length."""
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
    """``hash_nodes``, recorded in ``cov``; its result checked for length."""
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
    """A ``row(i)`` for ``compare`` naming row ``i`` of ``table``."""

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
