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
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Sequence

from gpuhash import reference as ref
from gpuhash._typing import Buffer
from gpuhash.algorithms import LTHASH, Algorithm
from gpuhash.backend import Capabilities, LeafTable
from gpuhash.backends.cpu import CpuBackend

__all__ = [
    "BROKEN",
    "ByteOrderSlip",
    "LeafBoundaryOffByOne",
    "NoDomainSeparation",
    "OddNodeDuplicated",
    "PositionNotBound",
    "StateCarriedOver",
    "WrongLatticeModulus",
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
    )
}
