"""GGUF files as objects (spec section 1.4): the header (everything before the first tensor's
data) and one object per tensor, parsed by the ``gguf`` package (``gpuhash[gguf]``)."""

from __future__ import annotations

import dataclasses
import os

from gpuhash import reference as ref
from gpuhash._io import open_checked, pread_upto
from gpuhash.errors import InputError, UsageError
from gpuhash.sources import Source

__all__ = ["GGUF_SUFFIX", "gguf_sources"]

GGUF_SUFFIX = ".gguf"


def gguf_sources(src: Source) -> list[Source]:
    """The header and tensor objects of the GGUF file ``src`` (spec section 1.4), parsed by
    the ``gguf`` package from the very file the engine opened and checked."""
    try:
        import gguf
    except ImportError as e:
        raise UsageError(
            f"{src.name}: splitting GGUF files needs the gguf package ({e}); "
            'install it with: python -m pip install "gpuhash[gguf]"'
        ) from None
    fd = open_checked(src)
    try:
        try:
            reader = gguf.GGUFReader(f"/proc/self/fd/{fd}")
            start = int(reader.data_offset)
            alignment = int(reader.alignment)
            tensors = [
                (
                    str(t.name),
                    int(t.data_offset),
                    int(t.n_bytes),
                    str(t.tensor_type.name),
                    [int(d) for d in reversed(t.shape.tolist())],
                )
                for t in reader.tensors
            ]
        except Exception as e:  # the parser's own errors: struct, numpy, enum, unicode
            detail = " ".join(str(e).split())[:160] or type(e).__name__
            raise InputError(f"not a valid GGUF file: {src.name}: {detail}") from None
        # Every byte belongs to the header or to one tensor, except alignment padding, which
        # must be zero (spec section 1.4).
        at = start
        for name, offset, nbytes, _, _ in sorted(tensors, key=lambda t: (t[1], t[2])):
            gap = offset - at
            if gap < 0:
                raise InputError(f"not a valid GGUF file: {src.name}: tensor {name!r} overlaps")
            if gap >= alignment or pread_upto(fd, gap, at).strip(b"\0"):
                raise InputError(
                    f"not a valid GGUF file: {src.name}: {gap} bytes before tensor {name!r} "
                    "are not zero alignment padding"
                )
            at = offset + nbytes
        tail = src.size - at
        if tail < 0 or tail >= alignment or pread_upto(fd, tail, at).strip(b"\0"):
            raise InputError(
                f"not a valid GGUF file: {src.name}: the {tail} bytes after the last tensor "
                "are not zero alignment padding"
            )
    finally:
        os.close(fd)
    sep = ref.TENSOR_SEPARATOR
    out = [
        dataclasses.replace(
            src,
            name=f"{src.name}{sep}{ref.HEADER_OBJECT}",
            kind=ref.KIND_TENSOR_HEADER,
            size=start,
            file_size=src.size,
        )
    ]
    for name, offset, nbytes, dtype, shape in tensors:
        try:
            ref.check_tensor_name(name, f"{src.name}: tensor {name!r}")
        except ref.SpecError as e:
            raise InputError(f"not a valid GGUF file: {e}") from None
        out.append(
            dataclasses.replace(
                src,
                name=f"{src.name}{sep}{name}",
                kind=ref.KIND_TENSOR,
                size=nbytes,
                offset=offset,
                file_size=src.size,
                tensor={"dtype": dtype, "shape": shape, "source": src.name, "offset": offset},
            )
        )
    return out
