"""Arrays read through their protocols: a device array as :class:`DeviceBytes` (the SYCL USM
array interface, a CUDA DLPack tensor, the CUDA Array Interface) and a CPU DLPack tensor as a
numpy array over its memory. Every array is hashed as its bytes in C order, or refused with
one line naming it.

The rules (docs/device-arrays.md):

- **Ordering.** The producer's pending work on an array is found where its protocol puts it,
  and a backend makes its own queue wait for it before any kernel reads the array. A CUDA
  DLPack tensor is exported with ``stream=1`` (the handshake: the producer orders its work
  before the legacy default stream); the CUDA Array Interface's ``stream`` (version 3) names
  the stream to wait for, ``None`` or no entry meaning nothing is pending (an older version,
  which cannot say: the legacy default stream); a SYCL array's
  ``syclobj`` queue is waited for; a pyopencl array's events are waited for.
- **Layout.** Shape, strides, element size and byte offset come from the protocol itself
  (never from ``nbytes`` or ``numel``). A device array must be C-contiguous: it is refused,
  never copied (a copy would take the array's size again in device memory, behind the
  caller's back). A host array is copied into C order, as numpy arrays always were.
- **Elements** are whole bytes: a packed sub-byte dtype (``bits * lanes`` not a multiple of 8)
  is refused. Any other dtype (bfloat16, float8, ...) is hashed as its bytes.
- **torch.** A tensor that requires grad is read through ``detach()`` (the same memory,
  nothing recorded by autograd). A protocol whose property raises (torch's
  ``__cuda_array_interface__`` for dtypes it cannot name) falls back to the other protocol, or
  the array is refused with both reasons.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Any

from gpuhash import dlpack
from gpuhash.errors import InputError

__all__ = [
    "DeviceBytes",
    "c_contiguous",
    "cuda_stream",
    "detached",
    "device_bytes",
    "dlpack_device",
    "host_array",
]


@dataclass(frozen=True)
class DeviceBytes:
    """Bytes ``[start, start + nbytes)`` of a device array ``owner``, which lives on a device
    of the kind ``interface`` (``"sycl"``, ``"cuda"``). Slicing gives another view; a backend
    that knows the interface turns it into a device pointer (``gpuhash.device``)."""

    interface: str
    owner: Any
    start: int
    nbytes: int
    #: The address of the array's first byte, where the protocol gives one (CUDA).
    pointer: int | None = None
    #: What the producer's pending work is ordered on, for the backend's queue to wait for
    #: before it reads: a CUDA stream (1: the legacy default stream, 2: the per-thread
    #: default stream, else a ``cudaStream_t``) or a SYCL queue; ``None``: nothing pending.
    stream: Any = None

    def __getitem__(self, item: slice) -> DeviceBytes:
        lo, hi, step = item.indices(self.nbytes)
        if step != 1:
            raise ValueError("device bytes can only be sliced contiguously")
        return replace(self, start=self.start + lo, nbytes=max(0, hi - lo))


def c_contiguous(shape: tuple[int, ...], strides: Any, itemsize: int) -> bool:
    """Whether ``strides`` (in the unit of which one element is ``itemsize``; ``None``: C
    order) lay ``shape`` out in C order with no gap. Dimensions of size 1 may have any stride,
    and an array without elements is contiguous."""
    if strides is None:
        return True
    strides = tuple(int(s) for s in strides)
    if len(strides) != len(shape):
        return False
    if 0 in shape:
        return True
    step = itemsize
    for n, s in zip(reversed(shape), reversed(strides), strict=True):
        if n != 1 and s != step:
            return False
        step *= n
    return True


def _count(shape: tuple[int, ...]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


def _not_contiguous(name: str, shape: tuple[int, ...], strides: Any) -> InputError:
    return InputError(
        f"{name}: a device array must be C-contiguous to be hashed in place (shape "
        f"{list(shape)}, strides {list(strides)}); make a contiguous copy first"
    )


def _protocol(data: object, attribute: str) -> tuple[Any, str | None]:
    """``data.attribute`` or ``None``, and why not when reading it raised: a property that
    fails (torch raises RuntimeError or KeyError from ``__cuda_array_interface__``) means the
    protocol cannot be used, not a crash."""
    try:
        return getattr(data, attribute, None), None
    except Exception as e:  # the producer's own refusal, carried into the message
        return None, f"{attribute} failed: {type(e).__name__}: {e}"


def detached(data: object) -> object:
    """A tensor that requires grad as the same memory without autograd (torch's
    ``detach()``); anything else unchanged."""
    try:
        requires_grad = getattr(data, "requires_grad", False) is True
        detach = getattr(data, "detach", None)
        if requires_grad and callable(detach):
            return detach()
    except Exception:  # noqa: S110 - not a tensor we can detach: read it as it is
        pass
    return data


def dlpack_device(data: object) -> tuple[int, int] | None:
    """``data.__dlpack_device__()`` as ``(device type, device id)``, or ``None`` for an object
    without DLPack (or whose ``__dlpack_device__`` fails)."""
    if not hasattr(type(data), "__dlpack__"):
        return None
    try:
        kind, index = data.__dlpack_device__()  # type: ignore[attr-defined]
        return int(kind), int(index)
    except Exception:  # no usable DLPack: the other protocols are tried
        return None


def _itemsize(name: str, what: str, typestr: object) -> int:
    import numpy as np

    try:
        return int(np.dtype(typestr).itemsize)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InputError(f"{name}: {what} has an unknown typestr {typestr!r}") from None


def cuda_stream(name: str, value: object) -> int | None:
    """The ``stream`` entry of a CUDA Array Interface (version 3): ``None`` (nothing to wait
    for), 1 (the legacy default stream), 2 (the per-thread default stream) or a
    ``cudaStream_t``. 0 is disallowed by the interface, being ambiguous."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(
            f"{name}: __cuda_array_interface__ stream {value!r} is not an integer or None"
        )
    if value == 0:
        raise InputError(
            f"{name}: __cuda_array_interface__ stream 0 is disallowed by the interface "
            "(ambiguous: the producer must say 1, the legacy default stream, 2, the per-thread "
            "default stream, or None)"
        )
    if value < 0:
        raise InputError(f"{name}: __cuda_array_interface__ stream {value} is not a CUDA stream")
    return value


def _cai_stream(name: str, iface: dict[str, Any]) -> int | None:
    """What a CUDA Array Interface's producer has pending work on: its ``stream`` (version 3;
    no entry or ``None``: nothing), or for an interface older than the entry (version 2:
    torch's, read when its DLPack export fails, as for a tensor on another device than torch's
    current one) the legacy default stream, where torch and CuPy write unless told otherwise;
    waiting for it on the device costs the host nothing."""
    version = iface.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version >= 3:
        return cuda_stream(name, iface.get("stream"))
    return dlpack.LEGACY_STREAM


def _interface(name: str, what: str, iface: object) -> tuple[int, int]:
    """``(data pointer, nbytes)`` of a CUDA or SYCL USM array interface dictionary, checked:
    C-contiguous, no mask."""
    if not isinstance(iface, dict):
        raise InputError(f"{name}: {what} is a {type(iface).__name__}, not a dict")
    try:
        shape = tuple(int(n) for n in iface["shape"])
        pointer = int(iface["data"][0])
        typestr = iface["typestr"]
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise InputError(f"{name}: {what} is malformed ({type(e).__name__}: {e})") from None
    itemsize = _itemsize(name, what, typestr)
    strides = iface.get("strides")
    if not c_contiguous(shape, strides, itemsize):
        raise _not_contiguous(name, shape, strides)
    if iface.get("mask") is not None:
        raise InputError(f"{name}: a masked device array cannot be hashed")
    nbytes = _count(shape) * itemsize
    if pointer < 0 or (pointer == 0 and nbytes):
        raise InputError(f"{name}: {what} has no valid data pointer ({pointer:#x})")
    return pointer, nbytes


def _element_size(name: str, layout: dlpack.DLPackLayout) -> int:
    bits = layout.element_bits
    if bits == 0 or bits % 8:
        lanes = f" x {layout.lanes} lanes" if layout.lanes != 1 else ""
        raise InputError(
            f"{name}: its elements are {layout.bits} bits{lanes} (DLPack type code "
            f"{layout.code}), not whole bytes; view the packed tensor as uint8 to hash its bytes"
        )
    return bits // 8


def _from_dlpack(name: str, export: dlpack.DLPackExport) -> DeviceBytes:
    layout = export.layout
    if layout.device_type not in dlpack.CUDA_DEVICES:
        raise InputError(
            f"{name}: __dlpack_device__ says CUDA but the tensor is on {layout.device_name}"
        )
    itemsize = _element_size(name, layout)
    if not c_contiguous(layout.shape, layout.strides, 1):
        raise _not_contiguous(name, layout.shape, layout.strides)
    nbytes = _count(layout.shape) * itemsize
    if nbytes and not layout.pointer:
        raise InputError(f"{name}: the DLPack tensor has no data pointer")
    return DeviceBytes(
        "cuda", export, 0, nbytes, pointer=layout.pointer, stream=dlpack.LEGACY_STREAM
    )


def device_bytes(name: str, data: object) -> Any:
    """A device array as a 1-D byte view (pyopencl arrays stay pyopencl arrays), else None.
    Raises ``InputError`` (naming ``name``) for a device array that cannot be hashed as it
    lies: not C-contiguous, sub-byte elements, or every protocol it offers failing."""
    cl_array = sys.modules.get("pyopencl.array")
    if cl_array is not None and isinstance(data, cl_array.Array):
        if not data.flags.c_contiguous:
            raise _not_contiguous(name, data.shape, data.strides)
        import numpy as np

        return data.reshape(-1).view(np.uint8)
    data = detached(data)
    sycl, _ = _protocol(data, "__sycl_usm_array_interface__")
    if sycl is not None:
        _, nbytes = _interface(name, "__sycl_usm_array_interface__", sycl)
        return DeviceBytes("sycl", data, 0, nbytes, stream=sycl.get("syclobj"))
    reasons = []
    device = dlpack_device(data)
    if device is not None and device[0] in dlpack.CUDA_DEVICES:
        try:
            # The handshake: the producer orders its pending work before the legacy default
            # stream, which the backend's stream then waits for.
            export = dlpack.export(data, dlpack.LEGACY_STREAM)
        except dlpack.DLPackError as e:
            reasons.append(str(e))
        else:
            return _from_dlpack(name, export)
    cuda, failed = _protocol(data, "__cuda_array_interface__")
    if cuda is not None:
        pointer, nbytes = _interface(name, "__cuda_array_interface__", cuda)
        return DeviceBytes("cuda", data, 0, nbytes, pointer=pointer, stream=_cai_stream(name, cuda))
    if failed is not None:
        reasons.append(failed)
    if reasons:
        raise InputError(f"{name}: cannot read this CUDA array ({'; '.join(reasons)})")
    if device is not None and device[0] not in dlpack.HOST_MEMORY:
        where = dlpack.DEVICE_NAMES.get(device[0], f"device type {device[0]}")
        raise InputError(f"{name}: no backend hashes a DLPack tensor on {where} in place")
    return None


class _HostMemory:
    """A CPU DLPack tensor's memory as numpy's array interface; numpy keeps this object (and
    so the export, which owns the memory) alive as the array's base."""

    def __init__(self, export: dlpack.DLPackExport, itemsize: int) -> None:
        layout = export.layout
        self.export = export
        strides = None if layout.strides is None else tuple(s * itemsize for s in layout.strides)
        self.__array_interface__ = {
            "data": (layout.pointer, False),
            "shape": layout.shape,
            "strides": strides,
            "typestr": f"|V{itemsize}",
            "version": 3,
        }


def host_array(name: str, data: object) -> Any:
    """A DLPack tensor in host memory (torch, jax...; pinned memory too) as a numpy array over
    its memory, else None: ``numpy.from_dlpack`` where numpy knows the dtype, else the tensor
    read as whole-byte elements of its size (bfloat16, float8). Raises ``InputError`` when the
    export fails."""
    data = detached(data)
    device = dlpack_device(data)
    if device is None or device[0] not in dlpack.HOST_MEMORY:
        return None
    import numpy as np

    try:
        return np.from_dlpack(data)  # type: ignore[arg-type]
    except Exception:  # noqa: S110 - a dtype numpy lacks (bfloat16): read below, as bytes
        pass
    try:
        export = dlpack.export(data)
    except dlpack.DLPackError as e:
        raise InputError(f"{name}: cannot read this CPU tensor's bytes ({e})") from None
    if export.layout.device_type not in dlpack.HOST_MEMORY:
        where = dlpack.DEVICE_NAMES.get(device[0], f"device type {device[0]}")
        raise InputError(
            f"{name}: __dlpack_device__ says {where} but the tensor is on "
            f"{export.layout.device_name}"
        )
    itemsize = _element_size(name, export.layout)
    if not _count(export.layout.shape):
        return np.zeros(0, np.uint8)
    return np.asarray(_HostMemory(export, itemsize))
