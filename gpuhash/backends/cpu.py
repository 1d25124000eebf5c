"""The ``cpu`` backend: the fast host path.

* ``merkle-*`` and the lattice hash: one OpenSSL call per leaf (hashlib; SHA-NI where the CPU has
  it), leaves spread over a thread pool with one thread per core. hashlib releases the GIL while
  it hashes a buffer of 2 KiB or more, so the threads run in parallel. Windows of files come
  as ``FileSpan``s (``file_spans``, when the engine reads files rather than maps them): each
  thread reads its piece of a window, about ``SPAN_PIECE`` bytes of consecutive leaves, into a
  buffer of its own that stays in its cache, and hashes it at once, so the copy out of the page
  cache is spread over the threads and the bytes cross memory once, as from a mapping;
  mapped windows (``use_mmap``) are hashed where they lie in the page cache.
* ``blake3``: the ``blake3`` package (Rust, SIMD, multi-threaded) hashes whole objects natively
  (``object_hasher``). It exposes no chaining values, so leaf and node values (for proofs)
  come from ``gpuhash.blake3_cvs``: the C extension (SIMD lanes, 2.5 GB/s or more per core with
  AVX-512; it releases the GIL) where it is built, else numpy (about 0.2 GB/s with both cores
  here); rows split over the thread pool, file spans read piece by piece as above.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import platform
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import ClassVar

from gpuhash import blake3_cvs
from gpuhash import reference as ref
from gpuhash._typing import Buffer
from gpuhash.algorithms import BLAKE3, FAMILIES, LTHASH, PLAIN_DIGESTS, Algorithm
from gpuhash.backend import Capabilities, FileSpan, HashBackend, LeafTable, ObjectHasher
from gpuhash.errors import UsageError

# Below this many bytes in one call, threads cost more than they save.
_PARALLEL_MIN_BYTES = 1 << 20

#: Bytes of a file span a thread reads and hashes at a time (more for a larger leaf): small
#: enough to stay in the core's cache between the read and the hash.
SPAN_PIECE = 256 << 10
#: The same for BLAKE3 leaf values (a ``leaf_cvs`` call costs more than a hashlib call).
SPAN_PIECE_BLAKE3 = 1 << 20


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class CpuBackend(HashBackend):
    name: ClassVar[str] = "cpu"

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None and threads < 1:
            raise UsageError(f"threads must be at least 1, not {threads}")
        self.threads = threads or os.cpu_count() or 1
        # One worker more than threads: while one waits for the GIL between two leaves, another
        # can be hashing, so no core idles on the GIL.
        self.workers = self.threads + 1 if self.threads > 1 else 1
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()  # each thread's buffer for pieces of file spans
        self.blake3 = blake3_cvs.implementation()

    def capabilities(self) -> Capabilities:
        return Capabilities(
            families=frozenset(FAMILIES),
            devices=(
                f"host: {_cpu_name()}, {self.threads} threads, "
                f"BLAKE3 chaining values: {self.blake3.detail}",
            ),
            batch_bytes=64 << 20,
            priority=10,
            native_objects=frozenset({BLAKE3}),
            concurrent=True,
            file_spans=True,
        )

    def digest_messages(self, primitive: str, messages: Sequence[bytes]) -> list[bytes]:
        """Plain digests with hashlib (``sha256``, ``sha512``, ``sha3_256``: those of
        ``PLAIN_DIGESTS``), for the conformance suite's NIST checks."""
        if primitive not in PLAIN_DIGESTS:
            raise UsageError(f"no plain digest {primitive!r}")
        return [hashlib.new(primitive, m).digest() for m in messages]

    def object_hasher(self, algorithm: Algorithm, size: int) -> ObjectHasher | None:
        if algorithm.family != BLAKE3:
            return None
        import blake3

        threads = blake3.blake3.AUTO if self.threads > 1 else 1
        hasher: ObjectHasher = blake3.blake3(max_threads=threads)
        return hasher

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # -- leaves --------------------------------------------------------------------------------

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        """Leaf values (``HashBackend.hash_leaves``); ``data`` may be a ``FileSpan`` (typed as
        the contract types it, a buffer, so that subclasses keep their signatures)."""
        span, view = (data, None) if isinstance(data, FileSpan) else (None, memoryview(data))
        if view is not None:
            view = view.cast("B")
        if algorithm.family == BLAKE3:
            return self._blake3_leaves(algorithm, view, span, table)
        d = algorithm.digest_size
        n = len(table)
        out = bytearray(n * d)
        offsets = table.offset.tolist()
        lengths = table.length.tolist()
        indices = table.index.tolist()
        family = algorithm.family
        ctor = None if family == LTHASH else algorithm.info.hashlib_constructor

        def hash_rows(lo: int, hi: int) -> None:
            if view is not None:
                buf, at = view, offsets[lo:hi]
            else:
                assert span is not None
                buf, at = self._gather(span, offsets[lo:hi], lengths[lo:hi])
            for k, j in enumerate(range(lo, hi)):
                leaf = buf[at[k] : at[k] + lengths[j]]
                if ctor is None:
                    h = hashlib.shake_256(leaf)
                    h.update(indices[j].to_bytes(8, "little") + ref.ROLE_LATTICE_LEAF)
                    out[j * d : (j + 1) * d] = h.digest(d)
                else:
                    h = ctor(leaf)
                    h.update(b"\x00")
                    out[j * d : (j + 1) * d] = h.digest()

        if span is None:
            self._parallel(hash_rows, n, sum(lengths))
        else:
            per = self._span_rows(lengths, SPAN_PIECE)
            self._parallel(_in_pieces(hash_rows, per), n, sum(lengths), per)
        return bytes(out)

    def _blake3_leaves(
        self,
        algorithm: Algorithm,
        view: memoryview | None,
        span: FileSpan | None,
        table: LeafTable,
    ) -> bytes:
        """BLAKE3 leaf values, rows vectorised: the table's columns go to ``leaf_cvs`` as uint64
        arrays (no Python object per row); a span's rows are read piece by piece and their
        offsets rebased onto the piece."""
        import numpy as np  # numpy: imported when first needed

        n = len(table)
        out = bytearray(n * ref.BLAKE3_OUT_LEN)
        offsets = np.asarray(table.offset, dtype=np.uint64)
        lengths = np.asarray(table.length, dtype=np.uint64)
        # Each leaf's first chunk counter: index * L / 1024 (spec section 4).
        per_leaf = np.uint64(algorithm.leaf_size // ref.BLAKE3_CHUNK_LEN)
        first_chunks = np.asarray(table.index, dtype=np.uint64) * per_leaf
        roots = np.asarray(table.root, dtype=np.uint8)
        leaf_cvs = self.blake3.leaf_cvs
        native = self.blake3.name == "native"
        starts = table.offset.tolist() if span is not None else []
        sizes = table.length.tolist() if span is not None else []

        def run(lo: int, hi: int) -> None:
            if view is not None:
                buf, at = view, offsets[lo:hi]
            else:
                assert span is not None
                buf, packed = self._gather(span, starts[lo:hi], sizes[lo:hi])
                at = np.asarray(packed, dtype=np.uint64)
            out[lo * 32 : hi * 32] = leaf_cvs(
                buf, at, lengths[lo:hi], first_chunks[lo:hi], roots[lo:hi]
            )

        # With numpy, one large piece per thread, not many small ones (each call costs
        # thousands of array operations, whatever its size); natively, four pieces per thread,
        # so that a thread slowed by others' work does not hold up the end of the call, and
        # pieces of a span about SPAN_PIECE_BLAKE3 bytes, read where they are hashed.
        nbytes = int(lengths.sum())
        rows = -(-n // (self.threads * (4 if native else 1)))
        if span is not None and native:
            rows = self._span_rows(sizes, SPAN_PIECE_BLAKE3)
            self._parallel(_in_pieces(run, rows), n, nbytes, rows)
        else:
            self._parallel(run, n, nbytes, rows)
        return bytes(out)

    # -- file spans ------------------------------------------------------------------------------

    @staticmethod
    def _span_rows(lengths: Sequence[int], piece: int) -> int:
        """Rows of a span read and hashed at a time: about ``piece`` bytes, at least one row."""
        return max(1, piece // max(1, max(lengths, default=1)))

    def _gather(
        self, span: FileSpan, offsets: Sequence[int], lengths: Sequence[int]
    ) -> tuple[memoryview, list[int]]:
        """The rows' bytes read from ``span`` into this thread's buffer, one after another (one
        read for each run of rows that follow one another in the span, the usual table: one
        read), and each row's offset in the buffer."""
        buf = self._buffer(sum(lengths))
        packed: list[int] = []
        pos = i = 0
        n = len(offsets)
        while i < n:
            start = end = offsets[i]
            k = i
            while k < n and offsets[k] == end:
                end += lengths[k]
                k += 1
            span.readinto(buf[pos : pos + end - start], start)
            packed.extend(pos + offsets[j] - start for j in range(i, k))
            pos += end - start
            i = k
        return buf, packed

    def _buffer(self, size: int) -> memoryview:
        """This thread's buffer for span pieces, of ``size`` bytes or more, reused from call to
        call (a fresh one would cost a page fault per page)."""
        buf: memoryview | None = getattr(self._local, "buffer", None)
        if buf is None or len(buf) < size:
            buf = self._local.buffer = memoryview(bytearray(max(size, SPAN_PIECE)))
        return buf

    # -- nodes ---------------------------------------------------------------------------------

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        d = algorithm.digest_size
        m = len(roots)
        family = algorithm.family
        if family == LTHASH:
            import numpy as np

            lanes = np.frombuffer(children, dtype="<u2").reshape(m, 2, ref.LATTICE_LANES)
            return bytes((lanes[:, 0] + lanes[:, 1]).astype("<u2").tobytes())
        if family == BLAKE3:
            return self.blake3.parent_cvs(children, roots)
        ctor = algorithm.info.hashlib_constructor
        view = memoryview(children)
        out = bytearray(m * d)
        for i in range(m):
            h = ctor(view[2 * i * d : 2 * (i + 1) * d])
            h.update(b"\x01")
            out[i * d : (i + 1) * d] = h.digest()
        return bytes(out)

    # -- threads -------------------------------------------------------------------------------

    def _parallel(
        self, run: Callable[[int, int], None], n: int, nbytes: int, rows: int | None = None
    ) -> None:
        """Run ``run(lo, hi)`` over ``0..n`` on the pool. Work is handed out in small pieces
        from a shared counter, so a thread delayed by the GIL does not leave the others idle
        at the end of the call; ``rows`` asks for pieces of about that many rows instead (for
        vectorised work, where a piece must be large to be efficient). A piece that fails
        stops the others from starting new ones, and the call returns (or raises the error)
        only once no thread runs a piece any more: none still reads a file span the caller is
        about to close."""
        if self.threads == 1 or n < 2 or nbytes < _PARALLEL_MIN_BYTES:
            run(0, n)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="gpuhash-cpu")
        if rows is not None:
            piece = max(1, min(rows, -(-n // self.threads)))
        else:
            piece = max(1, min(16, n // (4 * self.workers)))
        counter = itertools.count(0, piece)  # next() is atomic under the GIL
        failed = threading.Event()

        def worker() -> None:
            try:
                for lo in counter:
                    if lo >= n or failed.is_set():
                        return
                    run(lo, min(lo + piece, n))
            except BaseException:
                failed.set()
                raise

        futures = [self._pool.submit(worker) for _ in range(min(self.workers, n))]
        wait(futures)
        for f in futures:
            f.result()


def _in_pieces(run: Callable[[int, int], None], rows: int) -> Callable[[int, int], None]:
    """``run`` over ``lo..hi`` in pieces of ``rows`` rows (for a call run on one thread)."""

    def pieces(lo: int, hi: int) -> None:
        for at in range(lo, hi, rows):
            run(at, min(at + rows, hi))

    return pieces
