"""The engine with the ``cpu`` and ``reference`` backends equals the reference, however it batches.

The reference (gpuhash.reference) hashes each object in one piece with plain recursion; the
engine packs small objects, streams large ones through windows and reduces all trees level by
level in batches. Any disagreement is a tree-shape, root-flag, window or packing bug.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES, Algorithm
from gpuhash.backend import Buffer, HashBackend, LeafTable
from gpuhash.backends.cpu import CpuBackend
from gpuhash.backends.reference import ReferenceBackend
from gpuhash.digests import artifact_digest
from gpuhash.engine import hash_sources, window_bytes
from gpuhash.errors import InputError
from gpuhash.sources import Source, memory_source

LEAF = 1024


def pattern(n: int, seed: int) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(n))


# Sizes on and around leaf and window boundaries (in units of the 1 KiB leaf).
sizes = st.one_of(
    st.integers(0, 3 * LEAF),
    st.sampled_from([k * LEAF + d for k in (1, 2, 3, 4, 5, 7, 8, 9, 16, 17) for d in (-1, 0, 1)]),
)
families = st.sampled_from(FAMILIES)
batch_sizes = st.sampled_from([LEAF, 2 * LEAF, 3 * LEAF, 4 * LEAF + 17, 8 * LEAF, 1 << 20])


@pytest.fixture(scope="module")
def cpu() -> CpuBackend:
    return CpuBackend()


def expected(family: str, datas: list[bytes]) -> list[bytes]:
    return [ref.object_digest(family, d, LEAF) for d in datas]


@settings(max_examples=60, deadline=None)
@given(
    family=families,
    object_sizes=st.lists(sizes, min_size=1, max_size=6),
    batch=batch_sizes,
    seed=st.integers(0, 250),
)
def test_memory_objects_equal_reference(
    cpu: CpuBackend, family: str, object_sizes: list[int], batch: int, seed: int
) -> None:
    datas = [pattern(n, seed + i) for i, n in enumerate(object_sizes)]
    alg = Algorithm(family, LEAF)
    want = expected(family, datas)
    backends: list[HashBackend] = [cpu, ReferenceBackend()]
    for backend in backends:
        srcs = [memory_source(f"o{i}", ref.KIND_FILE, d) for i, d in enumerate(datas)]
        got = [o.digest for o in hash_sources(backend, alg, srcs, batch_bytes=batch)]
        assert got == want, (backend.name, batch)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    family=families,
    object_sizes=st.lists(sizes, min_size=1, max_size=5),
    batch=batch_sizes,
)
def test_file_objects_equal_reference(
    cpu: CpuBackend, tmp_path: Path, family: str, object_sizes: list[int], batch: int
) -> None:
    datas = [pattern(n, i) for i, n in enumerate(object_sizes)]
    srcs = []
    for i, d in enumerate(datas):
        p = tmp_path / f"f{i}"
        p.write_bytes(d)
        srcs.append(Source(f"f{i}", ref.KIND_FILE, len(d), path=str(p)))
    got = [o.digest for o in hash_sources(cpu, Algorithm(family, LEAF), srcs, batch_bytes=batch)]
    assert got == expected(family, datas)


# BLAKE3 is checked at this size against the blake3 package below (the pure-Python reference
# BLAKE3 would take too long here).
@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "blake3"])
def test_large_object_through_mapped_windows(cpu: CpuBackend, tmp_path: Path, family: str) -> None:
    """Several memory-mapped 1 MiB windows, in parallel threads, plus a ragged tail."""
    n = 3 * (1 << 20) + 5000
    data = np.random.default_rng(7).integers(0, 256, n, dtype=np.uint8).tobytes()
    p = tmp_path / "big"
    p.write_bytes(data)
    alg = Algorithm(family, 4096)
    (obj,) = hash_sources(cpu, alg, [Source("big", 1, n, path=str(p))], batch_bytes=1 << 20)
    assert obj.digest == ref.object_digest(family, data, 4096)


def test_blake3_large_object_equals_blake3_package(cpu: CpuBackend, tmp_path: Path) -> None:
    import blake3

    n = 5 * (1 << 20) + 3
    data = np.random.default_rng(8).integers(0, 256, n, dtype=np.uint8).tobytes()
    p = tmp_path / "big"
    p.write_bytes(data)
    (obj,) = hash_sources(
        cpu, Algorithm("blake3"), [Source("big", 1, n, path=str(p))], batch_bytes=1 << 20
    )
    assert obj.digest == blake3.blake3(data).digest()


@pytest.mark.parametrize("batch", [LEAF, 2 * LEAF, 4 * LEAF])
def test_blake3_tree_path_with_windows(batch: int) -> None:
    """The leaf/node path for BLAKE3 (root flags across windows) against the blake3 package."""
    import blake3

    datas = [pattern(n, 3) for n in (0, 1, LEAF, 2 * LEAF + 1, 5 * LEAF, 8 * LEAF, 9 * LEAF - 1)]
    srcs = [memory_source(f"o{i}", 1, d) for i, d in enumerate(datas)]
    got = hash_sources(ReferenceBackend(), Algorithm("blake3", LEAF), srcs, batch_bytes=batch)
    assert [o.digest for o in got] == [blake3.blake3(d).digest() for d in datas]


def test_window_is_a_power_of_two_multiple_of_the_leaf() -> None:
    alg = Algorithm("merkle-sha256", 4096)
    for batch in (1, 4096, 5000, 8192, 3 << 20):
        w = window_bytes(alg, batch)
        assert w % 4096 == 0
        assert (w // 4096) & (w // 4096 - 1) == 0
        assert w <= max(batch, 4096) < 2 * w or w == 4096


@pytest.mark.parametrize("family", FAMILIES)
def test_artifact_digest_equals_reference(family: str) -> None:
    alg = Algorithm(family, LEAF)
    datas = {"b": b"", "a-b": b"x", "a/b": b"yy", "a.txt": b"zzz", "日本/é": b"q" * 1500}
    srcs = [memory_source(name, 1, d) for name, d in datas.items()]
    objects = hash_sources(CpuBackend(), alg, srcs)
    _, want = ref.hash_artifact(alg.id, [(n, 1, d) for n, d in datas.items()])
    assert artifact_digest(alg, objects) == want


def test_file_that_shrinks_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"a" * 5000)
    src = Source("f", 1, 5000, path=str(p))
    p.write_bytes(b"a" * 10)
    with pytest.raises(InputError, match="changed while it was being hashed"):
        hash_sources(CpuBackend(), Algorithm("merkle-sha256", LEAF), [src])


def test_file_replaced_after_listing_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"a" * 5000)
    st = os.stat(p)
    src = Source("f", 1, 5000, path=str(p), identity=(st.st_dev, st.st_ino, st.st_mtime_ns))
    os.unlink(p)
    p.write_bytes(b"b" * 5000)
    with pytest.raises(InputError, match="changed"):
        hash_sources(CpuBackend(), Algorithm("merkle-sha256", LEAF), [src])


def test_numpy_array_is_hashed_as_its_c_order_bytes() -> None:
    arr = np.arange(3000, dtype=np.float32).reshape(30, 100)
    alg = Algorithm("merkle-sha256", LEAF)
    fortran = np.asfortranarray(arr)
    (a,) = hash_sources(CpuBackend(), alg, [memory_source("a", 1, arr)])
    (b,) = hash_sources(CpuBackend(), alg, [memory_source("b", 1, fortran)])
    assert a.digest == b.digest == ref.object_digest("merkle-sha256", arr.tobytes(), LEAF)


def test_error_in_a_later_batch_stops_cleanly(tmp_path: Path) -> None:
    """An error while batches are in flight surfaces as itself, with no thread left behind."""
    import threading

    for name, data in (("a", b"x" * 5000), ("b", b"y" * 5000)):
        (tmp_path / name).write_bytes(data)
    srcs = [
        Source("a", 1, 5000, path=str(tmp_path / "a")),
        Source("b", 1, 4999, path=str(tmp_path / "b")),  # wrong size: "changed"
    ]
    before = set(threading.enumerate())
    for _ in range(20):
        with pytest.raises(InputError, match="b: file changed"):
            hash_sources(CpuBackend(), Algorithm("merkle-sha256", LEAF), srcs, batch_bytes=4096)
    leftover = [t for t in set(threading.enumerate()) - before if t.name.startswith("gpuhash")]
    assert not [t for t in leftover if "dispatch" in t.name or "reader" in t.name]


def test_deep_directory_does_not_recurse(tmp_path: Path) -> None:
    """A directory 1000 levels deep (beyond Python's recursion limit) is walked."""
    import gpuhash

    depth = 1000
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(depth):  # built iteratively: os.makedirs itself recurses
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"bottom")
        os.close(leaf)
    finally:
        os.close(fd)
    try:
        m = gpuhash.hash_path(tmp_path, backend="cpu")
        assert [o.name for o in m.objects] == ["d/" * depth + "f"]
    finally:
        # Remove the tree bottom-up without recursion (shutil.rmtree and pytest's own clean-up
        # of old temporary directories would hit the recursion limit).
        os.unlink(tmp_path / ("d/" * depth + "f"))
        for level in range(depth, 0, -1):
            os.rmdir(tmp_path / "/".join(["d"] * level))


def test_reading_instead_of_mapping_gives_the_same_digests(cpu: CpuBackend, tmp_path: Path) -> None:
    n = 3 * (1 << 20) + 12345
    data = np.random.default_rng(9).integers(0, 256, n, dtype=np.uint8).tobytes()
    (tmp_path / "f").write_bytes(data)
    src = [Source("f", 1, n, path=str(tmp_path / "f"))]
    alg = Algorithm("merkle-sha256", 4096)
    mapped = hash_sources(cpu, alg, src, batch_bytes=1 << 20, use_mmap=True)
    read = hash_sources(cpu, alg, src, batch_bytes=1 << 20, use_mmap=False)
    assert mapped == read
    assert hash_sources(cpu, alg, src, batch_bytes=1 << 20) == read  # reading: the default
    assert read[0].digest == ref.object_digest("merkle-sha256", data, 4096)


@settings(max_examples=40, deadline=None)
@given(
    family=families,
    n=st.integers(0, 40 * LEAF),
    group=st.sampled_from([1, 2, 4]),  # a power of two (engine._ObjectState.GROUP)
    batch=st.sampled_from([LEAF, 2 * LEAF, 4 * LEAF]),
)
def test_window_groups_and_the_merge_stack_keep_the_shape(
    family: str, n: int, group: int, batch: int
) -> None:
    """Many windows per object, reduced a few at a time (a tiny GROUP), merged on the stack."""
    import gpuhash.engine as engine

    data = pattern(n, n % 251)
    saved = engine._ObjectState.GROUP
    engine._ObjectState.GROUP = group
    try:
        (got,) = hash_sources(
            ReferenceBackend(),
            Algorithm(family, LEAF),
            [memory_source("o", ref.KIND_FILE, data)],
            batch_bytes=batch,
        )
    finally:
        engine._ObjectState.GROUP = saved
    assert got.digest == ref.object_digest(family, data, LEAF)


@settings(max_examples=25, deadline=None)
@given(
    family=families,
    object_sizes=st.lists(st.integers(0, 12 * LEAF), min_size=1, max_size=7),
    at_once=st.integers(1, 3),
)
def test_large_objects_finished_together_equal_reference(
    family: str, object_sizes: list[int], at_once: int
) -> None:
    """Objects of many windows, finished a few at a time (a tiny _FINISH_AT_ONCE) with window
    groups of two (GROUP), interleaved with small objects."""
    import gpuhash.engine as engine

    datas = [pattern(n, 17 + i) for i, n in enumerate(object_sizes)]
    saved = engine._FINISH_AT_ONCE, engine._ObjectState.GROUP
    engine._FINISH_AT_ONCE, engine._ObjectState.GROUP = at_once, 2
    try:
        srcs = [memory_source(f"o{i}", ref.KIND_FILE, d) for i, d in enumerate(datas)]
        got = hash_sources(ReferenceBackend(), Algorithm(family, LEAF), srcs, batch_bytes=LEAF)
    finally:
        engine._FINISH_AT_ONCE, engine._ObjectState.GROUP = saved
    assert [o.digest for o in got] == expected(family, datas)


def test_packed_batches_stay_small_when_the_batch_is_large(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU's batch can be many GiB; small objects packed together (in host memory, a few
    batches at once) stay within MAX_PACKED all the same, and hash to the same digests."""
    import gpuhash.engine as engine

    monkeypatch.setattr(engine, "MAX_PACKED", 8 * LEAF)
    sizes_seen: list[int] = []

    class Recording(CpuBackend):
        def hash_subtrees(
            self,
            algorithm: Algorithm,
            data: Buffer,
            table: LeafTable,
            counts: Sequence[int],
            whole: Sequence[bool],
        ) -> bytes:
            sizes_seen.append(len(memoryview(data)))
            return super().hash_subtrees(algorithm, data, table, counts, whole)

    datas = [pattern(3 * LEAF + i, i) for i in range(10)]
    srcs = [memory_source(f"o{i}", ref.KIND_FILE, d) for i, d in enumerate(datas)]
    got = hash_sources(Recording(), Algorithm("merkle-sha256", LEAF), srcs, batch_bytes=1 << 30)
    assert [o.digest for o in got] == expected("merkle-sha256", datas)
    assert max(sizes_seen) <= 8 * LEAF
    assert len(sizes_seen) == 5  # two objects of 3 KiB and a bit per packed batch


def test_a_heavy_tree_gets_less_data_per_batch() -> None:
    """A backend's batch_bytes is sized for the tree of the default leaf; LtHash with 1 KiB
    leaves holds about 4 bytes of values per data byte, so its windows (and packed batches) get
    a fifth of the data, where SHA-256 with the default leaf keeps the whole batch. A caller's
    own batch_bytes is kept as given (range values are taken per window)."""
    from dataclasses import replace

    from gpuhash.backend import Capabilities
    from gpuhash.geometry import VALUE_OVERHEAD, tree_overhead

    batch = 2 << 20
    seen: list[tuple[int, int]] = []

    class Recording(CpuBackend):
        def capabilities(self) -> Capabilities:
            return replace(super().capabilities(), batch_bytes=batch)

        def hash_subtrees(
            self,
            algorithm: Algorithm,
            data: Buffer,
            table: LeafTable,
            counts: Sequence[int],
            whole: Sequence[bool],
        ) -> bytes:
            values = super().hash_subtrees(algorithm, data, table, counts, whole)
            seen.append((len(memoryview(data)), len(table)))
            return values

    lattice = Algorithm(ref.LTHASH, LEAF)
    datas = [pattern(3 << 19, 1), pattern(5 * LEAF + 3, 2), pattern(7 * LEAF, 3)]
    srcs = [memory_source(f"o{i}", ref.KIND_FILE, d) for i, d in enumerate(datas)]
    got = hash_sources(Recording(), lattice, srcs)
    assert [o.digest for o in got] == expected(ref.LTHASH, datas)
    most = max(size for size, _ in seen)
    assert most == 256 << 10  # the largest 2^j KiB within 2 MiB * (1 + 1/16) / (1 + 4.02)
    budget = batch * (1 + VALUE_OVERHEAD)
    for size, leaves in seen:  # data and every value of its tree within the planned budget
        assert size + (2 * leaves - 1) * 2048 + leaves * 25 <= budget
    assert most * (1 + tree_overhead(2048, LEAF)) <= budget < 2 * most * (1 + 4)

    seen.clear()
    hash_sources(Recording(), Algorithm("merkle-sha256", 64 << 10), srcs[:1])
    assert [size for size, _ in seen] == [3 << 19]  # one window: the whole 2 MiB batch allowed
    seen.clear()
    hash_sources(Recording(), lattice, srcs[:1], batch_bytes=1 << 20)
    assert [size for size, _ in seen] == [1 << 20, 1 << 19]
