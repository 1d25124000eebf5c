"""The size limits of the files gpuhash reads whole (keys, certificates, trust configurations,
inclusion proofs, manifests, signatures) and the one function that reads them.

Every such file is read with at most ``limit + 1`` bytes requested, so that a huge file, a
device such as ``/dev/zero`` or an endless pipe costs at most the limit in memory and time,
and a file over its limit is refused with one line naming it and the limit (docs/signing.md,
"Limits"). Model files are never read this way: they are hashed in windows.
"""

from __future__ import annotations

import errno
import os
import stat

from gpuhash.errors import UsageError

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

#: A PEM key, a certificate or a certificate-chain file (a chain of a few certificates is a few
#: KiB; a whole CA bundle a few hundred).
MAX_KEY_BYTES = 1 * MIB
MAX_CERTIFICATE_BYTES = 1 * MIB
#: A Sigstore client trust configuration (the public-good instance's is about 20 KiB).
MAX_TRUST_CONFIG_BYTES = 1 * MIB
#: An inclusion proof: at most 64 subtree values of at most 64 bytes, and one object name.
MAX_PROOF_BYTES = 1 * MIB
#: A manifest (JSON or protobuf). With the limits below, and the memory ``strict_json``
#: reckons for a JSON text, parsing one stays under 512 MiB (docs/security.md, "Parser
#: limits"); a real one takes four to eight times its size. An artifact
#: has at most 2^18 objects (spec section 1.2); an object's JSON entry is about 150 bytes plus
#: its name (twice that for a tensor, with its dtype, shape and source) for 32- and 64-byte
#: digests, so this holds 2^18 file objects with names of about 100 bytes; lattice digests
#: (2048 bytes, about 2.7 KiB in JSON) fit for about 24 000 objects.
MAX_MANIFEST_BYTES = 64 * MIB
#: A signature (a Sigstore bundle): a statement of up to about 70 MiB, base64-encoded (4/3) in
#: the envelope, with room for the verification material.
MAX_SIGNATURE_BYTES = 96 * MIB

# Values (as ``strict_json.scan`` counts them: every key, value and container) of the JSON
# documents gpuhash parses, checked on the text before anything is built. A parsed value costs
# 30 to 200 bytes of memory however few bytes of JSON it takes ("[]," is 3 bytes, a list 56), so
# the byte limits do not bound the memory of a small but dense document; nor do these at their
# largest (2^23 two-letter strings took 618 MiB): ``strict_json`` reckons the memory as well.

#: A Sigstore bundle, outside its (base64) payload: a few dozen values (the verification
#: material's certificates and transparency-log entries); 2^16 is ample and costs at most a few
#: MiB to parse, so a bundle padded with a large unsigned array is refused before it is built.
MAX_BUNDLE_VALUES = 1 << 16
#: A manifest or a signed statement: an object of the most an artifact may have (2^18, spec
#: section 1.2) is about 10 values as a file and about 24 as a tensor of four dimensions, plus
#: range values; 2^23 admits 2^18 tensors and their ranges.
MAX_MANIFEST_VALUES = 1 << 23
#: An inclusion proof: at most 64 subtree values and a dozen fields.
MAX_PROOF_VALUES = 1 << 10


def describe_size(n: int) -> str:
    """``1 MiB``, ``1.5 GiB``, ``512 bytes``."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def check_writable(shown: str, size: int, limit: int, what: str) -> None:
    """Refuse to write a ``what`` of ``size`` bytes that gpuhash would not read back (more
    than ``limit``): ``UsageError`` naming ``shown`` (the file) and both sizes, before anything
    is written or signed."""
    if size > limit:
        raise UsageError(
            f"{shown}: the {what} would be {describe_size(size)}, more than the "
            f"{describe_size(limit)} gpuhash reads for a {what} (docs/security.md, "
            f'"Parser limits"): too many objects, or too large digests, for one {what}'
        )


def refuse_nul(shown: str, doing: str) -> None:
    """``UsageError`` for a path holding NUL, which no system call takes (Python raises
    ``ValueError``): ``'a\\x00b': cannot read the key: a path cannot contain NUL``."""
    if "\0" in shown:
        raise UsageError(f"{shown!r}: {doing}: a path cannot contain NUL")


def _too_large(shown: str, limit: int, what: str) -> UsageError:
    return UsageError(
        f"{shown}: larger than {describe_size(limit)}, the most gpuhash reads for a {what}"
    )


#: Open for reading without waiting for a pipe's writer, in binary mode where that exists.
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
#: How long a named pipe read beside the model waits for its first bytes.
PIPE_WAIT_S = 10.0


def _read_pipe(fd: int, most: int) -> bytes:
    """Up to ``most`` bytes of the pipe ``fd`` (open, non-blocking) until its writer closes it.
    A read of nothing before any byte came means no writer yet (or EAGAIN: one that has not
    written): wait, up to ``PIPE_WAIT_S`` for each next bytes; after the first bytes, nothing
    means the end."""
    import select
    import time

    chunks: list[bytes] = []
    got = 0
    deadline = time.monotonic() + PIPE_WAIT_S
    while got < most:
        try:
            chunk = os.read(fd, min(most - got, 1 << 20))
        except BlockingIOError:
            chunk = None
        if chunk:
            chunks.append(chunk)
            got += len(chunk)
            deadline = time.monotonic() + PIPE_WAIT_S  # the wait is for the next bytes
            continue
        if chunk == b"" and chunks:
            break  # the writer wrote and closed: the end
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if chunk is None:
            select.select([fd], [], [], min(left, 1.0))
        else:
            time.sleep(min(left, 0.05))  # no writer yet: a pipe without one polls as readable
    return b"".join(chunks)


def read_limited(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of the file ``path`` (a ``what``: "public key", "manifest"...), reading at most
    ``limit + 1`` bytes (a regular file over the limit is refused unread). Raises
    ``UsageError`` naming the file when it cannot be read or holds more than ``limit`` bytes.

    Opening never waits: a named pipe is opened without blocking (opening one for reading
    otherwise waits for a writer, forever if none comes), then read as its writer writes
    (``--public-key <(...)``, ``mkfifo k; gpg -d k.gpg > k &``), waiting at most
    ``PIPE_WAIT_S`` seconds for a writer to appear: one that never does reads as empty."""
    shown = os.fspath(path)
    refuse_nul(shown, f"cannot read the {what}")
    try:
        fd = os.open(path, _READ_FLAGS)
        with open(fd, "rb", closefd=True) as f:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            if stat.S_ISREG(st.st_mode) and st.st_size > limit:
                raise _too_large(shown, limit, what)
            if stat.S_ISFIFO(st.st_mode):
                data = _read_pipe(fd, limit + 1)
            else:
                if stat.S_ISCHR(st.st_mode) or stat.S_ISSOCK(st.st_mode):
                    os.set_blocking(fd, True)  # regular files never block (nor exist on Windows)
                data = f.read(limit + 1)
    except UsageError:
        raise
    except OSError as e:
        raise UsageError(f"{shown}: cannot read the {what}: {e.strerror or e}") from None
    if len(data) > limit:
        raise _too_large(shown, limit, what)
    return data
