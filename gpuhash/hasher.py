"""A hashlib-style streaming hasher for one object: ``gpuhash.new(algorithm)``.

``h = gpuhash.new("merkle-sha256"); h.update(a); h.update(b); h.digest()`` gives the object
digest of ``a + b`` (spec sections 3 to 5), equal to ``gpuhash.hash_bytes(a + b, ...)`` however
the bytes are split between ``update`` calls.

Design: the object digest binds the object's length (``OBJECT`` hashes ``LE64(size)``; the
lattice length element ``ELEN`` likewise), but the *tree* does not need it up front. Leaves are
fixed-size and the tree is left-balanced (RFC 6962), so the bytes stream through the backend in
windows of ``W = 2^j * L`` bytes: a window is hashed only once at least one byte beyond it has
arrived, so it is never the whole object and its top is the value of a complete subtree of
``W / L`` leaves (never a BLAKE3 root). Complete subtrees merge on a stack like a binary counter
(two of equal size become their parent), so the stack holds at most ``log2(n / (W / L)) + 1``
values for ``n`` leaves. ``digest()`` hashes the buffered remainder (1 to ``W`` bytes) and folds
the stack onto it from the right, which is exactly the RFC 6962 shape, then applies ``OBJECT``
with the length seen. For the lattice family the same code sums elements (``hash_nodes`` is
lane-wise addition there, so the "tree" is just a running sum). State: the stack, one window
buffer (``W`` bytes, the backend's batch size rounded down to a power-of-two multiple of ``L``;
mapped on first use, page-aligned, its pages touched only as far as it is filled) and a byte
count: bounded whatever the object's size. The digest is the engine's, since this is the
engine's window construction (``gpuhash.engine``) fed incrementally. An update larger than a
window is hashed where it lies; only the remainder is copied.

A backend that hashes a family natively (the ``cpu`` backend's BLAKE3 with the ``blake3``
package) is handed the bytes directly instead (``HashBackend.object_hasher``).

``size=`` declares the length up front. The digest does not need it; it is a check: an
``update`` that would pass it, or a ``digest()`` before it is reached, is an error naming both
sizes, so a short or overlong stream never yields a digest of something else. With
``backend="auto"`` it also selects the backend as ``hash_bytes`` does (the ``cpu`` backend under
64 MiB, else the best device); without it ``auto`` means ``cpu``: a stream of unknown length is
not worth starting a device for (name a backend to stream through one).
"""

from __future__ import annotations

import contextlib
import mmap
import weakref
from array import array
from typing import Any

from gpuhash import reference as ref
from gpuhash.algorithms import DEFAULT_FAMILY, Algorithm, resolve_algorithm
from gpuhash.api import AUTO_DEVICE_MIN_BYTES
from gpuhash.backend import HashBackend, LeafTable, ObjectHasher
from gpuhash.digests import finish_object
from gpuhash.engine import window_bytes
from gpuhash.errors import BackendError, UsageError
from gpuhash.geometry import data_bytes
from gpuhash.registry import AUTO, get_backend
from gpuhash.sources import memory_source

__all__ = ["Hasher", "new"]


class _Lease:
    """A backend opened by ``new``, shared by a hasher and its copies, closed with the last."""

    def __init__(self, backend: HashBackend) -> None:
        self.backend = backend
        self.users = 0

    def acquire(self) -> None:
        self.users += 1

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            self.backend.close()


class Hasher:
    """The streaming hasher of one object; made by :func:`new`.

    hashlib's interface, where it means something here:

    ``update(data)``, ``digest()``, ``hexdigest()``, ``copy()``
        As hashlib's. ``digest()`` does not end the hasher: ``update`` may follow and the next
        digest covers everything so far (unless a declared ``size`` is passed).
    ``name``
        The algorithm identifier, e.g. ``gh1-merkle-sha256-64k`` (spec section 2.2): it names
        every parameter of the digest, so unlike hashlib's ``"sha256"`` it includes the leaf size.
    ``digest_size``
        Bytes of ``digest()``: 32, 64, or 2048 for ``lthash16-shake256``.

    No ``block_size``: these are tree hashes, not Merkle-Damgard ones, and the specification
    defines no keyed (HMAC) use of them. Also: ``algorithm`` (the ``Algorithm``), ``leaf_size``
    (``L``), ``size`` (the declared size or ``None``) and ``length`` (bytes given so far).

    A hasher is not thread-safe: use it from one thread at a time.
    """

    def __init__(
        self,
        algorithm: Algorithm,
        backend: HashBackend,
        lease: _Lease | None,
        size: int | None,
    ) -> None:
        caps = backend.capabilities()
        if algorithm.family not in caps.families:
            raise BackendError(f"backend {backend.name} does not support {algorithm.family}")
        self.algorithm = algorithm
        self.size = size
        self.length = 0
        self._backend = backend
        self._window = window_bytes(algorithm, data_bytes(algorithm, caps.batch_bytes))
        self._native: ObjectHasher | None = None
        if algorithm.family in caps.native_objects:
            self._native = backend.object_hasher(algorithm, -1 if size is None else size)
        #: Complete subtrees, largest first: (value, leaves covered).
        self._stack: list[tuple[bytes, int]] = []
        #: The window being filled: ``_fill`` bytes of ``_buffer`` (``W`` bytes, mapped when first
        #: needed: page-aligned, so a device sharing host memory can use it in place).
        self._buffer: mmap.mmap | None = None
        self._fill = 0
        self._closed = False
        self._lease = lease
        self._release: weakref.finalize[Any, Hasher] | None = None
        if lease is not None:
            lease.acquire()
            self._release = weakref.finalize(self, lease.release)

    # -- hashlib's attributes ------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.algorithm.id

    @property
    def digest_size(self) -> int:
        return self.algorithm.digest_size

    @property
    def leaf_size(self) -> int:
        return self.algorithm.leaf_size

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.length} bytes"
        return f"<gpuhash.Hasher {self.name} ({state})>"

    # -- hashing -------------------------------------------------------------------------------

    def update(self, data: object, /) -> None:
        """Add bytes: anything with the buffer protocol, or a numpy array (its bytes in C
        order). Nothing is absorbed when the call raises."""
        self._check_open("update")
        if isinstance(data, str):
            raise UsageError("update: text must be encoded to bytes first")
        source = memory_source("update", ref.KIND_FILE, data)
        if source.device:
            raise UsageError(
                "update: a device array cannot be streamed; hash it in place with "
                "gpuhash.hash_bytes(array, backend=...)"
            )
        view: memoryview = source.data
        with view:
            n = len(view)
            if self.size is not None and self.length + n > self.size:
                raise UsageError(
                    f"update: {self.length + n} bytes exceed the declared size of {self.size} bytes"
                )
            if self._native is not None:
                self._native.update(view)
            else:
                self._absorb(view)
            self.length += n

    def _absorb(self, view: memoryview) -> None:
        w, n, pos = self._window, len(view), 0
        if self._fill:
            pos = min(w - self._fill, n)
            self._buffered()[self._fill : self._fill + pos] = view[:pos]
            self._fill += pos
            if pos == n:  # a full window is kept until a byte beyond it arrives
                return
            with memoryview(self._buffered()) as full:
                self._push(self._window_top(full, self._leaves_done(), whole=False))
            self._fill = 0
        while n - pos > w:
            self._push(self._window_top(view[pos : pos + w], self._leaves_done(), whole=False))
            pos += w
        if pos < n:
            self._buffered()[: n - pos] = view[pos:]
            self._fill = n - pos

    def _buffered(self) -> mmap.mmap:
        if self._buffer is None:
            self._buffer = mmap.mmap(-1, self._window)
        return self._buffer

    def _leaves_done(self) -> int:
        return sum(leaves for _, leaves in self._stack)

    def _push(self, value: bytes) -> None:
        """A full window's subtree onto the stack; equal neighbours merge (never a root: more
        bytes follow every window pushed)."""
        leaves = self._window // self.leaf_size
        while self._stack and self._stack[-1][1] == leaves:
            left, _ = self._stack.pop()
            value = self._node(left, value, root=False)
            leaves *= 2
        self._stack.append((value, leaves))

    def _node(self, left: bytes, right: bytes, root: bool) -> bytes:
        value = self._backend.hash_nodes(self.algorithm, left + right, bytes([root]))
        if len(value) != self.digest_size:
            raise BackendError(f"{self._backend.name}: hash_nodes returned {len(value)} bytes")
        return value

    def _window_top(self, data: memoryview, first: int, whole: bool) -> bytes:
        """The top of the subtree over the leaves of ``data``, the first being leaf ``first``
        of the object; ``whole``: ``data`` is the entire object."""
        leaf, size = self.leaf_size, len(data)
        n = ref.leaf_count(size, leaf)
        table = LeafTable(
            offset=array("Q", range(0, n * leaf, leaf)),
            length=array("Q", [leaf] * (n - 1) + [size - (n - 1) * leaf]),
            index=array("Q", range(first, first + n)),
            root=array("B", [int(whole and n == 1)] * n),
        )
        top = self._backend.hash_subtrees(self.algorithm, data, table, [n], [whole])
        if len(top) != self.digest_size:
            raise BackendError(f"{self._backend.name}: hash_subtrees returned {len(top)} bytes")
        return top

    def digest(self) -> bytes:
        """The object digest of the bytes given so far (the hasher stays usable)."""
        self._check_open("digest")
        if self.size is not None and self.length != self.size:
            raise UsageError(
                f"digest: {self.length} bytes were given but the declared size is {self.size}"
            )
        if self._native is not None:
            return bytes(self._native.digest())
        with (
            memoryview(self._buffer if self._buffer is not None else b"") as b,
            b[: self._fill] as rest,
        ):
            top = self._window_top(rest, self._leaves_done(), whole=not self._stack)
        for i in range(len(self._stack) - 1, -1, -1):
            top = self._node(self._stack[i][0], top, root=i == 0)
        return finish_object(self.algorithm, top, self.length)

    def hexdigest(self) -> str:
        return self.digest().hex()

    def copy(self) -> Hasher:
        """An independent hasher in the same state (sharing the backend)."""
        self._check_open("copy")
        native = None
        if self._native is not None:
            copier = getattr(self._native, "copy", None)
            if copier is None:
                raise UsageError(
                    f"copy: the {self._backend.name} backend's native "
                    f"{self.algorithm.family} hasher cannot be copied"
                )
            native = copier()
        other = Hasher.__new__(Hasher)
        other.algorithm, other.size, other.length = self.algorithm, self.size, self.length
        other._backend, other._window, other._native = self._backend, self._window, native
        other._stack, other._buffer, other._fill = list(self._stack), None, self._fill
        if self._buffer is not None and self._fill:
            other._buffered()[: self._fill] = self._buffer[: self._fill]
        other._closed, other._lease, other._release = False, self._lease, None
        if self._lease is not None:
            self._lease.acquire()
            other._release = weakref.finalize(other, self._lease.release)
        return other

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the backend ``new`` opened for this hasher (once no copy uses it); a backend
        instance passed to ``new`` stays the caller's. The hasher cannot be used afterwards.
        Also done when the hasher is garbage-collected, or on leaving a ``with`` block."""
        self._closed = True
        self._native = None
        self._stack, self._fill = [], 0
        if self._buffer is not None:
            with contextlib.suppress(BufferError):  # a backend still holding a view: GC closes
                self._buffer.close()
            self._buffer = None
        if self._release is not None:
            self._release()

    def __enter__(self) -> Hasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise UsageError(f"{what}: the hasher is closed")


def new(
    algorithm: str | Algorithm = DEFAULT_FAMILY,
    data: object = b"",
    *,
    leaf_size: int | None = None,
    size: int | None = None,
    backend: str | HashBackend = AUTO,
) -> Hasher:
    """A streaming hasher for one object, as ``hashlib.new(name, data)``: ``algorithm`` is a
    family (``merkle-sha256``, ``blake3``...) or an identifier (``gh1-merkle-sha256-64k``),
    ``data`` the first bytes. ``size``: the object's length, if known (checked; see the module
    docstring). ``backend``: a name (opened here, closed with the hasher) or a ``HashBackend``
    instance (used as given, never closed here)."""
    if not isinstance(algorithm, str | Algorithm):
        raise UsageError(f"algorithm must be a name such as 'merkle-sha256', not {algorithm!r:.40}")
    if isinstance(algorithm, Algorithm):
        if leaf_size is not None and leaf_size != algorithm.leaf_size:
            raise UsageError(f"leaf size {leaf_size} disagrees with algorithm {algorithm.id}")
        alg = algorithm
    else:
        alg = resolve_algorithm(algorithm, leaf_size)
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 1 << 64
    ):
        raise UsageError(f"size must be a byte count from 0 to 2^64 - 1, not {size!r:.40}")
    if isinstance(backend, HashBackend):
        hasher = Hasher(alg, backend, None, size)
    else:
        if backend == AUTO and (size is None or size < AUTO_DEVICE_MIN_BYTES):
            backend = "cpu"
        instance = get_backend(backend, algorithm=alg)
        lease = _Lease(instance)
        try:
            hasher = Hasher(alg, instance, lease, size)
        except BaseException:
            if lease.users == 0:
                instance.close()
            raise
    hasher.update(data)
    return hasher
