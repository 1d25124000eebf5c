"""The ``cuda`` backend (backends/cuda, CuPy + NVRTC).

These machines have no GPU. What runs here: NVRTC 12 and NVRTC 13 compile every kernel for
sm_80 and sm_90 (``gpuhash selftest cuda --compile-only``, through ``gpuhash_cuda.nvrtc``), the
per-program sources and build cache, CuPy's choice of NVRTC, the backend reports itself
unavailable with the reason, CUDA device arrays are recognised by the engine and refused by the
other backends.
Tests that need a GPU are marked ``cuda_gpu`` and skip with a reason when none is present.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import threading
from typing import Any

import gpuhash_cuda
import pytest
from gpuhash_cuda import nvrtc
from gpuhash_cuda.checks import OPTIONS, assess, build_options
from gpuhash_cuda.cubin import CubinError, kernel_resources
from gpuhash_cuda.program import ProgramCache

import gpuhash
from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES, Algorithm, family_info
from gpuhash.device import DIGEST_PRIMITIVES, staged_local_sizes
from gpuhash.engine import hash_sources
from gpuhash.errors import BackendError, BackendUnavailable, InputError
from gpuhash.geometry import ASSUMED_REGISTERS, MAX_KERNEL_REGISTERS, DeviceLimits, register_cap
from gpuhash.kernels import BACKEND_FILES, FAMILY_MACROS, KERNEL_FILES, kernel_name
from gpuhash.sources import DeviceBytes, memory_source


def _gpu_count() -> int:
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


HAVE_GPU = _gpu_count() > 0
needs_gpu = pytest.mark.skipif(not HAVE_GPU, reason="no CUDA GPU on this machine")


#: The NVRTC wheels requirements-dev.txt installs side by side, and their CUDA major versions.
NVRTC_WHEELS = {"nvidia-cuda-nvrtc-cu12": 12, "nvidia-cuda-nvrtc": 13}


def _installed_nvrtc() -> dict[int, str]:
    """CUDA major version -> ``major.minor`` of each NVRTC wheel installed here."""
    found = {}
    for name, major in NVRTC_WHEELS.items():
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[major] = ".".join(version.split(".")[:2])
    return found


def test_the_development_environment_has_nvrtc_12_and_13() -> None:
    """requirements-dev.txt installs both NVRTC wheels, so the compile check below compiles with
    both; each is found where its wheel puts it, and loads as the version its wheel says."""
    installed = _installed_nvrtc()
    assert set(installed) == {12, 13}
    found = {nvrtc.major_of(p): p for p in nvrtc.wheel_libraries()}
    assert set(found) == {12, 13}
    for major, path in found.items():
        assert major is not None
        assert nvrtc.Nvrtc.load(path).version_text == installed[major]


@pytest.mark.slow
def test_every_kernel_compiles_with_nvrtc_12_and_13_for_sm80_and_sm90() -> None:
    """The CLI's compile-only self-test: each program (one per hash file, and the plain-digest
    programs) compiled by every NVRTC installed, for each architecture, to a cubin and to PTX
    listing every kernel the backend launches from it (exit status 0 only if all pass)."""
    run = subprocess.run(
        [sys.executable, "-m", "gpuhash", "selftest", "cuda", "--compile-only", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["passed"] is True
    names = [c["name"] for c in report["checks"]]
    versions = sorted(_installed_nvrtc().values())
    assert len(versions) == 2
    want = [
        f"nvrtc {v} {arch} {program}"
        for v in versions
        for arch in ("sm_80", "sm_90")
        for program in gpuhash_cuda.PROGRAMS
    ]
    assert sorted(names) == sorted(want)
    for c in report["checks"]:
        program = c["name"].split()[-1]
        assert c["family"] == ",".join(gpuhash_cuda.PROGRAMS[program])
        assert f"PTX: {len(gpuhash_cuda.kernel_names(program))} kernels" in c["detail"]
        # The geometry sizes windows for hashing kernels of at most ASSUMED_REGISTERS a
        # thread; every kernel (the plain digests too) has at most MAX_KERNEL_REGISTERS.
        found = re.search(r"registers up to (\d+) ", c["detail"])
        assert found is not None, c["detail"]
        bound = MAX_KERNEL_REGISTERS if program.endswith("-digests") else ASSUMED_REGISTERS
        assert int(found[1]) <= bound, c["detail"]


def test_blocks_of_1024_threads_get_kernels_built_within_their_register_share() -> None:
    """An H200 block of 1024 threads leaves 64 registers a thread (SHA-512's kernels take 96):
    the backend's options for that size make NVRTC build every kernel within them."""
    h200 = DeviceLimits(132, 1024, 227 << 10, 141 << 30, 140 << 30, True, registers_per_group=65536)
    cap = register_cap(h200, 1024)
    assert cap == 64
    compiler = nvrtc.Nvrtc.load(nvrtc.libraries()[0])
    source = gpuhash_cuda.cuda_source("sha512")
    out = compiler.compile(source, "t.cu", "sm_90", build_options(cap))
    used = kernel_resources(out.cubin)
    assert sorted(used) == sorted(gpuhash_cuda.kernel_names("sha512"))
    assert max(r.registers for r in used.values()) == cap
    assert build_options(register_cap(h200, 512)) == OPTIONS


def test_the_compile_check_fails_a_build_whose_cubin_lacks_a_launched_kernel() -> None:
    """The geometry sizes blocks from each launched kernel's register count: a cubin without
    one (here another program's cubin under this program's PTX) fails the check naming the
    kernels, as does a build without a cubin; the real build passes."""
    compiler = nvrtc.Nvrtc.load(nvrtc.libraries()[0])
    digests = "sha256-digests"
    real = compiler.compile(gpuhash_cuda.cuda_source("sha256"), "t.cu", "sm_90", OPTIONS)
    other = compiler.compile(gpuhash_cuda.cuda_source(digests), "t.cu", "sm_90", OPTIONS)
    passed, detail = assess("sha256", real)
    assert passed, detail
    launched = gpuhash_cuda.kernel_names("sha256")
    assert not set(launched) & set(kernel_resources(other.cubin))
    passed, detail = assess("sha256", nvrtc.Compiled(real.target, other.cubin, real.ptx, ""))
    assert not passed
    assert detail.endswith(f"; no register count in the cubin: {', '.join(launched)}")
    passed, detail = assess("sha256", nvrtc.Compiled(real.target, b"", real.ptx, ""))
    assert not passed
    assert "no register count in the cubin" in detail
    passed, detail = assess(digests, other)
    assert passed, detail


def test_cubin_resources_are_read_or_refused_in_one_error() -> None:
    """Registers and frames of a small kernel (an array indexed at run time lives in its
    frame); every truncation of the cubin and a few corruptions are a CubinError, never another
    exception."""
    compiler = nvrtc.Nvrtc.load(nvrtc.libraries()[0])
    code = (
        'extern "C" __global__ void k(unsigned *x, int n) {\n'
        "  unsigned a[16];\n  for (int j = 0; j < 16; j++) a[j] = x[j];\n"
        "  for (int j = 0; j < n; j++) a[x[j] & 15] += a[(x[j] >> 4) & 15];\n"
        "  x[0] = a[n & 15];\n}"
    )
    cubin = compiler.compile(code, "t.cu", "sm_90").cubin
    used = kernel_resources(cubin)
    assert list(used) == ["k"]
    assert used["k"].registers > 0
    assert used["k"].frame_bytes == 64  # a[16], indexed by the data
    for cut in range(0, len(cubin), 97):
        try:
            got = kernel_resources(cubin[:cut])
        except CubinError:
            continue
        assert got == {} or got == used
    for bad in (b"", b"\x7fELF", cubin[:4] + b"\x01" + cubin[5:], b"\0" * 64):
        with pytest.raises(CubinError):
            kernel_resources(bad)


def test_a_compile_error_names_the_nvrtc_version_and_the_line() -> None:
    for path in nvrtc.libraries():
        compiler = nvrtc.Nvrtc.load(path)
        with pytest.raises(nvrtc.NvrtcError) as caught:
            compiler.compile(
                'extern "C" __global__ void k(int *x) {\n x[0] = y;\n}', "t.cu", "sm_80"
            )
        text = str(caught.value)
        assert text.startswith(f"NVRTC {compiler.version_text} nvrtcCompileProgram: ")
        assert 't.cu(2): error: identifier "y" is undefined' in text
        assert "\n" not in text
        out = compiler.compile(
            'extern "C" __global__ void k(int *x) { x[0] = 1; }', "t.cu", "sm_90"
        )
        assert out.cubin[:4] == b"\x7fELF"
        assert ".entry k(" in out.ptx
        virtual = compiler.compile('extern "C" __global__ void k(int *x) {}', "t.cu", "compute_90")
        assert (virtual.cubin, ".target sm_90" in virtual.ptx) == (b"", True)


def test_without_nvrtc_the_compile_check_names_both_extras() -> None:
    with pytest.raises(BackendUnavailable) as caught:
        gpuhash_cuda.compile_check(libraries=[])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("backend 'cuda': no NVRTC library found; install one with: ")
    assert '"gpuhash-cuda[cuda12]"' in message
    assert '"gpuhash-cuda[cuda13]"' in message


def test_without_cupy_the_backend_is_unavailable_naming_both_extras(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # what Python does for a missing module
    probe = gpuhash_cuda.CudaBackend.probe()
    assert not probe.available
    assert probe.reason == f"needs CuPy; install it with: {gpuhash_cuda.INSTALL}"
    assert gpuhash_cuda.INSTALL == (
        'python -m pip install "gpuhash-cuda[cuda12]" ("gpuhash-cuda[cuda13]" for a CUDA 13 driver)'
    )


def test_a_cupy_newer_than_the_driver_is_named_with_the_extra_to_install() -> None:
    assert gpuhash_cuda.driver_hint(13000, 12080) == (
        "; this CuPy is for CUDA 13, the driver supports CUDA 12.8: "
        'install "gpuhash-cuda[cuda12]" instead, or a newer driver'
    )
    assert gpuhash_cuda.driver_hint(13000, 11080).endswith("supports CUDA 11.8")
    assert gpuhash_cuda.driver_hint(12090, 13000) == ""  # a CUDA 13 driver runs CUDA 12 CuPy
    assert gpuhash_cuda.driver_hint(13000, 13020) == ""
    assert gpuhash_cuda.driver_hint(13000, 0) == ""  # no driver: the error says so already


_CUPY_NVRTC = """
import sys
from gpuhash_cuda import nvrtc
if sys.argv[1] == "prefer":
    print(nvrtc.prefer(12) is not None)
from cupy_backends.cuda.libs import nvrtc as cupy_nvrtc
print(".".join(map(str, cupy_nvrtc.getVersion())))
"""


def test_cupy_12_compiles_with_nvrtc_12_when_nvrtc_13_is_installed_too() -> None:
    """CuPy 14 takes the first NVRTC cuda-pathfinder finds, and that is NVRTC 13 when both
    wheels are installed: cupy-cuda12x would then compile what a CUDA 12 driver cannot load.
    The backend loads the NVRTC of CuPy's own CUDA version first (nvrtc.prefer), which CuPy
    then takes."""
    import cupy

    assert cupy.cuda.runtime.runtimeGetVersion() // 1000 == 12  # cupy-cuda12x (requirements-dev)
    installed = _installed_nvrtc()

    def cupy_nvrtc(mode: str) -> list[str]:
        run = subprocess.run(
            [sys.executable, "-c", _CUPY_NVRTC, mode], capture_output=True, text=True, check=True
        )
        return run.stdout.split()

    assert cupy_nvrtc("plain") == [installed[13]]
    assert cupy_nvrtc("prefer") == ["True", installed[12]]


_PREFER_LOADS = """
import sys
from pathlib import Path
from gpuhash_cuda import nvrtc
path = nvrtc.prefer(int(sys.argv[1]))
maps = Path("/proc/self/maps").read_text()
print(path is not None, sorted({Path(line.split()[-1]).name for line in maps.splitlines()
                               if "libnvrtc" in line}))
"""


@pytest.mark.parametrize("major", [12, 13])
def test_the_preferred_nvrtc_is_loaded_with_its_builtins(major: int) -> None:
    """prefer() loads NVRTC before CuPy does, so cuda-pathfinder, which preloads the builtins
    the NVRTC 13.0 wheel cannot find by itself, finds NVRTC loaded and preloads nothing: prefer
    loads the builtins beside the library itself, as the compile check's binding does."""
    run = subprocess.run(
        [sys.executable, "-c", _PREFER_LOADS, str(major)],
        capture_output=True,
        text=True,
        check=True,
    )
    version = _installed_nvrtc()[major]
    assert run.stdout.split(" ", 1) == [
        "True",
        f"['libnvrtc-builtins.so.{version}', 'libnvrtc.so.{major}']\n",
    ]


def test_compile_only_is_refused_for_backends_without_it() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "gpuhash", "selftest", "cpu", "--compile-only"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.strip().endswith("backend 'cpu' has no compile-only check")


def test_kernel_names_cover_every_family() -> None:
    names = gpuhash_cuda.kernel_names()
    for family in FAMILIES:
        f = family.replace("-", "_")
        assert {f"leaves_{f}", f"leaves_staged_{f}", f"nodes_{f}", f"tree_{f}"} <= set(names)


def _launches() -> list[tuple[str, str]]:
    """Every (family, kernel) pair gpuhash.device launches."""
    pairs = []
    for family in FAMILIES:
        pairs += [(family, kernel_name(k, family)) for k in ("leaves", "leaves_staged")]
        pairs += [(family, kernel_name(k, family)) for k in ("nodes", "tree")]
        pairs.append((family, "gather_values"))
    pairs += [(family, f"digest_{p}") for p, (family, _) in DIGEST_PRIMITIVES.items()]
    return pairs


def test_every_launch_finds_its_kernel_in_one_program_of_its_family() -> None:
    """One program per hash file (the two Keccak families share one) and one per plain digest:
    every kernel launched for a family is in the program program_for names, which holds that
    family, and the programs together hold every kernel (once each, but gather_values)."""
    programs = gpuhash_cuda.PROGRAMS
    assert list(programs) == [
        "sha256", "sha512", "keccak", "blake3", "sha256-digests", "sha512-digests",
        "keccak-digests",
    ]  # fmt: skip
    assert programs["keccak"] == ("merkle-sha3-256", "lthash16-shake256")
    for family, kernel in _launches():
        program = gpuhash_cuda.program_for(family, kernel)
        assert family in programs[program]
        assert kernel in gpuhash_cuda.kernel_names(program)
    every = [k for p in programs for k in gpuhash_cuda.kernel_names(p)]
    assert sorted(set(every)) == sorted(gpuhash_cuda.kernel_names())
    assert len(every) - len(set(every)) == 3  # gather_values, in each of the 4 hashing programs
    # With no program: one unit of every kernel file and family (what the GPU check measures).
    whole = gpuhash_cuda.cuda_source()
    assert re.findall(r'^#line 1 "([\w.]+)"$', whole, re.M)[: len(KERNEL_FILES)] == [*KERNEL_FILES]
    assert len(re.findall(r"^#define GH_WITH_\w+ 1$", whole, re.M)) == len(
        set(FAMILY_MACROS.values())
    )


@pytest.mark.parametrize("program", list(gpuhash_cuda.PROGRAMS))
def test_a_program_s_source_holds_its_families_only(program: str) -> None:
    """The translation unit of one program defines only its families' guard macro and writes
    only their staged wrappers; a digest program has no leaf or node kernels (and so no
    epilogue) at all."""
    text = gpuhash_cuda.cuda_source(program)
    families = gpuhash_cuda.PROGRAMS[program]
    macros = {FAMILY_MACROS[f] for f in families}
    assert re.findall(r"^#define (GH_WITH_\w+) 1$", text, re.M) == sorted(macros)
    staged = re.findall(r"^GH_CUDA_STAGED\w*\((\w+),", text, re.M)
    files = re.findall(r'^#line 1 "([\w.]+)"$', text, re.M)
    if program.endswith("-digests"):
        assert staged == []
        assert files == ["common.cl", family_info(families[0]).kernel_file, "digests.cl"]
    else:
        assert staged == [f.replace("-", "_") for f in families]
        own = family_info(families[0]).kernel_file
        shared = [
            n for n in BACKEND_FILES if n not in {family_info(f).kernel_file for f in FAMILIES}
        ]
        assert files == [shared[0], own, *shared[1:], "epilogue.cuh", "staged_wrappers"]
        assert shared == ["common.cl", "leaves.cl", "nodes.cl"]
    with pytest.raises(ValueError, match="no CUDA program 'md5'; programs: sha256, sha512"):
        gpuhash_cuda.cuda_source("md5")


def test_programs_are_built_once_each_and_side_by_side() -> None:
    """The backend's build cache: a thread building one program does not hold up a thread that
    wants another (SHA-256 never waits for Keccak), threads that want the same program wait for
    its one build, and a build that fails is tried again next time."""
    keccak_started = threading.Event()
    release_keccak = threading.Event()
    builds: list[str] = []
    failures = [1]

    def build(name: str) -> str:
        builds.append(name)
        if name == "keccak":
            keccak_started.set()
            assert release_keccak.wait(10)
        if name == "blake3" and failures:
            failures.pop()
            raise RuntimeError("NVRTC failed")
        return f"module {name}"

    cache = ProgramCache(build)
    got: dict[str, str] = {}
    keccak = [threading.Thread(target=lambda: got.update(k=cache.get("keccak"))) for _ in range(3)]
    for t in keccak:
        t.start()
    assert keccak_started.wait(10)
    assert cache.get("sha256") == "module sha256"  # while keccak is still building
    assert cache.built() == ["sha256"]
    release_keccak.set()
    for t in keccak:
        t.join(10)
    assert got == {"k": "module keccak"}
    with pytest.raises(RuntimeError, match="NVRTC failed"):
        cache.get("blake3")
    assert cache.get("blake3") == "module blake3"
    assert sorted(builds) == ["blake3", "blake3", "keccak", "sha256"]
    assert cache.built() == ["sha256", "keccak", "blake3"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("group", [1, 7, 64, 256])
def test_shared_memory_covers_the_carved_buffers(family: str, group: int) -> None:
    """The dynamic shared memory the host asks for equals the epilogue's carving: each of the
    four buffers starts at a multiple of 8 bytes after the previous one."""
    sizes = staged_local_sizes(family, group)
    at = 0
    for size in sizes:
        at += (-at) % 8
        at += size
    assert gpuhash_cuda.staged_shared_bytes(sizes) == at
    assert at >= sum(sizes)


@pytest.mark.skipif(HAVE_GPU, reason="a CUDA GPU is present")
def test_without_a_gpu_the_backend_is_unavailable_with_the_reason() -> None:
    with pytest.raises(BackendUnavailable, match="backend 'cuda': no usable CUDA driver or device"):
        gpuhash_cuda.CudaBackend()
    info = {i.name: i for i in gpuhash.available_backends()}["cuda"]
    assert not info.available
    assert "no usable CUDA driver or device" in info.reason


@pytest.mark.skipif(HAVE_GPU, reason="a CUDA GPU is present")
def test_a_build_that_cupy_fails_with_a_runtime_error_is_one_backend_error() -> None:
    """CuPy reports most build failures as RuntimeError, not CompileException: no CUDA headers
    (``assemble_cupy_compiler_options``), no NVRTC (``DynamicLibNotFoundError``), an NVRTC
    call (``NVRTCError``), a CUDA error loading the module. Here the real one is CuPy's CUDA
    error without a driver, raised on the build thread: it arrives as one BackendError line
    naming the device and the program, not as CuPy's exception. (The backend is only as far
    built as the build needs: a real one cannot be made without a GPU.)"""
    import cupy

    backend = object.__new__(gpuhash_cuda.CudaBackend)
    backend._cupy = cupy
    backend.label = "cuda:0 (no GPU)"
    backend._device = cupy.cuda.Device(0)
    backend._options = OPTIONS
    with pytest.raises(BackendError) as e:
        backend._build_program("sha256")
    message = str(e.value)
    assert message.startswith("cuda device cuda:0 (no GPU): the sha256 kernels failed to build: ")
    assert "cudaError" in message
    assert "\n" not in message


def test_kvikio_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """GPUDirect Storage reads: used when kvikio is installed, required with
    GPUHASH_CUDA_KVIKIO=1 (a clear error with the install command when it is missing), never
    used with 0; any other value is a usage error."""
    import importlib.util

    from gpuhash.errors import UsageError

    have_kvikio = importlib.util.find_spec("kvikio") is not None
    monkeypatch.setenv("GPUHASH_CUDA_KVIKIO", "0")
    assert gpuhash_cuda.kvikio_module() is None
    assert gpuhash_cuda.kvikio_module(False) is None
    monkeypatch.delenv("GPUHASH_CUDA_KVIKIO")
    assert (gpuhash_cuda.kvikio_module() is not None) == have_kvikio
    monkeypatch.setenv("GPUHASH_CUDA_KVIKIO", "yes")
    with pytest.raises(UsageError, match="GPUHASH_CUDA_KVIKIO must be 0 or 1, not 'yes'"):
        gpuhash_cuda.kvikio_module()
    if not have_kvikio:
        monkeypatch.setenv("GPUHASH_CUDA_KVIKIO", "1")
        with pytest.raises(
            BackendUnavailable, match=r'pip install "gpuhash-cuda\[gds12\]" .*\[gds13\].*CUDA 13'
        ):
            gpuhash_cuda.kvikio_module()
        with pytest.raises(BackendUnavailable, match="need kvikio"):
            gpuhash_cuda.kvikio_module(True)


class _CudaArray:
    """A device buffer as described by ``__cuda_array_interface__`` (version 3), the protocol
    CuPy, Numba and PyTorch arrays implement; the pointer is never dereferenced here."""

    def __init__(self, shape: tuple[int, ...], typestr: str, strides: Any = None) -> None:
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (0x7F0000000000, False),
            "strides": strides,
            "version": 3,
        }


def test_cuda_arrays_become_device_bytes_of_the_right_size() -> None:
    src = memory_source("t", 1, _CudaArray((3, 5), "<f4"))
    assert src.device
    assert isinstance(src.data, DeviceBytes)
    assert (src.data.interface, src.size) == ("cuda", 60)
    window = src.data[8:20]
    assert (window.start, window.nbytes) == (8, 12)
    with pytest.raises(InputError, match="C-contiguous"):
        memory_source("t", 1, _CudaArray((3, 5), "<f4", strides=(4, 12)))


def test_cuda_arrays_are_refused_by_host_and_other_device_backends() -> None:
    import gpuhash_opencl

    array = _CudaArray((100,), "|u1")
    with pytest.raises(BackendError, match="cannot hash device arrays"):
        gpuhash.hash_bytes(array, backend="cpu")
    opencl = gpuhash_opencl.OpenCLBackend(device="Intel")
    with pytest.raises(BackendError, match="CUDA device array cannot be hashed here"):
        gpuhash.hash_bytes(array, backend=opencl)


# -- on a GPU ------------------------------------------------------------------------------------


@needs_gpu
@pytest.mark.parametrize("layout", ["direct", "staged"])
def test_gpu_objects_equal_reference(layout: str) -> None:
    backend = gpuhash_cuda.CudaBackend(layout=layout)
    datas = [bytes((i * 7 + 5) % 251 for i in range(n)) for n in (0, 1, 1023, 5 * 1024 + 3)]
    for family in FAMILIES:
        srcs = [memory_source(f"o{i}", 1, d) for i, d in enumerate(datas)]
        got = hash_sources(backend, Algorithm(family, 1024), srcs, batch_bytes=8 * 1024)
        assert [o.digest for o in got] == [ref.object_digest(family, d, 1024) for d in datas]


@needs_gpu
@pytest.mark.skipif(
    importlib.util.find_spec("kvikio") is None,
    reason="kvikio (gpuhash-cuda[gds12] or [gds13]) not installed",
)
def test_gpu_files_read_by_kvikio(tmp_path: Any) -> None:
    (tmp_path / "w.bin").write_bytes(bytes((i * 7 + 5) % 251 for i in range((5 << 20) + 3)))
    (tmp_path / "s").write_bytes(b"small")
    backend = gpuhash_cuda.CudaBackend(kvikio=True)
    assert backend.capabilities().file_reads
    m = gpuhash.hash_path(tmp_path, algorithm="merkle-sha256", backend=backend)
    _, want = ref.hash_model(str(tmp_path), m.algorithm.id)
    assert m.artifact_digest == want


@needs_gpu
def test_gpu_cupy_array_hashed_in_place() -> None:
    import cupy

    host = bytes(range(256)) * 40
    on_device = cupy.asarray(bytearray(host), dtype=cupy.uint8)[13:]
    backend = gpuhash_cuda.CudaBackend()
    digest = gpuhash.hash_bytes(on_device, algorithm="merkle-sha256", backend=backend)
    assert digest == ref.object_digest("merkle-sha256", host[13:], 65536)


# -- device arrays on a GPU: ordering, layouts, torch --------------------------------------------

SPIN = r"""
extern "C" __global__ void gh_spin(long long cycles) {
    const long long t0 = clock64();
    while (clock64() - t0 < cycles) { }
}"""
N = 64 << 20


def _filled_behind_a_long_kernel(x: Any, value: int) -> None:
    """On CuPy's current stream: a kernel of about half a second, then ``x``'s fill (torch's
    ``fill_``: its default stream is the legacy default stream, as CuPy's is): the fill lands
    long after a hash that does not wait for this stream has read ``x``."""
    import cupy
    import numpy as np

    spin = cupy.RawKernel(SPIN, "gh_spin")
    spin((1,), (1,), (np.int64(1000),))  # built and loaded before the timed part
    cupy.cuda.get_current_stream().synchronize()
    spin((1,), (1,), (np.int64(800_000_000),))
    if hasattr(x, "fill_"):
        x.fill_(value)
    else:
        x.fill(value)


def _want(value: int, n: int = N) -> bytes:
    return ref.object_digest("merkle-sha256", bytes([value]) * n, 65536)


class _CaiOnly:
    def __init__(self, iface: dict[str, Any], keep: Any) -> None:
        self.__cuda_array_interface__ = iface
        self.keep = keep


class _DLPackOnly:
    """A producer with nothing but DLPack: no nbytes, no numel."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self.array.__dlpack_device__()


@needs_gpu
def test_gpu_waits_for_the_legacy_default_stream() -> None:
    """CuPy's default stream (the legacy one): the backend's non-blocking streams are not
    ordered after it by CUDA; the DLPack handshake and the event wait order them."""
    import cupy

    backend = gpuhash_cuda.CudaBackend()
    x = cupy.zeros(N, dtype=cupy.uint8)
    _filled_behind_a_long_kernel(x, 0x5A)
    assert gpuhash.hash_bytes(x, backend=backend) == _want(0x5A)
    _filled_behind_a_long_kernel(x, 0x3C)
    assert gpuhash.hash_bytes(_DLPackOnly(x), backend=backend) == _want(0x3C)


@needs_gpu
def test_gpu_waits_for_the_stream_the_producer_names() -> None:
    """Work on a non-blocking stream of the caller's: through DLPack (CuPy orders its current
    stream before the legacy one) and through a CUDA Array Interface naming that stream."""
    import cupy

    backend = gpuhash_cuda.CudaBackend()
    x = cupy.zeros(N, dtype=cupy.uint8)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        _filled_behind_a_long_kernel(x, 0x11)
        assert gpuhash.hash_bytes(x, backend=backend) == _want(0x11)
        _filled_behind_a_long_kernel(x, 0x22)
        iface = dict(x.__cuda_array_interface__)
        assert iface.get("stream") == stream.ptr
        assert gpuhash.hash_bytes(_CaiOnly(iface, x), backend=backend) == _want(0x22)


@needs_gpu
def test_gpu_dlpack_only_layouts() -> None:
    """Size, offset and contiguity from the DLPack tensor itself (issue 13: hashed as 0 bytes
    before); a non-contiguous view is refused in one line."""
    import cupy
    import numpy as np

    backend = gpuhash_cuda.CudaBackend()
    host = np.random.default_rng(5).integers(0, 256, (1 << 20) + 77, dtype=np.uint8)
    x = cupy.asarray(host)
    cupy.cuda.runtime.deviceSynchronize()
    for view, want in ((x, host), (x[13:], host[13:]), (x[:0], host[:0])):
        got = gpuhash.hash_bytes(_DLPackOnly(view), backend=backend)
        assert got == ref.object_digest("merkle-sha256", want.tobytes(), 65536)
    words = x[: 1 << 20].view(cupy.float32).reshape(512, 512)
    with pytest.raises(InputError, match="must be C-contiguous") as e:
        gpuhash.hash_tensors({"w": _DLPackOnly(words[:, ::2])}, backend=backend)
    assert "\n" not in str(e.value)
    assert str(e.value).startswith("w: ")


@needs_gpu
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_gpu_torch_tensors_hashed_as_their_bytes_or_refused() -> None:
    import torch

    backend = gpuhash_cuda.CudaBackend()
    base = torch.randn(1 << 20, device="cuda", generator=torch.Generator("cuda").manual_seed(1))
    tensors = {
        "param": torch.nn.Parameter(base.clone()),  # requires grad
        "bf16": base.bfloat16(),
        "half_2d": base.half().reshape(1024, 1024),
        "offset_view": base[4097:],
        "bool": base > 0,
    }
    if hasattr(torch, "float8_e4m3fn"):
        tensors["fp8"] = base.to(torch.float8_e4m3fn)
    torch.cuda.synchronize()
    refused = {}
    for name, t in tensors.items():
        host = t.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy().tobytes()
        try:
            got = gpuhash.hash_tensors({name: t}, backend=backend)[name].digest
        except InputError as e:  # refused: one line naming the tensor (checked below)
            refused[name] = str(e)
            continue
        assert got == ref.object_digest("merkle-sha256", host, 65536), name
    assert set(refused) <= {"fp8"}, refused  # float8: only if this torch's DLPack lacks it
    assert all(m.startswith(f"{n}: ") and "\n" not in m for n, m in refused.items()), refused
    assert tensors["param"].requires_grad  # read through detach(): autograd untouched
    with pytest.raises(InputError, match="must be C-contiguous"):
        gpuhash.hash_tensors({"t": base.reshape(1024, 1024).t()}, backend=backend)
    x = torch.zeros(N, dtype=torch.uint8, device="cuda")
    _filled_behind_a_long_kernel(x, 0x77)
    assert gpuhash.hash_bytes(x, backend=backend) == _want(0x77)
