"""Benchmark gpuhash's ``cpu`` backend against its peers, side by side, in one run.

    python benchmarks/run.py [--workdir DIR] [--size-mib 1024] [--repeat 3] [--quick] [--json OUT]

What it measures (see docs/benchmarks.md for a full run and how to read it):

* data: one file of pseudo-random bytes (``--size-mib``, default 1 GiB) and a model directory of
  about the same total size (21 files, 1 KiB to 320 MiB, nested), read once right before each
  measurement so that every measurement runs on a warm page cache;
* peers: single-stream ``hashlib.sha256``, the ``blake3`` package (one thread and ``AUTO``), and
  ``model_signing``'s default hashing (SHA-256 per file) in a child process;
* gpuhash: ``gpuhash digest --backend cpu`` as a real child process for every algorithm (wall
  time including interpreter start-up, and the child's peak RSS), plus in-process
  ``gpuhash.hash_path`` to separate start-up cost;
* a leaf-size sweep for Merkle-SHA256 (spec section 2.1);
* the targets, each PASS or FAIL with the measured value, and a description of the machine.

Times are the best of ``--repeat`` runs; throughput is in GB/s with 1 GB = 10^9 bytes. Without
``--workdir`` the data lives in a temporary directory that is removed afterwards; with it, the
data is kept and reused by later runs (it is deterministic).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import blake3
import numpy as np

import gpuhash
from gpuhash.algorithms import FAMILIES

GB = 1_000_000_000
MIB = 1 << 20
KIB = 1 << 10
#: Target (c): peak RSS of ``gpuhash digest`` hashing a 4 GiB model, in bytes (256 MB = 256e6).
RSS_LIMIT = 256_000_000
#: Target (a): Merkle-SHA256 on ``cpu`` at least this many times single-stream hashlib.
SPEEDUP_TARGET = 1.8
#: Target (b): BLAKE3 via ``gpuhash digest`` at least this many GB/s.
BLAKE3_TARGET_GBPS = 4.0
#: Target (d): ``gpuhash digest`` of a small model at most this many seconds.
SMALL_TARGET_S = 0.3
#: Target (e): Merkle-SHA256 through OpenCL on Intel's CPU runtime, GB/s, end to end.
OPENCL_TARGET_GBPS = 2.8
BIG_MODEL_FILES = 4  # target (c): this many files of 1 GiB
ALGORITHMS = FAMILIES
IN_PROCESS_ALGORITHMS = ("merkle-sha256", "blake3")
LEAF_SIZES: tuple[tuple[str, int], ...] = (
    ("4k", 4 * KIB),
    ("16k", 16 * KIB),
    ("64k", 64 * KIB),
    ("256k", 256 * KIB),
    ("1m", MIB),
)
READ_CHUNK = MIB  # hashlib and model_signing read 1 MiB at a time

DATA_DIR = "gpuhash-bench-data"  # under the work directory; the only thing this script deletes


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# Data sets
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FileSpec:
    name: str  # POSIX path relative to the data set root
    size: int
    text: bytes | None = None  # fixed content (config files); otherwise pseudo-random bytes


@dataclasses.dataclass
class DataSet:
    key: str
    label: str
    root: Path  # a file or a directory
    files: list[FileSpec]

    @property
    def nbytes(self) -> int:
        return sum(f.size for f in self.files)

    def paths(self) -> list[Path]:
        if self.root.is_file():
            return [self.root]
        return [self.root / f.name for f in sorted(self.files, key=lambda f: f.name)]


def _config_text(kind: str) -> bytes:
    if kind == "config.json":
        doc: dict[str, Any] = {
            "architectures": ["LlamaForCausalLM"],
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_attention_heads": 32,
            "num_hidden_layers": 32,
            "num_key_value_heads": 8,
            "rms_norm_eps": 1e-5,
            "rope_theta": 500000.0,
            "torch_dtype": "bfloat16",
            "vocab_size": 128256,
        }
    elif kind == "generation_config.json":
        doc = {"bos_token_id": 128000, "eos_token_id": 128001, "do_sample": True}
    elif kind == "special_tokens_map.json":
        doc = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}
    else:  # tokenizer_config.json
        doc = {
            "added_tokens_decoder": {
                str(128000 + i): {"content": f"<|reserved_special_token_{i}|>", "special": True}
                for i in range(40)
            },
            "model_max_length": 131072,
        }
    return (json.dumps(doc, indent=2) + "\n").encode()


def model_files(total_mib: int) -> list[FileSpec]:
    """About ``total_mib`` MiB in 21 files of mixed sizes, nested, with a few config files."""
    f = total_mib / 1024
    large = [
        ("model-00001-of-00004.safetensors", 320),
        ("model-00002-of-00004.safetensors", 256),
        ("model-00003-of-00004.safetensors", 192),
        ("model-00004-of-00004.safetensors", 96),
        ("extra/adapter_model.safetensors", 64),
        ("extra/lora/adapter_a.bin", 32),
        ("extra/lora/adapter_b.bin", 24),
        ("optimizer/shard_0.pt", 16),
        ("optimizer/shard_1.pt", 12),
        ("optimizer/shard_2.pt", 6),
        ("onnx/model.onnx", 3),
    ]
    # Odd tails so that most files end in a partial leaf.
    specs = [
        FileSpec(name, int(mib * f * MIB) + (i * 4099) % (64 * KIB))
        for i, (name, mib) in enumerate(large)
    ]
    small = [
        ("tokenizer.json", 2 * MIB + 123),
        ("vocab/merges.txt", 512 * KIB + 7),
        ("vocab/vocab.json", 384 * KIB),
        ("onnx/ops.bin", 96 * KIB + 1),
        ("extra/lora/bias.bin", 28 * KIB),
    ]
    specs += [FileSpec(name, size) for name, size in small]
    configs = [
        "config.json",
        "generation_config.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
    ]
    specs += [FileSpec(n, len(t), t) for n in configs for t in [_config_text(n)]]
    readme = b"# A benchmark model\n\nPseudo-random weights, for hashing benchmarks only.\n" * 64
    specs.append(FileSpec("README.md", len(readme), readme))
    return specs


def small_model_files() -> list[FileSpec]:
    """Target (d): a small model, a few files, under 1 MiB in total."""
    config = _config_text("config.json")
    return [
        FileSpec("config.json", len(config), config),
        FileSpec("tokenizer.json", 200 * KIB),
        FileSpec("model.safetensors", 512 * KIB),
    ]


def _write_random(path: Path, size: int, seed: int) -> None:
    """``size`` pseudo-random bytes (SFC64, deterministic in ``seed``)."""
    bits = np.random.SFC64(seed)
    chunk = 64 * MIB
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            words = np.asarray(bits.random_raw((n + 7) // 8), dtype=np.uint64)
            f.write(words.view(np.uint8)[:n].data)
            left -= n


def _matches(root: Path, files: Sequence[FileSpec], single: bool) -> bool:
    if single:
        return root.is_file() and root.stat().st_size == files[0].size
    if not root.is_dir():
        return False
    found = {
        p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()
    }
    return found == {f.name: f.size for f in files}


def make_dataset(
    base: Path, key: str, label: str, files: list[FileSpec], *, single: bool, seed: int
) -> DataSet:
    """Write a data set under ``base`` (or reuse one left by an earlier run with --workdir)."""
    top = base / key
    root = top / files[0].name if single else top
    ds = DataSet(key, label, root, files)
    if _matches(root, files, single):
        log(f"reusing {label} ({ds.nbytes / MIB:.1f} MiB)")
        return ds
    if top.is_dir():
        shutil.rmtree(top)
    log(f"writing {label} ({ds.nbytes / MIB:.1f} MiB)")
    for i, spec in enumerate(files):
        path = root if single else root / spec.name
        path.parent.mkdir(parents=True, exist_ok=True)
        if spec.text is not None:
            path.write_bytes(spec.text)
        else:
            _write_random(path, spec.size, seed * 1000 + i)
    return ds


def warm(ds: DataSet) -> float:
    """Read every byte once so that the timed runs find the data in the page cache. Done once
    after writing and again right before each measurement: some virtual machines page out
    page-cache pages that have been idle for a few tens of seconds (DAMON-based reclaim)."""
    buf = bytearray(16 * MIB)
    t0 = time.perf_counter()
    for p in ds.paths():
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    key: str
    label: str
    how: str
    dataset: str
    nbytes: int
    times: list[float]
    peak_rss: int | None = None  # bytes, the largest over the runs (children only)
    output: str = ""  # a digest line or similar, for the consistency checks
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def gbps(self) -> float:
        return self.nbytes / self.best / GB

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["best_s"] = self.best
        d["gb_per_s"] = self.gbps if self.nbytes else None
        if len(self.output) > 200:
            d["output"] = self.output[:120] + "..."
        return d


@dataclasses.dataclass
class Child:
    wall: float
    peak_rss: int
    stdout: str


# Peak RSS of a child comes from wait4. On Linux a child's ru_maxrss starts at the high-water
# mark of the memory it was forked (or vforked) from, so a child spawned by this process, which
# holds hundreds of MiB, would report at least that much. Every timed child is therefore spawned
# by this small helper process, started before anything large is allocated; the helper also
# takes the wall time (spawn to exit), so the pipe round trip is not counted.
_SPAWNER = r"""
import json, os, subprocess, sys, tempfile, time
for line in sys.stdin:
    argv = json.loads(line)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        reply = {
            "wall": wall,
            "rc": os.waitstatus_to_exitcode(status),
            "maxrss": usage.ru_maxrss,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
"""


class Spawner:
    """A small helper process that runs the timed children (see ``_SPAWNER``)."""

    def __init__(self) -> None:
        # Children run as installed software does: with cached bytecode. Some shells set
        # PYTHONDONTWRITEBYTECODE, which would make every child recompile gpuhash's sources
        # (about 40 ms here) and measure that instead; pip compiles bytecode at install time.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                str(Path(__file__).resolve().parents[1] / "gpuhash"),
            ],
            check=True,
            env=env,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SPAWNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def run(self, argv: Sequence[str]) -> Child:
        """Run ``argv`` to completion: wall time from spawn to exit and its peak RSS."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(list(argv)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError("the spawner process died")
        reply: dict[str, Any] = json.loads(line)
        if reply["rc"] != 0:
            raise BenchError(f"{' '.join(argv)} exited with {reply['rc']}: {reply['stderr']}")
        rss = int(reply["maxrss"]) * (1 if sys.platform == "darwin" else 1024)
        return Child(float(reply["wall"]), rss, str(reply["stdout"]))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


_spawner: Spawner | None = None


def run_child(argv: Sequence[str]) -> Child:
    assert _spawner is not None
    return _spawner.run(argv)


def time_child(
    key: str, label: str, how: str, ds: DataSet | None, argv: Sequence[str], repeat: int
) -> Result:
    prewarm = warm(ds) if ds else 0.0
    runs = [run_child(argv) for _ in range(repeat)]
    return Result(
        key,
        label,
        how,
        ds.key if ds else "-",
        ds.nbytes if ds else 0,
        [r.wall for r in runs],
        max(r.peak_rss for r in runs),
        runs[0].stdout.strip(),
        {"prewarm_s": prewarm},
    )


def time_call(
    key: str, label: str, how: str, ds: DataSet, fn: Callable[[], str], repeat: int
) -> Result:
    prewarm = warm(ds)
    times = []
    output = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        output = fn()
        times.append(time.perf_counter() - t0)
    return Result(key, label, how, ds.key, ds.nbytes, times, None, output, {"prewarm_s": prewarm})


def sha256_stream(paths: Sequence[Path]) -> str:
    """hashlib.sha256 of each file, one stream at a time, reading 1 MiB chunks."""
    buf = bytearray(READ_CHUNK)
    view = memoryview(buf)
    digests = []
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
        digests.append(h.hexdigest())
    return ",".join(digests)


def blake3_mmap(paths: Sequence[Path], threads: int) -> str:
    """The blake3 package over each file with ``update_mmap`` (memory-mapped, no copies)."""
    digests = []
    for p in paths:
        h = blake3.blake3(max_threads=threads)
        h.update_mmap(str(p))
        digests.append(h.hexdigest())
    return ",".join(digests)


def _merkle_leaf(root: Path, leaf: int) -> str:
    m = gpuhash.hash_path(root, algorithm="merkle-sha256", leaf_size=leaf, backend="cpu")
    return m.digest_line()


_MODEL_SIGNING_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import model_signing.hashing
t1 = time.perf_counter()
path, repeat = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(repeat):
    t = time.perf_counter()
    manifest = model_signing.hashing.Config().hash(path)
    times.append(time.perf_counter() - t)
digests = {
    d.identifier: d.digest.digest_value.hex() for d in manifest.resource_descriptors()
}
algorithms = sorted({d.digest.algorithm for d in manifest.resource_descriptors()})
print(json.dumps({"import_s": t1 - t0, "times": times, "digests": digests,
                  "algorithms": algorithms}))
"""


def model_signing_run(ds: DataSet, repeat: int) -> tuple[Result, Child, dict[str, Any]]:
    """model_signing.hashing.Config().hash(path) (defaults: file serialization, SHA-256 per file,
    1 MiB reads, files spread over a thread pool) in a child: its import and its hashing timed
    separately, hashing best of ``repeat``."""
    prewarm = warm(ds)
    child = run_child([sys.executable, "-c", _MODEL_SIGNING_CHILD, str(ds.root), str(repeat)])
    data: dict[str, Any] = json.loads(child.stdout)
    res = Result(
        f"model_signing/{ds.key}",
        "model_signing default (SHA-256 per file)",
        "child process; hashing only",
        ds.key,
        ds.nbytes,
        list(data["times"]),
        child.peak_rss,
        "",
        {"import_s": data["import_s"], "child_wall_s": child.wall, "prewarm_s": prewarm},
    )
    return res, child, data


def busy_fraction(interval: float = 1.0) -> float:
    """Fraction of all CPUs busy over ``interval`` seconds (from /proc/stat; -1 if unknown)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        t1, i1 = sample()
        time.sleep(interval)
        t2, i2 = sample()
    except (OSError, ValueError, IndexError):
        return -1.0
    return 1.0 - (i2 - i1) / max(t2 - t1, 1)


def load_state() -> dict[str, Any]:
    la = os.getloadavg()
    return {"loadavg": [round(x, 2) for x in la], "busy_1s": round(busy_fraction(), 3)}


# ---------------------------------------------------------------------------------------------
# Machine description
# ---------------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    cpuinfo = _read("/proc/cpuinfo")
    first: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break
        k, _, v = line.partition(":")
        first[k.strip()] = v.strip()
    flags = set(first.get("flags", "").split())
    mem_kib = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    os_name = platform.system()
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    siblings = _read("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list").strip()
    return {
        "cpu": first.get("model name", platform.processor() or platform.machine()),
        "cpu_mhz": first.get("cpu MHz", "?"),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cores_per_socket_reported": first.get("cpu cores", "?"),
        "cpu0_thread_siblings": siblings or "?",
        "flags": {f: f in flags for f in ("sha_ni", "avx2", "avx512f", "avx512vl", "vaes")},
        "hypervisor": "hypervisor" in flags,
        "memory_gib": round(mem_kib / (1 << 20), 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "openssl": ssl.OPENSSL_VERSION,
        "packages": {
            name: _version(name) for name in ("gpuhash", "numpy", "blake3", "model-signing")
        },
    }


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def _s(x: float) -> str:
    return f"{x:.3f}"


def _g(x: float) -> str:
    return f"{x:.2f}"


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / MIB:.0f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render(report: dict[str, Any], results: dict[str, Result]) -> str:
    m = report["machine"]
    cfg = report["config"]
    out: list[str] = []
    out.append("## Machine\n")
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["flags"].items())
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    out.append(
        table(
            ["", ""],
            [
                ["CPU", f"{m['cpu']} ({m['cpu_mhz']} MHz reported)"],
                [
                    "CPUs",
                    f"{m['logical_cpus']} logical, {m['usable_cpus']} usable; "
                    f"cpu0 thread siblings: {m['cpu0_thread_siblings']}; "
                    f"virtual machine: {'yes' if m['hypervisor'] else 'no'}",
                ],
                ["CPU flags", flags],
                ["memory", f"{m['memory_gib']} GiB"],
                ["OS", f"{m['os']}, kernel {m['kernel']}"],
                ["Python", f"{m['python_impl']} {m['python']}"],
                ["hashlib / ssl", m["openssl"]],
                ["packages", pk],
            ],
        )
    )
    out.append("")
    out.append(
        f"Best of {cfg['repeat']} runs, warm page cache (the data set read once right before "
        "each measurement). "
        "GB/s with 1 GB = 10^9 bytes. Load before: "
        f"{report['load_before']['loadavg']} (busy {report['load_before']['busy_1s']:.0%}), "
        f"after: {report['load_after']['loadavg']} "
        f"(busy {report['load_after']['busy_1s']:.0%})."
    )
    out.append("")

    ds = report["datasets"]
    fkey, mkey = "file", "model"
    out.append("## Throughput\n")
    out.append(
        f"Data: `{fkey}` = {ds[fkey]['label']} ({ds[fkey]['bytes']} bytes); `{mkey}` = "
        f"{ds[mkey]['label']} ({ds[mkey]['bytes']} bytes, 1 KiB to 320 MiB per file at "
        "1 GiB, nested directories, config files).\n"
    )
    rows = []
    for base in report["throughput_rows"]:
        rf, rm = results.get(f"{base}/{fkey}"), results.get(f"{base}/{mkey}")
        some = rf or rm
        assert some is not None
        cells = [some.label, some.how]
        for r in (rf, rm):
            cells += ["-", "-"] if r is None else [_s(r.best), _g(r.gbps)]
        cells.append(f"{_mib(rf.peak_rss if rf else None)} / {_mib(rm.peak_rss if rm else None)}")
        rows.append(cells)
    out.append(
        table(
            [
                "what",
                "how",
                f"{fkey} s",
                f"{fkey} GB/s",
                f"{mkey} s",
                f"{mkey} GB/s",
                "peak RSS MiB (file / model)",
            ],
            rows,
        )
    )
    out.append("")
    out.append(
        "Child-process rows include interpreter start-up and imports; in-process rows do not. "
        "Peak RSS is that of the child process (`wait4`), '-' where the row ran in-process.\n"
    )

    out.append("## Start-up and a small model\n")
    rows = []
    for key in report["startup_rows"]:
        r = results[key]
        rows.append([r.label, r.how, _s(r.best), _mib(r.peak_rss)])
    for key in ("model_signing/file", "model_signing/model"):
        if key in results:
            r = results[key]
            rows.append(
                [
                    f"`import model_signing.hashing` (in the {r.dataset} child)",
                    "one import per child",
                    _s(r.extra["import_s"]),
                    "-",
                ]
            )
            break
    out.append(table(["what", "how", "best s", "peak RSS MiB"], rows))
    out.append("")

    out.append("## Leaf-size sweep (merkle-sha256, cpu, in-process, file)\n")
    sweep = report["leaf_sweep"]
    hashlib_gbps = results[f"hashlib/{fkey}"].gbps
    base64k = next(r for r in sweep if r["leaf"] == "64k")["gb_per_s"]
    out.append(
        table(
            ["leaf", "best s", "GB/s", "x hashlib single stream", "vs 64k"],
            [
                [
                    f"`{r['leaf']}`",
                    _s(r["best_s"]),
                    _g(r["gb_per_s"]),
                    _g(r["gb_per_s"] / hashlib_gbps),
                    f"{r['gb_per_s'] / base64k:.2f}",
                ]
                for r in sweep
            ],
        )
    )
    out.append("")

    if report["big_model"]:
        big = report["big_model"]
        out.append(f"## Memory: {big['label']} ({big['files']} files, {big['bytes']} bytes)\n")
        out.append(
            table(
                ["command", "runs", "best s", "GB/s", "peak RSS MiB", "peak RSS MB"],
                [
                    [
                        f"`gpuhash digest --backend cpu{a}`",
                        str(len(results[k].times)),
                        _s(results[k].best),
                        _g(results[k].gbps),
                        _mib(results[k].peak_rss),
                        f"{(results[k].peak_rss or 0) / 1e6:.0f}",
                    ]
                    for k, a in big["rows"]
                ],
            )
        )
        out.append("")

    out.append("## Targets\n")
    out.append(
        table(
            ["target", "measured", "result"],
            [[t["target"], t["measured"], t["result"]] for t in report["targets"]],
        )
    )
    out.append("")
    out.append("## Consistency checks\n")
    out.extend(f"- {c['check']}: {'ok' if c['ok'] else 'MISMATCH'}" for c in report["checks"])
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def ec_key_pair(directory: Path) -> tuple[Path, Path]:
    """A fresh ECDSA P-256 key pair written to ``directory``: (key.pem, pub.pem)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / "key.pem", directory / "pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def gpuhash_command() -> tuple[list[str], str]:
    """The ``gpuhash`` console script of this interpreter's environment."""
    here = Path(sys.executable).parent / "gpuhash"
    if here.is_file() and os.access(here, os.X_OK):
        return [str(here)], "console script next to the interpreter"
    found = shutil.which("gpuhash")
    if found:
        return [found], "console script on PATH"
    return [sys.executable, "-m", "gpuhash"], "python -m gpuhash (no console script found)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--workdir",
        type=Path,
        help="where to write the data (kept and reused); default: a temporary directory, "
        "removed afterwards",
    )
    p.add_argument(
        "--size-mib",
        type=int,
        help="size of the single file and of the model directory (default 1024; 256 with --quick)",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    p.add_argument("--quick", action="store_true", help="256 MiB data and no 4 GiB memory check")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.size_mib is None:
        args.size_mib = 256 if args.quick else 1024
    if args.size_mib < 4:
        p.error("--size-mib must be at least 4")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def _size_label(nbytes: int) -> str:
    if nbytes % (1 << 30) == 0:
        return f"{nbytes >> 30} GiB"
    return f"{nbytes / MIB:.0f} MiB"


def in_workdir(workdir: Path | None, prefix: str, work: Callable[[Path], int]) -> int:
    """``work(directory)`` with this module's process spawner running: in ``workdir`` (created,
    kept and reused) or, without one, in a temporary directory removed afterwards."""
    temp: tempfile.TemporaryDirectory[str] | None = None
    if workdir is None:
        temp = tempfile.TemporaryDirectory(prefix=prefix)
        workdir = Path(temp.name)
    else:
        workdir.mkdir(parents=True, exist_ok=True)
    global _spawner
    _spawner = Spawner()
    try:
        return work(workdir)
    finally:
        _spawner.close()
        if temp is not None:
            log("removing the temporary data")
            temp.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    repeat: int = args.repeat
    return in_workdir(
        args.workdir, "gpuhash-bench-", lambda workdir: _run(args, workdir / DATA_DIR, repeat)
    )


def _run(args: argparse.Namespace, base: Path, repeat: int) -> int:
    base.mkdir(parents=True, exist_ok=True)
    size = args.size_mib * MIB
    mach = machine()
    gh, gh_how = gpuhash_command()
    log(f"gpuhash command: {' '.join(gh)} ({gh_how})")

    # -- data ----------------------------------------------------------------------------------
    file_ds = make_dataset(
        base,
        "file",
        f"one {_size_label(size)} file",
        [FileSpec("single.bin", size)],
        single=True,
        seed=1,
    )
    mfiles = model_files(args.size_mib)
    model_ds = make_dataset(
        base,
        "model",
        f"model directory of {len(mfiles)} files, {_size_label(sum(f.size for f in mfiles))}",
        mfiles,
        single=False,
        seed=2,
    )
    small_ds = make_dataset(
        base, "small", "small model (3 files)", small_model_files(), single=False, seed=3
    )
    big_ds: DataSet | None = None
    if not args.quick:
        big_ds = make_dataset(
            base,
            "big",
            f"{BIG_MODEL_FILES} GiB model",
            [
                FileSpec(f"model-{i + 1:05d}-of-{BIG_MODEL_FILES:05d}.safetensors", 1 << 30)
                for i in range(BIG_MODEL_FILES)
            ],
            single=False,
            seed=4,
        )
    log("syncing written data to disk (so that write-back does not disturb the timings)")
    os.sync()
    warm_s = {}
    for ds in (file_ds, model_ds, small_ds, big_ds):
        if ds is not None:
            warm_s[ds.key] = warm(ds)
            log(f"warmed {ds.label}: read once in {warm_s[ds.key]:.2f} s")
    load_before = load_state()
    log(f"load before measuring: {load_before}")
    if load_before["busy_1s"] > 0.15:
        log("WARNING: the machine is busy; the numbers will be low and noisy")

    results: dict[str, Result] = {}

    def add(r: Result) -> Result:
        results[r.key] = r
        rate = f", {r.gbps:.2f} GB/s" if r.nbytes else ""
        rss = f", peak RSS {r.peak_rss / MIB:.0f} MiB" if r.peak_rss else ""
        runs = ", ".join(_s(t) for t in r.times)
        pre = r.extra.get("prewarm_s")
        pre_txt = (
            f"; pre-read {r.nbytes / pre / GB:.1f} GB/s" if pre and r.nbytes > 64 * MIB else ""
        )
        log(f"{r.key}: best {r.best:.3f} s{rate}{rss}  (runs: {runs}{pre_txt})")
        return r

    # -- start-up ------------------------------------------------------------------------------
    startup_rows = []
    n_small = max(repeat, 5)
    for key, label, how, argv in (
        ("python", "`python -c pass`", "child process", [sys.executable, "-c", "pass"]),
        ("gpuhash-version", "`gpuhash --version`", "console script", [*gh, "--version"]),
        (
            "gpuhash-small",
            "`gpuhash digest SMALL` (target d)",
            "console script, defaults (auto backend, merkle-sha256)",
            [*gh, "digest", str(small_ds.root)],
        ),
        (
            "gpuhash-small-cpu",
            "`gpuhash digest SMALL --backend cpu`",
            "console script",
            [*gh, "digest", str(small_ds.root), "--backend", "cpu"],
        ),
        (
            "gpuhash-small-cpu-blake3",
            "`gpuhash digest SMALL --backend cpu --algorithm blake3`",
            "console script",
            [*gh, "digest", str(small_ds.root), "--backend", "cpu", "--algorithm", "blake3"],
        ),
    ):
        add(time_child(key, label, how, small_ds if "small" in key else None, argv, n_small))
        startup_rows.append(key)

    # -- peers ---------------------------------------------------------------------------------
    throughput_rows = []
    peer_hashes: dict[str, str] = {}
    for ds in (file_ds, model_ds):
        paths = ds.paths()
        r = add(
            time_call(
                f"hashlib/{ds.key}",
                "hashlib.sha256, single stream",
                "in-process, 1 MiB readinto, file after file",
                ds,
                functools.partial(sha256_stream, paths),
                repeat,
            )
        )
        peer_hashes[f"sha256/{ds.key}"] = r.output
        for threads, key, label in (
            (1, "blake3-1", "blake3 package, 1 thread"),
            (blake3.blake3.AUTO, "blake3-auto", "blake3 package, max_threads=AUTO"),
        ):
            r = add(
                time_call(
                    f"{key}/{ds.key}",
                    label,
                    "in-process, update_mmap, file after file",
                    ds,
                    functools.partial(blake3_mmap, paths, threads),
                    repeat,
                )
            )
            peer_hashes[f"{key}/{ds.key}"] = r.output
    throughput_rows += ["hashlib", "blake3-1", "blake3-auto"]

    ms_digests: dict[str, dict[str, str]] = {}
    ms_algorithms: set[str] = set()
    for ds in (file_ds, model_ds):
        res, _, data = model_signing_run(ds, repeat)
        add(res)
        ms_digests[ds.key] = data["digests"]
        ms_algorithms.update(data["algorithms"])
    throughput_rows.append("model_signing")

    # -- gpuhash, child processes --------------------------------------------------------------
    cli_lines: dict[str, str] = {}
    for alg in ALGORITHMS:
        for ds in (file_ds, model_ds):
            r = add(
                time_child(
                    f"cli-{alg}/{ds.key}",
                    f"`gpuhash digest --backend cpu --algorithm {alg}`",
                    "console script, child process",
                    ds,
                    [*gh, "digest", str(ds.root), "--backend", "cpu", "--algorithm", alg],
                    repeat,
                )
            )
            cli_lines[f"{alg}/{ds.key}"] = r.output
        throughput_rows.append(f"cli-{alg}")

    # -- gpuhash, OpenCL on this machine's CPU runtimes (when gpuhash-opencl is installed) ------
    # Intel's runtime for every algorithm; PoCL (a correctness platform here) for SHA-256 only,
    # once. The device is named explicitly; kernels are built (and cached by pyopencl) first.
    opencl_runs: list[tuple[str, str, tuple[str, ...], int]] = []
    if importlib.util.find_spec("gpuhash_opencl") is not None:
        opencl_runs = [
            ("Intel", "intel", ALGORITHMS, repeat),
            ("Portable", "pocl", ("merkle-sha256",), 1),
        ]
    for device, tag, algs, reps in opencl_runs:
        cl_cmd = [*gh, "digest", "--backend", "opencl", "--device", device]
        # Build (and let pyopencl cache) the kernels first, untimed. A runtime that cannot build
        # here (PoCL's LLVM on some CPUs: docs/backends.md) gives no rows, not a failed run.
        built = subprocess.run(
            [*cl_cmd, str(small_ds.root)], check=False, capture_output=True, text=True
        )
        if built.returncode != 0:
            why = (built.stderr.strip().splitlines() or ["no message"])[-1]
            if "failed to build" not in why:  # anything but the runtime's compiler: a failure
                raise BenchError(f"opencl {device}: {why}")
            print(f"opencl {device}: skipped, it cannot build here: {why}", file=sys.stderr)
            continue
        for alg in algs:
            for ds in (file_ds, model_ds):
                r = add(
                    time_child(
                        f"cl-{tag}-{alg}/{ds.key}",
                        f"`gpuhash digest --backend opencl --device {device} --algorithm {alg}`",
                        "console script, child process",
                        ds,
                        [*cl_cmd, str(ds.root), "--algorithm", alg],
                        reps,
                    )
                )
                cli_lines[f"cl-{tag}-{alg}/{ds.key}"] = r.output
            throughput_rows.append(f"cl-{tag}-{alg}")

    # -- gpuhash, OpenCL in-process: a warm backend object (a service or loader keeps one) -----
    if opencl_runs:
        cl_backend = gpuhash.get_backend("opencl", device="Intel")
        gpuhash.hash_path(small_ds.root, backend=cl_backend)  # kernels loaded, untimed
        for alg in ALGORITHMS:
            for ds in (file_ds, model_ds):

                def cl_call(root: Path = ds.root, a: str = alg) -> str:
                    return gpuhash.hash_path(root, algorithm=a, backend=cl_backend).digest_line()

                r = add(
                    time_call(
                        f"api-cl-intel-{alg}/{ds.key}",
                        f'`gpuhash.hash_path(..., algorithm="{alg}", backend=opencl_intel)`',
                        "in-process, backend created once",
                        ds,
                        cl_call,
                        repeat,
                    )
                )
                cli_lines[f"api-cl-intel-{alg}/{ds.key}"] = r.output
            throughput_rows.append(f"api-cl-intel-{alg}")
        cl_backend.close()

    # -- the same kernels through SYCL (dpctl): the intel backend, in-process --------------------
    # dpctl keeps no binary cache, so each family's program is built by an untimed call first.
    # The CPU runtime accepts host pointers (system USM allocations), so the backend reads the
    # mapped file in place; one row turns that off and copies into USM device memory, the path
    # of every other device, to show what the copy costs.
    intel_runs = importlib.util.find_spec("gpuhash_intel") is not None and bool(opencl_runs)
    if intel_runs:
        import gpuhash_intel

        sycl_backend = gpuhash_intel.IntelBackend(device="opencl:cpu")
        copying = gpuhash_intel.IntelBackend(device="opencl:cpu")
        copying.shares_host_memory = False
        for alg in ALGORITHMS:
            gpuhash.hash_path(small_ds.root, algorithm=alg, backend=sycl_backend)  # builds
        gpuhash.hash_path(small_ds.root, backend=copying)
        for tag, what, be, algs in (
            ("api-sycl-intel", "backend=intel_sycl", sycl_backend, ALGORITHMS),
            ("api-syclcopy-intel", "backend=intel_sycl_copying", copying, ("merkle-sha256",)),
        ):
            for alg in algs:
                for ds in (file_ds, model_ds):

                    def sycl_call(root: Path = ds.root, a: str = alg, b: Any = be) -> str:
                        return gpuhash.hash_path(root, algorithm=a, backend=b).digest_line()

                    r = add(
                        time_call(
                            f"{tag}-{alg}/{ds.key}",
                            f'`gpuhash.hash_path(..., algorithm="{alg}", {what})`',
                            "in-process, backend created once",
                            ds,
                            sycl_call,
                            repeat,
                        )
                    )
                    cli_lines[f"{tag}-{alg}/{ds.key}"] = r.output
                throughput_rows.append(f"{tag}-{alg}")
        r = add(
            time_child(
                f"cl-sycl-merkle-sha256/{file_ds.key}",
                "`gpuhash digest --backend intel --device opencl:cpu` (builds its program)",
                "console script, child process",
                file_ds,
                [*gh, "digest", str(file_ds.root), "--backend", "intel", "--device", "opencl:cpu"],
                1,
            )
        )
        cli_lines[f"cl-sycl-merkle-sha256/{file_ds.key}"] = r.output
        sycl_backend.close()
        copying.close()

    # -- gpuhash, in-process -------------------------------------------------------------------
    gpuhash.hash_path(small_ds.root, backend="cpu")  # imports and first-use costs, untimed
    api_manifests: dict[str, gpuhash.Manifest] = {}
    for alg in IN_PROCESS_ALGORITHMS:
        for ds in (file_ds, model_ds):
            holder: list[gpuhash.Manifest] = []

            def call(root: Path = ds.root, a: str = alg, h: list[Any] = holder) -> str:
                m = gpuhash.hash_path(root, algorithm=a, backend="cpu")
                h[:] = [m]
                return m.digest_line()

            add(
                time_call(
                    f"api-{alg}/{ds.key}",
                    f'`gpuhash.hash_path(..., algorithm="{alg}", backend="cpu")`',
                    "in-process",
                    ds,
                    call,
                    repeat,
                )
            )
            api_manifests[f"{alg}/{ds.key}"] = holder[0]
        throughput_rows.append(f"api-{alg}")

    # -- leaf-size sweep -----------------------------------------------------------------------
    sweep = []
    for name, leaf in LEAF_SIZES:
        r = add(
            time_call(
                f"leaf-{name}/{file_ds.key}",
                f"merkle-sha256, {name} leaves",
                "in-process",
                file_ds,
                functools.partial(_merkle_leaf, file_ds.root, leaf),
                repeat,
            )
        )
        sweep.append({"leaf": name, "leaf_bytes": leaf, "best_s": r.best, "gb_per_s": r.gbps})

    # -- 4 GiB model: peak RSS -----------------------------------------------------------------
    big_report: dict[str, Any] | None = None
    if big_ds is not None:
        rows: list[tuple[str, str]] = []
        # The target's command (default algorithm), best of N and the largest RSS of N runs;
        # then each other algorithm once, for information.
        r = add(
            time_child(
                "big-default/big",
                "`gpuhash digest --backend cpu` (4 GiB)",
                "console script, child process",
                big_ds,
                [*gh, "digest", str(big_ds.root), "--backend", "cpu"],
                repeat,
            )
        )
        rows.append((r.key, ""))
        for alg in ALGORITHMS[1:]:
            r = add(
                time_child(
                    f"big-{alg}/big",
                    f"`gpuhash digest --backend cpu --algorithm {alg}` (4 GiB)",
                    "console script, child process",
                    big_ds,
                    [*gh, "digest", str(big_ds.root), "--backend", "cpu", "--algorithm", alg],
                    1,
                )
            )
            rows.append((r.key, f" --algorithm {alg}"))
        big_report = {
            "label": big_ds.label,
            "files": len(big_ds.files),
            "bytes": big_ds.nbytes,
            "rows": rows,
        }
    load_after = load_state()
    log(f"load after measuring: {load_after}")

    # -- consistency checks --------------------------------------------------------------------
    checks = []
    for key, line in cli_lines.items():
        if key in api_manifests:
            checks.append(
                {
                    "check": f"`gpuhash digest` and `hash_path` agree ({key})",
                    "ok": api_manifests[key].digest_line() == line,
                }
            )
    for key, line in cli_lines.items():
        if key.startswith(("cl-", "api-cl")) or "-intel-" in key:
            same = key.split("-intel-", 1)[-1].split("-pocl-", 1)[-1]  # -> "<alg>/<ds>"
            same = same.removeprefix("cl-sycl-")
            checks.append(
                {
                    "check": f"opencl and cpu `gpuhash digest` agree ({key})",
                    "ok": line == cli_lines[same],
                }
            )
    b3_file = api_manifests[f"blake3/{file_ds.key}"].objects[0].digest.hex()
    checks.append(
        {
            "check": "gpuhash blake3 object digest == blake3 package (file)",
            "ok": b3_file == peer_hashes[f"blake3-1/{file_ds.key}"]
            and b3_file == peer_hashes[f"blake3-auto/{file_ds.key}"],
        }
    )
    b3_model = {o.name: o.digest.hex() for o in api_manifests[f"blake3/{model_ds.key}"].objects}
    pkg_model = dict(
        zip(
            [p.relative_to(model_ds.root).as_posix() for p in model_ds.paths()],
            peer_hashes[f"blake3-auto/{model_ds.key}"].split(","),
            strict=True,
        )
    )
    checks.append(
        {
            "check": "gpuhash blake3 object digests == blake3 package (model, every file)",
            "ok": b3_model == pkg_model,
        }
    )
    sha_model = dict(
        zip(
            [p.relative_to(model_ds.root).as_posix() for p in model_ds.paths()],
            peer_hashes[f"sha256/{model_ds.key}"].split(","),
            strict=True,
        )
    )
    checks.append(
        {
            "check": "model_signing per-file SHA-256 == hashlib (model, every file)",
            "ok": ms_digests[model_ds.key] == sha_model,
        }
    )
    checks.append(
        {
            "check": "model_signing SHA-256 == hashlib (file)",
            "ok": list(ms_digests[file_ds.key].values()) == [peer_hashes[f"sha256/{file_ds.key}"]],
        }
    )
    checks.append(
        {
            "check": f"model_signing default digest algorithm is sha256 ({sorted(ms_algorithms)})",
            "ok": ms_algorithms == {"sha256"},
        }
    )

    # -- targets -------------------------------------------------------------------------------
    targets = []
    h = results[f"hashlib/{file_ds.key}"]
    a = results[f"cli-merkle-sha256/{file_ds.key}"]
    ratio = a.gbps / h.gbps
    targets.append(
        {
            "id": "a",
            "target": f"(a) `gpuhash digest --backend cpu` merkle-sha256, {file_ds.label}, "
            f">= {SPEEDUP_TARGET} x single-stream hashlib",
            "measured": f"{a.gbps:.2f} GB/s vs hashlib {h.gbps:.2f} GB/s = {ratio:.2f} x",
            "value": ratio,
            "result": "PASS" if ratio >= SPEEDUP_TARGET else "FAIL",
        }
    )
    b = results[f"cli-blake3/{file_ds.key}"]
    targets.append(
        {
            "id": "b",
            "target": f"(b) `gpuhash digest --backend cpu --algorithm blake3`, {file_ds.label}, "
            f">= {BLAKE3_TARGET_GBPS} GB/s",
            "measured": f"{b.gbps:.2f} GB/s ({b.best:.3f} s)",
            "value": b.gbps,
            "result": "PASS" if b.gbps >= BLAKE3_TARGET_GBPS else "FAIL",
        }
    )
    if big_ds is not None:
        c = results["big-default/big"]
        rss = c.peak_rss or 0
        worst_key = max(
            (k for k in results if k.startswith("big-")), key=lambda k: results[k].peak_rss or 0
        )
        worst = results[worst_key].peak_rss or 0
        targets.append(
            {
                "id": "c",
                "target": f"(c) peak RSS of `gpuhash digest --backend cpu`, {big_ds.label}, "
                "<= 256 MB (256e6 bytes)",
                "measured": f"{rss / 1e6:.0f} MB ({rss / MIB:.0f} MiB), largest of {len(c.times)} "
                f"runs; all algorithms: up to {worst / 1e6:.0f} MB ({worst_key.split('/')[0]})",
                "value": rss,
                "result": "PASS" if rss <= RSS_LIMIT else "FAIL",
            }
        )
    else:
        targets.append(
            {
                "id": "c",
                "target": "(c) peak RSS <= 256 MB hashing a 4 GiB model",
                "measured": "not measured (--quick)",
                "value": None,
                "result": "SKIP",
            }
        )
    d = results["gpuhash-small"]
    targets.append(
        {
            "id": "d",
            "target": f"(d) `gpuhash digest SMALL` ({small_ds.nbytes} bytes, "
            f"{len(small_ds.files)} files), best of {len(d.times)}, <= {SMALL_TARGET_S} s",
            "measured": f"{d.best:.3f} s (python -c pass: {results['python'].best:.3f} s)",
            "value": d.best,
            "result": "PASS" if d.best <= SMALL_TARGET_S else "FAIL",
        }
    )

    if opencl_runs:
        e = results[f"api-cl-intel-merkle-sha256/{file_ds.key}"]
        e_cmd = results[f"cl-intel-merkle-sha256/{file_ds.key}"]
        targets.append(
            {
                "id": "e",
                "target": "(e) merkle-sha256 through `opencl` on Intel's CPU runtime, end to end "
                f"from a hot {file_ds.label} (file to digest, backend created once), "
                f">= {OPENCL_TARGET_GBPS} GB/s",
                "measured": f"{e.gbps:.2f} GB/s ({e.best:.3f} s); as a command with interpreter "
                f"and OpenCL start-up: {e_cmd.gbps:.2f} GB/s ({e_cmd.best:.3f} s)",
                "value": e.gbps,
                "result": "PASS" if e.gbps >= OPENCL_TARGET_GBPS else "FAIL",
            }
        )

    if intel_runs:
        f_sycl = results[f"api-sycl-intel-merkle-sha256/{file_ds.key}"]
        f_cl = results[f"api-cl-intel-merkle-sha256/{file_ds.key}"]
        f_copy = results[f"api-syclcopy-intel-merkle-sha256/{file_ds.key}"]
        gap = f_sycl.best / f_cl.best - 1
        targets.append(
            {
                "id": "f",
                "target": "(f) `intel` (SYCL) within 10 % of `opencl` on Intel's CPU runtime, "
                f"merkle-sha256, {file_ds.label}, in-process",
                "measured": f"intel {f_sycl.best:.3f} s vs opencl {f_cl.best:.3f} s: "
                f"{gap * 100:+.0f} %; intel copying into USM device memory (the path of "
                f"devices without system allocations): {f_copy.best:.3f} s",
                "value": gap,
                "result": "PASS" if gap <= 0.10 else "FAIL",
            }
        )

    report: dict[str, Any] = {
        "schema": "gpuhash-benchmarks/1",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "units": {"time": "seconds, best of the runs", "throughput": "GB/s, 1 GB = 1e9 bytes"},
        "config": {
            "size_mib": args.size_mib,
            "repeat": repeat,
            "quick": args.quick,
            "gpuhash_command": gh_how,
            "cache": "warm (the data set read once right before each measurement)",
        },
        "machine": mach,
        "load_before": load_before,
        "load_after": load_after,
        "datasets": {
            ds.key: {
                "label": ds.label,
                "bytes": ds.nbytes,
                "files": len(ds.files),
                "warm_read_s": warm_s.get(ds.key),
            }
            for ds in (file_ds, model_ds, small_ds, big_ds)
            if ds is not None
        },
        "throughput_rows": throughput_rows,
        "startup_rows": startup_rows,
        "leaf_sweep": sweep,
        "big_model": big_report,
        "targets": targets,
        "checks": checks,
        "results": [r.as_dict() for r in results.values()],
    }
    sys.stdout.write(render(report, results) + "\n")
    sys.stdout.flush()
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
