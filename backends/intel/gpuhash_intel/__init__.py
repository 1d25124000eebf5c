"""The ``intel`` backend: gpuhash's shared kernels on Intel devices through SYCL (dpctl).

A thin adapter over ``gpuhash.device.KernelBackend``, like ``opencl``: a ``SyclQueue`` per slot
on a device chosen by SYCL filter string, the kernels of ``gpuhash/kernels`` built from their
OpenCL C source by dpctl (one program per algorithm family, built on first use), USM device
memory for data, values and tables, and ``dpctl.tensor`` arrays hashed where they lie.

Devices: kernels from OpenCL C source need a device whose SYCL backend is OpenCL
(``opencl:cpu``, ``opencl:gpu``). A Level Zero device (``level_zero:gpu``) would need the kernels
as SPIR-V, which this package does not ship; Intel's GPU driver exposes the same GPU through
its OpenCL backend too, so ``opencl:gpu`` is the supported way to use an Intel GPU.

Intel's CPU OpenCL runtime from PyPI (``intel-opencl-rt``) is made visible to the SYCL runtime
by the backend itself (the ICD file that wheel ships names a path that does not exist).

Host data: USM allocations cannot wrap a memory-mapped file, but a CPU device with the SYCL
aspect ``usm_system_allocations`` (Intel's CPU runtime has it) may be handed any pointer of the
process. On such a device the leaf kernel reads host data (memory-mapped windows, packed
batches, in-memory buffers) in place, with no copy; the Python API has no way to pass a raw
pointer as a kernel argument, so those launches go through dpctl's C API
(``DPCTLQueue_SubmitRange``/``SubmitNDRange`` in the library the dpctl wheel ships). Other
devices get the data copied into USM device memory, window by window.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import threading
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
from gpuhash.kernels import BACKEND_FILES, KERNEL_FILES, make_intel_runtime_visible, source
from gpuhash.sources import DeviceBytes

__all__ = ["IntelBackend", "list_devices"]

DEVICE_ENV = "GPUHASH_INTEL_DEVICE"
LAYOUT_ENV = "GPUHASH_INTEL_LAYOUT"
#: Filter strings tried in order when no device is named.
DEFAULT_FILTERS = ("opencl:gpu", "opencl:cpu")
#: dpctl and Intel's CPU runtime: the core's extra (pip reads it from the installed gpuhash).
INSTALL = 'python -m pip install "gpuhash[intel]"'


def _dpctl() -> Any:
    """dpctl, imported after Intel's CPU runtime was made visible to the OpenCL ICD loader."""
    make_intel_runtime_visible()
    try:
        import dpctl
        import dpctl.memory
        import dpctl.program
    except ImportError as e:
        raise BackendUnavailable(
            f"backend 'intel' needs dpctl ({e}); install it with: {INSTALL}"
        ) from None
    return dpctl


class _ArgTypes:
    """The kernel argument types that launches through dpctl's C API name: the values of
    dpctl's ``kernel_arg_type`` (its C API's ``DPCTLKernelArgType``), read from dpctl."""

    __slots__ = ("local_accessor", "uint8", "uint32", "uint64", "void_ptr")

    def __init__(self) -> None:
        # dpctl exposes the enumeration only from this module (dpctl itself imports it).
        from dpctl._sycl_queue import kernel_arg_type

        self.uint8: int = kernel_arg_type.dpctl_uint8.value
        self.uint32: int = kernel_arg_type.dpctl_uint32.value
        self.uint64: int = kernel_arg_type.dpctl_uint64.value
        self.void_ptr: int = kernel_arg_type.dpctl_void_ptr.value
        self.local_accessor: int = kernel_arg_type.dpctl_local_accessor.value


_arg_types_read: _ArgTypes | None = None


def _arg_types() -> _ArgTypes:
    """dpctl's kernel argument types, read on the first launch through its C API (so importing
    this package imports no dpctl)."""
    global _arg_types_read
    if _arg_types_read is None:
        _arg_types_read = _ArgTypes()
    return _arg_types_read


# dpctl's MDLocalAccessor (dpctl_sycl_queue_interface.h), for launches through its C API.
class _MDLocalAccessor(ctypes.Structure):
    _fields_ = [
        ("ndim", ctypes.c_size_t),
        ("dpctl_type_id", ctypes.c_int),
        ("dim0", ctypes.c_size_t),
        ("dim1", ctypes.c_size_t),
        ("dim2", ctypes.c_size_t),
    ]


class _SystemMemory:
    """Host memory that a kernel reads in place (a device with system USM allocations): the
    view stays referenced, and so alive, until its slot's batch is read back."""

    __slots__ = ("address", "view")

    def __init__(self, view: memoryview) -> None:
        import numpy as np

        self.view = view
        # numpy reads the address of read-only memory too (a mapped file); the array is
        # dropped at once so the view can be released when the batch ends.
        self.address = int(np.frombuffer(view, dtype=np.uint8).ctypes.data)


_capi: Any = None


def _dpctl_capi(dpctl: Any) -> Any:
    """The submit functions of the dpctl wheel's C library, typed for ctypes."""
    global _capi
    if _capi is None:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(dpctl.__file__), "libDPCTLSyclInterface.so"))
        vp, size_t = ctypes.c_void_p, ctypes.c_size_t
        common: list[Any] = [vp, vp, ctypes.POINTER(vp), ctypes.POINTER(ctypes.c_int), size_t]
        sizes = ctypes.POINTER(size_t)
        lib.DPCTLQueue_SubmitRange.argtypes = [*common, sizes, size_t, vp, size_t]
        lib.DPCTLQueue_SubmitRange.restype = vp
        lib.DPCTLQueue_SubmitNDRange.argtypes = [*common, sizes, sizes, size_t, vp, size_t]
        lib.DPCTLQueue_SubmitNDRange.restype = vp
        lib.DPCTLEvent_Delete.argtypes = [vp]
        lib.DPCTLEvent_Delete.restype = None
        _capi = lib
    return _capi


def list_devices() -> list[str]:
    """The SYCL filter string of every device dpctl sees (``backend:type:index``)."""
    dpctl = _dpctl()
    return [d.filter_string for d in dpctl.get_devices()]


def _choose(dpctl: Any, spec: str | None) -> Any:
    if spec:
        if spec.startswith("level_zero"):
            raise UsageError(
                f"device {spec!r}: Level Zero devices need the kernels as SPIR-V, which "
                "gpuhash-intel does not ship; use the same GPU through Intel's OpenCL driver "
                "('opencl:gpu')"
            )
        try:
            device = dpctl.SyclDevice(spec)
        except Exception:  # dpctl raises SyclDeviceCreationError (or ValueError) here
            names = ", ".join(d.filter_string for d in dpctl.get_devices()) or "none"
            raise UsageError(f"no SYCL device matches {spec!r}; devices: {names}") from None
        if device.backend != dpctl.backend_type.opencl:
            raise UsageError(
                f"device {spec!r} is a {device.backend.name} device; gpuhash-intel builds its "
                "kernels from OpenCL C, so it needs an OpenCL device ('opencl:gpu', 'opencl:cpu')"
            )
        return device
    for filter_string in DEFAULT_FILTERS:
        try:
            return dpctl.SyclDevice(filter_string)
        except Exception:  # noqa: S112 - not present: try the next kind
            continue
    raise BackendUnavailable(
        "backend 'intel': no OpenCL SYCL device found (install Intel's GPU driver, or the CPU "
        f"runtime: {INSTALL})"
    )


class _UsmBytes:
    """``nbytes`` of a USM allocation from ``offset`` on, as a 1-D uint8 array (the SYCL USM
    array interface); keeps the allocation alive."""

    def __init__(self, memory: Any, nbytes: int, offset: int = 0) -> None:
        self.memory = memory
        iface = dict(memory.__sycl_usm_array_interface__)
        pointer, read_only = iface["data"]
        iface.update(data=(pointer + offset, read_only), shape=(nbytes,), typestr="|u1")
        iface["strides"] = None
        self.__sycl_usm_array_interface__ = iface


class IntelBackend(KernelBackend):
    name: ClassVar[str] = "intel"

    @classmethod
    def probe(cls) -> Probe:
        """dpctl installed, and whether a GPU could be here (device nodes), without starting
        the SYCL runtime: without a GPU only a CPU device remains (priority 5)."""
        if importlib.util.find_spec("dpctl") is None:
            return Probe(False, f"needs dpctl; install it with: {INSTALL}")
        if gpu_device_nodes() == []:
            return Probe(True, "no GPU device node: CPU devices only", priority=5)
        return Probe(True, priority=20)

    def __init__(
        self,
        device: str | None = None,
        local_size: int | None = None,
        layout: str | None = None,
    ) -> None:
        layout = requested_layout(layout, LAYOUT_ENV)
        dpctl = _dpctl()
        self._dpctl = dpctl
        self._memory = dpctl.memory
        self._program_mod = dpctl.program
        self.device = _choose(dpctl, device if device is not None else os.environ.get(DEVICE_ENV))
        self.label = f"{self.device.filter_string} {self.device.name.strip()}"
        self._is_gpu = bool(self.device.is_gpu)
        # USM allocations cannot wrap a memory-mapped file. A CPU device that accepts system
        # allocations reads host data in place; any other device gets it copied into USM
        # device memory, window by window, into two reusable slot buffers.
        self.shares_host_memory = bool(
            self.device.is_cpu and self.device.has_aspect_usm_system_allocations
        )
        self._device_errors = (
            dpctl.SyclKernelSubmitError,
            dpctl.SyclKernelInvalidRangeError,
            dpctl.memory.USMAllocationError,
        )
        self._programs: dict[str, Any] = {}
        self._kernels: dict[tuple[str, str], Any] = {}
        self._fits: set[tuple[str, int | None]] = set()
        self._lock = threading.Lock()
        limits = opencl_limits(self.device, self._is_gpu, self.shares_host_memory)
        try:
            self.context = dpctl.SyclContext(self.device)
            self._init_common(layout, local_size, self._is_gpu, limits, STAGED_GROUP)
        except UsageError:
            raise
        except Exception as e:  # queue or context creation
            raise BackendUnavailable(f"intel device {self.label}: {e}") from None
        #: A queue for callers that create their own arrays (dpctl.tensor) for this backend.
        self.queue = self._node_queue

    def capabilities(self) -> Capabilities:
        # Same ranking as opencl: a GPU beats the host; Intel's CPU runtime stays below the
        # cpu backend (10) under auto.
        return self._capabilities(frozenset(FAMILIES), 20 if self._is_gpu else 5)

    def close(self) -> None:
        super().close()
        self._kernels.clear()
        self._programs.clear()

    def device_array(self, data: Buffer, offset: int = 0) -> Any:
        """USM device memory on this backend's device holding a copy of ``data`` at ``offset``
        bytes into the allocation, exposed through the SYCL USM array interface as
        ``len(data)`` bytes (an interior pointer, as a dpnp slice is): what the conformance
        suite hashes in place."""
        view = memoryview(data).cast("B")
        whole = bytes([0xA5]) * offset + bytes(view)
        return _UsmBytes(self._to_device(self._node_queue, whole), view.nbytes, offset)

    # -- device operations (gpuhash.device.KernelBackend) -------------------------------------

    def _new_queue(self) -> Any:
        return self._dpctl.SyclQueue(self.context, self.device, property="in_order")

    def _alloc(self, nbytes: int) -> Any:
        return self._memory.MemoryUSMDevice(max(8, nbytes), queue=self._node_queue)

    def _to_device(self, q: Any, data: Buffer) -> Any:
        view = memoryview(data).cast("B")
        mem = self._memory.MemoryUSMDevice(max(8, view.nbytes), queue=q)
        if view.nbytes:
            q.memcpy(mem, view, view.nbytes)
        return mem

    def _pinned_host(self, nbytes: int) -> tuple[Any, memoryview]:
        memory = self._memory.MemoryUSMHost(nbytes, queue=self._node_queue)
        return memory, memoryview(memory).cast("B")

    def _copy_in_at(self, q: Any, dst: Any, offset: int, view: memoryview) -> Any:
        target = self._memory.as_usm_memory(_UsmBytes(dst, view.nbytes, offset))
        return q.memcpy_async(target, view, view.nbytes)

    def _wait(self, event: Any) -> None:
        event.wait()

    def _copy_out(self, q: Any, src: Any, nbytes: int) -> bytes:
        result = bytearray(nbytes)
        if nbytes:
            q.memcpy(result, src, nbytes)  # in order: after every kernel of the batch
        return bytes(result)

    def _finish(self, q: Any) -> None:
        q.wait()

    def _wrap_host(self, q: Any, view: memoryview) -> Any:
        return _SystemMemory(view)

    def _device_view(self, q: Any, data: object) -> tuple[Any, int] | None:
        if not isinstance(data, DeviceBytes):
            if hasattr(data, "base_data") and hasattr(data, "context"):  # a pyopencl array
                raise BackendError(
                    f"intel device {self.label}: a pyopencl array cannot be hashed here; use "
                    "the opencl backend"
                )
            return None
        if data.interface != "sycl":
            raise BackendError(
                f"intel device {self.label}: a {data.interface.upper()} device array cannot "
                "be hashed here; use the backend of the device that holds it"
            )
        try:
            mem = self._memory.as_usm_memory(data.owner)  # starts at the array's first byte
        except ValueError as e:
            raise BackendError(f"intel device {self.label}: {e}") from None
        if mem.sycl_context != self.context:
            raise BackendError(
                f"intel device {self.label}: the array lives in another SYCL context"
            )
        producer = data.stream  # the interface's syclobj: the queue the array was made on
        if isinstance(producer, self._dpctl.SyclQueue) and producer != q:
            # Work still queued there on the array runs before q's next commands: a barrier
            # after it, waited for by one on q (the device orders them; the host does not wait).
            q.submit_barrier([producer.submit_barrier()])
        return mem, data.start

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
        kernel = self._kernel(family, name)
        if (name, local) not in self._fits:  # the kernel's own limit, before its first launch
            self._kernel_fits(name, local, int(kernel.work_group_size))
            self._fits.add((name, local))
        if any(isinstance(a, _SystemMemory) for a in args):
            self._submit_system(q, slot, kernel, size, local, args)
            return
        converted = [self._arg(a) for a in args]
        if local is None:
            event = q.submit_async(kernel, converted, [global_size(size, None)])
        else:
            event = q.submit_async(kernel, converted, [global_size(size, local)], [local])
        # USM arguments must outlive the kernel: the slot keeps them until its batch is read.
        slot.keep.extend(converted)
        slot.keep.append(event)

    def _arg(self, a: Any) -> Any:
        if isinstance(a, U32):
            return ctypes.c_uint32(a)
        if isinstance(a, U64):
            return ctypes.c_uint64(a)
        if isinstance(a, Local):
            return self._dpctl.LocalAccessor("u1", (a.nbytes,))
        return a

    def _submit_system(
        self, q: Any, slot: Slot, kernel: Any, size: int, local: int | None, args: list[Any]
    ) -> None:
        """Enqueue a launch with a host pointer among its arguments through dpctl's C API
        (``set_arg(index, void*)``: a USM pointer argument, which a device with system
        allocations accepts for any host memory)."""
        n = len(args)
        values = (ctypes.c_void_p * n)()
        types = (ctypes.c_int * n)()
        held: list[Any] = []  # the scalars and accessor descriptions the pointers point to
        kinds = _arg_types()
        for i, a in enumerate(args):
            if isinstance(a, _SystemMemory):
                values[i], types[i] = a.address, kinds.void_ptr
            elif isinstance(a, U32 | U64):
                scalar = ctypes.c_uint32(a) if isinstance(a, U32) else ctypes.c_uint64(a)
                held.append(scalar)
                values[i] = ctypes.addressof(scalar)
                types[i] = kinds.uint32 if isinstance(a, U32) else kinds.uint64
            elif isinstance(a, Local):
                desc = _MDLocalAccessor(1, kinds.uint8, a.nbytes, 1, 1)
                held.append(desc)
                values[i], types[i] = ctypes.addressof(desc), kinds.local_accessor
            else:  # a dpctl USM memory object
                values[i] = a.__sycl_usm_array_interface__["data"][0]
                types[i] = kinds.void_ptr
        capi = _dpctl_capi(self._dpctl)
        kref, qref = kernel.addressof_ref(), q.addressof_ref()
        if local is None:
            rng = (ctypes.c_size_t * 3)(global_size(size, None), 1, 1)
            event = capi.DPCTLQueue_SubmitRange(kref, qref, values, types, n, rng, 1, None, 0)
        else:
            rng = (ctypes.c_size_t * 3)(global_size(size, local), 1, 1)
            lrng = (ctypes.c_size_t * 3)(local, 1, 1)
            event = capi.DPCTLQueue_SubmitNDRange(
                kref, qref, values, types, n, rng, lrng, 1, None, 0
            )
        if not event:
            raise BackendError(f"intel device {self.label}: the kernel could not be submitted")
        # The queue is in order and the batch ends with a blocking read on it: the event
        # itself is not needed (deleting the handle does not cancel the work).
        capi.DPCTLEvent_Delete(event)
        slot.keep.extend(args)

    def _kernel(self, family: str, name: str) -> Any:
        """Kernel ``name`` from ``family``'s program, built on first use (dpctl keeps no
        binary cache, and one family's program builds several times faster than all five)."""
        # The plain digest kernels (conformance checks only) get programs of their own, so the
        # hashing programs stay small.
        key = f"{family}+digests" if name.startswith("digest_") else family
        files = KERNEL_FILES if name.startswith("digest_") else BACKEND_FILES
        with self._lock:
            kernel = self._kernels.get((key, name))
            if kernel is not None:  # kernels are looked up on every launch: keep them
                return kernel
            program = self._programs.get(key)
            if program is None:
                try:
                    text = source(*files, families=[family])
                    program = run_build(
                        f"building intel kernels ({key}) for {self.label}",
                        lambda: self._program_mod.create_program_from_source(
                            self._node_queue, text
                        ),
                    )
                except self._program_mod.SyclProgramCompilationError as e:
                    detail = " ".join(str(e).split())[:300] or "no build log"
                    raise BackendError(
                        f"intel device {self.label}: the kernels failed to build: {detail}"
                    ) from None
                self._programs[key] = program
            kernel = self._kernels[(key, name)] = program.get_sycl_kernel(name)
            return kernel
