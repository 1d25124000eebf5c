"""State a backend keeps between calls: calls from several threads at once, call shapes that
change and repeat, and families and leaf sizes interleaved in one process."""

from __future__ import annotations

from typing import Any

from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, FAMILIES, Algorithm, family_info
from gpuhash.backend import HashBackend, LeafTable
from gpuhash_conformance import oracle
from gpuhash_conformance.boundaries.calls import (
    Coverage,
    call_leaves,
    call_nodes,
    call_subtrees,
    compare,
    describe,
    expected_object_leaves,
    make_table,
    object_table,
)
from gpuhash_conformance.patterns import pattern

__all__ = ["check_concurrent_calls", "check_mixed_families", "check_repeated_calls"]


def check_concurrent_calls(backend: HashBackend, family: str, cov: Coverage) -> None:
    """``in_flight + 1`` threads (at least three) at once, each with its own data and call
    shapes, eight rounds of ``hash_subtrees``, ``hash_leaves`` and ``hash_nodes``, each result
    compared: what the engine does with a ``concurrent`` backend, on purpose rather than by
    timing (slots that share a buffer, a kernel object or a queue's state)."""
    import threading

    caps = backend.capabilities()
    alg = Algorithm(family, 1024)
    d = alg.digest_size
    threads = max(3, caps.in_flight + 1)
    jobs = []
    for t in range(threads):
        n = 3000 + 517 * t
        data = pattern(0, n * 1024 - 7 * t, seed=60 + t)
        table = object_table(n, 1024, size=len(data))
        first = call_leaves(backend, alg, data, table, cov, f"thread {t}, alone")
        leaves = expected_object_leaves(alg, data, n, first)
        counts = [n // 3, n - n // 3]
        tops = oracle.fold(alg, leaves[: counts[0] * d], False) + oracle.fold(
            alg, leaves[counts[0] * d :], False
        )
        children = leaves[: 2 * (n // 2) * d]
        roots = bytes(i % 2 for i in range(n // 2))
        nodes = oracle.node_values(alg, children, roots)
        jobs.append((data, table, leaves, counts, tops, children, roots, nodes))
    barrier = threading.Barrier(threads)
    errors: list[str] = []

    def work(t: int) -> None:
        data, table, leaves, counts, tops, children, roots, nodes = jobs[t]
        try:
            barrier.wait()
            for r in range(8):
                got = backend.hash_subtrees(alg, data, table, counts, [False, False])
                if got != tops:
                    errors.append(f"thread {t}, round {r}: hash_subtrees differs")
                if backend.hash_leaves(alg, data, table) != leaves:
                    errors.append(f"thread {t}, round {r}: hash_leaves differs")
                if backend.hash_nodes(alg, children, roots) != nodes:
                    errors.append(f"thread {t}, round {r}: hash_nodes differs")
        except Exception as e:
            errors.append(f"thread {t}: {type(e).__name__}: {e}")

    workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    cov.calls += threads * 8 * 3
    cov.max_leaves_per_call = max(cov.max_leaves_per_call, max(len(j[1]) for j in jobs))
    if errors:
        raise AssertionError(f"{threads} threads at once: {errors[0]} ({len(errors)} errors)")


def check_repeated_calls(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Calls whose shapes change and repeat: same row count with other offsets or data, a big
    call after a small one, subtree groups re-cut over the same leaves."""
    leaf = 1024
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    a = pattern(0, 4097 * leaf, seed=7)
    b = pattern(0, 8 * leaf + 5, seed=8)
    c = pattern(0, 8 * leaf + 5, seed=11)
    want_a = expected_object_leaves(
        alg,
        a,
        4097,
        call_leaves(backend, alg, a, object_table(4097, leaf), cov, "4097 leaves")
        if family == BLAKE3
        else None,
    )

    def small(buf: memoryview, shift: int) -> tuple[LeafTable, bytes]:
        table = make_table([shift + j * leaf for j in range(3)], [leaf] * 3, [1, 2, 3], [0] * 3)
        want = oracle.leaf_values(alg, buf, table.offset, table.length, table.index, table.root)
        return table, want

    steps: list[tuple[str, Any, LeafTable, bytes]] = []
    steps.append(("4097 leaves", a, object_table(4097, leaf), want_a))
    for name, buf, shift in (
        ("3 leaves", b, 0),
        ("3 leaves, shifted", b, 5),
        ("3 leaves, other data", c, 5),
        ("3 leaves again", b, 0),
    ):
        table, want = small(buf, shift)
        steps.append((name, buf, table, want))
    steps.append(("4097 leaves again", a, object_table(4097, leaf), want_a))
    empty = make_table([0], [0], [0], [1])
    steps.append(("an empty object", b"", empty, oracle.leaf_value(alg, b"", 0, True)))
    steps.append(("4096 leaves", a, object_table(4096, leaf), want_a[: 4096 * d]))
    for name, buf, table, want in steps:
        got = call_leaves(backend, alg, buf, table, cov, name)
        compare(got, want, d, f"hash_leaves: {name} (after other calls)", describe(table))
    table = object_table(4097, leaf)
    for counts, whole in (
        ([4097], [True]),
        ([2048, 2049], [False, False]),
        ([1, 4096], [False, False]),
        ([4097], [False]),
        ([4097], [True]),
    ):
        got = call_subtrees(backend, alg, a, table, counts, whole, cov, f"groups {counts}")
        parts, pos = [], 0
        for n, w in zip(counts, whole, strict=True):
            parts.append(oracle.fold(alg, want_a[pos * d : (pos + n) * d], w))
            pos += n
        compare(got, b"".join(parts), d, f"hash_subtrees of groups {counts} (whole {whole})")


def check_mixed_families(backend: HashBackend, cov: Coverage) -> None:
    """Every family and two leaf sizes, interleaved in one process, the same call shapes each
    time (families of equal digest sizes follow each other)."""
    claimed = backend.capabilities().families
    order = sorted((f for f in FAMILIES if f in claimed), key=lambda f: family_info(f).digest_size)
    data = pattern(0, 3 * 4096, seed=13)
    children = pattern(0, 6 * ref.LATTICE_BYTES, seed=14).tobytes()
    for _ in range(2):
        for leaf in (1024, 4096, 1024):
            for family in order:
                alg = Algorithm(family, leaf)
                d = alg.digest_size
                table = make_table([0, leaf, 2 * leaf], [leaf] * 3, [5, 6, 7], [0] * 3)
                got = call_leaves(backend, alg, data, table, cov, family)
                want = oracle.leaf_values(
                    alg, data, table.offset, table.length, table.index, table.root
                )
                compare(got, want, d, f"{alg.id} leaves after other families", describe(table))
                roots = b"\x00\x01\x00"
                got = call_nodes(backend, alg, children[: 6 * d], roots, cov, family)
                compare(
                    got,
                    oracle.node_values(alg, children[: 6 * d], roots),
                    d,
                    f"{family} nodes after other families",
                )
