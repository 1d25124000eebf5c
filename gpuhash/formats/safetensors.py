"""safetensors files as objects (spec section 1.3): the header (``FILE::__metadata__``, its
length and JSON) and one object per tensor, laid out by the header the reference validates."""

from __future__ import annotations

import os

from gpuhash import reference as ref
from gpuhash import strict_json
from gpuhash._io import open_checked, pread_upto
from gpuhash.errors import InputError
from gpuhash.formats.objects import header_object, tensor_object
from gpuhash.sources import Source

__all__ = ["check_header", "safetensors_prefix", "tensor_sources"]


def safetensors_prefix(src: Source) -> bytes:
    """The first ``8 + N`` bytes of the safetensors file ``src`` (length and header), read
    through the descriptor ``_io.open_checked`` checks (the file as listed); fewer when N is out of
    bounds (``reference.safetensors_layout`` then says why)."""
    fd = open_checked(src)
    try:
        head = pread_upto(fd, 8, 0)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        if 8 <= 8 + n <= min(src.size, 8 + ref.MAX_HEADER_BYTES):
            return head + pread_upto(fd, n, 8)
        return head
    except OSError as e:
        raise InputError(f"{src.name}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)


#: Nesting of a valid header: the header object, a tensor (or ``__metadata__``), its shape.
MAX_HEADER_DEPTH = 3


def check_header(name: str, prefix: bytes) -> None:
    """Refuse, before the header is parsed, a header of ``prefix`` (length and JSON) that would
    make more than 2^20 objects (spec section 1.2; counted per file) or build more than the
    header's JSON objects and the two lists each tensor has (shape, data_offsets), or nests
    deeper than a valid header does: so the memory of parsing a header stays within about ten
    times its size (docs/security.md, "Parser limits")."""
    if len(prefix) < 8:
        return  # too short: reference.safetensors_layout says so
    n = int.from_bytes(prefix[:8], "little")
    if not 2 <= n <= ref.MAX_HEADER_BYTES or len(prefix) < 8 + n:
        return  # out of bounds or truncated: likewise
    try:
        text = prefix[8 : 8 + n].decode("utf-8")
    except UnicodeDecodeError:
        return  # reference.safetensors_layout names the problem
    if not text.lstrip(" \t\r\n").startswith("{"):
        return  # not a JSON object: likewise
    what = f"not a valid safetensors file: {name}: header"
    try:
        shape = strict_json.scan(text, what, max_depth=MAX_HEADER_DEPTH)
    except strict_json.JSONError as e:
        raise InputError(str(e)) from None
    # The header object and __metadata__ are the only objects that are not tensors.
    if shape.objects > ref.MAX_OBJECTS + 2:
        raise InputError(f"{what}: more than {ref.MAX_OBJECTS} tensors")
    if shape.arrays > 2 * shape.objects:
        raise InputError(f"{what}: more lists than its tensors' shapes and data offsets")


def tensor_sources(src: Source, prefix: bytes | None = None) -> list[Source]:
    """The header and tensor objects of the safetensors file ``src`` (spec section 1.3), laid
    out by ``prefix`` (its length and header; read here when not given: a caller that also
    hashes the header passes the very bytes it hashes)."""
    if prefix is None:
        prefix = safetensors_prefix(src)
    check_header(src.name, prefix)
    try:
        n, tensors = ref.safetensors_layout(src.name, src.size, prefix)
    except ref.SpecError as e:
        raise InputError(f"not a valid safetensors file: {e}") from None
    if len(tensors) > ref.MAX_OBJECTS:
        raise InputError(
            f"not a valid safetensors file: {src.name}: header: more than {ref.MAX_OBJECTS} tensors"
        )
    out = [header_object(src, 8 + n)]
    for tensor, (dtype, shape, offset) in tensors.items():
        size = ref.SAFETENSORS_DTYPES[dtype]
        for d in shape:
            size *= d
        out.append(tensor_object(src, tensor, size, offset, dtype, shape))
    return out
