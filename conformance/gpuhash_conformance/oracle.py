"""Expected values at scale: the specification's definitions, evaluated fast enough to check
calls of 2^17 leaves and objects past 4 GiB on every default run.

* ``merkle-*`` leaf and node values are single hashlib calls (``gpuhash.reference`` itself uses
  hashlib for them); lattice elements are SHAKE256 outputs (hashlib).
* BLAKE3 chaining values have no fast public implementation to compare with (the ``blake3``
  package gives only root outputs). A call's BLAKE3 leaf values for the leaves ``0..n-1`` of
  one object are *proved* instead: folded with the specification's tree shape, they must give
  the ``blake3`` package's digest of those bytes, which no wrong leaf value can do short of a
  BLAKE3 collision; on a mismatch a binary search over prefixes names the first wrong leaf. The
  fold uses ``gpuhash.blake3_lanes``, whose parent values are compared with the pure-Python
  reference on every call here (so a wrong fold cannot hide a wrong leaf). Few BLAKE3 leaves at
  arbitrary positions are computed with the pure-Python reference itself.
* Tops of large subtrees come from a table of complete, aligned subtrees
  (:class:`Subtrees`): every subtree of the RFC 6962 shape over leaves ``[0, n)`` is one of
  them or a fold of ``O(log n)`` of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gpuhash import blake3_lanes
from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, LTHASH, Algorithm

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "Subtrees",
    "blake3_first_wrong_leaf",
    "fold",
    "leaf_value",
    "leaf_values",
    "node_values",
]


def leaf_value(alg: Algorithm, leaf: Buffer, index: int, root: bool) -> bytes:
    """One leaf's value as the specification defines it (sections 3-5)."""
    if alg.family == LTHASH:
        xof = hashlib.shake_256(leaf)
        xof.update(ref.le64(index) + ref.ROLE_LATTICE_LEAF)
        return xof.digest(ref.LATTICE_BYTES)
    if alg.family == BLAKE3:
        if root and index == 0:
            import blake3

            return bytes(blake3.blake3(bytes(leaf)).digest())
        return ref.leaf_value(BLAKE3, bytes(leaf), index, alg.leaf_size, root)
    h = alg.info.hashlib_constructor(leaf)
    h.update(ref.ROLE_LEAF)
    value: bytes = h.digest()
    return value


def leaf_values(
    alg: Algorithm,
    data: Buffer,
    offsets: Sequence[int],
    lengths: Sequence[int],
    indices: Sequence[int],
    roots: Sequence[int],
) -> bytes:
    """Every row's leaf value, concatenated (BLAKE3 rows through the pure-Python reference:
    keep them few)."""
    view = memoryview(data).cast("B")
    return b"".join(
        leaf_value(alg, view[o : o + n], i, bool(r))
        for o, n, i, r in zip(offsets, lengths, indices, roots, strict=True)
    )


def node_values(alg: Algorithm, children: bytes, roots: Sequence[int] | bytes) -> bytes:
    """NODE (or the lattice sum) of each pair of values in ``children``."""
    d = alg.digest_size
    m = len(roots)
    if alg.family == LTHASH:
        lanes = np.frombuffer(children, dtype="<u2", count=2 * m * ref.LATTICE_LANES)
        lanes = lanes.reshape(m, 2, ref.LATTICE_LANES)
        return bytes((lanes[:, 0] + lanes[:, 1]).astype("<u2").tobytes())
    if alg.family == BLAKE3:
        out = blake3_lanes.parent_cvs(children, bytes(roots))
        # The fast parents are checked against the reference on every call, at the first and
        # last pairs and around 256 and 65536 (so a fold built on them, or a backend using
        # the same code, cannot be wrong there unnoticed).
        sample = {0, 1, 255, 256, 65535, 65536, m // 2, m - 2, m - 1}
        for i in sorted(i for i in sample if 0 <= i < m):
            want = ref.node_value(
                BLAKE3,
                children[2 * i * d : (2 * i + 1) * d],
                children[(2 * i + 1) * d :][:d],
                bool(roots[i]),
            )
            if out[i * d : (i + 1) * d] != want:
                raise AssertionError("the suite's own BLAKE3 parent values are wrong (a bug)")
        return out
    view = memoryview(children)
    new_hash = alg.info.hashlib_constructor
    parts = []
    for i in range(m):
        h = new_hash(view[2 * i * d : 2 * (i + 1) * d])
        h.update(ref.ROLE_NODE)
        parts.append(h.digest())
    return b"".join(parts)


def fold(alg: Algorithm, values: bytes, root: bool) -> bytes:
    """The top of the tree over ``values`` (the specification's shape, level by level: pairs,
    a lone last value carried up; ``root`` on the top pair), or their lattice sum."""
    d = alg.digest_size
    n = len(values) // d
    if n == 0:
        raise ValueError("no values to fold")
    while n > 1:
        pairs = n // 2
        roots = bytearray(pairs)
        if n == 2:
            roots[0] = int(root)
        parents = node_values(alg, values[: 2 * pairs * d], bytes(roots))
        values = parents + (values[(n - 1) * d :] if n % 2 else b"")
        n = pairs + n % 2
    return values


def blake3_first_wrong_leaf(values: bytes, data: Buffer, leaf_size: int) -> int | None:
    """``values`` claim to be the BLAKE3 leaf values of leaves ``0..n-1`` of the object
    ``data`` (n >= 2): ``None`` if they are, else the index of the first wrong one."""
    import blake3

    d = ref.BLAKE3_OUT_LEN
    n = len(values) // d
    view = memoryview(data).cast("B")
    alg = Algorithm(BLAKE3, leaf_size)

    def prefix_ok(p: int) -> bool:  # leaves 0..p-1 are right (p >= 2)
        want = blake3.blake3(view[: min(p * leaf_size, len(view))]).digest()
        if p == n:
            want = blake3.blake3(view).digest()
        return fold(alg, values[: p * d], root=True) == want

    if n < 2:
        raise ValueError("a proof by the blake3 package needs two leaves or more")
    if prefix_ok(n):
        return None
    # Which is wrong: only now is leaf 0 computed on its own (a diagnosis, not the proof).
    first = blake3_lanes.leaf_cvs(view, [0], [min(leaf_size, len(view))], [0], [0])
    if values[:d] != first:
        return 0
    lo, hi = 1, n  # prefix lo is right, prefix hi is wrong
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid >= 2 and prefix_ok(mid):
            lo = mid
        else:
            hi = mid
    return hi - 1


class Subtrees:
    """Values of every complete, aligned subtree over known leaf values ``0..n-1``: level ``t``
    holds the subtrees of ``2^t`` leaves starting at multiples of ``2^t`` (never roots)."""

    def __init__(self, alg: Algorithm, values: bytes) -> None:
        self.alg = alg
        d = alg.digest_size
        self.levels = [values]
        while alg.family != LTHASH and len(self.levels[-1]) >= 2 * d:
            below = self.levels[-1]
            pairs = len(below) // (2 * d)
            self.levels.append(node_values(alg, below[: 2 * pairs * d], bytes(pairs)))

    def value(self, level: int, j: int) -> bytes:
        d = self.alg.digest_size
        return self.levels[level][j * d : (j + 1) * d]

    def top(self, n: int, root: bool) -> bytes:
        """The top of the tree over leaves ``[0, n)`` (``n >= 2`` for BLAKE3 roots)."""
        if self.alg.family == LTHASH:
            lanes = np.frombuffer(self.levels[0], dtype="<u2", count=n * ref.LATTICE_LANES)
            total = lanes.reshape(n, ref.LATTICE_LANES).sum(axis=0, dtype=np.uint64)
            return bytes((total % 65536).astype("<u2").tobytes())
        return self._top(0, n, root)

    def _top(self, lo: int, hi: int, root: bool) -> bytes:
        size = hi - lo
        if size & (size - 1) == 0 and not (root and size > 1):
            return self.value(size.bit_length() - 1, lo // size)
        if size == 1:
            raise ValueError("a one-leaf root is a leaf value, not a subtree")
        k = ref.largest_power_of_two_below(size)
        left = self.value(k.bit_length() - 1, lo // k)
        right = self._top(lo + k, hi, False)
        return node_values(self.alg, left + right, bytes([int(root)]))
