"""Real backends that change a file while they hash it, for ``test_changes_while_hashed.py``.

Each hashes exactly as the backend it derives from, and once, when it is handed the last leaf
of the file it watches (before hashing that leaf), changes the file one way:

* ``rewrite``: the same size, other bytes;
* ``restore``: rewritten, then its mtime put back with ``os.utime`` (only the ctime moves);
* ``truncate``: cut to half its size;
* ``extend``: a few bytes appended.

The file and the action come from the constructor or, for a command line run in a child process
(where the tests register these classes through an entry point), from ``GPUHASH_TEST_CHANGE``
(``ACTION:PATH``). ``when="first"`` changes the file at the first call instead (for hashing
that is not of the file's own leaves: tensors loaded into memory).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from gpuhash import reference as ref
from gpuhash.algorithms import Algorithm
from gpuhash.backend import Capabilities, LeafTable
from gpuhash.backends.cpu import CpuBackend

__all__ = ["ACTIONS", "ENV", "ChangesFile", "Watcher", "change"]

ENV = "GPUHASH_TEST_CHANGE"
ACTIONS = ("rewrite", "restore", "truncate", "extend")
#: Windows of 2 MiB, so that a file of a few MiB has several, the last one large enough to be
#: mapped (with ``use_mmap``) or handed over as a ``FileSpan`` (reading: the default); the
#: engine does either for windows of 1 MiB or more.
BATCH = 2 << 20


def change(action: str, path: str) -> None:
    """Change the file ``path`` as ``action`` says (see the module docstring)."""
    st = os.stat(path)
    if action in ("rewrite", "restore"):
        with open(path, "r+b") as f:
            head = f.read(4096)
            f.seek(0)
            f.write(bytes(b ^ 0xFF for b in head))
        if action == "restore":
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif action == "truncate":
        os.truncate(path, st.st_size // 2)
    elif action == "extend":
        with open(path, "ab") as f:
            f.write(b"more")
    else:
        raise ValueError(f"unknown action {action!r}")


class Watcher:
    """When to change which file: ``leaves(algorithm, table)`` before each hash call."""

    def __init__(self, action: str | None, path: str | None, when: str = "last") -> None:
        if action is None and path is None:
            action, _, path = os.environ.get(ENV, ":").partition(":")
        self.action = action or ""
        self.path = path or ""
        self.when = when
        self.size = os.stat(self.path).st_size if self.path else 0
        self.done = False

    def leaves(self, algorithm: Algorithm, table: LeafTable | None) -> None:
        if self.done or not self.path:
            return
        if self.when == "last":
            assert table is not None
            L = algorithm.leaf_size
            last = ref.leaf_count(self.size, L) - 1
            tail = self.size - last * L
            if not any(
                i == last and n == tail for i, n in zip(table.index, table.length, strict=True)
            ):
                return
        self.done = True
        change(self.action, self.path)

    def bytes_fed(self, before: int, now: int) -> None:
        """For whole-object hashers: ``now`` bytes of an object fed, ``before`` until now."""
        if not self.done and self.path and before < self.size <= now:
            self.done = True
            change(self.action, self.path)


class _Hasher:
    def __init__(self, inner: Any, watcher: Watcher) -> None:
        self.inner, self.watcher, self.fed = inner, watcher, 0

    def update(self, data: Any) -> None:
        n = memoryview(data).nbytes
        self.watcher.bytes_fed(self.fed, self.fed + n)
        self.fed += n
        self.inner.update(data)

    def digest(self) -> bytes:
        return bytes(self.inner.digest())


class ChangesFile(CpuBackend):
    """The cpu backend, in 2 MiB windows, changing its watched file (see the module)."""

    name = "changes"

    def __init__(
        self, action: str | None = None, path: str | None = None, when: str = "last"
    ) -> None:
        super().__init__()
        self.watcher = Watcher(action, path, when)

    def capabilities(self) -> Capabilities:
        return dataclasses.replace(super().capabilities(), batch_bytes=BATCH)

    def hash_leaves(self, algorithm: Algorithm, data: Any, table: LeafTable) -> bytes:
        self.watcher.leaves(algorithm, table)
        return super().hash_leaves(algorithm, data, table)

    def object_hasher(self, algorithm: Algorithm, size: int) -> Any:
        inner = super().object_hasher(algorithm, size)
        return None if inner is None else _Hasher(inner, self.watcher)


def device_backend(base: type, action: str, path: str, **options: Any) -> Any:
    """An instance of a subclass of the device backend class ``base`` that changes ``path``
    (``action``) when hashing its last leaf, in 2 MiB windows."""

    class Changes(base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(**options)
            self.watcher = Watcher(action, path)

        def capabilities(self) -> Capabilities:
            caps: Capabilities = super().capabilities()
            return dataclasses.replace(caps, batch_bytes=BATCH)

        def hash_subtrees(self, algorithm: Algorithm, data: Any, table: LeafTable, *a: Any) -> Any:
            self.watcher.leaves(algorithm, table)
            return super().hash_subtrees(algorithm, data, table, *a)

    return Changes()
