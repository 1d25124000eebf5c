"""The ``cpu`` backend: the fast host path.

* ``merkle-*`` and the lattice hash: one OpenSSL call per leaf (hashlib; SHA-NI where the CPU has
  it), leaves spread over a thread pool with one thread per core. hashlib releases the GIL while
  it hashes a buffer of 2 KiB or more, so the threads run in parallel; the engine hands over
  memory-mapped file windows, so leaves are hashed where they lie in the page cache.
* ``blake3``: the ``blake3`` package (Rust, SIMD, multi-threaded) hashes whole objects natively
  (``object_hasher``). It exposes no chaining values, so leaf and node values (for proofs)
  come from ``gpuhash.blake3_cvs``: the C extension (SIMD lanes, 2.5 GB/s or more per core with
  AVX-512; it releases the GIL) where it is built, else numpy (about 0.2 GB/s with both cores
  here); rows split over the thread pool.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import platform
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from gpuhash import blake3_cvs
from gpuhash import reference as ref
from gpuhash._typing import Buffer
from gpuhash.algorithms import BLAKE3, FAMILIES, LTHASH, PLAIN_DIGESTS, Algorithm
from gpuhash.backend import Capabilities, HashBackend, LeafTable, ObjectHasher
from gpuhash.errors import UsageError

# Below this many bytes in one call, threads cost more than they save.
_PARALLEL_MIN_BYTES = 1 << 20


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
        view = memoryview(data).cast("B")
        if algorithm.family == BLAKE3:
            return self._blake3_leaves(algorithm, view, table)
        d = algorithm.digest_size
        n = len(table)
        out = bytearray(n * d)
        offsets = table.offset.tolist()
        lengths = table.length.tolist()
        indices = table.index.tolist()
        family = algorithm.family

        def run(lo: int, hi: int) -> None:
            if family == LTHASH:
                for j in range(lo, hi):
                    o = offsets[j]
                    h = hashlib.shake_256(view[o : o + lengths[j]])
                    h.update(indices[j].to_bytes(8, "little") + ref.ROLE_LATTICE_LEAF)
                    out[j * d : (j + 1) * d] = h.digest(d)
            else:
                ctor = algorithm.info.hashlib_constructor
                for j in range(lo, hi):
                    o = offsets[j]
                    h = ctor(view[o : o + lengths[j]])
                    h.update(b"\x00")
                    out[j * d : (j + 1) * d] = h.digest()

        self._parallel(run, n, sum(lengths))
        return bytes(out)

    def _blake3_leaves(self, algorithm: Algorithm, view: memoryview, table: LeafTable) -> bytes:
        """BLAKE3 leaf values, rows vectorised: the table's columns go to ``leaf_cvs`` as uint64
        arrays (no Python object per row)."""
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

        def run(lo: int, hi: int) -> None:
            out[lo * 32 : hi * 32] = leaf_cvs(
                view, offsets[lo:hi], lengths[lo:hi], first_chunks[lo:hi], roots[lo:hi]
            )

        # With numpy, one large piece per thread, not many small ones (each call costs
        # thousands of array operations, whatever its size); natively, four pieces per thread,
        # so that a thread slowed by others' work does not hold up the end of the call.
        pieces = self.threads * (4 if self.blake3.name == "native" else 1)
        self._parallel(run, n, int(lengths.sum()), -(-n // pieces))
        return bytes(out)

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
        vectorised work, where a piece must be large to be efficient)."""
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

        def worker() -> None:
            for lo in counter:
                if lo >= n:
                    return
                run(lo, min(lo + piece, n))

        futures = [self._pool.submit(worker) for _ in range(min(self.workers, n))]
        for f in futures:
            f.result()
