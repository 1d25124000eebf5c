"""`gpuhash sign key` against `model_signing sign key`, both with default options, on one 1 GiB
file: the ratio the issue sets a target for, measured on its own (quick: about a minute).

    python benchmarks/sign_speedup.py [--workdir DIR] [--repeat N] [--size-mib N] [--json FILE]

Each command is a child process timed from spawn to exit (interpreter, imports, backend
selection, hashing, signing, writing the signature); the two tools alternate, run after run,
with the file read once before each pair (warm page cache), so both see the same machine
state; the best of N runs of each is compared. Uses the 1 GiB file of benchmarks/run.py
(deterministic; written to the work directory or reused from it) and a fresh P-256 key.
benchmarks/signing.py measures more variants (blake3, --backend cpu, --format oms, verify).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # the helpers of benchmarks/run.py

#: The issue's target for this comparison.
TARGET_SPEEDUP = 2.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, help="where the data set lives (kept and reused)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each command (best is used)")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--json", type=Path, help="also write every timing as JSON")
    args = p.parse_args(argv)
    return bench.in_workdir(
        args.workdir, "gpuhash-sign-speedup-", lambda workdir: _run(args, workdir)
    )


def _run(args: argparse.Namespace, workdir: Path) -> int:
    base = workdir / bench.DATA_DIR
    base.mkdir(parents=True, exist_ok=True)
    size = args.size_mib * bench.MIB
    ds = bench.make_dataset(
        base,
        "file",
        f"one {bench._size_label(size)} file",
        [bench.FileSpec("single.bin", size)],
        single=True,
        seed=1,
    )
    keys = workdir / "sign-speedup-keys"
    keys.mkdir(exist_ok=True)
    private, public = bench.ec_key_pair(keys)
    out = workdir / "sign-speedup-out"
    out.mkdir(exist_ok=True)
    gh, gh_how = bench.gpuhash_command()
    ms = [str(Path(sys.executable).parent / "model_signing")]
    root = str(ds.root)
    commands = {
        "model_signing": [*ms, "sign", "key", root, "--private_key", str(private),
                          "--signature", str(out / "ms.sig")],
        "gpuhash": [*gh, "sign", "key", root, "--private-key", str(private),
                    "--signature", str(out / "gh.sig")],
    }  # fmt: skip
    load_before = bench.load_state()
    times: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, int] = dict.fromkeys(commands, 0)
    bench.run_child(commands["gpuhash"])  # untimed: byte-compiles, fills OS caches for both
    bench.run_child(commands["model_signing"])
    for i in range(args.repeat):
        bench.warm(ds)
        for name, argv in commands.items():
            child = bench.run_child(argv)
            times[name].append(child.wall)
            rss[name] = max(rss[name], child.peak_rss or 0)
            bench.log(f"run {i + 1}/{args.repeat}: {name} {child.wall:.3f} s")
    # Each tool accepts the other's signature: the numbers compare equivalent work.
    checks = {
        "model_signing verifies its signature": [*ms, "verify", "key", root, "--public_key",
                                                 str(public), "--signature", str(out / "ms.sig")],
        "gpuhash verifies model_signing's signature": [*gh, "verify", "key", root,
                                                       "--public-key", str(public),
                                                       "--signature", str(out / "ms.sig")],
        "gpuhash verifies its signature": [*gh, "verify", "key", root, "--public-key",
                                           str(public), "--signature", str(out / "gh.sig")],
    }  # fmt: skip
    verified = {}
    for what, argv in checks.items():
        try:
            bench.run_child(argv)
            verified[what] = True
        except bench.BenchError:
            verified[what] = False
    best = {name: min(t) for name, t in times.items()}
    speedup = best["model_signing"] / best["gpuhash"]
    pairs = [m / g for m, g in zip(times["model_signing"], times["gpuhash"], strict=True)]
    report: dict[str, Any] = {
        "schema": "gpuhash-sign-speedup/1",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": bench.machine(),
        "dataset": ds.label,
        "bytes": ds.nbytes,
        "gpuhash_command": f"{' '.join(gh)} ({gh_how})",
        "commands": {name: " ".join(argv) for name, argv in commands.items()},
        "times_s": times,
        "best_s": best,
        "peak_rss_bytes": rss,
        "speedup_best": speedup,
        "speedup_median_of_pairs": statistics.median(pairs),
        "target": TARGET_SPEEDUP,
        "result": "PASS" if speedup >= TARGET_SPEEDUP else "FAIL",
        "checks": verified,
        "load_before": load_before,
        "load_after": bench.load_state(),
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"{ds.label}, best of {args.repeat} alternating runs, each a child process (wall time "
        f"from spawn to exit), finished {report['date_utc']}; load before "
        f"{load_before['loadavg']}, after {report['load_after']['loadavg']}.",
        "",
        "| command | best s | all runs s | GB/s | peak RSS MiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, t in times.items():
        runs = ", ".join(f"{x:.3f}" for x in t)
        gbps = ds.nbytes / best[name] / 1e9
        lines.append(
            f"| `{name} sign key` (defaults) | {best[name]:.3f} | {runs} | {gbps:.2f} | "
            f"{rss[name] >> 20} |"
        )
    lines += [
        "",
        f"Speedup (best / best): **{speedup:.2f} x** (target {TARGET_SPEEDUP:g} x: "
        f"{report['result']}); median of the per-pair ratios: "
        f"{report['speedup_median_of_pairs']:.2f} x.",
        "",
    ]
    lines += [f"- {what}: {'ok' if ok else 'FAILED'}" for what, ok in verified.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if all(verified.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
