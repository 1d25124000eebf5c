"""safetensors files as objects (spec section 1.3): the header (``FILE::__metadata__``, its
length and JSON) and one object per tensor, laid out by the header as the reference validates it
(``safetensors_header``, which keeps less of it in memory)."""

from __future__ import annotations

import os
import re

from gpuhash import reference as ref
from gpuhash import strict_json
from gpuhash._io import open_checked, pread_upto
from gpuhash.errors import InputError
from gpuhash.formats.objects import header_object, tensor_object
from gpuhash.formats.safetensors_header import header_text, text_layout
from gpuhash.sources import Source

__all__ = ["check_header", "safetensors_prefix", "tensor_sources"]


def safetensors_prefix(src: Source) -> bytes:
    """The first ``8 + N`` bytes of the safetensors file ``src`` (length and header), read
    through the descriptor ``_io.open_checked`` checks (the file as listed); fewer when N is out of
    bounds (``safetensors_header.header_text`` then says why)."""
    fd = open_checked(src)
    try:
        head = pread_upto(fd, 8, 0)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        if 8 <= 8 + n <= min(src.size, 8 + ref.MAX_HEADER_BYTES):
            return pread_upto(fd, 8 + n, 0)  # one buffer: not the header and then a copy
        return head
    except OSError as e:
        raise InputError(f"{src.name}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)


#: Nesting of a valid header: the header object, a tensor (or ``__metadata__``), its shape.
MAX_HEADER_DEPTH = 3
_JSON_OBJECT = re.compile(r"[ \t\r\n]*\{")  # matched, not stripped: no copy of the text


def check_header(name: str, text: str) -> None:
    """Refuse, before the header is parsed, a header (its decoded ``text``) that would make
    more than ``reference.MAX_OBJECTS`` objects (spec section 1.2; counted per file) or build
    more than the header's JSON objects and the two lists each tensor has (shape, data_offsets),
    or nests deeper than a valid header does: so the memory of parsing a header stays within
    about ten times its size (docs/security.md, "Parser limits")."""
    if not _JSON_OBJECT.match(text):
        return  # not a JSON object: safetensors_header.text_layout says so
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
    # A valid header has at most 4 keys and 4 commas an object (the header's member, a tensor's
    # three fields), plus one key and one comma a metadata entry and a comma a dimension: so
    # the limits on those (spec section 1.3) bound what parsing builds before it is checked.
    if shape.keys > 4 * shape.objects + ref.MAX_METADATA_ENTRIES:
        raise InputError(f"{what}: more than {ref.MAX_METADATA_ENTRIES} __metadata__ entries")
    if shape.commas > 4 * shape.objects + ref.MAX_METADATA_ENTRIES + ref.MAX_HEADER_DIMENSIONS:
        raise InputError(
            f"{what}: more than {ref.MAX_HEADER_DIMENSIONS} dimensions or "
            f"{ref.MAX_METADATA_ENTRIES} __metadata__ entries"
        )


def tensor_sources(src: Source, prefix: bytes | None = None) -> list[Source]:
    """The header and tensor objects of the safetensors file ``src`` (spec section 1.3), laid
    out by ``prefix`` (its length and header; read here when not given: a caller that also
    hashes the header passes the very bytes it hashes)."""
    if prefix is None:
        prefix = safetensors_prefix(src)
    try:
        n, text = header_text(src.name, src.size, prefix)
        del prefix  # when read here, not kept while the header is parsed
        check_header(src.name, text)
        tensors = text_layout(src.name, src.size - 8 - n, text)
    except ref.SpecError as e:
        raise InputError(f"not a valid safetensors file: {e}") from None
    del text
    if len(tensors) > ref.MAX_OBJECTS:
        raise InputError(
            f"not a valid safetensors file: {src.name}: header: more than {ref.MAX_OBJECTS} tensors"
        )
    out = [header_object(src, 8 + n)]
    # Each tensor of the layout is dropped as its object is made: the two are never all alive
    # (docs/security.md, "Parser limits"). Its shape, a tuple there, becomes a list only now, so
    # the new lists take the memory of what is dropped. Zero-size tensors at one offset share it.
    tensors.reverse()
    begin = offset = -1
    while tensors:
        tensor, (dtype, shape, at, end) = tensors.pop()
        if at != begin:
            begin, offset = at, 8 + n + at
        out.append(tensor_object(src, tensor, end - at, offset, dtype, list(shape)))
    return out
