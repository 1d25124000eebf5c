"""The one way gpuhash opens, reads and maps the files it hashes.

Every reader (the engine, proofs, verified loading, model_signing resources, the safetensors
and GGUF header readers) goes through these helpers, so that every file is opened beneath its
model without following links (``open_beneath``), checked against what was listed
(``open_checked``), read completely or not at all (``pread_into``), mapped window by window
with its offset aligned for ``mmap`` (``map_fd``), and checked again once its bytes were
consumed (``OpenFile.check``): a file whose size, mtime, ctime, inode or device moved in between
is an ``InputError`` (spec section 1.2), never a digest of bytes that never existed together.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from gpuhash.errors import InputError

if TYPE_CHECKING:
    from gpuhash.sources import Source

#: ``madvise`` advice for a window the hashing threads fault in, in parallel (read-ahead).
WILLNEED = getattr(mmap, "MADV_WILLNEED", None)
#: ``madvise`` advice for a window read once, front to back, on one thread.
SEQUENTIAL = getattr(mmap, "MADV_SEQUENTIAL", None)


def open_beneath(root: str, rel: str) -> int:
    """Open ``root/rel`` for reading, following no symbolic link below ``root``: every directory
    on the way is opened relative to its parent with ``O_NOFOLLOW``, so a directory swapped for
    a link after the model was listed cannot send the read outside the model."""
    parts = rel.split("/")
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    dfd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for part in parts[:-1]:
            nfd = os.open(part, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | nofollow, dir_fd=dfd)
            os.close(dfd)
            dfd = nfd
        # O_NONBLOCK: a file swapped for a FIFO after listing fails the caller's regular-file
        # check instead of blocking the open forever (it changes nothing for regular files).
        return os.open(parts[-1], os.O_RDONLY | nofollow | os.O_NONBLOCK, dir_fd=dfd)
    finally:
        os.close(dfd)


def open_source(src: Source) -> int:
    """A read-only descriptor for a file source (beneath its root when it has one)."""
    assert src.path is not None
    if src.root is not None and src.rel is not None:
        return open_beneath(src.root, src.rel)
    return os.open(src.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)


#: What ``fstat`` says of an open file that any change to it moves: (size, mtime_ns, ctime_ns,
#: inode, device). A write moves the ctime even where the writer restores the mtime.
FileState = tuple[int, int, int, int, int]


def file_state(st: os.stat_result) -> FileState:
    """The ``FileState`` of a stat result."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def changed(name: str, doing: str = "hashed") -> InputError:
    """The error for a file that changed while it was read: ``{name}: file changed while it
    was being {doing}``."""
    return InputError(f"{name}: file changed while it was being {doing}")


def open_pinned(src: Source) -> tuple[int, FileState]:
    """A read-only descriptor for a file source that is still the file it was when listed (a
    regular file of the listed size; device, inode, mtime and ctime too, when those were
    recorded), and its ``FileState`` now; ``InputError`` otherwise. The caller closes it."""
    try:
        fd = open_source(src)
    except OSError as e:
        raise InputError(
            f"{src.name}: cannot read (changed while it was being hashed?): {e.strerror}"
        ) from None
    st = os.fstat(fd)
    ident = (st.st_dev, st.st_ino, st.st_mtime_ns)
    expected = src.size if src.file_size is None else src.file_size
    if (
        not stat.S_ISREG(st.st_mode)
        or st.st_size != expected
        or (src.identity is not None and ident != src.identity)
        or (src.ctime_ns is not None and st.st_ctime_ns != src.ctime_ns)
    ):
        os.close(fd)
        raise changed(src.name)
    return fd, file_state(st)


def open_checked(src: Source) -> int:
    """A read-only descriptor for a file source that is still the file it was when listed
    (``open_pinned``). The caller closes it."""
    return open_pinned(src)[0]


def check_unchanged(fd: int, before: FileState, name: str, doing: str = "hashed") -> None:
    """``InputError`` (``changed``) unless the open file ``fd`` is as ``before`` said: its size,
    mtime, ctime, inode and device unmoved since. Call it once the bytes read are consumed."""
    try:
        now = file_state(os.fstat(fd))
    except OSError as e:
        raise InputError(f"{name}: cannot read: {e.strerror or e}") from None
    if now != before:
        raise changed(name, doing)


class OpenFile:
    """A file source open for reading (``open_pinned``), to be checked (``check``) once the
    bytes read from it have been consumed, and closed (``close``, idempotent; or use it as a
    context manager)."""

    def __init__(self, src: Source, doing: str = "hashed") -> None:
        self.name = src.name
        self.doing = doing
        self.fd, self.state = open_pinned(src)

    def check(self) -> None:
        """``InputError`` if the file changed since it was opened (``check_unchanged``)."""
        check_unchanged(self.fd, self.state, self.name, self.doing)

    def close(self) -> None:
        """Close the descriptor (once; later calls do nothing)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> OpenFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def pread_into(fd: int, out: memoryview, at: int, name: str, doing: str = "hashed") -> None:
    """Fill ``out`` with the bytes of ``fd`` from offset ``at``, however many reads that takes;
    a file that ends first raises ``InputError`` (``{name}: file changed while it was being
    {doing}``). Other ``OSError``s pass through to the caller."""
    done = 0
    while done < len(out):
        n = os.preadv(fd, [out[done:]], at + done)
        if n == 0:
            raise changed(name, doing)
        done += n


def pread_upto(fd: int, length: int, at: int) -> bytes:
    """Up to ``length`` bytes of ``fd`` from offset ``at``: fewer only where the file ends
    (a header whose recorded length runs past the end is then rejected by its parser)."""
    first = os.pread(fd, length, at)
    if len(first) == length or not first:
        return first  # all of it at once (no copy), or the file ends here
    out = bytearray(first)
    while len(out) < length:
        chunk = os.pread(fd, length - len(out), at + len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def read_into(src: Source, start: int, out: memoryview, doing: str = "hashed") -> None:
    """Fill ``out`` with bytes ``[start, start + len(out))`` of the object ``src``, from its
    file opened and checked here, before and after the read (``OpenFile``); any failure is an
    ``InputError`` naming the object."""
    with OpenFile(src, doing) as f:
        read_fd(f.fd, src, start, out, doing)
        f.check()


def read_fd(fd: int, src: Source, start: int, out: memoryview, doing: str = "hashed") -> None:
    """Fill ``out`` with bytes ``[start, start + len(out))`` of the object ``src`` from its open
    file ``fd``; any failure is an ``InputError`` naming the object."""
    try:
        pread_into(fd, out, src.offset + start, src.name, doing)
    except InputError:
        raise
    except OSError as e:
        raise InputError(f"{src.name}: cannot read: {e.strerror or e}") from None


def map_fd(
    fd: int, name: str, at: int, length: int, advice: int | None = WILLNEED
) -> tuple[mmap.mmap, memoryview]:
    """Map bytes ``[at, at + length)`` of the open file ``fd`` read-only (``length`` > 0): the
    mapping (from ``at`` rounded down to the allocation granularity) and a view of exactly those
    bytes. ``advice``: a ``madvise`` hint for the mapping, or None (the default,
    ``MADV_WILLNEED``, starts read-ahead for files not in the page cache yet; no
    ``MAP_POPULATE``: the hashing threads fault pages in, in parallel, where they read them,
    measured faster than populating on the reader thread). Release both with
    ``releaser(view, mapping)``.

    A mapped file that another process truncates kills this process with SIGBUS when a page
    past the new end is touched (no Python handler can resume from it: the access faults again,
    forever); map only files nobody else may truncate meanwhile."""
    lead = at % mmap.ALLOCATIONGRANULARITY  # a tensor's bytes need not start on a page
    try:
        m = mmap.mmap(
            fd, lead + length, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=at - lead
        )
        if advice is not None:
            m.madvise(advice)
    except ValueError:  # the file is now shorter than when it was opened
        raise changed(name) from None
    except OSError as e:
        raise InputError(f"{name}: cannot map: {e.strerror}") from None
    view = memoryview(m)
    return m, view[lead:] if lead else view


def no_release() -> None:
    """The releaser of a buffer that needs none (a device array, a slice of the caller's)."""


def releaser(view: memoryview, m: mmap.mmap | None = None) -> Callable[[], None]:
    """Release a buffer: ``view``, then the mapping ``m`` under it. If something still holds a
    view of it (a backend that kept one, an error's traceback), the mapping is left for the
    garbage collector rather than failing here."""

    def release() -> None:
        try:
            view.release()
            if m is not None:
                m.close()
        except BufferError:
            pass

    return release
