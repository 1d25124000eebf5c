"""The ``HashBackend`` contract: what a vendor implements.

A backend provides a handful of *batched primitives*; the tree shape, the object and artifact
digests, streaming, batching and proofs live in the core (``gpuhash.engine``,
``gpuhash.batches``, ``gpuhash.digests``, ``gpuhash.proofs``) and are shared by every backend, so
a backend cannot get the tree shape wrong. The members:

``name``
    The registry name (``cpu``, ``opencl``...).
``capabilities()``
    What it can do: algorithm families, devices, preferred batch size, a priority for ``auto``.
``hash_leaves(algorithm, data, table)``
    Hash many leaves, of one or many objects, in one call. ``data`` is one buffer (host memory,
    or a device buffer the backend understands; a ``FileSpan`` for a backend that declares
    ``file_spans``, see below); row ``j`` of ``table`` names the leaf
    ``data[offset[j] : offset[j] + length[j]]``, its index within its object, and whether it is
    the only leaf of its object (``root``). The columns are ``array.array`` objects (stdlib,
    buffer protocol: ``numpy.frombuffer(table.offset, dtype=numpy.uint64)`` views one without a
    copy, ready for a device transfer). Returns the leaf values concatenated, ``D`` bytes
    each: ``LEAF(d)`` for ``merkle-*``, the subtree chaining value for ``blake3`` (the root output
    when ``root``), the lattice element ``ELEM_i`` for ``lthash16-shake256``.
``hash_nodes(algorithm, children, roots)``
    Combine ``m`` pairs of values given as ``2*m*D`` bytes (pair ``i`` is values ``2i, 2i+1``)
    into ``m`` values: ``NODE(l, r)`` (with the BLAKE3 ROOT flag where ``roots[i]`` is 1), or
    the lane-wise sum modulo 2^16 for the lattice hash. ``roots`` has one byte per pair.
``hash_subtrees(algorithm, data, table, counts, whole)``
    Optional (the default uses the two above): hash the leaves of ``table`` and reduce each
    group of ``counts[i]`` consecutive rows to the top of its subtree, with the specification's
    shape (``gpuhash.tree``); ``whole[i]`` says group ``i`` is an entire object, so its top pair
    gets BLAKE3's ROOT flag. Returns ``len(counts) * D`` bytes. This is the call the engine
    makes for every batch; a device backend overrides it to keep the tree on the device
    (``gpuhash.tree.schedule`` gives the launch tables) and return only the tops.
``object_hasher(algorithm, size)``
    Optional: a native whole-object hasher (``update(buffer)``, ``digest()``) when the backend
    has a faster way to produce the object digest than leaves and nodes (for example a
    multi-threaded BLAKE3 library); ``None`` otherwise. ``size`` is the object's length, or -1
    when it is not known yet (a ``gpuhash.new`` stream without ``size=``): a hasher that needs
    it returns ``None`` then. ``digest()`` may be called more than once, with updates between.
``close()``
    Release devices and pools.
``probe()``
    Optional, a class method: whether the backend can work here and the highest priority it
    could report, found cheaply (device nodes, a driver library) without creating a context,
    importing a device stack or building kernels. ``auto`` probes every backend first and
    starts only those that could beat the best one started so far; the default says
    "available, priority unknown" (the backend is started to find out).

File spans: a backend that declares ``Capabilities.file_spans`` may be handed, as the ``data``
of ``hash_subtrees`` and ``hash_leaves``, a ``FileSpan`` instead of a buffer: a window of an open
file that it reads itself (``FileSpan.readinto``), in pieces, on the threads that hash them, so
each piece is copied into a small buffer that stays in the CPU's cache and is hashed at once
(the engine would otherwise copy the whole window into memory first, on one thread, and the
hashing threads would read it back from memory). The engine does this only when it reads files
(``use_mmap=False``, the default), for windows of 1 MiB or more of one file; the table's offsets
are then relative to the span's first byte. The engine owns the span's descriptor: it checks
the file through it once the window was hashed (spec section 1.2), then closes it; a backend
must not keep a span past the call. A backend that does not declare the flag never sees one.

Two optional methods serve the conformance suite (``gpuhash-conformance``), which looks for them
by name: ``digest_messages(primitive, messages)`` (plain SHA-256, SHA-512 or SHA3-256 digests
with the device's kernels, checked against NIST CAVP) and, for a backend with
``device_arrays``, ``device_array(data, offset=0)`` (a device array of its own kind holding a
copy of ``data``, starting ``offset`` bytes into its allocation), so the suite can hash device
memory in place; a backend that declares ``device_arrays`` without it fails that check.

Correctness never depends on how a backend splits work: every value above is defined by the
specification alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

# Buffer is part of the contract (the bytes every method takes), so vendors import it from here.
from gpuhash._io import pread_into
from gpuhash._typing import Buffer as Buffer
from gpuhash.errors import BackendError, InputError
from gpuhash.tree import reduce_groups

if TYPE_CHECKING:
    from array import array
    from collections.abc import Sequence

    from gpuhash.algorithms import Algorithm


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do on this machine."""

    families: frozenset[str]
    devices: tuple[str, ...] = ()
    #: Bytes per ``hash_leaves`` call that keep the backend busy (a hint for batching), for an
    #: algorithm whose tree takes at most ``gpuhash.geometry.VALUE_OVERHEAD`` bytes per data
    #: byte; the engine gives one whose tree takes more less data (``geometry.data_bytes``).
    batch_bytes: int = 64 << 20
    #: ``auto`` picks the available backend with the highest priority.
    priority: int = 0
    #: Families for which ``object_hasher`` returns a native hasher.
    native_objects: frozenset[str] = field(default_factory=frozenset)
    #: ``hash_subtrees`` (and ``hash_leaves``) may run on one thread while ``hash_nodes`` runs
    #: on another; the engine then hashes one batch while it finishes the previous one.
    concurrent: bool = False
    #: With ``concurrent``: how many ``hash_subtrees`` calls the engine keeps running at once
    #: (on as many threads); a device backend with two buffer sets says 2, so one batch's
    #: transfer overlaps the previous batch's kernels.
    in_flight: int = 1
    #: ``hash_leaves`` accepts this backend's device arrays as ``data`` (hashed in place).
    device_arrays: bool = False
    #: With ``device_arrays``: ``read_file`` reads windows of files straight into device memory
    #: (GPUDirect Storage, for instance); the engine then neither maps nor copies them.
    file_reads: bool = False
    #: ``hash_subtrees`` and ``hash_leaves`` accept a ``FileSpan`` as ``data`` (windows of files
    #: the backend reads itself, piece by piece, where it hashes them; see the module).
    file_spans: bool = False


@dataclass(frozen=True)
class FileSpan:
    """Bytes ``[offset, offset + length)`` of the open regular file ``fd``, handed to a backend
    that declares ``file_spans`` in place of a buffer; ``name`` names the object in errors.

    Read it with ``readinto``, never past ``length`` bytes; the engine owns ``fd`` (it checks
    the file through it once the span was hashed, then closes it), so do not close it or keep
    the span after the call returns."""

    fd: int
    offset: int
    length: int
    name: str

    def readinto(self, out: memoryview, at: int = 0) -> None:
        """Fill ``out`` (a writable byte view) with the span's bytes ``[at, at + len(out))``,
        however many reads that takes. A file that ends first (it was truncated meanwhile) is
        an ``InputError`` (``{name}: file changed while it was being hashed``), as is a failed
        read; bytes past the span are a ``ValueError`` (a bug in the caller, not a changed
        file)."""
        if at < 0 or at + len(out) > self.length:
            raise ValueError(
                f"{self.name}: bytes [{at}, {at + len(out)}) are outside a span of {self.length}"
            )
        try:
            pread_into(self.fd, out, self.offset + at, self.name)
        except InputError:
            raise
        except OSError as e:
            raise InputError(f"{self.name}: cannot read: {e.strerror or e}") from None


@dataclass(frozen=True)
class LeafTable:
    """Leaves to hash within one buffer; all arrays have one row per leaf."""

    offset: array[int]  # "Q" (uint64): byte offset of the leaf in the buffer
    length: array[int]  # "Q": leaf length in bytes (0..L)
    index: array[int]  # "Q": the leaf's index within its object
    root: array[int]  # "B": 1 if the leaf is its object's only leaf, else 0

    def __len__(self) -> int:
        return len(self.offset)


@dataclass(frozen=True)
class Probe:
    """What ``HashBackend.probe`` found out without starting the backend."""

    #: ``False``: the backend cannot work here (``reason`` says why); ``True``: it may.
    available: bool
    reason: str = ""
    #: The highest priority the backend could report here; ``None``: unknown until started.
    priority: int | None = None


class ObjectHasher(Protocol):
    def update(self, data: Buffer, /) -> object: ...

    def digest(self) -> bytes: ...


class HashBackend(ABC):
    """Batched hashing primitives on one device (or the host)."""

    name: ClassVar[str]

    @abstractmethod
    def capabilities(self) -> Capabilities:
        """Algorithm families, devices, batch size and priority."""

    @abstractmethod
    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        """Leaf values for every row of ``table``, ``algorithm.digest_size`` bytes each."""

    @abstractmethod
    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        """One value for each pair of values in ``children``; ``roots[i]`` marks a tree's top."""

    def hash_subtrees(
        self,
        algorithm: Algorithm,
        data: Buffer,
        table: LeafTable,
        counts: Sequence[int],
        whole: Sequence[bool],
    ) -> bytes:
        """The top value of each group of leaves (``counts[i]`` consecutive rows of ``table``),
        ``algorithm.digest_size`` bytes each; ``whole[i]`` marks a group that is a whole tree."""
        values = self.hash_leaves(algorithm, data, table)
        if len(values) != len(table) * algorithm.digest_size:
            raise BackendError(f"{self.name}: hash_leaves returned {len(values)} bytes")
        return b"".join(reduce_groups(self, algorithm, values, counts, whole))

    def read_file(self, fd: int, offset: int, length: int) -> object | None:
        """Bytes ``[offset, offset + length)`` of the open regular file ``fd``, read straight
        into device memory, as a device array this backend hashes in place (only called with
        ``capabilities().file_reads``). Return ``None`` to have the engine read the window
        itself; raise ``InputError`` when fewer bytes could be read (the file changed). The
        engine owns ``fd``: it checks the file again through it once the window was hashed
        (spec section 1.2), then closes it."""
        return None

    def object_hasher(self, algorithm: Algorithm, size: int) -> ObjectHasher | None:
        """A native whole-object hasher for ``algorithm``, or ``None`` (the default)."""
        return None

    @classmethod
    def probe(cls) -> Probe:
        """Whether this backend can work here and its highest possible priority, without
        creating a context, importing a device stack or building kernels (the default: it
        may, priority unknown)."""
        return Probe(True)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. The backend is not used afterwards."""
