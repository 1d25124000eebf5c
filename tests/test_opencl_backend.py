"""The ``opencl`` backend (backends/opencl) on every OpenCL device here, against the reference.

Both CPU runtimes from requirements-dev.txt run in CI: PoCL and Intel's CPU runtime (made
visible by the backend itself). Work-group sizes vary, since correctness must not depend on them.
"""

from __future__ import annotations

from pathlib import Path

import cl_devices
import gpuhash_opencl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuhash
from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES, Algorithm
from gpuhash.digests import finish_object
from gpuhash.engine import hash_sources, window_bytes
from gpuhash.errors import UsageError
from gpuhash.geometry import data_bytes
from gpuhash.sources import memory_source

DEVICES = [label for _, _, label, _ in gpuhash_opencl.list_devices()]
LEAF = 1024


def test_both_cpu_runtimes_are_here() -> None:
    """CI installs PoCL and Intel's CPU runtime; the backend must see both without help."""
    assert any(d.startswith("Portable Computing Language") for d in DEVICES), DEVICES
    assert any(d.startswith("Intel(R) OpenCL") for d in DEVICES), DEVICES


@pytest.fixture(scope="module", params=[cl_devices.param(d, id=d) for d in DEVICES])
def backend(request: pytest.FixtureRequest) -> gpuhash_opencl.OpenCLBackend:
    return gpuhash_opencl.OpenCLBackend(device=request.param)


def pattern(n: int, seed: int) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(n))


sizes = st.one_of(
    st.integers(0, 3 * LEAF),
    st.sampled_from([k * LEAF + d for k in (1, 2, 3, 4, 5, 8, 9, 16, 17) for d in (-1, 0, 1)]),
)


@settings(max_examples=25, deadline=None)
@given(
    family=st.sampled_from(FAMILIES),
    object_sizes=st.lists(sizes, min_size=1, max_size=5),
    batch=st.sampled_from([LEAF, 3 * LEAF, 8 * LEAF, 1 << 20]),
    seed=st.integers(0, 250),
)
def test_objects_equal_reference(
    backend: gpuhash_opencl.OpenCLBackend,
    family: str,
    object_sizes: list[int],
    batch: int,
    seed: int,
) -> None:
    datas = [pattern(n, seed + i) for i, n in enumerate(object_sizes)]
    srcs = [memory_source(f"o{i}", 1, d) for i, d in enumerate(datas)]
    got = hash_sources(backend, Algorithm(family, LEAF), srcs, batch_bytes=batch)
    assert [o.digest for o in got] == [ref.object_digest(family, d, LEAF) for d in datas]


@pytest.mark.parametrize("local_size", [1, 7, 64])
@pytest.mark.parametrize("device", [cl_devices.param(d, id=d) for d in DEVICES])
def test_work_group_size_does_not_matter(device: str, local_size: int) -> None:
    backend = gpuhash_opencl.OpenCLBackend(device=device, local_size=local_size)
    datas = [pattern(n, 5) for n in (0, 1, LEAF - 1, 5 * LEAF + 3, 33 * LEAF)]
    for family in FAMILIES:
        srcs = [memory_source(f"o{i}", 1, d) for i, d in enumerate(datas)]
        got = hash_sources(backend, Algorithm(family, LEAF), srcs, batch_bytes=8 * LEAF)
        assert [o.digest for o in got] == [ref.object_digest(family, d, LEAF) for d in datas]


def test_model_directory_equals_reference(
    backend: gpuhash_opencl.OpenCLBackend, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "w.bin").write_bytes(pattern(3 << 20, 1))
    (tmp_path / "config.json").write_bytes(b'{"a": 1}')
    (tmp_path / "empty").write_bytes(b"")
    for family in ("merkle-sha256", "lthash16-shake256"):
        m = gpuhash.hash_path(tmp_path, algorithm=family, leaf_size=4096, backend=backend)
        _, want = ref.hash_model(str(tmp_path), m.algorithm.id)
        assert m.artifact_digest == want


def test_large_blake3_equals_blake3_package(backend: gpuhash_opencl.OpenCLBackend) -> None:
    import blake3

    data = pattern(5 << 20, 2) + b"tail"
    digest = gpuhash.hash_bytes(data, algorithm="blake3", leaf_size=1 << 16, backend=backend)
    assert digest == blake3.blake3(data).digest()


def test_registered_and_listed() -> None:
    info = {i.name: i for i in gpuhash.available_backends()}["opencl"]
    assert info.available
    assert info.origin == "gpuhash-opencl"
    assert info.devices
    assert info.devices[0] in DEVICES


def test_device_by_index_and_by_name() -> None:
    by_index = gpuhash_opencl.OpenCLBackend(device="0:0")
    by_name = gpuhash_opencl.OpenCLBackend(device=by_index.label.split(" / ")[0].lower())
    assert by_index.label == by_name.label


def test_unknown_device_names_the_devices() -> None:
    with pytest.raises(UsageError, match=r"no OpenCL device matches .no-such-gpu.*0:0"):
        gpuhash_opencl.OpenCLBackend(device="no-such-gpu")


def test_device_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUHASH_OPENCL_DEVICE", "portable")
    assert gpuhash.get_backend("opencl").capabilities().devices[0].startswith("Portable")


@pytest.mark.parametrize("family", FAMILIES)
def test_device_array_hashed_in_place(backend: gpuhash_opencl.OpenCLBackend, family: str) -> None:
    """A pyopencl array (a slice of a larger one, at an odd offset) is hashed on the device."""
    import numpy as np
    import pyopencl.array as cl_array

    host = np.frombuffer(pattern(3 * LEAF + 777 + 13, 4), dtype=np.uint8)
    on_device = cl_array.to_device(backend.queue, host)
    part = on_device[13:]  # a view with a non-zero offset into the same device buffer
    digest = gpuhash.hash_bytes(part, algorithm=family, leaf_size=LEAF, backend=backend)
    assert digest == ref.object_digest(family, host[13:].tobytes(), LEAF)


def test_device_array_on_the_cpu_backend_is_refused(backend: gpuhash_opencl.OpenCLBackend) -> None:
    import numpy as np
    import pyopencl.array as cl_array

    on_device = cl_array.to_device(backend.queue, np.zeros(100, dtype=np.float32))
    with pytest.raises(gpuhash.BackendError, match="cannot hash device arrays"):
        gpuhash.hash_bytes(on_device, backend="cpu")


@pytest.mark.parametrize("device", [cl_devices.param(d, id=d) for d in DEVICES])
def test_staged_layout_equals_reference(device: str) -> None:
    """The GPU layout (cooperative loads through local memory), run here on the CPU runtimes,
    through the whole backend: leaves, the on-device tree, a device array at an odd offset."""
    import numpy as np
    import pyopencl.array as cl_array

    backend = gpuhash_opencl.OpenCLBackend(device=device, local_size=16, layout="staged")
    assert backend.layout == "staged"
    datas = [pattern(n, 9) for n in (0, 1, LEAF - 1, 5 * LEAF + 3, 33 * LEAF)]
    for family in FAMILIES:
        srcs = [memory_source(f"o{i}", 1, d) for i, d in enumerate(datas)]
        got = hash_sources(backend, Algorithm(family, LEAF), srcs, batch_bytes=8 * LEAF)
        assert [o.digest for o in got] == [ref.object_digest(family, d, LEAF) for d in datas]
    host = np.frombuffer(pattern(4 * LEAF + 5, 4), dtype=np.uint8)
    part = cl_array.to_device(backend.queue, host)[3:]
    digest = gpuhash.hash_bytes(part, algorithm="merkle-sha256", leaf_size=LEAF, backend=backend)
    assert digest == ref.object_digest("merkle-sha256", host[3:].tobytes(), LEAF)


def test_layout_defaults_to_direct_on_cpus_and_rejects_unknown_names() -> None:
    for device in DEVICES:  # every device here is a CPU
        assert gpuhash_opencl.OpenCLBackend(device=device).layout == "direct"
    with pytest.raises(UsageError, match="layout must be one of direct, staged"):
        gpuhash_opencl.OpenCLBackend(layout="interleaved")


groups = st.lists(st.tuples(st.integers(0, 9 * LEAF), st.booleans()), min_size=1, max_size=6).map(
    lambda gs: [(n, whole or n <= LEAF) for n, whole in gs]
)


@settings(max_examples=20, deadline=None)
@given(family=st.sampled_from(FAMILIES), groups=groups, seed=st.integers(0, 250))
def test_subtrees_on_the_device_equal_the_host_reduction(
    backend: gpuhash_opencl.OpenCLBackend, family: str, groups: list[tuple[int, bool]], seed: int
) -> None:
    """hash_subtrees (leaf kernel, one tree launch per level, gather) against the contract's
    default: the same backend's hash_leaves, reduced on the host by gpuhash.tree."""
    from array import array

    from gpuhash.backend import HashBackend, LeafTable

    alg = Algorithm(family, LEAF)
    data = bytearray()
    offsets, lengths, index, roots, counts, whole = (
        array("Q"),
        array("Q"),
        array("Q"),
        array("B"),
        [],
        [],
    )
    for g, (n, is_whole) in enumerate(groups):
        data += bytes((-len(data)) % LEAF)
        start = len(data)
        data += pattern(n, seed + g)
        k = ref.leaf_count(n, LEAF)
        for i in range(k):
            offsets.append(start + i * LEAF)
            lengths.append(min(LEAF, n - i * LEAF))
            index.append(i)
            roots.append(int(is_whole and k == 1))
        counts.append(k)
        whole.append(is_whole)
    table = LeafTable(offsets, lengths, index, roots)
    got = backend.hash_subtrees(alg, bytes(data), table, counts, whole)
    want = HashBackend.hash_subtrees(backend, alg, bytes(data), table, counts, whole)
    assert got == want
    for (n, is_whole), g in zip(groups, range(len(groups)), strict=True):
        if is_whole:  # a whole group's top finishes to the object digest
            top = got[g * alg.digest_size : (g + 1) * alg.digest_size]
            start = sum(-(-m // LEAF) * LEAF for m, _ in groups[:g])
            obj = bytes(data[start : start + n])
            assert finish_object(alg, top, n) == ref.object_digest(family, obj, LEAF)


@pytest.mark.parametrize("layout", ["direct", "staged"])
def test_device_buffer_path_for_devices_without_shared_memory(
    monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """The path a discrete GPU takes (host data copied into each slot's reusable device buffer,
    without blocking, two batches in flight), run on Intel's CPU runtime by turning off the
    zero-copy use of host memory. The layout comes from the environment here."""
    monkeypatch.setenv("GPUHASH_OPENCL_LAYOUT", layout)
    backend = gpuhash_opencl.OpenCLBackend(device="Intel")
    assert backend.layout == layout
    backend.shares_host_memory = False
    datas = [pattern(n, 3) for n in (0, 7, 2 * LEAF, 40 * LEAF + 1, 17 * LEAF)]
    for family in ("merkle-sha256", "blake3", "lthash16-shake256"):
        srcs = [memory_source(f"o{i}", 1, d) for i, d in enumerate(datas)]
        got = hash_sources(backend, Algorithm(family, LEAF), srcs, batch_bytes=4 * LEAF)
        assert [o.digest for o in got] == [ref.object_digest(family, d, LEAF) for d in datas]
    monkeypatch.setenv("GPUHASH_OPENCL_LAYOUT", "bogus")
    with pytest.raises(UsageError, match="GPUHASH_OPENCL_LAYOUT must be one of"):
        gpuhash_opencl.OpenCLBackend(device="Intel")


def test_kernel_build_failure_names_the_device_and_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real compiler rejects a program (one extra line of invalid source): the error names
    the device and the compiler's first error, and no digest comes out."""
    from gpuhash.kernels import source

    broken = source() + "\n__kernel void broken(void) { undeclared_x = 1; }\n"
    monkeypatch.setattr("gpuhash_opencl.source", lambda *names, **options: broken)
    backend = gpuhash_opencl.OpenCLBackend(device="Intel")
    with pytest.raises(gpuhash.BackendError) as info:
        gpuhash.hash_bytes(b"x" * 5000, algorithm="merkle-sha256", backend=backend)
    message = str(info.value)
    assert "\n" not in message
    assert "Intel(R) OpenCL" in message
    assert "failed to build" in message
    assert "undeclared_x" in message


@pytest.mark.parametrize("device", DEVICES)
def test_a_runtime_that_cannot_build_here_says_why(device: str) -> None:
    """A runtime whose compiler refuses even a trivial kernel on this machine (PoCL's LLVM on
    CPUs newer than it): the error names the compiler's own reason, not pyopencl's summary
    (BUILD_PROGRAM_FAILURE three times, which says nothing)."""
    reason = cl_devices.build_failure(device)
    if reason is None:
        pytest.skip(f"{device} builds here")
    backend = gpuhash_opencl.OpenCLBackend(device=device)
    with pytest.raises(gpuhash.BackendError) as info:
        gpuhash.hash_bytes(b"x" * 5000, algorithm="merkle-sha256", backend=backend)
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith(f"the kernels failed to build: {reason}")


def test_allocation_beyond_the_device_limit_is_a_clear_error() -> None:
    """A batch larger than the device's largest buffer, on the copying (discrete GPU) path: the
    runtime refuses the allocation, and the error names the device and the cause."""
    import mmap

    from gpuhash.backend import LeafTable

    backend = gpuhash_opencl.OpenCLBackend(device="Intel")
    backend.shares_host_memory = False
    too_big = int(backend.device.max_mem_alloc_size) + 4096
    huge = mmap.mmap(-1, too_big)  # reserved address space, never touched
    try:
        from array import array

        table = LeafTable(array("Q", [0]), array("Q", [LEAF]), array("Q", [0]), array("B", [0]))
        with pytest.raises(gpuhash.BackendError, match=r"^opencl device Intel\(R\) OpenCL.*: "):
            backend.hash_subtrees(Algorithm("merkle-sha256", LEAF), huge, table, [1], [False])
    finally:
        huge.close()


class _ReadsFiles(gpuhash_opencl.OpenCLBackend):
    """The OpenCL backend with the engine's direct-read hook (what the cuda backend does with
    kvikio): each file window is read by the backend into a device array of its own."""

    def __init__(self, short: bool = False, wrong_size: bool = False) -> None:
        super().__init__(device="Intel")
        self.short, self.wrong_size = short, wrong_size
        self.reads: list[tuple[int, int]] = []

    def capabilities(self) -> gpuhash.Capabilities:
        import dataclasses

        return dataclasses.replace(super().capabilities(), batch_bytes=1 << 20, file_reads=True)

    def read_file(self, fd: int, offset: int, length: int) -> object:
        import os

        import numpy as np
        import pyopencl.array as cl_array

        self.reads.append((offset, length))
        data = os.pread(fd, length, offset)[: length - 1 if self.short else length]
        if len(data) != length:
            raise OSError(f"read {len(data)} of {length} bytes")
        host = np.frombuffer(data + (b"\0" if self.wrong_size else b""), dtype=np.uint8)
        return cl_array.to_device(self._node_queue, host)


def test_backend_file_reads_hook(tmp_path: Path) -> None:
    """A backend that reads file windows into device memory itself: every window of every file
    goes through ``read_file``, the digests equal the reference, and a failed read or a
    wrong-sized array is an error, not a digest."""
    (tmp_path / "big.bin").write_bytes(pattern((3 << 20) + 123, 5))
    (tmp_path / "mid.bin").write_bytes(pattern((1 << 20) + 1, 6))
    (tmp_path / "small").write_bytes(b"tiny")
    backend = _ReadsFiles()
    m = gpuhash.hash_path(tmp_path, algorithm="merkle-sha256", leaf_size=LEAF, backend=backend)
    _, want = ref.hash_model(str(tmp_path), m.algorithm.id)
    assert m.artifact_digest == want
    # Windows of the data a 1 MiB batch holds beside this algorithm's tree (geometry.data_bytes),
    # a power-of-two multiple of the leaf (512 KiB here: 1 KiB leaves' tree takes a little more).
    window = window_bytes(m.algorithm, data_bytes(m.algorithm, 1 << 20))

    def windows(size: int) -> list[tuple[int, int]]:
        return [(s, min(window, size - s)) for s in range(0, size, window)]

    # The small file is a batch of its own (nothing to pack it with): read by the backend too.
    expected = [*windows((3 << 20) + 123), *windows((1 << 20) + 1), (0, 4)]
    assert sorted(backend.reads) == sorted(expected)
    # Tensor objects are byte ranges of their files: read_file gets the offset in the file.
    import numpy as np
    from safetensors.numpy import save_file

    tensors = tmp_path / "tensors"
    tensors.mkdir()
    save_file(
        {"a": np.arange(300_000, dtype=np.float32), "b": np.ones(5, np.int8)},
        str(tensors / "m.safetensors"),
    )
    backend = _ReadsFiles()
    m = gpuhash.hash_path(tensors, objects="tensors", leaf_size=LEAF, backend=backend)
    _, want = ref.hash_model(str(tensors), m.algorithm.id, tensors=True)
    assert m.artifact_digest == want
    assert any(offset % 4096 for offset, _ in backend.reads)  # tensor windows start mid-page
    with pytest.raises(gpuhash.InputError, match=r"^big\.bin: cannot read: read \d+ of \d+ bytes$"):
        gpuhash.hash_path(tmp_path, backend=_ReadsFiles(short=True))
    with pytest.raises(gpuhash.BackendError, match="read_file returned no device array of"):
        gpuhash.hash_path(tmp_path, backend=_ReadsFiles(wrong_size=True))
