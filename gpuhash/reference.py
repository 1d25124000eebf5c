"""The gpuhash specification v1 as one readable program: the reference implementation.

This file is the executable form of ``spec/v1/spec.md`` and the oracle every backend is compared
with. It is deliberately simple and slow: plain recursion, whole objects in memory, BLAKE3 written
out in Python. It uses only the Python standard library and imports nothing else from gpuhash, so
it can be read, copied and run on its own. Section numbers refer to the specification.

Public functions:

- ``algorithm_id`` / ``parse_algorithm_id``             section 2.2
- ``object_digest(family, data, leaf_size)``            sections 3, 4, 5
- ``artifact_digest(algorithm, entries)``               section 6
- ``hash_artifact(algorithm, objects)``                 sections 1 and 6
- ``prove`` / ``verify_proof``                          section 7
- ``lattice_*`` helpers and the update law              section 5
- ``read_model(path)``                                  section 1.2 (the objects of a model path)
- ``hf_repository`` / ``link_roots`` / ``walk_base``    section 1.2 (where links may lead)
- ``safetensors_objects(name, data)``                   section 1.3 (tensor objects)
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import os
import stat
import struct
from collections.abc import Callable, Iterable, Sequence

SPEC_VERSION = 1
ID_PREFIX = "gh1-"

MIN_LEAF_SIZE = 1 << 10
MAX_LEAF_SIZE = 1 << 24
DEFAULT_LEAF_SIZE = 1 << 16

# Object kinds (section 1).
KIND_FILE = 1
KIND_TENSOR = 2
KIND_TENSOR_HEADER = 3
KINDS = (KIND_FILE, KIND_TENSOR, KIND_TENSOR_HEADER)

# Families (section 2.2): name -> (hash constructor or None, digest size, depends on leaf size).
MERKLE_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "merkle-sha256": lambda b: hashlib.sha256(b).digest(),
    "merkle-sha512": lambda b: hashlib.sha512(b).digest(),
    "merkle-sha3-256": lambda b: hashlib.sha3_256(b).digest(),
}
BLAKE3 = "blake3"
LTHASH = "lthash16-shake256"
FAMILIES = (*MERKLE_HASHES, BLAKE3, LTHASH)
DIGEST_SIZES = {
    "merkle-sha256": 32,
    "merkle-sha512": 64,
    "merkle-sha3-256": 32,
    BLAKE3: 32,
    LTHASH: 2048,
}

# Role bytes: the last byte of every hash input (section 3, section 5, section 6).
ROLE_LEAF = b"\x00"
ROLE_NODE = b"\x01"
ROLE_OBJECT = b"\x02"
ROLE_ARTIFACT = b"\x03"
ROLE_LATTICE_LEAF = b"\x10"
ROLE_LATTICE_LENGTH = b"\x11"
ROLE_LATTICE_OBJECT = b"\x12"
ROLE_LATTICE_BASE = b"\x13"

LATTICE_LANES = 1024
LATTICE_BYTES = 2 * LATTICE_LANES

#: Ignored by default (section 1.2): git's files, which model_signing also leaves out ...
GIT_IGNORES = (".git", ".github", ".gitattributes", ".gitignore")
#: ... and the download metadata that huggingface_hub writes into a ``local_dir`` download.
HF_IGNORES = (".cache/huggingface",)
DEFAULT_IGNORES = GIT_IGNORES + HF_IGNORES

#: A Hugging Face cache repository folder is named ``<type>s--<id with / as -->`` (section 1.2).
HF_REPO_PREFIXES = ("models--", "datasets--", "spaces--")

# An artifact has at most this many objects (section 1.2): a bound against link fan-out.
MAX_OBJECTS = 1 << 18
# A walk enters one directory at most this many times, under as many names (section 1.2): a
# bound on link fan-out that needs no file to count.
MAX_DIRECTORY_VISITS = 16


class SpecError(ValueError):
    """Input that the specification does not allow (bad name, size, identifier, path...)."""


def le64(x: int) -> bytes:
    if not 0 <= x < 1 << 64:
        raise SpecError(f"{x} does not fit in 64 bits")
    return struct.pack("<Q", x)


def enc_str(s: str) -> bytes:
    """STR(s): LE64 byte length, then the UTF-8 bytes."""
    b = s.encode("utf-8")
    return le64(len(b)) + b


# ---------------------------------------------------------------------------------------------
# Section 2: parameters and identifiers
# ---------------------------------------------------------------------------------------------


def check_leaf_size(leaf_size: int) -> None:
    if not (MIN_LEAF_SIZE <= leaf_size <= MAX_LEAF_SIZE) or leaf_size & (leaf_size - 1):
        raise SpecError(
            f"leaf size {leaf_size} is not a power of two from {MIN_LEAF_SIZE} to {MAX_LEAF_SIZE}"
        )


def leaf_token(leaf_size: int) -> str:
    check_leaf_size(leaf_size)
    if leaf_size < 1 << 20:
        return f"{leaf_size >> 10}k"
    return f"{leaf_size >> 20}m"


def uses_leaf_size(family: str) -> bool:
    """Whether object digests of this family depend on the leaf size."""
    return family != BLAKE3


def algorithm_id(family: str, leaf_size: int) -> str:
    if family not in FAMILIES:
        raise SpecError(f"unknown hash family {family!r}")
    check_leaf_size(leaf_size)
    if uses_leaf_size(family):
        return f"{ID_PREFIX}{family}-{leaf_token(leaf_size)}"
    return f"{ID_PREFIX}{family}"


def parse_algorithm_id(ident: str) -> tuple[str, int | None]:
    """Return (family, leaf size) for a canonical identifier; leaf size None for blake3."""
    if not ident.startswith(ID_PREFIX):
        raise SpecError(f"unknown algorithm identifier {ident!r}")
    rest = ident[len(ID_PREFIX) :]
    if rest == BLAKE3:
        return BLAKE3, None
    family, sep, token = rest.rpartition("-")
    if sep and family in FAMILIES and uses_leaf_size(family) and token[-1:] in ("k", "m"):
        digits = token[:-1]
        if digits.isascii() and digits.isdigit() and not digits.startswith("0"):
            leaf_size = int(digits) << (10 if token[-1] == "k" else 20)
            if MIN_LEAF_SIZE <= leaf_size <= MAX_LEAF_SIZE and leaf_token(leaf_size) == token:
                check_leaf_size(leaf_size)
                return family, leaf_size
    raise SpecError(f"unknown algorithm identifier {ident!r}")


#: The object-model token of a digest line (section 2.3): the artifact's objects are tensors.
TENSORS_MARK = "+tensors"


def digest_line(algorithm: str, kinds: Iterable[int], digest: bytes) -> str:
    """ID [ "+tensors" ] ":" hex (section 2.3): "+tensors" when any object of the artifact
    (given by its kinds) is a TENSOR or TENSOR_HEADER object."""
    family, _ = parse_algorithm_id(algorithm)
    if len(digest) != DIGEST_SIZES[family]:
        raise SpecError(f"a {family} digest has {DIGEST_SIZES[family]} bytes, not {len(digest)}")
    tensors = any(k != KIND_FILE for k in kinds)
    return f"{algorithm}{TENSORS_MARK if tensors else ''}:{digest.hex()}"


def parse_digest_line(line: str) -> tuple[str, bool, bytes]:
    """(identifier, tensors, digest) of a digest line (section 2.3), matched exactly."""
    head, sep, hexdigest = line.partition(":")
    tensors = head.endswith(TENSORS_MARK)
    ident = head.removesuffix(TENSORS_MARK) if tensors else head
    family, _ = parse_algorithm_id(ident)
    width = 2 * DIGEST_SIZES[family]
    if not sep or len(hexdigest) != width or not all(c in "0123456789abcdef" for c in hexdigest):
        raise SpecError(f"not a digest line: {line!r}")
    return ident, tensors, bytes.fromhex(hexdigest)


def leaf_count(size: int, leaf_size: int) -> int:
    """n = max(1, ceil(size / L)) (section 2.1)."""
    return max(1, -(-size // leaf_size))


def split_leaves(data: bytes, leaf_size: int) -> list[bytes]:
    return [
        data[i * leaf_size : (i + 1) * leaf_size] for i in range(leaf_count(len(data), leaf_size))
    ]


def largest_power_of_two_below(m: int) -> int:
    """k = the largest power of two strictly less than m (m >= 2)."""
    return 1 << ((m - 1).bit_length() - 1)


# ---------------------------------------------------------------------------------------------
# Section 4: BLAKE3, written out (hash mode, 32-byte output). Not optimised.
# ---------------------------------------------------------------------------------------------

BLAKE3_CHUNK_LEN = 1024
BLAKE3_BLOCK_LEN = 64
BLAKE3_OUT_LEN = 32

# Domain-separation flags (BLAKE3 spec, section 2.1).
CHUNK_START = 1
CHUNK_END = 2
PARENT = 4
ROOT = 8

# The initialisation vector: the same eight words as SHA-256's IV.
IV = (
    0x6A09E667,
    0xBB67AE85,
    0x3C6EF372,
    0xA54FF53A,
    0x510E527F,
    0x9B05688C,
    0x1F83D9AB,
    0x5BE0CD19,
)

# Permutation applied to the 16 message words between rounds.
MSG_PERMUTATION = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)

MASK32 = 0xFFFFFFFF


def _rotr32(x: int, n: int) -> int:
    """Rotate a 32-bit word right by n bits."""
    return ((x >> n) | (x << (32 - n))) & MASK32


def _g(v: list[int], a: int, b: int, c: int, d: int, mx: int, my: int) -> None:
    """The G mixing function: mixes two message words into four state words in place."""
    v[a] = (v[a] + v[b] + mx) & MASK32
    v[d] = _rotr32(v[d] ^ v[a], 16)
    v[c] = (v[c] + v[d]) & MASK32
    v[b] = _rotr32(v[b] ^ v[c], 12)
    v[a] = (v[a] + v[b] + my) & MASK32
    v[d] = _rotr32(v[d] ^ v[a], 8)
    v[c] = (v[c] + v[d]) & MASK32
    v[b] = _rotr32(v[b] ^ v[c], 7)


def _round(v: list[int], m: list[int]) -> None:
    """One round: mix the columns, then the diagonals, of the 4x4 state."""
    # Columns.
    _g(v, 0, 4, 8, 12, m[0], m[1])
    _g(v, 1, 5, 9, 13, m[2], m[3])
    _g(v, 2, 6, 10, 14, m[4], m[5])
    _g(v, 3, 7, 11, 15, m[6], m[7])
    # Diagonals.
    _g(v, 0, 5, 10, 15, m[8], m[9])
    _g(v, 1, 6, 11, 12, m[10], m[11])
    _g(v, 2, 7, 8, 13, m[12], m[13])
    _g(v, 3, 4, 9, 14, m[14], m[15])


def _compress(cv: list[int], block: bytes, counter: int, block_len: int, flags: int) -> list[int]:
    """The BLAKE3 compression function, returning the first 8 output words.

    `cv` is the 8-word input chaining value, `block` is exactly 64 bytes (already zero
    padded), `counter` is the 64-bit counter (chunk counter for chunk blocks, 0 for
    parents), `block_len` is the number of meaningful bytes in the block, and `flags`
    is the OR of the domain flags.  Only the first 8 words of the full 16-word output
    are needed for chaining values and 32-byte root outputs.
    """
    assert len(block) == BLAKE3_BLOCK_LEN
    m = list(struct.unpack("<16I", block))
    v = [
        *cv,
        *IV[:4],
        counter & MASK32,
        (counter >> 32) & MASK32,
        block_len,
        flags,
    ]
    for r in range(7):
        _round(v, m)
        if r < 6:
            m = [m[i] for i in MSG_PERMUTATION]
    return [v[i] ^ v[i + 8] for i in range(8)]


def _words_to_bytes(words: list[int]) -> bytes:
    """Serialise 8 little-endian 32-bit words into 32 bytes."""
    return struct.pack("<8I", *words)


def blake3_chunk_cv(chunk: bytes, chunk_counter: int, *, root: bool = False) -> bytes:
    """Chaining value (32 bytes) of one chunk (0..1024 bytes) at the given chunk counter.
    If root is True, return instead the 32-byte root output (ROOT flag on the chunk's last block).
    """
    assert len(chunk) <= BLAKE3_CHUNK_LEN
    # Split into 64-byte blocks; an empty chunk still has one (empty) block.
    blocks = [chunk[i : i + BLAKE3_BLOCK_LEN] for i in range(0, len(chunk), BLAKE3_BLOCK_LEN)]
    if not blocks:
        blocks = [b""]
    cv = list(IV)
    for i, block in enumerate(blocks):
        flags = 0
        if i == 0:
            flags |= CHUNK_START
        if i == len(blocks) - 1:
            flags |= CHUNK_END
            if root:
                flags |= ROOT
        padded = block.ljust(BLAKE3_BLOCK_LEN, b"\x00")
        cv = _compress(cv, padded, chunk_counter, len(block), flags)
    return _words_to_bytes(cv)


def blake3_parent_cv(left_cv: bytes, right_cv: bytes, *, root: bool = False) -> bytes:
    """Chaining value of a parent node; with root=True the 32-byte root output.

    The parent's flags are PARENT, plus ROOT when root=True.
    """
    assert len(left_cv) == BLAKE3_OUT_LEN
    assert len(right_cv) == BLAKE3_OUT_LEN
    flags = PARENT | (ROOT if root else 0)
    # A parent's message block is the two child CVs; its counter is always 0.
    words = _compress(list(IV), left_cv + right_cv, 0, BLAKE3_BLOCK_LEN, flags)
    return _words_to_bytes(words)


def blake3_subtree_cv(data: bytes, first_chunk_counter: int, *, root: bool = False) -> bytes:
    """CV (or root output if root=True) of the BLAKE3 subtree covering `data`, whose first chunk has
    counter `first_chunk_counter`. data may be empty only if root is True and counter is 0
    (the empty input). The subtree is split as BLAKE3 does: the left part holds the largest power
    of two number of chunks that leaves at least one chunk for the right. Recursive; simple.
    """
    if len(data) == 0:
        # Only the whole input (root, counter 0) may be empty.
        assert root, "an empty subtree must be the root"
        assert first_chunk_counter == 0, "an empty input starts at chunk counter 0"
    if len(data) <= BLAKE3_CHUNK_LEN:
        return blake3_chunk_cv(data, first_chunk_counter, root=root)
    # Number of chunks, counting a trailing partial chunk as a chunk.
    n_chunks = (len(data) + BLAKE3_CHUNK_LEN - 1) // BLAKE3_CHUNK_LEN
    # Largest power of two strictly less than n_chunks (n_chunks >= 2 here).
    left_chunks = 1 << ((n_chunks - 1).bit_length() - 1)
    split = left_chunks * BLAKE3_CHUNK_LEN
    left = blake3_subtree_cv(data[:split], first_chunk_counter)
    right = blake3_subtree_cv(data[split:], first_chunk_counter + left_chunks)
    return blake3_parent_cv(left, right, root=root)


def blake3(data: bytes) -> bytes:
    """Standard 32-byte BLAKE3 hash = blake3_subtree_cv(data, 0, root=True)."""
    return blake3_subtree_cv(data, 0, root=True)


# ---------------------------------------------------------------------------------------------
# Sections 3 and 4: the tree over leaves, shared by merkle-* and blake3
# ---------------------------------------------------------------------------------------------


def leaf_value(family: str, leaf: bytes, index: int, leaf_size: int, root: bool) -> bytes:
    """LEAF(d) for merkle-* (section 3); LEAF_i, a subtree chaining value, for blake3 (section 4).

    ``root`` is true only for the single leaf of a one-leaf object (it matters to BLAKE3 only).
    """
    if family in MERKLE_HASHES:
        return MERKLE_HASHES[family](leaf + ROLE_LEAF)
    if family == BLAKE3:
        return blake3_subtree_cv(leaf, index * (leaf_size // BLAKE3_CHUNK_LEN), root=root)
    raise SpecError(f"family {family!r} has no Merkle tree")


def node_value(family: str, left: bytes, right: bytes, root: bool) -> bytes:
    """NODE(l, r); ``root`` marks the tree's top node (it matters to BLAKE3 only)."""
    if family in MERKLE_HASHES:
        return MERKLE_HASHES[family](left + right + ROLE_NODE)
    if family == BLAKE3:
        return blake3_parent_cv(left, right, root=root)
    raise SpecError(f"family {family!r} has no Merkle tree")


def finish_object(family: str, top: bytes, size: int, leaf_size: int) -> bytes:
    """OBJECT from the tree's top value (section 3); for blake3 the top value is the digest."""
    if family in MERKLE_HASHES:
        return MERKLE_HASHES[family](top + le64(size) + le64(leaf_size) + ROLE_OBJECT)
    return top


def subtree_value(
    family: str, leaves: Sequence[bytes], lo: int, hi: int, leaf_size: int, root: bool
) -> bytes:
    """MTH over leaves lo..hi-1 (section 3), recursively, in the RFC 6962 shape."""
    if hi - lo == 1:
        return leaf_value(family, leaves[lo], lo, leaf_size, root)
    k = largest_power_of_two_below(hi - lo)
    left = subtree_value(family, leaves, lo, lo + k, leaf_size, False)
    right = subtree_value(family, leaves, lo + k, hi, leaf_size, False)
    return node_value(family, left, right, root)


# ---------------------------------------------------------------------------------------------
# Section 5: the lattice hash
# ---------------------------------------------------------------------------------------------

Lattice = tuple[int, ...]  # 1024 lanes, each 0..65535


def lattice_expand(x: bytes) -> Lattice:
    """E(x): SHAKE256(x), 2048 bytes, as 1024 little-endian uint16 lanes."""
    return struct.unpack(f"<{LATTICE_LANES}H", hashlib.shake_256(x).digest(LATTICE_BYTES))


def lattice_add(a: Lattice, b: Lattice) -> Lattice:
    return tuple((x + y) & 0xFFFF for x, y in zip(a, b, strict=True))


def lattice_sub(a: Lattice, b: Lattice) -> Lattice:
    return tuple((x - y) & 0xFFFF for x, y in zip(a, b, strict=True))


def lattice_bytes(a: Lattice) -> bytes:
    return struct.pack(f"<{LATTICE_LANES}H", *a)


def lattice_from_bytes(b: bytes) -> Lattice:
    if len(b) != LATTICE_BYTES:
        raise SpecError(f"a lattice digest has {LATTICE_BYTES} bytes, not {len(b)}")
    return struct.unpack(f"<{LATTICE_LANES}H", b)


def lattice_leaf_element(leaf: bytes, index: int) -> Lattice:
    """ELEM_i = E(d_i || LE64(i) || 0x10)."""
    return lattice_expand(leaf + le64(index) + ROLE_LATTICE_LEAF)


def lattice_length_element(size: int, leaf_size: int) -> Lattice:
    """ELEN = E(LE64(size) || LE64(L) || 0x11)."""
    return lattice_expand(le64(size) + le64(leaf_size) + ROLE_LATTICE_LENGTH)


def lattice_object(data: bytes, leaf_size: int) -> Lattice:
    acc = lattice_length_element(len(data), leaf_size)
    for i, leaf in enumerate(split_leaves(data, leaf_size)):
        acc = lattice_add(acc, lattice_leaf_element(leaf, i))
    return acc


# ---------------------------------------------------------------------------------------------
# Object digests (sections 3, 4, 5)
# ---------------------------------------------------------------------------------------------


def object_digest(family: str, data: bytes, leaf_size: int) -> bytes:
    check_leaf_size(leaf_size)
    if family == LTHASH:
        return lattice_bytes(lattice_object(data, leaf_size))
    leaves = split_leaves(data, leaf_size)
    top = subtree_value(family, leaves, 0, len(leaves), leaf_size, True)
    return finish_object(family, top, len(data), leaf_size)


def leaf_values(family: str, data: bytes, leaf_size: int) -> list[bytes]:
    """Every leaf's value (LEAF for merkle-*, chaining value for blake3, ELEM for the lattice)."""
    leaves = split_leaves(data, leaf_size)
    if family == LTHASH:
        return [lattice_bytes(lattice_leaf_element(d, i)) for i, d in enumerate(leaves)]
    return [leaf_value(family, d, i, leaf_size, len(leaves) == 1) for i, d in enumerate(leaves)]


def tree_levels(family: str, data: bytes, leaf_size: int) -> list[list[bytes]]:
    """The tree level by level, leaves first, built as section 3 allows: pair (0,1), (2,3), ...
    and carry a lone last node up unchanged. The last level holds the top value."""
    levels = [leaf_values(family, data, leaf_size)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        top = len(below) == 2
        level = [
            node_value(family, below[i], below[i + 1], top) for i in range(0, len(below) - 1, 2)
        ]
        if len(below) % 2:
            level.append(below[-1])
        levels.append(level)
    return levels


# ---------------------------------------------------------------------------------------------
# Section 6: the artifact digest
# ---------------------------------------------------------------------------------------------

Entry = tuple[int, str, int, bytes]  # (kind, name, size, object digest)


#: The most characters of a value quoted in a message (``shown``).
SHOWN_CHARS = 200


def shown(value: object) -> str:
    """``repr(value)`` for a message, its middle cut out past ``SHOWN_CHARS`` characters: names
    and keys come from the files read, and a hostile one may be megabytes long (a string is cut
    before ``repr``, which would copy it whole, four bytes a character)."""
    half = SHOWN_CHARS // 2
    if isinstance(value, str | bytes) and len(value) > SHOWN_CHARS:
        return f"{repr(value[: half + 1])[:half]}...{repr(value[-half - 1 :])[-half:]}"
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:half]}...{text[-half:]}"


def check_name(name: str, kind: int) -> None:
    """Section 1.1."""
    if not name:
        raise SpecError("an object name is empty")
    if "\x00" in name:
        raise SpecError(f"object name {shown(name)} contains NUL")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise SpecError(f"object name {shown(name)} is not valid Unicode") from None
    if kind not in KINDS:
        raise SpecError(f"object {shown(name)} has unknown kind {kind}")
    if kind == KIND_FILE:
        if name.startswith("/"):
            raise SpecError(f"file name {shown(name)} is absolute")
        for part in name.split("/"):
            if part in ("", ".", ".."):
                raise SpecError(f"file name {shown(name)} has an empty, '.' or '..' component")


def sort_entries(entries: Iterable[Entry]) -> list[Entry]:
    """Order by the unsigned bytes of the UTF-8 names; names must be unique."""
    ordered = sorted(entries, key=lambda e: e[1].encode("utf-8"))
    for a, b in itertools.pairwise(ordered):
        if a[1] == b[1]:
            raise SpecError(f"object name {shown(a[1])} appears twice")
    return ordered


def entry_bytes(entry: Entry) -> bytes:
    """ENTRY(o) = U8(kind) || STR(name) || LE64(size) || digest."""
    kind, name, size, digest = entry
    return bytes([kind]) + enc_str(name) + le64(size) + digest


def artifact_digest(algorithm: str, entries: Iterable[Entry]) -> bytes:
    family, _ = parse_algorithm_id(algorithm)
    ordered = sort_entries(entries)
    for kind, name, _size, digest in ordered:
        check_name(name, kind)
        if len(digest) != DIGEST_SIZES[family]:
            raise SpecError(f"object {shown(name)} has a digest of {len(digest)} bytes")
    if family == LTHASH:
        acc = lattice_expand(enc_str(algorithm) + ROLE_LATTICE_BASE)
        for entry in ordered:
            acc = lattice_add(acc, lattice_object_element(algorithm, entry))
        return lattice_bytes(acc)
    body = enc_str(algorithm) + le64(len(ordered))
    body += b"".join(entry_bytes(e) for e in ordered) + ROLE_ARTIFACT
    if family == BLAKE3:
        return blake3(body)
    return MERKLE_HASHES[family](body)


def lattice_object_element(algorithm: str, entry: Entry) -> Lattice:
    """EOBJ(o) = E(STR(ID) || ENTRY(o) || 0x12): what adding or removing object o changes."""
    return lattice_expand(enc_str(algorithm) + entry_bytes(entry) + ROLE_LATTICE_OBJECT)


def hash_artifact(
    algorithm: str, objects: Iterable[tuple[str, int, bytes]]
) -> tuple[list[Entry], bytes]:
    """Hash named objects ``(name, kind, bytes)``: the sorted entries and the artifact digest."""
    family, leaf_size = parse_algorithm_id(algorithm)
    leaf = leaf_size if leaf_size is not None else DEFAULT_LEAF_SIZE
    entries = [
        (kind, name, len(data), object_digest(family, data, leaf)) for name, kind, data in objects
    ]
    entries = sort_entries(entries)
    return entries, artifact_digest(algorithm, entries)


# ---------------------------------------------------------------------------------------------
# Section 7: inclusion proofs
# ---------------------------------------------------------------------------------------------


def _check_range(family: str, n: int, first: int, count: int) -> None:
    if family not in MERKLE_HASHES and family != BLAKE3:
        raise SpecError(f"family {family!r} has no inclusion proofs")
    if count < 1 or first < 0 or first + count > n:
        raise SpecError(f"leaf range [{first}, {first + count}) is not within 0..{n}")


def leaf_range(offset: int, length: int, leaf_size: int) -> tuple[int, int]:
    """The leaves (first, count) covering bytes [offset, offset + length)."""
    first = offset // leaf_size
    last = max(first + 1, -(-(offset + length) // leaf_size))
    return first, last - first


def proof_leaves(start: int, end: int, size: int, leaf_size: int) -> tuple[int, int]:
    """The leaves (first, count) a proof for bytes [start, end) of an object of ``size`` bytes
    reveals (section 7). The range must be non-empty and inside the object; the one exception
    is [0, 0) of the empty object, whose only leaf is empty."""
    if not 0 <= start <= end:
        raise SpecError(f"range {start}:{end} ends before it starts")
    if end > size:
        raise SpecError(f"range {start}:{end} ends past the object's {size} bytes")
    if start == end and size > 0:
        raise SpecError(
            f"range {start}:{end} is empty: a proof covers at least one byte "
            "(only an empty object is proven with the range 0:0)"
        )
    return leaf_range(start, end - start, leaf_size)


def proof_ranges(family: str, n: int, first: int, count: int) -> list[tuple[int, int]]:
    """The leaf ranges [lo, hi) whose subtree values PROVE(0, n) emits for leaves
    [first, first + count) of an object of n leaves, in order."""
    _check_range(family, n, first, count)
    a, b = first, first + count
    out: list[tuple[int, int]] = []

    def walk(lo: int, hi: int) -> None:
        if hi <= a or lo >= b:
            out.append((lo, hi))
        elif hi - lo > 1:
            k = largest_power_of_two_below(hi - lo)
            walk(lo, lo + k)
            walk(lo + k, hi)

    walk(0, n)
    return out


def prove(family: str, data: bytes, leaf_size: int, first: int, count: int) -> list[bytes]:
    """The proof P for leaves [first, first + count) of ``data``: PROVE(0, n)'s emissions."""
    leaves = split_leaves(data, leaf_size)
    ranges = proof_ranges(family, len(leaves), first, count)
    return [subtree_value(family, leaves, lo, hi, leaf_size, False) for lo, hi in ranges]


def verify_proof(
    family: str,
    leaf_size: int,
    size: int,
    digest: bytes,
    first: int,
    leaves: Sequence[bytes],
    nodes: Sequence[bytes],
) -> bool:
    """True if and only if ``leaves`` are the leaves from ``first`` on of the object of ``size``
    bytes with ``digest``."""
    check_leaf_size(leaf_size)
    n = leaf_count(size, leaf_size)
    try:
        _check_range(family, n, first, len(leaves))
    except SpecError:
        return False
    a, b = first, first + len(leaves)
    for i, leaf in enumerate(leaves, start=a):
        expected = min(leaf_size, size - i * leaf_size) if size else 0
        if len(leaf) != expected:
            return False
    width = DIGEST_SIZES[family]
    if any(len(v) != width for v in nodes):
        return False
    queue = list(nodes)

    def compute(lo: int, hi: int, root: bool) -> bytes | None:
        if hi <= a or lo >= b:
            return queue.pop(0) if queue else None
        if hi - lo == 1:
            return leaf_value(family, leaves[lo - a], lo, leaf_size, root)
        k = largest_power_of_two_below(hi - lo)
        left = compute(lo, lo + k, False)
        right = compute(lo + k, hi, False)
        if left is None or right is None:
            return None
        return node_value(family, left, right, root)

    top = compute(0, n, True)
    if top is None or queue:
        return False
    return hmac.compare_digest(finish_object(family, top, size, leaf_size), digest)


# ---------------------------------------------------------------------------------------------
# Section 1.2: the objects of a model path
# ---------------------------------------------------------------------------------------------


def _is_ignored(rel: str, ignores: Sequence[str]) -> bool:
    return any(rel == ig or rel.startswith(ig + "/") for ig in ignores)


def _fs_name(raw: str, where: str) -> str:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise SpecError(f"{where}: file name is not valid UTF-8") from None
    return raw


def _resolve_ignores(
    ignore_paths: Sequence[str], given: str, root: str, defaults: Sequence[str]
) -> list[str]:
    """The ignore paths as POSIX paths relative to P (section 1.2)."""
    ignores = list(defaults)
    for ig in ignore_paths:
        norm = os.path.normpath(ig).replace(os.sep, "/")
        if os.path.isabs(ig):
            # Inside P as the caller wrote it, or inside its resolved form.
            absolute = os.path.abspath(ig)
            base = given if absolute == given or absolute.startswith(given + os.sep) else root
            norm = os.path.relpath(absolute, base).replace(os.sep, "/")
        if norm == ".":
            raise SpecError(f"ignore path {ig!r} is the model directory itself")
        if norm == ".." or norm.startswith("../"):
            raise SpecError(f"ignore path {ig!r} is outside the model directory")
        ignores.append(norm)
    return ignores


def _is_hex40(name: str) -> bool:
    return len(name) == 40 and all(c in "0123456789abcdef" for c in name)


def hf_repository(root: str) -> str | None:
    """The repository folder ``R`` when the resolved directory ``root`` is a Hugging Face cache
    snapshot ``R/snapshots/REV`` or a folder below one (section 1.2), else None: ``R``'s name
    starts with ``models--``, ``datasets--`` or ``spaces--``, ``REV`` is a 40-digit lower-case
    hex commit hash, and ``R/blobs`` is a directory (not a link). The innermost such ``R``."""
    parts = root.split(os.sep)
    for i in range(len(parts) - 2, 0, -1):
        repo = parts[i - 1]
        if parts[i] != "snapshots" or not _is_hex40(parts[i + 1]):
            continue
        if not any(repo.startswith(p) and len(repo) > len(p) for p in HF_REPO_PREFIXES):
            continue
        repository = os.sep.join(parts[:i]) or os.sep
        try:
            blobs = os.lstat(os.path.join(repository, "blobs"))
        except OSError:
            continue
        if stat.S_ISDIR(blobs.st_mode):
            return repository
    return None


def _hub_hint(path: str) -> str:
    """For a message about ``path``: how to name a revision when ``path`` is a Hugging Face
    cache repository folder ``R`` (or ``R/snapshots``) rather than one snapshot of it, whose
    links to ``R/blobs`` are followed (section 1.2); else nothing. Hashing ``R`` itself would
    list every blob, ref and revision."""
    root = os.path.realpath(os.path.abspath(path))
    repo = os.path.dirname(root) if os.path.basename(root) == "snapshots" else root
    name = os.path.basename(repo)
    if not any(name.startswith(p) and len(name) > len(p) for p in HF_REPO_PREFIXES):
        return ""
    if not (
        os.path.isdir(os.path.join(repo, "blobs"))
        and os.path.isdir(os.path.join(repo, "snapshots"))
    ):
        return ""
    revision = "REV"
    try:
        with open(os.path.join(repo, "refs", "main"), "rb") as f:
            ref = f.read(64).strip().decode("ascii")
        if _is_hex40(ref):
            revision = ref
    except (OSError, UnicodeDecodeError):
        pass
    shown = (
        os.path.join(path, revision) if repo != root else os.path.join(path, "snapshots", revision)
    )
    return f" ({name} is a Hugging Face cache repository: hash one revision, {shown})"


def _within(target: str, directory: str) -> bool:
    return target == directory or target.startswith(directory.rstrip(os.sep) + os.sep)


def link_roots(path: str, link_root: str | None = None) -> tuple[str | None, str | None]:
    """The resolved link root the caller gave (it must contain the resolved P) and the Hugging
    Face repository folder P is a snapshot of (section 1.2), each None when there is none."""
    root = os.path.realpath(os.path.abspath(path))
    declared = None
    if link_root is not None:
        if not link_root:
            raise SpecError("the link root is empty")
        declared = os.path.realpath(os.path.abspath(link_root))
        if not os.path.isdir(declared):
            raise SpecError(f"link root {link_root!r} is not a directory")
        if not _within(root, declared):
            raise SpecError(f"link root {link_root!r} does not contain the model directory")
    return declared, (hf_repository(root) if os.path.isdir(root) else None)


def walk_base(path: str, link_root: str | None = None) -> str:
    """The directory below which every file that ``list_model`` returns for ``path`` lies: the
    link root, else the Hugging Face repository folder, else P (its folder for a single file)."""
    root = os.path.realpath(os.path.abspath(path))
    if not os.path.isdir(root):
        return os.path.dirname(root)
    declared, repository = link_roots(path, link_root)
    if declared is not None and (repository is None or _within(repository, declared)):
        return declared
    return repository or root


def list_model(
    path: str,
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    *,
    link_root: str | None = None,
    default_ignores: Sequence[str] = DEFAULT_IGNORES,
) -> list[tuple[str, str]]:
    """The FILE objects of a model path per section 1.2, as (name, path to read), unsorted.

    ``default_ignores``: the default ignore paths that apply (a subset of ``DEFAULT_IGNORES``:
    the caller may leave out ``GIT_IGNORES``, and a verifier the ones a signature lists objects
    under). ``link_root``: links may resolve anywhere inside this directory, which contains P."""
    if not path:
        raise SpecError("the model path is empty")
    given = os.path.abspath(path)
    root = os.path.realpath(given)  # P itself is resolved: the caller chose it
    st = os.stat(root)
    if stat.S_ISREG(st.st_mode):
        return [(_fs_name(os.path.basename(given), given), root)]
    if not stat.S_ISDIR(st.st_mode):
        raise SpecError(f"{path}: not a regular file or directory")
    ignores = _resolve_ignores(ignore_paths, given, root, default_ignores)
    declared, repository = link_roots(path, link_root)
    blobs = None if repository is None else os.path.join(repository, "blobs")
    follow = allow_symlinks or declared is not None
    out: list[tuple[str, str]] = []

    # Depth-first, without recursion (no depth limit); ``seen`` holds the (device, inode) of the
    # directories on the way down, to detect cycles through links; ``entered`` how often each
    # directory was walked (bounded, so links cannot make the walk much longer than the tree).
    top = os.stat(root)
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        (root, "", frozenset({(top.st_dev, top.st_ino)}))
    ]
    entered = {(top.st_dev, top.st_ino): 1}
    while stack:
        directory, rel_dir, seen = stack.pop()
        for entry in sorted(os.listdir(directory)):
            full = os.path.join(directory, entry)
            rel = _fs_name(f"{rel_dir}{entry}", full)
            if _is_ignored(rel, ignores):
                continue
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                target = os.path.realpath(full)
                # ``target`` is resolved, so its folder is the real ``R/blobs`` and no link on
                # the way can lead elsewhere.
                in_blobs = blobs is not None and os.path.dirname(target) == blobs
                if in_blobs and not os.path.exists(target):
                    raise SpecError(f"{rel}: symbolic link is dangling")
                if in_blobs and os.path.isfile(target):
                    pass  # a Hugging Face snapshot's link to one of its blobs: followed
                elif not follow:
                    raise SpecError(f"{rel}: symbolic links are not allowed{_hub_hint(path)}")
                elif not (_within(target, root) or (declared and _within(target, declared))):
                    where = "the model directory" if declared is None else "the link root"
                    raise SpecError(f"{rel}: symbolic link points outside {where}")
                if not os.path.exists(target):
                    raise SpecError(f"{rel}: symbolic link is dangling")
                st = os.stat(target)
                full = target
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    raise SpecError(f"{rel}: symbolic links form a cycle")
                entered[key] = entered.get(key, 0) + 1
                if entered[key] > MAX_DIRECTORY_VISITS:
                    raise SpecError(
                        f"{rel}: symbolic links reach this directory more than "
                        f"{MAX_DIRECTORY_VISITS} times"
                    )
                stack.append((full, rel + "/", seen | {key}))
            elif stat.S_ISREG(st.st_mode):
                out.append((rel, full))
                if len(out) > MAX_OBJECTS:
                    raise SpecError(f"{path}: more than {MAX_OBJECTS} objects")
            else:
                raise SpecError(f"{rel}: not a regular file, directory or symbolic link")
    return out


def read_model(
    path: str,
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    *,
    link_root: str | None = None,
    default_ignores: Sequence[str] = DEFAULT_IGNORES,
) -> list[tuple[str, int, bytes]]:
    """The FILE objects of a model path as (name, kind, bytes), per section 1.2."""
    out = []
    listed = list_model(
        path, ignore_paths, allow_symlinks, link_root=link_root, default_ignores=default_ignores
    )
    for name, full in listed:
        with open(full, "rb") as f:
            out.append((name, KIND_FILE, f.read()))
    return out


def hash_model(
    path: str,
    algorithm: str,
    ignore_paths: Sequence[str] = (),
    allow_symlinks: bool = False,
    tensors: bool = False,
    *,
    link_root: str | None = None,
    default_ignores: Sequence[str] = DEFAULT_IGNORES,
) -> tuple[list[Entry], bytes]:
    """Hash a model path (section 1.2) with an algorithm identifier; with ``tensors``, each
    ``.safetensors`` file is split into its tensor objects (section 1.3)."""
    objects = read_model(
        path, ignore_paths, allow_symlinks, link_root=link_root, default_ignores=default_ignores
    )
    if tensors:
        split: list[tuple[str, int, bytes]] = []
        for name, kind, data in objects:
            if name.endswith(SAFETENSORS_SUFFIX):
                split.extend((o[0], o[1], o[2]) for o in safetensors_objects(name, data))
            else:
                split.append((name, kind, data))
        objects = split
    return hash_artifact(algorithm, objects)


# ---------------------------------------------------------------------------------------------
# Section 1.3: tensor objects of a safetensors file
# ---------------------------------------------------------------------------------------------

SAFETENSORS_SUFFIX = ".safetensors"
TENSOR_SEPARATOR = "::"
HEADER_OBJECT = "__metadata__"  # the one key a safetensors header reserves: no tensor has it
MAX_HEADER_BYTES = 100_000_000
#: Bytes per element of every dtype section 1.3 accepts.
SAFETENSORS_DTYPES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}

TensorInfo = tuple[str, list[int], int]  # (dtype, shape, offset of the bytes in the file)
#: At most this many dimensions per tensor (a bound on the work a header can ask for).
MAX_DIMENSIONS = 64
#: At most this many ``__metadata__`` entries, and dimensions in all of a header's tensors.
MAX_METADATA_ENTRIES = 1 << 16
MAX_HEADER_DIMENSIONS = 1 << 21


def check_tensor_name(tensor: str, where: str) -> None:
    """Section 1.3: a tensor name is a valid object name without ``::`` (so that ``F::T``
    names one tensor of one file) and is not ``__metadata__``."""
    if tensor == HEADER_OBJECT:
        raise SpecError(f"{where}: a tensor may not be named {HEADER_OBJECT}")
    if TENSOR_SEPARATOR in tensor:
        raise SpecError(f"{where}: a tensor name may not contain {TENSOR_SEPARATOR!r}")
    check_name(tensor, KIND_TENSOR)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise SpecError(f"duplicate key {shown(key)}")
        out[key] = value
    return out


def is_text(value: object) -> bool:
    """A string of Unicode text: JSON escapes can spell a lone surrogate, which is not."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_header_counts(name: str, entries: int, dimensions: int) -> None:
    """A header's ``__metadata__`` entries and its tensors' dimensions in all, within limits."""
    if entries > MAX_METADATA_ENTRIES:
        raise SpecError(f"{name}: __metadata__ has more than {MAX_METADATA_ENTRIES} entries")
    if dimensions > MAX_HEADER_DIMENSIONS:
        raise SpecError(f"{name}: its tensors have more than {MAX_HEADER_DIMENSIONS} dimensions")


def safetensors_layout(name: str, size: int, prefix: bytes) -> tuple[int, dict[str, TensorInfo]]:
    """Validate a safetensors file of ``size`` bytes from its first bytes ``prefix`` (at least
    ``8 + N``, the header): returns ``N`` and, per tensor, its dtype, shape and file offset. The
    tensors' byte ranges must tile the data section exactly (section 1.3)."""
    if size < 8 or len(prefix) < 8:
        raise SpecError(f"{name}: too short for a safetensors file ({size} bytes)")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n < 2 or n > MAX_HEADER_BYTES or 8 + n > size:
        raise SpecError(f"{name}: header length {n} out of bounds (file of {size} bytes)")
    if len(prefix) < 8 + n:
        raise SpecError(f"{name}: header truncated")
    try:
        text = prefix[8 : 8 + n].decode("utf-8")
        header = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise SpecError(f"{name}: header is not valid UTF-8") from None
    except (ValueError, RecursionError) as e:
        raise SpecError(f"{name}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SpecError(f"{name}: header is not a JSON object")
    data_len = size - 8 - n
    tensors: dict[str, TensorInfo] = {}
    spans: list[tuple[int, int, str]] = []
    entries = 0
    for key, value in header.items():
        if key == HEADER_OBJECT:
            if not isinstance(value, dict) or not all(
                is_text(k) and is_text(v) for k, v in value.items()
            ):
                raise SpecError(f"{name}: __metadata__ must map strings to strings")
            entries = len(value)
            continue
        where = f"{name}: tensor {shown(key)}"
        check_tensor_name(key, where)
        if not isinstance(value, dict) or set(value) != {"dtype", "shape", "data_offsets"}:
            raise SpecError(f"{where}: needs exactly dtype, shape and data_offsets")
        dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
            raise SpecError(f"{where}: unknown dtype {shown(dtype)}")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_DIMENSIONS
            or not all(type(d) is int and 0 <= d < 1 << 63 for d in shape)
        ):
            raise SpecError(
                f"{where}: shape must be a list of at most {MAX_DIMENSIONS} non-negative integers"
            )
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_len
        ):
            raise SpecError(f"{where}: data_offsets out of range (data is {data_len} bytes)")
        if math.prod(shape) * SAFETENSORS_DTYPES[dtype] != offsets[1] - offsets[0]:
            raise SpecError(f"{where}: {dtype} x {shape} is not {offsets[1] - offsets[0]} bytes")
        tensors[key] = (dtype, list(shape), 8 + n + offsets[0])
        spans.append((offsets[0], offsets[1], key))
    check_header_counts(name, entries, sum(len(t[1]) for t in tensors.values()))
    at = 0
    for begin, end, key in sorted(spans):
        if begin != at:
            what = "overlaps the previous tensor" if begin < at else f"leaves a gap at {at}"
            raise SpecError(f"{name}: tensor {shown(key)} {what}")
        at = end
    if at != data_len:
        raise SpecError(f"{name}: {data_len - at} bytes after the last tensor")
    return n, tensors


def safetensors_objects(name: str, data: bytes) -> list[tuple[str, int, bytes, TensorInfo | None]]:
    """The objects of the safetensors file ``name`` with bytes ``data`` (section 1.3): its
    header ``<name>::__metadata__`` (TENSOR_HEADER: the length prefix and the JSON header) and
    one TENSOR ``<name>::<tensor>`` per tensor, with its (dtype, shape, file offset)."""
    n, tensors = safetensors_layout(name, len(data), data)
    out: list[tuple[str, int, bytes, TensorInfo | None]] = [
        (f"{name}{TENSOR_SEPARATOR}{HEADER_OBJECT}", KIND_TENSOR_HEADER, data[: 8 + n], None)
    ]
    for tensor, (dtype, shape, offset) in tensors.items():
        size = math.prod(shape) * SAFETENSORS_DTYPES[dtype]
        out.append(
            (
                f"{name}{TENSOR_SEPARATOR}{tensor}",
                KIND_TENSOR,
                data[offset : offset + size],
                (dtype, shape, offset),
            )
        )
    return out
