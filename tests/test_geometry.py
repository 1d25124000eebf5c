"""The geometry of the kernel backends (``gpuhash.geometry``): window size, slots and work-group
size as pure functions of a device's properties, with an H200's (as CuPy reports them) and
those of Intel's CPU runtime here; work-group sizes that some kernel could not launch with are
refused when the backend is made."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpuhash.algorithms import DEFAULT_LEAF_SIZE, FAMILIES, MAX_LEAF_SIZE, MIN_LEAF_SIZE, Algorithm
from gpuhash.engine import window_bytes
from gpuhash.errors import UsageError
from gpuhash.geometry import (
    HOST_BATCH,
    LEAF_TABLE_BYTES,
    VALUE_OVERHEAD,
    DeviceLimits,
    check_local_size,
    cuda_limits,
    data_bytes,
    global_size,
    plan,
    register_cap,
    staged_bytes,
    staged_local_sizes,
)

GiB = 1 << 30
#: cudaGetDeviceProperties of an H200 (SXM, 141 GB), the fields the backend reads.
H200_PROPS = {
    "name": b"NVIDIA H200",
    "multiProcessorCount": 132,
    "maxThreadsPerBlock": 1024,
    "maxThreadsPerMultiProcessor": 2048,
    "maxBlocksPerMultiProcessor": 32,
    "sharedMemPerBlock": 48 << 10,
    "sharedMemPerBlockOptin": 227 << 10,
    "sharedMemPerMultiprocessor": 228 << 10,
    "reservedSharedMemPerBlock": 1 << 10,
    "regsPerMultiprocessor": 65536,
    "regsPerBlock": 65536,
    "totalGlobalMem": 141 * GiB,
}
H200 = cuda_limits(H200_PROPS, free=140 * GiB, total=141 * GiB)
#: Intel's CPU OpenCL runtime on this machine's two cores (pyopencl's and dpctl's figures).
INTEL_CPU = DeviceLimits(
    units=2,
    max_group=8192,
    local_bytes=256 << 10,
    memory=25275973632,
    free_memory=25275973632,
    is_gpu=False,
    shares_host_memory=True,
)


def _blocks(batch: int, group: int, leaf: int = DEFAULT_LEAF_SIZE) -> int:
    """Work-groups of the leaf launch over one full window of ``batch`` bytes."""
    window = window_bytes(Algorithm("merkle-sha256", leaf), batch)
    return global_size(window // leaf, group) // group


def test_an_h200_is_filled_by_one_window() -> None:
    """132 SMs, 2 blocks of 256 each at 96 registers a thread (the heaviest kernels): 2^16
    leaves of 64 KiB, a 4 GiB window, 256 blocks, every SM holding 1 or 2 at once, all in one
    wave for every kernel, and twice that with the second slot's window beside it; the old
    256 MiB window had 16 blocks, 16 busy SMs."""
    p = plan(H200)
    assert (p.group, p.groups_per_unit, p.slots) == (256, 2, 2)
    assert p.wave == 132 * 2 * 256
    assert p.batch_bytes == 4 * GiB
    blocks = _blocks(p.batch_bytes, 256)
    assert blocks == 256
    assert 132 < blocks <= p.groups_per_unit * 132  # every SM busy, no second wave
    assert p.slots * blocks > 3 * 132  # the lighter kernels (5 blocks per SM) with both slots
    assert _blocks(256 << 20, 256) == 16
    # The last leaf ends at 2^32: offsets stay below it in a window, and a slice of a device
    # array adds its own start (the kernels take 64-bit offsets, tested past 2^32).
    assert p.batch_bytes == 1 << 32


def test_the_h200_window_holds_for_other_block_sizes_and_leaves() -> None:
    for group, resident in ((32, 21), (64, 10), (128, 5), (512, 1)):
        p = plan(H200, group)
        assert p.group == group
        assert p.groups_per_unit == resident  # registers: 65536 / (96 per work-item * group)
        assert p.batch_bytes == 4 * GiB
    # Other leaf sizes keep the same window in bytes: more, or fewer, leaves per launch.
    assert window_bytes(Algorithm("blake3", MIN_LEAF_SIZE), 4 * GiB) // MIN_LEAF_SIZE == 1 << 22
    assert window_bytes(Algorithm("blake3", MAX_LEAF_SIZE), 4 * GiB) // MAX_LEAF_SIZE == 256


@pytest.mark.parametrize(
    ("free", "batch"),
    [(140 * GiB, 4 * GiB), (12 * GiB, 2 * GiB), (9 * GiB, 2 * GiB), (1 * GiB, 128 << 20)],
)
def test_free_memory_bounds_the_window(free: int, batch: int) -> None:
    """Each slot's data buffer (host data is copied into it) and values stay within half the
    free memory: a window of the largest power of two that fits, never below 16 MiB."""
    p = plan(cuda_limits(H200_PROPS, free=free, total=141 * GiB))
    assert p.batch_bytes == batch
    assert 2 * batch * (1 + VALUE_OVERHEAD) <= free / 2 or batch == 16 << 20
    assert plan(cuda_limits(H200_PROPS, free=64 << 20, total=141 * GiB)).batch_bytes == 16 << 20


def test_a_gpu_whose_api_says_less() -> None:
    """OpenCL and SYCL report no resident work-items per unit: 1024 are assumed; an
    integrated GPU (host memory in place) keeps windows of at most 1 GiB."""
    gpu = DeviceLimits(
        units=60,
        max_group=256,
        local_bytes=64 << 10,
        memory=32 * GiB,
        free_memory=32 * GiB,
        is_gpu=True,
    )
    p = plan(gpu, 64)
    assert (p.group, p.groups_per_unit, p.wave) == (64, 16, 60 * 1024)
    assert p.batch_bytes == (1 << 15) * DEFAULT_LEAF_SIZE
    shared = DeviceLimits(
        units=96,
        max_group=512,
        local_bytes=64 << 10,
        memory=16 * GiB,
        free_memory=16 * GiB,
        is_gpu=True,
        shares_host_memory=True,
    )
    assert plan(shared, 64).batch_bytes == 1 * GiB


def test_cpu_runtimes_keep_their_measured_window() -> None:
    p = plan(INTEL_CPU)
    assert (p.group, p.batch_bytes, p.slots) == (None, HOST_BATCH, 2)
    assert plan(INTEL_CPU, 64).group == 64


@pytest.mark.parametrize(
    ("n", "group", "size"),
    [
        (0, 256, 256),
        (1, 256, 256),
        (256, 256, 256),
        (257, 256, 512),
        (4095, 7, 4095),
        (4096, 7, 4102),
        (5, None, 5),
        (0, None, 1),
    ],
)
def test_launch_sizes_round_up_to_whole_groups(n: int, group: int | None, size: int) -> None:
    assert global_size(n, group) == size


def test_staged_local_memory_is_what_the_kernels_carve() -> None:
    for family in FAMILIES:
        for group in (1, 7, 256):
            sizes = staged_local_sizes(family, group)
            assert staged_bytes(group, family) >= sum(sizes)
    # Keccak's rows are the largest: 256 fit CUDA's default 48 KiB, 512 need the opt-in.
    assert staged_bytes(256) == staged_bytes(256, "lthash16-shake256") <= 48 << 10
    assert 48 << 10 < staged_bytes(512) <= 227 << 10


def test_local_sizes_an_h200_launches_are_accepted() -> None:
    for size in (None, 1, 32, 100, 256, 512, 1000, 1024):
        check_local_size(H200, size, "staged", "cuda:0")


def test_large_groups_have_their_registers_capped() -> None:
    """Up to 512 work-items every kernel has the 128 registers it may need; 1024 share an
    H200's 64K registers per block, 64 each, which the kernels are then built within; fewer
    than 32 a work-item is refused."""
    for size in (None, 1, 256, 512):
        assert register_cap(H200, size) is None
    assert register_cap(H200, 1024) == 64
    assert register_cap(H200, 1000) == 64  # 65 in whole units of 8
    assert register_cap(H200, 600) == 104
    assert register_cap(INTEL_CPU, 8192) is None  # OpenCL does not say: nothing to cap
    assert register_cap(H200, 900) == 64  # 29 whole warps: 928 work-items' registers
    for size in range(1, 1025):  # registers go to whole warps: every size's cap fits its block
        cap = register_cap(H200, size)
        assert cap is None or cap * -(-size // 32) * 32 <= H200.registers_per_group, size
    assert plan(H200, 1024).groups_per_unit == 1  # 64K registers per SM / (1024 x 64): one
    small = replace(H200, registers_per_group=16 << 10)
    check_local_size(small, 512, "staged", "gpu")
    with pytest.raises(UsageError, match=r"leaves 16 registers per work-item on gpu; .* 512 "):
        check_local_size(small, 1024, "staged", "gpu")


@pytest.mark.parametrize(
    ("size", "layout", "message"),
    [
        (2048, "staged", r"larger than the largest work-group of cuda:0 NVIDIA H200 \(1024\)"),
        (0, "direct", r"local_size must be at least 1, not 0"),
    ],
)
def test_local_sizes_an_h200_cannot_launch_are_refused(
    size: int, layout: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        check_local_size(H200, size, layout, "cuda:0 NVIDIA H200")


def test_local_memory_bounds_staged_groups_only() -> None:
    """On Intel's CPU runtime (256 KiB of local memory) the staged kernels fit 1024
    work-items, not 2048; the direct kernels use no local memory and take the device's 8192."""
    check_local_size(INTEL_CPU, 1024, "staged", "cpu")
    check_local_size(INTEL_CPU, 8192, "direct", "cpu")
    with pytest.raises(UsageError, match=r"local_size 2048 needs 319492 bytes of local memory"):
        check_local_size(INTEL_CPU, 2048, "staged", "cpu")
    with pytest.raises(UsageError, match=r"largest work-group of cpu \(8192\)"):
        check_local_size(INTEL_CPU, 8193, "direct", "cpu")
    # A GPU without CUDA's opt-in: its local memory is the limit (48 KiB: 256 at most).
    gpu = DeviceLimits(80, 1024, 48 << 10, 16 * GiB, 16 * GiB, is_gpu=True)
    check_local_size(gpu, 256, "staged", "gpu")
    with pytest.raises(UsageError, match="needs 79876 bytes"):
        check_local_size(gpu, 512, "staged", "gpu")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "leaf", [MIN_LEAF_SIZE, 4 << 10, 16 << 10, DEFAULT_LEAF_SIZE, MAX_LEAF_SIZE]
)
@pytest.mark.parametrize("free", [140 * GiB, 22 * GiB, 1 * GiB])
def test_every_tree_fits_the_memory_the_plan_gave(family: str, leaf: int, free: int) -> None:
    """On an H200 and on cards with 22 GiB and 1 GiB free, every family at every leaf size
    keeps each slot's window, the values of all its leaves and nodes (a complete tree:
    2n - 1 of them) and its leaf table within the slot's share of free memory; with the
    default leaf every family gets the plan's whole window (LtHash with 1 KiB leaves, about 4
    value bytes per data byte, once got it too: 4 GiB of data and 16 GiB of values on a 24 GiB
    card)."""
    p = plan(cuda_limits(H200_PROPS, free=free, total=141 * GiB))
    alg = Algorithm(family, leaf)
    window = window_bytes(alg, data_bytes(alg, p.batch_bytes))
    n = window // leaf
    d = alg.digest_size
    used = window + (2 * n - 1) * d + n * LEAF_TABLE_BYTES
    assert used <= p.batch_bytes * (1 + VALUE_OVERHEAD)
    assert p.slots * used <= free / 2 or p.batch_bytes == 16 << 20
    if leaf == DEFAULT_LEAF_SIZE:
        assert window == p.batch_bytes
    else:  # no smaller than it must be: twice the window would not fit
        assert window == p.batch_bytes or 2 * window * (1 + (2 * d + 25) / leaf) > p.batch_bytes * (
            1 + VALUE_OVERHEAD
        )
