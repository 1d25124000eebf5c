"""Broken backends that keep the wrong state between calls or take shortcuts: caches keyed
too loosely, shortcuts on zero pages, stale tables, a shared output buffer, flags read with the
wrong width, parameters baked in at the first call."""

from __future__ import annotations

from array import array
from typing import Any

from gpuhash import blake3_lanes
from gpuhash.algorithms import BLAKE3, Algorithm
from gpuhash.backend import Buffer, LeafTable
from gpuhash_conformance.broken.base import Broken, rebuilt, with_columns

__all__ = [
    "KernelByDigestSize",
    "LargeBatchWordSlip",
    "LeafSizeBakedIn",
    "PrefixCache",
    "RootFlagsAsWords",
    "SharedOutputBuffer",
    "StaleTable",
    "ZeroPageShortcut",
]


class PrefixCache(Broken):
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
                one = with_columns(table, offset=[o], length=[n], index=[key[2]], root=[key[3]])
                value = self.cache[key] = super().hash_leaves(algorithm, view, one)
            out.append(value[:d])
        return b"".join(out)


class ZeroPageShortcut(Broken):
    PAGE = 4096

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        view = memoryview(data).cast("B")
        leaves = []
        for o, n in zip(table.offset, table.length, strict=True):
            head = bytes(view[o : o + min(n, self.PAGE)])
            leaves.append(bytes(n) if not any(head) else bytes(view[o : o + n]))
        return super().hash_leaves(algorithm, *rebuilt(table, leaves))


class LargeBatchWordSlip(Broken):
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        values = bytearray(super().hash_leaves(algorithm, data, table))
        n, d = len(table), algorithm.digest_size
        if n > 4096 and list(table.index).count(0) >= 8:
            for row in range(4096, n):
                p = row * d
                values[p : p + 8] = values[p + 4 : p + 8] + values[p : p + 4]
        return bytes(values)


class StaleTable(Broken):
    """Keeps the device copy of the offsets and lengths while the row count stays the same."""

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[int, array[int], array[int]] | None = None

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        if self.last is not None and self.last[0] == len(table):
            table = with_columns(table, offset=self.last[1], length=self.last[2])
        else:
            self.last = (len(table), table.offset, table.length)
        return super().hash_leaves(algorithm, data, table)


class SharedOutputBuffer(Broken):
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


class RootFlagsAsWords(Broken):
    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        flags = bytes(roots[i - i % 4] for i in range(len(roots)))
        return super().hash_nodes(algorithm, children, flags)


class LeafSizeBakedIn(Broken):
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


class KernelByDigestSize(Broken):
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
