"""The objects a tensor file is split into (spec sections 1.3, 1.4), whatever its format: one
header object, then one object per tensor, named ``FILE::NAME`` and read from the file itself."""

from __future__ import annotations

import dataclasses

from gpuhash import reference as ref
from gpuhash.sources import Source


def header_object(src: Source, size: int) -> Source:
    """The header object of the tensor file ``src``: its first ``size`` bytes."""
    return dataclasses.replace(
        src,
        name=f"{src.name}{ref.TENSOR_SEPARATOR}{ref.HEADER_OBJECT}",
        kind=ref.KIND_TENSOR_HEADER,
        size=size,
        file_size=src.size,
    )


def tensor_object(
    src: Source, name: str, size: int, offset: int, dtype: str, shape: list[int]
) -> Source:
    """Tensor ``name`` of the file ``src``: ``size`` bytes at ``offset``, with its dtype and
    shape recorded (informative, spec section 8) in the dict ``{dtype, shape, source, offset}``
    (``shape`` and ``offset`` the very objects given: no copies)."""
    return dataclasses.replace(
        src,
        name=f"{src.name}{ref.TENSOR_SEPARATOR}{name}",
        kind=ref.KIND_TENSOR,
        size=size,
        offset=offset,
        file_size=src.size,
        tensor=_TensorInfo(dtype, shape, src.name, offset).__dict__,
    )


class _TensorInfo:
    """Makes a tensor's metadata dict: as an instance's ``__dict__``, which outlives it, all
    these dicts share one table of their keys (a CPython split dict: some 110 bytes, not the 184
    of a dict display), and a file may have 2^18 tensors (docs/security.md, "Parser limits")."""

    def __init__(self, dtype: str, shape: list[int], source: str, offset: int) -> None:
        self.dtype = dtype
        self.shape = shape
        self.source = source
        self.offset = offset
