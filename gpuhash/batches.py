"""Batches for the engine: one buffer, many leaves, grouped in segments (an object or a window of
one), produced in order on a background thread (``BatchReader``) while the engine hashes.

A batch is a window of a large object read in place (a slice of a host buffer or a device array,
a window mapped from its file, or one the backend read into device memory itself) or several
small objects packed into one page-aligned buffer.
"""

from __future__ import annotations

import mmap
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gpuhash._io import map_window, no_release, open_checked, read_into, releaser
from gpuhash._typing import Buffer
from gpuhash.backend import HashBackend
from gpuhash.errors import BackendError, InputError
from gpuhash.sources import Source, device_bytes

__all__ = ["MIN_WINDOW", "Batch", "BatchPlan", "BatchReader", "Segment"]

#: Objects of this many bytes or more get batches of their own, read in place (memory-mapped or
#: sliced) rather than copied into a packed buffer.
MIN_WINDOW = 1 << 20

#: One batch of a plan: ``(object index, start, length)`` for each of its segments.
BatchPlan = list[tuple[int, int, int]]


@dataclass
class Segment:
    """Bytes of one object within a batch buffer."""

    obj: int  # index of the object in the job
    offset: int  # byte offset of the segment in the batch buffer
    length: int  # bytes
    whole: bool  # the segment is the whole object


@dataclass
class Batch:
    """A buffer of segments to hash in one call, and how to release the buffer afterwards."""

    buffer: Buffer
    segments: list[Segment]
    release: Callable[[], None]


class BatchReader:
    """Produces batches in order on a background thread (``depth`` batches ahead of the
    hasher); iterate over it for the batches of ``plan``, and ``close`` it in the end."""

    def __init__(
        self,
        sources: Sequence[Source],
        plan: list[BatchPlan],
        depth: int,
        use_mmap: bool = True,
        backend: HashBackend | None = None,
    ):
        self.use_mmap = use_mmap
        #: A backend that reads file windows into its device memory itself.
        self.direct = backend
        self.sources = sources
        self.plan = plan
        self.queue: queue.Queue[Batch | BaseException | None] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gpuhash-reader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for batch_plan in self.plan:
                if self.stop.is_set():
                    return
                self._put(self._make(batch_plan))
            self._put(None)
        except BaseException as e:  # delivered to the consumer
            self._put(e)

    def _put(self, item: Batch | BaseException | None) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        if isinstance(item, Batch):
            item.release()

    def _make(self, batch_plan: BatchPlan) -> Batch:
        # A batch is either one window of a large object or several small objects, whole.
        if len(batch_plan) == 1:
            obj, start, length = batch_plan[0]
            src = self.sources[obj]
            whole = start == 0 and length == src.size
            if src.device:  # a slice of a device array is a view on the device
                window_view = src.data[start : start + length]
                return Batch(window_view, [Segment(obj, 0, length, whole)], no_release)
            if src.data is not None:
                view = src.data[start : start + length]
                return Batch(view, [Segment(obj, 0, length, whole)], releaser(view))
            if self.direct is not None and length:
                direct = _read_direct(self.direct, src, start, length)
                if direct is not None:
                    return Batch(direct, [Segment(obj, 0, length, whole)], no_release)
            if self.use_mmap and length >= MIN_WINDOW:
                m, view = map_window(src, start, length)
                return Batch(view, [Segment(obj, 0, length, whole)], releaser(view, m))
        total = sum(length for _, _, length in batch_plan)
        # Page-aligned (an anonymous mapping), so a device that shares host memory can use the
        # buffer in place (OpenCL's USE_HOST_PTR is zero-copy only for aligned memory).
        anon = mmap.mmap(-1, total) if total else None
        view = memoryview(anon) if anon is not None else memoryview(bytearray())
        segments = []
        pos = 0
        for obj, start, length in batch_plan:
            src = self.sources[obj]
            if src.data is not None:
                view[pos : pos + length] = src.data[start : start + length]
            else:
                read_into(src, start, view[pos : pos + length])
            segments.append(Segment(obj, pos, length, start == 0 and length == src.size))
            pos += length
        return Batch(view, segments, releaser(view, anon))

    def __iter__(self) -> Iterator[Batch]:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop reading, release the batches read ahead, and wait for the reader thread."""
        self.stop.set()
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Batch):
                item.release()
        self.thread.join()


def _read_direct(backend: HashBackend, src: Source, start: int, length: int) -> Any:
    """A window read by the backend into its device memory (``HashBackend.read_file``) from a
    descriptor opened and checked here, or ``None`` when the backend leaves it to the engine."""
    fd = open_checked(src)
    try:
        array = backend.read_file(fd, src.offset + start, length)
    except OSError as e:
        raise InputError(f"{src.name}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if array is None:
        return None
    view = device_bytes(src.name, array)
    if view is None or view.nbytes != length:
        raise BackendError(
            f"backend {backend.name}: read_file returned no device array of {length} bytes"
        )
    return view
