"""The ``cuda`` backend (backends/cuda, CuPy + NVRTC).

These machines have no GPU. What runs here: NVRTC compiles every kernel for sm_80 and sm_90
(``gpuhash selftest cuda --compile-only``), the backend reports itself unavailable with the
reason, CUDA device arrays are recognised by the engine and refused by the other backends.
Tests that need a GPU are marked ``cuda_gpu`` and skip with a reason when none is present.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

import gpuhash_cuda
import pytest

import gpuhash
from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES, Algorithm
from gpuhash.device import staged_local_sizes
from gpuhash.engine import hash_sources
from gpuhash.errors import BackendError, BackendUnavailable, InputError
from gpuhash.sources import DeviceBytes, memory_source


def _gpu_count() -> int:
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


HAVE_GPU = _gpu_count() > 0
needs_gpu = pytest.mark.skipif(not HAVE_GPU, reason="no CUDA GPU on this machine")


def test_every_kernel_compiles_with_nvrtc_for_sm80_and_sm90() -> None:
    """The CLI's compile-only self-test: cubin for each architecture, and PTX listing every
    kernel the backend launches (exit status 0 only if all pass)."""
    run = subprocess.run(
        [sys.executable, "-m", "gpuhash", "selftest", "cuda", "--compile-only", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["passed"] is True
    names = {c["name"] for c in report["checks"]}
    for arch in ("80", "90"):
        assert f"nvrtc sm_{arch} (cubin)" in names
        assert f"nvrtc compute_{arch} (ptx)" in names
    assert all(c["detail"] != "" for c in report["checks"])


def test_compile_only_is_refused_for_backends_without_it() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "gpuhash", "selftest", "cpu", "--compile-only"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.strip().endswith("backend 'cpu' has no compile-only check")


def test_kernel_names_cover_every_family() -> None:
    names = gpuhash_cuda.kernel_names()
    for family in FAMILIES:
        f = family.replace("-", "_")
        assert {f"leaves_{f}", f"leaves_staged_{f}", f"nodes_{f}", f"tree_{f}"} <= set(names)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("group", [1, 7, 64, 256])
def test_shared_memory_covers_the_carved_buffers(family: str, group: int) -> None:
    """The dynamic shared memory the host asks for equals the epilogue's carving: each of the
    four buffers starts at a multiple of 8 bytes after the previous one."""
    sizes = staged_local_sizes(family, group)
    at = 0
    for size in sizes:
        at += (-at) % 8
        at += size
    assert gpuhash_cuda.staged_shared_bytes(sizes) == at
    assert at >= sum(sizes)


@pytest.mark.skipif(HAVE_GPU, reason="a CUDA GPU is present")
def test_without_a_gpu_the_backend_is_unavailable_with_the_reason() -> None:
    with pytest.raises(BackendUnavailable, match="backend 'cuda': no usable CUDA driver or device"):
        gpuhash_cuda.CudaBackend()
    info = {i.name: i for i in gpuhash.available_backends()}["cuda"]
    assert not info.available
    assert "no usable CUDA driver or device" in info.reason


def test_kvikio_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """GPUDirect Storage reads: used when kvikio is installed, required with
    GPUHASH_CUDA_KVIKIO=1 (a clear error with the install command when it is missing), never
    used with 0; any other value is a usage error."""
    import importlib.util

    from gpuhash.errors import UsageError

    have_kvikio = importlib.util.find_spec("kvikio") is not None
    monkeypatch.setenv("GPUHASH_CUDA_KVIKIO", "0")
    assert gpuhash_cuda.kvikio_module() is None
    assert gpuhash_cuda.kvikio_module(False) is None
    monkeypatch.delenv("GPUHASH_CUDA_KVIKIO")
    assert (gpuhash_cuda.kvikio_module() is not None) == have_kvikio
    monkeypatch.setenv("GPUHASH_CUDA_KVIKIO", "yes")
    with pytest.raises(UsageError, match="GPUHASH_CUDA_KVIKIO must be 0 or 1, not 'yes'"):
        gpuhash_cuda.kvikio_module()
    if not have_kvikio:
        monkeypatch.setenv("GPUHASH_CUDA_KVIKIO", "1")
        with pytest.raises(BackendUnavailable, match=r'pip install "gpuhash-cuda\[gds\]"$'):
            gpuhash_cuda.kvikio_module()
        with pytest.raises(BackendUnavailable, match="need kvikio"):
            gpuhash_cuda.kvikio_module(True)


class _CudaArray:
    """A device buffer as described by ``__cuda_array_interface__`` (version 3), the protocol
    CuPy, Numba and PyTorch arrays implement; the pointer is never dereferenced here."""

    def __init__(self, shape: tuple[int, ...], typestr: str, strides: Any = None) -> None:
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (0x7F0000000000, False),
            "strides": strides,
            "version": 3,
        }


def test_cuda_arrays_become_device_bytes_of_the_right_size() -> None:
    src = memory_source("t", 1, _CudaArray((3, 5), "<f4"))
    assert src.device
    assert isinstance(src.data, DeviceBytes)
    assert (src.data.interface, src.size) == ("cuda", 60)
    window = src.data[8:20]
    assert (window.start, window.nbytes) == (8, 12)
    with pytest.raises(InputError, match="C-contiguous"):
        memory_source("t", 1, _CudaArray((3, 5), "<f4", strides=(4, 12)))


def test_cuda_arrays_are_refused_by_host_and_other_device_backends() -> None:
    import gpuhash_opencl

    array = _CudaArray((100,), "|u1")
    with pytest.raises(BackendError, match="cannot hash device arrays"):
        gpuhash.hash_bytes(array, backend="cpu")
    opencl = gpuhash_opencl.OpenCLBackend(device="Intel")
    with pytest.raises(BackendError, match="CUDA device array cannot be hashed here"):
        gpuhash.hash_bytes(array, backend=opencl)


# -- on a GPU ------------------------------------------------------------------------------------


@needs_gpu
@pytest.mark.parametrize("layout", ["direct", "staged"])
def test_gpu_objects_equal_reference(layout: str) -> None:
    backend = gpuhash_cuda.CudaBackend(layout=layout)
    datas = [bytes((i * 7 + 5) % 251 for i in range(n)) for n in (0, 1, 1023, 5 * 1024 + 3)]
    for family in FAMILIES:
        srcs = [memory_source(f"o{i}", 1, d) for i, d in enumerate(datas)]
        got = hash_sources(backend, Algorithm(family, 1024), srcs, batch_bytes=8 * 1024)
        assert [o.digest for o in got] == [ref.object_digest(family, d, 1024) for d in datas]


@needs_gpu
@pytest.mark.skipif(
    importlib.util.find_spec("kvikio") is None, reason="kvikio (gpuhash-cuda[gds]) not installed"
)
def test_gpu_files_read_by_kvikio(tmp_path: Any) -> None:
    (tmp_path / "w.bin").write_bytes(bytes((i * 7 + 5) % 251 for i in range((5 << 20) + 3)))
    (tmp_path / "s").write_bytes(b"small")
    backend = gpuhash_cuda.CudaBackend(kvikio=True)
    assert backend.capabilities().file_reads
    m = gpuhash.hash_path(tmp_path, algorithm="merkle-sha256", backend=backend)
    _, want = ref.hash_model(str(tmp_path), m.algorithm.id)
    assert m.artifact_digest == want


@needs_gpu
def test_gpu_cupy_array_hashed_in_place() -> None:
    import cupy

    host = bytes(range(256)) * 40
    on_device = cupy.asarray(bytearray(host), dtype=cupy.uint8)[13:]
    backend = gpuhash_cuda.CudaBackend()
    digest = gpuhash.hash_bytes(on_device, algorithm="merkle-sha256", backend=backend)
    assert digest == ref.object_digest("merkle-sha256", host[13:], 65536)
