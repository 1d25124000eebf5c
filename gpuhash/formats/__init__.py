"""Tensor file formats split into objects with ``--objects tensors`` (spec sections 1.3, 1.4):
safetensors (``gpuhash.formats.safetensors``) and GGUF (``gpuhash.formats.gguf``)."""

from __future__ import annotations

from gpuhash import reference as ref
from gpuhash.formats.gguf import GGUF_SUFFIX, gguf_sources
from gpuhash.formats.safetensors import tensor_sources
from gpuhash.sources import Source

__all__ = ["split_source", "splits"]


def splits(name: str) -> bool:
    """Whether a file of this name is split into tensor objects (``--objects tensors``)."""
    return name.endswith((ref.SAFETENSORS_SUFFIX, GGUF_SUFFIX))


def split_source(src: Source) -> list[Source]:
    """The tensor objects of a safetensors or GGUF file; any other file as it is."""
    if src.name.endswith(ref.SAFETENSORS_SUFFIX):
        return tensor_sources(src)
    if src.name.endswith(GGUF_SUFFIX):
        return gguf_sources(src)
    return [src]
