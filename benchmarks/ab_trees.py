"""Two checkouts of gpuhash side by side on one machine: in-process ``hash_path`` throughput
with one backend and the command line's start-up, runs alternating between the trees.

    python benchmarks/ab_trees.py BASE NEW [--size-mib 1024] [--rounds 2] [--startups 30]
    python benchmarks/ab_trees.py BASE NEW --backend opencl --device Intel --startups 0 \
        --families merkle-sha256,blake3 --rounds 5 --data FILE

BASE and NEW are checkouts (``git worktree add DIR COMMIT``, or ``git archive COMMIT`` unpacked);
each is put first on the child processes' ``PYTHONPATH``, so both use this interpreter's
packages. Use it to show that a change that should not alter speed (a restructure) does not.
Each round runs every tree once per family, in a child that creates the backend once, hashes
once untimed (kernel builds, caches) and then ``--repeat`` times; the report gives the best and
median wall time over all rounds and the median CPU time (user + system) of one run, because on
a shared machine the wall time moves with the other jobs' load. Start-up is ``gpuhash digest
--backend cpu`` of a small file, minimum and median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAMILIES = ("merkle-sha256", "merkle-sha512", "blake3")
HASH_CODE = r"""
import json, os, sys, time, gpuhash
from gpuhash.registry import get_backend
path, family, backend, device, mmap, repeat = sys.argv[1:7]
options = {"device": device} if device else {}
b = get_backend(backend, **options)
gpuhash.hash_path(path, algorithm=family, backend=b, use_mmap=mmap == "1")
runs = []
for _ in range(int(repeat)):
    t, c = time.perf_counter(), os.times()
    gpuhash.hash_path(path, algorithm=family, backend=b, use_mmap=mmap == "1")
    t2, c2 = time.perf_counter(), os.times()
    runs.append((t2 - t, c2.user - c.user + c2.system - c.system))
b.close()
print(json.dumps(runs))
"""


def tree_env(tree: Path) -> dict[str, str]:
    """The environment that makes ``tree``'s packages (core, suite, backends) import first."""
    backends = ("opencl", "intel", "cuda", "example")
    paths = [tree, tree / "conformance", *(tree / "backends" / b for b in backends)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def write_data(path: Path, size_mib: int) -> None:
    with path.open("wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--data", type=Path, help="hash this file (kept) instead of a new one")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per child")
    p.add_argument("--startups", type=int, default=30)
    p.add_argument("--backend", default="cpu")
    p.add_argument("--device", default="", help="the backend's device option")
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--mmap", action="store_true", help="use_mmap=True (default: pread)")
    p.add_argument("--json", type=Path, help="write every run's (wall, CPU) seconds here")
    args = p.parse_args()
    trees = {"base": args.base.resolve(), "new": args.new.resolve()}
    families = args.families.split(",")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as work:
        data = args.data
        if data is None:
            data = Path(work) / "data.bin"
            write_data(data, args.size_mib)
        size = data.stat().st_size
        with data.open("rb") as f:  # into the page cache
            while f.read(1 << 24):
                pass
        small = Path(work) / "small.bin"
        small.write_bytes(b"gpuhash")
        hashed: dict[tuple[str, str], list[list[float]]] = {}
        starts: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for family in families:
                for name, tree in trees.items():
                    argv = [str(data), family, args.backend, args.device, str(int(args.mmap))]
                    out = subprocess.run(
                        [sys.executable, "-c", HASH_CODE, *argv, str(args.repeat)],
                        env=tree_env(tree),
                        cwd=work,  # not this checkout: ``-c`` puts the directory first
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    hashed.setdefault((family, name), []).extend(json.loads(out))
        command = [sys.executable, "-m", "gpuhash", "digest", "--backend", "cpu", str(small)]
        for _ in range(args.startups):
            for name, tree in trees.items():
                t = time.perf_counter()
                subprocess.run(
                    command, env=tree_env(tree), cwd=work, capture_output=True, check=True
                )
                starts[name].append(time.perf_counter() - t)
    load_after = os.getloadavg()
    how = f"{args.backend}{' ' + args.device if args.device else ''}"
    how += ", mmap" if args.mmap else ", pread"
    print(f"load average before {load_before}, after {load_after}")
    print(f"| measurement ({how}) | {' | '.join(trees)} |")
    print(f"|---|{'---|' * len(trees)}")
    for family in families:
        cells = []
        for n in trees:
            walls = [w for w, _ in hashed[(family, n)]]
            cpus = [c for _, c in hashed[(family, n)]]
            best, median = size / min(walls) / 1e9, size / statistics.median(walls) / 1e9
            cells.append(
                f"{best:.2f} GB/s best, {median:.2f} median ({len(walls)} runs), "
                f"CPU {statistics.median(cpus):.3f} s"
            )
        print(f"| hash_path {size / 2**20:.0f} MiB, {family} | {' | '.join(cells)} |")
    if args.startups:
        cells = [
            f"{min(starts[n]) * 1e3:.0f} ms (median {statistics.median(starts[n]) * 1e3:.0f})"
            for n in trees
        ]
        print(f"| `gpuhash digest` start-up, min of {args.startups} | {' | '.join(cells)} |")
    if args.json is not None:
        runs = {f"{f}/{n}": r for (f, n), r in hashed.items()}
        args.json.write_text(json.dumps({"load": [load_before, load_after], "runs": runs}))


if __name__ == "__main__":
    main()
