"""Broken backends with the classic bugs of launch geometry and of integer widths: grids rounded
down or capped, 16-bit indices, 32-bit offsets, BLAKE3 counters and lattice indices, leaf
indices taken from rows (each caught by a boundary enumeration of
``gpuhash_conformance.boundaries``)."""

from __future__ import annotations

from collections.abc import Sequence

from gpuhash import blake3_lanes
from gpuhash.algorithms import BLAKE3, LTHASH, Algorithm
from gpuhash.backend import Buffer, LeafTable
from gpuhash.tree import OP_COPY, OP_ROOT, schedule
from gpuhash_conformance.broken.base import Broken, with_columns, zero_rows

__all__ = [
    "Blake3ByteOffset32",
    "Blake3CounterLow32",
    "Blake3StackDepth8",
    "GridLimit65535",
    "GridRoundedDown",
    "IndexFromRow",
    "LargeCallsCounterLow32",
    "LargeCallsOffset32",
    "LatticeIndex32",
    "NodeGridRoundedDown",
    "Offset32",
    "OffsetSigned32",
    "ScheduleIndex16",
    "TopsIndex16",
]


class GridRoundedDown(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        values = super().hash_leaves(algorithm, data, table)
        n = len(table)
        return values if n <= 256 else zero_rows(values, algorithm.digest_size, n // 256 * 256)


class GridLimit65535(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        values = super().hash_leaves(algorithm, data, table)
        return zero_rows(values, algorithm.digest_size, min(len(table), 65535))


class NodeGridRoundedDown(Broken):
    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        values = super().hash_nodes(algorithm, children, roots)
        m = len(roots)
        return values if m <= 256 else zero_rows(values, algorithm.digest_size, m // 256 * 256)


class ScheduleIndex16(Broken):
    """Runs ``gpuhash.tree.schedule`` as a device would, level by level, but with the source
    table stored as 16-bit integers."""

    def hash_subtrees(
        self,
        algorithm: Algorithm,
        data: Buffer,
        table: LeafTable,
        counts: Sequence[int],
        whole: Sequence[bool],
    ) -> bytes:
        d = algorithm.digest_size
        plan = schedule(counts, whole)
        values = bytearray(plan.total * d)
        values[: len(table) * d] = self.hash_leaves(algorithm, data, table)
        for first, count, base in plan.levels:
            src = [plan.src[k] & 0xFFFF for k in range(first, first + count)]  # the bug
            ops = plan.op[first : first + count]
            pairs = [i for i, op in enumerate(ops) if op != OP_COPY]
            children = b"".join(bytes(values[src[i] * d : (src[i] + 2) * d]) for i in pairs)
            roots = bytes(int(ops[i] == OP_ROOT) for i in pairs)
            made = self.hash_nodes(algorithm, children, roots) if pairs else b""
            it = iter(range(len(pairs)))
            for i, op in enumerate(ops):
                out = (base + i) * d
                if op == OP_COPY:
                    values[out : out + d] = values[src[i] * d : (src[i] + 1) * d]
                else:
                    p = next(it)
                    values[out : out + d] = made[p * d : (p + 1) * d]
        return b"".join(bytes(values[t * d : (t + 1) * d]) for t in plan.tops)


class TopsIndex16(Broken):
    """The gather of subtree tops indexes its groups with 16 bits."""

    def hash_subtrees(
        self,
        algorithm: Algorithm,
        data: Buffer,
        table: LeafTable,
        counts: Sequence[int],
        whole: Sequence[bool],
    ) -> bytes:
        d = algorithm.digest_size
        tops = super().hash_subtrees(algorithm, data, table, counts, whole)
        return b"".join(tops[(g & 0xFFFF) * d : ((g & 0xFFFF) + 1) * d] for g in range(len(counts)))


class Offset32(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        offsets = [o & 0xFFFFFFFF for o in table.offset]
        return super().hash_leaves(algorithm, data, with_columns(table, offset=offsets))


class OffsetSigned32(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        offsets = [o & 0x7FFFFFFF for o in table.offset]  # an int32 wraps past 2^31
        return super().hash_leaves(algorithm, data, with_columns(table, offset=offsets))


class _Blake3Counters(Broken):
    def counter(self, index: int, leaf_size: int) -> int:
        raise NotImplementedError

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if algorithm.family != BLAKE3:
            return super().hash_leaves(algorithm, data, table)
        counters = [self.counter(i, algorithm.leaf_size) for i in table.index]
        return blake3_lanes.leaf_cvs(data, table.offset, table.length, counters, table.root)


class Blake3StackDepth8(Broken):
    """BLAKE3 leaf chaining values with a stack of 8 subtrees: a leaf of more than 256 chunks
    (256 KiB) loses what did not fit, as if only its first 256 chunks were there."""

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if algorithm.family != BLAKE3:
            return super().hash_leaves(algorithm, data, table)
        lengths = [min(n, 256 * 1024) for n in table.length]
        per_leaf = algorithm.leaf_size // 1024
        counters = [i * per_leaf for i in table.index]
        return blake3_lanes.leaf_cvs(data, table.offset, lengths, counters, table.root)


class Blake3CounterLow32(_Blake3Counters):
    def counter(self, index: int, leaf_size: int) -> int:
        return (index * (leaf_size // 1024)) & 0xFFFFFFFF


class Blake3ByteOffset32(_Blake3Counters):
    def counter(self, index: int, leaf_size: int) -> int:
        return ((index * leaf_size) & 0xFFFFFFFF) // 1024


class LargeCallsOffset32(Offset32):
    """Calls under 1024 rows go to a correct host path; the kernel that takes the large ones
    truncates byte offsets to 32 bits (so every small check passes)."""

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if len(table) < 1024:
            return Broken.hash_leaves(self, algorithm, data, table)
        return super().hash_leaves(algorithm, data, table)


class LargeCallsCounterLow32(Blake3CounterLow32):
    """Like LargeCallsOffset32, with BLAKE3 chunk counters that lose their high word."""

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if len(table) < 1024:
            return Broken.hash_leaves(self, algorithm, data, table)
        return super().hash_leaves(algorithm, data, table)


class LatticeIndex32(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if algorithm.family != LTHASH:
            return super().hash_leaves(algorithm, data, table)
        index = [i & 0xFFFFFFFF for i in table.index]
        return super().hash_leaves(algorithm, data, with_columns(table, index=index))


class IndexFromRow(Broken):
    """A leaf's index is its row minus the row where its object began (an index of 0)."""

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        start, index = 0, []
        for row, i in enumerate(table.index):
            if i == 0:
                start = row
            index.append(row - start)
        return super().hash_leaves(algorithm, data, with_columns(table, index=index))
