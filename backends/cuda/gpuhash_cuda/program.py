"""The CUDA programs the ``cuda`` backend builds, one per hash file, and building each once.

NVRTC's first build of every family in one translation unit takes about a minute on two
cores; each hash file of ``gpuhash.algorithms.FAMILY_TABLE`` (``sha256.cl``, ``sha512.cl``,
``keccak.cl``, ``blake3.cl``: the two Keccak families share theirs) is therefore a program of
its own, built the first time one of its kernels is launched: hashing with SHA-256 never waits
for Keccak. A program's translation unit is ``prelude.cuh``, ``common.cl``, its hash file,
``leaves.cl`` and ``nodes.cl`` with only its families' guard macro defined, ``epilogue.cuh``
and its families' staged wrappers. The
plain-digest kernels (``digests.cl``, used by the conformance suite's NIST checks) are programs
of their own (``<hash>-digests``: ``common.cl``, the hash file and ``digests.cl``), so the
hashing programs stay small. CuPy keeps each built program in its kernel cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Generic, TypeVar

from gpuhash.algorithms import FAMILY_TABLE, PLAIN_DIGESTS, family_info
from gpuhash.kernels import BACKEND_FILES, KERNEL_FILES, source

__all__ = [
    "PROGRAMS",
    "ProgramCache",
    "cuda_source",
    "kernel_names",
    "program_for",
    "staged_shared_bytes",
    "staged_wrappers",
]

T = TypeVar("T")

#: The suffix of a plain-digest program's name.
DIGESTS = "-digests"


def _stem(family: str) -> str:
    return family_info(family).kernel_file.removesuffix(".cl")


def _programs() -> dict[str, tuple[str, ...]]:
    hashing: dict[str, list[str]] = {}
    for f in FAMILY_TABLE:
        hashing.setdefault(_stem(f.name), []).append(f.name)
    digests: dict[str, list[str]] = {}
    for f in PLAIN_DIGESTS.values():
        digests.setdefault(_stem(f.name) + DIGESTS, []).append(f.name)
    return {name: tuple(fams) for name, fams in (hashing | digests).items()}


#: Every program, by name (``sha256``, ``keccak``, ``sha256-digests``...), with the families
#: whose kernels it holds: the hashing programs in table order, then the digest programs.
PROGRAMS: dict[str, tuple[str, ...]] = _programs()


def program_for(family: str, kernel: str) -> str:
    """The program holding ``kernel`` as launched for ``family`` (``gather_values`` is in every
    hashing program; the launch's family picks one)."""
    return _stem(family) + (DIGESTS if kernel.startswith("digest_") else "")


def staged_wrappers(families: Iterable[str] | None = None) -> str:
    """The staged leaf kernels' CUDA wrappers (epilogue.cuh's macros), one per family of the
    family table (or of ``families``), each under its guard macro."""
    wanted = None if families is None else set(families)
    lines = []
    for f in FAMILY_TABLE:
        if wanted is not None and f.name not in wanted:
            continue
        macro = "GH_CUDA_STAGED_LEAF_SIZE" if f.uses_leaf_size else "GH_CUDA_STAGED"
        stype = {4: "uint", 8: "ulong"}[f.stage_word_bytes]
        fam = f.name.replace("-", "_")
        lines += [
            f"#ifdef {f.kernel_macro}",
            f"{macro}({fam}, {stype}, {f.stage_words}ull)",
            "#endif",
        ]
    return "\n".join(lines) + "\n"


def _package_text(name: str) -> str:
    return resources.files(__package__ or "gpuhash_cuda").joinpath(name).read_text("utf-8")


def cuda_source(program: str | None = None) -> str:
    """The CUDA translation unit of ``program`` (a name of :data:`PROGRAMS`); with none, one
    unit holding every kernel of every family (what the backend built before it built per
    program)."""
    prelude = _package_text("prelude.cuh")
    if program is None:
        families: tuple[str, ...] | None = None
        files = list(KERNEL_FILES)
    elif program not in PROGRAMS:
        raise ValueError(f"no CUDA program {program!r}; programs: {', '.join(PROGRAMS)}")
    else:
        families = PROGRAMS[program]
        own = family_info(families[0]).kernel_file  # the program's families share it
        others = {f.kernel_file for f in FAMILY_TABLE} - {own}
        if program.endswith(DIGESTS):
            files = ["common.cl", own, "digests.cl"]
            return f"{prelude}\n{source(*files, families=families)}\n"
        files = [name for name in BACKEND_FILES if name not in others]
    epilogue = _package_text("epilogue.cuh")
    return (
        f'{prelude}\n{source(*files, families=families)}\n#line 1 "epilogue.cuh"\n{epilogue}\n'
        f'#line 1 "staged_wrappers"\n{staged_wrappers(families)}'
    )


def kernel_names(program: str | None = None) -> list[str]:
    """Every kernel the backend launches from ``program`` (or from any program)."""
    if program is None:
        names = ["gather_values", *(f"digest_{p}" for p in PLAIN_DIGESTS)]
        for f in FAMILY_TABLE:
            fam = f.name.replace("-", "_")
            names += [f"leaves_{fam}", f"leaves_staged_{fam}", f"nodes_{fam}", f"tree_{fam}"]
        return names
    if program not in PROGRAMS:
        raise ValueError(f"no CUDA program {program!r}; programs: {', '.join(PROGRAMS)}")
    families = PROGRAMS[program]
    if program.endswith(DIGESTS):
        return [f"digest_{family_info(f).hashlib_name}" for f in families]
    names = ["gather_values"]
    for family in families:
        fam = family.replace("-", "_")
        names += [f"leaves_{fam}", f"leaves_staged_{fam}", f"nodes_{fam}", f"tree_{fam}"]
    return names


def staged_shared_bytes(local_sizes: list[int]) -> int:
    """Dynamic shared memory for a staged kernel: its four buffers, each start rounded up to
    8 bytes (the carving in epilogue.cuh)."""
    at = 0
    for size in local_sizes:
        at = (at + 7) & ~7
        at += size
    return at


class ProgramCache(Generic[T]):
    """Programs built on first use by ``build(name)``, each once: threads that want different
    programs build them at the same time, threads that want the same one wait for its one
    build. A build that raises is not kept; the next request tries again."""

    def __init__(self, build: Callable[[str], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}
        self._built: dict[str, T] = {}

    def get(self, name: str) -> T:
        with self._lock:
            if name in self._built:
                return self._built[name]
            lock = self._building.setdefault(name, threading.Lock())
        with lock:
            with self._lock:
                if name in self._built:
                    return self._built[name]
            built = self._build(name)
            with self._lock:
                self._built[name] = built
            return built

    def built(self) -> list[str]:
        """The names of the programs built so far, in the order they were finished."""
        with self._lock:
            return list(self._built)

    def clear(self) -> None:
        with self._lock:
            self._built.clear()
