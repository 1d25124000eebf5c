"""Sources: where an object's bytes come from (a file, a host buffer or a device array).

A ``Source`` names one object to hash and says where its bytes are; ``memory_source`` builds
one over a buffer or a device array (``DeviceBytes``: ``__sycl_usm_array_interface__``,
``__cuda_array_interface__`` or a CUDA ``__dlpack__``), and ``source_stat`` records a listed
file's identity for incremental re-hashing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from gpuhash.errors import InputError

__all__ = [
    "RACY_MTIME",
    "RACY_NS",
    "DeviceBytes",
    "Source",
    "device_bytes",
    "memory_source",
    "source_stat",
]


@dataclass(frozen=True, slots=True)
class Source:
    """One object to hash: a file (``path``) or a buffer already in memory (``data``)."""

    name: str
    kind: int
    size: int
    path: str | None = None
    #: Host bytes (a memoryview), or a device array a backend hashes in place (``device``).
    data: Any = None
    #: ``data`` lives on a device: it is never copied into a packed batch.
    device: bool = False
    #: (st_dev, st_ino, st_mtime_ns) seen when the file was listed, to detect changes.
    identity: tuple[int, int, int] | None = None
    #: st_ctime_ns seen when the file was listed: a write moves it even where the writer puts
    #: the mtime back. Checked with ``identity``; not part of ``source_stat``.
    ctime_ns: int | None = None
    #: With ``root``, the file is opened as ``rel`` beneath the directory ``root`` without
    #: following any symbolic link on the way (``open_beneath``); ``path`` is then for messages.
    root: str | None = None
    rel: str | None = None
    #: The object is bytes ``[offset, offset + size)`` of its file (a tensor of a safetensors
    #: file), whose whole size is ``file_size``; a whole file has offset 0 and no file_size.
    offset: int = 0
    file_size: int | None = None
    #: A tensor's manifest metadata (dtype, shape, source, offset), carried to its digest.
    tensor: dict[str, Any] | None = None
    #: When the file was listed (``time.time_ns()``), to tell a racily recent mtime.
    listed_ns: int | None = None


def memory_source(name: str, kind: int, data: object) -> Source:
    """A ``Source`` over a bytes-like object or a numpy array (its bytes in C order), or over
    a device array that a backend hashes where it lies, never copied to the host by the engine:
    a pyopencl array, or any object with ``__sycl_usm_array_interface__`` (dpctl memory, dpnp
    arrays), ``__cuda_array_interface__`` (CuPy, Numba) or a CUDA ``__dlpack__`` (torch), C-
    contiguous, as its bytes in C order."""
    device_view = device_bytes(name, data)
    if device_view is not None:
        return Source(
            name=name, kind=kind, size=int(device_view.nbytes), data=device_view, device=True
        )
    numpy = sys.modules.get("numpy")  # an ndarray implies numpy is already imported
    if numpy is not None and isinstance(data, numpy.ndarray):
        # As flat bytes: memoryview cannot cast arrays with a zero in their shape.
        data = numpy.ascontiguousarray(data).reshape(-1).view(numpy.uint8)
    try:
        view = memoryview(data).cast("B")  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{name}: object of type {type(data).__name__} is not a buffer") from None
    return Source(name=name, kind=kind, size=view.nbytes, data=view)


@dataclass(frozen=True)
class DeviceBytes:
    """Bytes ``[start, start + nbytes)`` of a device array ``owner``, which lives on a device
    of the kind ``interface`` (``"sycl"``, ``"cuda"``). Slicing gives another view; a backend
    that knows the interface turns it into a device pointer (``gpuhash.device``)."""

    interface: str
    owner: Any
    start: int
    nbytes: int

    def __getitem__(self, item: slice) -> DeviceBytes:
        lo, hi, step = item.indices(self.nbytes)
        if step != 1:
            raise ValueError("device bytes can only be sliced contiguously")
        return DeviceBytes(self.interface, self.owner, self.start + lo, max(0, hi - lo))


def _contiguous_nbytes(name: str, iface: dict[str, Any]) -> int:
    import numpy as np

    shape = tuple(int(n) for n in iface.get("shape", ()))
    itemsize = np.dtype(iface["typestr"]).itemsize
    strides = iface.get("strides")
    if strides is not None:
        expected, step = [], itemsize
        for n in reversed(shape):
            expected.append(step)
            step *= n
        if tuple(strides) != tuple(reversed(expected)) and any(n > 1 for n in shape):
            raise InputError(f"{name}: a device array must be C-contiguous to be hashed in place")
    count = 1
    for n in shape:
        count *= n
    return int(count * itemsize)


def device_bytes(name: str, data: object) -> Any:
    """A device array as a 1-D byte view (pyopencl arrays stay pyopencl arrays), else None."""
    cl_array = sys.modules.get("pyopencl.array")
    if cl_array is not None and isinstance(data, cl_array.Array):
        if not data.flags.c_contiguous:
            raise InputError(f"{name}: a device array must be C-contiguous to be hashed in place")
        import numpy as np

        return data.reshape(-1).view(np.uint8)
    sycl = getattr(data, "__sycl_usm_array_interface__", None)
    if sycl is not None:
        return DeviceBytes("sycl", data, 0, _contiguous_nbytes(name, sycl))
    cuda = getattr(data, "__cuda_array_interface__", None)
    if cuda is not None:
        return DeviceBytes("cuda", data, 0, _contiguous_nbytes(name, cuda))
    if hasattr(data, "__dlpack__") and hasattr(data, "__dlpack_device__"):
        kind, _ = data.__dlpack_device__()
        if int(kind) in (2, 3, 13):  # kDLCUDA, kDLCUDAHost, kDLCUDAManaged
            if hasattr(data, "is_contiguous") and not data.is_contiguous():
                raise InputError(
                    f"{name}: a device array must be C-contiguous to be hashed in place"
                )
            nbytes = int(getattr(data, "nbytes", 0)) or _dlpack_nbytes(data)
            return DeviceBytes("cuda", data, 0, nbytes)
    return None


def _dlpack_nbytes(data: Any) -> int:
    numel = data.numel() if hasattr(data, "numel") else 0
    return int(numel) * int(data.element_size()) if hasattr(data, "element_size") else 0


#: A file whose modification time is this close to when it was listed may change again within
#: the same timestamp tick (coarse kernel clocks, 2 s on FAT) without its mtime moving.
RACY_NS = 2_000_000_000
#: The mtime recorded for such a file: it never matches, so the file is always re-hashed.
RACY_MTIME = -1


def source_stat(src: Source) -> tuple[int, int, int, int] | None:
    """(file size, mtime_ns, inode, device) of a file source as listed, for incremental
    re-hashing; None for memory. A racily recent mtime is recorded as ``RACY_MTIME``."""
    if src.identity is None:
        return None
    dev, ino, mtime_ns = src.identity
    if src.listed_ns is None or mtime_ns > src.listed_ns - RACY_NS:
        mtime_ns = RACY_MTIME
    return (src.size if src.file_size is None else src.file_size, mtime_ns, ino, dev)
