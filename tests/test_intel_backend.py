"""The ``intel`` backend (backends/intel, dpctl/SYCL) on Intel's CPU OpenCL runtime, against the
reference.

CI installs dpctl and Intel's CPU runtime from PyPI, so everything here runs on a real SYCL
device (``opencl:cpu``); the backend finds the runtime by itself. dpctl keeps no binary cache,
so each backend object builds a family's program on first use: the tests share backends.
"""

from __future__ import annotations

import os
from typing import Any

import gpuhash_intel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuhash
from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES, Algorithm
from gpuhash.engine import hash_sources
from gpuhash.errors import BackendError, UsageError
from gpuhash.sources import memory_source

LEAF = 1024


@pytest.fixture(scope="module")
def backend() -> gpuhash_intel.IntelBackend:
    return gpuhash_intel.IntelBackend(device="opencl:cpu")


def pattern(n: int, seed: int) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(n))


def test_the_cpu_runtime_is_a_sycl_device_without_help() -> None:
    """No environment variable set: the backend makes the PyPI runtime visible itself."""
    assert "OCL_ICD_FILENAMES" not in os.environ
    assert any(d.startswith("opencl:cpu") for d in gpuhash_intel.list_devices())


def test_registered_and_listed(backend: gpuhash_intel.IntelBackend) -> None:
    info = {i.name: i for i in gpuhash.available_backends()}["intel"]
    assert info.available
    assert info.origin == "gpuhash-intel"
    assert info.devices[0].startswith("opencl:cpu")
    assert backend.layout == "direct"


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
    backend: gpuhash_intel.IntelBackend,
    family: str,
    object_sizes: list[int],
    batch: int,
    seed: int,
) -> None:
    datas = [pattern(n, seed + i) for i, n in enumerate(object_sizes)]
    srcs = [memory_source(f"o{i}", 1, d) for i, d in enumerate(datas)]
    got = hash_sources(backend, Algorithm(family, LEAF), srcs, batch_bytes=batch)
    assert [o.digest for o in got] == [ref.object_digest(family, d, LEAF) for d in datas]


def test_staged_layout_and_work_group_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU layout through SYCL local accessors, at a work-group size of 16 (from the
    environment), on two families (each family is a program build)."""
    monkeypatch.setenv("GPUHASH_INTEL_LAYOUT", "staged")
    staged = gpuhash_intel.IntelBackend(device="opencl:cpu", local_size=16)
    assert staged.layout == "staged"
    datas = [pattern(n, 2) for n in (0, 1, LEAF - 1, 5 * LEAF + 3, 33 * LEAF)]
    for family in ("merkle-sha256", "blake3"):
        srcs = [memory_source(f"o{i}", 1, d) for i, d in enumerate(datas)]
        got = hash_sources(staged, Algorithm(family, LEAF), srcs, batch_bytes=8 * LEAF)
        assert [o.digest for o in got] == [ref.object_digest(family, d, LEAF) for d in datas]
    monkeypatch.setenv("GPUHASH_INTEL_LAYOUT", "rows")
    with pytest.raises(UsageError, match="GPUHASH_INTEL_LAYOUT must be one of direct, staged"):
        gpuhash_intel.IntelBackend(device="opencl:cpu")


def test_model_directory_equals_reference_and_the_opencl_backend(
    backend: gpuhash_intel.IntelBackend, tmp_path: Any
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "w.bin").write_bytes(pattern(3 << 20, 1))
    (tmp_path / "config.json").write_bytes(b'{"a": 1}')
    (tmp_path / "empty").write_bytes(b"")
    m = gpuhash.hash_path(tmp_path, algorithm="merkle-sha256", leaf_size=4096, backend=backend)
    _, want = ref.hash_model(str(tmp_path), m.algorithm.id)
    assert m.artifact_digest == want
    opencl = gpuhash.get_backend("opencl", device="Intel")
    other = gpuhash.hash_path(tmp_path, algorithm="merkle-sha256", leaf_size=4096, backend=opencl)
    assert other.artifact_digest == m.artifact_digest


@pytest.mark.parametrize("in_place", [True, False])
def test_host_data_read_in_place_or_copied(tmp_path: Any, in_place: bool) -> None:
    """On Intel's CPU runtime (a device with system USM allocations) the leaf kernel reads
    memory-mapped windows and packed batches in place: no slot ever holds a data buffer. The
    copying path, which every other device takes, gives the same digests."""
    backend = gpuhash_intel.IntelBackend(device="opencl:cpu")
    assert backend.shares_host_memory  # the CPU runtime has the aspect
    backend.shares_host_memory = in_place
    (tmp_path / "big.bin").write_bytes(pattern((3 << 20) + 5, 7))  # memory-mapped
    for i, n in enumerate((0, 1, LEAF + 1, 70_000)):  # packed into one batch
        (tmp_path / f"small{i}").write_bytes(pattern(n, i))
    for family in ("merkle-sha256", "lthash16-shake256"):
        m = gpuhash.hash_path(tmp_path, algorithm=family, leaf_size=LEAF, backend=backend)
        _, want = ref.hash_model(str(tmp_path), m.algorithm.id)
        assert m.artifact_digest == want
    held = set()
    while not backend._slots.empty():
        held |= set(backend._slots.get_nowait().buffers)
    assert ("data" in held) is not in_place


def test_c_api_launches_name_dpctls_argument_types() -> None:
    """The kernel argument types that launches through dpctl's C API name (host data read in
    place, above) are dpctl's own: its ``kernel_arg_type``, and their positions in
    ``DPCTLKernelArgType`` of the header the dpctl wheel ships with its C library."""
    import re
    from pathlib import Path

    import dpctl
    from dpctl._sycl_queue import kernel_arg_type

    c_names = {
        "uint8": "DPCTL_UINT8_T",
        "uint32": "DPCTL_UINT32_T",
        "uint64": "DPCTL_UINT64_T",
        "void_ptr": "DPCTL_VOID_PTR",
        "local_accessor": "DPCTL_LOCAL_ACCESSOR",
    }
    kinds = gpuhash_intel._arg_types()
    used = {name: getattr(kinds, name) for name in c_names}
    assert used == {name: getattr(kernel_arg_type, f"dpctl_{name}").value for name in c_names}
    header = Path(dpctl.__file__).parent / "include" / "syclinterface" / "dpctl_sycl_enum_types.h"
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", header.read_text(), flags=re.S)
    block = re.search(r"typedef enum\s*\{([^}]*)\}\s*DPCTLKernelArgType;", text)
    assert block is not None, header
    order = [name.strip() for name in block.group(1).split(",") if name.strip()]
    assert used == {name: order.index(c) for name, c in c_names.items()}


class _UsmView:
    """A byte range of a USM allocation, described by the SYCL USM array interface (what dpnp
    arrays and dpctl.tensor arrays expose): an interior pointer and a length."""

    def __init__(self, memory: Any, start: int, nbytes: int) -> None:
        iface = dict(memory.__sycl_usm_array_interface__)
        iface["data"] = (iface["data"][0] + start, True)
        iface["shape"] = (nbytes,)
        self.__sycl_usm_array_interface__ = iface


@pytest.mark.parametrize("family", ["merkle-sha256", "lthash16-shake256"])
def test_usm_memory_hashed_in_place(backend: gpuhash_intel.IntelBackend, family: str) -> None:
    """USM device memory (a dpctl allocation, and a view into one at an odd offset) is hashed
    on the device, with no copy to the host by the engine."""
    import dpctl.memory

    host = pattern(3 * LEAF + 777 + 13, 4)
    memory = dpctl.memory.MemoryUSMDevice(len(host), queue=backend.queue)
    memory.copy_from_host(host)
    whole = gpuhash.hash_bytes(memory, algorithm=family, leaf_size=LEAF, backend=backend)
    assert whole == ref.object_digest(family, host, LEAF)
    part = _UsmView(memory, 13, len(host) - 13)
    digest = gpuhash.hash_bytes(part, algorithm=family, leaf_size=LEAF, backend=backend)
    assert digest == ref.object_digest(family, host[13:], LEAF)


def test_usm_array_waits_for_the_queue_it_was_made_on(backend: gpuhash_intel.IntelBackend) -> None:
    """A USM array's ``syclobj`` queue may still hold work on it (an asynchronous copy here):
    the backend's queue waits for a barrier submitted after that work before reading; the
    host does not wait. Intel's CPU runtime finishes such copies too soon to show the race,
    so the barrier is observed on the producer's (real) queue."""
    import dpctl
    import dpctl.memory
    import numpy as np

    class Producer(dpctl.SyclQueue):  # type: ignore[misc]
        barriers = 0

        def submit_barrier(self, dependent_events: Any = None) -> Any:
            type(self).barriers += 1
            return super().submit_barrier(dependent_events)

    producer = Producer(backend.context, backend.device, property="in_order")
    host = np.frombuffer(pattern(3 * LEAF + 5, 9), dtype=np.uint8)
    memory = dpctl.memory.MemoryUSMDevice(host.nbytes, queue=producer)
    assert memory.__sycl_usm_array_interface__["syclobj"] is producer
    producer.memcpy_async(memory, host, host.nbytes)
    got = gpuhash.hash_bytes(memory, algorithm="blake3", leaf_size=LEAF, backend=backend)
    assert got == ref.object_digest("blake3", host.tobytes(), LEAF)
    assert Producer.barriers >= 1


def test_device_arrays_of_other_backends_are_refused(backend: gpuhash_intel.IntelBackend) -> None:
    import dpctl.memory
    import gpuhash_opencl
    import numpy as np
    import pyopencl.array as cl_array

    opencl = gpuhash_opencl.OpenCLBackend(device="Intel")
    on_opencl = cl_array.to_device(opencl.queue, np.zeros(100, dtype=np.uint8))
    with pytest.raises(BackendError, match="pyopencl array cannot be hashed here"):
        gpuhash.hash_bytes(on_opencl, backend=backend)
    usm = dpctl.memory.MemoryUSMDevice(100, queue=backend.queue)
    with pytest.raises(BackendError, match="SYCL device array cannot be hashed here"):
        gpuhash.hash_bytes(usm, backend=opencl)
    with pytest.raises(BackendError, match="cannot hash device arrays"):
        gpuhash.hash_bytes(usm, backend="cpu")


def test_level_zero_and_unknown_devices_are_usage_errors() -> None:
    with pytest.raises(
        UsageError, match=r"Level Zero devices need the kernels as SPIR-V.*opencl:gpu"
    ):
        gpuhash_intel.IntelBackend(device="level_zero:gpu")
    with pytest.raises(UsageError, match=r"no SYCL device matches 'cuda:gpu'; devices: opencl:cpu"):
        gpuhash_intel.IntelBackend(device="cuda:gpu")


def test_kernel_build_failure_names_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpuhash.kernels import BACKEND_FILES, source

    broken = source(*BACKEND_FILES) + "\n__kernel void broken(void) { undeclared_y = 1; }\n"
    monkeypatch.setattr("gpuhash_intel.source", lambda *names, **options: broken)
    fresh = gpuhash_intel.IntelBackend(device="opencl:cpu")
    with pytest.raises(BackendError) as info:
        gpuhash.hash_bytes(b"x" * 5000, algorithm="merkle-sha256", backend=fresh)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("intel device opencl:cpu")
    assert "failed to build" in message


def test_cli_uses_the_intel_backend(tmp_path: Any) -> None:
    import subprocess
    import sys

    f = tmp_path / "w.bin"
    f.write_bytes(pattern(100_000, 3))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuhash",
            "digest",
            str(f),
            "--backend",
            "intel",
            "--device",
            "opencl:cpu",
            "--algorithm",
            "blake3",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert (
        run.stdout.strip() == gpuhash.hash_path(f, algorithm="blake3", backend="cpu").digest_line()
    )
