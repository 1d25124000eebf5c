"""BLAKE3 chaining values and proofs: the C extension next to the numpy lanes and the ``blake3``
package, in one run (about a minute with the defaults).

    python benchmarks/blake3_cvs.py [--size-mib 1024] [--numpy-mib 128] [--repeat 3] [--json OUT]

Data: ``--size-mib`` of pseudo-random bytes in memory (numpy SFC64, fixed seed). Measured, each
the best of ``--repeat`` runs, wall clock, GB/s with 1 GB = 10^9 bytes:

* the ``blake3`` package's root digest (one thread, and ``AUTO``): what memory-speed BLAKE3 is;
* leaf values (non-root chunk-group chaining values) for the whole object with the ``cpu``
  backend's ``hash_leaves`` (all its threads) for leaf sizes 1 KiB, 64 KiB and 16 MiB, and with
  the extension called directly on one thread;
* ``gpuhash.prove`` for one leaf in the middle of the object (64 KiB and 1 MiB leaves) on the
  ``cpu`` backend: every other leaf's value and the tree above them;
* the same rows with the numpy lanes (``GPUHASH_BLAKE3_NATIVE=0``), on the first
  ``--numpy-mib`` only (they are about 30 times slower), so that the run stays short.

Checks: the extension's root value equals the ``blake3`` package's digest; extension and numpy
leaf values and proofs are equal; every proof verifies against the ``blake3`` package's digest.
The report (Markdown) goes to stdout, progress to stderr; it records the load of the machine
before and after, since other work on the CPUs lowers every number.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import blake3
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # the helpers of benchmarks/run.py

import gpuhash
from gpuhash import blake3_cvs
from gpuhash.algorithms import resolve_algorithm
from gpuhash.backend import LeafTable
from gpuhash.backends.cpu import CpuBackend

MIB = 1 << 20
GB = 1e9
LEAF_SIZES = ((1 << 10, "1k"), (1 << 16, "64k"), (1 << 24, "16m"))
PROOF_LEAF_SIZES = ((1 << 16, "64k"), (1 << 20, "1m"))


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def _table(size: int, leaf_size: int) -> LeafTable:
    n = -(-size // leaf_size)
    offsets = array("Q", range(0, n * leaf_size, leaf_size))
    lengths = array("Q", [leaf_size] * n)
    lengths[-1] = size - offsets[-1]
    return LeafTable(offsets, lengths, array("Q", range(n)), array("B", [int(n == 1)] * n))


def _backend(native: bool) -> CpuBackend:
    backend = CpuBackend()
    backend.blake3 = blake3_cvs.implementation(native)
    return backend


def _measure(
    data: memoryview, native: bool, repeat: int, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """Leaf-value and proof rows for one implementation; returns values and proofs to check."""
    size = len(data)
    name = "C extension" if native else "numpy lanes"
    backend = _backend(native)
    out: dict[str, Any] = {"leaves": {}, "proofs": {}}
    try:
        for leaf_size, label in LEAF_SIZES:
            alg = resolve_algorithm("blake3", leaf_size)
            table = _table(size, leaf_size)
            t, values = _best(functools.partial(backend.hash_leaves, alg, data, table), repeat)
            out["leaves"][label] = values
            rows.append(
                {
                    "what": f"leaf values, {label} leaves",
                    "how": f"{name}, cpu backend, {backend.threads} threads",
                    "bytes": size,
                    "seconds": t,
                }
            )
            bench.log(f"{name} leaves {label}: {size / t / GB:.2f} GB/s")
        if native:
            # One leaf: its subtree of every chunk, and every parent above them; with each
            # kernel this CPU runs (what a CPU without AVX-512, or without AVX2, gets).
            from gpuhash import _blake3cv  # the extension itself, to choose its kernel

            chosen = _blake3cv.kernel()
            try:
                for kernel in _blake3cv.kernels():
                    _blake3cv.set_kernel(kernel)
                    t, _ = _best(lambda: _blake3cv.leaf_cvs(data, [0], [size], [0], [0]), repeat)
                    rows.append(
                        {
                            "what": "one non-root subtree of the whole object",
                            "how": f"{name}, `{kernel}` kernel, called directly, 1 thread",
                            "bytes": size,
                            "seconds": t,
                        }
                    )
                    bench.log(f"{name} {kernel}, one thread: {size / t / GB:.2f} GB/s")
            finally:
                _blake3cv.set_kernel(chosen)
        for leaf_size, label in PROOF_LEAF_SIZES:
            n = -(-size // leaf_size)
            first = n // 2

            def prove(ls: int = leaf_size, f: int = first) -> list[bytes]:
                return gpuhash.prove(data, f, 1, algorithm="blake3", leaf_size=ls, backend=backend)

            t, nodes = _best(prove, repeat)
            out["proofs"][label] = (first, nodes)
            rows.append(
                {
                    "what": f"`gpuhash.prove`, {label} leaves, leaf {first} of {n}",
                    "how": f"{name}, cpu backend, {backend.threads} threads",
                    "bytes": size,
                    "seconds": t,
                }
            )
            bench.log(f"{name} prove {label}: {size / t / GB:.2f} GB/s")
    finally:
        backend.close()
    return out


def _check(data: memoryview, lanes: dict[str, Any], numpy_size: int) -> list[str]:
    """Consistency checks; returns the failures."""
    failures = []
    digest = blake3.blake3(data).digest()
    root = blake3_cvs.implementation(True).leaf_cvs(data, [0], [len(data)], [0], [1])
    if root != digest:
        failures.append("the extension's root value differs from the blake3 package")
    small = data[:numpy_size]
    native = _measure(small, True, 1, [])  # the numpy rows' data, natively
    for label, values in lanes["leaves"].items():
        if native["leaves"][label] != values:
            failures.append(f"{label} leaf values: extension and numpy lanes differ")
    sizes = {label: leaf_size for leaf_size, label in PROOF_LEAF_SIZES}
    small_digest = blake3.blake3(small).digest()
    for label, (first, nodes) in lanes["proofs"].items():
        if native["proofs"][label] != (first, nodes):
            failures.append(f"{label} proofs: extension and numpy lanes differ")
        leaf = bytes(small[first * sizes[label] : (first + 1) * sizes[label]])
        ok = gpuhash.verify_proof(
            [leaf],
            first,
            nodes,
            size=len(small),
            digest=small_digest,
            algorithm="blake3",
            leaf_size=sizes[label],
        )
        if not ok:
            failures.append(f"the {label} proof does not verify against the blake3 digest")
    return failures


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    cfg = report["config"]
    out = ["## BLAKE3 chaining values and proofs\n"]
    out.append(
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable), "
        f"AVX-512F {'yes' if m['flags']['avx512f'] else 'no'}, AVX2 "
        f"{'yes' if m['flags']['avx2'] else 'no'}, virtual machine "
        f"{'yes' if m['hypervisor'] else 'no'}; Python {m['python']}, numpy "
        f"{m['packages']['numpy']}, blake3 {m['packages']['blake3']}; BLAKE3 chaining values: "
        f"{cfg['kernel']}.\n"
    )
    out.append(
        f"Data: {cfg['size'] / MIB:.0f} MiB in memory (numpy rows: the first "
        f"{cfg['numpy_size'] / MIB:.0f} MiB). Best of {cfg['repeat']}, wall clock, "
        f"GB/s with 1 GB = 10^9 bytes. Load before: {report['before']['loadavg']} "
        f"(busy {report['before']['busy_1s']:.0%}), after: {report['after']['loadavg']} "
        f"(busy {report['after']['busy_1s']:.0%}).\n"
    )
    rows = [
        [
            r["what"],
            r["how"],
            f"{r['bytes'] / MIB:.0f}",
            f"{r['seconds']:.3f}",
            f"{r['bytes'] / r['seconds'] / GB:.2f}",
        ]
        for r in report["rows"]
    ]
    out.append(bench.table(["what", "how", "MiB", "s", "GB/s"], rows))
    out.append("")
    target = report["target"]
    out.append(
        f"Target: leaf values (64k leaves, cpu backend) at >= {target['gbps']:.1f} GB/s: "
        f"**{'PASS' if target['passed'] else 'FAIL'}** ({target['measured']:.2f} GB/s).\n"
    )
    checks = report["failures"] or ["all passed"]
    out.append("Checks: " + "; ".join(checks) + ".")
    return "\n".join(out) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=1024, help="object size (default 1024)")
    p.add_argument(
        "--numpy-mib", type=int, default=128, help="bytes for the numpy rows (default 128)"
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per row, best kept (default 3)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.size_mib < 32 or not 16 <= args.numpy_mib <= args.size_mib or args.repeat < 1:
        p.error("need --size-mib >= 32, 16 <= --numpy-mib <= --size-mib, --repeat >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    impl = blake3_cvs.implementation(True)  # fails in one line if the extension is not built
    size, numpy_size = args.size_mib * MIB, args.numpy_mib * MIB
    bench.log(f"{size / MIB:.0f} MiB of data; extension: {impl.detail}")
    raw = np.random.Generator(np.random.SFC64(2026)).integers(0, 256, size, dtype=np.uint8)
    data = memoryview(raw.tobytes())
    del raw
    before = bench.load_state()
    rows: list[dict[str, Any]] = []
    for threads, label in ((1, "1 thread"), (blake3.blake3.AUTO, "AUTO threads")):

        def root(th: int = threads) -> bytes:
            return bytes(blake3.blake3(data, max_threads=th).digest())

        t, _ = _best(root, args.repeat)
        rows.append(
            {
                "what": "root digest",
                "how": f"`blake3` package, {label}",
                "bytes": size,
                "seconds": t,
            }
        )
        bench.log(f"blake3 package {label}: {size / t / GB:.2f} GB/s")
    _measure(data, True, args.repeat, rows)
    lanes = _measure(data[:numpy_size], False, args.repeat, rows)
    after = bench.load_state()
    failures = _check(data, lanes, numpy_size)
    leaf_row = next(
        r for r in rows if r["what"] == "leaf values, 64k leaves" and "C extension" in r["how"]
    )
    measured = size / leaf_row["seconds"] / GB
    report = {
        "machine": bench.machine(),
        "config": {
            "size": size,
            "numpy_size": numpy_size,
            "repeat": args.repeat,
            "kernel": impl.detail,
            "command": "python benchmarks/blake3_cvs.py "
            + " ".join(argv if argv is not None else sys.argv[1:]),
        },
        "before": before,
        "after": after,
        "rows": rows,
        "target": {"gbps": 1.0, "measured": measured, "passed": measured >= 1.0},
        "failures": failures,
    }
    sys.stdout.write(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.pop(blake3_cvs.NATIVE_ENV, None)
    raise SystemExit(main())
