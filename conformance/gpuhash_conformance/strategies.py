"""Hypothesis strategies for the conformance suite, named for what they generate.

Sizes cluster where implementations go wrong: on and around leaf boundaries, hash block
boundaries (64, 128, 136 bytes and their neighbours) and powers of two; names include nested
paths, non-ASCII text and pairs that sort differently by bytes and by path components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES, Algorithm

__all__ = [
    "Artifact",
    "Obj",
    "algorithms",
    "artifacts",
    "families",
    "leaf_sizes",
    "names",
    "objects",
    "payloads",
    "sizes",
    "tensors",
]

#: Leaf sizes the suite uses: small ones keep trees deep and examples fast; 64 KiB is the default.
LEAF_SIZES = (1024, 2048, 4096, 65536)

families = st.sampled_from(FAMILIES)
leaf_sizes = st.sampled_from(LEAF_SIZES)


@st.composite
def algorithms(draw: st.DrawFn, small: bool = True, among: Sequence[str] = FAMILIES) -> Algorithm:
    """An algorithm: a family (of ``among``) and a leaf size (1-4 KiB when ``small``, for deep
    trees)."""
    family = draw(st.sampled_from(sorted(among)))
    leaf = draw(st.sampled_from(LEAF_SIZES[:3] if small else LEAF_SIZES))
    return Algorithm(family, leaf)


@st.composite
def sizes(draw: st.DrawFn, leaf_size: int = 1024, max_leaves: int = 40) -> int:
    """An object size in bytes, clustered on leaf and block boundaries and powers of two."""
    k = draw(st.integers(0, max_leaves))
    near_leaf = k * leaf_size + draw(st.sampled_from([-1, 0, 1]))
    power = (1 << draw(st.integers(0, max(1, (max_leaves * leaf_size).bit_length() - 1)))) + draw(
        st.sampled_from([-1, 0, 1])
    )
    block = draw(st.sampled_from([55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 135, 136, 137]))
    anywhere = draw(st.integers(0, max_leaves * leaf_size))
    size = draw(st.sampled_from([near_leaf, power, block, block + leaf_size, anywhere, 0]))
    return max(0, min(size, max_leaves * leaf_size + 1))


def payloads(size: int, seed: int) -> bytes:
    """Deterministic bytes of a given size (a cheap pattern, so examples shrink well)."""
    return bytes((i * 167 + seed * 31 + (i >> 8)) % 256 for i in range(size))


_segment = st.one_of(
    st.sampled_from(["model", "a", "a-b", "a.txt", "B", "weights", "x", "é", "日本", "ß"]),
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="/\x00"),
        min_size=1,
        max_size=8,
    ).filter(lambda s: s not in (".", "..")),
)

#: Object names (FILE kind): nested relative paths, non-ASCII components.
names = st.lists(_segment, min_size=1, max_size=3).map("/".join)


@dataclass(frozen=True)
class Obj:
    name: str
    kind: int
    data: bytes


@st.composite
def objects(draw: st.DrawFn, leaf_size: int = 1024, max_leaves: int = 12) -> Obj:
    size = draw(sizes(leaf_size, max_leaves))
    return Obj(draw(names), ref.KIND_FILE, payloads(size, draw(st.integers(0, 255))))


@dataclass(frozen=True)
class Artifact:
    algorithm: Algorithm
    objects: tuple[Obj, ...]


# Pairs that sort differently by bytes than by path components ("a/b" vs "a-b": '-' < '/').
_tricky_pairs = st.sampled_from(
    [("a/b", "a-b"), ("a/b", "a.txt"), ("B", "a"), ("x/y/z", "x-y"), ("é", "z")]
)


@st.composite
def artifacts(draw: st.DrawFn, max_objects: int = 5, among: Sequence[str] = FAMILIES) -> Artifact:
    """An artifact: an algorithm (of the families ``among``) and uniquely named objects
    (sometimes a tricky name pair)."""
    alg = draw(algorithms(among=among))
    objs = draw(st.lists(objects(alg.leaf_size), min_size=1, max_size=max_objects))
    if draw(st.booleans()):
        a, b = draw(_tricky_pairs)
        objs += [Obj(a, ref.KIND_FILE, b"first"), Obj(b, ref.KIND_FILE, b"second")]
    unique: dict[str, Obj] = {}
    for o in objs:
        unique.setdefault(o.name, o)
    return Artifact(alg, tuple(unique.values()))


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    data: bytes


@st.composite
def tensors(draw: st.DrawFn) -> Tensor:
    """A tensor's dtype, shape and bytes (C order), as a loader would hold it."""
    import numpy as np

    dtype = draw(st.sampled_from(["float32", "float16", "int8", "uint8", "int64", "float64"]))
    shape = tuple(draw(st.lists(st.integers(0, 40), min_size=0, max_size=3)))
    count = int(np.prod(shape)) if shape else 1
    raw = payloads(count * np.dtype(dtype).itemsize, draw(st.integers(0, 255)))
    return Tensor(draw(names), dtype, shape, raw)
