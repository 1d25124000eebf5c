"""What every broken backend shares: the ``cpu`` backend on one thread with no native objects,
and helpers to rebuild a call's leaves or columns (the bugs are made of these)."""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Sequence

from gpuhash.algorithms import Algorithm
from gpuhash.backend import Buffer, Capabilities, LeafTable
from gpuhash.backends.cpu import CpuBackend

__all__ = ["Broken", "leaves_of", "rebuilt", "with_columns", "zero_rows"]


def leaves_of(data: Buffer, table: LeafTable) -> list[bytes]:
    """The bytes of each row's leaf."""
    view = memoryview(data).cast("B")
    return [bytes(view[o : o + n]) for o, n in zip(table.offset, table.length, strict=True)]


class Broken(CpuBackend):
    """The correct ``cpu`` backend, one thread, every family through leaves and nodes: each
    broken backend overrides one call with one bug."""

    name = "broken"

    def __init__(self) -> None:
        super().__init__(threads=1)

    def capabilities(self) -> Capabilities:
        # Every family through leaves and nodes (no native BLAKE3), where the bugs are; buffers
        # only (the bugs are written over buffers, not file spans).
        return dataclasses.replace(
            super().capabilities(), native_objects=frozenset(), file_spans=False
        )

    def object_hasher(self, algorithm: Algorithm, size: int) -> None:
        return None


def rebuilt(table: LeafTable, leaves: list[bytes]) -> tuple[bytes, LeafTable]:
    """The leaves laid out one after another, with a table that points at them."""
    offsets, pos = array("Q"), 0
    for leaf in leaves:
        offsets.append(pos)
        pos += len(leaf)
    lengths = array("Q", [len(leaf) for leaf in leaves])
    return b"".join(leaves), LeafTable(offsets, lengths, table.index, table.root)


def zero_rows(values: bytes, d: int, first: int) -> bytes:
    """Rows from ``first`` on as an output buffer never written holds them (zeros)."""
    return values[: first * d] + bytes(len(values) - first * d)


def with_columns(table: LeafTable, **columns: Sequence[int]) -> LeafTable:
    """``table`` with the columns given (``offset``, ``length``, ``index``, ``root``) replaced."""
    return LeafTable(
        array("Q", columns.get("offset", table.offset)),
        array("Q", columns.get("length", table.length)),
        array("Q", columns.get("index", table.index)),
        array("B", columns.get("root", table.root)),
    )
