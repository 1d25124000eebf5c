"""safetensors files as objects (spec section 1.3): the header (``FILE::__metadata__``, its
length and JSON) and one object per tensor, laid out by the header the reference validates."""

from __future__ import annotations

import dataclasses
import os

from gpuhash import reference as ref
from gpuhash._io import open_checked, pread_upto
from gpuhash.errors import InputError
from gpuhash.sources import Source

__all__ = ["safetensors_prefix", "tensor_sources"]


def safetensors_prefix(src: Source) -> bytes:
    """The first ``8 + N`` bytes of the safetensors file ``src`` (length and header), read
    through the descriptor ``_io.open_checked`` checks (the file as listed); fewer when N is out of
    bounds (``reference.safetensors_layout`` then says why)."""
    fd = open_checked(src)
    try:
        head = pread_upto(fd, 8, 0)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        if 8 <= 8 + n <= min(src.size, 8 + ref.MAX_HEADER_BYTES):
            return head + pread_upto(fd, n, 8)
        return head
    except OSError as e:
        raise InputError(f"{src.name}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)


def tensor_sources(src: Source, prefix: bytes | None = None) -> list[Source]:
    """The header and tensor objects of the safetensors file ``src`` (spec section 1.3), laid
    out by ``prefix`` (its length and header; read here when not given: a caller that also
    hashes the header passes the very bytes it hashes)."""
    if prefix is None:
        prefix = safetensors_prefix(src)
    try:
        n, tensors = ref.safetensors_layout(src.name, src.size, prefix)
    except ref.SpecError as e:
        raise InputError(f"not a valid safetensors file: {e}") from None
    sep = ref.TENSOR_SEPARATOR
    out = [
        dataclasses.replace(
            src,
            name=f"{src.name}{sep}{ref.HEADER_OBJECT}",
            kind=ref.KIND_TENSOR_HEADER,
            size=8 + n,
            file_size=src.size,
        )
    ]
    for tensor, (dtype, shape, offset) in tensors.items():
        size = ref.SAFETENSORS_DTYPES[dtype]
        for d in shape:
            size *= d
        out.append(
            dataclasses.replace(
                src,
                name=f"{src.name}{sep}{tensor}",
                kind=ref.KIND_TENSOR,
                size=size,
                offset=offset,
                file_size=src.size,
                tensor={"dtype": dtype, "shape": shape, "source": src.name, "offset": offset},
            )
        )
    return out
