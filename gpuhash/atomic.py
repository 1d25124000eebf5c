"""Atomic file replacement: a reader sees the old file or the new one, never a part of either;
and the temporary files of writes that were killed before renaming (leftovers)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import time
from collections.abc import Callable

from gpuhash.errors import GpuhashError, UsageError
from gpuhash.limits import refuse_nul

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so leftovers are never removed there
    fcntl = None  # type: ignore[assignment]

_MAX_TRIES = 100
#: The random part of a temporary file's name: ``secrets.token_hex`` of this many bytes.
_TOKEN_BYTES = 6
#: A leftover modified this recently (in seconds) is kept: its writer may have created it an
#: instant ago and not yet locked it.
LEFTOVER_GRACE_S = 2.0


def _temp_name(base: str) -> str:
    return f".{base}.{secrets.token_hex(_TOKEN_BYTES)}.tmp"


def is_temp_name(name: str, base: str) -> bool:
    """Whether ``name`` is a name ``write_atomic`` gives its temporary file when it writes a
    file named ``base`` (``.BASE.<12 hex digits>.tmp``, in the same directory)."""
    pattern = rf"\.{re.escape(base)}\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.tmp"
    return re.fullmatch(pattern, name, re.DOTALL) is not None


def leftovers(path: str | os.PathLike[str]) -> list[str]:
    """The paths of the regular files (not links, not directories) beside ``path`` named as
    ``write_atomic(path, ...)`` names its temporary files: those of a write in progress, or
    left behind by one that was killed between creating and renaming its file."""
    directory, base = os.path.split(os.path.abspath(os.fspath(path)))
    try:
        with os.scandir(directory) as entries:
            return sorted(
                os.path.join(directory, e.name)
                for e in entries
                if is_temp_name(e.name, base) and e.is_file(follow_symlinks=False)
            )
    except OSError:
        return []


def clean_leftovers(path: str | os.PathLike[str]) -> list[str]:
    """Remove the temporary files that killed writes of ``path`` left behind, and return their
    paths. Only ``leftovers(path)`` are candidates, and of those only files owned by this
    user, not modified for ``LEFTOVER_GRACE_S`` seconds, and not locked: a writer holds a lock
    on its temporary file until it has renamed it, so a live one's file is kept (where locks
    are unavailable nothing is removed). Links are never followed; errors are ignored."""
    if fcntl is None:
        return []
    removed = []
    for tmp in leftovers(path):
        with contextlib.suppress(OSError):
            if _remove_abandoned(tmp):
                removed.append(tmp)
    return removed


def _remove_abandoned(tmp: str) -> bool:
    """Remove ``tmp`` if it is a regular file of this user that no live writer holds."""
    st = os.lstat(tmp)
    if (
        not stat.S_ISREG(st.st_mode)
        or st.st_uid != os.geteuid()
        or abs(time.time() - st.st_mtime) < LEFTOVER_GRACE_S
    ):
        return False
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | os.O_NOFOLLOW
    fd = os.open(tmp, flags)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live writer's file (or a file system without locks)
        now = os.lstat(tmp)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return False
        os.unlink(tmp)
        return True
    finally:
        os.close(fd)


def _lock(fd: int) -> bool:
    """Hold an exclusive lock on the new temporary file ``fd`` (released when it is closed,
    or when the process dies), so that ``clean_leftovers`` leaves it alone."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _open_temp(directory: str, base: str, mode: int) -> tuple[int, str]:
    """A new file next to the target, created exclusively (``mode`` masked by the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(_MAX_TRIES):
        tmp = os.path.join(directory, _temp_name(base))
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


#: What ``lstat`` shows at a destination that is not a regular file, for messages.
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(target: str) -> str | None:
    """What stands at ``target`` when it is neither absent, a regular file nor a directory (an
    error of its own), else None. Renaming over it would replace a link, a device or a pipe
    with a regular file."""
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_destination(
    path: str | os.PathLike[str],
    replaceable: Callable[[str], bool] | None = None,
    what: str = "",
) -> None:
    """Fail now, before any work, when ``write_atomic(path, ...)`` could not succeed or should
    not: ``path`` is a directory, its directory is missing or not a directory, no file can be
    created there (probed by creating and removing a temporary file, which also holds for root
    and read-only file systems), or something other than a regular file stands there (a
    link, a device, a pipe: never replaced). With ``replaceable``, an existing non-empty file
    is replaced only if ``replaceable(path)`` says it is a ``what`` (what the command writes:
    a manifest, a proof, a signature), so an output named after a model's file or any other
    file never overwrites it. Raises ``UsageError`` naming ``path`` as the caller wrote it."""
    shown = os.fspath(path)
    refuse_nul(shown, "cannot write here")
    target = os.path.abspath(shown)
    directory, base = os.path.split(target)
    if os.path.isdir(target) or not base:
        raise UsageError(f"{shown}: is a directory")
    if not os.path.isdir(directory):
        raise UsageError(f"{shown}: directory {directory} does not exist")
    kind = _not_regular(target)
    if kind is not None:
        raise UsageError(f"{shown}: exists and is {kind}; not replacing it")
    has_bytes = os.path.exists(target) and os.path.getsize(target) > 0
    if replaceable is not None and has_bytes and not replaceable(target):
        raise UsageError(f"{shown}: exists and is not a {what}; not overwriting it")
    try:
        fd, tmp = _open_temp(directory, base, 0o600)
    except OSError as e:
        raise UsageError(f"{shown}: cannot write here: {e.strerror or e}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _named(e: OSError, path: str) -> OSError:
    """``e`` naming the caller's path rather than the temporary file, and saying that it was
    being written (``OUT: cannot write: No space left on device``)."""
    if e.strerror:
        return OSError(e.errno, f"cannot write: {e.strerror}", path)
    return e


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o666) -> None:
    """Replace ``path`` with ``data`` atomically.

    The bytes go to a temporary file in the same directory, which is flushed to disk (``fsync``)
    and then renamed over ``path`` (``os.replace``). On any failure, an interrupt included, the
    temporary file is removed and ``path`` is left as it was. A new file gets ``mode`` less the
    umask; an existing file keeps its permission bits. Raises ``OSError``, and ``UsageError``
    when a link, a device or a pipe stands at ``path`` (never replaced).

    A process killed outright (SIGKILL, a power cut) between creating and renaming its
    temporary file leaves it behind: the next write of ``path`` removes it
    (``clean_leftovers``), and a model listing never counts it as an object when ``path`` is
    the command's own output (``gpuhash.api.ignoring_own_files``).
    """
    refuse_nul(os.fspath(path), "cannot write")
    target = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(target)
    if not base:
        raise IsADirectoryError(f"{os.fspath(path)}: not a file name")
    kind = _not_regular(target)
    if kind is not None:
        raise UsageError(f"{os.fspath(path)}: exists and is {kind}; not replacing it")
    clean_leftovers(target)
    try:
        fd, tmp = _open_temp(directory, base, mode)
    except OSError as e:
        raise _named(e, os.fspath(path)) from None
    # The lock lasts until the file is renamed: it is closed after that (where an open file
    # cannot be renamed, as on Windows, there is no lock and it is closed before).
    locked = _lock(fd)
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
            if not locked:
                unlocked, fd = fd, -1
                os.close(unlocked)
            os.replace(tmp, target)
        finally:
            if fd != -1:
                os.close(fd)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, GpuhashError):
            raise _named(e, os.fspath(path)) from None
        raise
    _fsync_directory(directory)
