"""The ``opencl`` backend: gpuhash's shared kernels on any OpenCL device, through pyopencl.

A thin adapter: the batching, the on-device tree, the slots and the layouts are
``gpuhash.device.KernelBackend``'s; this module chooses the device, builds the kernels of
``gpuhash/kernels`` with pyopencl, and supplies buffers, copies and launches. Host memory is used
in place (``USE_HOST_PTR``) where the device shares it (CPU runtimes, integrated GPUs), and
pyopencl arrays are hashed where they lie. The window size, slots and work-group sizes come from
the device's properties (``gpuhash.geometry``: compute units, largest work-group, local memory,
global memory; OpenCL has no query for resident work-items, so a default is assumed).

Errors: a kernel that fails to build, a device that runs out of memory or disappears gives a
``BackendError`` naming the device and the cause; there is never a silent fallback.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import warnings
from typing import Any, ClassVar

from gpuhash.algorithms import FAMILIES
from gpuhash.backend import Buffer, Capabilities, Probe
from gpuhash.builds import run_build
from gpuhash.device import (
    STAGED_GROUP,
    U32,
    U64,
    KernelBackend,
    Local,
    Slot,
    gpu_device_nodes,
    requested_layout,
)
from gpuhash.errors import BackendError, BackendUnavailable, UsageError
from gpuhash.geometry import global_size, opencl_limits
from gpuhash.kernels import make_intel_runtime_visible, source
from gpuhash.sources import DeviceBytes

__all__ = ["OpenCLBackend", "list_devices"]

DEVICE_ENV = "GPUHASH_OPENCL_DEVICE"
LAYOUT_ENV = "GPUHASH_OPENCL_LAYOUT"
#: pyopencl and CPU runtimes: the core's extra (pip reads it from the installed gpuhash).
INSTALL = 'python -m pip install "gpuhash[opencl]"'
#: Work-group size on PoCL when none is given (one compilation per kernel, not per size).
POCL_GROUP = 8


def _cl() -> Any:
    """pyopencl, imported after Intel's CPU runtime was made visible to its ICD loader."""
    make_intel_runtime_visible()
    try:
        import pyopencl as cl
    except ImportError as e:
        raise BackendUnavailable(
            f"backend 'opencl' needs pyopencl ({e}); install it with: {INSTALL}"
        ) from None
    return cl


def list_devices() -> list[tuple[int, int, str, Any]]:
    """Every OpenCL device: (platform index, device index, "<platform> / <device>", device)."""
    cl = _cl()
    out = []
    try:
        platforms = cl.get_platforms()
    except cl.Error as e:  # no ICD at all
        raise BackendUnavailable(
            f"backend 'opencl': no OpenCL platform ({e}); a device's driver brings one, "
            f"or CPU runtimes: {INSTALL}"
        ) from None
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


class OpenCLBackend(KernelBackend):
    name: ClassVar[str] = "opencl"

    @classmethod
    def probe(cls) -> Probe:
        """pyopencl installed, and whether a GPU could be here (device nodes), without loading
        the ICD loader or any OpenCL runtime: without a GPU only CPU runtimes remain, whose
        priority is at most 5 (below the cpu backend's)."""
        if importlib.util.find_spec("pyopencl") is None:
            return Probe(False, f"needs pyopencl; install it with: {INSTALL}")
        if gpu_device_nodes() == []:
            return Probe(True, "no GPU device node: CPU runtimes only", priority=5)
        return Probe(True, priority=20)

    def __init__(
        self,
        device: str | None = None,
        local_size: int | None = None,
        layout: str | None = None,
    ) -> None:
        layout = requested_layout(layout, LAYOUT_ENV)
        cl = _cl()
        import pyopencl.array

        self._cl = cl
        self._cl_array = pyopencl.array
        self._device_errors = (cl.Error,)
        self.label, self.device = _choose(
            device if device is not None else os.environ.get(DEVICE_ENV)
        )
        if local_size is None and self.label.startswith("Portable Computing Language"):
            # PoCL compiles a kernel once per work-group size, and picks the size from the
            # global size when none is given: every tree level would be a new compilation.
            local_size = POCL_GROUP
        # Where the device works on host memory directly (CPU runtimes, integrated GPUs), host
        # data is used in place (USE_HOST_PTR: zero-copy for page-aligned memory, which file
        # windows and the engine's batches are); otherwise it is copied to a device buffer.
        self.shares_host_memory = bool(self.device.host_unified_memory)
        self._is_gpu = bool(self.device.type & cl.device_type.GPU)
        self._program: Any = None
        self._lock = threading.Lock()
        limits = opencl_limits(self.device, self._is_gpu, self.shares_host_memory)
        try:
            self.context = cl.Context([self.device])
            self._init_common(layout, local_size, self._is_gpu, limits, STAGED_GROUP)
        except cl.Error as e:
            raise BackendUnavailable(f"opencl device {self.label}: {e}") from None
        #: A queue for callers that enqueue their own work (e.g. pyopencl arrays).
        self.queue = self._node_queue

    def capabilities(self) -> Capabilities:
        # A GPU beats the host; a CPU runtime competes with the cpu backend (priority 10)
        # only when it is Intel's, which vectorises with AVX-512.
        priority = 20 if self._is_gpu else (5 if self.label.startswith("Intel") else 1)
        return self._capabilities(frozenset(FAMILIES), priority)

    def close(self) -> None:
        super().close()
        self._program = None

    def device_array(self, data: Buffer, offset: int = 0) -> Any:
        """A pyopencl array (uint8) on this backend's device holding a copy of ``data``,
        starting ``offset`` bytes into its allocation (a view, as a slice of a caller's tensor
        is): what the conformance suite hashes in place."""
        import numpy as np

        host = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        whole = np.concatenate([np.full(offset, 0xA5, dtype=np.uint8), host])
        return self._cl_array.to_device(self._node_queue, whole)[offset:]

    # -- device operations (gpuhash.device.KernelBackend) -------------------------------------

    def _new_queue(self) -> Any:
        return self._cl.CommandQueue(self.context)

    def _alloc(self, nbytes: int) -> Any:
        return self._cl.Buffer(self.context, self._cl.mem_flags.READ_WRITE, max(1, nbytes))

    def _to_device(self, q: Any, data: Buffer) -> Any:
        mf = self._cl.mem_flags
        return self._cl.Buffer(self.context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=data)

    def _wrap_host(self, q: Any, view: memoryview) -> Any:
        mf = self._cl.mem_flags
        return self._cl.Buffer(self.context, mf.READ_ONLY | mf.USE_HOST_PTR, hostbuf=view)

    def _pinned_host(self, nbytes: int) -> tuple[Any, memoryview]:
        # ALLOC_HOST_PTR, mapped once: the runtime's page-locked memory where it has any.
        cl = self._cl
        import numpy as np

        buf = cl.Buffer(self.context, cl.mem_flags.READ_WRITE | cl.mem_flags.ALLOC_HOST_PTR, nbytes)
        mapped, _ = cl.enqueue_map_buffer(
            self._node_queue, buf, cl.map_flags.WRITE, 0, (nbytes,), np.uint8
        )
        return (buf, mapped), memoryview(mapped).cast("B")

    def _copy_in_at(self, q: Any, dst: Any, offset: int, view: memoryview) -> Any:
        return self._cl.enqueue_copy(q, dst, view, dst_offset=offset, is_blocking=False)

    def _wait(self, event: Any) -> None:
        event.wait()

    def _copy_out(self, q: Any, src: Any, nbytes: int) -> bytes:
        result = bytearray(nbytes)
        if nbytes:
            self._cl.enqueue_copy(q, result, src)  # blocking: after everything on q
        return bytes(result)

    def _finish(self, q: Any) -> None:
        q.finish()

    def _device_view(self, q: Any, data: object) -> tuple[Any, int] | None:
        if isinstance(data, DeviceBytes):
            raise BackendError(
                f"opencl device {self.label}: a {data.interface.upper()} device array cannot be "
                "hashed here; use the backend of the device that holds it"
            )
        if not isinstance(data, self._cl_array.Array):
            return None
        if data.context != self.context:
            raise BackendError(f"opencl device {self.label}: the array lives in another context")
        # Work pyopencl recorded on the array (on any queue) must finish before a slot's
        # queue reads it: queues of one context do not order each other. Wait on a copy of
        # the event list and leave the list alone: windows of one array are views sharing
        # it, and Array.finish() from two dispatcher threads at once clears it under the
        # other's wait (a released event: Intel's runtime crashed in the conformance suite).
        events = list(data.events)
        if events:
            self._cl.wait_for_events(events)
        return data.base_data, int(data.offset)

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
        # One program holds every family's kernels (pyopencl caches its binary on disk).
        # Kernel objects must not have their arguments set from two threads at once: each
        # slot (and the node queue) keeps its own.
        kernel = slot.cache.get(name)
        if kernel is None:
            kernel = self._cl.Kernel(self._built(), name)
            info = self._cl.kernel_work_group_info.WORK_GROUP_SIZE
            self._kernel_fits(name, local, int(kernel.get_work_group_info(info, self.device)))
            slot.cache[name] = kernel
        converted = [_arg(self._cl, a) for a in args]
        kernel(q, (global_size(size, local),), None if local is None else (local,), *converted)

    def _built(self) -> Any:
        with self._lock:
            if self._program is None:
                cl = self._cl
                try:
                    self._program = run_build(
                        f"building opencl kernels for {self.label}", self._build_program
                    )
                except cl.Error as e:
                    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
                    # The compiler's first error in the kernels, else its first error at all
                    # (PoCL's LLVM refusing this CPU: "error: unknown target CPU 'generic'"),
                    # else pyopencl's summary (BUILD_PROGRAM_FAILURE, which says no more).
                    errors = [ln for ln in lines if "error" in ln.lower() and ".cl:" in ln]
                    others = [ln for ln in lines if ln.lower().startswith(("error", "fatal"))]
                    first = (errors or others or lines or [type(e).__name__])[0]
                    raise BackendError(
                        f"opencl device {self.label}: the kernels failed to build: {first}"
                    ) from None
            return self._program

    def _build_program(self) -> Any:
        cl = self._cl
        with warnings.catch_warnings():
            # Build logs full of vectoriser remarks come as CompilerWarning.
            warnings.simplefilter("ignore", cl.CompilerWarning)
            return cl.Program(self.context, source()).build()


def _arg(cl: Any, a: Any) -> Any:
    """gpuhash.device's argument markers as pyopencl arguments."""
    import numpy as np

    if isinstance(a, U32):
        return np.uint32(a)
    if isinstance(a, U64):
        return np.uint64(a)
    if isinstance(a, Local):
        return cl.LocalMemory(a.nbytes)
    return a
