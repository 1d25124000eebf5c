"""gpuhash.tree: the device schedule and the host reduction describe the same trees.

Both are checked against an independent recursion: the RFC 6962 shape of the specification
(section 3), split at the largest power of two below the leaf count, with BLAKE3-style root
marking of the top pair of a whole tree. Values are opaque tokens here (the node function
builds a nested tuple), so any difference in pairing, order, carrying or root marking shows.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from gpuhash.algorithms import Algorithm
from gpuhash.backends.reference import ReferenceBackend
from gpuhash.tree import OP_COPY, OP_PAIR, OP_ROOT, reduce_groups, run_schedule, schedule


def rfc6962(values: Sequence[bytes], root: bool) -> bytes:
    """The spec's shape, by recursion: split at the largest power of two below n."""
    n = len(values)
    if n == 1:
        return values[0]
    k = 1
    while k * 2 < n:
        k *= 2
    left, right = rfc6962(values[:k], False), rfc6962(values[k:], False)
    return node(left, right, root)


def node(left: bytes, right: bytes, root: bool) -> bytes:
    return b"(" + left + b"," + right + (b")R" if root else b")")


groups = st.lists(st.tuples(st.integers(1, 70), st.booleans()), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(groups=groups)
def test_schedule_gives_the_spec_shape(groups: list[tuple[int, bool]]) -> None:
    counts = [c for c, _ in groups]
    whole = [w for _, w in groups]
    leaves = [b"%d" % i for i in range(sum(counts))]
    plan = schedule(counts, whole)
    got = run_schedule(plan, leaves, node)
    want = []
    pos = 0
    for c, w in groups:
        want.append(rfc6962(leaves[pos : pos + c], w))
        pos += c
    assert got == want


@settings(max_examples=300, deadline=None)
@given(groups=groups)
def test_schedule_tables_are_well_formed(groups: list[tuple[int, bool]]) -> None:
    counts = [c for c, _ in groups]
    plan = schedule(counts, [w for _, w in groups])
    assert plan.leaves == sum(counts)
    # Every value is written once, by the level that owns it, from values written before.
    written = plan.leaves
    for first, count, base in plan.levels:
        assert base == written
        for k in range(first, first + count):
            assert plan.op[k] in (OP_PAIR, OP_ROOT, OP_COPY)
            last_read = plan.src[k] + (0 if plan.op[k] == OP_COPY else 1)
            assert last_read < base
        written += count
    assert written == plan.total == plan.leaves + plan.slots
    assert all(t < plan.total for t in plan.tops)
    # Pairs minus copies: a group of c leaves needs exactly c - 1 pairs.
    pairs = sum(1 for o in plan.op if o != OP_COPY)
    assert pairs == plan.leaves - len(counts)


class _TokenBackend(ReferenceBackend):
    """hash_nodes over fixed-width tokens, so reduce_groups can be compared with the recursion."""

    width = 8

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        import hashlib

        w = self.width
        out = []
        for i, r in enumerate(roots):
            left, right = children[2 * i * w : (2 * i + 1) * w], children[(2 * i + 1) * w :][:w]
            out.append(hashlib.sha256(node(left, right, bool(r))).digest()[:w])
        return b"".join(out)


@settings(max_examples=200, deadline=None)
@given(groups=groups)
def test_host_reduction_equals_the_schedule(groups: list[tuple[int, bool]]) -> None:
    import hashlib

    backend = _TokenBackend()
    counts = [c for c, _ in groups]
    whole = [w for _, w in groups]
    leaves = [hashlib.sha256(b"%d" % i).digest()[:8] for i in range(sum(counts))]

    def token_node(left: bytes, right: bytes, root: bool) -> bytes:
        return hashlib.sha256(node(left, right, root)).digest()[:8]

    class _Tokens:  # reduce_groups only reads the value width from the algorithm
        digest_size = 8

    host = reduce_groups(backend, _Tokens(), b"".join(leaves), counts, whole)  # type: ignore[arg-type]
    assert host == run_schedule(schedule(counts, whole), leaves, token_node)


def test_schedule_is_cached_per_shape() -> None:
    assert schedule([1024], [False]) is schedule([1024], [False])
    assert schedule([1024], [False]) is not schedule([1024], [True])
