"""Tensor-level benchmark: selective verification and incremental re-hashing, in one run.

    python benchmarks/tensors.py [--workdir DIR] [--size-mib N] [--repeat N] [--json FILE]

Data: a safetensors model of N MiB (default 2048) in 4 shards written by the safetensors
package (tensors of 1 to 128 MiB, fp16/fp32/bf16, like a transformer's), plus config and
tokenizer files; signed once with a fresh ECDSA key over tensor objects.

Measured in-process with the backend `auto` picks (and as commands for incremental):
- full verification (`gpuhash.verify`) against verification of one tensor (`only=`), for
  tensors of several shares s of the bytes; target: cost(one) <= 1.2 * s * cost(full) + C,
  where C is the cost of verifying a 0-byte selection (signature, listing, headers);
- `gpuhash.rehash` after editing one small file against a full `hash_path`; target <= 5 %.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # the helpers of benchmarks/run.py

MIB = 1 << 20


def _model(root: Path, size_mib: int) -> dict[str, int]:
    """Write (or reuse) the model; returns tensor object name -> size."""
    import numpy as np
    import safetensors
    from safetensors.numpy import save_file

    marker = root / ".complete"
    if marker.exists() and marker.read_text() == str(size_mib):
        bench.log(f"reusing the {size_mib} MiB safetensors model")
    else:
        if root.exists():
            import shutil

            shutil.rmtree(root)
        root.mkdir(parents=True)
        bench.log(f"writing a {size_mib} MiB safetensors model")
        rng = np.random.default_rng(0)
        per_shard = size_mib * MIB // 4
        for shard in range(4):
            tensors: dict[str, Any] = {}
            used = 0
            layer = 0
            while used < per_shard:
                # A "layer": a big fp16 matrix, a mid fp32 one, a small norm.
                big = min(128 * MIB, per_shard - used) // 2
                if big < 1024:
                    break
                tensors[f"layers.{shard}.{layer}.mlp.weight"] = rng.integers(
                    0, 1 << 16, size=big, dtype=np.uint16
                ).view(np.float16)
                used += big * 2
                mid = min(16 * MIB, max(0, per_shard - used)) // 4
                if mid:
                    tensors[f"layers.{shard}.{layer}.attn.weight"] = rng.standard_normal(
                        mid, dtype=np.float32
                    )
                    used += mid * 4
                tensors[f"layers.{shard}.{layer}.norm.weight"] = np.ones(4096, np.float32)
                used += 4096 * 4
                layer += 1
            path = root / f"model-{shard + 1:05d}-of-00004.safetensors"
            save_file(tensors, str(path))
        bf16 = np.arange(1 << 20, dtype=np.uint16)
        spec = safetensors.TensorSpec(
            dtype="bfloat16", shape=[1024, 1024], data_ptr=bf16.ctypes.data, data_len=bf16.nbytes
        )
        (root / "lm_head.safetensors").write_bytes(safetensors.serialize({"lm_head": spec}, None))
        (root / "config.json").write_text(json.dumps({"hidden_size": 4096, "layers": 32}))
        (root / "tokenizer.json").write_text(json.dumps({"vocab": list(range(20000))}))
        marker.write_text(str(size_mib))
    import gpuhash

    listing = gpuhash.list_objects(root, objects="tensors", ignore_paths=[".complete"])
    return {s.name: s.size for s in listing}


def _best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path)
    p.add_argument("--size-mib", type=int, default=2048)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    temp = None
    if args.workdir is None:
        temp = tempfile.TemporaryDirectory(prefix="gpuhash-tensor-bench-")
        workdir = Path(temp.name)
    else:
        workdir = args.workdir
    try:
        return _run(args, workdir)
    finally:
        if temp is not None:
            temp.cleanup()


def _run(args: argparse.Namespace, workdir: Path) -> int:
    import gpuhash

    root = workdir / bench.DATA_DIR / "tensor-model"
    sizes = _model(root, args.size_mib)
    total = sum(sizes.values())
    keys = workdir / "tensor-bench-keys"
    keys.mkdir(parents=True, exist_ok=True)
    private, public = bench.ec_key_pair(keys)
    sig = keys / "model.sig"
    ignores = [".complete"]
    backend = gpuhash.get_backend("auto")
    bench.log(f"backend: {backend.name}; signing {total / MIB:.0f} MiB of tensor objects")
    gpuhash.sign(
        root,
        sig,
        method="key",
        private_key=private,
        objects="tensors",
        backend=backend,
        ignore_paths=ignores,
    )

    def verify(only: list[str] | None = None) -> None:
        gpuhash.verify(
            root,
            sig,
            method="key",
            public_key=public,
            backend=backend,
            ignore_paths=ignores,
            only=only or (),
        )

    data = [root / n for n in os.listdir(root) if n.endswith(".safetensors")]
    for path in data:
        with open(path, "rb") as f:
            while f.read(16 * MIB):
                pass
    full = _best(verify, args.repeat)
    # The constant: a selection of one 0-byte-ish object (the config file).
    constant = _best(lambda: verify(["config.json"]), args.repeat)
    by_size = sorted(sizes.items(), key=lambda kv: kv[1])
    picks = [by_size[-1], by_size[len(by_size) * 3 // 4], by_size[len(by_size) // 2]]
    rows = []
    worst = 0.0
    for name, size in picks:
        share = size / total
        t = _best(lambda n=name: verify([n]), args.repeat)
        bound = 1.2 * share * full + constant
        worst = max(worst, t / bound)
        rows.append({"object": name, "bytes": size, "share": share, "seconds": t, "bound": bound})
        bench.log(f"only {name}: {t:.3f} s (share {share:.4f}, bound {bound:.3f} s)")

    # Incremental: edit a small file, re-hash from the previous manifest.
    previous = gpuhash.hash_path(root, objects="tensors", backend=backend, ignore_paths=ignores)
    time.sleep(2.1)  # past the racy-mtime window of the files just listed
    previous = gpuhash.hash_path(root, objects="tensors", backend=backend, ignore_paths=ignores)
    full_hash = _best(
        lambda: gpuhash.hash_path(root, objects="tensors", backend=backend, ignore_paths=ignores),
        args.repeat,
    )
    config = root / "config.json"
    original = config.read_text()
    incremental_times = []
    for i in range(args.repeat):
        config.write_text(original.replace("32", str(33 + i)))
        t0 = time.perf_counter()
        current, report = gpuhash.rehash(root, previous, backend=backend, ignore_paths=ignores)
        incremental_times.append(time.perf_counter() - t0)
        assert report.hashed == ["config.json"], report.hashed
        check = gpuhash.hash_path(root, objects="tensors", backend=backend, ignore_paths=ignores)
        assert current.artifact_digest == check.artifact_digest
    config.write_text(original)
    incremental = min(incremental_times)
    backend.close()

    targets = [
        {
            "target": "verifying one tensor of share s costs <= 1.2 x s x full + C",
            "measured": f"worst ratio to the bound {worst:.2f} "
            f"(full {full:.3f} s, C {constant:.3f} s)",
            "result": "PASS" if worst <= 1.0 else "FAIL",
        },
        {
            "target": "incremental re-hash after editing one small file <= 5 % of a full hash",
            "measured": f"{incremental:.4f} s vs {full_hash:.3f} s = "
            f"{incremental / full_hash * 100:.1f} %",
            "result": "PASS" if incremental <= 0.05 * full_hash else "FAIL",
        },
    ]
    report_doc = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backend": backend.name,
        "model_bytes": total,
        "objects": len(sizes),
        "full_verify_s": full,
        "constant_s": constant,
        "only": rows,
        "full_hash_s": full_hash,
        "incremental_s": incremental,
        "targets": targets,
    }
    if args.json:
        args.json.write_text(json.dumps(report_doc, indent=2) + "\n")
    out = [
        f"Model: {total / MIB:.0f} MiB of tensor data in {len(sizes)} objects (4 safetensors "
        f"shards, a BF16 head, two JSON files); backend `{backend.name}` (auto); best of "
        f"{args.repeat}, in-process; finished {report_doc['date_utc']}.",
        "",
        "| verification | bytes read and hashed | share s | seconds | bound 1.2 s full + C |",
        "| --- | --- | --- | --- | --- |",
        f"| full (`gpuhash.verify`) | {total} | 1 | {full:.3f} | - |",
        f"| `only=['config.json']` (C: signature, listing, headers) | - | ~0 "
        f"| {constant:.3f} | - |",
    ]
    out += [
        f"| `only=['{r['object']}']` | {r['bytes']} | {r['share']:.4f} | {r['seconds']:.3f} "
        f"| {r['bound']:.3f} |"
        for r in rows
    ]
    out += [
        "",
        "| re-hash | seconds |",
        "| --- | --- |",
        f"| full `hash_path(objects='tensors')` | {full_hash:.3f} |",
        f"| `rehash(previous)` after editing config.json | {incremental:.4f} |",
        "",
        "| target | measured | result |",
        "| --- | --- | --- |",
    ]
    out += [f"| {t['target']} | {t['measured']} | {t['result']} |" for t in targets]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
