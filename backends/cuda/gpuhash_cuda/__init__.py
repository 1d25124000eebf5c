"""The ``cuda`` backend: gpuhash's shared kernels on NVIDIA GPUs, through CuPy.

A thin adapter over ``gpuhash.device.KernelBackend``. The kernels are the OpenCL C files of
``gpuhash/kernels``, compiled by NVRTC (CuPy's ``RawModule``) between a small CUDA prelude
(``prelude.cuh``: the target macros of ``common.cl``) and an epilogue (``epilogue.cuh``: the
staged leaf kernels' wrapper macros, which carve their work-group buffers out of dynamic shared
memory). They are built as one program per hash file on first use (``gpuhash_cuda.program``),
so hashing SHA-256 never waits for Keccak, and CuPy's kernel cache keeps each program.
Whichever CuPy is installed is used (``cupy-cuda12x`` or ``cupy-cuda13x``: the extras
``gpuhash-cuda[cuda12]`` and ``gpuhash-cuda[cuda13]``), with the NVRTC of its own CUDA major
version where both NVRTC wheels are installed (``gpuhash_cuda.nvrtc.prefer``).
Per slot: a CUDA stream, reusable device buffers and a ring of pinned host chunks, which
several threads fill (a file window ``pread`` straight into them, ``gpuhash.hostcopy``) while
the device copies the previous chunk and the other slot's kernels run. Windows, slots and block
size come from the device's properties and free memory (``gpuhash.geometry``). CuPy arrays,
any object with ``__cuda_array_interface__`` and CUDA DLPack tensors (torch) are hashed where
they lie, each slot's stream first made to wait for the producer's (docs/device-arrays.md).
With ``kvikio`` installed (``gpuhash-cuda[gds12]``, ``[gds13]``) file windows are read straight
into device memory (GPUDirect Storage where the system has it, kvikio's own bounce buffers
where not); ``GPUHASH_CUDA_KVIKIO=0`` turns that off, ``=1`` makes it required.

No GPU was available where this was written: :func:`compile_check` (``gpuhash selftest cuda
--compile-only``, ``gpuhash_cuda.checks``) compiles every program with every NVRTC installed
(12 and 13 in the development environment) for sm_80 and sm_90 without a device or CuPy, and
that is all of this module that has run. See docs/backends.md.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from typing import Any, ClassVar

from gpuhash.algorithms import FAMILIES
from gpuhash.backend import Buffer, Capabilities, Probe
from gpuhash.builds import run_build
from gpuhash.device import U32, U64, KernelBackend, Local, Slot, requested_layout
from gpuhash.errors import BackendError, BackendUnavailable, UsageError
from gpuhash.geometry import cuda_limits, register_cap
from gpuhash.sources import DeviceBytes
from gpuhash_cuda import nvrtc
from gpuhash_cuda.checks import ARCHITECTURES, INSTALL, build_options, compile_check
from gpuhash_cuda.program import (
    PROGRAMS,
    ProgramCache,
    cuda_source,
    kernel_names,
    program_for,
    staged_shared_bytes,
    staged_wrappers,
)

__all__ = [
    "ARCHITECTURES",
    "INSTALL",
    "PROGRAMS",
    "CudaBackend",
    "compile_check",
    "cuda_source",
    "driver_hint",
    "kernel_names",
    "program_for",
    "staged_shared_bytes",
    "staged_wrappers",
]

DEVICE_ENV = "GPUHASH_CUDA_DEVICE"
LAYOUT_ENV = "GPUHASH_CUDA_LAYOUT"
KVIKIO_ENV = "GPUHASH_CUDA_KVIKIO"
INSTALL_GDS = (
    'python -m pip install "gpuhash-cuda[gds12]" ("gpuhash-cuda[gds13]" for a CUDA 13 driver)'
)
#: Threads per block when the caller gives no work-group size.
BLOCK = 256


def kvikio_module(wanted: bool | None = None) -> Any:
    """kvikio for reading files into device memory, or ``None``. ``wanted`` (else the
    environment variable ``GPUHASH_CUDA_KVIKIO``: ``1`` or ``0``): ``True`` requires it,
    ``False`` never uses it, ``None`` uses it when it is installed."""
    if wanted is None:
        setting = os.environ.get(KVIKIO_ENV, "")
        if setting not in ("", "0", "1"):
            raise UsageError(f"{KVIKIO_ENV} must be 0 or 1, not {setting!r}")
        wanted = None if setting == "" else setting == "1"
    if wanted is False:
        return None
    try:
        import kvikio
    except ImportError as e:
        if wanted:
            raise BackendUnavailable(
                f"backend 'cuda': GPUDirect Storage reads need kvikio ({e}); "
                f"install it with: {INSTALL_GDS}"
            ) from None
        return None
    return kvikio


def driver_hint(cuda_version: int, driver_version: int) -> str:
    """What to add to a driver error when CuPy's CUDA (``runtimeGetVersion``: 13000 for 13.0)
    is newer than the driver's (``driverGetVersion``: 12080 for 12.8; 0 for none): the other
    extra, for the driver's CUDA major version. Empty when that is not the problem."""
    if not driver_version or driver_version // 1000 >= cuda_version // 1000:
        return ""
    major, minor = driver_version // 1000, driver_version % 1000 // 10
    text = (
        f"; this CuPy is for CUDA {cuda_version // 1000}, the driver supports CUDA {major}.{minor}"
    )
    if major in (12, 13):
        text += f': install "gpuhash-cuda[cuda{major}]" instead, or a newer driver'
    return text


def _check_driver() -> None:
    """The CUDA driver library loads, or the backend is unavailable (saying so)."""
    import ctypes

    library = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(library)
    except OSError as e:
        raise BackendUnavailable(
            f"backend 'cuda': no usable CUDA driver or device (cannot load {library}: {e})"
        ) from None


def _device_count() -> int:
    """CUDA devices the driver sees, asked of the driver library directly (``cuInit``,
    ``cuDeviceGetCount``): no CuPy import, no context. Raises ``BackendUnavailable``."""
    import ctypes

    _check_driver()
    library = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    lib = ctypes.CDLL(library)
    lib.cuInit.argtypes = [ctypes.c_uint]
    lib.cuInit.restype = ctypes.c_int
    lib.cuDeviceGetCount.argtypes = [ctypes.POINTER(ctypes.c_int)]
    lib.cuDeviceGetCount.restype = ctypes.c_int
    status = lib.cuInit(0)
    if status == 100:  # CUDA_ERROR_NO_DEVICE
        return 0
    if status != 0:
        raise BackendUnavailable(
            f"backend 'cuda': no usable CUDA driver or device (cuInit returned {status})"
        )
    count = ctypes.c_int(0)
    status = lib.cuDeviceGetCount(ctypes.byref(count))
    if status != 0:
        raise BackendUnavailable(
            f"backend 'cuda': no usable CUDA driver or device (cuDeviceGetCount returned {status})"
        )
    return count.value


def _cupy() -> Any:
    try:
        import cupy
    except ImportError as e:
        raise BackendUnavailable(
            f"backend 'cuda' needs CuPy ({e}); install it with: {INSTALL}"
        ) from None
    return cupy


class CudaBackend(KernelBackend):
    name: ClassVar[str] = "cuda"
    #: ``gpuhash selftest cuda --compile-only``: NVRTC, no device needed.
    compile_check = staticmethod(compile_check)

    @classmethod
    def probe(cls) -> Probe:
        """CuPy installed, the driver library loads and sees a device: no CuPy import, no
        context, no kernels."""
        if importlib.util.find_spec("cupy") is None:
            return Probe(False, f"needs CuPy; install it with: {INSTALL}")
        try:
            count = _device_count()
        except BackendUnavailable as e:
            return Probe(False, str(e))
        if count == 0:
            return Probe(False, "backend 'cuda': no CUDA device found")
        return Probe(True, priority=20)

    def __init__(
        self,
        device: str | int | None = None,
        local_size: int | None = None,
        layout: str | None = None,
        kvikio: bool | None = None,
    ) -> None:
        layout = requested_layout(layout, LAYOUT_ENV)
        self._kvikio = kvikio_module(kvikio)
        _check_driver()  # before importing CuPy (0.1 s): `auto` probes every backend
        cupy = _cupy()
        self._cupy = cupy
        runtime = cupy.cuda.runtime
        cuda_version = int(runtime.runtimeGetVersion())
        try:
            count = runtime.getDeviceCount()
        except runtime.CUDARuntimeError as e:
            hint = driver_hint(cuda_version, int(runtime.driverGetVersion()))
            raise BackendUnavailable(
                f"backend 'cuda': no usable CUDA driver or device ({e}){hint}"
            ) from None
        if count == 0:
            raise BackendUnavailable("backend 'cuda': no CUDA device found")
        spec = device if device is not None else os.environ.get(DEVICE_ENV, "0")
        if not str(spec).isdigit() or int(spec) >= count:
            raise UsageError(f"no CUDA device {spec!r}; devices: 0..{count - 1}")
        self.index = int(spec)
        self._device = cupy.cuda.Device(self.index)
        props = runtime.getDeviceProperties(self.index)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        self.label = f"cuda:{self.index} {name}"
        self._shared_default = int(props["sharedMemPerBlock"])  # above it, kernels opt in
        self.shares_host_memory = False
        self._device_errors = (
            runtime.CUDARuntimeError,
            cupy.cuda.driver.CUDADriverError,
            cupy.cuda.memory.OutOfMemoryError,
        )
        # cupy-cuda12x with both NVRTC wheels installed would otherwise compile with NVRTC 13.
        nvrtc.prefer(cuda_version // 1000)
        self._programs: ProgramCache[Any] = ProgramCache(self._build_program)
        self._functions: dict[tuple[str, str], Any] = {}
        self._fitted: set[tuple[str, int, int]] = set()
        self._lock = threading.Lock()
        with self._device:
            try:  # the first call that needs the device's context, which CUDA makes now
                free, total = runtime.memGetInfo()
            except self._device_errors as e:  # busy (exclusive mode), lost, out of memory
                raise BackendUnavailable(
                    f"backend 'cuda': {self.label} cannot be used ({' '.join(str(e).split())})"
                ) from None
            limits = cuda_limits(props, free, total)
            self._init_common(layout, local_size, True, limits, default_group=BLOCK)
        # Blocks of 1024 threads have 64 registers each on an H200: the kernels are built so.
        self._options = build_options(register_cap(limits, local_size))
        self.queue = self._node_queue

    def capabilities(self) -> Capabilities:
        return self._capabilities(frozenset(FAMILIES), 20, file_reads=self._kvikio is not None)

    def read_file(self, fd: int, offset: int, length: int) -> Any:
        """A window of a file read into a new device array by kvikio (GPUDirect Storage). The
        file is reopened through ``/proc/self/fd``: the very file the engine opened and
        checked, whatever has happened to its path since."""
        if self._kvikio is None:
            return None
        with self._device:
            array = self._cupy.empty(length, dtype=self._cupy.uint8)
        with self._kvikio.CuFile(f"/proc/self/fd/{fd}", "r") as f:
            done = int(f.pread(array, length, file_offset=offset).get())
        if done != length:
            raise OSError(f"read {done} of {length} bytes")
        return array

    def device_array(self, data: Buffer, offset: int = 0) -> Any:
        """A CuPy array (uint8) on this backend's device holding a copy of ``data``, starting
        ``offset`` bytes into its allocation (a view, as a slice of a tensor is): what the
        conformance suite hashes in place."""
        import numpy as np

        host = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        with self._device:
            whole = self._cupy.asarray(np.concatenate([np.full(offset, 0xA5, np.uint8), host]))
            self._cupy.cuda.Device().synchronize()  # the copy is done before anyone reads it
        return whole[offset:]

    # -- device operations (gpuhash.device.KernelBackend) -------------------------------------

    def _new_queue(self) -> Any:
        return self._cupy.cuda.Stream(non_blocking=True)

    def _alloc(self, nbytes: int) -> Any:
        with self._device:
            return self._cupy.empty(max(8, nbytes), dtype=self._cupy.uint8)

    def _to_device(self, q: Any, data: Buffer) -> Any:
        import numpy as np

        host = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        buf = self._alloc(host.nbytes)
        if host.nbytes:
            buf[: host.nbytes].set(host, stream=q)
        return buf

    def _pinned_host(self, nbytes: int) -> tuple[Any, memoryview]:
        import numpy as np

        with self._device:  # on a staging thread: not device 0's context, but this device's
            memory = self._cupy.cuda.alloc_pinned_memory(nbytes)
        view = np.frombuffer(memory, dtype=np.uint8, count=nbytes)
        return memory, memoryview(view.data).cast("B")

    def _copy_in_at(self, q: Any, dst: Any, offset: int, view: memoryview) -> Any:
        import numpy as np

        # From pinned memory: asynchronous, ordered before the slot's kernels on q.
        dst[offset : offset + view.nbytes].set(np.frombuffer(view, dtype=np.uint8), stream=q)
        # An event of q's device (a new one is made on the current device), waited for by
        # blocking, not spinning: the threads that wait would otherwise each keep a core busy
        # that the threads reading the file need.
        with self._device:
            event = self._cupy.cuda.Event(block=True, disable_timing=True)
            event.record(q)
        return event

    def _wait(self, event: Any) -> None:
        event.synchronize()

    def _copy_out(self, q: Any, src: Any, nbytes: int) -> bytes:
        if not nbytes:
            return b""
        return bytes(src[:nbytes].get(stream=q))  # waits for the stream

    def _finish(self, q: Any) -> None:
        q.synchronize()

    def _device_view(self, q: Any, data: object) -> tuple[Any, int] | None:
        if not isinstance(data, DeviceBytes):
            return None
        if data.interface != "cuda" or data.pointer is None:
            raise BackendError(
                f"cuda device {self.label}: a {data.interface.upper()} device array cannot be "
                "hashed here; use the backend of the device that holds it"
            )
        if not data.nbytes:
            return self._alloc(8), 0  # an empty window: nothing is read
        cupy = self._cupy
        with self._device:
            try:
                # The producer's memory as bytes, kept alive by ``owner`` (the array, or the
                # DLPack export that owns the tensor); the pointer's device is asked of CUDA.
                memory = cupy.cuda.UnownedMemory(data.pointer + data.start, data.nbytes, data.owner)
            except self._device_errors as e:
                raise BackendError(
                    f"cuda device {self.label}: not a CUDA device pointer ({e})"
                ) from None
            if memory.device_id < 0:  # cudaInvalidDeviceId: memory CUDA does not know
                raise BackendError(
                    f"cuda device {self.label}: the array's pointer is not CUDA memory (neither "
                    "device, managed nor page-locked host memory)"
                )
            if memory.device_id != self.index:
                raise BackendError(
                    f"cuda device {self.label}: the array is on cuda:{memory.device_id}"
                )
            self._wait_for_producer(q, data.stream)
            pointer = cupy.cuda.MemoryPointer(memory, 0)
            return cupy.ndarray((data.nbytes,), dtype=cupy.uint8, memptr=pointer), 0

    def _wait_for_producer(self, q: Any, stream: int | None) -> None:
        """Make ``q`` (non-blocking, so not ordered after anything by CUDA itself) wait for the
        producer's pending work: an event recorded on the producer's stream now, waited for
        on ``q``, before any kernel reads the array; the host does not wait. ``stream`` 1 is
        the legacy default stream; 2, the per-thread default stream of the thread that read
        the interface (not this one), is reached through the legacy default stream too,
        which waits for every blocking stream; any other value is a ``cudaStream_t``."""
        if stream is None:
            return
        runtime = self._cupy.cuda.runtime
        handle = 1 if stream in (1, 2) else int(stream)
        event = self._cupy.cuda.Event(block=False, disable_timing=True)
        runtime.eventRecord(event.ptr, handle)
        q.wait_event(event)

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
        import numpy as np

        block = local or BLOCK
        grid = max(1, -(-size // block))
        shared = staged_shared_bytes([a.nbytes for a in args if isinstance(a, Local)])
        converted: list[Any] = []
        for a in args:
            if isinstance(a, U32):
                converted.append(np.uint32(a))
            elif isinstance(a, U64):
                converted.append(np.uint64(a))
            elif not isinstance(a, Local):  # local buffers become dynamic shared memory
                converted.append(a)
        with self._device:  # the kernel's module and attributes are those of this device
            kernel = self._function(name, program_for(family, name))
            if (name, block, shared) not in self._fitted:  # before its first such launch
                self._kernel_fits(name, block, int(kernel.max_threads_per_block))
                opt_in = shared > self._shared_default  # above 48 KiB; never lowered
                if opt_in and kernel.max_dynamic_shared_size_bytes < shared:
                    kernel.max_dynamic_shared_size_bytes = shared
                self._fitted.add((name, block, shared))
            kernel((grid,), (block,), tuple(converted), stream=q, shared_mem=shared)
        slot.keep.extend(converted)

    def _function(self, name: str, program: str | None = None) -> Any:
        """Kernel ``name`` of ``program`` (default: the first program holding it), its program
        built on first use; other programs' builds neither wait for it nor block it."""
        if program is None:
            program = next((p for p in PROGRAMS if name in kernel_names(p)), None)
            if program is None:
                raise BackendError(f"cuda device {self.label}: no kernel {name!r}")
        with self._lock:
            function = self._functions.get((program, name))
        if function is None:
            function = self._programs.get(program).get_function(name)
            with self._lock:
                self._functions[(program, name)] = function
        return function

    def _build_program(self, program: str) -> Any:
        cupy = self._cupy
        try:
            return run_build(
                f"building cuda kernels ({program}) for {self.label}",
                lambda: self._compile(program),
            )
        # CompileException: the compiler's log. RuntimeError: CuPy's other build failures
        # (no CUDA headers, no NVRTC, an NVRTC call, loading the module: NVRTCError,
        # DynamicLibNotFoundError and CUDADriverError are RuntimeErrors).
        except (cupy.cuda.compiler.CompileException, RuntimeError) as e:
            detail = " ".join(str(e).split())[:300] or type(e).__name__
            raise BackendError(
                f"cuda device {self.label}: the {program} kernels failed to build: {detail}"
            ) from None

    def _compile(self, program: str) -> Any:
        # On the build thread: the device is made current there too.
        with self._device:
            module = self._cupy.RawModule(code=cuda_source(program), options=self._options)
            module.compile()
        return module
