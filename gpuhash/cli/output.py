"""What the command line prints: its name, its exit statuses, and text made safe and short for
one display line (escaped names, shortened digests, sizes, the table of ``gpuhash hash``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TextIO

from gpuhash.errors import GpuhashError

if TYPE_CHECKING:
    from gpuhash.manifest import Manifest

#: The program name every message starts with.
PROG = "gpuhash"
#: Exit statuses: success; a check that failed (a signature that does not verify, a model that
#: differs from its manifest, a failing self-test); a usage or input error; an interrupt; a
#: closed stdout.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: Digests longer than this (in bytes; the 2048-byte lattice digests) are shortened in tables.
_SHORTEN_OVER = 64


def printable(text: str) -> str:
    """``text`` with control and other non-printable characters escaped (one display line)."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def os_error_message(e: OSError) -> str:
    """An ``OSError`` as one message: ``FILE: reason`` (gpuhash's own errors as they are)."""
    if isinstance(e, GpuhashError) or not e.strerror:
        return str(e)
    if e.filename is not None:
        return f"{os.fsdecode(e.filename)}: {e.strerror}"
    return e.strerror


def ellipsis(stream: TextIO) -> str:
    """The ellipsis ``stream`` can encode: the character, else three dots."""
    try:
        "\u2026".encode(stream.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return "..."
    return "\u2026"


def short_hex(digest: bytes, ellipsis: str) -> str:
    """``digest`` in hex, its middle left out (``ellipsis``) when it is longer than 64 bytes."""
    if len(digest) <= _SHORTEN_OVER:
        return digest.hex()
    h = digest.hex()
    return f"{h[:32]}{ellipsis}{h[-8:]}"


def human(n: float) -> str:
    """A byte count in B, KiB, MiB, GiB or TiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def table(manifest: Manifest, stream: TextIO) -> None:
    """Write ``manifest`` as ``gpuhash hash`` shows it: NAME, SIZE, DIGEST, then the digest line."""
    dots = ellipsis(stream)
    rows = [(printable(o.name), str(o.size), short_hex(o.digest, dots)) for o in manifest.objects]
    header = ("NAME", "SIZE", "DIGEST")
    name_w = max([len(header[0])] + [len(r[0]) for r in rows])
    size_w = max([len(header[1])] + [len(r[1]) for r in rows])
    for name, size, digest in [header, *rows]:
        stream.write(f"{name:<{name_w}}  {size:>{size_w}}  {digest}\n")
    stream.write(manifest.digest_line() + "\n")
