"""Algorithms and their identifiers (spec section 2)."""

from __future__ import annotations

from dataclasses import dataclass

from gpuhash import reference as ref
from gpuhash.errors import UsageError

FAMILIES: tuple[str, ...] = ref.FAMILIES
MERKLE_FAMILIES: tuple[str, ...] = tuple(ref.MERKLE_HASHES)
BLAKE3 = ref.BLAKE3
LTHASH = ref.LTHASH
DEFAULT_FAMILY = "merkle-sha256"
DEFAULT_LEAF_SIZE = ref.DEFAULT_LEAF_SIZE
MIN_LEAF_SIZE = ref.MIN_LEAF_SIZE
MAX_LEAF_SIZE = ref.MAX_LEAF_SIZE


@dataclass(frozen=True)
class Algorithm:
    """A hash family with its leaf size: everything that determines a digest."""

    family: str
    leaf_size: int = DEFAULT_LEAF_SIZE

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise UsageError(f"unknown algorithm {self.family!r}; known: {', '.join(FAMILIES)}")
        try:
            ref.check_leaf_size(self.leaf_size)
        except ref.SpecError as e:
            raise UsageError(str(e)) from None

    @property
    def id(self) -> str:
        """The canonical identifier, e.g. ``gh1-merkle-sha256-64k``."""
        return ref.algorithm_id(self.family, self.leaf_size)

    @property
    def digest_size(self) -> int:
        return ref.DIGEST_SIZES[self.family]

    @property
    def is_merkle(self) -> bool:
        return self.family in MERKLE_FAMILIES

    @property
    def has_tree(self) -> bool:
        """merkle-* and blake3 have a tree (and inclusion proofs); the lattice hash does not."""
        return self.family != LTHASH

    def __str__(self) -> str:
        return self.id


def resolve_algorithm(name: str | None = None, leaf_size: int | None = None) -> Algorithm:
    """An ``Algorithm`` from a family name (``merkle-sha256``) or a full identifier
    (``gh1-merkle-sha256-64k``), and an optional leaf size (bytes) that must agree with it."""
    name = DEFAULT_FAMILY if name is None else name
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
