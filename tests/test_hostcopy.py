"""Host copies onto a device (``gpuhash.hostcopy``): several threads fill a buffer with exactly
the bytes one thread would, from a buffer or a file span; a file cut short is an
``InputError`` naming it; the staging ring hands each chunk to the device copy once, in order,
and refills a chunk only after its copy was waited for. The device side of the ring runs on
Intel's CPU OpenCL runtime in tests/test_opencl_backend.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gpuhash.backend import FileSpan
from gpuhash.errors import InputError
from gpuhash.hostcopy import (
    CHUNK,
    MIN_PIECE,
    RING,
    ParallelFill,
    Staging,
    copy_threads,
    stage_in,
)

AT = 12345  # the span's start in its file: not on a page
SIZE = 3 * MIN_PIECE + 4097  # four pieces, the last one short
CHANGED = r"^w\.bin: file changed while it was being hashed$"


@pytest.fixture
def file(tmp_path: Path) -> Iterator[tuple[int, bytes, Path]]:
    data = np.random.default_rng(9).bytes(AT + SIZE + 100)
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    yield fd, data, path
    os.close(fd)


@pytest.mark.parametrize("threads", [1, 2, 4, 7])
def test_threads_fill_the_bytes_one_thread_does(
    file: tuple[int, bytes, Path], threads: int
) -> None:
    fd, data, _ = file
    fill = ParallelFill(threads)
    try:
        span = FileSpan(fd, AT, SIZE, "w.bin")
        for at, n in [(0, SIZE), (1, SIZE - 1), (MIN_PIECE - 3, 2 * MIN_PIECE + 5), (7, 100)]:
            out = memoryview(bytearray(n))
            fill.fill(out, span, at)
            assert bytes(out) == data[AT + at : AT + at + n]
            again = memoryview(bytearray(n))
            fill.fill(again, memoryview(data)[AT:], at)  # from a buffer
            assert bytes(again) == bytes(out)
        fill.fill(memoryview(bytearray(0)), span, SIZE)  # nothing to read
    finally:
        fill.close()


@pytest.mark.parametrize("threads", [1, 4])
def test_a_file_cut_short_is_an_input_error_naming_it(
    file: tuple[int, bytes, Path], threads: int
) -> None:
    """Cut inside the second piece: the piece across the cut and those after it come up
    short; the error is the file's, once every thread is done."""
    fd, data, path = file
    os.truncate(path, AT + MIN_PIECE + 10)
    fill = ParallelFill(threads)
    try:
        out = memoryview(bytearray(SIZE))
        with pytest.raises(InputError, match=CHANGED):
            fill.fill(out, FileSpan(fd, AT, SIZE, "w.bin"))
        assert bytes(out[:MIN_PIECE]) == data[AT : AT + MIN_PIECE]  # the first piece read
    finally:
        fill.close()


def test_copy_threads_are_the_cpus_at_most_eight() -> None:
    assert 1 <= copy_threads() <= 8
    assert copy_threads() <= (os.cpu_count() or 1)


def test_the_ring_stages_every_chunk_once_and_waits_before_refilling(
    file: tuple[int, bytes, Path],
) -> None:
    """Chunks of a 3-chunk ring for a window of 7 chunks and a bit: each chunk is copied
    out (here, to a bytearray standing for device memory) with its bytes at its offset, and
    a chunk is waited for before it is filled again."""
    fd, data, _ = file
    ring = [memoryview(bytearray(MIN_PIECE // 2)) for _ in range(3)]
    device = bytearray(SIZE)
    events: list[tuple[str, int]] = []

    def copy(at: int, chunk: memoryview) -> int:
        device[at : at + len(chunk)] = chunk
        events.append(("copy", at))
        return at

    def wait(event: int) -> None:
        events.append(("wait", event))

    fill = ParallelFill(2)
    try:
        stage_in(FileSpan(fd, AT, SIZE, "w.bin"), SIZE, ring, fill, copy, wait)
    finally:
        fill.close()
    assert bytes(device) == data[AT : AT + SIZE]
    step = MIN_PIECE // 2
    starts = list(range(0, SIZE, step))
    assert [at for kind, at in events if kind == "copy"] == starts
    for k, at in enumerate(starts[3:], start=3):  # chunk k reuses chunk k - 3's memory
        assert events.index(("wait", starts[k - 3])) < events.index(("copy", at))


def test_a_slots_staging_buffers_are_made_once() -> None:
    asked: list[int] = []

    def pinned(n: int) -> tuple[None, memoryview]:
        asked.append(n)
        return None, memoryview(bytearray(8))

    staging = Staging(pinned)
    assert len(staging.ring()) == RING
    assert len(staging.ring()) == RING
    assert asked == [CHUNK] * RING
    assert staging.host(10).nbytes == 10
    assert staging.host(1 << 20).nbytes == 1 << 20
    staging.clear()
    staging.ring()
    assert len(asked) == 2 * RING
