"""``gpuhash selftest cuda --compile-only``: every program compiled by every NVRTC installed.

No GPU and no CuPy are needed: each NVRTC of the environment (``gpuhash_cuda.nvrtc``: the
``nvidia-cuda-nvrtc-cu12`` and ``nvidia-cuda-nvrtc`` 13.x wheels, a CUDA toolkit) compiles each
program of ``gpuhash_cuda.program.PROGRAMS`` for each architecture, with the options the
backend builds with. One compilation gives both the cubin and the PTX, which must list every
kernel the backend launches from that program; the cubin must record the registers of each of
those kernels (``gpuhash_cuda.cubin``), at most ``gpuhash.geometry.MAX_KERNEL_REGISTERS`` a
thread, what the backend's block sizes are checked against (:func:`assess`). The compilations
run on threads (``ctypes`` releases the GIL), as many at once as there are CPUs.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gpuhash.errors import BackendUnavailable
from gpuhash.geometry import MAX_KERNEL_REGISTERS
from gpuhash_cuda import nvrtc
from gpuhash_cuda.cubin import CubinError, kernel_resources
from gpuhash_cuda.program import PROGRAMS, cuda_source, kernel_names

__all__ = ["ARCHITECTURES", "INSTALL", "OPTIONS", "assess", "build_options", "compile_check"]

#: The architectures CI compiles for (A100, H100).
ARCHITECTURES = ("sm_80", "sm_90")
#: NVRTC options of every build (the backend's and the checks').
OPTIONS = ("-std=c++14",)


def build_options(register_cap: int | None = None) -> tuple[str, ...]:
    """The NVRTC options of the backend's builds: :data:`OPTIONS`, and the registers each
    thread may use where blocks are too large for the kernels' own counts
    (``gpuhash.geometry.register_cap``: 64 for blocks of 1024 threads)."""
    if register_cap is None:
        return OPTIONS
    return (*OPTIONS, f"--maxrregcount={register_cap}")


#: CuPy and NVRTC for the driver's CUDA major version: the backend's extras.
INSTALL = (
    'python -m pip install "gpuhash-cuda[cuda12]" ("gpuhash-cuda[cuda13]" for a CUDA 13 driver)'
)


def assess(program: str, out: nvrtc.Compiled) -> tuple[bool, str]:
    """Whether ``out``, NVRTC's build of ``program``, is one the backend can launch, and the
    detail a selftest check shows: a cubin, every kernel the backend launches from the program
    in its PTX and with a register count in its cubin (the geometry sizes blocks from it), and no
    kernel over :data:`MAX_KERNEL_REGISTERS`. Raises :class:`CubinError` for a cubin that cannot
    be read."""
    wanted = kernel_names(program)
    missing = [k for k in wanted if f".entry {k}(" not in out.ptx]
    used = kernel_resources(out.cubin) if out.cubin else {}
    uncounted = [k for k in wanted if k not in used]
    over = [k for k, r in used.items() if r.registers > MAX_KERNEL_REGISTERS]
    passed = bool(out.cubin) and not missing and not uncounted and not over
    detail = f"cubin {len(out.cubin)} bytes, PTX: " + (
        f"missing kernels: {', '.join(missing)}" if missing else f"{len(wanted)} kernels"
    )
    heavy = max(used, key=lambda k: used[k].registers, default=None)
    if heavy is not None:
        frame = max(r.frame_bytes for r in used.values())
        detail += f", registers up to {used[heavy].registers} ({heavy}), frames up to {frame} B"
    if uncounted:
        detail += f"; no register count in the cubin: {', '.join(uncounted)}"
    if over:
        detail += f"; over {MAX_KERNEL_REGISTERS} registers: {', '.join(sorted(over))}"
    if out.log:
        detail += f"; log: {' '.join(out.log.split())[:300]}"
    return passed, detail


def compile_check(
    architectures: tuple[str, ...] = ARCHITECTURES, libraries: list[str] | None = None
) -> list[Any]:
    """Compile every program with each NVRTC library (default: every one found) for each
    architecture, without a GPU; one selftest ``Check`` per library, architecture and program,
    named ``nvrtc <version> <arch> <program>``."""
    from gpuhash.selftest import Check

    paths = nvrtc.libraries() if libraries is None else libraries
    if not paths:
        raise BackendUnavailable(
            f"backend 'cuda': no NVRTC library found; install one with: {INSTALL}"
        )
    compilers = [nvrtc.Nvrtc.load(p) for p in paths]
    sources = {name: cuda_source(name) for name in PROGRAMS}
    shown = [(c, arch, name) for c in compilers for arch in architectures for name in PROGRAMS]
    # The hashing programs first (the digest programs are short), so the last compilations to
    # start are short ones.
    jobs = sorted(shown, key=lambda job: (job[2].endswith("-digests"), job[2] != "sha512"))

    def run(job: tuple[nvrtc.Nvrtc, str, str]) -> Check:
        compiler, arch, name = job
        start = time.perf_counter()
        families = ",".join(PROGRAMS[name])
        try:
            out = compiler.compile(sources[name], f"gpuhash-{name}.cu", arch, OPTIONS)
            passed, detail = assess(name, out)
        except (nvrtc.NvrtcError, CubinError) as e:
            passed, detail = False, " ".join(str(e).split())[:400]
        check_name = f"nvrtc {compiler.version_text} {arch} {name}"
        return Check(check_name, families, passed, detail, time.perf_counter() - start)

    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gpuhash-nvrtc") as pool:
        done = dict(zip(jobs, pool.map(run, jobs), strict=True))
    return [done[job] for job in shown]
