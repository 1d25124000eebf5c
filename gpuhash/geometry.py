"""How a kernel backend fills its device: window size, slots and work-group size, from the
device's properties alone.

The leaf kernels hash one leaf per work-item, so a launch over a window of ``W`` bytes has
``W / L`` work-items. A device is full when every compute unit (an NVIDIA SM, an AMD CU) holds
as many work-groups as it can run at once; with the default leaf (64 KiB) an H200 (132 SMs)
takes 2^16 leaves in one wave of its heaviest kernels, a 4 GiB window (two in flight), where the
old fixed 256 MiB window (4096 leaves, 16 blocks of 256) kept 16 SMs busy (docs/backends.md,
"Filling the device"). :func:`plan` turns a :class:`DeviceLimits` into a :class:`Plan`;
:func:`check_local_size` refuses a work-group size the device cannot launch when the backend is
made, not at its first launch. Both are pure functions, tested with an H200's properties and
those of Intel's CPU runtime. Each backend reads the properties from its API: CUDA's through
:func:`cuda_limits`; OpenCL's and SYCL's compute units, largest work-group, local and global
memory in the ``opencl`` and ``intel`` adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpuhash.algorithms import DEFAULT_LEAF_SIZE, FAMILY_TABLE, Algorithm, family_info
from gpuhash.errors import UsageError

__all__ = [
    "ASSUMED_REGISTERS",
    "DEFAULT_GROUP",
    "HOST_BATCH",
    "MAX_KERNEL_REGISTERS",
    "MIN_KERNEL_REGISTERS",
    "DeviceLimits",
    "Plan",
    "check_local_size",
    "cuda_limits",
    "data_bytes",
    "global_size",
    "opencl_limits",
    "plan",
    "register_cap",
    "staged_bytes",
    "staged_local_sizes",
    "tree_overhead",
]

#: Work-items per group on a GPU when none is given (a multiple of every warp and wavefront).
DEFAULT_GROUP = 256
#: Registers per work-item assumed when sizing windows: the most any kernel takes (NVRTC 12.9
#: and 13.5 for sm_90 give 24-96: SHA-256 and BLAKE3 48, SHA3-256 80-85, SHA-512 and the
#: lattice leaves 95-96), so a 64K-register SM holds 2 blocks of 256 of every kernel, and a
#: window of that many blocks per SM runs in one wave whatever the family; the lighter kernels
#: (5 blocks per SM) are filled by the second slot's window running beside it.
ASSUMED_REGISTERS = 96
#: The most registers per work-item any kernel may need (96 measured, see above): a work-group
#: size whose share of the device's registers per group is smaller has its kernels built to fit
#: that share (:func:`register_cap`), down to ``MIN_KERNEL_REGISTERS``, below which it is
#: refused.
MAX_KERNEL_REGISTERS = 128
MIN_KERNEL_REGISTERS = 32
#: Registers are given to whole warps of 32 work-items, in units of 256: 8 a work-item.
REGISTER_UNIT = 8
WARP = 32
#: Work-items resident per unit where the API does not say (OpenCL and SYCL have no query;
#: NVIDIA and AMD units hold 1024-2560, so this errs towards smaller windows).
UNKNOWN_THREADS_PER_UNIT = 1024
#: Batch of a device that is the host's CPU (measured best on Intel's CPU runtime: windows that
#: stay small enough to be read in place, docs/benchmarks.md).
HOST_BATCH = 64 << 20
#: Bounds of a GPU's window: a floor for devices with little memory, and a ceiling (at 1 KiB
#: leaves, 2^24 work-items in a launch; the kernels count them in 32 bits).
MIN_GPU_BATCH = 16 << 20
MAX_GPU_BATCH = 16 << 30
#: A GPU that works on host memory in place (an integrated GPU) keeps its windows in host
#: memory that the engine reads ahead, so they stay at most this large.
MAX_SHARED_BATCH = 1 << 30
#: Share of the device's free memory that the slots' data buffers may take (host data is
#: copied into one per slot; device arrays are hashed in place and need none).
MEMORY_SHARE = 2
#: Bytes of a leaf's row in the leaf table the device holds besides its data and values:
#: offset, length and index (8 bytes each) and the root flag (1) (``gpuhash.backend.LeafTable``).
LEAF_TABLE_BYTES = 3 * 8 + 1


def tree_overhead(digest_size: int, leaf_size: int) -> float:
    """Bytes a backend holds per data byte besides the data, at most: the values of a window's
    leaves and nodes (fewer than two per leaf, ``digest_size`` bytes each) and the leaf table."""
    return (2 * digest_size + LEAF_TABLE_BYTES) / leaf_size


#: The most of :func:`tree_overhead` with the default leaf, which :func:`plan` sizes windows
#: for (LtHash's 2048-byte values of 64 KiB leaves: a little over 1/16); an algorithm whose
#: tree takes more per byte gets less data per window (:func:`data_bytes`).
VALUE_OVERHEAD = max(tree_overhead(f.digest_size, DEFAULT_LEAF_SIZE) for f in FAMILY_TABLE)


def data_bytes(algorithm: Algorithm, batch_bytes: int) -> int:
    """The data of one batch of ``algorithm`` on a backend whose ``Capabilities.batch_bytes``
    is ``batch_bytes``: the same for an algorithm whose tree takes at most ``VALUE_OVERHEAD``
    per data byte (every family with the default leaf), else proportionally less, so that data
    and tree together stay within what the backend planned for (LtHash with 1 KiB leaves holds
    about 4 bytes of values per data byte: its windows are a fifth as large); at least a leaf."""
    ratio = tree_overhead(algorithm.digest_size, algorithm.leaf_size)
    if ratio <= VALUE_OVERHEAD:
        return batch_bytes
    return max(algorithm.leaf_size, int(batch_bytes * (1 + VALUE_OVERHEAD) / (1 + ratio)))


@dataclass(frozen=True)
class DeviceLimits:
    """What :func:`plan` needs to know about a device; 0 means unknown."""

    #: Compute units: SMs, CUs, CPU cores.
    units: int
    #: The largest work-group the device launches.
    max_group: int
    #: Local (CUDA: shared) memory one work-group may use: CUDA's opt-in maximum.
    local_bytes: int
    #: Device memory in all, and free now (the total where the API does not say).
    memory: int
    free_memory: int
    is_gpu: bool
    #: The device works on host memory in place (CPU runtimes, integrated GPUs).
    shares_host_memory: bool = False
    #: Work-items resident on one unit at once (NVIDIA: maxThreadsPerMultiProcessor).
    threads_per_unit: int = 0
    #: Work-groups resident on one unit at once (NVIDIA: maxBlocksPerMultiProcessor).
    groups_per_unit: int = 0
    #: Local memory of one unit, which its resident groups share (NVIDIA:
    #: sharedMemPerMultiprocessor), and what the device keeps of it per group.
    local_bytes_per_unit: int = 0
    reserved_local_per_group: int = 0
    #: 32-bit registers of one unit, and at most of one work-group (NVIDIA: regsPerBlock).
    registers_per_unit: int = 0
    registers_per_group: int = 0


@dataclass(frozen=True)
class Plan:
    """The geometry of a kernel backend on one device."""

    #: Work-items per group of every launch (``None``: the runtime chooses; CPU runtimes).
    group: int | None
    #: Groups resident on each unit at once, and the leaves that fill the device once.
    groups_per_unit: int
    wave: int
    #: ``Capabilities.batch_bytes`` (the engine's window is the largest ``2^j * L`` in it).
    batch_bytes: int
    #: ``Capabilities.in_flight``: batches on the device at once, one slot each.
    slots: int


def staged_local_sizes(family: str, group: int) -> list[int]:
    """Bytes of the four local buffers of ``leaves_staged_<family>`` (stage, goff, gfull, gmax)
    for a work-group of ``group`` work-items (see gpuhash/kernels/leaves.cl)."""
    info = family_info(family)
    word, words = info.stage_word_bytes, info.stage_words
    return [group * (words + 1) * word, group * 8, group * 4, 4]


def staged_bytes(group: int, family: str | None = None) -> int:
    """Local memory of a staged leaf kernel's group, each buffer starting at a multiple of 8
    bytes (CUDA carves them so out of one block; OpenCL needs no more): of ``family``, or the
    most of any family."""
    families = [family] if family is not None else [f.name for f in FAMILY_TABLE]
    most = 0
    for name in families:
        at = 0
        for size in staged_local_sizes(name, group):
            at = (at + 7) & ~7
            at += size
        most = max(most, at)
    return most


def global_size(n: int, group: int | None) -> int:
    """Work-items of a launch over ``n`` items: ``n`` rounded up to a whole number of groups,
    at least one group (the kernels ignore work-items past their count)."""
    if group is None:
        return max(1, n)
    return max(1, -(-n // group)) * group


def _floor_pow2(x: int) -> int:
    return 1 << (max(1, x).bit_length() - 1)


def _resident_groups(limits: DeviceLimits, group: int) -> int:
    """Groups of ``group`` work-items one unit runs at once: the least of what its work-items,
    groups, registers (at ``ASSUMED_REGISTERS``) and local memory (the staged kernels) allow;
    at least one group."""
    threads = limits.threads_per_unit or UNKNOWN_THREADS_PER_UNIT
    bounds = [threads // group]
    if limits.groups_per_unit:
        bounds.append(limits.groups_per_unit)
    if limits.registers_per_unit:
        each = min(ASSUMED_REGISTERS, register_cap(limits, group) or ASSUMED_REGISTERS)
        bounds.append(limits.registers_per_unit // (group * each))
    if limits.local_bytes_per_unit:
        per_group = staged_bytes(group) + limits.reserved_local_per_group
        bounds.append(limits.local_bytes_per_unit // per_group)
    return max(1, min(bounds, default=1))


def plan(limits: DeviceLimits, local_size: int | None = None, slots: int = 2) -> Plan:
    """The geometry for ``limits``: a GPU gets windows of the largest power of two of default
    leaves that its units run at once (one full wave: every unit holds as many groups as it
    can, no launch ends with a partial wave of the lighter kernels), within the share of free
    memory the ``slots`` data buffers may take; a CPU runtime keeps ``HOST_BATCH``.
    ``local_size`` (checked by :func:`check_local_size`) replaces the default group."""
    if not limits.is_gpu:
        return Plan(local_size, 1, max(1, limits.units), HOST_BATCH, slots)
    group = local_size or min(DEFAULT_GROUP, limits.max_group or DEFAULT_GROUP)
    resident = _resident_groups(limits, group)
    wave = max(1, limits.units) * resident * group
    batch = _floor_pow2(wave) * DEFAULT_LEAF_SIZE
    # Host data is copied into one data buffer per slot, plus the values of the tree.
    per_slot = (limits.free_memory or limits.memory) // (MEMORY_SHARE * slots)
    batch = min(batch, _floor_pow2(int(per_slot / (1 + VALUE_OVERHEAD))), MAX_GPU_BATCH)
    if limits.shares_host_memory:
        batch = min(batch, MAX_SHARED_BATCH)
    return Plan(group, resident, wave, max(batch, MIN_GPU_BATCH), slots)


def check_local_size(
    limits: DeviceLimits, local_size: int | None, layout: str, device: str
) -> None:
    """Refuse (``UsageError``, naming ``device``) a work-group size that some kernel could not
    be launched with: more work-items than the device's largest group, more local memory than a
    group may have for the staged leaf kernels (layout ``staged``; CUDA: its opt-in maximum,
    which the backend raises the kernels' limit to), or fewer registers per work-item than the
    kernels can be built within (``MIN_KERNEL_REGISTERS``; between it and
    ``MAX_KERNEL_REGISTERS`` the backend caps its kernels' registers, :func:`register_cap`)."""
    if local_size is None:
        return
    if local_size < 1:
        raise UsageError(f"local_size must be at least 1, not {local_size}")
    if limits.max_group and local_size > limits.max_group:
        raise UsageError(
            f"local_size {local_size} is larger than the largest work-group of {device} "
            f"({limits.max_group})"
        )
    need = staged_bytes(local_size)
    if layout == "staged" and limits.local_bytes and need > limits.local_bytes:
        raise UsageError(
            f"local_size {local_size} needs {need} bytes of local memory per work-group for the "
            f"staged leaf kernels; {device} has {limits.local_bytes}"
        )
    cap = register_cap(limits, local_size)
    if cap is not None and cap < MIN_KERNEL_REGISTERS:
        regs = limits.registers_per_group
        raise UsageError(
            f"local_size {local_size} leaves {cap} registers per work-item on "
            f"{device}; the kernels need at least {MIN_KERNEL_REGISTERS} (at most "
            f"{regs // MIN_KERNEL_REGISTERS} work-items per group)"
        )


def register_cap(limits: DeviceLimits, local_size: int | None) -> int | None:
    """The registers per work-item the kernels must be built within (CUDA: NVRTC's
    ``--maxrregcount``) for a group of ``local_size`` to launch: ``None`` where the device's
    registers per group give every work-item ``MAX_KERNEL_REGISTERS`` (or the API does not say),
    else its share, in whole allocation units (an H200's 64K registers: 64 for 1024
    work-items; the heaviest kernels then keep some values in local memory)."""
    regs = limits.registers_per_group
    if local_size is None or not regs:
        return None
    threads = -(-local_size // WARP) * WARP  # a group takes whole warps' registers
    if threads * MAX_KERNEL_REGISTERS <= regs:
        return None
    return regs // threads // REGISTER_UNIT * REGISTER_UNIT


def opencl_limits(device: Any, is_gpu: bool, shares_host_memory: bool) -> DeviceLimits:
    """The limits of an OpenCL device (a ``pyopencl.Device``) or a SYCL device (a
    ``dpctl.SyclDevice``), which name them alike: compute units, the largest work-group, local
    memory and global memory (neither reports free memory: all of it is taken as free)."""
    memory = int(device.global_mem_size)
    return DeviceLimits(
        units=int(device.max_compute_units),
        max_group=int(device.max_work_group_size),
        local_bytes=int(device.local_mem_size),
        memory=memory,
        free_memory=memory,
        is_gpu=is_gpu,
        shares_host_memory=shares_host_memory,
    )


def cuda_limits(props: Mapping[str, Any], free: int, total: int) -> DeviceLimits:
    """The limits of a CUDA device from ``cudaGetDeviceProperties`` (CuPy's
    ``runtime.getDeviceProperties``: a dict keyed by the struct's field names) and
    ``cudaMemGetInfo`` (free and total bytes)."""
    return DeviceLimits(
        units=int(props["multiProcessorCount"]),
        max_group=int(props["maxThreadsPerBlock"]),
        # What a block may have once the kernel's limit is raised (the staged kernels' is).
        local_bytes=int(props.get("sharedMemPerBlockOptin") or props["sharedMemPerBlock"]),
        memory=int(total),
        free_memory=int(free),
        is_gpu=True,
        threads_per_unit=int(props["maxThreadsPerMultiProcessor"]),
        groups_per_unit=int(props.get("maxBlocksPerMultiProcessor", 0)),
        local_bytes_per_unit=int(props.get("sharedMemPerMultiprocessor", 0)),
        reserved_local_per_group=int(props.get("reservedSharedMemPerBlock", 0)),
        registers_per_unit=int(props.get("regsPerMultiprocessor", 0)),
        registers_per_group=int(props.get("regsPerBlock", 0)),
    )
