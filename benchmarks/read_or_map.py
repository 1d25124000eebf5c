"""Reading files with pread against memory-mapping them (``use_mmap``), on the ``cpu`` backend.

One file (default 1 GiB, pseudo-random, kept in ``--workdir``) hashed in this process from the
page cache with ``use_mmap=True`` and ``use_mmap=False``, the two alternating, each ``--repeat``
times: the best and median wall time and the CPU time (user + system) of each, per family::

    python benchmarks/read_or_map.py [--size-mib 1024] [--repeat 7] [--workdir DIR]

Results and how they were read: ``docs/benchmarks.md``, "Reading or mapping".
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import gpuhash
from gpuhash.backends.cpu import CpuBackend

FAMILIES = ("merkle-sha256", "blake3")


def data_file(workdir: Path, size: int) -> Path:
    """A file of ``size`` pseudo-random bytes (numpy SFC64, seed 12), written once, read once."""
    path = workdir / f"read-or-map-{size}.bin"
    if not path.exists() or path.stat().st_size != size:
        rng = np.random.Generator(np.random.SFC64(12))
        with open(path, "wb") as f:
            for at in range(0, size, 1 << 24):
                f.write(rng.bytes(min(1 << 24, size - at)))
    with open(path, "rb") as f:  # into the page cache
        while f.read(1 << 24):
            pass
    return path


def measure(path: Path, family: str, repeat: int) -> dict[bool, list[tuple[float, float]]]:
    """(wall, CPU) seconds of each run, by ``use_mmap``."""
    backend = CpuBackend()
    gpuhash.hash_path(path, algorithm=family, backend=backend)  # warm-up, untimed
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(repeat):
        for use_mmap in (True, False):
            t0, c0 = time.perf_counter(), os.times()
            gpuhash.hash_path(path, algorithm=family, backend=backend, use_mmap=use_mmap)
            t1, c1 = time.perf_counter(), os.times()
            runs[use_mmap].append((t1 - t0, c1.user - c0.user + c1.system - c0.system))
    backend.close()
    return runs


def main() -> None:
    """Measure and print one line per family and way of reading."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--workdir", type=Path)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        path = data_file(workdir, args.size_mib << 20)
        print(f"{args.size_mib} MiB, {os.cpu_count()} CPUs, load {os.getloadavg()}")
        for family in FAMILIES:
            runs = measure(path, family, args.repeat)
            for use_mmap in (True, False):
                wall = [w for w, _ in runs[use_mmap]]
                cpu = [c for _, c in runs[use_mmap]]
                print(
                    f"{family:14} {'mmap ' if use_mmap else 'pread'} wall best {min(wall):.3f} s "
                    f"({path.stat().st_size / min(wall) / 1e9:.2f} GB/s), median "
                    f"{statistics.median(wall):.3f} s; CPU median {statistics.median(cpu):.2f} s"
                )
        print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
