"""The ``opencl`` backend: gpuhash's shared kernels on any OpenCL device, through pyopencl.

Leaves and nodes are hashed by the kernels of ``gpuhash/kernels`` (``leaves_<family>``,
``nodes_<family>``, ``tree_<family>``), one work-item per leaf or pair; the tree shape comes
from gpuhash's engine and ``gpuhash.tree``, so this module only moves bytes and launches
kernels.

One batch (``hash_subtrees``) is one pass on one command queue with no host round trip in
between: the data (used in place where the device shares host memory, otherwise copied into a
reusable device buffer), the leaf kernel, one tree launch per level, a gather of the subtree
tops, and a single read of those tops. Two such buffer sets ("slots", each with its own queue)
let the engine run two batches at once, so one batch's transfer overlaps the other's kernels,
and device memory stays bounded by two batches.

Errors: a kernel that fails to build, a device that runs out of memory or disappears gives a
``BackendError`` naming the device and the cause; there is never a silent fallback.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from gpuhash._typing import Buffer
from gpuhash.algorithms import BLAKE3, FAMILIES, Algorithm
from gpuhash.backend import Capabilities, HashBackend, LeafTable
from gpuhash.errors import BackendError, BackendUnavailable, UsageError
from gpuhash.kernels import kernel_name, make_intel_runtime_visible, source
from gpuhash.tree import TreeSchedule, schedule

__all__ = ["OpenCLBackend", "list_devices"]

DEVICE_ENV = "GPUHASH_OPENCL_DEVICE"
LAYOUT_ENV = "GPUHASH_OPENCL_LAYOUT"
#: Leaf-kernel memory layouts (``layout=``).
LAYOUTS = ("direct", "staged")
#: Work-group size of the staged leaf kernels when none is given.
STAGED_GROUP = 64
#: Work-group size on PoCL when none is given (one compilation per kernel, not per size).
POCL_GROUP = 8


def _cl() -> Any:
    """pyopencl, imported after Intel's CPU runtime was made visible to its ICD loader."""
    make_intel_runtime_visible()
    try:
        import pyopencl as cl
    except ImportError as e:
        raise BackendUnavailable(
            f"backend 'opencl' needs pyopencl ({e}); install it with: "
            "python -m pip install gpuhash-opencl"
        ) from None
    return cl


def list_devices() -> list[tuple[int, int, str, Any]]:
    """Every OpenCL device: (platform index, device index, "<platform> / <device>", device)."""
    cl = _cl()
    out = []
    try:
        platforms = cl.get_platforms()
    except cl.Error as e:  # no ICD at all
        raise BackendUnavailable(f"backend 'opencl': no OpenCL platform ({e})") from None
    for p, platform in enumerate(platforms):
        try:
            devices = platform.get_devices()
        except cl.Error:
            continue
        for d, device in enumerate(devices):
            out.append((p, d, f"{platform.name.strip()} / {device.name.strip()}", device))
    return out


def _default_rank(label: str, device: Any) -> int:
    cl = _cl()
    if device.type & cl.device_type.GPU:
        return 0
    if label.startswith("Intel(R) OpenCL /"):
        return 1  # Intel's CPU runtime vectorises work-items with AVX-512: fast on CPUs
    return 2


def _choose(spec: str | None) -> tuple[str, Any]:
    devices = list_devices()
    if not devices:
        raise BackendUnavailable("backend 'opencl': no OpenCL device found")
    if not spec:
        _, _, label, device = min(devices, key=lambda t: (_default_rank(t[2], t[3]), t[0], t[1]))
        return label, device
    p, sep, d = spec.partition(":")
    if sep and p.isdigit() and d.isdigit():
        for pi, di, label, device in devices:
            if (pi, di) == (int(p), int(d)):
                return label, device
    else:
        for _, _, label, device in devices:
            if spec.lower() in label.lower():
                return label, device
    names = "; ".join(f"{pi}:{di} {label}" for pi, di, label, _ in devices)
    raise UsageError(f"no OpenCL device matches {spec!r}; devices: {names}")


class OpenCLBackend(HashBackend):
    name: ClassVar[str] = "opencl"

    def __init__(
        self,
        device: str | None = None,
        local_size: int | None = None,
        layout: str | None = None,
    ) -> None:
        if local_size is not None and local_size < 1:
            raise UsageError(f"local_size must be at least 1, not {local_size}")
        if layout not in (None, *LAYOUTS):
            raise UsageError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        cl = _cl()
        import pyopencl.array

        self._cl = cl
        self._cl_array = pyopencl.array
        self.label, self.device = _choose(
            device if device is not None else os.environ.get(DEVICE_ENV)
        )
        if local_size is None and self.label.startswith("Portable Computing Language"):
            # PoCL compiles a kernel once per work-group size, and picks the size from the
            # global size when none is given: every tree level would be a new compilation.
            local_size = POCL_GROUP
        self.local_size = local_size
        try:
            self.context = cl.Context([self.device])
            # hash_nodes (the few merges across windows) has a queue of its own, apart from
            # the slots' queues, so it never waits behind a batch.
            self._node_queue = cl.CommandQueue(self.context)
            self._slots: queue.Queue[_Slot] = queue.Queue()
            for _ in range(self.SLOTS):
                self._slots.put(_Slot(cl.CommandQueue(self.context)))
            self.queue = self._node_queue  # for callers that enqueue their own work
        except cl.Error as e:
            raise BackendUnavailable(f"opencl device {self.label}: {e}") from None
        # Where the device works on host memory directly (CPU runtimes, integrated GPUs), host
        # data is used in place (USE_HOST_PTR: zero-copy for page-aligned memory, which file
        # windows and the engine's batches are); otherwise it is copied to a device buffer.
        self.shares_host_memory = bool(self.device.host_unified_memory)
        is_gpu = bool(self.device.type & cl.device_type.GPU)
        #: "staged" (cooperative loads through local memory: GPUs) or "direct" (each
        #: work-item reads its own leaf: CPUs); see gpuhash/kernels/leaves.cl.
        layout = layout or os.environ.get(LAYOUT_ENV) or None
        if layout not in (None, *LAYOUTS):
            raise UsageError(f"{LAYOUT_ENV} must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        self.layout = layout or ("staged" if is_gpu else "direct")
        self._program: Any = None
        # OpenCL kernel objects must not have their arguments set from two threads at once, so
        # each queue (each slot, and hash_nodes) gets kernel objects of its own.
        self._kernels: dict[tuple[int, str], Any] = {}
        self._lock = threading.Lock()

    #: Buffer sets (and queues): batches that can be on the device at once.
    SLOTS: ClassVar[int] = 2

    # -- contract ------------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        is_gpu = bool(self.device.type & self._cl.device_type.GPU)
        mem = int(self.device.global_mem_size)
        return Capabilities(
            families=frozenset(FAMILIES),
            devices=(self.label,),
            batch_bytes=min(256 << 20, max(16 << 20, mem // 8)) if is_gpu else 64 << 20,
            # A GPU beats the host; a CPU runtime competes with the cpu backend (priority 10)
            # only when it is Intel's, which vectorises with AVX-512.
            priority=20 if is_gpu else (5 if self.label.startswith("Intel") else 1),
            device_arrays=True,
            # Batch k+1 uploads and hashes while batch k runs or is finished by the engine.
            concurrent=True,
            in_flight=self.SLOTS,
        )

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        n = len(table)
        d = algorithm.digest_size
        with self._errors(), self._slot() as slot:
            values = slot.buffer(self, "values", max(1, n * d))
            self._enqueue_leaves(slot, algorithm, data, table, values)
            result = bytearray(n * d)
            if n:
                self._cl.enqueue_copy(slot.queue, result, values)
            return bytes(result)

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
            raise BackendError(f"opencl: the groups cover {plan.leaves} of {len(table)} leaves")
        d = algorithm.digest_size
        with self._errors(), self._slot() as slot:
            q = slot.queue
            values = slot.buffer(self, "values", max(1, plan.total * d))
            self._enqueue_leaves(slot, algorithm, data, table, values)
            src, op, tops = self._plan_buffers(slot, plan)
            tree = self._kernel(slot.queue, kernel_name("tree", algorithm.family))
            for first, count, base in plan.levels:
                tree(q, *self._sizes(count), values, src, op, _u32(first), _u32(count), _u32(base))
            n_tops = len(plan.tops)
            out = slot.buffer(self, "tops", max(1, n_tops * d))
            gather = self._kernel(slot.queue, "gather_values")
            gather(q, *self._sizes(n_tops), values, tops, out, _u32(n_tops), _u32(d // 4))
            result = bytearray(n_tops * d)
            self._cl.enqueue_copy(q, result, out)  # blocking: waits for the whole batch
            return bytes(result)

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        cl = self._cl
        m = len(roots)
        mf = cl.mem_flags
        d = algorithm.digest_size
        with self._errors():
            ctx = self.context
            q = self._node_queue
            kids = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=children)
            flags = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=roots)
            out = cl.Buffer(ctx, mf.WRITE_ONLY, size=max(1, m * d))
            kernel = self._kernel(q, kernel_name("nodes", algorithm.family))
            kernel(q, *self._sizes(m), kids, flags, out, _u32(m))
            result = bytearray(m * d)
            cl.enqueue_copy(q, result, out)
            return bytes(result)

    def close(self) -> None:
        self._kernels.clear()
        self._program = None
        while True:
            try:
                self._slots.get_nowait().plans.clear()
            except queue.Empty:
                break

    # -- helpers -------------------------------------------------------------------------------

    def _build_locked(self) -> Any:
        if self._program is None:
            cl = self._cl
            try:
                with warnings.catch_warnings():
                    # Build logs full of vectoriser remarks come as CompilerWarning.
                    warnings.simplefilter("ignore", cl.CompilerWarning)
                    self._program = cl.Program(self.context, source()).build()
            except cl.Error as e:
                lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
                errors = [ln for ln in lines if "error" in ln.lower() and ".cl:" in ln]
                first = (errors or lines or [type(e).__name__])[0]
                raise BackendError(
                    f"opencl device {self.label}: the kernels failed to build: {first}"
                ) from None
        return self._program

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """OpenCL errors (out of memory, a lost device, a failed launch) as BackendError."""
        try:
            yield
        except self._cl.Error as e:
            raise BackendError(f"opencl device {self.label}: {e}") from None

    @contextlib.contextmanager
    def _slot(self) -> Iterator[_Slot]:
        slot = self._slots.get()
        try:
            yield slot
        except BaseException:
            # Commands may still be running and reading the caller's memory: wait for them
            # before the caller releases it.
            with contextlib.suppress(self._cl.Error):
                slot.queue.finish()
            raise
        finally:
            self._slots.put(slot)

    def _enqueue_leaves(
        self, slot: _Slot, algorithm: Algorithm, data: Buffer, table: LeafTable, values: Any
    ) -> None:
        """Enqueue the leaf kernel for ``table`` on ``slot``, writing ``values[0:n]``."""
        cl = self._cl
        mf = cl.mem_flags
        ctx = self.context
        n = len(table)
        offsets: Any = table.offset
        if isinstance(data, self._cl_array.Array):
            # A device array (or a slice of one): hashed where it lies, no copy.
            if data.context != ctx:
                raise BackendError(
                    f"opencl device {self.label}: the array lives in another context"
                )
            # Work pyopencl recorded on the array (on any queue) must finish before the slot's
            # queue reads it: queues of one context do not order each other.
            data.finish()
            buf = data.base_data
            import numpy as np

            offsets = np.frombuffer(table.offset, dtype=np.uint64) + np.uint64(data.offset)
        else:
            view = memoryview(data).cast("B")
            if not view.nbytes:
                buf = slot.buffer(self, "data", 1)  # an all-empty batch: nothing is read
            elif self.shares_host_memory:
                buf = cl.Buffer(ctx, mf.READ_ONLY | mf.USE_HOST_PTR, hostbuf=view)
            else:
                buf = slot.buffer(self, "data", view.nbytes)
                # Non-blocking: the in-order queue runs the kernel after the copy, and the
                # caller holds the host memory until this batch's tops are read.
                cl.enqueue_copy(slot.queue, buf, view, is_blocking=False)
        columns = (
            [
                cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=c)
                for c in (offsets, table.length, table.index, table.root)
            ]
            if n
            else [slot.buffer(self, "empty", 8)] * 4
        )
        extra = [_u64(algorithm.leaf_size)] if algorithm.family == BLAKE3 else []
        if self.layout == "staged":
            g = self.local_size or STAGED_GROUP
            word = 4 if algorithm.family in (BLAKE3, "merkle-sha256") else 8
            words = 17 if "sha3" in algorithm.family or "shake" in algorithm.family else 16
            local = [
                cl.LocalMemory(g * (words + 1) * word),  # stage
                cl.LocalMemory(g * 8),  # goff
                cl.LocalMemory(g * 4),  # gfull
                cl.LocalMemory(4),  # gmax
            ]
            name = "leaves_staged_" + algorithm.family.replace("-", "_")
            kernel = self._kernel(slot.queue, name)
            global_size = (max(1, -(-n // g)) * g,)
            kernel(slot.queue, global_size, (g,), buf, *columns, values, _u32(n), *local, *extra)
            return
        kernel = self._kernel(slot.queue, kernel_name("leaves", algorithm.family))
        kernel(slot.queue, *self._sizes(n), buf, *columns, values, _u32(n), *extra)

    def _plan_buffers(self, slot: _Slot, plan: TreeSchedule) -> tuple[Any, Any, Any]:
        """The schedule's tables on the device, kept per slot for the last few schedules
        (every full window of a large object has the same one)."""
        cached = slot.plans.get(plan)
        if cached is None:
            cl = self._cl
            mf = cl.mem_flags
            ctx = self.context
            tables = [plan.src, plan.op, plan.tops]
            cached = tuple(
                cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=t)
                if len(t)
                else cl.Buffer(ctx, mf.READ_ONLY, size=8)
                for t in tables
            )
            if len(slot.plans) >= 8:
                slot.plans.pop(next(iter(slot.plans)))
            slot.plans[plan] = cached
        return cached[0], cached[1], cached[2]

    def _kernel(self, q: Any, name: str) -> Any:
        with self._lock:
            key = (id(q), name)
            kernel = self._kernels.get(key)
            if kernel is None:
                kernel = self._kernels[key] = self._cl.Kernel(self._build_locked(), name)
            return kernel

    def _sizes(self, n: int) -> tuple[tuple[int], tuple[int] | None]:
        if self.local_size is None:
            return (max(1, n),), None
        ls = self.local_size
        return (max(1, -(-n // ls)) * ls,), (ls,)


def _u32(x: int) -> Any:
    import numpy as np

    return np.uint32(x)


def _u64(x: int) -> Any:
    import numpy as np

    return np.uint64(x)


class _Slot:
    """One command queue with its reusable device buffers (grown on demand, never shrunk
    beyond one batch) and the device copies of recently used tree schedules."""

    def __init__(self, q: Any) -> None:
        self.queue = q
        self.buffers: dict[str, Any] = {}
        self.plans: dict[TreeSchedule, tuple[Any, Any, Any]] = {}

    def buffer(self, backend: OpenCLBackend, role: str, size: int) -> Any:
        buf = self.buffers.get(role)
        if buf is None or buf.size < size:
            cl = backend._cl
            self.buffers.pop(role, None)
            buf = self.buffers[role] = cl.Buffer(backend.context, cl.mem_flags.READ_WRITE, size)
        return buf
