"""Positions past 32 bits: byte offsets around 2^31 and 2^32 into one call's buffer, leaf
indices (and BLAKE3 chunk counters) past 2^32, ``read_file`` past 2^32, and a generated object
of more than 4 GiB through the engine."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import tempfile
from importlib import resources
from typing import Any

from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, Algorithm
from gpuhash.backend import HashBackend
from gpuhash.engine import hash_sources
from gpuhash.sources import Source, memory_source
from gpuhash_conformance import oracle
from gpuhash_conformance.boundaries.calls import (
    Coverage,
    call_leaves,
    call_subtrees,
    compare,
    describe,
    make_table,
)
from gpuhash_conformance.boundaries.objects import object_digest
from gpuhash_conformance.patterns import PatternBytes, pattern, sparse_pattern

__all__ = [
    "LARGE_LEAF",
    "LARGE_SEED",
    "LARGE_SIZE",
    "SPARSE_SIZE",
    "check_indices_past_2_32",
    "check_object_over_4_gib",
    "check_offsets_past_2_32",
    "check_read_file_past_2_32",
    "close_sparse",
    "large_digest",
]


#: Bytes of the sparse buffers whose leaves lie past 2^31 and 2^32: 4 GiB + 1 MiB.
SPARSE_SIZE = (1 << 32) + (1 << 20)


def close_sparse(view: memoryview, buf: Any) -> None:
    """Release a sparse buffer; if a failing check's traceback still holds a slice of it, the
    mapping is left to the garbage collector rather than hiding the failure."""
    with contextlib.suppress(BufferError):
        view.release()
        buf.close()


def check_offsets_past_2_32(backend: HashBackend, family: str, cov: Coverage) -> None:
    """One call over a buffer of 4 GiB + 1 MiB (a sparse mapping: pattern only where leaves
    lie) whose leaves straddle 2^31 and 2^32."""
    leaf = 4096
    alg = Algorithm(family, leaf)
    d = alg.digest_size
    g31, g32, size = 1 << 31, 1 << 32, SPARSE_SIZE
    regions = [(0, 1 << 16), (g31 - (1 << 16), g31 + (1 << 16)), (g32 - (1 << 16), size)]
    buf = sparse_pattern(size, regions, seed=4)
    view = memoryview(buf)
    try:
        rows = [
            (0, leaf, 0, 1),
            (7, leaf, 1, 0),
            (g31 - leaf, leaf, g31 // leaf - 1, 0),
            (g31 - leaf // 2 - 3, leaf, g31 // leaf, 0),
            (g31, leaf, 3, 0),
            (g31 + 5, leaf - 9, 4, 0),
            (g32 - leaf, leaf, g32 // leaf - 1, 0),
            (g32 - 1000, leaf, g32 // leaf, 0),
            (g32, leaf, 5, 0),
            (g32 + 1, leaf, (1 << 32) + 1, 0),
            (g32 + 3 * leaf, 17, 6, 0),
            (size - leaf, leaf, 7, 0),
            (size - 1, 1, 8, 0),
        ]
        offsets, lengths, indices, roots = (list(c) for c in zip(*rows, strict=True))
        table = make_table(offsets, lengths, indices, roots)
        got = call_leaves(backend, alg, view, table, cov, "leaves past 2^31 and 2^32")
        want = oracle.leaf_values(alg, view, offsets, lengths, indices, roots)
        compare(got, want, d, "hash_leaves over a 4 GiB buffer", describe(table))
        # Groups (windows of objects) straddling 2^31 and 2^32, one whole object at the end.
        groups = [
            (g31 - leaf - 3, 3, g31 // leaf - 1, False),
            (g32 - 2 * leaf - 5, 5, g32 // leaf - 2, False),
            (size - 2 * leaf, 2, 0, True),
        ]
        o: list[int] = []
        n_: list[int] = []
        ix: list[int] = []
        rt: list[int] = []
        for start, n, base, _whole in groups:
            o += range(start, start + n * leaf, leaf)
            n_ += [leaf] * n
            ix += range(base, base + n)
            rt += [0] * n
        table = make_table(o, n_, ix, rt)
        got = call_subtrees(
            backend,
            alg,
            view,
            table,
            [g[1] for g in groups],
            [g[3] for g in groups],
            cov,
            "groups past 2^31 and 2^32",
        )
        want_parts, pos = [], 0
        for _start, n, _base, whole in groups:
            values = oracle.leaf_values(
                alg, view, o[pos : pos + n], n_[pos : pos + n], ix[pos : pos + n], rt[pos : pos + n]
            )
            want_parts.append(oracle.fold(alg, values, whole))
            pos += n
        compare(
            got,
            b"".join(want_parts),
            d,
            "hash_subtrees over a 4 GiB buffer",
            lambda g: f"group {g} (from offset {groups[g][0]}, leaf {groups[g][2]})",
        )
    finally:
        close_sparse(view, buf)


def _index_cases(family: str, leaf: int) -> list[int]:
    last = (1 << 64) // leaf - 1  # the last leaf of the largest object the spec allows
    cases = [
        (1 << 31) // leaf - 1,
        (1 << 31) // leaf,
        (1 << 32) // leaf - 1,
        (1 << 32) // leaf,
        (1 << 32) // leaf + 1,
        (1 << 32) - 1,
        1 << 32,
        (1 << 32) + 1,
        (1 << 40) + 3,
        last,
    ]
    if family == BLAKE3:  # chunk counters cross 2^32 where index * leaf / 1024 does
        cases.append((1 << 42) // leaf)
        if leaf > 4096:  # the reference is slow over large leaves: keep the rows few
            cases = [(1 << 32) // leaf, (1 << 42) // leaf, 1 << 32, last]
    return sorted(set(cases))


def check_indices_past_2_32(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Leaf indices whose byte position (index * L) or value crosses 2^32, in shuffled rows,
    and groups that are windows deep inside huge objects."""
    for leaf in (1024, 4096, 65536):
        alg = Algorithm(family, leaf)
        d = alg.digest_size
        cases = _index_cases(family, leaf)
        data = pattern(0, len(cases) * leaf, seed=5)
        order = list(range(len(cases)))
        random.Random(leaf).shuffle(order)
        offsets = [j * leaf for j in order]
        indices = [cases[j] for j in order]
        table = make_table(offsets, [leaf] * len(order), indices, [0] * len(order))
        got = call_leaves(backend, alg, data, table, cov, f"large indices, L={leaf}")
        want = oracle.leaf_values(alg, data, table.offset, table.length, table.index, table.root)
        compare(got, want, d, f"hash_leaves at large leaf indices (L={leaf})", describe(table))
        if leaf > 4096:
            continue
        # Windows whose byte position, BLAKE3 chunk counter (index * L / 1024) or index
        # crosses 2^32.
        bases = sorted({(1 << 32) // leaf - 2, (1 << 32) // (leaf // 1024) - 2, (1 << 32) - 2})
        n = 4
        data = pattern(0, n * len(bases) * leaf, seed=5)
        table = make_table(
            [j * leaf for j in range(n * len(bases))],
            [leaf] * (n * len(bases)),
            [b + j for b in bases for j in range(n)],
            [0] * (n * len(bases)),
        )
        got = call_subtrees(
            backend, alg, data, table, [n] * len(bases), [False] * len(bases), cov, "deep windows"
        )
        want_parts = []
        for g in range(len(bases)):
            rows = range(g * n, (g + 1) * n)
            values = oracle.leaf_values(
                alg,
                data,
                [table.offset[r] for r in rows],
                [leaf] * n,
                [table.index[r] for r in rows],
                [0] * n,
            )
            want_parts.append(oracle.fold(alg, values, False))
        compare(
            got,
            b"".join(want_parts),
            d,
            "hash_subtrees of windows deep in large objects",
            lambda g, b=bases: f"group {g} (from leaf {b[g]})",
        )


#: The generated object past 4 GiB: 2^32 bytes, three leaves of 64 KiB and a partial one.
LARGE_SIZE = (1 << 32) + 3 * (1 << 16) + 12345
LARGE_SEED = 9
LARGE_LEAF = 1 << 16


@functools.cache
def _large_vectors() -> dict[str, str]:
    text = resources.files("gpuhash_conformance").joinpath("large.json").read_text("utf-8")
    document = json.loads(text)
    if document["size"] != LARGE_SIZE or document["seed"] != LARGE_SEED:
        raise AssertionError("large.json describes another object (regenerate it)")
    return dict(document["digests"])


def large_digest(family: str) -> bytes:
    """The cached digest of the generated object past 4 GiB (``large.json``)."""
    return bytes.fromhex(_large_vectors()[Algorithm(family, LARGE_LEAF).id])


def check_object_over_4_gib(backend: HashBackend, family: str, cov: Coverage) -> None:
    """The generated object of ``LARGE_SIZE`` bytes through the engine at the backend's own
    batch size, against its cached digest."""
    alg = Algorithm(family, LARGE_LEAF)
    src = Source("large", ref.KIND_FILE, LARGE_SIZE, data=PatternBytes(LARGE_SIZE, LARGE_SEED))
    (got,) = hash_sources(backend, alg, [src])
    cov.calls += 1
    cov.max_object_bytes = LARGE_SIZE
    cov.bytes_hashed += LARGE_SIZE
    if got.digest != large_digest(family):
        raise AssertionError(
            f"the generated object of {LARGE_SIZE} bytes (pattern {LARGE_SEED}) differs"
        )


def check_read_file_past_2_32(backend: HashBackend, cov: Coverage) -> None:
    """``read_file`` windows of a sparse file at and past 2^32 (pattern there, holes
    elsewhere), hashed in place and compared with the same bytes hashed by the reference."""
    alg = Algorithm("merkle-sha256", 4096)
    g32 = 1 << 32
    size = g32 + (16 << 20)
    start = g32 - (16 << 20)
    with tempfile.TemporaryDirectory(prefix="gpuhash-conformance-") as tmp:
        path = os.path.join(tmp, "sparse.bin")
        with open(path, "wb") as f:
            f.truncate(size)
            f.seek(start)
            for at in range(start, size, 8 << 20):  # 32 MiB of pattern around 2^32
                f.write(pattern(at, min(8 << 20, size - at), seed=15).tobytes())
        fd = os.open(path, os.O_RDONLY)
        try:
            for at, length in (
                (g32 - 4096 - 3, 3 * 4096),
                (g32, 4096 + 5),
                (g32 - (8 << 20) - 5, 16 << 20),  # a large window across 2^32: chunked reads
                (size - 8192, 8192),
            ):
                array_ = backend.read_file(fd, at, length)
                if array_ is None:
                    raise AssertionError("read_file returned None although file_reads is set")
                cov.calls += 1
                cov.max_byte_offset = max(cov.max_byte_offset, at + length)
                source = memory_source("w", ref.KIND_FILE, array_)
                if not source.device:
                    raise AssertionError(
                        f"read_file returned {type(array_).__name__}, not a device array"
                    )
                if source.size != length:
                    raise AssertionError(f"read_file returned {source.size} of {length} bytes")
                (got,) = hash_sources(backend, alg, [source])
                want = object_digest(alg, pattern(at, length, seed=15))
                if got.digest != want:
                    raise AssertionError(f"read_file of {length} bytes at offset {at} differs")
        finally:
            os.close(fd)
