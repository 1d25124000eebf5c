"""The shared launch logic (``gpuhash.device``) of the kernel backends, on Intel's CPU OpenCL
runtime through ``opencl`` and ``intel``: file spans read by several threads, in place or
through the staging ring a discrete GPU uses; work-group sizes refused when the backend is
made; leaf offsets past 2^32 inside one launch (a window of more than 4 GiB, as on an H200)."""

from __future__ import annotations

import mmap
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gpuhash_intel
import gpuhash_opencl
import numpy as np
import pytest

import gpuhash
from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES, Algorithm
from gpuhash.backend import FileSpan, LeafTable
from gpuhash.engine import hash_sources
from gpuhash.errors import InputError, UsageError

CHANGED = r"^w\.bin: file changed while it was being hashed$"
KIB = 1024


@pytest.fixture(scope="module")
def opencl() -> Iterator[gpuhash_opencl.OpenCLBackend]:
    b = gpuhash_opencl.OpenCLBackend(device="Intel")
    yield b
    b.close()


@pytest.fixture
def small_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Staging chunks of 256 KiB, so a window of 1 MiB goes through the ring of three more
    than once."""
    monkeypatch.setattr("gpuhash.hostcopy.CHUNK", 256 * KIB)
    monkeypatch.setattr("gpuhash.hostcopy.MIN_PIECE", 64 * KIB)


def _table(length: int, leaf: int) -> LeafTable:
    n = ref.leaf_count(length, leaf)
    return LeafTable(
        offset=array("Q", range(0, n * leaf, leaf)),
        length=array("Q", [leaf] * (n - 1) + [length - (n - 1) * leaf]),
        index=array("Q", range(n)),
        root=array("B", [int(n == 1)] * n),
    )


@pytest.mark.usefixtures("small_ring")
@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "staged-copy"])
@pytest.mark.parametrize("family", FAMILIES)
def test_files_are_read_as_spans_in_place_or_through_the_ring(
    tmp_path: Path, family: str, in_place: bool
) -> None:
    """Windows of 1 MiB of a file (the engine hands them over as spans): read by several
    threads into the slot's host buffer and hashed there, or staged chunk by chunk into the
    device buffer (the discrete GPU path); the digests equal the reference's."""
    data = np.random.default_rng(4).bytes(3 * (1 << 20) + 12345)
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    backend = gpuhash_opencl.OpenCLBackend(device="Intel")
    backend.shares_host_memory = in_place
    alg = Algorithm(family, 64 * KIB)
    try:
        assert backend.capabilities().file_spans
        (got,) = hash_sources(backend, alg, gpuhash.list_objects(path), batch_bytes=1 << 20)
    finally:
        backend.close()
    assert got.digest == ref.object_digest(family, data, 64 * KIB)


@pytest.mark.usefixtures("small_ring")
@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "staged-copy"])
def test_a_span_cut_short_is_an_input_error_naming_the_file(
    tmp_path: Path, opencl: gpuhash_opencl.OpenCLBackend, in_place: bool
) -> None:
    """The file ends inside the third staging chunk: the chunks before it were copied, the
    read across the cut comes up short, no digest."""
    data = np.random.default_rng(5).bytes(1 << 20)
    path = tmp_path / "w.bin"
    path.write_bytes(data[: 600 * KIB])
    fd = os.open(path, os.O_RDONLY)
    opencl.shares_host_memory = in_place
    try:
        span: Any = FileSpan(fd, 0, 1 << 20, "w.bin")
        rows = _table(1 << 20, 64 * KIB)
        alg = Algorithm("merkle-sha256", 64 * KIB)
        with pytest.raises(InputError, match=CHANGED):
            opencl.hash_subtrees(alg, span, rows, [len(rows)], [True])
        path.write_bytes(data)  # whole again: the same backend hashes it right
        got = opencl.hash_subtrees(alg, span, rows, [len(rows)], [True])
        assert got == opencl.hash_subtrees(alg, data, rows, [len(rows)], [True])
    finally:
        opencl.shares_host_memory = True
        os.close(fd)


@pytest.mark.parametrize("make", [gpuhash_opencl.OpenCLBackend, gpuhash_intel.IntelBackend])
def test_a_work_group_too_large_for_the_device_is_refused_when_made(make: Any) -> None:
    """2048 work-items of the staged kernels need 312 KiB of local memory; Intel's CPU runtime
    has 256 KiB per group. Refused when the backend is made, naming the device (the launch
    itself used to fail). The direct kernels need none and take the device's 8192."""
    device = "Intel" if make is gpuhash_opencl.OpenCLBackend else "opencl:cpu"
    with pytest.raises(UsageError, match=r"^local_size 2048 needs 319492 bytes of local memory"):
        make(device=device, local_size=2048, layout="staged")
    with pytest.raises(UsageError, match=r"larger than the largest work-group of .* \(8192\)$"):
        make(device=device, local_size=8193, layout="direct")
    backend = make(device=device, local_size=1024, layout="staged")
    data = np.random.default_rng(6).bytes(200 * KIB + 3)
    try:
        for family in ("merkle-sha512", "lthash16-shake256"):
            got = gpuhash.hash_bytes(data, algorithm=family, leaf_size=KIB, backend=backend)
            assert got == ref.object_digest(family, data, KIB)
    finally:
        backend.close()


@pytest.mark.parametrize("layout", ["direct", "staged"])
def test_leaf_offsets_past_4_gib_in_one_launch(layout: str) -> None:
    """A window of 4 GiB and more in host memory, used in place: leaves just below, across
    and above 2^32 in one launch (the kernels take 64-bit offsets; only the pages of these
    leaves are ever touched)."""
    leaf = 64 * KIB
    base = (1 << 32) - 2 * leaf
    size = (1 << 32) + 4 * leaf
    host = mmap.mmap(-1, size)
    rng = np.random.default_rng(7)
    starts = [0, base, base + leaf + 1, (1 << 32) - 7, 1 << 32, (1 << 32) + leaf + 3]
    lengths = [leaf, leaf, leaf, leaf, leaf - 5, 1000]
    for at, n in zip(starts, lengths, strict=True):
        host[at : at + n] = rng.bytes(n)
    backend = gpuhash_opencl.OpenCLBackend(device="Intel", layout=layout)
    table = LeafTable(
        offset=array("Q", starts),
        length=array("Q", lengths),
        index=array("Q", range(5, 5 + len(starts))),
        root=array("B", bytes(len(starts))),
    )
    try:
        view = memoryview(host)
        for family in FAMILIES:
            got = backend.hash_leaves(Algorithm(family, leaf), view, table)
            d = len(got) // len(starts)
            for j, (at, n) in enumerate(zip(starts, lengths, strict=True)):
                leaf_bytes = host[at : at + n]
                if family == ref.LTHASH:
                    want = ref.lattice_bytes(ref.lattice_leaf_element(leaf_bytes, 5 + j))
                else:
                    want = ref.leaf_value(family, leaf_bytes, 5 + j, leaf, False)
                assert got[j * d : (j + 1) * d] == want, (family, hex(at))
        view.release()
    finally:
        backend.close()
        host.close()
