"""Algorithms and their identifiers (spec section 2), and the one table of algorithm families.

:data:`FAMILY_TABLE` holds one :class:`Family` row per family: every per-family fact that the
core, the backends and the conformance suite use (digest size, protobuf number, hashlib name,
kernel guard macro and file, staged-kernel block shape, which features it has). Everything
else derives from it; ``gpuhash.reference`` keeps its own tables (it imports nothing from
gpuhash), and ``tests/test_algorithms.py`` checks the two agree, as well as the table against
the protobuf enum, the kernel sources and hashlib.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpuhash import reference as ref
from gpuhash.errors import UsageError


@dataclass(frozen=True)
class Family:
    """One algorithm family's row of :data:`FAMILY_TABLE`."""

    #: The family name of spec section 2, e.g. ``merkle-sha256``.
    name: str
    #: Its ``gpuhash.v1.HashFamily`` number (proto/gpuhash/v1/manifest.proto).
    proto_enum: int
    #: Bytes of every value and digest (``D``).
    digest_size: int
    #: Bytes per block of the primitive (the sponge rate for Keccak): where padding turns over.
    block_size: int
    #: The hashlib name of a Merkle family's hash ``H`` (``LEAF = H(d || 0x00)``...); ``None``
    #: for the families whose values are not plain hashes (blake3, the lattice hash).
    hashlib_name: str | None
    #: The kernels' guard macro (``#ifdef GH_WITH_...`` in gpuhash/kernels/*.cl).
    kernel_macro: str
    #: The kernel file with the family's hash function (in gpuhash/kernels).
    kernel_file: str
    #: Bytes per word of the staged leaf kernel's block rows (4 or 8).
    stage_word_bytes: int
    #: Words per block row of the staged leaf kernel (one more is padding).
    stage_words: int
    #: Whether the kernels take the leaf size as an argument (``leaves_blake3``: chunk counters).
    uses_leaf_size: bool = False
    #: Whether the family has a tree over its leaves, hence inclusion proofs (spec section 7).
    has_tree: bool = True
    #: Whether signatures may carry range values for it (spec section 11).
    has_ranges: bool = True
    #: Whether the device kernels include ``digest_<hashlib_name>``, a plain standard digest.
    digest_kernel: bool = False

    @property
    def is_merkle(self) -> bool:
        """Whether the family is a Merkle tree over a plain hash (spec section 3)."""
        return self.hashlib_name is not None

    @property
    def has_proofs(self) -> bool:
        """Whether inclusion proofs exist for the family: those of its tree."""
        return self.has_tree

    @property
    def hashlib_constructor(self) -> Callable[..., Any]:
        """hashlib's constructor of ``H`` (``hashlib.sha256``...) for a Merkle family."""
        if self.hashlib_name is None:
            raise ValueError(f"{self.name} is not a Merkle family over a hashlib hash")
        ctor: Callable[..., Any] = getattr(hashlib, self.hashlib_name)
        return ctor


#: Every family, in the order of the specification (and of ``gpuhash.reference.FAMILIES``).
FAMILY_TABLE: tuple[Family, ...] = (
    Family(
        name="merkle-sha256",
        proto_enum=1,
        digest_size=32,
        block_size=64,
        hashlib_name="sha256",
        kernel_macro="GH_WITH_SHA256",
        kernel_file="sha256.cl",
        stage_word_bytes=4,
        stage_words=16,
        digest_kernel=True,
    ),
    Family(
        name="merkle-sha512",
        proto_enum=2,
        digest_size=64,
        block_size=128,
        hashlib_name="sha512",
        kernel_macro="GH_WITH_SHA512",
        kernel_file="sha512.cl",
        stage_word_bytes=8,
        stage_words=16,
        digest_kernel=True,
    ),
    Family(
        name="merkle-sha3-256",
        proto_enum=3,
        digest_size=32,
        block_size=136,
        hashlib_name="sha3_256",
        kernel_macro="GH_WITH_KECCAK",
        kernel_file="keccak.cl",
        stage_word_bytes=8,
        stage_words=17,
        digest_kernel=True,
    ),
    Family(
        name="blake3",
        proto_enum=4,
        digest_size=32,
        block_size=64,
        hashlib_name=None,
        kernel_macro="GH_WITH_BLAKE3",
        kernel_file="blake3.cl",
        stage_word_bytes=4,
        stage_words=16,
        uses_leaf_size=True,
    ),
    Family(
        name="lthash16-shake256",
        proto_enum=5,
        digest_size=2048,
        block_size=136,
        hashlib_name=None,
        kernel_macro="GH_WITH_KECCAK",
        kernel_file="keccak.cl",
        stage_word_bytes=8,
        stage_words=17,
        has_tree=False,
        has_ranges=False,
    ),
)

_BY_NAME = {f.name: f for f in FAMILY_TABLE}

FAMILIES: tuple[str, ...] = tuple(_BY_NAME)
MERKLE_FAMILIES: tuple[str, ...] = tuple(f.name for f in FAMILY_TABLE if f.is_merkle)
BLAKE3 = _BY_NAME[ref.BLAKE3].name
LTHASH = _BY_NAME[ref.LTHASH].name
DEFAULT_FAMILY = _BY_NAME["merkle-sha256"].name
DEFAULT_LEAF_SIZE = ref.DEFAULT_LEAF_SIZE
MIN_LEAF_SIZE = ref.MIN_LEAF_SIZE
MAX_LEAF_SIZE = ref.MAX_LEAF_SIZE
#: The plain standard digests a backend may expose (``digest_messages``), by hashlib name.
PLAIN_DIGESTS: dict[str, Family] = {
    f.hashlib_name: f for f in FAMILY_TABLE if f.digest_kernel and f.hashlib_name is not None
}


def family_info(name: str) -> Family:
    """The :data:`FAMILY_TABLE` row of the family ``name``; ``UsageError`` if there is none."""
    row = _BY_NAME.get(name)
    if row is None:
        raise UsageError(f"unknown algorithm {name!r}; known: {', '.join(FAMILIES)}")
    return row


@dataclass(frozen=True)
class Algorithm:
    """A hash family with its leaf size: everything that determines a digest."""

    family: str
    leaf_size: int = DEFAULT_LEAF_SIZE

    def __post_init__(self) -> None:
        family_info(self.family)
        try:
            ref.check_leaf_size(self.leaf_size)
        except ref.SpecError as e:
            raise UsageError(str(e)) from None

    @property
    def id(self) -> str:
        """The canonical identifier, e.g. ``gh1-merkle-sha256-64k``."""
        return ref.algorithm_id(self.family, self.leaf_size)

    @property
    def info(self) -> Family:
        """The family's row of :data:`FAMILY_TABLE`."""
        return _BY_NAME[self.family]

    @property
    def digest_size(self) -> int:
        """Bytes of every value and digest of the family."""
        return self.info.digest_size

    @property
    def is_merkle(self) -> bool:
        """Whether the family is a Merkle tree over a plain hash (``merkle-*``)."""
        return self.info.is_merkle

    @property
    def has_tree(self) -> bool:
        """merkle-* and blake3 have a tree (and inclusion proofs); the lattice hash does not."""
        return self.info.has_tree

    def __str__(self) -> str:
        return self.id


def resolve_algorithm(name: str | None = None, leaf_size: int | None = None) -> Algorithm:
    """An ``Algorithm`` from a family name (``merkle-sha256``) or a full identifier
    (``gh1-merkle-sha256-64k``), and an optional leaf size (bytes) that must agree with it."""
    name = DEFAULT_FAMILY if name is None else name
    if not isinstance(name, str):
        raise UsageError(
            f"algorithm must be a family name or identifier, not {type(name).__name__}"
        )
    if leaf_size is not None:
        try:
            if isinstance(leaf_size, bool):
                raise TypeError
            leaf_size = operator.index(leaf_size)  # an int, or an integer such as numpy's
        except TypeError:
            raise UsageError(
                f"leaf_size must be an int number of bytes, not {type(leaf_size).__name__} "
                "(gpuhash.algorithms.parse_size reads '64k')"
            ) from None
    if name.startswith(ref.ID_PREFIX):
        try:
            family, id_leaf = ref.parse_algorithm_id(name)
        except ref.SpecError as e:
            raise UsageError(f"{e}; known families: {', '.join(FAMILIES)}") from None
        if id_leaf is not None and leaf_size is not None and leaf_size != id_leaf:
            raise UsageError(f"leaf size {leaf_size} disagrees with algorithm {name}")
        chosen = id_leaf if id_leaf is not None else leaf_size
        return Algorithm(family, DEFAULT_LEAF_SIZE if chosen is None else chosen)
    return Algorithm(name, DEFAULT_LEAF_SIZE if leaf_size is None else leaf_size)


def parse_size(text: str) -> int:
    """A byte count as written on a command line: ``65536``, ``64k``, ``64KiB``, ``1m``..."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = 1
    if t[-1:] in ("k", "m"):
        scale = 1 << (10 if t[-1] == "k" else 20)
        t = t[:-1]
    if not (t.isascii() and t.isdigit()) or len(t) > 20:
        raise UsageError(f"bad size {text[:40]!r}: expected a number of bytes such as 65536 or 64k")
    return int(t) * scale
