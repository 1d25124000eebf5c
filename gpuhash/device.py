"""The host side shared by every backend that runs gpuhash's kernels (``gpuhash/kernels``).

A vendor backend over the shared kernels (``opencl``, ``intel``, ``cuda``, or a new one)
subclasses :class:`KernelBackend` and supplies a handful of *device operations*: make a queue,
allocate a buffer, copy in and out, wrap host memory, launch a kernel by name. Everything else
is here, the same for every vendor:

* ``hash_subtrees`` (the engine's call per batch) as one pass on one in-order queue with no
  round trip to the host: the data (used in place where the device shares host memory, else
  copied into a reusable device buffer through page-locked chunks filled by several threads,
  ``gpuhash.hostcopy``; a ``FileSpan`` is read by those threads), the leaf kernel, one
  ``tree_<family>`` launch per tree level (``gpuhash.tree.schedule``; the tables are kept on
  the device per slot, since every full window has the same ones), a gather of the subtree
  tops, and one read of those tops;
* the geometry (``gpuhash.geometry``): windows sized so that one launch fills every compute
  unit, the work-group size checked against the device when the backend is made, and *slots*
  (a queue with its reusable buffers each), so the engine keeps that many batches in flight
  (``in_flight``): one batch's transfer overlaps the other's kernels, and device memory stays
  bounded by the slots' batches;
* the leaf-kernel layouts (``direct``: one work-item walks its leaf; ``staged``: cooperative
  loads through local memory for GPUs) and their local-memory sizes;
* ``hash_leaves`` and ``hash_nodes`` for callers of the plain contract (proofs, self-tests);
* device errors as one-line ``BackendError`` naming the device, and waiting for a slot's queue
  before an error leaves the caller's memory.

Kernel arguments are passed to :meth:`KernelBackend._launch` as device buffers and the markers
:class:`U32`, :class:`U64` (scalars) and :class:`Local` (a work-group local buffer of so many
bytes), which each adapter converts to its API's form.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import queue
import sys
import threading
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gpuhash._typing import Buffer
from gpuhash.algorithms import PLAIN_DIGESTS, Algorithm
from gpuhash.backend import Capabilities, FileSpan, HashBackend, LeafTable
from gpuhash.errors import BackendError, UsageError
from gpuhash.geometry import DeviceLimits, Plan, check_local_size, plan, staged_local_sizes
from gpuhash.hostcopy import ParallelFill, Staging, stage_in
from gpuhash.kernels import kernel_name
from gpuhash.tree import TreeSchedule, schedule

__all__ = [
    "GPU_NODE_PATTERNS",
    "LAYOUTS",
    "STAGED_GROUP",
    "U32",
    "U64",
    "KernelBackend",
    "Local",
    "Slot",
    "gpu_device_nodes",
    "requested_layout",
    "staged_local_sizes",
]

#: Leaf-kernel memory layouts.
LAYOUTS = ("direct", "staged")
#: Work-group size of the staged leaf kernels when none is given.
STAGED_GROUP = 64
#: Plain digests a kernel backend exposes (``digest_messages``): primitive -> (family, bytes).
DIGEST_PRIMITIVES = {p: (f.name, f.digest_size) for p, f in PLAIN_DIGESTS.items()}


#: Device nodes through which Linux exposes GPUs to user space: DRM render and card nodes (Intel,
#: AMD, NVIDIA with its DRM module), NVIDIA's own nodes, AMD's compute node. A container given
#: a GPU is given these too.
GPU_NODE_PATTERNS = ("/dev/dri/renderD*", "/dev/dri/card*", "/dev/nvidia[0-9]*", "/dev/kfd")


def gpu_device_nodes() -> list[str] | None:
    """The GPU device nodes present (``GPU_NODE_PATTERNS``) on Linux; ``None`` elsewhere, where
    there is no such cheap test. An empty list means no GPU driver can reach a GPU here, so a
    device backend's probe can say so without loading any device stack."""
    if not sys.platform.startswith("linux"):
        return None
    import glob

    return sorted(p for pattern in GPU_NODE_PATTERNS for p in glob.glob(pattern))


def requested_layout(layout: str | None, env: str) -> str | None:
    """``layout``, else the environment variable ``env``, checked; ``None`` if neither is set
    (the backend then picks by device type)."""
    if layout is None:
        layout = os.environ.get(env) or None
        if layout not in (None, *LAYOUTS):
            raise UsageError(f"{env} must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    elif layout not in LAYOUTS:
        raise UsageError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    return layout


class U32(int):
    """A 32-bit unsigned scalar kernel argument."""


class U64(int):
    """A 64-bit unsigned scalar kernel argument."""


@dataclass(frozen=True)
class Local:
    """A work-group local-memory kernel argument of ``nbytes`` bytes."""

    nbytes: int


@dataclass
class Slot:
    """One in-order queue with its reusable device buffers (grown on demand) and the device
    copies of recently used tree schedules. One batch uses a slot at a time."""

    queue: Any
    buffers: dict[str, tuple[Any, int]] = field(default_factory=dict)
    plans: dict[TreeSchedule, tuple[Any, Any, Any]] = field(default_factory=dict)
    #: Adapter-owned per-slot state (e.g. kernel objects, which must not be shared by threads).
    cache: dict[Any, Any] = field(default_factory=dict)
    #: Objects the current batch's commands use (USM allocations, events): kept alive until
    #: the batch is read back or waited for.
    keep: list[Any] = field(default_factory=list)
    #: Host buffers for host data (``gpuhash.hostcopy``), set by ``KernelBackend``.
    staging: Staging | None = None


class KernelBackend(HashBackend):
    """A ``HashBackend`` over the shared kernels; a vendor adapter supplies device operations."""

    #: Slots: batches that can be on the device at once.
    SLOTS: ClassVar[int] = 2

    #: Set by the adapter's ``__init__`` (then call :meth:`_init_common`).
    label: str
    layout: str
    local_size: int | None
    #: The device works on host memory directly: host data is wrapped, not copied.
    shares_host_memory: bool
    #: Set by :meth:`_init_common`: the device's limits and the geometry planned from them.
    limits: DeviceLimits
    geometry: Plan

    # -- device operations: what an adapter implements -------------------------------------

    @abstractmethod
    def _new_queue(self) -> Any:
        """A new in-order queue (or stream) on the device."""

    @abstractmethod
    def _alloc(self, nbytes: int) -> Any:
        """A device buffer of at least ``nbytes`` bytes (contents undefined)."""

    @abstractmethod
    def _to_device(self, q: Any, data: Buffer) -> Any:
        """A new device buffer holding a copy of ``data`` (a small table), usable by launches
        enqueued on ``q`` afterwards."""

    @abstractmethod
    def _copy_in_at(self, q: Any, dst: Any, offset: int, view: memoryview) -> Any:
        """Enqueue a copy of host ``view`` (a staging chunk of :meth:`_pinned_host`) into
        ``dst`` at byte ``offset``, without waiting for it; return something :meth:`_wait`
        waits on until the copy is done and ``view`` may be written again."""

    @abstractmethod
    def _wait(self, event: Any) -> None:
        """Wait for a copy that :meth:`_copy_in_at` enqueued."""

    def _pinned_host(self, nbytes: int) -> tuple[Any, memoryview]:
        """``nbytes`` of page-locked host memory the device copies from fastest: (its owner,
        a writable byte view). The default is ordinary page-aligned memory."""
        m = mmap.mmap(-1, nbytes)
        return m, memoryview(m)

    @abstractmethod
    def _copy_out(self, q: Any, src: Any, nbytes: int) -> bytes:
        """The first ``nbytes`` of ``src`` after everything enqueued on ``q`` (blocking)."""

    @abstractmethod
    def _launch(
        self,
        q: Any,
        slot: Slot,
        family: str,
        name: str,
        size: int,
        local: int | None,
        args: list[Any],
    ) -> None:
        """Enqueue kernel ``name`` (of ``family``'s kernels: ``gpuhash.kernels.source`` with
        ``families=[family]`` holds it) over ``size`` work-items, rounded up to a multiple of
        ``local`` when given (kernels ignore work-items past their count). Objects the
        commands use and that must outlive them go to ``slot.keep``."""

    @abstractmethod
    def _finish(self, q: Any) -> None:
        """Wait for everything enqueued on ``q``."""

    def _wrap_host(self, q: Any, view: memoryview) -> Any:
        """A device buffer over host memory, without a copy (only with shares_host_memory)."""
        raise NotImplementedError

    def _device_view(self, q: Any, data: object) -> tuple[Any, int] | None:
        """``(device buffer, byte offset)`` when ``data`` is a device array of this backend
        (``gpuhash.sources.DeviceBytes`` of its interface, or its own array type), with
        ``q`` made to wait for the producer's pending work on it (``DeviceBytes.stream``,
        or the array's own events) before anything enqueued after; raise ``BackendError``
        for a device array this backend cannot read."""
        return None

    #: Exceptions that mean a device error (turned into BackendError naming the device).
    _device_errors: tuple[type[BaseException], ...] = ()

    # -- set-up ----------------------------------------------------------------------------

    def _init_common(
        self,
        layout: str | None,
        local_size: int | None,
        is_gpu: bool,
        limits: DeviceLimits,
        default_group: int | None = None,
    ) -> None:
        """Check ``local_size`` against ``limits`` (``UsageError`` for a size some kernel
        could not be launched with), plan the geometry, make the slots. ``default_group`` is
        the planned group when no ``local_size`` is given (CUDA: 256, every launch; OpenCL
        and SYCL: 64, the staged leaf kernels, the runtime choosing for the others)."""
        if layout not in (None, *LAYOUTS):
            raise UsageError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        self.layout = layout or ("staged" if is_gpu else "direct")
        check_local_size(limits, local_size, self.layout, self.label)
        self.local_size = local_size
        self.limits = limits
        self.geometry = plan(limits, local_size or default_group, self.SLOTS)
        self._fill = ParallelFill()
        self._slots: queue.Queue[Slot] = queue.Queue()
        for _ in range(self.geometry.slots):
            self._slots.put(Slot(self._new_queue(), staging=Staging(self._pinned_host)))
        self._node_queue = self._new_queue()
        self._node_slot = Slot(self._node_queue)
        self._node_lock = threading.Lock()

    def _capabilities(self, families: frozenset[str], priority: int, **extra: Any) -> Capabilities:
        """The capabilities every kernel backend shares: the planned window and slots, device
        arrays, concurrent batches, and file spans (read by several threads into the staging
        chunks, or into a host buffer used in place)."""
        return Capabilities(
            families=families,
            devices=(self.label,),
            batch_bytes=self.geometry.batch_bytes,
            priority=priority,
            device_arrays=True,
            concurrent=True,
            in_flight=self.geometry.slots,
            file_spans=True,
            **extra,
        )

    # -- the contract ----------------------------------------------------------------------

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        n = len(table)
        d = algorithm.digest_size
        with self._errors(), self._slot() as slot:
            values = self._buffer(slot, "values", max(1, n * d))
            self._enqueue_leaves(slot, algorithm, data, table, values)
            return self._copy_out(slot.queue, values, n * d) if n else b""

    def hash_subtrees(
        self,
        algorithm: Algorithm,
        data: Buffer,
        table: LeafTable,
        counts: Sequence[int],
        whole: Sequence[bool],
    ) -> bytes:
        plan = schedule(counts, whole)
        if plan.leaves != len(table):
            raise BackendError(
                f"{self.name}: the groups cover {plan.leaves} of {len(table)} leaves"
            )
        d = algorithm.digest_size
        with self._errors(), self._slot() as slot:
            q = slot.queue
            values = self._buffer(slot, "values", max(1, plan.total * d))
            self._enqueue_leaves(slot, algorithm, data, table, values)
            src, op, tops = self._plan_buffers(slot, plan)
            tree = kernel_name("tree", algorithm.family)
            for first, count, base in plan.levels:
                args = [values, src, op, U32(first), U32(count), U32(base)]
                self._launch(q, slot, algorithm.family, tree, count, self.local_size, args)
            n_tops = len(plan.tops)
            out = self._buffer(slot, "tops", max(1, n_tops * d))
            args = [values, tops, out, U32(n_tops), U32(d // 4)]
            self._launch(q, slot, algorithm.family, "gather_values", n_tops, self.local_size, args)
            return self._copy_out(q, out, n_tops * d)

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        m = len(roots)
        d = algorithm.digest_size
        if m == 0:
            return b""
        with self._errors(), self._node_lock:
            q = self._node_queue
            try:
                kids = self._to_device(q, children)
                flags = self._to_device(q, roots)
                out = self._buffer(self._node_slot, "nodes", m * d)
                args = [kids, flags, out, U32(m)]
                name = kernel_name("nodes", algorithm.family)
                self._launch(q, self._node_slot, algorithm.family, name, m, self.local_size, args)
                return self._copy_out(q, out, m * d)
            except BaseException:
                # As in _slot: copies into kids and flags may still run; their memory goes
                # back to the pool (and to another thread) only once the queue is done.
                with contextlib.suppress(Exception):
                    self._finish(q)
                raise
            finally:
                self._node_slot.keep.clear()

    def digest_messages(self, primitive: str, messages: Sequence[bytes]) -> list[bytes]:
        """Plain standard digests (no suffix) of whole messages with the device's kernels
        (``digest_<primitive>`` in digests.cl): what the conformance suite checks against NIST
        CAVP. ``primitive`` is ``sha256``, ``sha512`` or ``sha3_256``."""
        if primitive not in DIGEST_PRIMITIVES:
            raise UsageError(f"no plain digest {primitive!r}; known: {sorted(DIGEST_PRIMITIVES)}")
        family, size = DIGEST_PRIMITIVES[primitive]
        n = len(messages)
        if n == 0:
            return []
        from array import array

        offsets, lengths = array("Q"), array("Q")
        pos = 0
        for m in messages:
            offsets.append(pos)
            lengths.append(len(m))
            pos += len(m)
        data = b"".join(messages) or b"\0"
        with self._errors(), self._slot() as slot:
            q = slot.queue
            bufs = [
                self._to_device(q, data),
                self._to_device(q, offsets),
                self._to_device(q, lengths),
            ]
            out = self._buffer(slot, "digests", n * size)
            args = [*bufs, out, U32(n)]
            self._launch(q, slot, family, f"digest_{primitive}", n, self.local_size, args)
            slot.keep.extend(bufs)
            raw = self._copy_out(q, out, n * size)
        return [raw[i * size : (i + 1) * size] for i in range(n)]

    def close(self) -> None:
        while True:
            try:
                slot = self._slots.get_nowait()
            except queue.Empty:
                break
            slot.plans.clear()
            slot.buffers.clear()
            slot.cache.clear()
            if slot.staging is not None:
                slot.staging.clear()
        self._fill.close()

    # -- helpers ---------------------------------------------------------------------------

    def _kernel_fits(self, name: str, group: int | None, most: int) -> None:
        """``UsageError`` when kernel ``name`` cannot run in groups of ``group`` work-items;
        ``most`` is its own limit on this device (registers, local memory), known once built."""
        if group is not None and most and group > most:
            raise UsageError(
                f"local_size {group} is larger than kernel {name} can run with on "
                f"{self.label} ({most} work-items at most)"
            )

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Device errors (out of memory, a lost device, a failed launch) as BackendError."""
        try:
            yield
        except self._device_errors as e:
            text = " ".join(str(e).split()) or type(e).__name__
            raise BackendError(f"{self.name} device {self.label}: {text}") from None

    @contextlib.contextmanager
    def _slot(self) -> Iterator[Slot]:
        slot = self._slots.get()
        try:
            yield slot
        except BaseException:
            # Commands may still be running and reading the caller's memory: wait for them
            # before the caller releases it.
            with contextlib.suppress(Exception):
                self._finish(slot.queue)
            raise
        finally:
            slot.keep.clear()
            self._slots.put(slot)

    def _buffer(self, slot: Slot, role: str, nbytes: int) -> Any:
        held = slot.buffers.get(role)
        if held is None or held[1] < nbytes:
            slot.buffers.pop(role, None)
            slot.buffers[role] = held = (self._alloc(nbytes), nbytes)
        return held[0]

    def _enqueue_leaves(
        self, slot: Slot, algorithm: Algorithm, data: Buffer, table: LeafTable, values: Any
    ) -> None:
        """Enqueue the leaf kernel for ``table`` on ``slot``, writing ``values[0:n]``."""
        q = slot.queue
        n = len(table)
        offsets: Any = table.offset
        on_device = self._device_view(q, data)
        if on_device is not None:
            buf, start = on_device  # a device array (or a slice of one): hashed in place
            if start:
                import numpy as np

                offsets = np.frombuffer(table.offset, dtype=np.uint64) + np.uint64(start)
        else:
            buf = self._host_data(slot, data)
        if n:
            columns = [self._to_device(q, c) for c in (offsets, table.length, table.index)]
            columns.append(self._to_device(q, table.root))
        else:
            columns = [self._buffer(slot, "empty", 8)] * 4
        extra = [U64(algorithm.leaf_size)] if algorithm.info.uses_leaf_size else []
        if self.layout == "staged":
            group = self.local_size or self.geometry.group or STAGED_GROUP
            local = [Local(b) for b in staged_local_sizes(algorithm.family, group)]
            args = [buf, *columns, values, U32(n), *local, *extra]
            name = kernel_name("leaves_staged", algorithm.family)
            self._launch(q, slot, algorithm.family, name, n, group, args)
        else:
            args = [buf, *columns, values, U32(n), *extra]
            self._launch(
                q,
                slot,
                algorithm.family,
                kernel_name("leaves", algorithm.family),
                n,
                self.local_size,
                args,
            )
        slot.keep.extend([buf, *columns])

    def _host_data(self, slot: Slot, data: Buffer | FileSpan) -> Any:
        """A device buffer holding host ``data`` (a buffer, or a file span to read): the
        memory itself where the device works on host memory (a span read into the slot's
        reusable host buffer first), else a copy through the slot's staging chunks."""
        q = slot.queue
        src: memoryview | FileSpan
        if isinstance(data, FileSpan):
            nbytes, src = data.length, data
        else:
            src = memoryview(data).cast("B")
            nbytes = src.nbytes
        if not nbytes:
            return self._buffer(slot, "empty", 8)  # an all-empty batch: nothing is read
        staging = slot.staging or Staging(self._pinned_host)
        if self.shares_host_memory:
            if isinstance(src, FileSpan):
                host = staging.host(nbytes)
                self._fill.fill(host, src)
                return self._wrap_host(q, host)
            return self._wrap_host(q, src)
        buf = self._buffer(slot, "data", nbytes)

        def copy(at: int, chunk: memoryview) -> Any:
            return self._copy_in_at(q, buf, at, chunk)

        stage_in(src, nbytes, staging.ring(), self._fill, copy, self._wait)
        return buf

    def _plan_buffers(self, slot: Slot, plan: TreeSchedule) -> tuple[Any, Any, Any]:
        """The schedule's tables on the device, kept per slot for the last few schedules."""
        cached = slot.plans.get(plan)
        if cached is None:
            q = slot.queue
            tables = [plan.src, plan.op, plan.tops]
            made = [self._to_device(q, t) if len(t) else self._alloc(8) for t in tables]
            if len(slot.plans) >= 8:
                slot.plans.pop(next(iter(slot.plans)))
            cached = slot.plans[plan] = (made[0], made[1], made[2])
        return cached
