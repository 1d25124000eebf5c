"""GGUF files as objects (spec section 1.4): the header (everything before the first tensor's
data) and one object per tensor. The header is walked here, reading only its own bytes, with
every count and length it declares checked against the bytes that remain before it is used, so
a hostile header costs time and memory bounded by the file's real size; the GGML type table
(type names and block sizes) is the ``gguf`` package's (``gpuhash[gguf]``)."""

from __future__ import annotations

import os
import struct
from typing import Any

from gpuhash import reference as ref
from gpuhash._io import open_checked, pread_upto
from gpuhash.errors import InputError, UsageError
from gpuhash.formats.objects import header_object, tensor_object
from gpuhash.sources import Source

__all__ = [
    "GGUF_DEFAULT_ALIGNMENT",
    "GGUF_MAX_ALIGNMENT",
    "GGUF_MAX_ARRAY_DEPTH",
    "GGUF_MAX_DIMS",
    "GGUF_MAX_HEADER_BYTES",
    "GGUF_MAX_KV",
    "GGUF_SUFFIX",
    "GGUF_VERSIONS",
    "gguf_sources",
]

GGUF_SUFFIX = ".gguf"
GGUF_VERSIONS = (2, 3)  # the versions the gguf package reads
GGUF_DEFAULT_ALIGNMENT = 32
GGUF_MAX_ALIGNMENT = 1 << 16  # spec section 1.4: writers use 32; a larger one only wastes padding
GGUF_MAX_ARRAY_DEPTH = 8  # arrays of arrays (llama.cpp reads none)
GGUF_MAX_DIMS = ref.MAX_DIMENSIONS  # as for safetensors (64); GGML tensors have at most 4
GGUF_MAX_KV = 1 << 16  # key-value pairs (llama.cpp's files have a few dozen)
#: The header up to its padding: as large as a safetensors header may be (spec section 1.4).
GGUF_MAX_HEADER_BYTES = ref.MAX_HEADER_BYTES
_ALIGNMENT_KEY = "general.alignment"
_CHUNK = 1 << 20  # header bytes read at a time

# GGUF value types: fixed sizes (struct codes) by type number; 8 is a string, 9 an array.
_FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY, _UINT32 = 8, 9, 4
_MIN_KV = 8 + 4 + 1  # key length, value type, the smallest value
_MIN_INFO = 8 + 4 + 4 + 8  # name length, n_dims, type, offset
_MIN_ITEM = {_STRING: 8, _ARRAY: 4 + 8}


def _short(name: str) -> str:
    """A declared name for a message: hostile ones can be megabytes long."""
    return repr(name) if len(name) <= 80 else f"{name[:80]!r}..."


class _Bad(Exception):
    """A rule of section 1.4 that the file breaks (the message says which)."""


class _Walk:
    """A cursor over the header of an open file of ``size`` bytes: reads only the bytes it
    is asked for, a window at a time, after checking that the file still holds them."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size, self.pos, self.order = fd, size, 0, "<"
        self._buf, self._start = b"", 0

    def need(self, n: int, what: str) -> None:
        """Refuse ``what`` of ``n`` bytes unless the file holds them from here, within the
        header's limit (``GGUF_MAX_HEADER_BYTES``)."""
        if self.pos + n > GGUF_MAX_HEADER_BYTES and n <= self.size - self.pos:
            raise _Bad(
                f"{what} ({n} bytes at offset {self.pos}) makes the header larger than "
                f"{GGUF_MAX_HEADER_BYTES} bytes"
            )
        if n > self.size - self.pos:
            left = self.size - self.pos
            raise _Bad(
                f"{what} ({n} bytes at offset {self.pos}) runs past the end of the file "
                f"({left} bytes left)"
            )

    def _window(self, n: int, what: str) -> int:
        self.need(n, what)
        lo = self.pos - self._start
        if lo < 0 or lo + n > len(self._buf):
            self._buf = pread_upto(self.fd, max(n, min(_CHUNK, self.size - self.pos)), self.pos)
            self._start, lo = self.pos, 0
            if len(self._buf) < n:
                raise _Bad("the file got shorter while it was being read")
        self.pos += n
        return lo

    def num(self, code: str, what: str) -> Any:
        """One little- or big-endian number (``struct`` code ``code``)."""
        fmt = self.order + code
        lo = self._window(struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self._buf, lo)[0]

    def skip(self, n: int, what: str) -> None:
        """Step over ``n`` bytes the file must hold."""
        self.need(n, what)
        self.pos += n

    def text(self, what: str) -> str:
        """A length-prefixed UTF-8 string."""
        n = self.num("Q", f"the length of {what}")
        lo = self._window(n, what)
        try:
            return self._buf[lo : lo + n].decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad(f"{what} at offset {self.pos - n} is not UTF-8") from None

    def value(self, vtype: int, what: str, depth: int = 0) -> None:
        """Step over one value of type ``vtype``, counts checked before they are used."""
        if vtype in _FIXED:
            self.skip(struct.calcsize(_FIXED[vtype]), what)
        elif vtype == _STRING:
            self.skip(self.num("Q", f"the length of {what}"), what)
        elif vtype == _ARRAY:
            if depth >= GGUF_MAX_ARRAY_DEPTH:
                raise _Bad(f"{what}: arrays nested more than {GGUF_MAX_ARRAY_DEPTH} deep")
            itype = self.num("I", f"the element type of {what}")
            count = self.num("Q", f"the length of {what}")
            if itype in _FIXED:
                self.skip(count * struct.calcsize(_FIXED[itype]), f"{what} of {count} elements")
            elif itype in _MIN_ITEM:
                self.need(count * _MIN_ITEM[itype], f"{what} of {count} elements")
                for _ in range(count):
                    self.value(itype, f"an element of {what}", depth + 1)
            else:
                raise _Bad(f"{what}: unknown element type {itype}")
        else:
            raise _Bad(f"{what}: unknown value type {vtype}")


def _layout(
    fd: int, size: int, gguf: Any
) -> tuple[int, int, list[tuple[str, int, int, str, list[int]]]]:
    """``(S, A, tensors)`` of the GGUF file open as ``fd``: the data section's start, the
    alignment, and per tensor in header order ``(name, offset in the file, nbytes, GGML type
    name, shape outermost first)``; ``_Bad`` where the header breaks a rule of section 1.4."""
    w = _Walk(fd, size)
    w.need(4, "the magic")
    if pread_upto(fd, 4, 0) != b"GGUF":
        raise _Bad("GGUF magic invalid")
    w.skip(4, "the magic")
    version = w.num("I", "the version")
    if version & 0xFFFF == 0:  # written on a machine of the other byte order
        w.order, version = ">", int.from_bytes(version.to_bytes(4, "little"), "big")
    if version not in GGUF_VERSIONS:
        raise _Bad(f"version {version} (gguf reads versions 2 and 3)")
    n_tensors = w.num("Q", "the tensor count")
    n_kv = w.num("Q", "the key-value count")
    if n_tensors > ref.MAX_OBJECTS:
        raise _Bad(f"{n_tensors} tensors (at most {ref.MAX_OBJECTS}, spec section 1.2)")
    if n_kv > GGUF_MAX_KV:
        raise _Bad(f"{n_kv} key-value pairs (at most {GGUF_MAX_KV})")
    w.need(n_kv * _MIN_KV, f"{n_kv} key-value pairs")
    alignment, keys = GGUF_DEFAULT_ALIGNMENT, set()
    for _ in range(n_kv):
        key = w.text("a key")
        if key in keys:
            raise _Bad(f"key {_short(key)} appears twice")
        keys.add(key)
        vtype = w.num("I", f"the type of {_short(key)}")
        if key == _ALIGNMENT_KEY:
            if vtype != _UINT32:
                raise _Bad(f"{_ALIGNMENT_KEY} is not a UINT32")
            alignment = w.num("I", _ALIGNMENT_KEY)
            if alignment & (alignment - 1) or not 1 <= alignment <= GGUF_MAX_ALIGNMENT:
                raise _Bad(
                    f"{_ALIGNMENT_KEY} {alignment} is not a power of two from 1 to "
                    f"{GGUF_MAX_ALIGNMENT}"
                )
        else:
            w.value(vtype, f"the value of {_short(key)}")
    w.need(n_tensors * _MIN_INFO, f"{n_tensors} tensor infos")
    infos, names = [], set()
    for _ in range(n_tensors):
        name = w.text("a tensor name")
        if name in names:
            raise _Bad(f"tensor {_short(name)} appears twice")
        names.add(name)
        n_dims = w.num("I", f"the dimension count of {_short(name)}")
        if n_dims > GGUF_MAX_DIMS:
            raise _Bad(f"tensor {_short(name)} has {n_dims} dimensions (at most {GGUF_MAX_DIMS})")
        w.need(8 * n_dims, f"the dimensions of {_short(name)}")
        dims = [w.num("Q", f"the dimensions of {_short(name)}") for _ in range(n_dims)]
        raw_type = w.num("I", f"the type of {_short(name)}")
        offset = w.num("Q", f"the offset of {_short(name)}")
        try:
            ggml_type = gguf.GGMLQuantizationType(raw_type)
            block, type_size = gguf.GGML_QUANT_SIZES[ggml_type]
        except (ValueError, KeyError):
            raise _Bad(f"tensor {_short(name)} has unknown GGML type {raw_type}") from None
        infos.append((name, dims, ggml_type.name, block, type_size, offset))
    start = -(-w.pos // alignment) * alignment
    if start > size:
        raise _Bad(
            f"the header padded to {alignment} bytes ({start}) runs past the end of the "
            f"file ({size} bytes)"
        )
    tensors = []
    room = size - start
    for name, dims, type_name, block, type_size, offset in infos:
        # Dimensions are at least 1 past a zero check, so the byte count only grows with each
        # factor: stop at the first that no longer fits (the product stays small).
        elements, nbytes = (0, 0) if 0 in dims else (1, type_size // block)
        for d in dims if elements else ():
            elements *= d
            nbytes = elements * type_size // block
            if nbytes > room:
                break
        if offset > room or nbytes > room - offset:
            raise _Bad(
                f"tensor {_short(name)} ({type_name}, dimensions {dims}, at {offset}) runs past "
                "the end of the file"
            )
        tensors.append((name, start + offset, nbytes, type_name, dims[::-1]))
    return start, alignment, tensors


def _zero(fd: int, length: int, at: int) -> bool:
    """Whether the ``length`` bytes at ``at`` (at most an alignment's worth) are all zero."""
    return length >= 0 and not pread_upto(fd, length, at).strip(b"\0")


def gguf_sources(src: Source) -> list[Source]:
    """The header and tensor objects of the GGUF file ``src`` (spec section 1.4), from the very
    file the engine opened and checked, its header read (never mapped) and validated first."""
    try:
        import gguf
    except ImportError as e:
        raise UsageError(
            f"{src.name}: splitting GGUF files needs the gguf package ({e}); "
            'install it with: python -m pip install "gpuhash[gguf]"'
        ) from None
    fd = open_checked(src)
    try:
        try:
            start, alignment, tensors = _layout(fd, src.size, gguf)
        except _Bad as e:
            raise InputError(f"not a valid GGUF file: {src.name}: {e}") from None
        # Every byte belongs to the header or to one tensor, except alignment padding, which
        # must be zero; the file ends with the last tensor's padding (spec section 1.4).
        at = start
        for name, offset, nbytes, _, _ in sorted(tensors, key=lambda t: (t[1], t[2])):
            gap = offset - at
            if gap < 0:
                raise InputError(
                    f"not a valid GGUF file: {src.name}: tensor {_short(name)} overlaps"
                )
            if gap >= alignment or not _zero(fd, gap, at):
                raise InputError(
                    f"not a valid GGUF file: {src.name}: {gap} bytes before tensor {_short(name)} "
                    "are not zero alignment padding"
                )
            at = offset + nbytes
        tail, padding = src.size - at, -at % alignment
        if tail != padding or not _zero(fd, tail, at):
            raise InputError(
                f"not a valid GGUF file: {src.name}: the {tail} bytes after the last tensor "
                f"are not zero alignment padding to a multiple of {alignment} ({padding} bytes)"
            )
    finally:
        os.close(fd)
    out = [header_object(src, start)]
    for name, offset, nbytes, dtype, shape in tensors:
        try:
            ref.check_tensor_name(name, f"tensor {_short(name)}")
        except ref.SpecError as e:
            raise InputError(f"not a valid GGUF file: {src.name}: {e}") from None
        out.append(tensor_object(src, name, nbytes, offset, dtype, shape))
    return out
