"""OpenCL C 1.2 kernels for the device backends, and helpers to load them.

The kernels are plain ``.cl`` files in this package:

``common.cl``
    Target macros (``GH_FN``, ``GH_ROTR32``...), byte-order loads and stores, message suffixes.
    Always first; a per-target prelude (CUDA, HIP) may be put before it to redefine the macros.
``sha256.cl``, ``sha512.cl``, ``keccak.cl``, ``blake3.cl``
    The hash functions (FIPS 180-4, FIPS 202, BLAKE3) over ``(global pointer, 64-bit length)``
    plus a short suffix (the specification's role byte), so no leaf is copied.
``leaves.cl``
    ``leaves_<family>`` kernels: one leaf of a ``LeafTable`` per work-item (``hash_leaves``).
``nodes.cl``
    ``nodes_<family>`` kernels: one pair of values per work-item (``hash_nodes``);
    ``tree_<family>`` kernels: one level of an on-device reduction (``gpuhash.tree.schedule``);
    ``gather_values``: a schedule's tops, collected for one read-back.
``digests.cl``
    ``digest_<hash>`` kernels: plain standard digests of whole messages (no suffix).

``<family>`` is the family name with ``-`` replaced by ``_`` (see :func:`kernel_name`). Each
``.cl`` file documents its kernels' arguments. :func:`source` with no arguments returns the whole
program in dependency order.

:func:`make_intel_runtime_visible` lets pyopencl's bundled ICD loader find Intel's CPU OpenCL
runtime (the ``intel-opencl-rt`` wheel) next to PoCL; it must run before pyopencl is imported.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from gpuhash.algorithms import FAMILY_TABLE

__all__ = [
    "BACKEND_FILES",
    "FAMILY_MACROS",
    "KERNEL_FILES",
    "kernel_name",
    "make_intel_runtime_visible",
    "source",
]

#: Every kernel file, in an order in which each file follows the files it needs: ``common.cl``,
#: the hash files of the family table (``gpuhash.algorithms.FAMILY_TABLE``) in its order, then
#: the kernels over them.
KERNEL_FILES = (
    "common.cl",
    *dict.fromkeys(f.kernel_file for f in FAMILY_TABLE),
    "leaves.cl",
    "nodes.cl",
    "digests.cl",
)


#: The files a backend builds: every kernel file but ``digests.cl`` (plain digests, for tests).
BACKEND_FILES = tuple(name for name in KERNEL_FILES if name != "digests.cl")

#: The hash files' guard macros each algorithm family needs (``#ifdef GH_WITH_...``).
FAMILY_MACROS = {f.name: f.kernel_macro for f in FAMILY_TABLE}


def source(*names: str, families: Iterable[str] | None = None) -> str:
    """The text of the named ``.cl`` files of this package, concatenated in the order given.

    With no names, every file of :data:`KERNEL_FILES`. Each file is preceded by a ``#line``
    directive, so compiler messages name the file and line they come from. A target-specific
    prelude (for example CUDA macros) can simply be prepended to the result.

    The hash functions and the kernels of each family are guarded by ``GH_WITH_*`` macros; the
    text starts with the ``#define`` lines for ``families`` (default: every family), so a
    backend can build a smaller program for the families it uses (a much shorter compilation
    where a runtime has no binary cache).
    """
    if not names:
        names = KERNEL_FILES
    wanted = set(FAMILY_MACROS) if families is None else set(families)
    unknown = wanted - set(FAMILY_MACROS)
    if unknown:
        raise ValueError(f"unknown algorithm families {sorted(unknown)}")
    macros = sorted({FAMILY_MACROS[f] for f in wanted})
    package = resources.files(__name__)
    parts = [f"#define {m} 1" for m in macros]
    for name in names:
        if not name.endswith(".cl") or "/" in name or "\\" in name:
            raise ValueError(f"{name!r} is not a kernel file name")
        text = package.joinpath(name).read_text(encoding="utf-8")
        parts.append(f'#line 1 "{name}"\n{text}')
    return "\n".join(parts)


def kernel_name(kind: str, family: str) -> str:
    """The kernel for ``kind`` (``leaves``, ``leaves_staged``, ``nodes`` or ``tree``) and an
    algorithm family."""
    if kind not in ("leaves", "leaves_staged", "nodes", "tree"):
        raise ValueError(f"unknown kernel kind {kind!r}")
    return f"{kind}_{family.replace('-', '_')}"


_intel_visible: bool | None = None

#: The ICD loader's default vendors directory, which ``OCL_ICD_VENDORS`` replaces.
_SYSTEM_VENDORS = Path("/etc/OpenCL/vendors")


def _icd_files(where: str | Path) -> list[Path]:
    path = Path(where)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".icd" and p.is_file())
    if path.is_file():
        return [path]
    return []


def make_intel_runtime_visible() -> bool:
    """Make Intel's CPU OpenCL runtime visible to pyopencl's bundled ICD loader.

    Writes a temporary vendors directory holding ``intel.icd`` (the absolute path of
    ``<sys.prefix>/lib/libintelocl.so``) and points ``OCL_ICD_VENDORS`` at it. The ICD files the
    loader would otherwise have read (those of a directory or file already named by
    ``OCL_ICD_VENDORS``, else of ``/etc/OpenCL/vendors``, where system GPU drivers register)
    are copied in too, so no platform disappears. pyopencl's bundled loader reads its own
    directory (with PoCL's ``pocl.icd``) in addition, so PoCL stays listed.

    Returns whether the Intel library was found. Idempotent: later calls return the first
    call's answer and change nothing. It takes effect only if it runs before the ICD loader
    first lists platforms, that is before pyopencl is imported (or at least used).
    """
    global _intel_visible
    if _intel_visible is not None:
        return _intel_visible
    library = Path(sys.prefix) / "lib" / "libintelocl.so"
    if not library.is_file():
        _intel_visible = False
        return False
    previous = os.environ.get("OCL_ICD_VENDORS")
    inherited = _icd_files(previous) if previous else _icd_files(_SYSTEM_VENDORS)
    vendors = tempfile.mkdtemp(prefix="gpuhash-icd-")
    atexit.register(shutil.rmtree, vendors, ignore_errors=True)
    already = False
    for icd in inherited:
        try:
            text = icd.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        registered = Path(text.strip())
        if registered.is_absolute() and registered.resolve() == library.resolve():
            already = True  # this very library is registered already: do not list it twice
        shutil.copyfile(icd, Path(vendors) / icd.name)
    if not already:
        name = "intel.icd"
        if (Path(vendors) / name).exists():  # e.g. Intel's GPU driver registers as intel.icd
            name = "gpuhash-intel-cpu.icd"
        (Path(vendors) / name).write_text(f"{library.absolute()}\n", encoding="utf-8")
    os.environ["OCL_ICD_VENDORS"] = vendors
    _intel_visible = True
    return True
