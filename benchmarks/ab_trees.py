"""Two checkouts of gpuhash side by side on one machine: in-process ``hash_path`` throughput
with the ``cpu`` backend and the command line's start-up, runs alternating between the trees.

    python benchmarks/ab_trees.py BASE NEW [--size-mib 1024] [--rounds 2] [--startups 30]

BASE and NEW are checkouts (``git worktree add DIR COMMIT``); each is put first on the child
processes' ``PYTHONPATH``, so both use this interpreter's packages. Use it to show that a change
that should not alter speed (a restructure) does not: throughput is the best of 3 runs per round,
start-up is ``gpuhash digest --backend cpu`` of a small file, minimum and median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAMILIES = ("merkle-sha256", "merkle-sha512", "blake3")
HASH_CODE = r"""
import sys, time, gpuhash
path, family = sys.argv[1], sys.argv[2]
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    gpuhash.hash_path(path, algorithm=family, backend="cpu")
    best = min(best, time.perf_counter() - t)
print(best)
"""


def tree_env(tree: Path) -> dict[str, str]:
    """The environment that makes ``tree``'s packages (core, suite, backends) import first."""
    paths = [tree, tree / "conformance", *(tree / "backends" / b for b in ("opencl", "example"))]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--startups", type=int, default=30)
    args = p.parse_args()
    trees = {"base": args.base.resolve(), "new": args.new.resolve()}
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory() as work:
        data = Path(work) / "data.bin"
        with data.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        small = Path(work) / "small.bin"
        small.write_bytes(b"gpuhash")
        hashed: dict[tuple[str, str], list[float]] = {}
        starts: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                for family in FAMILIES:
                    out = subprocess.run(
                        [sys.executable, "-c", HASH_CODE, str(data), family],
                        env=tree_env(tree),
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    hashed.setdefault((family, name), []).append(float(out))
        command = [sys.executable, "-m", "gpuhash", "digest", "--backend", "cpu", str(small)]
        for _ in range(args.startups):
            for name, tree in trees.items():
                t = time.perf_counter()
                subprocess.run(command, env=tree_env(tree), capture_output=True, check=True)
                starts[name].append(time.perf_counter() - t)
    print(f"| measurement | {' | '.join(trees)} |")
    print(f"|---|{'---|' * len(trees)}")
    for family in FAMILIES:
        cells = [f"{size / min(hashed[(family, n)]) / 1e9:.2f} GB/s" for n in trees]
        print(f"| hash_path {args.size_mib} MiB, {family} | {' | '.join(cells)} |")
    cells = [
        f"{min(starts[n]) * 1e3:.0f} ms (median {statistics.median(starts[n]) * 1e3:.0f})"
        for n in trees
    ]
    print(f"| `gpuhash digest` start-up, min of {args.startups} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
