"""Sources: where an object's bytes come from (a file, a host buffer or a device array).

A ``Source`` names one object to hash and says where its bytes are; ``memory_source`` builds
one over a buffer, a host array or a device array (``DeviceBytes``, read through the array's
protocol by ``gpuhash.arrays``), and ``source_stat`` records a listed file's ``FileStat`` for
incremental re-hashing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from gpuhash.arrays import DeviceBytes, device_bytes, host_array
from gpuhash.errors import InputError

# DeviceBytes and device_bytes live in gpuhash.arrays; re-exported here, where backends and
# callers have always found them.
__all__ = [
    "RACY_NS",
    "RACY_TIME",
    "DeviceBytes",
    "FileStat",
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
    #: the mtime back. Checked with ``identity``, and recorded by ``source_stat``.
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
    """A ``Source`` over a bytes-like object, a numpy array or a CPU DLPack tensor (torch,
    jax: its bytes in C order), or over a device array that a backend hashes where it lies,
    never copied to the host by the engine: a pyopencl array, or any object with
    ``__sycl_usm_array_interface__`` (dpctl memory, dpnp arrays), a CUDA ``__dlpack__``
    (torch, CuPy) or ``__cuda_array_interface__`` (Numba), C-contiguous, as its bytes in C
    order. ``gpuhash.arrays`` says how each protocol is read, and when an array is refused."""
    device_view = device_bytes(name, data)
    if device_view is not None:
        return Source(
            name=name, kind=kind, size=int(device_view.nbytes), data=device_view, device=True
        )
    numpy = sys.modules.get("numpy")  # an ndarray implies numpy is already imported
    if numpy is None or not isinstance(data, numpy.ndarray):
        host = host_array(name, data)
        if host is not None:
            data = host
            numpy = sys.modules["numpy"]
    if numpy is not None and isinstance(data, numpy.ndarray):
        # As flat bytes: memoryview cannot cast arrays with a zero in their shape.
        data = numpy.ascontiguousarray(data).reshape(-1).view(numpy.uint8)
    try:
        view = memoryview(data).cast("B")  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{name}: object of type {type(data).__name__} is not a buffer") from None
    return Source(name=name, kind=kind, size=view.nbytes, data=view)


#: A file whose modification time (or ctime) is this close to when it was listed may change again
#: within the same timestamp tick (coarse kernel clocks, 2 s on FAT) without that time moving.
RACY_NS = 2_000_000_000
#: The mtime or ctime recorded for such a file: it never matches, so the file is always re-hashed.
RACY_TIME = -1

#: A listed file as a manifest's ``FileStat`` records it: (file size, mtime_ns, ctime_ns, inode,
#: device). A ctime of 0 is unknown (a manifest written before ``FileStat`` had one).
FileStat = tuple[int, int, int, int, int]


def source_stat(src: Source) -> FileStat | None:
    """The ``FileStat`` of a file source as listed, for incremental re-hashing; None for memory.
    An mtime or ctime within ``RACY_NS`` of the listing is recorded as ``RACY_TIME``."""
    if src.identity is None:
        return None
    dev, ino, mtime_ns = src.identity
    ctime_ns = 0 if src.ctime_ns is None else src.ctime_ns
    if src.listed_ns is None or mtime_ns > src.listed_ns - RACY_NS:
        mtime_ns = RACY_TIME
    if src.listed_ns is None or ctime_ns > src.listed_ns - RACY_NS:
        ctime_ns = RACY_TIME
    return (src.size if src.file_size is None else src.file_size, mtime_ns, ctime_ns, ino, dev)
