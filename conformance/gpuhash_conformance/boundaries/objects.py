"""Objects through the engine (and the primitives): leaves of 2 KiB to 16 MiB, objects that
span windows, files read and mapped as the commands read them, and objects already in the
backend's device memory, against digests built from hashlib and the blake3 package."""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

import numpy as np

from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, LTHASH, Algorithm
from gpuhash.backend import HashBackend
from gpuhash.batches import MIN_WINDOW
from gpuhash.engine import hash_sources
from gpuhash.sources import Source, memory_source
from gpuhash_conformance import oracle
from gpuhash_conformance.boundaries.calls import (
    Coverage,
    call_leaves,
    call_subtrees,
    compare,
    describe,
    expected_object_leaves,
    object_table,
)
from gpuhash_conformance.patterns import pattern

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "LARGE_LEAVES",
    "check_device_arrays",
    "check_files",
    "check_large_leaves",
    "check_windows",
    "object_digest",
]


def object_digest(alg: Algorithm, data: Buffer) -> bytes:
    """OBJECT of ``data`` (sections 3-5) from hashlib and the blake3 package."""
    view = memoryview(data).cast("B")
    size = len(view)
    n = ref.leaf_count(size, alg.leaf_size)
    if alg.family == BLAKE3:
        import blake3

        return bytes(blake3.blake3(view).digest())
    table = object_table(n, alg.leaf_size, size=size, root=True)
    values = oracle.leaf_values(alg, view, table.offset, table.length, table.index, table.root)
    if alg.family == LTHASH:
        lanes = np.frombuffer(values, dtype="<u2").reshape(n, ref.LATTICE_LANES)
        total = lanes.sum(axis=0, dtype=np.uint64)
        total += np.frombuffer(
            ref.lattice_bytes(ref.lattice_length_element(size, alg.leaf_size)), dtype="<u2"
        )
        return bytes((total % 65536).astype("<u2").tobytes())
    top = values if n == 1 else oracle.fold(alg, values, True)
    return ref.finish_object(alg.family, top, size, alg.leaf_size)


#: Leaf sizes past the usual 1-64 KiB, to the largest the spec allows (BLAKE3: 16,384 chunks
#: a leaf, a chaining-value stack 14 deep; SHA-2 and SHA-3: long messages).
LARGE_LEAVES = (2048, 128 << 10, 1 << 20, ref.MAX_LEAF_SIZE)


def check_large_leaves(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Objects of two full leaves and a partial one at leaf sizes from 2 KiB to 16 MiB:
    ``hash_leaves`` (every value), ``hash_subtrees`` (the object's top) and the engine."""
    for leaf in LARGE_LEAVES:
        alg = Algorithm(family, leaf)
        d = alg.digest_size
        size = 2 * leaf + leaf // 3 + 1
        data = pattern(0, size, seed=50)
        table = object_table(3, leaf, size=size)
        got = call_leaves(backend, alg, data, table, cov, f"leaves of {leaf} bytes")
        want = expected_object_leaves(alg, data, 3, got)
        compare(got, want, d, f"hash_leaves of leaves of {leaf} bytes", describe(table))
        top = call_subtrees(backend, alg, data, table, [3], [True], cov, f"leaves of {leaf}")
        compare(top, oracle.fold(alg, want, True), d, f"hash_subtrees of leaves of {leaf} bytes")
        (obj,) = hash_sources(backend, alg, [memory_source("o", ref.KIND_FILE, data)])
        cov.max_object_bytes = max(cov.max_object_bytes, size)
        if obj.digest != object_digest(alg, data):
            raise AssertionError(f"an object of {size} bytes at leaf size {leaf} differs")


def check_windows(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Objects of 1..33 leaves (full and partial last leaves) through the engine with batches
    of one, two and eight leaves (so objects span windows), all in one run; then one object
    of 2051 windows (more than the engine's group of 1024)."""
    leaf = 1024
    alg = Algorithm(family, leaf)
    sizes = [k * leaf + t for k in (0, 1, 2, 3, 4, 7, 8, 16, 33) for t in (0, 1, leaf - 1)]
    sizes = [s for s in sizes if s]
    datas = [pattern(0, s, seed=20 + i) for i, s in enumerate(sizes)]
    for batch in (leaf, 2 * leaf, 3 * leaf, 8 * leaf):
        sources = [memory_source(f"o{i}", ref.KIND_FILE, x) for i, x in enumerate(datas)]
        got = hash_sources(backend, alg, sources, batch_bytes=batch)
        for g, x in zip(got, datas, strict=True):
            cov.calls += 1
            cov.max_object_bytes = max(cov.max_object_bytes, len(x))
            want = object_digest(alg, x)
            if g.digest != want:
                raise AssertionError(
                    f"an object of {len(x)} bytes hashed in windows of {batch} bytes differs"
                )
    big = pattern(0, 2051 * leaf - 7, seed=30)
    (g,) = hash_sources(backend, alg, [memory_source("big", ref.KIND_FILE, big)], batch_bytes=leaf)
    cov.max_object_bytes = max(cov.max_object_bytes, len(big))
    if g.digest != object_digest(alg, big):
        raise AssertionError("an object of 2051 windows (more than 1024) differs")


def check_files(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Files through the engine as the commands hash them: read (``use_mmap=False``; windows
    of 1 MiB or more handed over as ``FileSpan``s to a backend with ``file_spans``) and mapped;
    files just under, at and over 1 MiB, whole and in windows of 1 and 2 MiB (a last window
    under 1 MiB), and a tensor's bytes starting 12,345 bytes into its file."""
    alg = Algorithm(family, 4096)
    sizes = [MIN_WINDOW - 1, MIN_WINDOW, MIN_WINDOW + 3 * 4096 + 17, 3 * MIN_WINDOW + 5]
    datas = [pattern(0, s, seed=60 + i) for i, s in enumerate(sizes)]
    at, tensor_size = 12345, MIN_WINDOW + 3000
    whole_file = pattern(0, at + tensor_size + 999, seed=70)
    with tempfile.TemporaryDirectory(prefix="gpuhash-conformance-") as tmp:
        sources = []
        for i, x in enumerate([*datas, whole_file]):
            path = os.path.join(tmp, f"f{i}.bin")
            with open(path, "wb") as f:
                f.write(x)
            sources.append(Source(f"f{i}.bin", ref.KIND_FILE, len(x), path=path))
        tensor = sources.pop()
        sources.append(
            Source(
                "f.bin:t",
                ref.KIND_TENSOR,
                tensor_size,
                path=tensor.path,
                offset=at,
                file_size=len(whole_file),
            )
        )
        datas.append(whole_file[at : at + tensor_size])
        for batch in (None, MIN_WINDOW, 2 * MIN_WINDOW):
            for use_mmap in (False, True):
                got = hash_sources(backend, alg, sources, batch_bytes=batch, use_mmap=use_mmap)
                how = "mapped" if use_mmap else "read"
                for g, x in zip(got, datas, strict=True):
                    cov.calls += 1
                    cov.max_object_bytes = max(cov.max_object_bytes, len(x))
                    if g.digest != object_digest(alg, x):
                        raise AssertionError(
                            f"{g.name} ({len(x)} bytes, {how}, batches of {batch or 'default'} "
                            "bytes) differs"
                        )


def check_device_arrays(backend: HashBackend, family: str, cov: Coverage) -> None:
    """Objects already on the device (``backend.device_array(data, offset)``: the backend's
    own kind of array, as views starting 0, 3 and 4101 bytes into their allocations) hashed in
    place through the engine, whole and in windows (slices at further offsets), against the
    same bytes hashed from the host."""
    make = getattr(backend, "device_array", None)
    assert make is not None
    alg = Algorithm(family, 1024)
    sizes = [1, 1023, 1024, 1025, 5 * 1024 + 3, 33 * 1024, (3 << 20) + 5]
    datas = [pattern(0, s, seed=40 + i) for i, s in enumerate(sizes)]
    for k, batch in enumerate((None, 4 * 1024, 4 * 1024)):
        offsets = [(0, 3, 4101)[(i + k) % 3] for i in range(len(datas))]
        sources = [
            memory_source(f"d{i}", ref.KIND_FILE, make(x, at))
            for i, (x, at) in enumerate(zip(datas, offsets, strict=True))
        ]
        got = hash_sources(backend, alg, sources, batch_bytes=batch)
        for g, x in zip(got, datas, strict=True):
            cov.calls += 1
            cov.max_object_bytes = max(cov.max_object_bytes, len(x))
            if g.digest != object_digest(alg, x):
                raise AssertionError(
                    f"a device array of {len(x)} bytes (batches of {batch or 'default'} bytes) "
                    "differs from the same bytes on the host"
                )
