"""Deliberately broken backends: each has one classic bug; the suite must fail on every one.

They are the suite's own test (``tests/test_conformance_suite.py`` runs the suite on each and
expects failures). Each subclasses the ``cpu`` backend and breaks one thing:

``OddNodeDuplicated``       a lone last value is paired with itself (Bitcoin's rule), not carried
``NoDomainSeparation``      leaves are H(d) and nodes H(l || r): no 0x00 / 0x01 role bytes
``ByteOrderSlip``           bytes 3 and 4 of each leaf (a word boundary) are swapped
``LeafBoundaryOffByOne``    every leaf but the buffer's last reads one byte of the next
``StateCarriedOver``        a leaf's hash starts from the previous leaf's state
``WrongLatticeModulus``     lattice lanes are summed modulo 65521 instead of 2^16
``PositionNotBound``        lattice leaf elements ignore the leaf's index

and, one per class of bug that an earlier suite let through (each caught by a boundary
enumeration of ``gpuhash_conformance.boundaries``):

``GridRoundedDown``         the leaf grid is rounded down to a multiple of 256 work-items
``GridLimit65535``          rows past 65,535 of a call are never launched (a 16-bit grid)
``NodeGridRoundedDown``     the node grid is rounded down to a multiple of 256
``ScheduleIndex16``         the tree schedule's source indices are stored in 16 bits
``TopsIndex16``             the gather of subtree tops indexes groups with 16 bits
``Offset32``                leaf byte offsets truncated to 32 bits
``OffsetSigned32``          leaf byte offsets held in a signed 32-bit integer
``Blake3StackDepth8``       BLAKE3 leaves of more than 256 chunks lose the rest (a short stack)
``Blake3CounterLow32``      BLAKE3 chunk counters lose their high word
``Blake3ByteOffset32``      BLAKE3 chunk counters derived from a 32-bit byte position
``LatticeIndex32``          lattice leaf indices truncated to 32 bits
``LargeCallsOffset32``      only calls of 1024 rows or more truncate offsets (small calls take
                            a correct host path)
``LargeCallsCounterLow32``  the same with BLAKE3 counters
``IndexFromRow``            a leaf's index taken from its row (rows assumed in object order)
``PrefixCache``             leaf values cached by their first 4 KiB
``ZeroPageShortcut``        a leaf whose first page is zero is taken as all zero
``LargeBatchWordSlip``      in calls of many objects and over 4096 rows, words 0 and 1 of
                            later values are swapped
``StaleTable``              a call with as many rows as the previous one reuses its offsets
``SharedOutputBuffer``      concurrent calls share one output buffer
``RootFlagsAsWords``        root flags read one per four pairs (a byte array read as words)
``LeafSizeBakedIn``         BLAKE3's chunks per leaf fixed by the first call's leaf size
``KernelByDigestSize``      kernels cached by digest size (SHA3-256 and BLAKE3 run SHA-256)
``PaddingAt55``             SHA-256 padding wrong when a message ends 55 bytes into a block,
                            and no ``digest_messages`` (so the NIST vectors do not run)
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from array import array
from collections.abc import Sequence
from typing import Any, ClassVar

from gpuhash import blake3_lanes
from gpuhash import reference as ref
from gpuhash._typing import Buffer
from gpuhash.algorithms import BLAKE3, LTHASH, Algorithm
from gpuhash.backend import Capabilities, LeafTable
from gpuhash.backends.cpu import CpuBackend
from gpuhash.tree import OP_COPY, OP_ROOT, schedule

__all__ = [
    "BROKEN",
    "FAULTY",
    "Blake3ByteOffset32",
    "Blake3CounterLow32",
    "Blake3StackDepth8",
    "ByteOrderSlip",
    "Crashes",
    "GridLimit65535",
    "GridRoundedDown",
    "Hangs",
    "HangsHoldingTheGil",
    "IndexFromRow",
    "KernelByDigestSize",
    "LargeBatchWordSlip",
    "LargeCallsCounterLow32",
    "LargeCallsOffset32",
    "LatticeIndex32",
    "LeafBoundaryOffByOne",
    "LeafSizeBakedIn",
    "NoDomainSeparation",
    "NodeGridRoundedDown",
    "OddNodeDuplicated",
    "Offset32",
    "OffsetSigned32",
    "PaddingAt55",
    "PositionNotBound",
    "PrefixCache",
    "Raises",
    "RootFlagsAsWords",
    "ScheduleIndex16",
    "SharedOutputBuffer",
    "ShortValues",
    "StaleTable",
    "StateCarriedOver",
    "TopsIndex16",
    "WrongLatticeModulus",
    "ZeroPageShortcut",
]

_HASHES = {"merkle-sha256": "sha256", "merkle-sha512": "sha512", "merkle-sha3-256": "sha3_256"}


def _leaves(data: Buffer, table: LeafTable) -> list[bytes]:
    view = memoryview(data).cast("B")
    return [bytes(view[o : o + n]) for o, n in zip(table.offset, table.length, strict=True)]


class _Broken(CpuBackend):
    name = "broken"

    def __init__(self) -> None:
        super().__init__(threads=1)

    def capabilities(self) -> Capabilities:
        # Every family through leaves and nodes (no native BLAKE3), where the bugs are.
        return dataclasses.replace(super().capabilities(), native_objects=frozenset())

    def object_hasher(self, algorithm: Algorithm, size: int) -> None:
        return None


class OddNodeDuplicated(_Broken):
    def hash_subtrees(
        self,
        algorithm: Algorithm,
        data: Buffer,
        table: LeafTable,
        counts: Sequence[int],
        whole: Sequence[bool],
    ) -> bytes:
        d = algorithm.digest_size
        values = self.hash_leaves(algorithm, data, table)
        out, pos = [], 0
        for count, is_whole in zip(counts, whole, strict=True):
            level = [values[(pos + i) * d : (pos + i + 1) * d] for i in range(count)]
            pos += count
            while len(level) > 1:
                if len(level) % 2:
                    level.append(level[-1])  # the bug
                pairs = b"".join(level)
                roots = bytes(len(level) // 2 - 1) + bytes([int(is_whole and len(level) == 2)])
                merged = self.hash_nodes(algorithm, pairs, roots)
                level = [merged[i * d : (i + 1) * d] for i in range(len(level) // 2)]
            out.append(level[0])
        return b"".join(out)


class NoDomainSeparation(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        name = _HASHES.get(algorithm.family)
        if name is None:
            return super().hash_leaves(algorithm, data, table)
        return b"".join(hashlib.new(name, leaf).digest() for leaf in _leaves(data, table))

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        name = _HASHES.get(algorithm.family)
        if name is None:
            return super().hash_nodes(algorithm, children, roots)
        d = algorithm.digest_size
        return b"".join(
            hashlib.new(name, children[2 * i * d : 2 * (i + 1) * d]).digest()
            for i in range(len(roots))
        )


def _rebuilt(table: LeafTable, leaves: list[bytes]) -> tuple[bytes, LeafTable]:
    """The leaves laid out one after another, with a table that points at them."""
    from array import array

    offsets, pos = array("Q"), 0
    for leaf in leaves:
        offsets.append(pos)
        pos += len(leaf)
    lengths = array("Q", [len(leaf) for leaf in leaves])
    return b"".join(leaves), LeafTable(offsets, lengths, table.index, table.root)


class ByteOrderSlip(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        leaves = []
        for leaf in _leaves(data, table):
            if len(leaf) >= 8:
                leaf = leaf[:3] + leaf[4:5] + leaf[3:4] + leaf[5:]
            leaves.append(leaf)
        return super().hash_leaves(algorithm, *_rebuilt(table, leaves))


class LeafBoundaryOffByOne(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        view = memoryview(data).cast("B")
        leaves = []
        for o, n in zip(table.offset, table.length, strict=True):
            end = o + n + 1 if o + n < len(view) else o + n  # one byte too many
            leaves.append(bytes(view[o:end]))
        return super().hash_leaves(algorithm, *_rebuilt(table, leaves))


class StateCarriedOver(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        leaves = _leaves(data, table)
        carried = leaves[:1] + [prev[-8:] + cur for prev, cur in itertools.pairwise(leaves)]
        return super().hash_leaves(algorithm, *_rebuilt(table, carried))


class WrongLatticeModulus(_Broken):
    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        if algorithm.family != LTHASH:
            return super().hash_nodes(algorithm, children, roots)
        import numpy as np

        lanes = np.frombuffer(children, dtype="<u2").astype(np.uint32).reshape(len(roots), 2, -1)
        total = (lanes[:, 0, :] + lanes[:, 1, :]) % 65521  # the bug: not 2^16
        return total.astype("<u2").tobytes()


class PositionNotBound(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if algorithm.family != LTHASH:
            return super().hash_leaves(algorithm, data, table)
        return b"".join(
            ref.lattice_bytes(ref.lattice_leaf_element(leaf, 0)) for leaf in _leaves(data, table)
        )


# -- launch geometry ---------------------------------------------------------------------------


def _zero_rows(values: bytes, d: int, first: int) -> bytes:
    """Rows from ``first`` on as an output buffer never written holds them (zeros)."""
    return values[: first * d] + bytes(len(values) - first * d)


class GridRoundedDown(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        values = super().hash_leaves(algorithm, data, table)
        n = len(table)
        return values if n <= 256 else _zero_rows(values, algorithm.digest_size, n // 256 * 256)


class GridLimit65535(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        values = super().hash_leaves(algorithm, data, table)
        return _zero_rows(values, algorithm.digest_size, min(len(table), 65535))


class NodeGridRoundedDown(_Broken):
    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        values = super().hash_nodes(algorithm, children, roots)
        m = len(roots)
        return values if m <= 256 else _zero_rows(values, algorithm.digest_size, m // 256 * 256)


class ScheduleIndex16(_Broken):
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


# -- offsets, counters, indices ------------------------------------------------------------------


def _with(table: LeafTable, **columns: Sequence[int]) -> LeafTable:
    return LeafTable(
        array("Q", columns.get("offset", table.offset)),
        array("Q", columns.get("length", table.length)),
        array("Q", columns.get("index", table.index)),
        array("B", columns.get("root", table.root)),
    )


class TopsIndex16(_Broken):
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


class Offset32(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        offsets = [o & 0xFFFFFFFF for o in table.offset]
        return super().hash_leaves(algorithm, data, _with(table, offset=offsets))


class OffsetSigned32(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        offsets = [o & 0x7FFFFFFF for o in table.offset]  # an int32 wraps past 2^31
        return super().hash_leaves(algorithm, data, _with(table, offset=offsets))


class _Blake3Counters(_Broken):
    def counter(self, index: int, leaf_size: int) -> int:
        raise NotImplementedError

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if algorithm.family != BLAKE3:
            return super().hash_leaves(algorithm, data, table)
        counters = [self.counter(i, algorithm.leaf_size) for i in table.index]
        return blake3_lanes.leaf_cvs(data, table.offset, table.length, counters, table.root)


class Blake3StackDepth8(_Broken):
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
            return _Broken.hash_leaves(self, algorithm, data, table)
        return super().hash_leaves(algorithm, data, table)


class LargeCallsCounterLow32(Blake3CounterLow32):
    """Like LargeCallsOffset32, with BLAKE3 chunk counters that lose their high word."""

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if len(table) < 1024:
            return _Broken.hash_leaves(self, algorithm, data, table)
        return super().hash_leaves(algorithm, data, table)


class LatticeIndex32(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if algorithm.family != LTHASH:
            return super().hash_leaves(algorithm, data, table)
        index = [i & 0xFFFFFFFF for i in table.index]
        return super().hash_leaves(algorithm, data, _with(table, index=index))


class IndexFromRow(_Broken):
    """A leaf's index is its row minus the row where its object began (an index of 0)."""

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        start, index = 0, []
        for row, i in enumerate(table.index):
            if i == 0:
                start = row
            index.append(row - start)
        return super().hash_leaves(algorithm, data, _with(table, index=index))


# -- caches and shortcuts ----------------------------------------------------------------------


class PrefixCache(_Broken):
    PREFIX = 4096

    def __init__(self) -> None:
        super().__init__()
        self.cache: dict[tuple[Any, ...], bytes] = {}

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        view = memoryview(data).cast("B")
        d = algorithm.digest_size
        out = []
        for row in range(len(table)):
            o, n = table.offset[row], table.length[row]
            key = (
                algorithm,
                n,
                table.index[row],
                table.root[row],
                bytes(view[o : o + min(n, self.PREFIX)]),
            )
            value = self.cache.get(key)
            if value is None:
                one = _with(table, offset=[o], length=[n], index=[key[2]], root=[key[3]])
                value = self.cache[key] = super().hash_leaves(algorithm, view, one)
            out.append(value[:d])
        return b"".join(out)


class ZeroPageShortcut(_Broken):
    PAGE = 4096

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        view = memoryview(data).cast("B")
        leaves = []
        for o, n in zip(table.offset, table.length, strict=True):
            head = bytes(view[o : o + min(n, self.PAGE)])
            leaves.append(bytes(n) if not any(head) else bytes(view[o : o + n]))
        return super().hash_leaves(algorithm, *_rebuilt(table, leaves))


class LargeBatchWordSlip(_Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        values = bytearray(super().hash_leaves(algorithm, data, table))
        n, d = len(table), algorithm.digest_size
        if n > 4096 and list(table.index).count(0) >= 8:
            for row in range(4096, n):
                p = row * d
                values[p : p + 8] = values[p + 4 : p + 8] + values[p : p + 4]
        return bytes(values)


class StaleTable(_Broken):
    """Keeps the device copy of the offsets and lengths while the row count stays the same."""

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[int, array[int], array[int]] | None = None

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if self.last is not None and self.last[0] == len(table):
            table = _with(table, offset=self.last[1], length=self.last[2])
        else:
            self.last = (len(table), table.offset, table.length)
        return super().hash_leaves(algorithm, data, table)


class SharedOutputBuffer(_Broken):
    """Every call writes its values into one output buffer of the backend and reads them back
    after the transfer: two calls at once (two slots, one buffer) read each other's values."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        import time

        values = super().hash_leaves(algorithm, data, table)
        if len(self.out) < len(values):
            self.out = bytearray(len(values))
        self.out[: len(values)] = values
        time.sleep(0.002)  # the copy back to the host
        return bytes(self.out[: len(values)])


class RootFlagsAsWords(_Broken):
    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        flags = bytes(roots[i - i % 4] for i in range(len(roots)))
        return super().hash_nodes(algorithm, children, flags)


class LeafSizeBakedIn(_Broken):
    def __init__(self) -> None:
        super().__init__()
        self.chunks_per_leaf: int | None = None

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if algorithm.family != BLAKE3:
            return super().hash_leaves(algorithm, data, table)
        if self.chunks_per_leaf is None:
            self.chunks_per_leaf = algorithm.leaf_size // 1024
        counters = [i * self.chunks_per_leaf for i in table.index]
        return blake3_lanes.leaf_cvs(data, table.offset, table.length, counters, table.root)


class KernelByDigestSize(_Broken):
    def __init__(self) -> None:
        super().__init__()
        self.kernels: dict[int, str] = {}

    def _family(self, algorithm: Algorithm) -> Algorithm:
        family = self.kernels.setdefault(algorithm.digest_size, algorithm.family)
        return Algorithm(family, algorithm.leaf_size)

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        return super().hash_leaves(self._family(algorithm), data, table)

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        return super().hash_nodes(self._family(algorithm), children, roots)


class PaddingAt55(_Broken):
    digest_messages: ClassVar[None] = None  # type: ignore[assignment]

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        values = bytearray(super().hash_leaves(algorithm, data, table))
        if algorithm.family != "merkle-sha256":
            return bytes(values)
        view = memoryview(data).cast("B")
        for row, (o, n) in enumerate(zip(table.offset, table.length, strict=True)):
            if (n + 1) % 64 == 55:  # the message (leaf and role byte) ends 55 bytes in
                wrong = hashlib.sha256(bytes(view[o : o + n]) + b"\x00\x80").digest()
                values[row * 32 : (row + 1) * 32] = wrong
        return bytes(values)


#: Every broken backend, by name.
BROKEN = {
    cls.__name__: cls
    for cls in (
        OddNodeDuplicated,
        NoDomainSeparation,
        ByteOrderSlip,
        LeafBoundaryOffByOne,
        StateCarriedOver,
        WrongLatticeModulus,
        PositionNotBound,
        GridRoundedDown,
        GridLimit65535,
        NodeGridRoundedDown,
        ScheduleIndex16,
        TopsIndex16,
        Blake3StackDepth8,
        Offset32,
        OffsetSigned32,
        Blake3CounterLow32,
        Blake3ByteOffset32,
        LatticeIndex32,
        LargeCallsOffset32,
        LargeCallsCounterLow32,
        IndexFromRow,
        PrefixCache,
        ZeroPageShortcut,
        LargeBatchWordSlip,
        StaleTable,
        SharedOutputBuffer,
        RootFlagsAsWords,
        LeafSizeBakedIn,
        KernelByDigestSize,
        PaddingAt55,
    )
}


# -- backends that misbehave rather than compute wrong values ---------------------------------
# The runner must report each as a failure of the checks it breaks, and go on with the others.


class Hangs(_Broken):
    """``hash_nodes`` never returns (a device that deadlocks)."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        import time

        while True:
            time.sleep(60)


class HangsHoldingTheGil(_Broken):
    """``hash_nodes`` blocks in native code without releasing the GIL (a driver call made
    through a binding that keeps it), so no Python thread runs again."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        import ctypes

        ctypes.PyDLL(None).sleep(3600)
        raise AssertionError("unreachable")


class Raises(_Broken):
    """``hash_nodes`` raises (a device error escaping as an exception)."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        raise RuntimeError("device lost")


class ShortValues(_Broken):
    """``hash_nodes`` returns one byte too few."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        return super().hash_nodes(algorithm, children, roots)[:-1]


class Crashes(_Broken):
    """``hash_nodes`` kills its process (a crash inside a device runtime)."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        import os

        os._exit(70)


#: Backends that hang, raise, return short values or crash in ``hash_nodes``.
FAULTY = {cls.__name__: cls for cls in (Hangs, HangsHoldingTheGil, Raises, ShortValues, Crashes)}
