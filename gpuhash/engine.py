"""Tree assembly shared by every backend: batching, streaming, trees, object and artifact digests.

A backend only hashes leaves and combines pairs (``gpuhash.backend``); this module decides which
leaves go into which call and how the values combine, following the specification:

* Objects no larger than a *window* are packed, many to one buffer, into one ``hash_subtrees``
  call, which hashes their leaves and reduces each object's tree to its top (pairs ``(0,1),
  (2,3)...``, a lone last value carried up unchanged: spec section 3; ``gpuhash.tree``), on the
  device where the backend can.
* Larger objects stream through windows of ``W = 2^j * L`` bytes. A full window's leaves form a
  complete subtree; complete subtrees are merged on a stack like a binary counter, and the last
  (partial) window is folded in from the right. This yields the RFC 6962 shape exactly, whatever
  ``W`` is, so batch size never influences a digest.
* ``OBJECT`` (section 3), the lattice length element (section 5) and the artifact digest
  (section 6) are computed here on the host: a few hashes per object.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import hmac
import itertools
import mmap
import os
import queue
import stat
import sys
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpuhash import reference as ref
from gpuhash._typing import Buffer
from gpuhash.algorithms import BLAKE3, LTHASH, Algorithm
from gpuhash.backend import HashBackend, LeafTable
from gpuhash.errors import BackendError, InputError, UsageError
from gpuhash.tree import reduce_groups

if TYPE_CHECKING:
    import numpy as np

# numpy (and blake3) are imported where they are used: the BLAKE3 path needs neither numpy nor
# anything else heavy, which keeps `gpuhash digest` quick to start.

#: ``progress(bytes_done, bytes_total)``, called after each batch.
ProgressFn = Callable[[int, int], None]

_MIN_WINDOW = 1 << 20
#: Large objects whose last window is hashed are finished together, this many at most.
_FINISH_AT_ONCE = 256


# ---------------------------------------------------------------------------------------------
# Sources: where an object's bytes come from
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
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
    device_view = _device_bytes(name, data)
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


def _device_bytes(name: str, data: object) -> Any:
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


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectDigest:
    """One object of a manifest: name, kind, size, digest (and tensor metadata, later)."""

    name: str
    kind: int
    size: int
    digest: bytes
    tensor: dict[str, object] | None = field(default=None, compare=False)
    #: The file as it was when read: (file size, mtime_ns, inode, device); informative, used by
    #: incremental re-hashing (``gpuhash.api.rehash``).
    stat: tuple[int, int, int, int] | None = field(default=None, compare=False)

    @property
    def entry(self) -> ref.Entry:
        return (self.kind, self.name, self.size, self.digest)


def artifact_digest(algorithm: Algorithm, objects: Iterable[ObjectDigest]) -> bytes:
    """ARTIFACT (spec section 6) with fast primitives; equal to ``reference.artifact_digest``."""
    ident = algorithm.id
    try:
        ordered = ref.sort_entries(o.entry for o in objects)
        for kind, name, _size, digest in ordered:
            ref.check_name(name, kind)
            if len(digest) != algorithm.digest_size:
                raise ref.SpecError(f"object {name!r} has a digest of {len(digest)} bytes")
    except ref.SpecError as e:
        raise InputError(str(e)) from None
    if algorithm.family == LTHASH:
        acc = _lanes(_shake(ref.enc_str(ident) + ref.ROLE_LATTICE_BASE))
        for entry in ordered:
            acc += _lanes(
                _shake(ref.enc_str(ident) + ref.entry_bytes(entry) + ref.ROLE_LATTICE_OBJECT)
            )
        return acc.tobytes()
    parts = [ref.enc_str(ident), ref.le64(len(ordered))]
    parts += [ref.entry_bytes(e) for e in ordered]
    parts.append(ref.ROLE_ARTIFACT)
    body = b"".join(parts)
    if algorithm.family == BLAKE3:
        import blake3

        return bytes(blake3.blake3(body).digest())
    return ref.MERKLE_HASHES[algorithm.family](body)


def lattice_update(
    algorithm: Algorithm,
    digest: bytes,
    removed: Iterable[ObjectDigest],
    added: Iterable[ObjectDigest],
) -> bytes:
    """The lattice artifact digest after removing and adding objects (spec section 6, update
    law): O(changed objects), whatever the artifact's size."""
    if algorithm.family != LTHASH:
        raise UsageError(f"{algorithm.family} has no update law; only {LTHASH} has")
    ident = ref.enc_str(algorithm.id)

    def element(o: ObjectDigest) -> Any:
        return _lanes(_shake(ident + ref.entry_bytes(o.entry) + ref.ROLE_LATTICE_OBJECT))

    acc = _lanes(digest).copy()
    for o in removed:
        acc -= element(o)
    for o in added:
        acc += element(o)
    return bytes(acc.tobytes())


def digests_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison (spec sections 5 and 7)."""
    return hmac.compare_digest(a, b)


def _shake(x: bytes) -> bytes:
    return hashlib.shake_256(x).digest(ref.LATTICE_BYTES)


def _lanes(b: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(b, dtype="<u2").astype(np.uint16)


def subtree_values(
    backend: HashBackend,
    algorithm: Algorithm,
    data: Buffer,
    size: int,
    ranges: Sequence[tuple[int, int]],
    *,
    first_byte: int = 0,
) -> list[bytes]:
    """The value of the subtree over leaves [lo, hi) of an object (its bytes ``data``, ``size``
    long) for each range, never a root (proof values, spec section 7), computed by
    ``backend`` in one ``hash_subtrees`` call. ``first_byte``: where ``data`` starts in the
    object (a multiple of the leaf size), when it holds only the ranges' bytes."""
    leaf = algorithm.leaf_size
    offsets, lengths, indices, roots = array("Q"), array("Q"), array("Q"), array("B")
    for lo, hi in ranges:
        for j in range(lo, hi):
            offsets.append(j * leaf - first_byte)
            lengths.append(min(leaf, size - j * leaf) if size else 0)
            indices.append(j)
            roots.append(0)
    table = LeafTable(offset=offsets, length=lengths, index=indices, root=roots)
    counts = [hi - lo for lo, hi in ranges]
    values = backend.hash_subtrees(algorithm, data, table, counts, [False] * len(ranges))
    d = algorithm.digest_size
    if len(values) != len(ranges) * d:
        raise BackendError(f"{backend.name}: hash_subtrees returned {len(values)} bytes")
    return [values[i * d : (i + 1) * d] for i in range(len(ranges))]


@dataclass
class WindowTops:
    """What ``hash_sources(window_tops=...)`` fills: the window size ``span`` (bytes, a power-of-
    two multiple of the leaf size) and, per object name, the tops of its windows in order."""

    span: int = 0
    values: dict[str, list[bytes]] = field(default_factory=dict)


def object_from_windows(algorithm: Algorithm, tops: Sequence[bytes], size: int) -> bytes:
    """The object digest that window tops (range values, spec section 11) fold to."""
    from gpuhash.backends.cpu import CpuBackend

    backend = CpuBackend()
    try:
        (top,) = reduce_groups(backend, algorithm, b"".join(tops), [len(tops)], [True])
    finally:
        backend.close()
    return finish_object(algorithm, top, size)


def finish_object(algorithm: Algorithm, top: bytes, size: int) -> bytes:
    """The object digest from the value at the top of its tree (or its lattice leaf sum)."""
    family, leaf = algorithm.family, algorithm.leaf_size
    if family == LTHASH:
        length = _shake(ref.le64(size) + ref.le64(leaf) + ref.ROLE_LATTICE_LENGTH)
        return bytes((_lanes(top) + _lanes(length)).tobytes())
    return ref.finish_object(family, top, size, leaf)  # one hash: the reference is fast enough


# ---------------------------------------------------------------------------------------------
# Batches: one buffer, many leaves, grouped in segments (an object or a window of one)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Segment:
    obj: int  # index of the object in the job
    offset: int  # byte offset of the segment in the batch buffer
    length: int  # bytes
    whole: bool  # the segment is the whole object


@dataclass
class _Batch:
    buffer: Buffer
    segments: list[_Segment]
    release: Callable[[], None]


class _ObjectState:
    """Per-object accumulation of window subtrees for objects larger than one window.

    Window tops (complete subtrees of ``W / L`` leaves, the last one possibly partial) are kept
    in a list and reduced when the object is finished, together with other finished objects,
    one ``hash_nodes`` call per level for all of them (``_finish_objects``; not one call per
    window: a device call waits behind the next batch's kernels).
    To bound memory, every ``GROUP`` complete windows with more to come are reduced to one
    complete subtree, and those merge on a stack like a binary counter. Folding the stack
    onto the last group's top from the right gives the RFC 6962 shape: the object's split
    point is always at a group boundary.
    """

    #: A power of two: a group of complete windows must itself be a complete subtree.
    GROUP = 1024

    def __init__(self, n_leaves: int) -> None:
        self.n_leaves = n_leaves
        self.stack: list[tuple[bytes, int]] = []  # (value, leaves covered), complete subtrees
        self.tops: list[bytes] = []  # window tops since the last group
        self.top_leaves = 0

    def push(
        self, backend: HashBackend, algorithm: Algorithm, value: bytes, leaves: int, last: bool
    ) -> None:
        self.tops.append(value)
        self.top_leaves += leaves
        if len(self.tops) < self.GROUP or last:
            return
        self.stack.append((self._reduce_tops(backend, algorithm, root=False), self.top_leaves))
        self.top_leaves = 0
        while len(self.stack) >= 2 and self.stack[-1][1] == self.stack[-2][1]:
            (right, n), (left, _) = self.stack.pop(), self.stack.pop()
            merged = _pair(backend, algorithm, left, right, root=2 * n == self.n_leaves)
            self.stack.append((merged, 2 * n))

    def fold(self, backend: HashBackend, algorithm: Algorithm, value: bytes) -> bytes:
        """The object's top: ``value`` (the last group's reduced tops) folded into the stack."""
        covered = self.top_leaves
        for left, n in reversed(self.stack):
            covered += n
            value = _pair(backend, algorithm, left, value, root=covered == self.n_leaves)
        return value

    def _reduce_tops(self, backend: HashBackend, algorithm: Algorithm, root: bool) -> bytes:
        tops, self.tops = self.tops, []
        (value,) = reduce_groups(backend, algorithm, b"".join(tops), [len(tops)], [root])
        return value


def _finish_objects(
    backend: HashBackend,
    algorithm: Algorithm,
    sources: Sequence[Source],
    finishing: dict[int, _ObjectState],
    results: dict[int, bytes],
) -> None:
    """Digests of large objects whose windows are all hashed: their remaining window tops are
    reduced together, one ``hash_nodes`` call per level for all of them (few calls, made when
    the device has little else to do, instead of a dozen per object behind the next batch)."""
    if not finishing:
        return
    items = list(finishing.items())
    finishing.clear()
    counts = [len(state.tops) for _, state in items]
    whole = [not state.stack for _, state in items]  # the tops cover the whole object
    values = b"".join(b"".join(state.tops) for _, state in items)
    tops = reduce_groups(backend, algorithm, values, counts, whole)
    for (obj, state), top in zip(items, tops, strict=True):
        state.tops = []
        results[obj] = finish_object(
            algorithm, state.fold(backend, algorithm, top), sources[obj].size
        )


def _pair(
    backend: HashBackend, algorithm: Algorithm, left: bytes, right: bytes, root: bool
) -> bytes:
    value = backend.hash_nodes(algorithm, left + right, bytes([root]))
    if len(value) != algorithm.digest_size:
        raise BackendError(f"{backend.name}: hash_nodes returned {len(value)} bytes")
    return value


# ---------------------------------------------------------------------------------------------
# Reading: windows of files and buffers, prefetched on a thread
# ---------------------------------------------------------------------------------------------


class _Reader:
    """Produces batches in order on a background thread (one batch ahead of the hasher)."""

    def __init__(
        self,
        sources: Sequence[Source],
        plan: list[list[tuple[int, int, int]]],
        depth: int,
        use_mmap: bool = True,
        backend: HashBackend | None = None,
    ):
        self.use_mmap = use_mmap
        #: A backend that reads file windows into its device memory itself.
        self.direct = backend
        self.sources = sources
        self.plan = plan
        self.queue: queue.Queue[_Batch | BaseException | None] = queue.Queue(maxsize=depth)
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

    def _put(self, item: _Batch | BaseException | None) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        if isinstance(item, _Batch):
            item.release()

    def _make(self, batch_plan: list[tuple[int, int, int]]) -> _Batch:
        # A batch is either one window of a large object or several small objects, whole.
        if len(batch_plan) == 1:
            obj, start, length = batch_plan[0]
            src = self.sources[obj]
            whole = start == 0 and length == src.size
            if src.device:  # a slice of a device array is a view on the device
                window_view = src.data[start : start + length]
                return _Batch(window_view, [_Segment(obj, 0, length, whole)], _no_release)
            if src.data is not None:
                view = src.data[start : start + length]
                return _Batch(view, [_Segment(obj, 0, length, whole)], _releaser(view))
            if self.direct is not None and length:
                direct = _read_direct(self.direct, src, start, length)
                if direct is not None:
                    return _Batch(direct, [_Segment(obj, 0, length, whole)], _no_release)
            if self.use_mmap and length >= _MIN_WINDOW:
                m, view = _map_window(src, start, length)
                return _Batch(view, [_Segment(obj, 0, length, whole)], _releaser(view, m))
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
                _read_into(src, start, view[pos : pos + length])
            segments.append(_Segment(obj, pos, length, start == 0 and length == src.size))
            pos += length
        return _Batch(view, segments, _releaser(view, anon))

    def __iter__(self) -> Iterator[_Batch]:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Batch):
                item.release()
        self.thread.join()


def open_beneath(root: str, rel: str) -> int:
    """Open ``root/rel`` for reading, following no symbolic link below ``root``: every directory
    on the way is opened relative to its parent with ``O_NOFOLLOW``, so a directory swapped for
    a link after the model was listed cannot send the read outside the model."""
    parts = rel.split("/")
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    dfd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for part in parts[:-1]:
            nfd = os.open(part, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | nofollow, dir_fd=dfd)
            os.close(dfd)
            dfd = nfd
        # O_NONBLOCK: a file swapped for a FIFO after listing fails the caller's regular-file
        # check instead of blocking the open forever (it changes nothing for regular files).
        return os.open(parts[-1], os.O_RDONLY | nofollow | os.O_NONBLOCK, dir_fd=dfd)
    finally:
        os.close(dfd)


def open_source(src: Source) -> int:
    """A read-only descriptor for a file source (beneath its root when it has one)."""
    assert src.path is not None
    if src.root is not None and src.rel is not None:
        return open_beneath(src.root, src.rel)
    return os.open(src.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)


def _no_release() -> None:
    pass


def _releaser(view: memoryview, m: mmap.mmap | None = None) -> Callable[[], None]:
    """Release a batch's buffer. If something still holds a view of it (a backend that kept
    one), the mapping is left for the garbage collector rather than failing here."""

    def release() -> None:
        try:
            view.release()
            if m is not None:
                m.close()
        except BufferError:
            pass

    return release


def open_checked(src: Source) -> int:
    try:
        fd = open_source(src)
    except OSError as e:
        raise InputError(
            f"{src.name}: cannot read (changed while it was being hashed?): {e.strerror}"
        ) from None
    st = os.fstat(fd)
    ident = (st.st_dev, st.st_ino, st.st_mtime_ns)
    expected = src.size if src.file_size is None else src.file_size
    if (
        not stat.S_ISREG(st.st_mode)
        or st.st_size != expected
        or (src.identity is not None and ident != src.identity)
    ):
        os.close(fd)
        raise InputError(f"{src.name}: file changed while it was being hashed")
    return fd


def _read_into(src: Source, start: int, out: memoryview) -> None:
    fd = open_checked(src)
    try:
        done = 0
        while done < len(out):
            n = os.preadv(fd, [out[done:]], src.offset + start + done)
            if n == 0:
                raise InputError(f"{src.name}: file changed while it was being hashed")
            done += n
    except InputError:
        raise
    except OSError as e:
        raise InputError(f"{src.name}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)


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
    view = _device_bytes(src.name, array)
    if view is None or view.nbytes != length:
        raise BackendError(
            f"backend {backend.name}: read_file returned no device array of {length} bytes"
        )
    return view


def _map_window(src: Source, start: int, length: int) -> tuple[mmap.mmap, memoryview]:
    fd = open_checked(src)
    at = src.offset + start
    lead = at % mmap.ALLOCATIONGRANULARITY  # a tensor's bytes need not start on a page
    try:
        # No MAP_POPULATE: the hashing threads fault pages in, in parallel, where they read
        # them (measured faster than populating on the reader thread); WILLNEED starts
        # read-ahead for files that are not in the page cache yet.
        m = mmap.mmap(
            fd, lead + length, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=at - lead
        )
        if hasattr(mmap, "MADV_WILLNEED"):
            m.madvise(mmap.MADV_WILLNEED)
    except OSError as e:
        raise InputError(f"{src.name}: cannot map: {e.strerror}") from None
    finally:
        os.close(fd)
    view = memoryview(m)
    return m, view[lead:] if lead else view


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


def window_bytes(algorithm: Algorithm, batch_bytes: int) -> int:
    """W: the largest power-of-two multiple of L that fits the batch (at least L)."""
    w = algorithm.leaf_size
    while w * 2 <= batch_bytes:
        w *= 2
    return w


def hash_sources(
    backend: HashBackend,
    algorithm: Algorithm,
    sources: Sequence[Source],
    progress: ProgressFn | None = None,
    batch_bytes: int | None = None,
    use_mmap: bool = True,
    window_tops: WindowTops | None = None,
) -> list[ObjectDigest]:
    """Object digests of ``sources`` (in the given order) with ``backend``.

    ``window_tops``, when given, receives the window size and the top value of every window of
    each object larger than one window (the range values of spec section 11), at no extra cost.

    Files of 1 MiB or more are memory-mapped window by window (no copy). A file truncated by
    someone else while it is mapped makes the kernel send SIGBUS, which ends the process; where
    other parties may modify the files being hashed, pass ``use_mmap=False`` to read them with
    ``pread`` (a copy, somewhat slower), which turns such a change into an ``InputError``."""
    caps = backend.capabilities()
    if algorithm.family not in caps.families:
        raise BackendError(f"backend {backend.name} does not support {algorithm.family}")
    if not caps.device_arrays and any(s.device for s in sources):
        raise BackendError(
            f"backend {backend.name} cannot hash device arrays in place; "
            "use the backend of the device that holds them"
        )
    batch = batch_bytes or caps.batch_bytes
    window = window_bytes(algorithm, batch)
    native = algorithm.family in caps.native_objects
    collect: dict[int, list[bytes]] | None = None
    if window_tops is not None and not native and algorithm.family != LTHASH:
        window_tops.span = window
        collect = {}

    # Plan the batches: small objects packed together, large ones window by window.
    plan: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    current_bytes = 0
    for i, src in enumerate(sources):
        # Objects of 1 MiB or more get batches of their own, read in place (memory-mapped or
        # sliced) rather than copied into a packed buffer; smaller ones are packed together.
        if src.size > window or src.size >= _MIN_WINDOW or native or src.device:
            if current:
                plan.append(current)
                current, current_bytes = [], 0
            plan.extend(
                [
                    [(i, start, min(window, src.size - start))]
                    for start in range(0, src.size, window)
                ]
            )
            if src.size == 0:
                plan.append([(i, 0, 0)])
            continue
        if current and current_bytes + src.size > batch:
            plan.append(current)
            current, current_bytes = [], 0
        current.append((i, 0, src.size))
        current_bytes += src.size
    if current:
        plan.append(current)

    states: dict[int, _ObjectState] = {}
    finishing: dict[int, _ObjectState] = {}  # every window hashed, digest not yet computed
    hashers: dict[int, object] = {}
    results: dict[int, bytes] = {}
    done_bytes = 0
    total_bytes = sum(s.size for s in sources)
    if progress is not None:
        progress(0, total_bytes)
    direct = backend if caps.device_arrays and caps.file_reads and not native else None
    reader = _Reader(sources, plan, depth=1, use_mmap=use_mmap, backend=direct)
    # Backends that allow it hash the next batches (up to ``in_flight`` of them) on dispatcher
    # threads while this thread finishes the oldest one (Python work that would otherwise
    # leave the device or the cores idle).
    depth = max(1, caps.in_flight) if caps.concurrent else 0
    dispatcher = ThreadPoolExecutor(depth, "gpuhash-dispatch") if depth else None
    pending: collections.deque[_Pending] = collections.deque()  # oldest first

    def finish_oldest() -> None:
        nonlocal done_bytes
        done_bytes += _finish_batch(
            backend, algorithm, sources, pending.popleft(), states, finishing, results, collect
        )
        if len(finishing) >= _FINISH_AT_ONCE:
            _finish_objects(backend, algorithm, sources, finishing, results)
        if progress is not None:
            progress(done_bytes, total_bytes)

    try:
        for b, item in enumerate(reader):
            if native:
                try:
                    _feed_native(backend, algorithm, sources, item, plan[b], hashers, results)
                finally:
                    item.release()
                done_bytes += sum(length for _, _, length in plan[b])
                if progress is not None:
                    progress(done_bytes, total_bytes)
                continue
            pending.append(_start_batch(backend, algorithm, item, plan[b], dispatcher))
            while len(pending) > depth:
                finish_oldest()
        while pending:
            finish_oldest()
        _finish_objects(backend, algorithm, sources, finishing, results)
    finally:
        try:
            while pending:
                pending.popleft().abandon()
        finally:
            try:
                if dispatcher is not None:
                    dispatcher.shutdown(wait=True)
            finally:
                reader.close()
    if collect is not None and window_tops is not None:
        window_tops.values.update({sources[i].name: tops for i, tops in collect.items()})
    return [
        ObjectDigest(
            name=s.name,
            kind=s.kind,
            size=s.size,
            digest=results[i],
            tensor=s.tensor,
            stat=source_stat(s),
        )
        for i, s in enumerate(sources)
    ]


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


def _feed_native(
    backend: HashBackend,
    algorithm: Algorithm,
    sources: Sequence[Source],
    batch: _Batch,
    batch_plan: list[tuple[int, int, int]],
    hashers: dict[int, object],
    results: dict[int, bytes],
) -> None:
    ((obj, start, length),) = batch_plan
    src = sources[obj]
    hasher = hashers.get(obj)
    if hasher is None:
        hasher = backend.object_hasher(algorithm, src.size)
        if hasher is None:
            raise BackendError(f"backend {backend.name} has no native {algorithm.family} hasher")
        hashers[obj] = hasher
    hasher.update(batch.buffer)  # type: ignore[attr-defined]
    if start + length >= src.size:
        results[obj] = hasher.digest()  # type: ignore[attr-defined]
        del hashers[obj]


@dataclass
class _Pending:
    """A batch being hashed: ``values`` will hold the top of each segment's subtree."""

    batch: _Batch
    batch_plan: list[tuple[int, int, int]]
    counts: list[int]
    values: Future[bytes]

    def abandon(self) -> None:
        """Give the batch up: wait until no thread reads its buffer any more, then release it."""
        if not self.values.cancel():
            with contextlib.suppress(BaseException):
                self.values.exception()  # waits for a running call; its error is not ours
        self.batch.release()


def _start_batch(
    backend: HashBackend,
    algorithm: Algorithm,
    batch: _Batch,
    batch_plan: list[tuple[int, int, int]],
    dispatcher: ThreadPoolExecutor | None,
) -> _Pending:
    leaf = algorithm.leaf_size
    offsets = array("Q")
    lengths = array("Q")
    indices = array("Q")
    roots = array("B")
    counts: list[int] = []
    for seg, (_obj, start, length) in zip(batch.segments, batch_plan, strict=True):
        n = ref.leaf_count(length, leaf)
        first = start // leaf
        offsets.extend(range(seg.offset, seg.offset + n * leaf, leaf))
        lengths.extend(itertools.repeat(leaf, n - 1))
        lengths.append(length - (n - 1) * leaf)
        indices.extend(range(first, first + n))
        roots.extend(itertools.repeat(int(seg.whole and n == 1), n))
        counts.append(n)
    table = LeafTable(offset=offsets, length=lengths, index=indices, root=roots)
    whole = [s.whole for s in batch.segments]
    if dispatcher is not None:
        future = dispatcher.submit(
            backend.hash_subtrees, algorithm, batch.buffer, table, counts, whole
        )
    else:
        future = Future()
        try:
            future.set_result(backend.hash_subtrees(algorithm, batch.buffer, table, counts, whole))
        except BaseException:
            batch.release()
            raise
    return _Pending(batch, batch_plan, counts, future)


def _finish_batch(
    backend: HashBackend,
    algorithm: Algorithm,
    sources: Sequence[Source],
    pending: _Pending,
    states: dict[int, _ObjectState],
    finishing: dict[int, _ObjectState],
    results: dict[int, bytes],
    collect: dict[int, list[bytes]] | None = None,
) -> int:
    """Reduce a hashed batch into object digests (or window subtrees); returns its byte count.
    A large object whose last window this was moves from ``states`` to ``finishing``; with
    ``collect``, every window top of such objects is also kept there."""
    try:
        values = pending.values.result()
    except BaseException:
        pending.abandon()  # the call may still be running (an interrupt): wait, then release
        raise
    pending.batch.release()
    leaf = algorithm.leaf_size
    counts = pending.counts
    segments = pending.batch.segments
    d = algorithm.digest_size
    if len(values) != len(counts) * d:
        raise BackendError(f"{backend.name}: hash_subtrees returned {len(values)} bytes")
    tops = [values[i * d : (i + 1) * d] for i in range(len(counts))]
    for seg, (obj, start, length), top, n in zip(
        segments, pending.batch_plan, tops, counts, strict=True
    ):
        src = sources[obj]
        if seg.whole:
            results[obj] = finish_object(algorithm, top, src.size)
            continue
        state = states.get(obj)
        if state is None:
            state = states[obj] = _ObjectState(ref.leaf_count(src.size, leaf))
        if collect is not None:
            collect.setdefault(obj, []).append(top)
        state.push(backend, algorithm, top, n, last=start + length >= src.size)
        if start + length >= src.size:
            finishing[obj] = states.pop(obj)
    return sum(length for _, _, length in pending.batch_plan)
