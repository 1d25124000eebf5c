"""What each kernel of a cubin uses: registers a thread and its stack frame, read from the
binary NVRTC writes, without a GPU or CUDA's binary utilities.

A cubin is an ELF64 file. ``ptxas`` records each kernel's resources as attributes in the
``.nv.info`` section: records of a format byte, an attribute byte and a 16-bit field; for the
format ``EIFMT_SVAL`` the field is the size of a value that follows (for the attributes read
here: the kernel's symbol index and a 32-bit count), for the others it is the value. The
attributes read are ``EIATTR_REGCOUNT`` (registers a thread) and ``EIATTR_FRAME_SIZE`` (the
bytes of local memory a thread's frame takes: spilled registers, arrays indexed at run time).
The compile check (``gpuhash_cuda.checks``) reports them, and refuses a kernel above
``gpuhash.geometry.MAX_KERNEL_REGISTERS`` (what a block of 512 leaves it; larger blocks get
builds capped to their share).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["CubinError", "KernelResources", "kernel_resources"]

_ELF_MAGIC = b"\x7fELF"
_SECTION = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr: name, type, flags, addr, offset, size, ...
_SYMBOL = struct.Struct("<IBBHQQ")  # Elf64_Sym: name, info, other, shndx, value, size
_RECORD = struct.Struct("<BBH")
_EIFMT_SVAL = 0x04
_EIATTR_FRAME_SIZE = 0x11
_EIATTR_REGCOUNT = 0x2F


class CubinError(ValueError):
    """The bytes are not a cubin this module can read."""


@dataclass(frozen=True)
class KernelResources:
    #: 32-bit registers a thread.
    registers: int
    #: Bytes of local memory a thread's stack frame takes (0: everything in registers).
    frame_bytes: int


def _slice(data: bytes, offset: int, size: int, what: str) -> bytes:
    if offset < 0 or size < 0 or offset + size > len(data):
        raise CubinError(f"the cubin's {what} lies outside it")
    return data[offset : offset + size]


def _name(table: bytes, offset: int) -> str:
    end = table.find(b"\0", offset)
    if offset >= len(table) or end < 0:
        raise CubinError("a name lies outside the cubin's string table")
    return table[offset:end].decode("utf-8", errors="replace")


def kernel_resources(cubin: bytes) -> dict[str, KernelResources]:
    """Registers and frame bytes of every kernel (by name) that ``cubin`` records them for."""
    if len(cubin) < 64 or cubin[:4] != _ELF_MAGIC or cubin[4] != 2 or cubin[5] != 1:
        raise CubinError("not a 64-bit little-endian ELF file")
    shoff = struct.unpack_from("<Q", cubin, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", cubin, 0x3A)
    if shentsize != _SECTION.size or shstrndx >= shnum:
        raise CubinError("the cubin's section table is malformed")
    table = _slice(cubin, shoff, shnum * _SECTION.size, "section table")
    sections = [_SECTION.unpack_from(table, i * _SECTION.size) for i in range(shnum)]
    names = _slice(cubin, sections[shstrndx][4], sections[shstrndx][5], "section names")
    by_name = {_name(names, s[0]): s for s in sections}
    try:
        info, symtab, strtab = (by_name[n] for n in (".nv.info", ".symtab", ".strtab"))
    except KeyError as e:
        raise CubinError(f"the cubin has no {e.args[0]} section") from None
    symbols = _slice(cubin, symtab[4], symtab[5], "symbol table")
    strings = _slice(cubin, strtab[4], strtab[5], "string table")

    def symbol(index: int) -> str:
        if (index + 1) * _SYMBOL.size > len(symbols):
            raise CubinError(f"symbol {index} lies outside the cubin's symbol table")
        return _name(strings, _SYMBOL.unpack_from(symbols, index * _SYMBOL.size)[0])

    records = _slice(cubin, info[4], info[5], ".nv.info section")
    registers: dict[str, int] = {}
    frames: dict[str, int] = {}
    at = 0
    while at + _RECORD.size <= len(records):
        fmt, attribute, field = _RECORD.unpack_from(records, at)
        at += _RECORD.size
        if fmt != _EIFMT_SVAL:
            continue  # the field was the value
        value = _slice(records, at, field, "attribute value")
        at += field
        if attribute in (_EIATTR_REGCOUNT, _EIATTR_FRAME_SIZE) and field == 8:
            index, count = struct.unpack("<II", value)
            target = registers if attribute == _EIATTR_REGCOUNT else frames
            target[symbol(index)] = count
    return {k: KernelResources(n, frames.get(k, 0)) for k, n in registers.items()}
