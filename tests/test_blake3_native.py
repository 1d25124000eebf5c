"""gpuhash._blake3cv (BLAKE3 chaining values in C) against the blake3 package, the pure-Python
reference and the numpy lanes, on every kernel this CPU runs; and gpuhash.blake3_cvs, which picks
the extension or falls back to numpy."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import tracemalloc
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import blake3
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gpuhash
from gpuhash import blake3_cvs, blake3_lanes
from gpuhash import reference as ref
from gpuhash.algorithms import resolve_algorithm
from gpuhash.backend import LeafTable
from gpuhash.backends.cpu import CpuBackend
from gpuhash.errors import BackendUnavailable, UsageError

native: Any = pytest.importorskip("gpuhash._blake3cv", reason="the C extension is not built")

DATA = bytes(np.random.default_rng(7).integers(0, 256, 1 << 20, dtype=np.uint8))
BOUNDARIES = (0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097)
ALL_KERNELS = ("avx512f", "avx2", "portable")


@pytest.fixture(params=ALL_KERNELS)
def kernel(request: pytest.FixtureRequest) -> Iterator[str]:
    name: str = request.param
    if name not in native.kernels():
        pytest.skip(f"this CPU has no {name}")
    before = native.kernel()
    native.set_kernel(name)
    yield name
    native.set_kernel(before)


def _fold(values: Sequence[bytes], root: bool) -> bytes:
    """BLAKE3's left-balanced tree over chunk-group values, with the extension's parents."""
    if len(values) == 1:
        return values[0]
    split = ref.largest_power_of_two_below(len(values))
    left, right = _fold(values[:split], False), _fold(values[split:], False)
    return bytes(native.parent_cvs(left + right, [root]))


def _leaves(
    data: bytes, leaf_size: int, leaf_cvs: Callable[..., bytes] | None = None
) -> list[bytes]:
    n = max(1, -(-len(data) // leaf_size))
    offsets = [i * leaf_size for i in range(n)]
    lengths = [min(leaf_size, len(data) - o) for o in offsets]
    firsts = [i * (leaf_size // 1024) for i in range(n)]
    out = (leaf_cvs or native.leaf_cvs)(data, offsets, lengths, firsts, [n == 1] * n)
    return [out[32 * i : 32 * (i + 1)] for i in range(n)]


def test_the_kernels_are_listed_fastest_first_and_one_is_in_use() -> None:
    names = native.kernels()
    assert names[-1] == "portable"
    assert set(names) <= set(ALL_KERNELS)
    assert native.kernel() == names[0]
    with pytest.raises(ValueError, match="no kernel 'sse9'"):
        native.set_kernel("sse9")


def test_whole_inputs_at_every_boundary_equal_the_blake3_package(kernel: str) -> None:
    sizes = [*BOUNDARIES, 16 * 1024, 16 * 1024 + 1, 17 * 1024 + 5, 100_000]
    offsets = [3 + (n % 7) for n in sizes]  # odd offsets: no alignment is assumed
    # One call for all (lanes filled with chunks of different inputs and lengths), then each
    # input alone.
    got = native.leaf_cvs(DATA, offsets, sizes, [0] * len(sizes), [1] * len(sizes))
    for k, (o, n) in enumerate(zip(offsets, sizes, strict=True)):
        want = blake3.blake3(DATA[o : o + n]).digest()
        assert got[32 * k : 32 * (k + 1)] == want, n
        assert native.leaf_cvs(DATA, [o], [n], [0], [1]) == want, n


@pytest.mark.parametrize("leaf_size", [1024, 2048, 4096, 65536, 1 << 20, 1 << 24])
def test_leaf_values_fold_to_the_blake3_package_digest(kernel: str, leaf_size: int) -> None:
    # Non-root chunk-group values of 1 KiB .. 16 MiB, a partial last leaf; folded with
    # parent_cvs they give the standard BLAKE3 hash of the whole input.
    size = (1 << 24) + 1000 if leaf_size >= 1 << 20 else 5 * leaf_size + 777
    data = bytes(np.random.default_rng(leaf_size).integers(0, 256, size, dtype=np.uint8))
    values = _leaves(data, leaf_size)
    assert len(values) > 1
    assert _fold(values, True) == blake3.blake3(data).digest()


def test_leaves_longer_than_a_segment_are_hashed_in_pieces(kernel: str) -> None:
    # Leaves of more than 16 MiB (the extension's scratch: 16384 chunks) are hashed 16 MiB
    # at a time, the pieces then combined: a whole input, and a non-root subtree whose value
    # must be the parent of its two halves' values.
    data = bytes(np.random.default_rng(3).integers(0, 256, (2 << 24) + 1025, dtype=np.uint8))
    n = len(data)
    assert native.leaf_cvs(data, [0], [n], [0], [1]) == blake3.blake3(data).digest()
    first = (1 << 32) - (1 << 14)  # the pieces' counters cross 2^32
    whole = native.leaf_cvs(data, [0], [n], [first], [0])
    left = native.leaf_cvs(data, [0], [2 << 24], [first], [0])  # 2^15 chunks: a subtree
    right = native.leaf_cvs(data, [2 << 24], [1025], [first + (1 << 15)], [0])
    assert whole == native.parent_cvs(left + right, [0])
    # The same 32 MiB from counter 0, against 32 leaves of 1 MiB folded in Python.
    at_zero = native.leaf_cvs(data, [0], [2 << 24], [0], [0])
    assert at_zero == _fold(_leaves(data[: 2 << 24], 1 << 20), False)


def test_scratch_memory_is_bounded_whatever_the_leaf_size() -> None:
    # 2 x 16384 chaining values of scratch (1 MiB) and one value per 16 MiB piece, not 64 bytes
    # per chunk of the call (4 MiB here, 64 MiB for a 1 GiB leaf).
    data = bytes(64 << 20)
    rows: list[object] = [array("Q", range(0, len(data), 1024)), array("Q", [1024] * 65536)]
    rows += [array("Q", range(65536)), bytes(65536)]
    tracemalloc.start()
    try:
        native.leaf_cvs(data, [0], [len(data)], [0], [0])
        one_leaf = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        native.leaf_cvs(data, *rows)
        many = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert one_leaf < (1 << 20) + (64 << 10), one_leaf
    # 65536 leaves: offsets, lengths, counters, chunk counts (8 bytes each), roots and the
    # result (33 bytes) a row come on top.
    assert many < (1 << 20) + 65536 * (4 * 8 + 33) + (64 << 10), many


def test_leaves_equal_the_reference_with_counters_past_2_32(kernel: str) -> None:
    rows = []  # (offset, length, first chunk, root)
    for n in BOUNDARIES:
        for first in (0, 1, 7, (1 << 32) - 1, 1 << 32, (1 << 32) + 3, (1 << 40) + 5):
            for root in (False, True):
                if (root and first) or (n == 0 and not root):
                    continue
                rows.append((5 + n % 3, n, first, root))
    rows.append((0, 4096, (1 << 64) - 4, False))  # the last counters there are
    got = native.leaf_cvs(
        DATA, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )
    for k, (o, n, first, root) in enumerate(rows):
        want = ref.blake3_subtree_cv(DATA[o : o + n], first, root=root)
        assert got[32 * k : 32 * (k + 1)] == want, (o, n, first, root)


def test_large_leaves_equal_the_numpy_lanes() -> None:
    # The reference is too slow for 64 KiB leaves; the lanes are tested against it.
    offsets = [0, 1, 65536, 3 * 65536 + 5]
    lengths = [65536, 65535, 65536, 40_000]
    firsts = [0, 64, (1 << 32) - 10, 1 << 33]
    roots = [0, 0, 0, 0]
    want = blake3_lanes.leaf_cvs(DATA, offsets, lengths, firsts, roots)
    for name in native.kernels():
        native.set_kernel(name)
        assert native.leaf_cvs(DATA, offsets, lengths, firsts, roots) == want, name
    native.set_kernel(native.kernels()[0])


@pytest.mark.parametrize("m", [1, 15, 16, 17, 33, 300])
def test_parents_equal_the_reference(kernel: str, m: int) -> None:
    children = DATA[: 64 * m]
    roots = bytes(i % 3 == 0 for i in range(m))
    got = native.parent_cvs(children, roots)
    for i in range(m):
        left, right = children[64 * i : 64 * i + 32], children[64 * i + 32 : 64 * i + 64]
        want = ref.blake3_parent_cv(left, right, root=bool(roots[i]))
        assert got[32 * i : 32 * (i + 1)] == want, i
    assert native.parent_cvs(b"", b"") == b""


def test_offsets_lengths_and_flags_in_every_form_agree() -> None:
    offsets, lengths, firsts, roots = [0, 2000, 9], [1500, 1024, 0], [0, 5, 0], [0, 0, 1]
    want = native.leaf_cvs(DATA, offsets, lengths, firsts, roots)
    forms: list[Callable[[list[int]], object]] = [
        lambda x: array("Q", x),
        lambda x: memoryview(array("Q", [99, *x]))[1:],
        lambda x: np.array(x, dtype=np.uint64),
        lambda x: np.array(x, dtype=np.int64),
        lambda x: np.array(x, dtype=np.uint32),
        lambda x: np.array(x, dtype=np.int64)[::-1][::-1],  # a view
        lambda x: np.repeat(np.array(x, dtype=np.uint64), 2)[::2],  # strided
        lambda x: tuple(np.uint64(v) for v in x),
    ]
    for form in forms:
        assert native.leaf_cvs(DATA, form(offsets), form(lengths), form(firsts), roots) == want
    for flags in (bytes(roots), array("B", roots), np.array(roots, dtype=bool), [False, 0, True]):
        assert native.leaf_cvs(DATA, offsets, lengths, firsts, flags) == want


def test_data_buffers_of_every_kind_and_alignment_agree() -> None:
    want = blake3.blake3(DATA[1 : 1 + 5000]).digest()
    for data in (
        DATA,
        bytearray(DATA),
        memoryview(DATA),
        np.frombuffer(DATA, dtype=np.uint8),
        np.frombuffer(DATA, dtype=np.uint32).reshape(-1, 16),  # C-contiguous, 2-D: its bytes
    ):
        assert native.leaf_cvs(data, [1], [5000], [0], [1]) == want
    assert native.leaf_cvs(memoryview(DATA)[1:], [0], [5000], [0], [1]) == want


def test_non_contiguous_buffers_are_refused() -> None:
    with pytest.raises(BufferError):
        native.leaf_cvs(memoryview(DATA)[::2], [0], [10], [0], [1])
    with pytest.raises((BufferError, ValueError)):
        native.leaf_cvs(np.frombuffer(DATA, dtype=np.uint8)[::2], [0], [10], [0], [1])
    with pytest.raises(BufferError):
        native.parent_cvs(memoryview(DATA[:128])[::2], [0])


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (([0, 1], [1], [0], [0]), ValueError, "differ in length"),
        (([0], [len(DATA) + 1], [0], [0]), ValueError, "outside the buffer"),
        (([len(DATA)], [1], [0], [0]), ValueError, "outside the buffer"),
        (([1 << 63], [1 << 63], [0], [0]), ValueError, "outside the buffer"),
        (([-1], [1], [0], [0]), ValueError, r"offsets\[0\] is not in 0..2\*\*64-1"),
        ((np.array([-1]), [1], [0], [0]), ValueError, r"offsets\[0\] is negative"),
        (([0], [1], [1 << 64], [0]), ValueError, r"first_chunks\[0\] is not in"),
        (([0], [2048], [(1 << 64) - 1], [0]), ValueError, "chunk counters past 2"),
        (([0.5], [1], [0], [0]), TypeError, r"offsets\[0\] must be an integer, not float"),
        ((5, [1], [0], [0]), TypeError, "offsets must be a sequence"),
        (([0], [1], [0], 1), TypeError, "roots must be a sequence"),
    ],
)
def test_bad_tables_are_refused_in_one_line(
    args: tuple[Any, ...], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        native.leaf_cvs(DATA, *args)


def test_bad_parent_input_is_refused() -> None:
    with pytest.raises(ValueError, match="64 bytes a pair"):
        native.parent_cvs(DATA[:100], [0])
    with pytest.raises(ValueError, match="64 bytes a pair"):
        native.parent_cvs(DATA[:128], [0])
    with pytest.raises(TypeError):
        native.leaf_cvs(DATA, [0], [1], [0])


def test_threads_hash_at_the_same_time() -> None:
    # The GIL is released while hashing: several threads, each its own rows, same results.
    data = DATA * 8
    offsets = list(range(0, len(data), 65536))
    args = (offsets, [65536] * len(offsets), [i * 64 for i in range(len(offsets))], [0] * 128)
    want = native.leaf_cvs(data, *args)
    got: list[bytes] = []

    def work() -> None:
        got.append(native.leaf_cvs(data, *args))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want] * 4


@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3000),  # offset
            st.integers(0, 9000),  # length
            st.integers(0, (1 << 40)),  # first chunk
            st.booleans(),  # root
        ),
        min_size=1,
        max_size=40,
    )
)
def test_any_table_equals_the_numpy_lanes(rows: list[tuple[int, int, int, bool]]) -> None:
    # An empty leaf is a whole (empty) input: the reference refuses any other empty subtree.
    rows = [(o, n, first, root) if n else (o, 0, 0, True) for o, n, first, root in rows]
    offsets, lengths, firsts, roots = (list(c) for c in zip(*rows, strict=True))
    got = native.leaf_cvs(DATA, offsets, lengths, firsts, roots)
    assert got == blake3_lanes.leaf_cvs(DATA, offsets, lengths, firsts, roots)
    for k, (o, n, first, root) in enumerate(rows):
        if root and first == 0:
            assert got[32 * k : 32 * (k + 1)] == blake3.blake3(DATA[o : o + n]).digest()


# -- gpuhash.blake3_cvs: native first, numpy as the fallback ---------------------------------


def test_the_native_implementation_is_chosen_where_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(blake3_cvs.NATIVE_ENV, raising=False)
    impl = blake3_cvs.implementation()
    assert impl.name == "native"
    assert impl.detail == f"C, {native.kernels()[0]} kernel"
    assert impl.leaf_cvs is native.leaf_cvs
    devices = CpuBackend().capabilities().devices
    assert devices[0].endswith(f"BLAKE3 chaining values: C, {native.kernels()[0]} kernel")
    monkeypatch.setenv(blake3_cvs.NATIVE_ENV, "1")
    assert blake3_cvs.implementation().name == "native"


def test_the_environment_forces_the_numpy_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(blake3_cvs.NATIVE_ENV, "0")
    impl = blake3_cvs.implementation()
    assert impl.name == "numpy"
    assert impl.detail == "numpy lanes (GPUHASH_BLAKE3_NATIVE=0)"
    table = ([0, 3000, 7], [3000, 1024, 0], [0, 1 << 33, 0], [0, 0, 1])
    assert impl.leaf_cvs(DATA, *table) == native.leaf_cvs(DATA, *table)
    assert blake3_cvs.leaf_cvs(DATA, *table) == native.leaf_cvs(DATA, *table)
    roots = bytes([0, 1, 0])
    assert impl.parent_cvs(DATA[:192], roots) == native.parent_cvs(DATA[:192], roots)
    assert blake3_cvs.parent_cvs(DATA[:192], roots) == native.parent_cvs(DATA[:192], roots)
    backend = CpuBackend()
    assert backend.blake3.name == "numpy"
    assert "numpy lanes" in backend.capabilities().devices[0]
    data = DATA[: 300_000 + 17]
    nodes = gpuhash.prove(data, 100, 3, algorithm="blake3", leaf_size=1024, backend=backend)
    monkeypatch.setenv(blake3_cvs.NATIVE_ENV, "")
    assert gpuhash.prove(data, 100, 3, algorithm="blake3", leaf_size=1024, backend="cpu") == nodes
    leaves = [data[i * 1024 : (i + 1) * 1024] for i in range(100, 103)]
    digest = blake3.blake3(data).digest()
    assert gpuhash.verify_proof(
        leaves, 100, nodes, size=len(data), digest=digest, algorithm="blake3", leaf_size=1024
    )


@pytest.mark.parametrize("setting", ["1", "0"])
def test_cpu_backend_leaf_values_equal_the_reference_either_way(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    # Small tables too (a call of one or two chunks takes the numpy module's scalar path),
    # with leaf indices past 2^32 and a root leaf; and parents through hash_nodes.
    monkeypatch.setenv(blake3_cvs.NATIVE_ENV, setting)
    backend = CpuBackend(threads=2)
    assert backend.blake3.name == ("native" if setting == "1" else "numpy")
    for leaf_size, rows in (
        (1024, [(0, 1024, 1 << 32, 0)]),
        (4096, [(5, 4096, 3, 0), (9000, 1500, (1 << 32) + 1, 0)]),
        (2048, [(0, 2000, 0, 1)]),
    ):
        alg = resolve_algorithm("blake3", leaf_size)
        table = LeafTable(
            array("Q", [r[0] for r in rows]),
            array("Q", [r[1] for r in rows]),
            array("Q", [r[2] for r in rows]),
            array("B", [r[3] for r in rows]),
        )
        got = backend.hash_leaves(alg, DATA, table)
        want = b"".join(
            ref.leaf_value(ref.BLAKE3, DATA[o : o + n], i, leaf_size, bool(root))
            for o, n, i, root in rows
        )
        assert got == want, leaf_size
        roots = bytes([1, 0])
        nodes = backend.hash_nodes(alg, DATA[:128], roots)
        assert nodes == native.parent_cvs(DATA[:128], roots)
    backend.close()


def test_a_bad_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(blake3_cvs.NATIVE_ENV, "yes")
    with pytest.raises(UsageError, match="GPUHASH_BLAKE3_NATIVE must be 0 or 1, not 'yes'"):
        blake3_cvs.implementation()


_WITHOUT_EXTENSION = """
import sys
sys.modules["gpuhash._blake3cv"] = None  # as if it had not been built
from gpuhash import blake3_cvs, cli
impl = blake3_cvs.implementation()
print(impl.name, "|", impl.detail)
data = bytes(range(256)) * 40
import blake3
print(impl.leaf_cvs(data, [0], [len(data)], [0], [1]) == blake3.blake3(data).digest())
try:
    blake3_cvs.implementation(True)
except Exception as e:
    print(type(e).__name__, "|", e)
cli.main(["backends"])
"""


def test_without_the_extension_numpy_is_used_and_said(tmp_path: Any) -> None:
    env = {**os.environ, blake3_cvs.NATIVE_ENV: ""}
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTENSION],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert out[0].startswith("numpy | numpy lanes (gpuhash._blake3cv is not built: ")
    assert out[1] == "True"
    assert out[2].startswith(
        "BackendUnavailable | GPUHASH_BLAKE3_NATIVE=1, but the C extension gpuhash._blake3cv "
        "is not built"
    )
    cpu = next(line for line in out[3:] if line.startswith("cpu "))
    assert "BLAKE3 chaining values: numpy lanes (gpuhash._blake3cv is not built" in cpu
    assert BackendUnavailable.__name__ in out[2]
