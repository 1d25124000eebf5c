"""BLAKE3 chaining values from the fastest implementation built here.

Leaf values of ``blake3`` objects (the chaining value of a leaf's subtree, spec section 4) and
parent values are needed for proofs, range values and by every backend that hashes BLAKE3
leaves on the host; the ``blake3`` package gives only root digests. Two implementations compute
them, with the same functions and the same results:

* ``native``: the C extension ``gpuhash._blake3cv`` (SIMD lanes, AVX-512 / AVX2 / baseline
  kernels chosen at run time, the GIL released), built when gpuhash is installed from source
  with a C compiler at hand, and shipped in binary wheels;
* ``numpy``: :mod:`gpuhash.blake3_lanes`, where the extension is not built (about 30 times
  slower).

The environment variable ``GPUHASH_BLAKE3_NATIVE`` chooses: ``1`` requires the extension, ``0``
never uses it, unset (or empty) uses it when it is built. ``gpuhash backends`` shows the choice
in the ``cpu`` backend's device line.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpuhash.errors import BackendUnavailable, UsageError

if TYPE_CHECKING:
    from gpuhash._typing import Buffer
    from gpuhash.blake3_lanes import Column

__all__ = ["NATIVE_ENV", "Implementation", "implementation", "leaf_cvs", "parent_cvs"]

NATIVE_ENV = "GPUHASH_BLAKE3_NATIVE"

LeafCvs = Callable[["Buffer", "Column", "Column", "Column", "Column"], bytes]
ParentCvs = Callable[["Buffer", "Sequence[int] | bytes"], bytes]


@dataclass(frozen=True)
class Implementation:
    """One way of computing BLAKE3 chaining values."""

    name: str  # "native" or "numpy"
    detail: str  # one line for people: what runs, and why it was chosen
    leaf_cvs: LeafCvs
    parent_cvs: ParentCvs


def implementation(wanted: bool | None = None) -> Implementation:
    """The implementation to use. ``wanted`` (else ``GPUHASH_BLAKE3_NATIVE``: ``1`` or ``0``):
    ``True`` requires the extension, ``False`` never uses it, ``None`` uses it when built."""
    if wanted is None:
        setting = os.environ.get(NATIVE_ENV, "")
        if setting not in ("", "0", "1"):
            raise UsageError(f"{NATIVE_ENV} must be 0 or 1, not {setting!r}")
        wanted = None if setting == "" else setting == "1"
    return _implementation(wanted)


@functools.cache
def _implementation(wanted: bool | None) -> Implementation:
    if wanted is not False:
        try:
            from gpuhash import _blake3cv
        except ImportError as e:
            if wanted:
                raise BackendUnavailable(
                    f"{NATIVE_ENV}=1, but the C extension gpuhash._blake3cv is not built ({e}); "
                    "reinstall gpuhash from source with a C compiler"
                ) from None
            missing = f"numpy lanes (gpuhash._blake3cv is not built: {e})"
        else:
            return Implementation(
                "native",
                f"C, {_blake3cv.kernel()} kernel",
                _blake3cv.leaf_cvs,
                _blake3cv.parent_cvs,
            )
    else:
        missing = f"numpy lanes ({NATIVE_ENV}=0)"
    return Implementation("numpy", missing, _numpy_leaf_cvs, _numpy_parent_cvs)


def _numpy_leaf_cvs(
    data: Buffer,
    offsets: Column,
    lengths: Column,
    first_chunks: Column,
    roots: Column,
) -> bytes:
    from gpuhash import blake3_lanes  # numpy: imported when first needed

    return blake3_lanes.leaf_cvs(data, offsets, lengths, first_chunks, roots)


def _numpy_parent_cvs(children: Buffer, roots: Sequence[int] | bytes) -> bytes:
    from gpuhash import blake3_lanes

    return blake3_lanes.parent_cvs(children, roots)


def leaf_cvs(
    data: Buffer,
    offsets: Column,
    lengths: Column,
    first_chunks: Column,
    roots: Column,
) -> bytes:
    """The value of each leaf ``data[offsets[j] : offsets[j] + lengths[j]]``: the chaining value
    of its BLAKE3 subtree whose first chunk has counter ``first_chunks[j]``, or the root output
    where ``roots[j]`` (the leaf is a whole input). 32 bytes per leaf, concatenated."""
    return implementation().leaf_cvs(data, offsets, lengths, first_chunks, roots)


def parent_cvs(children: Buffer, roots: Sequence[int] | bytes) -> bytes:
    """``len(roots)`` parent values: pair ``i`` is chaining values ``2i`` and ``2i + 1`` of
    ``children`` (64 bytes a pair); ``roots[i]`` gives that parent the ROOT flag."""
    return implementation().parent_cvs(children, roots)
