"""Object, artifact and lattice digests, computed on the host from a backend's tree values.

``finish_object`` turns the top of an object's tree (or its lattice leaf sum) into its object
digest (``OBJECT``, spec section 3; the lattice length element, section 5); ``artifact_digest``
combines object digests (section 6) and ``lattice_update`` updates a lattice artifact digest in
O(changed objects). ``subtree_values`` gives proof values (section 7), ``object_from_windows``
the object digest that signed range values fold to (section 11). ``ObjectDigest`` is one object
of a manifest; ``source_file`` names the file it was read from.
"""

from __future__ import annotations

import hashlib
import hmac
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpuhash import reference as ref
from gpuhash._typing import Buffer
from gpuhash.algorithms import BLAKE3, LTHASH, Algorithm
from gpuhash.backend import HashBackend, LeafTable
from gpuhash.errors import BackendError, InputError, UsageError
from gpuhash.sources import FileStat
from gpuhash.tree import reduce_groups

if TYPE_CHECKING:
    import numpy as np

# numpy (and blake3) are imported where they are used: the BLAKE3 path needs neither numpy nor
# anything else heavy, which keeps `gpuhash digest` quick to start.

__all__ = [
    "ObjectDigest",
    "WindowTops",
    "artifact_digest",
    "digests_equal",
    "finish_object",
    "lattice_update",
    "object_from_windows",
    "ordered_artifact_digest",
    "source_file",
    "spec_order",
    "subtree_values",
]


@dataclass(frozen=True, slots=True)
class ObjectDigest:
    """One object of a manifest: name, kind, size, digest (and tensor metadata, later)."""

    name: str
    kind: int
    size: int
    digest: bytes
    tensor: dict[str, object] | None = field(default=None, compare=False)
    #: The file as it was when listed (``FileStat``: file size, mtime_ns, ctime_ns, inode,
    #: device); informative, used by incremental re-hashing (``gpuhash.incremental.rehash``).
    stat: FileStat | None = field(default=None, compare=False)

    @property
    def entry(self) -> ref.Entry:
        """``(kind, name, size, digest)``: what the artifact digest is computed over."""
        return (self.kind, self.name, self.size, self.digest)


def source_file(o: ObjectDigest) -> str:
    """The file an object of a manifest was read from."""
    if o.kind == ref.KIND_TENSOR and o.tensor:
        return str(o.tensor["source"])
    suffix = ref.TENSOR_SEPARATOR + ref.HEADER_OBJECT
    if o.kind == ref.KIND_TENSOR_HEADER and o.name.endswith(suffix):
        return o.name[: -len(suffix)]
    return o.name


def spec_order(objects: Iterable[ObjectDigest]) -> list[ObjectDigest]:
    """``objects`` in specification order (by the unsigned bytes of the UTF-8 names, spec
    section 6), checked: names valid for their kind (section 1.1) and unique. Objects already
    in order (a loaded manifest, a sorted listing) are checked in one pass, without a sort or a
    key per object held at once, so that ordering a large manifest costs no more memory than
    the list itself."""
    ordered = list(objects)
    try:
        for o in ordered:
            ref.check_name(o.name, o.kind)
    except ref.SpecError as e:
        raise InputError(str(e)) from None
    if not _strictly_increasing(ordered):
        ordered.sort(key=lambda o: o.name.encode("utf-8"))
        _strictly_increasing(ordered)
    return ordered


def _strictly_increasing(objects: Sequence[ObjectDigest]) -> bool:
    """Whether the names of ``objects`` increase strictly; ``InputError`` for a name that
    appears twice in a row."""
    previous: bytes | None = None
    for o in objects:
        key = o.name.encode("utf-8")
        if previous is not None and key <= previous:
            if key == previous:
                raise InputError(f"object name {ref.shown(o.name)} appears twice")
            return False
        previous = key
    return True


#: Entries hashed into an artifact digest per ``update`` call.
_ENTRIES_PER_UPDATE = 4096


def artifact_digest(algorithm: Algorithm, objects: Iterable[ObjectDigest]) -> bytes:
    """ARTIFACT (spec section 6) with fast primitives; equal to ``reference.artifact_digest``.
    The entries are hashed as they are encoded, a few thousand at a time, never all held as
    bytes at once."""
    return ordered_artifact_digest(algorithm, spec_order(objects))


def ordered_artifact_digest(algorithm: Algorithm, ordered: Sequence[ObjectDigest]) -> bytes:
    """``artifact_digest`` of objects already in specification order and checked
    (``spec_order``'s result), without ordering and checking their names again."""
    ident = algorithm.id
    for o in ordered:
        if len(o.digest) != algorithm.digest_size:
            raise InputError(f"object {ref.shown(o.name)} has a digest of {len(o.digest)} bytes")
    if algorithm.family == LTHASH:
        acc = _lanes(_shake(ref.enc_str(ident) + ref.ROLE_LATTICE_BASE))
        for o in ordered:
            acc += _lanes(
                _shake(ref.enc_str(ident) + ref.entry_bytes(o.entry) + ref.ROLE_LATTICE_OBJECT)
            )
        return acc.tobytes()
    if algorithm.family == BLAKE3:
        import blake3

        h: Any = blake3.blake3()
    else:
        h = algorithm.info.hashlib_constructor()
    h.update(ref.enc_str(ident) + ref.le64(len(ordered)))
    for at in range(0, len(ordered), _ENTRIES_PER_UPDATE):
        h.update(b"".join(ref.entry_bytes(o.entry) for o in ordered[at : at + _ENTRIES_PER_UPDATE]))
    h.update(ref.ROLE_ARTIFACT)
    return bytes(h.digest())


def lattice_update(
    algorithm: Algorithm,
    digest: bytes,
    removed: Iterable[ObjectDigest],
    added: Iterable[ObjectDigest],
) -> bytes:
    """The lattice artifact digest after removing and adding objects (spec section 6, update
    law): O(changed objects), whatever the artifact's size."""
    if algorithm.family != LTHASH:
        raise UsageError(f"{algorithm.family} has no update law; only {LTHASH} has")
    ident = ref.enc_str(algorithm.id)

    def element(o: ObjectDigest) -> Any:
        return _lanes(_shake(ident + ref.entry_bytes(o.entry) + ref.ROLE_LATTICE_OBJECT))

    acc = _lanes(digest).copy()
    for o in removed:
        acc -= element(o)
    for o in added:
        acc += element(o)
    return bytes(acc.tobytes())


def digests_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison (spec sections 5 and 7)."""
    return hmac.compare_digest(a, b)


def _shake(x: bytes) -> bytes:
    return hashlib.shake_256(x).digest(ref.LATTICE_BYTES)


def _lanes(b: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(b, dtype="<u2").astype(np.uint16)


def subtree_values(
    backend: HashBackend,
    algorithm: Algorithm,
    data: Buffer,
    size: int,
    ranges: Sequence[tuple[int, int]],
    *,
    first_byte: int = 0,
) -> list[bytes]:
    """The value of the subtree over leaves [lo, hi) of an object (its bytes ``data``, ``size``
    long) for each range, never a root (proof values, spec section 7), computed by
    ``backend`` in one ``hash_subtrees`` call. ``first_byte``: where ``data`` starts in the
    object (a multiple of the leaf size), when it holds only the ranges' bytes."""
    leaf = algorithm.leaf_size
    offsets, lengths, indices, roots = array("Q"), array("Q"), array("Q"), array("B")
    for lo, hi in ranges:
        for j in range(lo, hi):
            offsets.append(j * leaf - first_byte)
            lengths.append(min(leaf, size - j * leaf) if size else 0)
            indices.append(j)
            roots.append(0)
    table = LeafTable(offset=offsets, length=lengths, index=indices, root=roots)
    counts = [hi - lo for lo, hi in ranges]
    values = backend.hash_subtrees(algorithm, data, table, counts, [False] * len(ranges))
    d = algorithm.digest_size
    if len(values) != len(ranges) * d:
        raise BackendError(f"{backend.name}: hash_subtrees returned {len(values)} bytes")
    return [values[i * d : (i + 1) * d] for i in range(len(ranges))]


@dataclass
class WindowTops:
    """What ``hash_sources(window_tops=...)`` fills: the window size ``span`` (bytes, a power-of-
    two multiple of the leaf size) and, per object name, the tops of its windows in order."""

    span: int = 0
    values: dict[str, list[bytes]] = field(default_factory=dict)


def object_from_windows(algorithm: Algorithm, tops: Sequence[bytes], size: int) -> bytes:
    """The object digest that window tops (range values, spec section 11) fold to."""
    from gpuhash.backends.cpu import CpuBackend

    backend = CpuBackend()
    try:
        (top,) = reduce_groups(backend, algorithm, b"".join(tops), [len(tops)], [True])
    finally:
        backend.close()
    return finish_object(algorithm, top, size)


def finish_object(algorithm: Algorithm, top: bytes, size: int) -> bytes:
    """The object digest from the value at the top of its tree (or its lattice leaf sum)."""
    family, leaf = algorithm.family, algorithm.leaf_size
    if family == LTHASH:
        length = _shake(ref.le64(size) + ref.le64(leaf) + ref.ROLE_LATTICE_LENGTH)
        return bytes((_lanes(top) + _lanes(length)).tobytes())
    return ref.finish_object(family, top, size, leaf)  # one hash: the reference is fast enough
