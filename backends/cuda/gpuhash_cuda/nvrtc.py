"""NVRTC, the CUDA runtime compiler, called directly through ``ctypes``: no CuPy, no driver.

This is what ``gpuhash selftest cuda --compile-only`` (``gpuhash_cuda.compile_check``) compiles
with. CuPy loads one NVRTC (the one its CUDA major version and ``cuda-pathfinder`` pick), and
``cupy-cuda12x`` and ``cupy-cuda13x`` cannot share an environment; NVRTC 12 and NVRTC 13 can
(``nvidia-cuda-nvrtc-cu12`` installs ``nvidia/cuda_nvrtc/lib/libnvrtc.so.12``,
``nvidia-cuda-nvrtc`` 13.x installs ``nvidia/cu13/lib/libnvrtc.so.13``), so every kernel can be
checked against both compilers in one place.

:func:`libraries` finds every NVRTC in the environment; :class:`Nvrtc` loads one (by path) and
compiles a CUDA translation unit to cubin or PTX. The functions bound are those of ``nvrtc.h``
that this needs: ``nvrtcVersion``, ``nvrtcGetErrorString``, ``nvrtcCreateProgram``,
``nvrtcCompileProgram``, ``nvrtcGetProgramLog[Size]``, ``nvrtcGetCUBIN[Size]``,
``nvrtcGetPTX[Size]`` and ``nvrtcDestroyProgram``. ``ctypes`` releases the GIL during each
call, so programs compile in parallel on threads (NVRTC is thread-safe across programs).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Compiled",
    "Nvrtc",
    "NvrtcError",
    "libraries",
    "loaded",
    "major_of",
    "prefer",
    "wheel_libraries",
]

#: Where the NVRTC wheels put the library, relative to a site-packages directory, per major
#: version (Linux, Windows).
WHEEL_LIBRARIES = {
    12: ("nvidia/cuda_nvrtc/lib/libnvrtc.so.12", "nvidia/cuda_nvrtc/bin/nvrtc64_120_0.dll"),
    13: ("nvidia/cu13/lib/libnvrtc.so.13", "nvidia/cu13/bin/x86_64/nvrtc64_130_0.dll"),
}
#: The sonames a system installation (a CUDA toolkit on the loader's path) answers to.
SYSTEM_LIBRARIES = ("libnvrtc.so.13", "libnvrtc.so.12")
_loaded: dict[str, Nvrtc] = {}
_load_lock = threading.Lock()


class NvrtcError(RuntimeError):
    """An NVRTC call failed; the message names the call, the error and the compiler log."""


@dataclass(frozen=True)
class Compiled:
    """What one compilation produced: the PTX, and for a real architecture (``sm_*``) the
    cubin (empty for a virtual one, ``compute_*``)."""

    target: str
    cubin: bytes
    ptx: str
    log: str


class Nvrtc:
    """One NVRTC library, loaded from ``path``; use :meth:`load` to share loaded ones."""

    def __init__(self, path: str) -> None:
        self.path = path
        lib = load_library(path)
        self._lib = lib
        p, c_int, size_t = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        char_pp = ctypes.POINTER(ctypes.c_char_p)
        signatures: dict[str, tuple[list[object], object]] = {
            "nvrtcVersion": ([ctypes.POINTER(c_int), ctypes.POINTER(c_int)], c_int),
            "nvrtcGetErrorString": ([c_int], ctypes.c_char_p),
            "nvrtcCreateProgram": (
                [ctypes.POINTER(p), ctypes.c_char_p, ctypes.c_char_p, c_int, char_pp, char_pp],
                c_int,
            ),
            "nvrtcCompileProgram": ([p, c_int, char_pp], c_int),
            "nvrtcGetProgramLogSize": ([p, ctypes.POINTER(size_t)], c_int),
            "nvrtcGetProgramLog": ([p, ctypes.c_char_p], c_int),
            "nvrtcGetCUBINSize": ([p, ctypes.POINTER(size_t)], c_int),
            "nvrtcGetCUBIN": ([p, ctypes.c_char_p], c_int),
            "nvrtcGetPTXSize": ([p, ctypes.POINTER(size_t)], c_int),
            "nvrtcGetPTX": ([p, ctypes.c_char_p], c_int),
            "nvrtcDestroyProgram": ([ctypes.POINTER(p)], c_int),
        }
        for name, (argtypes, restype) in signatures.items():
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = restype
        major, minor = c_int(0), c_int(0)
        self._check("nvrtcVersion", lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)))
        self.version = (major.value, minor.value)

    @classmethod
    def load(cls, path: str) -> Nvrtc:
        """The library at ``path``, loaded once per process."""
        key = os.path.realpath(path)
        with _load_lock:
            if key not in _loaded:
                _loaded[key] = cls(path)
            return _loaded[key]

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    def _check(self, call: str, status: int, log: str = "") -> None:
        if status != 0:
            raw = self._lib.nvrtcGetErrorString(status)
            error = raw.decode() if isinstance(raw, bytes) else f"error {status}"
            detail = f": {log}" if log else ""
            raise NvrtcError(f"NVRTC {self.version_text} {call}: {error}{detail}")

    def compile(self, code: str, name: str, target: str, options: tuple[str, ...] = ()) -> Compiled:
        """Compile ``code`` for ``target`` (``sm_80``: cubin and PTX; ``compute_80``: PTX) with
        ``options``; raises :class:`NvrtcError` with the compiler log if it does not compile."""
        lib = self._lib
        prog = ctypes.c_void_p()
        status = lib.nvrtcCreateProgram(
            ctypes.byref(prog), code.encode(), name.encode(), 0, None, None
        )
        self._check("nvrtcCreateProgram", status)
        try:
            args = [f"--gpu-architecture={target}", *options]
            argv = (ctypes.c_char_p * len(args))(*(a.encode() for a in args))
            status = lib.nvrtcCompileProgram(prog, len(args), argv)
            log = self._log(prog)
            self._check("nvrtcCompileProgram", status, " ".join(log.split()))
            ptx = self._output(prog, "PTX").rstrip(b"\0").decode("utf-8", errors="replace")
            cubin = self._output(prog, "CUBIN") if target.startswith("sm_") else b""
            return Compiled(target, cubin, ptx, log)
        finally:
            lib.nvrtcDestroyProgram(ctypes.byref(prog))

    def _output(self, prog: ctypes.c_void_p, kind: str) -> bytes:
        size = ctypes.c_size_t(0)
        get_size = getattr(self._lib, f"nvrtcGet{kind}Size")
        self._check(f"nvrtcGet{kind}Size", get_size(prog, ctypes.byref(size)))
        out = ctypes.create_string_buffer(size.value)
        self._check(f"nvrtcGet{kind}", getattr(self._lib, f"nvrtcGet{kind}")(prog, out))
        return out.raw

    def _log(self, prog: ctypes.c_void_p) -> str:
        size = ctypes.c_size_t(0)
        if self._lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size)) != 0 or size.value <= 1:
            return ""
        out = ctypes.create_string_buffer(size.value)
        if self._lib.nvrtcGetProgramLog(prog, out) != 0:
            return ""
        return out.value.decode("utf-8", errors="replace").strip()


def wheel_libraries() -> list[str]:
    """The NVRTC libraries of the NVIDIA wheels on ``sys.path`` (NVRTC 13 first, then 12),
    found by path: nothing is loaded."""
    found: dict[str, str] = {}
    windows = sys.platform == "win32"
    for major in sorted(WHEEL_LIBRARIES, reverse=True):
        relative = WHEEL_LIBRARIES[major][1 if windows else 0]
        for entry in sys.path:
            candidate = Path(entry or ".") / relative
            if candidate.is_file():
                found.setdefault(os.path.realpath(candidate), str(candidate))
    return list(found.values())


def libraries() -> list[str]:
    """Every NVRTC library in this environment, one per file: the wheels'
    (:func:`wheel_libraries`), then a system installation's (a CUDA toolkit on the dynamic
    loader's search path, which this loads to find where it is)."""
    found = {os.path.realpath(p): p for p in wheel_libraries()}
    if sys.platform != "win32":
        for soname in SYSTEM_LIBRARIES:
            path = _system_path(soname)
            if path is not None:
                found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def major_of(path: str) -> int | None:
    """The CUDA major version of an NVRTC library, from its file name (``libnvrtc.so.12``,
    ``nvrtc64_130_0.dll``), without loading it."""
    name = os.path.basename(path)
    for major, (linux, windows) in WHEEL_LIBRARIES.items():
        if name in (os.path.basename(linux), os.path.basename(windows)):
            return major
    return None


def loaded() -> list[str]:
    """The NVRTC sonames already loaded into this process (Linux; empty elsewhere)."""
    if sys.platform == "win32":
        return []
    found = []
    for soname in SYSTEM_LIBRARIES:
        try:
            ctypes.CDLL(soname, mode=os.RTLD_NOLOAD)
        except OSError:
            continue
        found.append(soname)
    return found


def load_library(path: str) -> ctypes.CDLL:
    """Load the NVRTC library ``path``, its builtins first. NVRTC dlopens
    ``libnvrtc-builtins.so.<major>.<minor>`` when it compiles, and the NVRTC 13.0 wheel's
    library has no RUNPATH to find it beside itself: cuda-pathfinder preloads it, but only
    when pathfinder itself loads NVRTC, never when it finds NVRTC loaded already. Raises
    ``OSError`` if the library does not load."""
    directory = Path(os.path.abspath(path)).parent
    builtins = [b for b in directory.glob("libnvrtc-builtins.so.*") if ".alt." not in b.name]
    if len(builtins) == 1:
        ctypes.CDLL(str(builtins[0]))
    return ctypes.CDLL(path)


def prefer(major: int) -> str | None:
    """Load the NVRTC of CUDA ``major`` from this environment's wheels, unless an NVRTC is
    loaded already; return its path, or ``None`` if it loaded none.

    CuPy 14 takes the NVRTC already loaded into the process, else the first that
    ``cuda-pathfinder`` finds, and that search puts NVRTC 13 first: with both wheels
    installed (``nvidia-cuda-nvrtc`` 13.x often comes with torch), ``cupy-cuda12x`` would
    compile with NVRTC 13, whose output a CUDA 12 driver cannot load. Called before CuPy's
    first compilation, this makes CuPy use the NVRTC of its own CUDA version.
    """
    if sys.platform == "win32" or loaded():
        return None
    for path in wheel_libraries():
        if major_of(path) == major:
            try:
                load_library(path)
            except OSError:
                continue
            return path
    return None


def _system_path(soname: str) -> str | None:
    """Where the dynamic loader finds ``soname`` (a system CUDA toolkit), or ``None``."""
    try:
        handle = ctypes.CDLL(soname)
    except OSError:
        return None
    try:
        dl = ctypes.CDLL(None)
        info = _DlInfo()
        address = ctypes.cast(handle.nvrtcVersion, ctypes.c_void_p)
        if dl.dladdr(address, ctypes.byref(info)) and info.dli_fname:
            return os.fsdecode(info.dli_fname)
    except (AttributeError, OSError):
        pass
    return None


class _DlInfo(ctypes.Structure):
    _fields_ = (
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    )
