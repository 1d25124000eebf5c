"""The ``opencl`` backend: gpuhash's shared kernels on any OpenCL device, through pyopencl.

Leaves and nodes are hashed by the kernels of ``gpuhash/kernels`` (``leaves_<family>``,
``nodes_<family>``), one work-item per leaf or pair; the tree shape, windows and digests come
from gpuhash's engine, so this module only moves bytes and launches kernels.

Errors: a kernel that fails to build, a device that runs out of memory or disappears gives a
``BackendError`` naming the device and the cause; there is never a silent fallback.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any, ClassVar

from gpuhash._typing import Buffer
from gpuhash.algorithms import BLAKE3, FAMILIES, Algorithm
from gpuhash.backend import Capabilities, HashBackend, LeafTable
from gpuhash.errors import BackendError, BackendUnavailable, UsageError
from gpuhash.kernels import kernel_name, make_intel_runtime_visible, source

__all__ = ["OpenCLBackend", "list_devices"]

DEVICE_ENV = "GPUHASH_OPENCL_DEVICE"


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

    def __init__(self, device: str | None = None, local_size: int | None = None) -> None:
        if local_size is not None and local_size < 1:
            raise UsageError(f"local_size must be at least 1, not {local_size}")
        cl = _cl()
        import pyopencl.array

        self._cl = cl
        self._cl_array = pyopencl.array
        self.label, self.device = _choose(
            device if device is not None else os.environ.get(DEVICE_ENV)
        )
        self.local_size = local_size
        try:
            self.context = cl.Context([self.device])
            # Leaves and nodes get queues of their own, so the engine's overlap of one batch's
            # leaves with the previous batch's tree is not serialised by an in-order queue.
            self.queue = cl.CommandQueue(self.context)
            self._node_queue = cl.CommandQueue(self.context)
        except cl.Error as e:
            raise BackendUnavailable(f"opencl device {self.label}: {e}") from None
        self._program: Any = None
        self._kernels: dict[str, Any] = {}
        # The engine may call hash_leaves (leaf kernels) on one thread while it calls
        # hash_nodes (node kernels) on another: OpenCL calls are thread-safe except setting
        # arguments of one kernel object from two threads, which the split avoids; the lock
        # guards the lazy build and the kernel cache.
        self._lock = threading.Lock()

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
            # Leaves of batch k+1 upload and hash while the engine reduces batch k.
            concurrent=True,
        )

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        cl = self._cl
        n = len(table)
        mf = cl.mem_flags
        offsets: Any = table.offset
        try:
            ctx = self.context
            if isinstance(data, self._cl_array.Array):
                # A device array (or a slice of one): hashed where it lies, no copy.
                if data.context != ctx:
                    raise BackendError(
                        f"opencl device {self.label}: the array lives in another context"
                    )
                buf = data.base_data
                import numpy as np

                offsets = np.frombuffer(table.offset, dtype=np.uint64) + np.uint64(data.offset)
            else:
                view = memoryview(data).cast("B")
                # An empty buffer cannot be created: an all-empty batch gets one dummy byte.
                host = view if view.nbytes else memoryview(b"\0")
                buf = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=host)
            offset = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=offsets)
            length = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=table.length)
            index = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=table.index)
            root = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=table.root)
            args: list[Any] = [buf, offset, length, index, root]
            extra = [_u64(algorithm.leaf_size)] if algorithm.family == BLAKE3 else []
            return self._launch(self.queue, "leaves", algorithm, n, args, extra)
        except cl.Error as e:
            raise BackendError(f"opencl device {self.label}: {e}") from None

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        cl = self._cl
        m = len(roots)
        mf = cl.mem_flags
        try:
            ctx = self.context
            kids = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=children)
            flags = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=roots)
            return self._launch(self._node_queue, "nodes", algorithm, m, [kids, flags], [])
        except cl.Error as e:
            raise BackendError(f"opencl device {self.label}: {e}") from None

    def close(self) -> None:
        self._kernels.clear()
        self._program = None

    # -- helpers -------------------------------------------------------------------------------

    def _built(self) -> Any:
        with self._lock:
            return self._build_locked()

    def _build_locked(self) -> Any:
        if self._program is None:
            cl = self._cl
            try:
                with warnings.catch_warnings():
                    # Build logs full of vectoriser remarks come as CompilerWarning.
                    warnings.simplefilter("ignore", cl.CompilerWarning)
                    self._program = cl.Program(self.context, source()).build()
            except cl.Error as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise BackendError(
                    f"opencl device {self.label}: the kernels failed to build: {first}"
                ) from None
        return self._program

    def _launch(
        self,
        queue: Any,
        kind: str,
        algorithm: Algorithm,
        n: int,
        inputs: list[Any],
        extra: list[Any],
    ) -> bytes:
        """Run ``<kind>_<family>`` over ``n`` items on ``queue``; return its ``n * D`` bytes."""
        d = algorithm.digest_size
        out = self._cl.Buffer(self.context, self._cl.mem_flags.WRITE_ONLY, size=max(1, n * d))
        kernel = self._kernel(kernel_name(kind, algorithm.family))
        kernel(queue, *self._sizes(n), *inputs, out, _u32(n), *extra)
        result = bytearray(n * d)
        self._cl.enqueue_copy(queue, result, out)  # blocking: waits for the kernel
        return bytes(result)

    def _kernel(self, name: str) -> Any:
        with self._lock:
            kernel = self._kernels.get(name)
            if kernel is None:
                kernel = self._kernels[name] = self._cl.Kernel(self._build_locked(), name)
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
