"""Arrays read through their protocols (gpuhash.arrays, gpuhash.dlpack): the layout from the
protocol itself, the producer's stream, the refusals (one line naming the array), and DLPack
ownership (every consumed tensor's deleter called exactly once). The CUDA paths run here on
real capsules made with ctypes (tests/dlpack_producers.py) and hand-built
``__cuda_array_interface__`` objects; the pointers are never dereferenced without a GPU."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest
from dlpack_producers import (
    BFLOAT,
    CPU,
    CUDA,
    CUDA_HOST,
    FLOAT4_E2M1FN,
    FLOAT8_E4M3FN,
    ROCM,
    ROCM_HOST,
    Producer,
    Unversioned,
    capsule_name,
)

import gpuhash
from gpuhash import reference as ref
from gpuhash.arrays import DeviceBytes, c_contiguous, cuda_stream, device_bytes, host_array
from gpuhash.dlpack import DLPackError, export
from gpuhash.errors import BackendError, InputError
from gpuhash.sources import memory_source

BASE = 0x7F0000000000  # a device address, never read here


def _one_line(e: pytest.ExceptionInfo[BaseException], name: str) -> str:
    text = str(e.value)
    assert text.startswith(f"{name}: "), text
    assert "\n" not in text, text
    return text


# -- contiguity ---------------------------------------------------------------------------------


def test_c_contiguity_is_numpys() -> None:
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    views = [
        a, a[1], a[:, 1], a[:1], a[:, :, :1], a[..., ::2], a[::-1], a.T, a[:, :, 1:2, :],
        a[0:0], a[:, 0:0, ::3], a.reshape(-1)[5:9], a[1:2, 2:3], a[:, :, ::4, :1],
        np.broadcast_to(a[:1], (3, 3, 4, 5)),
    ]  # fmt: skip
    for v in views:
        assert c_contiguous(v.shape, v.strides, v.itemsize) == v.flags.c_contiguous, v.strides
    assert c_contiguous((3, 4), None, 4)
    assert not c_contiguous((3, 4), (16,), 4)  # strides of the wrong length


# -- the CUDA Array Interface ------------------------------------------------------------------


class CudaArray:
    """``__cuda_array_interface__`` as a dict attribute (CuPy, Numba), plus extra entries."""

    def __init__(self, shape: tuple[int, ...], typestr: str = "|u1", **entries: Any) -> None:
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (BASE, False),
            "version": 3,
            **entries,
        }


@pytest.mark.parametrize(
    ("stream", "expected"),
    [(None, None), (1, 1), (2, 2), (0x55D0C0FFEE00, 0x55D0C0FFEE00)],
)
def test_cai_streams_are_kept_for_the_backend(stream: int | None, expected: int | None) -> None:
    view = device_bytes("w", CudaArray((4, 5), "<f2", stream=stream))
    assert isinstance(view, DeviceBytes)
    assert (view.interface, view.pointer, view.nbytes, view.stream) == ("cuda", BASE, 40, expected)
    window = view[8:30]
    assert (window.pointer, window.start, window.nbytes, window.stream) == (BASE, 8, 22, expected)
    # Version 3 without a stream entry is no synchronization, as for None; version 2 (torch)
    # could not name one: the legacy default stream, where torch and CuPy write by default.
    assert device_bytes("w", CudaArray((4,))).stream is None
    assert device_bytes("w", CudaArray((4,), version=2)).stream == 1
    old = CudaArray((4,))
    del old.__cuda_array_interface__["version"]
    assert device_bytes("w", old).stream == 1


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (0, "stream 0 is disallowed by the interface"),
        (-3, "stream -3 is not a CUDA stream"),
        (True, "stream True is not an integer or None"),
        ("1", "stream '1' is not an integer or None"),
        (1.0, "stream 1.0 is not an integer or None"),
    ],
)
def test_cai_stream_entries_that_are_not_streams_are_refused(stream: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as e:
        device_bytes("w", CudaArray((4,), stream=stream))
    _one_line(e, "w")
    assert cuda_stream("w", 7) == 7


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (CudaArray((3, 5), "<f4", strides=(4, 12)), "must be C-contiguous"),
        (CudaArray((3, 5), "<f4", mask=CudaArray((3, 5))), "masked device array"),
        (CudaArray((3,), "<q9"), "unknown typestr '<q9'"),
        (CudaArray((3,), data=(0, False)), "no valid data pointer"),
        (CudaArray((3,), data=None), "is malformed"),
    ],
)
def test_cai_entries_are_checked(array: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as e:
        memory_source("w", 1, array)
    _one_line(e, "w")


def test_cai_layouts_that_are_bytes_in_c_order() -> None:
    # bfloat16 as torch exports it (<V2), size-1 dimensions with any stride, no elements.
    assert device_bytes("w", CudaArray((7, 3), "<V2")).nbytes == 42
    assert device_bytes("w", CudaArray((3, 1), "<f4", strides=(4, 999))).nbytes == 12
    empty = device_bytes("w", CudaArray((0, 3), "<f4", strides=(4, 4), data=(0, False)))
    assert (empty.nbytes, empty.pointer) == (0, 0)


class TorchLike:
    """A CUDA tensor as torch exposes it: ``__cuda_array_interface__`` (version 2, no stream)
    is a property that raises RuntimeError when the tensor requires grad and KeyError for
    dtypes it has no typestr for (float8); ``detach()`` is the same memory without autograd."""

    def __init__(self, typestr: str | None = "<f4", requires_grad: bool = False) -> None:
        self.typestr, self.requires_grad = typestr, requires_grad
        self.detached_from: TorchLike | None = None

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        if self.requires_grad:
            raise RuntimeError(
                "Can't get __cuda_array_interface__ on Variable that requires grad. "
                "If gradients aren't required, use var.detach() to get Variable that doesn't "
                "require grad."
            )
        if self.typestr is None:
            raise KeyError("torch.float8_e4m3fn")
        return {"typestr": self.typestr, "shape": (6,), "strides": None, "data": (BASE, False),
                "version": 2}  # fmt: skip

    def detach(self) -> TorchLike:
        twin = TorchLike(self.typestr)
        twin.detached_from = self
        return twin


def test_tensors_that_require_grad_are_read_detached() -> None:
    param = TorchLike(requires_grad=True)
    view = device_bytes("w", param)
    assert isinstance(view, DeviceBytes)
    assert view.nbytes == 24
    assert view.owner.detached_from is param
    assert param.requires_grad


def test_a_protocol_property_that_raises_is_one_line() -> None:
    with pytest.raises(InputError, match=r"KeyError: 'torch.float8_e4m3fn'") as e:
        gpuhash.hash_bytes(TorchLike(typestr=None), backend="cpu")
    assert "cannot read this CUDA array" in _one_line(e, "<bytes>")
    with pytest.raises(InputError, match=r"KeyError: 'torch.float8_e4m3fn'") as e:
        gpuhash.hash_tensors({"w": TorchLike(typestr=None)}, backend="cpu")
    assert "cannot read this CUDA array" in _one_line(e, "w")


# -- DLPack ------------------------------------------------------------------------------------


def test_a_dlpack_only_tensor_has_the_size_of_its_layout() -> None:
    """No nbytes, no numel: shape, strides, dtype and byte offset come from the capsule; the
    producer is asked for the legacy default stream (the handshake) after __dlpack_device__."""
    producer = Producer(BASE, (3, 5), strides=(5, 1), bits=32, byte_offset=64)
    view = device_bytes("w", producer)
    assert isinstance(view, DeviceBytes)
    assert (view.interface, view.nbytes, view.pointer, view.stream) == ("cuda", 60, BASE + 64, 1)
    assert producer.streams == [1]
    assert (view[4:8].pointer, view[4:8].start) == (BASE + 64, 4)
    src = memory_source("w", 1, Unversioned(BASE, (2, 2, 2), bits=16))
    assert (src.device, src.size) == (True, 16)


class _PinnedLikeTorch(Producer):
    """torch's pinned CPU tensor: ``__dlpack_device__`` says CUDA host (3), its capsule says
    CPU (torch's DLConvertor has no pinned case), and ``__dlpack__`` refuses a stream for a CPU
    tensor, as torch's does."""

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None) -> Any:
        if stream is not None and stream != -1:
            self.streams.append(stream)
            raise AssertionError("stream should be None on cpu.")
        return super().__dlpack__(stream=stream, max_version=max_version)


@pytest.mark.parametrize("pinned", [CUDA_HOST, ROCM_HOST], ids=["cuda", "rocm"])
@pytest.mark.parametrize("capsule_says_cpu", [True, False], ids=["torch", "host"])
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_pinned_host_tensors_are_hashed_as_host_memory(
    pinned: int, capsule_says_cpu: bool, backend: str
) -> None:
    """Pinned host memory (CUDA's or ROCm's) is host memory on every backend, whichever device
    its capsule names (torch's says CPU, another producer's may say pinned host): its bytes are
    read by the host, exported with no stream (torch refuses one), never handed to a backend as
    a device array."""
    host = np.arange(3 * 4096, dtype=np.uint16).reshape(3, 4096)
    producer = _PinnedLikeTorch(
        host.ctypes.data,
        host.shape,
        device=(pinned, 0),
        capsule_device=(CPU, 0) if capsule_says_cpu else (pinned, 0),
        code=BFLOAT,
        bits=16,
        keep=host,
    )
    assert device_bytes("pinned", producer) is None
    assert producer.streams == []
    src = memory_source("pinned", 1, producer)
    assert (src.device, src.size) == (False, host.nbytes)
    want = ref.object_digest("merkle-sha256", host.tobytes(), 4096)
    assert gpuhash.hash_bytes(producer, leaf_size=4096, backend=backend) == want
    assert set(producer.streams) <= {None, -1}


def test_a_capsule_on_another_device_than_dlpack_device_says_is_refused() -> None:
    """A producer that says host memory but exports a device pointer is refused, not read."""
    producer = Producer(
        BASE, (8,), device=(CUDA_HOST, 0), capsule_device=(CUDA, 0), code=BFLOAT, bits=16
    )
    with pytest.raises(
        InputError, match=r"^w: __dlpack_device__ says CUDA host but the tensor is on CUDA$"
    ):
        memory_source("w", 1, producer)


@pytest.mark.parametrize(
    ("layout", "nbytes"),
    [
        ({"shape": (4,), "code": BFLOAT, "bits": 16}, 8),
        ({"shape": (4,), "code": FLOAT8_E4M3FN, "bits": 8}, 4),
        ({"shape": (4,), "code": FLOAT4_E2M1FN, "bits": 4, "lanes": 2}, 4),  # fp4 x2: a byte
        ({"shape": (2, 1, 3), "strides": (3, 77, 1)}, 6),  # a size-1 dimension's stride
        ({"shape": (0, 3), "strides": (9, 9)}, 0),
        ({"shape": ()}, 1),  # a scalar
    ],
)
def test_dlpack_layouts_hashed_as_their_bytes(layout: dict[str, Any], nbytes: int) -> None:
    assert device_bytes("w", Producer(BASE, **layout)).nbytes == nbytes


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"shape": (3, 4), "strides": (1, 3)}, r"C-contiguous .*shape \[3, 4\], strides \[1, 3\]"),
        ({"shape": (3, 4), "strides": (8, 2)}, "C-contiguous"),
        ({"shape": (8,), "code": FLOAT4_E2M1FN, "bits": 4}, "elements are 4 bits .*uint8"),
        ({"shape": (8,), "bits": 1, "lanes": 4}, "elements are 1 bits x 4 lanes"),
        ({"shape": (8,), "bits": 0}, "elements are 0 bits"),
        ({"shape": (8,), "device": (ROCM, 0)}, "no backend hashes a DLPack tensor on ROCm"),
        ({"shape": (8,), "refuse": BufferError("float8 types are not supported by dlpack")},
         "cannot read this CUDA array .*BufferError: float8 types are not supported"),
        ({"shape": (8,), "version": (2, 0)}, "DLPack version 2.0 is not supported"),
        ({"shape": (8,), "pointer": 0}, "no data pointer"),
    ],
)  # fmt: skip
def test_dlpack_layouts_refused_in_one_line(layout: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message) as e:
        memory_source("model.w", 1, Producer(layout.pop("pointer", BASE), **layout))
    _one_line(e, "model.w")


def test_every_consumed_tensor_is_deleted_once() -> None:
    """Taken over (renamed ``used_dltensor...``): the deleter runs once, when gpuhash lets go
    of the array, also after a refusal that comes once it was taken over; a capsule refused
    before that keeps its name, and the tensor stays the producer's."""
    kept = Producer(BASE, (16,))
    src = memory_source("w", 1, kept)
    gc.collect()
    assert kept.deleted == 0  # alive while the source is
    assert [capsule_name(c) for c in kept.capsules] == [b"used_dltensor_versioned"]
    window = src.data[4:8]
    del src
    gc.collect()
    assert kept.deleted == 0  # a window keeps the whole export
    del window
    gc.collect()
    assert kept.deleted == 1

    old_style = Unversioned(BASE, (4,))
    export(old_style, 1).release()
    assert [capsule_name(c) for c in old_style.capsules] == [b"used_dltensor"]
    assert old_style.deleted == 1

    refused = Producer(BASE, (3, 4), strides=(1, 3))
    with pytest.raises(InputError):
        memory_source("w", 1, refused)
    gc.collect()
    assert refused.deleted == 1

    newer = Producer(BASE, (4,), version=(2, 1))
    with pytest.raises(DLPackError):
        export(newer, 1)
    gc.collect()
    assert newer.deleted == 0
    assert [capsule_name(c) for c in newer.capsules] == [b"dltensor_versioned"]

    released = export(Producer(BASE, (4,)), 1)
    released.release()
    released.release()
    assert released.producer.deleted == 1


def test_a_dtype_the_cai_cannot_name_falls_back_to_dlpack() -> None:
    """torch's float8: __cuda_array_interface__ raises KeyError, DLPack has the layout."""

    class Float8(Producer):
        @property
        def __cuda_array_interface__(self) -> dict[str, Any]:
            raise KeyError("torch.float8_e4m3fn")

    view = device_bytes("w", Float8(BASE, (10,), code=FLOAT8_E4M3FN))
    assert (view.nbytes, view.stream) == (10, 1)
    refusing = Float8(BASE, (10,), refuse=RuntimeError("float8 types are not supported by dlpack"))
    with pytest.raises(InputError) as e:
        device_bytes("w", refusing)
    text = _one_line(e, "w")
    assert "RuntimeError: float8 types are not supported by dlpack" in text
    assert "__cuda_array_interface__ failed: KeyError: 'torch.float8_e4m3fn'" in text


# -- CPU DLPack tensors --------------------------------------------------------------------------


class NumpyDLPack:
    """A CPU tensor with nothing but DLPack (a torch or jax CPU tensor): numpy's own capsules."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (CPU, 0)


def _views() -> list[np.ndarray]:
    a = np.arange(6 * 7, dtype=np.float32).reshape(6, 7) * 1.5
    return [a, a[2:, 3:], a[:, ::2], a.T, a[0:0], a[3, 4:5]]


@pytest.mark.parametrize("index", range(len(_views())))
def test_cpu_dlpack_tensors_hash_as_their_c_order_bytes(index: int) -> None:
    view = _views()[index]
    want = ref.object_digest("merkle-sha256", np.ascontiguousarray(view).tobytes(), 65536)
    assert gpuhash.hash_bytes(NumpyDLPack(view), backend="cpu") == want
    assert gpuhash.hash_tensors({"w": NumpyDLPack(view)}, backend="cpu")["w"].digest == want


def test_a_cpu_dtype_numpy_lacks_is_hashed_as_its_bytes() -> None:
    """bfloat16 (numpy has none): read as 2-byte elements, strides honoured, memory owned
    until hashed and then freed once."""
    host = np.arange(40, dtype=np.uint16).reshape(5, 8) * 977
    for view, strides in ((host, None), (host[:, 1::3], (8, 3))):
        producer = Producer(
            view.ctypes.data, view.shape, strides=strides, device=(CPU, 0), code=BFLOAT, bits=16
        )
        want = ref.object_digest("blake3", np.ascontiguousarray(view).tobytes(), 1024)
        got = gpuhash.hash_bytes(producer, algorithm="blake3", leaf_size=1024, backend="cpu")
        assert got == want
        gc.collect()
        assert producer.deleted == 1
    empty = Producer(host.ctypes.data, (0, 4), device=(CPU, 0), code=BFLOAT, bits=16)
    assert host_array("w", empty).nbytes == 0


def test_cpu_dlpack_refusals_are_one_line() -> None:
    refusing = Producer(
        BASE, (4,), device=(CPU, 0), refuse=BufferError("Can't export tensors that require grad")
    )
    with pytest.raises(InputError, match="BufferError: Can't export tensors") as e:
        gpuhash.hash_tensors({"w": refusing}, backend="cpu")
    _one_line(e, "w")
    packed = Producer(BASE, (4,), device=(CPU, 0), code=FLOAT4_E2M1FN, bits=4)
    with pytest.raises(InputError, match="elements are 4 bits") as e:
        gpuhash.hash_bytes(packed, backend="cpu")
    _one_line(e, "<bytes>")


# -- which backend hashes what -------------------------------------------------------------------


def test_cuda_dlpack_tensors_are_refused_by_other_backends() -> None:
    import gpuhash_opencl

    with pytest.raises(BackendError, match="cannot hash device arrays"):
        gpuhash.hash_bytes(Producer(BASE, (100,)), backend="cpu")
    opencl = gpuhash_opencl.OpenCLBackend(device="Intel")
    with pytest.raises(BackendError, match="CUDA device array cannot be hashed here"):
        gpuhash.hash_bytes(Producer(BASE, (100,)), backend=opencl)


def test_pyopencl_arrays_that_are_not_contiguous_are_refused_naming_them() -> None:
    import gpuhash_opencl
    import pyopencl.array as cl_array

    opencl = gpuhash_opencl.OpenCLBackend(device="Intel")
    host = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    on_device = cl_array.to_device(opencl.queue, host)
    transposed = on_device.transpose()  # type: ignore[no-untyped-call]
    with pytest.raises(InputError, match="must be C-contiguous") as e:
        gpuhash.hash_tensors({"layer.w": transposed}, backend=opencl)
    _one_line(e, "layer.w")
    want = ref.object_digest("merkle-sha256", host[3:].tobytes(), 65536)
    assert gpuhash.hash_bytes(on_device[3:], backend=opencl) == want
