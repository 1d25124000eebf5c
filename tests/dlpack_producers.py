"""DLPack producers for the tests: real capsules, built with ctypes exactly as a C producer
builds them (dlpack.h's structures, written out here independently of ``gpuhash.dlpack``),
over any pointer, any device type, dtype, shape, strides and byte offset, so the CUDA paths'
layout logic runs without a GPU. Each producer counts its deleter's calls: a consumer that
leaks leaves it at 0, one that frees twice makes it 2.

A producer keeps every capsule it made (so none is freed during a test) and the tests read
their names: a consumer that takes a tensor over renames its capsule ``used_dltensor``
(``used_dltensor_versioned``) and must then call the deleter itself, once; one that refuses
before taking it over leaves the name, and so the tensor, to the producer. (The capsules have
no destructor: one written in Python cannot run while the consumer that dropped the capsule
has an exception set, as numpy's ``from_dlpack`` has when it refuses a dtype.)"""

from __future__ import annotations

import ctypes
from typing import Any

#: DLPack type codes (DLDataTypeCode) used by the tests.
UINT, BFLOAT, FLOAT4_E2M1FN, FLOAT8_E4M3FN = 1, 4, 17, 10
CPU, CUDA, CUDA_HOST, ROCM, ROCM_HOST = 1, 2, 3, 10, 11


class Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class Tensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", Device),
        ("ndim", ctypes.c_int32),
        ("dtype", DataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class Managed(ctypes.Structure):
    _fields_ = [("dl_tensor", Tensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER)]


class Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class ManagedVersioned(ctypes.Structure):
    _fields_ = [
        ("version", Version),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", DELETER),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", Tensor),
    ]


_NAME, _NAME_VERSIONED = b"dltensor", b"dltensor_versioned"


def _api(name: str, restype: Any, *argtypes: Any) -> Any:
    function = ctypes.pythonapi[name]
    function.restype, function.argtypes = restype, list(argtypes)
    return function


_new = _api("PyCapsule_New", ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
_get_name = _api("PyCapsule_GetName", ctypes.c_char_p, ctypes.py_object)

#: address of a live managed tensor -> (its producer, the ctypes objects it points into)
_LIVE: dict[int, tuple[Producer, list[Any]]] = {}


def _deleter(address: int | None) -> None:
    producer, _ = _LIVE.pop(address or 0)
    producer.deleted += 1


_DELETER_FN = DELETER(_deleter)


def capsule_name(capsule: Any) -> bytes:
    return bytes(_get_name(capsule))


class Producer:
    """An array whose only protocol is DLPack (``__dlpack__``, ``__dlpack_device__``)."""

    def __init__(
        self,
        pointer: int,
        shape: tuple[int, ...],
        *,
        strides: tuple[int, ...] | None = None,
        device: tuple[int, int] = (CUDA, 0),
        code: int = UINT,
        bits: int = 8,
        lanes: int = 1,
        byte_offset: int = 0,
        version: tuple[int, int] | None = (1, 0),
        keep: Any = None,
        refuse: BaseException | None = None,
        capsule_device: tuple[int, int] | None = None,
    ) -> None:
        self.pointer, self.shape, self.strides, self.device = pointer, shape, strides, device
        #: The device the capsule names, where it differs from ``__dlpack_device__``'s.
        self.capsule_device = device if capsule_device is None else capsule_device
        self.code, self.bits, self.lanes, self.byte_offset = code, bits, lanes, byte_offset
        self.version, self.keep, self.refuse = version, keep, refuse
        self.streams: list[Any] = []  # the stream argument of every __dlpack__ call
        self.capsules: list[Any] = []  # every capsule made, kept alive
        self.deleted = 0  # calls of the deleter

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None) -> Any:
        self.streams.append(stream)
        if self.refuse is not None:
            raise self.refuse
        ndim = len(self.shape)
        shape = (ctypes.c_int64 * max(1, ndim))(*self.shape)
        strides = None if self.strides is None else (ctypes.c_int64 * max(1, ndim))(*self.strides)
        tensor = Tensor(
            data=self.pointer,
            device=Device(*self.capsule_device),
            ndim=ndim,
            dtype=DataType(self.code, self.bits, self.lanes),
            shape=ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64)),
            strides=ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64)) if strides else None,
            byte_offset=self.byte_offset,
        )
        managed: Any
        if self.version is not None and max_version is not None and max_version[0] >= 1:
            managed = ManagedVersioned(
                version=Version(*self.version), deleter=_DELETER_FN, flags=0, dl_tensor=tensor
            )
            name = _NAME_VERSIONED
        else:
            managed = Managed(dl_tensor=tensor, deleter=_DELETER_FN)
            name = _NAME
        address = ctypes.addressof(managed)
        _LIVE[address] = (self, [managed, shape, strides])
        capsule = _new(address, name, None)
        self.capsules.append(capsule)
        return capsule


class Unversioned(Producer):
    """A DLPack 0.x producer: ``__dlpack__`` takes no ``max_version``."""

    def __dlpack__(self, *, stream: Any = None) -> Any:  # type: ignore[override]
        return super().__dlpack__(stream=stream)
