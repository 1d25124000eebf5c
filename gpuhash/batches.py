"""Batches for the engine: one buffer, many leaves, grouped in segments (an object or a window of
one), produced in order on a background thread (``BatchReader``) while the engine hashes.

A batch is a window of a large object (a slice of a host buffer or a device array; from a file,
a window read into a page-aligned buffer, mapped, read by the backend into device memory
itself, or handed to the backend as a ``FileSpan`` it reads where it hashes) or several small
objects packed into one page-aligned buffer.

Files are checked for changes (spec section 1.2, ``gpuhash._io.OpenFile``): each is opened as
listed, and checked again once its bytes were consumed: a window of a file (``Batch.check``)
after it was hashed, small files packed together right after they were read.
"""

from __future__ import annotations

import contextlib
import mmap
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gpuhash._io import (
    FileState,
    OpenFile,
    changed,
    map_fd,
    no_release,
    read_fd,
    read_into,
    releaser,
)
from gpuhash._typing import Buffer
from gpuhash.backend import FileSpan, HashBackend
from gpuhash.errors import BackendError, InputError
from gpuhash.sources import Source, device_bytes

__all__ = [
    "MAX_PACKED",
    "MIN_WINDOW",
    "NATIVE_PIECE",
    "Batch",
    "BatchPlan",
    "BatchReader",
    "Segment",
    "SpanPieces",
]

#: Objects of this many bytes or more get batches of their own, read in place (memory-mapped or
#: sliced) rather than copied into a packed buffer.
MIN_WINDOW = 1 << 20

#: Small objects packed into one buffer take at most this many bytes (or the batch, if less):
#: a GPU's batch can be many GiB (gpuhash.geometry), and packed batches live in host memory,
#: two in flight and one read ahead.
MAX_PACKED = 1 << 30

#: Bytes of a ``FileSpan`` fed to a native whole-object hasher at a time (``SpanPieces``):
#: large enough for a multi-threaded hasher to split, small enough to stay in the last-level
#: cache between the read and the hash (docs/benchmarks.md, "Reading or mapping").
NATIVE_PIECE = 4 << 20

#: One batch of a plan: ``(object index, start, length)`` for each of its segments.
BatchPlan = list[tuple[int, int, int]]


@dataclass
class Segment:
    """Bytes of one object within a batch buffer."""

    obj: int  # index of the object in the job
    offset: int  # byte offset of the segment in the batch buffer
    length: int  # bytes
    whole: bool  # the segment is the whole object


def unchecked() -> None:
    """The check of a batch that has nothing to check (``Batch.check``)."""


@dataclass
class Batch:
    """A buffer of segments to hash in one call, and how to release the buffer afterwards."""

    #: What ``hash_subtrees`` gets as ``data``: host bytes, a device array, or a ``FileSpan``.
    buffer: Buffer | FileSpan
    segments: list[Segment]
    release: Callable[[], None]
    #: Called once the buffer's bytes were hashed, before a digest of its objects is reported:
    #: ``InputError`` if the file it was read or mapped from changed since it was opened.
    check: Callable[[], None] = unchecked


#: Private anonymous memory, its pages populated at once where the system can (one call instead
#: of a page fault per page: measured 0.5 s per GiB instead of 0.9 here).
_ANONYMOUS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)


class Buffers:
    """Page-aligned anonymous buffers for the batches read with pread, reused once released:
    a fresh mapping per window costs a page fault per page written (measured here: 0.9 s per
    GiB, against 0.11 s for reading into a reused one). A buffer still exported (a view kept by
    a backend, an error's traceback) is never reused; it is left to the garbage collector."""

    #: Free buffers kept, at most, whatever their sizes (the batches in flight are fewer): when
    #: one more is released, the one released longest ago is unmapped.
    KEEP = 4

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.free: list[mmap.mmap] = []  # oldest first
        self.closed = False

    def take(self, size: int) -> tuple[memoryview, Callable[[], None]]:
        """A buffer of ``size`` (> 0) bytes and its releaser (call it once)."""
        m = None
        with self.lock:
            for i in range(len(self.free) - 1, -1, -1):
                if len(self.free[i]) == size:
                    m = self.free.pop(i)
                    break
        if m is None:
            m = mmap.mmap(-1, size, flags=_ANONYMOUS)
        view = memoryview(m)

        def release() -> None:
            try:
                view.release()
                m.resize(size)  # BufferError while anything still exports the mapping
            except BufferError:
                return  # left for the garbage collector
            except (OSError, SystemError):
                m.close()  # no resizing here: not reused
                return
            with self.lock:
                if self.closed:
                    evicted = [m]
                else:
                    self.free.append(m)
                    evicted = self.free[: -self.KEEP]
                    del self.free[: -self.KEEP]
            for old in evicted:
                old.close()

        return view, release

    def close(self) -> None:
        """Unmap the free buffers; buffers released later are unmapped then."""
        with self.lock:
            self.closed = True
            free, self.free = self.free, []
        for m in free:
            m.close()


class BatchReader:
    """Produces batches in order on a background thread (``depth`` batches ahead of the
    hasher); iterate over it for the batches of ``plan``, and ``close`` it in the end."""

    def __init__(
        self,
        sources: Sequence[Source],
        plan: list[BatchPlan],
        depth: int,
        use_mmap: bool = False,
        backend: HashBackend | None = None,
        spans: bool = False,
    ):
        self.use_mmap = use_mmap
        #: Windows of files of MIN_WINDOW or more (without ``use_mmap``) become ``FileSpan``s
        #: that the backend (or the engine, feeding a native hasher) reads itself.
        self.spans = spans and not use_mmap
        #: A backend that reads file windows into its device memory itself.
        self.direct = backend
        self.sources = sources
        self.plan = plan
        self.buffers = Buffers()
        #: The state of a file when its object's first window was read, for the windows after.
        self.first: dict[int, FileState] = {}
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
            if src.path is not None and length:
                return self._window(obj, src, start, length, whole)
        total = sum(length for _, _, length in batch_plan)
        # Page-aligned (an anonymous mapping), so a device that shares host memory can use the
        # buffer in place (OpenCL's USE_HOST_PTR is zero-copy only for aligned memory).
        if total:
            view, release = self.buffers.take(total)
        else:
            view, release = memoryview(bytearray()), no_release
        try:
            segments = []
            pos = 0
            for obj, start, length in batch_plan:
                src = self.sources[obj]
                if src.data is not None:
                    view[pos : pos + length] = src.data[start : start + length]
                else:
                    read_into(src, start, view[pos : pos + length])  # checked after the read
                segments.append(Segment(obj, pos, length, start == 0 and length == src.size))
                pos += length
        except BaseException:
            release()
            raise
        return Batch(view, segments, release)

    def _window(self, obj: int, src: Source, start: int, length: int, whole: bool) -> Batch:
        """A window of a file, read (or mapped) from a descriptor that stays open until the
        batch is released, so that ``Batch.check`` can tell whether the file changed before
        the window was hashed. A later window of an object must find its file as the first
        one did."""
        f = OpenFile(src)
        try:
            first = self.first.get(obj, f.state) if start else f.state
            if f.state != first:
                raise changed(src.name)
            if start + length < src.size:
                self.first[obj] = first
            else:
                self.first.pop(obj, None)
            segments = [Segment(obj, 0, length, whole)]
            if self.direct is not None:
                direct = _read_direct(self.direct, f, src, start, length)
                if direct is not None:
                    return Batch(direct, segments, f.close, f.check)
            if self.spans and length >= MIN_WINDOW:
                span = FileSpan(f.fd, src.offset + start, length, src.name)
                return Batch(span, segments, f.close, f.check)
            if self.use_mmap and length >= MIN_WINDOW:
                m, view = map_fd(f.fd, src.name, src.offset + start, length)
                return Batch(view, segments, _closing(releaser(view, m), f), f.check)
            view, release = self.buffers.take(length)
            try:
                read_fd(f.fd, src, start, view)
            except BaseException:
                release()
                raise
            return Batch(view, segments, _closing(release, f), f.check)
        except BaseException:
            f.close()
            raise

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
        self.buffers.close()


def _closing(release: Callable[[], None], f: OpenFile) -> Callable[[], None]:
    """``release``, then close ``f``."""

    def both() -> None:
        try:
            release()
        finally:
            f.close()

    return both


def _read_direct(backend: HashBackend, f: OpenFile, src: Source, start: int, length: int) -> Any:
    """A window read by the backend into its device memory (``HashBackend.read_file``) from
    the descriptor of ``f`` (opened and checked by the caller), or ``None`` when the backend
    leaves it to the engine."""
    try:
        array = backend.read_file(f.fd, src.offset + start, length)
    except OSError as e:
        raise InputError(f"{src.name}: cannot read: {e.strerror or e}") from None
    if array is None:
        return None
    view = device_bytes(src.name, array)
    if view is None or view.nbytes != length:
        raise BackendError(
            f"backend {backend.name}: read_file returned no device array of {length} bytes"
        )
    return view


class SpanPieces:
    """Reads ``FileSpan``s piece by piece (``NATIVE_PIECE`` bytes) into two buffers reused from
    span to span, for a native whole-object hasher; with ``pool``, the next piece is read on it
    while the caller hashes the current one."""

    def __init__(self, pool: ThreadPoolExecutor | None, piece: int = NATIVE_PIECE) -> None:
        self.pool = pool
        self.piece = piece
        self.buffers: list[memoryview] = []

    def pieces(self, span: FileSpan) -> Generator[memoryview, None, None]:
        """Views of the span's bytes, in order; each is valid until the next one is asked
        for. A short read (the file was truncated) is an ``InputError`` naming the file."""
        if not self.buffers:
            count = 2 if self.pool is not None else 1
            self.buffers = [memoryview(bytearray(self.piece)) for _ in range(count)]

        def read(i: int, at: int) -> memoryview:
            view = self.buffers[i][: min(self.piece, span.length - at)]
            span.readinto(view, at)
            return view

        if self.pool is None:
            for at in range(0, span.length, self.piece):
                yield read(0, at)
            return
        ahead: Future[memoryview] = self.pool.submit(read, 0, 0)
        try:
            for k, at in enumerate(range(0, span.length, self.piece)):
                view = ahead.result()
                if at + self.piece < span.length:
                    ahead = self.pool.submit(read, (k + 1) % 2, at + self.piece)
                yield view
        finally:
            # Given up early (an error while hashing): no read may still be writing a buffer,
            # or reading the descriptor the engine is about to close.
            if not ahead.cancel():
                with contextlib.suppress(BaseException):
                    ahead.exception()
