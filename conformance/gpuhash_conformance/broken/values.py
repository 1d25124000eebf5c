"""Broken backends whose values are wrong by construction: tree shape, domain separation,
byte layout, lattice arithmetic, padding."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import ClassVar

from gpuhash import reference as ref
from gpuhash.algorithms import LTHASH, Algorithm
from gpuhash.backend import Buffer, LeafTable
from gpuhash_conformance.broken.base import Broken, leaves_of, rebuilt

__all__ = [
    "ByteOrderSlip",
    "LeafBoundaryOffByOne",
    "NoDomainSeparation",
    "OddNodeDuplicated",
    "PaddingAt55",
    "PositionNotBound",
    "StateCarriedOver",
    "WrongLatticeModulus",
]


class OddNodeDuplicated(Broken):
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


class NoDomainSeparation(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        name = algorithm.info.hashlib_name
        if name is None:
            return super().hash_leaves(algorithm, data, table)
        return b"".join(hashlib.new(name, leaf).digest() for leaf in leaves_of(data, table))

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        name = algorithm.info.hashlib_name
        if name is None:
            return super().hash_nodes(algorithm, children, roots)
        d = algorithm.digest_size
        return b"".join(
            hashlib.new(name, children[2 * i * d : 2 * (i + 1) * d]).digest()
            for i in range(len(roots))
        )


class ByteOrderSlip(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        leaves = []
        for leaf in leaves_of(data, table):
            if len(leaf) >= 8:
                leaf = leaf[:3] + leaf[4:5] + leaf[3:4] + leaf[5:]
            leaves.append(leaf)
        return super().hash_leaves(algorithm, *rebuilt(table, leaves))


class LeafBoundaryOffByOne(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        view = memoryview(data).cast("B")
        leaves = []
        for o, n in zip(table.offset, table.length, strict=True):
            end = o + n + 1 if o + n < len(view) else o + n  # one byte too many
            leaves.append(bytes(view[o:end]))
        return super().hash_leaves(algorithm, *rebuilt(table, leaves))


class StateCarriedOver(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        leaves = leaves_of(data, table)
        carried = leaves[:1] + [prev[-8:] + cur for prev, cur in itertools.pairwise(leaves)]
        return super().hash_leaves(algorithm, *rebuilt(table, carried))


class WrongLatticeModulus(Broken):
    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        if algorithm.family != LTHASH:
            return super().hash_nodes(algorithm, children, roots)
        import numpy as np

        lanes = np.frombuffer(children, dtype="<u2").astype(np.uint32).reshape(len(roots), 2, -1)
        total = (lanes[:, 0, :] + lanes[:, 1, :]) % 65521  # the bug: not 2^16
        return total.astype("<u2").tobytes()


class PositionNotBound(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if algorithm.family != LTHASH:
            return super().hash_leaves(algorithm, data, table)
        return b"".join(
            ref.lattice_bytes(ref.lattice_leaf_element(leaf, 0)) for leaf in leaves_of(data, table)
        )


class PaddingAt55(Broken):
    digest_messages: ClassVar[None] = None  # type: ignore[assignment]

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        values = bytearray(super().hash_leaves(algorithm, data, table))
        if algorithm.info.hashlib_name != "sha256":  # the bug is SHA-256's padding
            return bytes(values)
        view = memoryview(data).cast("B")
        for row, (o, n) in enumerate(zip(table.offset, table.length, strict=True)):
            if (n + 1) % 64 == 55:  # the message (leaf and role byte) ends 55 bytes in
                wrong = hashlib.sha256(bytes(view[o : o + n]) + b"\x00\x80").digest()
                values[row * 32 : (row + 1) * 32] = wrong
        return bytes(values)
