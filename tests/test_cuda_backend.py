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


# -- device arrays on a GPU: ordering, layouts, torch --------------------------------------------

SPIN = r"""
extern "C" __global__ void gh_spin(long long cycles) {
    const long long t0 = clock64();
    while (clock64() - t0 < cycles) { }
}"""
N = 64 << 20


def _filled_behind_a_long_kernel(x: Any, value: int) -> None:
    """On CuPy's current stream: a kernel of about half a second, then ``x``'s fill (torch's
    ``fill_``: its default stream is the legacy default stream, as CuPy's is): the fill lands
    long after a hash that does not wait for this stream has read ``x``."""
    import cupy
    import numpy as np

    spin = cupy.RawKernel(SPIN, "gh_spin")
    spin((1,), (1,), (np.int64(1000),))  # built and loaded before the timed part
    cupy.cuda.get_current_stream().synchronize()
    spin((1,), (1,), (np.int64(800_000_000),))
    if hasattr(x, "fill_"):
        x.fill_(value)
    else:
        x.fill(value)


def _want(value: int, n: int = N) -> bytes:
    return ref.object_digest("merkle-sha256", bytes([value]) * n, 65536)


class _CaiOnly:
    def __init__(self, iface: dict[str, Any], keep: Any) -> None:
        self.__cuda_array_interface__ = iface
        self.keep = keep


class _DLPackOnly:
    """A producer with nothing but DLPack: no nbytes, no numel."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self.array.__dlpack_device__()


@needs_gpu
def test_gpu_waits_for_the_legacy_default_stream() -> None:
    """CuPy's default stream (the legacy one): the backend's non-blocking streams are not
    ordered after it by CUDA; the DLPack handshake and the event wait order them."""
    import cupy

    backend = gpuhash_cuda.CudaBackend()
    x = cupy.zeros(N, dtype=cupy.uint8)
    _filled_behind_a_long_kernel(x, 0x5A)
    assert gpuhash.hash_bytes(x, backend=backend) == _want(0x5A)
    _filled_behind_a_long_kernel(x, 0x3C)
    assert gpuhash.hash_bytes(_DLPackOnly(x), backend=backend) == _want(0x3C)


@needs_gpu
def test_gpu_waits_for_the_stream_the_producer_names() -> None:
    """Work on a non-blocking stream of the caller's: through DLPack (CuPy orders its current
    stream before the legacy one) and through a CUDA Array Interface naming that stream."""
    import cupy

    backend = gpuhash_cuda.CudaBackend()
    x = cupy.zeros(N, dtype=cupy.uint8)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        _filled_behind_a_long_kernel(x, 0x11)
        assert gpuhash.hash_bytes(x, backend=backend) == _want(0x11)
        _filled_behind_a_long_kernel(x, 0x22)
        iface = dict(x.__cuda_array_interface__)
        assert iface.get("stream") == stream.ptr
        assert gpuhash.hash_bytes(_CaiOnly(iface, x), backend=backend) == _want(0x22)


@needs_gpu
def test_gpu_dlpack_only_layouts() -> None:
    """Size, offset and contiguity from the DLPack tensor itself (issue 13: hashed as 0 bytes
    before); a non-contiguous view is refused in one line."""
    import cupy
    import numpy as np

    backend = gpuhash_cuda.CudaBackend()
    host = np.random.default_rng(5).integers(0, 256, (1 << 20) + 77, dtype=np.uint8)
    x = cupy.asarray(host)
    cupy.cuda.runtime.deviceSynchronize()
    for view, want in ((x, host), (x[13:], host[13:]), (x[:0], host[:0])):
        got = gpuhash.hash_bytes(_DLPackOnly(view), backend=backend)
        assert got == ref.object_digest("merkle-sha256", want.tobytes(), 65536)
    words = x[: 1 << 20].view(cupy.float32).reshape(512, 512)
    with pytest.raises(InputError, match="must be C-contiguous") as e:
        gpuhash.hash_tensors({"w": _DLPackOnly(words[:, ::2])}, backend=backend)
    assert "\n" not in str(e.value)
    assert str(e.value).startswith("w: ")


@needs_gpu
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_gpu_torch_tensors_hashed_as_their_bytes_or_refused() -> None:
    import torch

    backend = gpuhash_cuda.CudaBackend()
    base = torch.randn(1 << 20, device="cuda", generator=torch.Generator("cuda").manual_seed(1))
    tensors = {
        "param": torch.nn.Parameter(base.clone()),  # requires grad
        "bf16": base.bfloat16(),
        "half_2d": base.half().reshape(1024, 1024),
        "offset_view": base[4097:],
        "bool": base > 0,
    }
    if hasattr(torch, "float8_e4m3fn"):
        tensors["fp8"] = base.to(torch.float8_e4m3fn)
    torch.cuda.synchronize()
    refused = {}
    for name, t in tensors.items():
        host = t.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy().tobytes()
        try:
            got = gpuhash.hash_tensors({name: t}, backend=backend)[name].digest
        except InputError as e:  # refused: one line naming the tensor (checked below)
            refused[name] = str(e)
            continue
        assert got == ref.object_digest("merkle-sha256", host, 65536), name
    assert set(refused) <= {"fp8"}, refused  # float8: only if this torch's DLPack lacks it
    assert all(m.startswith(f"{n}: ") and "\n" not in m for n, m in refused.items()), refused
    assert tensors["param"].requires_grad  # read through detach(): autograd untouched
    with pytest.raises(InputError, match="must be C-contiguous"):
        gpuhash.hash_tensors({"t": base.reshape(1024, 1024).t()}, backend=backend)
    x = torch.zeros(N, dtype=torch.uint8, device="cuda")
    _filled_behind_a_long_kernel(x, 0x77)
    assert gpuhash.hash_bytes(x, backend=backend) == _want(0x77)
