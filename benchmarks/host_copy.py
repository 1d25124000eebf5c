"""How fast host bytes reach page-locked staging memory (``gpuhash.hostcopy``), from one file in
the page cache, one thread against several:

* ``mmap + copy, 1 thread``: the old cuda path: each window mapped afresh and copied on one
  thread into a window-sized buffer;
* ``pread, N threads``: ``ParallelFill`` into a reused 64 MiB chunk, as the staging ring fills
  its chunks (``N`` from 1 to the CPUs here);
* ``staging ring to an OpenCL buffer``: ``stage_in`` through three ``ALLOC_HOST_PTR`` chunks into
  a device buffer on Intel's CPU OpenCL runtime, the path a discrete GPU takes (the device copy
  is a host memcpy here, on the same cores).

::

    python benchmarks/host_copy.py [--size-mib 1024] [--repeat 5] [--file PATH]

GB/s are 10^9 bytes per second, best of ``--repeat``. Results: docs/benchmarks.md,
"Host copies onto a device".
"""

from __future__ import annotations

import argparse
import mmap
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpuhash.backend import FileSpan
from gpuhash.hostcopy import CHUNK, RING, ParallelFill, copy_threads, stage_in


def data_file(path: Path, size: int) -> None:
    if not path.exists() or path.stat().st_size != size:
        rng = np.random.Generator(np.random.SFC64(3))
        with path.open("wb") as f:
            for at in range(0, size, 1 << 24):
                f.write(rng.bytes(min(1 << 24, size - at)))
    with path.open("rb") as f:  # into the page cache
        while f.read(1 << 24):
            pass


def best(repeat: int, run: Any) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--file", type=Path)
    p.add_argument("--window-mib", type=int, default=256, help="the old path's window")
    args = p.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory() as work:
        path = args.file or Path(work) / "copy.bin"
        data_file(path, size)
        size = path.stat().st_size
        fd = os.open(path, os.O_RDONLY)
        rows: list[tuple[str, float]] = []
        load = os.getloadavg()
        try:
            window = args.window_mib << 20
            target = np.empty(window, np.uint8)

            def old() -> None:
                for at in range(0, size, window):
                    n = min(window, size - at)
                    m = mmap.mmap(fd, n, prot=mmap.PROT_READ, offset=at)
                    target[:n] = np.frombuffer(m, np.uint8)
                    del m

            rows.append(("mmap + copy, 1 thread (the old cuda path)", best(args.repeat, old)))
            chunk = memoryview(mmap.mmap(-1, CHUNK))
            span = FileSpan(fd, 0, size, path.name)
            for threads in sorted({1, 2, copy_threads()}):
                fill = ParallelFill(threads)

                def read(fill: ParallelFill = fill) -> None:
                    for at in range(0, size, CHUNK):
                        fill.fill(chunk[: min(CHUNK, size - at)], span, at)

                rows.append(
                    (f"pread into a 64 MiB chunk, {threads} threads", best(args.repeat, read))
                )
                fill.close()
            rows.append(_opencl_ring(span, size, args.repeat))
        finally:
            os.close(fd)
    print(
        f"{size} bytes, {os.cpu_count()} CPUs, load average before {load}, after {os.getloadavg()}"
    )
    print("| copy | best s | GB/s |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | {size / seconds / 1e9:.2f} |")


def _opencl_ring(span: FileSpan, size: int, repeat: int) -> tuple[str, float]:
    from gpuhash.kernels import make_intel_runtime_visible

    make_intel_runtime_visible()
    import pyopencl as cl

    device = next(
        d for p in cl.get_platforms() if p.name.startswith("Intel") for d in p.get_devices()
    )
    ctx = cl.Context([device])
    q = cl.CommandQueue(ctx)
    mf = cl.mem_flags
    ring = []
    for _ in range(RING):
        buf = cl.Buffer(ctx, mf.READ_WRITE | mf.ALLOC_HOST_PTR, CHUNK)
        mapped, _ = cl.enqueue_map_buffer(
            q, buf, cl.map_flags.WRITE, 0, (CHUNK,), np.dtype(np.uint8)
        )
        ring.append((buf, mapped))
    views = [memoryview(m).cast("B") for _, m in ring]
    dst = cl.Buffer(ctx, mf.READ_WRITE, size)
    fill = ParallelFill()

    def run() -> None:
        def copy(at: int, chunk: memoryview) -> Any:
            return cl.enqueue_copy(q, dst, chunk, dst_offset=at, is_blocking=False)

        stage_in(span, size, views, fill, copy, lambda e: e.wait())
        q.finish()

    seconds = best(repeat, run)
    fill.close()
    return f"staging ring to an OpenCL buffer, {fill.threads} threads (Intel CPU runtime)", seconds


if __name__ == "__main__":
    main()
