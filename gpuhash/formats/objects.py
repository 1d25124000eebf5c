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
    shape recorded (informative, spec section 8)."""
    return dataclasses.replace(
        src,
        name=f"{src.name}{ref.TENSOR_SEPARATOR}{name}",
        kind=ref.KIND_TENSOR,
        size=size,
        offset=offset,
        file_size=src.size,
        tensor={"dtype": dtype, "shape": shape, "source": src.name, "offset": offset},
    )
