"""Atomic file replacement: a reader sees the old file or the new one, never a part of either."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

from gpuhash.errors import GpuhashError, UsageError

_MAX_TRIES = 100


def _open_temp(directory: str, base: str, mode: int) -> tuple[int, str]:
    """A new file next to the target, created exclusively (``mode`` masked by the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(_MAX_TRIES):
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory}: cannot create a temporary file for {base}")


def _fsync_directory(directory: str) -> None:
    """Make the rename durable; best effort (not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def check_destination(path: str | os.PathLike[str]) -> None:
    """Fail now, before any work, when ``write_atomic(path, ...)`` could not succeed: ``path`` is
    a directory, its directory is missing or not a directory, or no file can be created there
    (probed by creating and removing a temporary file, which also holds for root and read-only
    file systems). Raises ``UsageError`` naming ``path`` as the caller wrote it."""
    shown = os.fspath(path)
    target = os.path.abspath(shown)
    directory, base = os.path.split(target)
    if os.path.isdir(target) or not base:
        raise UsageError(f"{shown}: is a directory")
    if not os.path.isdir(directory):
        raise UsageError(f"{shown}: directory {directory} does not exist")
    try:
        fd, tmp = _open_temp(directory, base, 0o600)
    except OSError as e:
        raise UsageError(f"{shown}: cannot write here: {e.strerror or e}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _named(e: OSError, path: str) -> OSError:
    """``e`` naming the caller's path rather than the temporary file."""
    if e.strerror:
        return OSError(e.errno, e.strerror, path)
    return e


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o666) -> None:
    """Replace ``path`` with ``data`` atomically.

    The bytes go to a temporary file in the same directory, which is flushed to disk (``fsync``)
    and then renamed over ``path`` (``os.replace``). On any failure, an interrupt included, the
    temporary file is removed and ``path`` is left as it was. A new file gets ``mode`` less the
    umask; an existing file keeps its permission bits. Raises ``OSError``.
    """
    target = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(target)
    if not base:
        raise IsADirectoryError(f"{os.fspath(path)}: not a file name")
    try:
        fd, tmp = _open_temp(directory, base, mode)
    except OSError as e:
        raise _named(e, os.fspath(path)) from None
    try:
        try:
            try:
                st = os.stat(target)
            except FileNotFoundError:
                pass
            else:
                if stat.S_ISREG(st.st_mode) and hasattr(os, "fchmod"):
                    os.fchmod(fd, stat.S_IMODE(st.st_mode))
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, GpuhashError):
            raise _named(e, os.fspath(path)) from None
        raise
    _fsync_directory(directory)
