"""The hashing pipeline shared by every backend: batch planning, streaming and tree assembly.

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

Batches are read ahead on a thread (``gpuhash.batches``) and hashed on dispatcher threads where
the backend allows it; the object digests are finished on the host (``gpuhash.digests``).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gpuhash import reference as ref
from gpuhash.algorithms import LTHASH, Algorithm
from gpuhash.backend import FileSpan, HashBackend, LeafTable
from gpuhash.batches import MAX_PACKED, MIN_WINDOW, Batch, BatchPlan, BatchReader, SpanPieces
from gpuhash.digests import ObjectDigest, WindowTops, finish_object
from gpuhash.errors import BackendError
from gpuhash.geometry import data_bytes
from gpuhash.sources import Source, memory_source, source_stat
from gpuhash.tree import reduce_groups

# memory_source lives in gpuhash.sources; it is named here too because callers written against
# 0.1.0 (the prepared GPU check among them) build their sources from the engine.
__all__ = ["ProgressFn", "hash_sources", "memory_source", "window_bytes"]

#: ``progress(bytes_done, bytes_total)``, called after each batch.
ProgressFn = Callable[[int, int], None]

#: Large objects whose last window is hashed are finished together, this many at most.
_FINISH_AT_ONCE = 256


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
    use_mmap: bool = False,
    window_tops: WindowTops | None = None,
) -> list[ObjectDigest]:
    """Object digests of ``sources`` (in the given order) with ``backend``.

    ``window_tops``, when given, receives the window size and the top value of every window of
    each object larger than one window (the range values of spec section 11), at no extra cost.

    Every file is checked when opened and again once its bytes were hashed (spec section 1.2):
    a file whose size, mtime, ctime, inode or device moved in between is an ``InputError``
    naming it, never a digest. Files are read with ``pread`` (the default), so a file truncated
    meanwhile is an ``InputError`` too; windows of 1 MiB or more go to a backend with
    ``file_spans`` as ``FileSpan``s it reads where it hashes them (otherwise into reused
    buffers). With ``use_mmap``, windows of 1 MiB or more are memory-mapped instead (no copy):
    a file truncated by someone else while it is mapped makes the kernel send SIGBUS, which
    ends the process, so map only files nobody can truncate while they are hashed."""
    caps = backend.capabilities()
    if algorithm.family not in caps.families:
        raise BackendError(f"backend {backend.name} does not support {algorithm.family}")
    if not caps.device_arrays and any(s.device for s in sources):
        raise BackendError(
            f"backend {backend.name} cannot hash device arrays in place; "
            "use the backend of the device that holds them"
        )
    # A caller's batch_bytes is the window it asks for (range values are taken per window);
    # the backend's is sized for the default tree, so a heavier tree gets less data per batch.
    batch = batch_bytes or data_bytes(algorithm, caps.batch_bytes)
    window = window_bytes(algorithm, batch)
    native = algorithm.family in caps.native_objects
    collect: dict[int, list[bytes]] | None = None
    if window_tops is not None and not native and algorithm.family != LTHASH:
        window_tops.span = window
        collect = {}

    # Plan the batches: small objects packed together, large ones window by window.
    plan: list[BatchPlan] = []
    current: BatchPlan = []
    current_bytes = 0
    for i, src in enumerate(sources):
        # Objects of 1 MiB or more get batches of their own, read in place (memory-mapped or
        # sliced) rather than copied into a packed buffer; smaller ones are packed together.
        if src.size > window or src.size >= MIN_WINDOW or native or src.device:
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
        if current and current_bytes + src.size > min(batch, MAX_PACKED):
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
    reader = BatchReader(
        sources, plan, depth=1, use_mmap=use_mmap, backend=direct, spans=caps.file_spans
    )
    # Backends that allow it hash the next batches (up to ``in_flight`` of them) on dispatcher
    # threads while this thread finishes the oldest one (Python work that would otherwise
    # leave the device or the cores idle).
    depth = max(1, caps.in_flight) if caps.concurrent else 0
    dispatcher = ThreadPoolExecutor(depth, "gpuhash-dispatch") if depth else None
    # A native hasher is fed file spans piece by piece, the next piece read on the (otherwise
    # idle) dispatcher thread while this one is hashed.
    spans = SpanPieces(dispatcher)
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
                    _feed_native(
                        backend, algorithm, sources, item, plan[b], hashers, results, spans
                    )
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


def _feed_native(
    backend: HashBackend,
    algorithm: Algorithm,
    sources: Sequence[Source],
    batch: Batch,
    batch_plan: BatchPlan,
    hashers: dict[int, object],
    results: dict[int, bytes],
    spans: SpanPieces,
) -> None:
    ((obj, start, length),) = batch_plan
    src = sources[obj]
    hasher = hashers.get(obj)
    if hasher is None:
        hasher = backend.object_hasher(algorithm, src.size)
        if hasher is None:
            raise BackendError(f"backend {backend.name} has no native {algorithm.family} hasher")
        hashers[obj] = hasher
    if isinstance(batch.buffer, FileSpan):
        # Closed here, even on an error: no read ahead outlives the descriptor it reads.
        with contextlib.closing(spans.pieces(batch.buffer)) as pieces:
            for piece in pieces:
                hasher.update(piece)  # type: ignore[attr-defined]
    else:
        hasher.update(batch.buffer)  # type: ignore[attr-defined]
    batch.check()  # its bytes are hashed: was the file the same all along?
    if start + length >= src.size:
        results[obj] = hasher.digest()  # type: ignore[attr-defined]
        del hashers[obj]


@dataclass
class _Pending:
    """A batch being hashed: ``values`` will hold the top of each segment's subtree."""

    batch: Batch
    batch_plan: BatchPlan
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
    batch: Batch,
    batch_plan: BatchPlan,
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
    # A FileSpan only for a backend that declares file_spans (HashBackend's contract).
    data: Any = batch.buffer
    if dispatcher is not None:
        future = dispatcher.submit(backend.hash_subtrees, algorithm, data, table, counts, whole)
    else:
        future = Future()
        try:
            future.set_result(backend.hash_subtrees(algorithm, data, table, counts, whole))
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
    try:
        pending.batch.check()  # its bytes are hashed: was the file the same all along?
    finally:
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


# ---------------------------------------------------------------------------------------------
# Objects larger than one window: their window tops, reduced as they arrive
# ---------------------------------------------------------------------------------------------


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
