"""DLPack tensors read without a DLPack library: the ``DLManagedTensor`` (DLPack 0.x) or
``DLManagedTensorVersioned`` (DLPack 1.x) inside a producer's capsule, decoded with ctypes.

:func:`export` asks an object for a capsule (``__dlpack__``, with the stream handshake for
CUDA devices), reads the tensor's layout (device, data pointer, byte offset, shape, strides in
elements, dtype as code, bits and lanes) and takes ownership as the DLPack Python
specification says a consumer must: the capsule is renamed ``used_dltensor``
(``used_dltensor_versioned``), so the producer's capsule destructor no longer frees the
tensor, and the returned :class:`DLPackExport` calls the tensor's deleter exactly once, when
it is released or collected. Until then the producer's memory stays valid.
"""

from __future__ import annotations

import ctypes
import weakref
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CPU",
    "CUDA_DEVICES",
    "DEVICE_NAMES",
    "HOST_MEMORY",
    "LEGACY_STREAM",
    "MAX_VERSION",
    "DLPackError",
    "DLPackExport",
    "DLPackLayout",
    "export",
]

#: DLPack device types (``DLDeviceType`` of dlpack.h).
CPU = 1
CUDA, CUDA_HOST, CUDA_MANAGED = 2, 3, 13
ROCM_HOST = 11
#: Memory read where it lies by a CUDA backend: device memory and managed memory.
CUDA_DEVICES = frozenset({CUDA, CUDA_MANAGED})
#: Memory the host reads as its own: CPU memory and pinned (page-locked) host memory, CUDA's
#: or ROCm's. A producer may name pinned memory either way: torch's ``__dlpack_device__`` says
#: CUDA host for a pinned CPU tensor while its capsule says CPU.
HOST_MEMORY = frozenset({CPU, CUDA_HOST, ROCM_HOST})
DEVICE_NAMES = {
    1: "CPU",
    2: "CUDA",
    3: "CUDA host",
    4: "OpenCL",
    7: "Vulkan",
    8: "Metal",
    9: "VPI",
    10: "ROCm",
    11: "ROCm host",
    12: "an extension device",
    13: "CUDA managed",
    14: "oneAPI",
    15: "WebGPU",
    16: "Hexagon",
    17: "MAIA",
}
#: The newest DLPack ABI read here: every 1.x version has the same structure layout.
MAX_VERSION = (1, 1)
#: The CUDA stream handed to producers: the legacy default stream (DLPack's and the CUDA Array
#: Interface's 1). Producers order their pending work before it.
LEGACY_STREAM = 1

_NAME = b"dltensor"
_NAME_VERSIONED = b"dltensor_versioned"
# Kept alive by the module: a capsule stores the pointer to its name, not a copy.
_USED = b"used_dltensor"
_USED_VERSIONED = b"used_dltensor_versioned"


class _Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _Tensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _Device),
        ("ndim", ctypes.c_int32),
        ("dtype", _DataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _Managed(ctypes.Structure):
    _fields_ = [
        ("dl_tensor", _Tensor),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _ManagedVersioned(ctypes.Structure):
    _fields_ = [
        ("version", _Version),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", _Tensor),
    ]


def _capsule_function(name: str, restype: Any, *argtypes: Any) -> Any:
    # Indexing (not attribute access) gives a function object of our own, so setting its
    # types leaves ``ctypes.pythonapi``'s shared attributes alone.
    function = ctypes.pythonapi[name]
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_is_valid = _capsule_function("PyCapsule_IsValid", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
_get_pointer = _capsule_function(
    "PyCapsule_GetPointer", ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p
)
_set_name = _capsule_function("PyCapsule_SetName", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
#: ``void (*deleter)(DLManagedTensor*)``, called with the GIL held, as a capsule destructor is.
_DELETER = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)


class DLPackError(Exception):
    """The object's DLPack export failed or is not a tensor this module can read."""


@dataclass(frozen=True)
class DLPackLayout:
    """A DLPack tensor as its producer described it. ``strides`` are in elements (``None``:
    C-contiguous); an element is ``bits * lanes`` bits."""

    device_type: int
    device_id: int
    data: int
    byte_offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...] | None
    code: int
    bits: int
    lanes: int
    #: ``(major, minor)`` of a versioned capsule, ``None`` for DLPack 0.x.
    version: tuple[int, int] | None = None
    flags: int = 0

    @property
    def device_name(self) -> str:
        return DEVICE_NAMES.get(self.device_type, f"device type {self.device_type}")

    @property
    def element_bits(self) -> int:
        return self.bits * self.lanes

    @property
    def pointer(self) -> int:
        """The address of the first element."""
        return self.data + self.byte_offset


def _delete(deleter: int, managed: int) -> None:
    _DELETER(deleter)(managed)


class DLPackExport:
    """A consumed DLPack capsule: the tensor's ``layout``, its memory valid until
    :meth:`release` (or collection) calls the producer's deleter, once. ``producer`` (the
    exporting object) is kept alive alongside."""

    def __init__(self, layout: DLPackLayout, managed: int, deleter: int | None, producer: Any):
        self.layout = layout
        self.producer = producer
        self._finalizer: Any = None
        if deleter:
            self._finalizer = weakref.finalize(self, _delete, deleter, managed)
            # At interpreter exit the producer's library may already be torn down: leave the
            # memory to the process's end rather than call into it.
            self._finalizer.atexit = False

    def release(self) -> None:
        """Call the deleter now (once; later calls do nothing)."""
        if self._finalizer is not None:
            self._finalizer()


def _call_dlpack(obj: Any, stream: int | None) -> Any:
    """``obj.__dlpack__``, asking for a versioned capsule and falling back to the DLPack 0.x
    call for producers that take no ``max_version`` (the array API standard's rule)."""
    kwargs: dict[str, Any] = {} if stream is None else {"stream": stream}
    try:
        return obj.__dlpack__(max_version=MAX_VERSION, **kwargs)
    except TypeError:
        return obj.__dlpack__(**kwargs)


def _layout(tensor: _Tensor, version: tuple[int, int] | None, flags: int) -> DLPackLayout:
    ndim = int(tensor.ndim)
    if ndim < 0:
        raise DLPackError(f"the tensor has {ndim} dimensions")
    if ndim and not tensor.shape:
        raise DLPackError("the tensor has dimensions but no shape")
    shape = tuple(int(tensor.shape[i]) for i in range(ndim))
    if any(n < 0 for n in shape):
        raise DLPackError(f"the tensor has a negative dimension in its shape {shape}")
    strides = tuple(int(tensor.strides[i]) for i in range(ndim)) if tensor.strides else None
    return DLPackLayout(
        device_type=int(tensor.device.device_type),
        device_id=int(tensor.device.device_id),
        data=int(tensor.data or 0),
        byte_offset=int(tensor.byte_offset),
        shape=shape,
        strides=strides,
        code=int(tensor.dtype.code),
        bits=int(tensor.dtype.bits),
        lanes=int(tensor.dtype.lanes),
        version=version,
        flags=flags,
    )


def export(obj: Any, stream: int | None = None) -> DLPackExport:
    """Export ``obj`` through ``__dlpack__`` and take ownership of the tensor. ``stream`` is
    passed on for CUDA devices (the producer orders its pending work before that stream);
    ``None`` passes none (CPU producers accept no stream). Raises :class:`DLPackError` with
    the producer's reason."""
    try:
        capsule = _call_dlpack(obj, stream)
    except Exception as e:  # the producer's own refusal (BufferError, RuntimeError, ...)
        raise DLPackError(f"__dlpack__ failed: {type(e).__name__}: {e}") from None
    if type(capsule).__name__ != "PyCapsule":
        raise DLPackError(f"__dlpack__ returned a {type(capsule).__name__}, not a capsule")
    if _is_valid(capsule, _NAME_VERSIONED):
        address = int(_get_pointer(capsule, _NAME_VERSIONED))
        versioned = _ManagedVersioned.from_address(address)
        version = (int(versioned.version.major), int(versioned.version.minor))
        if version[0] != MAX_VERSION[0]:
            raise DLPackError(f"DLPack version {version[0]}.{version[1]} is not supported")
        layout = _layout(versioned.dl_tensor, version, int(versioned.flags))
        deleter, used = versioned.deleter, _USED_VERSIONED
    elif _is_valid(capsule, _NAME):
        address = int(_get_pointer(capsule, _NAME))
        managed = _Managed.from_address(address)
        layout = _layout(managed.dl_tensor, None, 0)
        deleter, used = managed.deleter, _USED
    else:
        raise DLPackError("__dlpack__ returned a capsule that holds no unused DLPack tensor")
    # Up to here the capsule is untouched (its destructor frees the tensor on any error).
    if _set_name(capsule, used) != 0:
        raise DLPackError("the DLPack capsule could not be renamed")
    return DLPackExport(layout, address, deleter, obj)
