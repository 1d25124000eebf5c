"""Host bytes onto a device: several threads fill page-locked staging chunks, and the device
copies each chunk while the next one is filled.

A device that does not work on host memory in place (a discrete GPU) gets host data through
:func:`stage_in`, which ``gpuhash.device.KernelBackend`` calls for every window of host data:
a buffer (packed small files, host arrays, a mapped window) or a ``gpuhash.backend.FileSpan``
(a window of an open file, read here with ``pread``). The window goes through a ring of
``RING`` chunks of ``CHUNK`` bytes of page-locked memory per slot (CUDA's pinned memory, an
OpenCL ``ALLOC_HOST_PTR`` buffer, SYCL host USM): each chunk is filled by :class:`ParallelFill`
(``copy_threads()`` threads, each ``pread``ing or copying its own piece, the GIL released by
``os.preadv`` and numpy's copy), then its device copy is enqueued without waiting, and a chunk
is refilled only once its previous copy is done. The pinned memory stays a few chunks per
slot, whatever the window (4 GiB on an H200), and the host-side copy runs on as many cores as
are given to it: one thread copies about 5-10 GB/s out of the page cache, less than a PCIe 5
link takes. A device that shares host memory gets a file span read by the same threads into a
reusable host buffer that the kernels then read in place (:meth:`ParallelFill.fill`).

A short read (the file was truncated while it was hashed) is the ``InputError`` of
``FileSpan.readinto``, naming the file; every thread is waited for before it is raised, so no
thread writes a buffer after the call returns.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from gpuhash._typing import Buffer
from gpuhash.backend import FileSpan

__all__ = [
    "CHUNK",
    "MIN_PIECE",
    "RING",
    "ParallelFill",
    "Staging",
    "copy_threads",
    "stage_in",
]

#: Bytes of one staging chunk, and chunks per slot.
CHUNK = 64 << 20
RING = 3
#: Bytes one thread copies at least (smaller copies are not split).
MIN_PIECE = 4 << 20
#: Threads at most: enough for a PCIe 5 link out of the page cache (docs/backends.md).
MAX_THREADS = 8

#: Where a chunk's device copy is enqueued: ``(device offset, host chunk) -> waitable``.
CopyFn = Callable[[int, memoryview], Any]


def copy_threads() -> int:
    """Threads for host copies: the CPUs this process may run on, at most ``MAX_THREADS``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cpus))


class ParallelFill:
    """Fills host buffers from a buffer or a ``FileSpan`` with ``threads`` threads (the caller's
    and ``threads - 1`` pool threads), each its own piece of ``MIN_PIECE`` bytes or more."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = copy_threads() if threads is None else max(1, threads)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def fill(self, out: memoryview, src: Buffer | FileSpan, at: int = 0) -> None:
        """``out[:]`` = bytes ``[at, at + len(out))`` of ``src``."""
        n = len(out)
        pieces = max(1, min(self.threads, n // MIN_PIECE))
        step = max(4096, -(-n // pieces))
        step += -step % 4096  # pieces start on page boundaries
        bounds = [(lo, min(n, lo + step)) for lo in range(0, n, step)] or [(0, 0)]
        futures: list[Future[None]] = []
        if len(bounds) > 1:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads - 1, "gpuhash-copy")
                pool = self._pool
            futures = [pool.submit(_fill, out, src, at, lo, hi) for lo, hi in bounds[1:]]
        first: BaseException | None = None
        try:
            _fill(out, src, at, *bounds[0])
        except BaseException as e:
            first = e
        for f in futures:  # every piece done (or failed) before anything is raised
            try:
                f.result()
            except BaseException as e:
                first = first or e
        if first is not None:
            raise first

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()


class Staging:
    """One slot's host buffers, made on first use: the ring of ``RING`` page-locked chunks of
    ``CHUNK`` bytes (``pinned(nbytes)`` gives one: its owner and a writable view), and a
    page-aligned host buffer reused from batch to batch (file spans are read into it on a
    device that works on host memory in place)."""

    def __init__(self, pinned: Callable[[int], tuple[Any, memoryview]]) -> None:
        self._pinned = pinned
        self._ring: list[tuple[Any, memoryview]] = []
        self._host: mmap.mmap | None = None

    def ring(self) -> list[memoryview]:
        if not self._ring:
            self._ring = [self._pinned(CHUNK) for _ in range(RING)]
        return [view for _, view in self._ring]

    def host(self, nbytes: int) -> memoryview:
        """A view of ``nbytes`` of the host buffer, grown when needed (an older buffer lives
        on while the views of a batch that used it do)."""
        if self._host is None or len(self._host) < nbytes:
            self._host = mmap.mmap(-1, nbytes)
        return memoryview(self._host)[:nbytes]

    def clear(self) -> None:
        self._ring = []
        self._host = None


def _fill(out: memoryview, src: Buffer | FileSpan, at: int, lo: int, hi: int) -> None:
    if hi <= lo:
        return
    if isinstance(src, FileSpan):
        src.readinto(out[lo:hi], at + lo)
        return
    import numpy as np  # numpy's copy releases the GIL; a memoryview assignment does not

    view = memoryview(src).cast("B")
    np.copyto(np.frombuffer(out[lo:hi], np.uint8), np.frombuffer(view[at + lo : at + hi], np.uint8))


def stage_in(
    src: Buffer | FileSpan,
    nbytes: int,
    ring: Sequence[memoryview],
    fill: ParallelFill,
    copy: CopyFn,
    wait: Callable[[Any], None],
) -> None:
    """Enqueue device copies of bytes ``[0, nbytes)`` of ``src`` through the page-locked
    chunks of ``ring``: chunk ``k`` of the window goes through ``ring[k % len(ring)]``, which
    is refilled only after ``wait`` on the waitable its previous ``copy`` returned. Returns once
    every copy is enqueued; the caller's queue orders them before its kernels, and the ring is
    free again once that queue has run them (the batch was read back)."""
    size = min(len(c) for c in ring)
    pending: list[Any] = [None] * len(ring)
    for k, at in enumerate(range(0, nbytes, size)):
        m = min(size, nbytes - at)
        slot = k % len(ring)
        if pending[slot] is not None:
            wait(pending[slot])
            pending[slot] = None
        chunk = ring[slot][:m]
        fill.fill(chunk, src, at)
        pending[slot] = copy(at, chunk)
