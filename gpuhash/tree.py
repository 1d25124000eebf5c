"""Reducing groups of leaf values to subtree tops: on the host, or as a schedule for a device.

A batch holds the leaves of several *groups* (a whole object, or one window of a large object).
Each group is reduced to the top of its subtree with the specification's shape (section 3):
level by level, pairs ``(0,1), (2,3)...`` of the group's values, a lone last value carried up
unchanged. ``whole[i]`` says group ``i`` is an entire tree, so its top pair is the root (BLAKE3's
ROOT flag).

:func:`reduce_groups` does this with a backend's ``hash_nodes``, one call per level for all
groups at once. :func:`schedule` describes the same reduction as index tables that a device runs
with one launch per level and no round trip to the host (the ``tree_<family>`` kernels of
``gpuhash/kernels/nodes.cl``); :func:`run_schedule` evaluates such a schedule with any node
function, which is how the tests check that both describe the same tree.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gpuhash.errors import BackendError

if TYPE_CHECKING:
    from gpuhash.algorithms import Algorithm

__all__ = [
    "OP_COPY",
    "OP_PAIR",
    "OP_ROOT",
    "NodeHasher",
    "TreeSchedule",
    "reduce_groups",
    "run_schedule",
]


class NodeHasher(Protocol):
    """What ``reduce_groups`` needs of a backend (``gpuhash.backend.HashBackend`` is one): its
    name for messages, and ``hash_nodes``."""

    @property
    def name(self) -> str:
        """The backend's name, for error messages."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        """One value for each pair of values in ``children``; ``roots[i]`` marks a tree's top."""


#: Slot operations of a schedule (one byte per slot).
OP_PAIR = 0  # value[out] = NODE(value[src], value[src + 1])
OP_ROOT = 1  # the same with BLAKE3's ROOT flag (the pair is the top of an entire tree)
OP_COPY = 2  # value[out] = value[src] (a lone last value carried up a level)


def reduce_groups(
    backend: NodeHasher,
    algorithm: Algorithm,
    values: bytes,
    counts: Sequence[int],
    whole: Sequence[bool],
) -> list[bytes]:
    """The top of each group of ``values`` (``counts[i]`` values in group ``i``, in order),
    with one ``backend.hash_nodes`` call per level for all groups together."""
    d = algorithm.digest_size
    level: list[bytes] = []
    pos = 0
    for c in counts:
        level.append(values[pos : pos + c * d])
        pos += c * d
    sizes = list(counts)
    while True:
        active = [i for i, c in enumerate(sizes) if c > 1]
        if not active:
            return level
        children = b"".join(level[i][: (sizes[i] // 2) * 2 * d] for i in active)
        roots = bytearray(len(children) // (2 * d))
        p = 0
        for i in active:
            p += sizes[i] // 2
            roots[p - 1] = whole[i] and sizes[i] == 2
        parents = backend.hash_nodes(algorithm, children, bytes(roots))
        if len(parents) != len(roots) * d:
            raise BackendError(f"{backend.name}: hash_nodes returned {len(parents)} bytes")
        p = 0
        for i in active:
            m = sizes[i] // 2
            carried = level[i][(sizes[i] - 1) * d :] if sizes[i] % 2 else b""
            level[i] = parents[p * d : (p + m) * d] + carried
            p += m
            sizes[i] = m + sizes[i] % 2


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a cache key
class TreeSchedule:
    """The reduction of a batch's groups as tables for a device.

    The device keeps one array of ``total`` values of ``D`` bytes: the leaf values first
    (``leaves`` of them, in batch order), then each level's new values. Level ``t`` is the
    slots ``levels[t] = (first, count, base)``: slot ``k`` (``first <= k < first + count``)
    computes ``value[base + k - first]`` from ``value[src[k]]`` (and ``value[src[k] + 1]``)
    with operation ``op[k]`` (``OP_PAIR``, ``OP_ROOT`` or ``OP_COPY``). Every slot of a level
    reads values written by earlier levels only, so a level is one parallel launch.
    Afterwards the top of group ``i`` is ``value[tops[i]]``.

    Only groups that still have two or more values take part in a level; the values of a group
    stay consecutive within each level, so the two children of a pair are adjacent (one
    contiguous ``2 * D`` byte message, as for ``hash_nodes``).
    """

    leaves: int
    total: int
    src: array[int]  # "I" per slot
    op: array[int]  # "B" per slot
    levels: tuple[tuple[int, int, int], ...]
    tops: array[int]  # "I" per group

    @property
    def slots(self) -> int:
        return len(self.op)


@functools.lru_cache(maxsize=64)
def _schedule(counts: tuple[int, ...], whole: tuple[bool, ...]) -> TreeSchedule:
    if len(counts) != len(whole):
        raise ValueError("counts and whole differ in length")
    if any(c < 1 for c in counts):
        raise ValueError("every group needs at least one value")
    src = array("I")
    op = array("B")
    levels: list[tuple[int, int, int]] = []
    # Where each group's values of the current level start, and how many there are.
    start: list[int] = []
    pos = 0
    for c in counts:
        start.append(pos)
        pos += c
    leaves = pos
    size = list(counts)
    total = leaves
    while True:
        active = [i for i, c in enumerate(size) if c > 1]
        if not active:
            break
        first = len(op)
        base = total
        for i in active:
            s, c = start[i], size[i]
            pairs = c // 2
            src.extend(range(s, s + 2 * pairs, 2))
            op.extend([OP_PAIR] * pairs)
            if whole[i] and c == 2:
                op[-1] = OP_ROOT
            if c % 2:
                src.append(s + c - 1)
                op.append(OP_COPY)
            start[i] = total
            size[i] = pairs + c % 2
            total += size[i]
        levels.append((first, len(op) - first, base))
    if total >= 1 << 32:
        raise ValueError("a batch of 2^32 or more values cannot be scheduled")
    return TreeSchedule(
        leaves=leaves,
        total=total,
        src=src,
        op=op,
        levels=tuple(levels),
        tops=array("I", start),
    )


def schedule(counts: Sequence[int], whole: Sequence[bool]) -> TreeSchedule:
    """The device schedule that reduces groups of ``counts[i]`` leaf values each.

    Cached: every full window of a large object has the same schedule, so a backend may keep the
    tables on its device keyed by the returned object."""
    return _schedule(tuple(int(c) for c in counts), tuple(bool(w) for w in whole))


def run_schedule(
    plan: TreeSchedule,
    leaves: Sequence[bytes],
    node: Callable[[bytes, bytes, bool], bytes],
) -> list[bytes]:
    """Evaluate ``plan`` on the host: ``node(left, right, root)`` for each pair slot."""
    if len(leaves) != plan.leaves:
        raise ValueError(f"the schedule needs {plan.leaves} leaf values, not {len(leaves)}")
    values: list[bytes | None] = [*leaves, *([None] * (plan.total - plan.leaves))]
    for first, count, base in plan.levels:
        for k in range(first, first + count):
            s = plan.src[k]
            left = values[s]
            assert left is not None, "a slot read a value no earlier level wrote"
            if plan.op[k] == OP_COPY:
                values[base + k - first] = left
            else:
                right = values[s + 1]
                assert right is not None, "a slot read a value no earlier level wrote"
                values[base + k - first] = node(left, right, plan.op[k] == OP_ROOT)
    tops = [values[t] for t in plan.tops]
    assert all(t is not None for t in tops)
    return [t for t in tops if t is not None]
