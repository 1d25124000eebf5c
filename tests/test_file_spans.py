"""File spans (``Capabilities.file_spans``): the ``cpu`` backend reads windows of files itself,
piece by piece on its hashing threads, and must hash a ``FileSpan`` exactly as it hashes the
same bytes in a buffer; a file cut short under the read is an ``InputError`` naming it."""

from __future__ import annotations

import dataclasses
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gpuhash
from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, FAMILIES, Algorithm
from gpuhash.backend import Capabilities, FileSpan, LeafTable
from gpuhash.backends.cpu import CpuBackend
from gpuhash.batches import SpanPieces
from gpuhash.errors import InputError

#: Where the span starts in its file: not on a page, a leaf or a piece boundary.
AT = 12345
CHANGED = r"^w\.bin: file changed while it was being hashed$"


def table(length: int, leaf: int, first_index: int = 0) -> LeafTable:
    """The leaves of ``length`` bytes as the engine lays out a window: one after another."""
    n = ref.leaf_count(length, leaf)
    return LeafTable(
        offset=array("Q", range(0, n * leaf, leaf)),
        length=array("Q", [leaf] * (n - 1) + [length - (n - 1) * leaf]),
        index=array("Q", range(first_index, first_index + n)),
        root=array("B", [int(n == 1)] * n),
    )


def as_data(span: FileSpan) -> Any:
    """``span`` as a call's ``data``: the contract types it as a buffer (so that backends keep
    their signatures); a FileSpan goes only to backends that declare ``file_spans``."""
    return span


@pytest.fixture(params=[2, 1], ids=["threads", "one-thread"])
def backend(request: pytest.FixtureRequest) -> Iterator[CpuBackend]:
    b = CpuBackend(threads=request.param)
    yield b
    b.close()


@pytest.fixture
def file(tmp_path: Path) -> Iterator[tuple[int, bytes, Path]]:
    """An open file of pseudo-random bytes, its bytes and its path."""
    data = np.random.default_rng(5).bytes(AT + (5 << 20) + 777)
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    yield fd, data, path
    os.close(fd)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("leaf", "length"),
    [
        (1024, (1 << 20) + 1),  # many leaves per piece, a last leaf of one byte
        (4096, 3 * (1 << 20) - 5),  # a last piece and a last leaf that are not whole
        (65536, 1 << 20),  # whole leaves, whole pieces
        (1 << 20, 2 * (1 << 20) + 4097),  # leaves larger than a piece
    ],
)
def test_a_span_hashes_as_its_bytes_in_a_buffer(
    backend: CpuBackend, file: tuple[int, bytes, Path], family: str, leaf: int, length: int
) -> None:
    fd, data, _ = file
    alg = Algorithm(family, leaf)
    window = data[AT : AT + length]
    rows = table(length, leaf, first_index=7)
    span = as_data(FileSpan(fd, AT, length, "w.bin"))
    assert backend.hash_leaves(alg, span, rows) == backend.hash_leaves(alg, window, rows)
    n = len(rows)
    whole = table(length, leaf)  # the window as a whole object: the ROOT flag on its top
    got = backend.hash_subtrees(alg, span, whole, [n], [True])
    assert got == backend.hash_subtrees(alg, window, whole, [n], [True])
    if family != "lthash16-shake256":
        want = ref.leaf_value(family, window[-(length - (n - 1) * leaf) :], n - 1 + 7, leaf, False)
        assert backend.hash_leaves(alg, span, rows)[-alg.digest_size :] == want


@pytest.mark.parametrize("family", ["merkle-sha256", BLAKE3, "lthash16-shake256"])
def test_rows_in_any_order_and_at_gaps(
    backend: CpuBackend, file: tuple[int, bytes, Path], family: str
) -> None:
    """The contract's table, not only the engine's: rows out of order, repeated, and leaves
    with gaps between them are read from where each row says."""
    fd, data, _ = file
    leaf = 4096
    alg = Algorithm(family, leaf)
    length = 2 << 20
    starts = [5 * leaf, 0, 3 * leaf + 100, 3 * leaf + 100, length - leaf, 9 * leaf + 1]
    sizes = [leaf, leaf, leaf, 17, leaf, leaf - 1]
    rows = LeafTable(
        offset=array("Q", starts * 40),
        length=array("Q", sizes * 40),
        index=array("Q", range(240)),
        root=array("B", bytes(240)),
    )
    span = as_data(FileSpan(fd, AT, length, "w.bin"))
    want = backend.hash_leaves(alg, data[AT : AT + length], rows)
    assert backend.hash_leaves(alg, span, rows) == want


def test_a_span_is_read_only_within_itself(file: tuple[int, bytes, Path]) -> None:
    fd, data, _ = file
    span = FileSpan(fd, AT, 4096, "w.bin")
    out = memoryview(bytearray(4096))
    span.readinto(out[:100], 3996)
    assert bytes(out[:100]) == data[AT + 3996 : AT + 4096]
    with pytest.raises(ValueError, match="outside a span"):
        span.readinto(out[:101], 3996)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_file_cut_short_under_the_read_is_an_input_error(
    backend: CpuBackend, file: tuple[int, bytes, Path], family: str
) -> None:
    """Truncated after the engine opened and checked it, in the middle of the span: the
    pieces before the cut read, the one across it comes up short; never a digest."""
    fd, _, path = file
    length = 4 << 20
    os.truncate(path, AT + (3 << 20) + 5)
    rows = table(length, 4096)
    span = as_data(FileSpan(fd, AT, length, "w.bin"))
    with pytest.raises(InputError, match=CHANGED):
        backend.hash_leaves(Algorithm(family, 4096), span, rows)


@pytest.mark.parametrize("threads", [None, 1])
def test_native_pieces_cut_short_are_an_input_error(
    file: tuple[int, bytes, Path], threads: int | None
) -> None:
    """The engine's reading for a native whole-object hasher (``SpanPieces``), with and
    without reading ahead on a thread: the right bytes, then an error where the file ends."""
    from concurrent.futures import ThreadPoolExecutor

    fd, data, path = file
    pool = ThreadPoolExecutor(1) if threads is None else None
    try:
        pieces = SpanPieces(pool, piece=1 << 20)
        span = FileSpan(fd, AT, (4 << 20) + 3, "w.bin")
        got = b"".join(bytes(p) for p in pieces.pieces(span))
        assert got == data[AT : AT + span.length]
        os.truncate(path, AT + (2 << 20) + 5)
        with pytest.raises(InputError, match=CHANGED):
            for _ in pieces.pieces(span):
                pass
    finally:
        if pool is not None:
            pool.shutdown()


class Cuts(CpuBackend):
    """The cpu backend, which cuts its watched file to ``keep`` bytes when first handed its
    bytes to hash (as a span's leaves or a native hasher's first piece)."""

    def __init__(self, path: Path, keep: int, native: bool) -> None:
        super().__init__()
        self.path, self.keep, self.native, self.done = path, keep, native, False

    def capabilities(self) -> Capabilities:
        caps = super().capabilities()
        return caps if self.native else dataclasses.replace(caps, native_objects=frozenset())

    def cut(self) -> None:
        if not self.done:
            self.done = True
            os.truncate(self.path, self.keep)

    def hash_leaves(self, algorithm: Algorithm, data: Any, table: LeafTable) -> bytes:
        assert isinstance(data, FileSpan)  # read, not mapped: handed over as a span
        self.cut()
        return super().hash_leaves(algorithm, as_data(data), table)

    def object_hasher(self, algorithm: Algorithm, size: int) -> Any:
        inner = super().object_hasher(algorithm, size)
        backend = self

        class Cutting:
            def update(self, data: Any) -> None:
                backend.cut()
                assert inner is not None
                inner.update(data)

            def digest(self) -> bytes:
                assert inner is not None
                return bytes(inner.digest())

        return Cutting()


@pytest.mark.parametrize(
    ("family", "native"), [("merkle-sha256", False), (BLAKE3, False), (BLAKE3, True)]
)
def test_the_engine_reports_a_file_cut_during_its_span_read(
    tmp_path: Path, family: str, native: bool
) -> None:
    """Through ``hash_path`` (reading is the default): one window of 12 MiB, cut to 5 MiB
    while the backend reads it."""
    path = tmp_path / "w.bin"
    path.write_bytes(np.random.default_rng(6).bytes(12 << 20))
    backend = Cuts(path, 5 << 20, native)
    with pytest.raises(InputError, match=CHANGED):
        gpuhash.hash_path(path, algorithm=family, backend=backend)
    assert backend.done
