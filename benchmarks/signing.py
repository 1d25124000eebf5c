"""Signing benchmark: `gpuhash sign key` against `model_signing sign key` on the same model, in one
run, end to end (each command a child process: interpreter, imports, hashing, signing, writing).

    python benchmarks/signing.py [--workdir DIR] [--repeat N] [--json FILE]

Uses the data sets of benchmarks/run.py (one 1 GiB file, the 21-file model), written to the
work directory or reused from it, and a fresh ECDSA P-256 key. Prints Markdown tables for
docs/benchmarks.md; --json also writes every timing. Also checks that each tool accepts the
other's signature.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # the helpers of benchmarks/run.py

#: gpuhash sign key must be at least this many times faster than model_signing sign key.
TARGET_SPEEDUP = 3.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, help="where the data sets live (kept and reused)")
    p.add_argument("--repeat", type=int, default=5, help="runs per row (best is reported)")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    args = p.parse_args(argv)
    return bench.in_workdir(
        args.workdir, "gpuhash-sign-bench-", lambda workdir: _run(args, workdir)
    )


def _run(args: argparse.Namespace, workdir: Path) -> int:
    base = workdir / bench.DATA_DIR
    base.mkdir(parents=True, exist_ok=True)
    size = args.size_mib * bench.MIB
    label = bench._size_label(size)
    file_ds = bench.make_dataset(
        base, "file", f"one {label} file", [bench.FileSpec("single.bin", size)], single=True, seed=1
    )
    mfiles = bench.model_files(args.size_mib)
    model_ds = bench.make_dataset(
        base,
        "model",
        f"model directory of {len(mfiles)} files, {bench._size_label(sum(f.size for f in mfiles))}",
        mfiles,
        single=False,
        seed=2,
    )
    keys = workdir / "sign-bench-keys"
    keys.mkdir(exist_ok=True)
    private, public = bench.ec_key_pair(keys)
    out = workdir / "sign-bench-out"
    out.mkdir(exist_ok=True)
    gh, gh_how = bench.gpuhash_command()
    ms = [str(Path(sys.executable).parent / "model_signing")]
    load_before = bench.load_state()
    results: list[bench.Result] = []

    def sig(name: str) -> str:
        return str(out / name)

    rows: list[tuple[str, str, list[str]]] = []
    for ds in (file_ds, model_ds):
        root, k = str(ds.root), ds.key

        def gh_sign(tag: str, *extra: str, root: str = root, k: str = k) -> list[str]:
            signature = sig(f"gh{tag}-{k}.sig")
            return [*gh, "sign", "key", root, "--private-key", str(private), "--signature",
                    signature, *extra]  # fmt: skip

        ms_sig, gh_sig = sig(f"ms-{k}.sig"), sig(f"gh-{k}.sig")
        rows += [
            (
                f"ms-sign/{k}",
                "`model_signing sign key` (SHA-256 per file)",
                [*ms, "sign", "key", root, "--private_key", str(private), "--signature", ms_sig],
            ),
            (
                f"gh-sign/{k}",
                "`gpuhash sign key` (defaults: merkle-sha256, backend auto)",
                gh_sign(""),
            ),
            (
                f"gh-sign-cpu/{k}",
                "`gpuhash sign key --backend cpu`",
                gh_sign("-cpu", "--backend", "cpu"),
            ),
            (
                f"gh-sign-blake3/{k}",
                "`gpuhash sign key --algorithm blake3`",
                gh_sign("-b3", "--algorithm", "blake3"),
            ),
            (
                f"gh-sign-blake3-cpu/{k}",
                "`gpuhash sign key --algorithm blake3 --backend cpu`",
                gh_sign("-b3cpu", "--algorithm", "blake3", "--backend", "cpu"),
            ),
            (
                f"gh-sign-oms/{k}",
                "`gpuhash sign key --format oms` (model_signing's format, SHA-256 per file)",
                gh_sign("-oms", "--format", "oms"),
            ),
            (
                f"ms-verify/{k}",
                "`model_signing verify key` (its own signature)",
                [*ms, "verify", "key", root, "--public_key", str(public), "--signature", ms_sig],
            ),
            (
                f"gh-verify/{k}",
                "`gpuhash verify key` (its own signature)",
                [*gh, "verify", "key", root, "--public-key", str(public), "--signature", gh_sig],
            ),
        ]
    for key, what, argv in rows:
        ds = file_ds if key.endswith("/file") else model_ds
        bench.log(f"{key}: {' '.join(argv[1:4])} ...")
        r = bench.time_child(key, what, "child process", ds, argv, args.repeat)
        results.append(r)
        bench.log(f"{key}: best {r.best:.3f} s, peak RSS {r.peak_rss and r.peak_rss >> 20} MiB")

    # Each tool accepts the other's signature (the peer checks gpuhash's oms one).
    checks = []
    for ds in (file_ds, model_ds):
        root, k = str(ds.root), ds.key
        for what, argv in (
            (
                f"model_signing verifies gpuhash --format oms ({k})",
                [
                    *ms,
                    "verify",
                    "key",
                    root,
                    "--public_key",
                    str(public),
                    "--signature",
                    sig(f"gh-oms-{k}.sig"),
                ],
            ),
            (
                f"gpuhash verifies model_signing's signature ({k})",
                [
                    *gh,
                    "verify",
                    "key",
                    root,
                    "--public-key",
                    str(public),
                    "--signature",
                    sig(f"ms-{k}.sig"),
                ],
            ),
        ):
            try:
                bench.run_child(argv)
                ok = True
            except bench.BenchError:
                ok = False
            checks.append({"check": what, "ok": ok})

    by = {r.key: r for r in results}
    f_ms, f_gh = by[f"ms-sign/{file_ds.key}"], by[f"gh-sign/{file_ds.key}"]
    speedup = f_ms.best / f_gh.best
    target = {
        "target": f"`gpuhash sign key` >= {TARGET_SPEEDUP:g} x faster than "
        f"`model_signing sign key`, {file_ds.label}, end to end",
        "measured": f"{f_gh.best:.3f} s vs {f_ms.best:.3f} s = {speedup:.2f} x",
        "value": speedup,
        "result": "PASS" if speedup >= TARGET_SPEEDUP else "FAIL",
    }
    report: dict[str, Any] = {
        "schema": "gpuhash-sign-benchmarks/1",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "gpuhash_command": f"{' '.join(gh)} ({gh_how})",
        "load_before": load_before,
        "load_after": bench.load_state(),
        "results": [r.as_dict() for r in results],
        "target": target,
        "checks": checks,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"Best of {args.repeat}, each a child process (wall time from spawn to exit); "
        f"finished {report['date_utc']}.",
        "",
        "| command | data | best s | GB/s | peak RSS MiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ds_label = file_ds.label if r.dataset == file_ds.key else model_ds.label
        rss = "-" if r.peak_rss is None else str(r.peak_rss >> 20)
        lines.append(f"| {r.label} | {ds_label} | {r.best:.3f} | {r.gbps:.2f} | {rss} |")
    lines += [
        "",
        "| target | measured | result |",
        "| --- | --- | --- |",
        f"| {target['target']} | {target['measured']} | {target['result']} |",
        "",
    ]
    lines += [f"- {c['check']}: {'ok' if c['ok'] else 'FAILED'}" for c in checks]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
