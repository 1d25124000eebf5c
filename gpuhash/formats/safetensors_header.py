"""The layout of a safetensors header (spec section 1.3), read lean: the rules, acceptance and
error messages of ``reference.safetensors_layout`` (the readable definition, which builds the
whole JSON tree and then a layout beside it) at less than half its peak memory (2^18 zero-size
tensors: 94 MiB, not 209; docs/security.md, "Parser limits").

The header is parsed by the same stdlib JSON parser as the reference, so the two accept the same
text and name the same JSON errors; but each JSON object is turned into something small as soon
as it is parsed (``object_pairs_hook``): a valid tensor into a tuple (dtype, shape, begin, end),
anything else into an ``_Object`` that remembers only whether all its values are strings (what
``__metadata__`` needs). The error message of a tensor that is not valid is worked out from its
own text alone, parsed again as the reference parses it (``_member``).
"""

from __future__ import annotations

import itertools
import json
import re
import struct
from typing import Any

from gpuhash import reference as ref

__all__ = ["Tensor", "header_text", "safetensors_layout", "text_layout"]

#: A tensor of a header: its dtype (one of ``reference.SAFETENSORS_DTYPES``' own strings), its
#: shape and its ``data_offsets`` ``begin`` and ``end``.
Tensor = tuple[str, tuple[int, ...], int, int]

#: The dtype strings, so that every tensor holds the one string object of its dtype.
_DTYPES = {dtype: dtype for dtype in ref.SAFETENSORS_DTYPES}
_FIELDS = {"dtype", "shape", "data_offsets"}
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_MISSING = object()
#: Distinct dimensions above 256 (CPython keeps one object of each int up to 256) kept one int
#: object each per header: a header of many large dimensions (up to 64 a tensor) keeps each value
#: once, not once per dimension; past this many values, new ones are kept as they come.
SHARED_DIMENSIONS = 1 << 16


class _Object:
    """A parsed JSON object that is not a valid tensor. ``pairs`` is kept only until the object
    holding it is parsed (only the header's own pairs are read afterwards); ``strings``: every
    value is a string (valid as ``__metadata__``)."""

    __slots__ = ("count", "pairs", "strings")

    def __init__(self, pairs: list[tuple[str, Any]], strings: bool) -> None:
        self.pairs: list[tuple[str, Any]] | None = pairs
        self.strings = strings
        self.count = len(pairs)


def _tensor(pairs: list[tuple[str, Any]], data_len: int, ints: dict[int, int]) -> Tensor | None:
    """The tensor that the object of ``pairs`` is, if it passes every check that
    ``reference.safetensors_layout`` makes of a tensor's value; else None. ``ints``: the
    header's dimensions so far, each value once."""
    if len(pairs) != 3:
        return None
    dtype: Any = _MISSING
    shape: Any = _MISSING
    offsets: Any = _MISSING
    for key, value in pairs:
        if key == "dtype":
            dtype = value
        elif key == "shape":
            shape = value
        elif key == "data_offsets":
            offsets = value
        else:
            return None
    if type(dtype) is not str or type(shape) is not list or type(offsets) is not list:
        return None  # a field missing (or twice) or of the wrong type
    canonical = _DTYPES.get(dtype)
    if canonical is None or len(shape) > ref.MAX_DIMENSIONS or len(offsets) != 2:
        return None
    size = ref.SAFETENSORS_DTYPES[canonical]
    for d in shape:
        if type(d) is not int or not 0 <= d < 1 << 63:
            return None
        size *= d
    begin, end = offsets
    if type(begin) is not int or type(end) is not int or not 0 <= begin <= end <= data_len:
        return None
    if size != end - begin:
        return None
    dims: list[int] = shape
    if len(ints) < SHARED_DIMENSIONS:
        dims = [d if d < 257 else ints.setdefault(d, d) for d in dims]
    else:
        dims = [ints.get(d, d) for d in dims]
    return (canonical, tuple(dims), begin, end)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> None:
    """The reference's check, with its message (raised while parsing, as there): the first key
    that repeats one before it. Found by sorting, which takes a list of the keys where a set of
    them would take several times as much (the header object has one key per tensor)."""
    keys = sorted([key for key, _ in pairs])
    twice = {a for a, b in itertools.pairwise(keys) if a == b}
    del keys
    if twice:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in twice:
                if key in seen:
                    raise ref.SpecError(f"duplicate key {ref.shown(key)}")
                seen.add(key)


def _release(values: list[Any]) -> None:
    """Drop the pairs of the objects within ``values`` (a list, at any depth of lists)."""
    stack = [values]
    while stack:
        for value in stack.pop():
            if type(value) is _Object:
                value.pairs = None
            elif type(value) is list:
                stack.append(value)


def _hook(data_len: int) -> Any:
    ints: dict[int, int] = {}

    def hook(pairs: list[tuple[str, Any]]) -> Tensor | _Object:
        tensor = _tensor(pairs, data_len, ints)
        if tensor is not None:
            return tensor
        if len(pairs) > 1:
            _no_duplicate_keys(pairs)
        strings = True
        for key, value in pairs:
            kind = type(value)
            if kind is str:
                strings = strings and ref.is_text(value) and ref.is_text(key)
            else:
                strings = False
                if kind is _Object:
                    value.pairs = None
                elif kind is list:
                    _release(value)
        return _Object(pairs, strings)

    return hook


def _member(text: str, index: int) -> tuple[str, Any]:
    """Key and value of member ``index`` of the header ``text`` (valid JSON: it was parsed), as
    the reference reads them; the members before it are parsed and dropped one by one."""
    scan = json.JSONDecoder(object_pairs_hook=dict).scan_once  # type: ignore[attr-defined]
    at = _WHITESPACE.match(text, 0).end() + 1  # type: ignore[union-attr]  # past "{"
    for _ in range(index + 1):
        at = _WHITESPACE.match(text, at).end()  # type: ignore[union-attr]
        key, at = scan(text, at)
        at = _WHITESPACE.match(text, at).end() + 1  # type: ignore[union-attr]  # past ":"
        value, at = scan(text, _WHITESPACE.match(text, at).end())  # type: ignore[union-attr]
        at = _WHITESPACE.match(text, at).end() + 1  # type: ignore[union-attr]  # past "," or "}"
    return key, value


def _tensor_error(where: str, value: Any, data_len: int) -> ref.SpecError:
    """Why ``value`` is not a valid tensor: the reference's checks in its order and words."""
    if not isinstance(value, dict) or set(value) != _FIELDS:
        return ref.SpecError(f"{where}: needs exactly dtype, shape and data_offsets")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if not isinstance(dtype, str) or dtype not in ref.SAFETENSORS_DTYPES:
        return ref.SpecError(f"{where}: unknown dtype {ref.shown(dtype)}")
    if (
        not isinstance(shape, list)
        or len(shape) > ref.MAX_DIMENSIONS
        or not all(type(d) is int and 0 <= d < 1 << 63 for d in shape)
    ):
        return ref.SpecError(
            f"{where}: shape must be a list of at most {ref.MAX_DIMENSIONS} non-negative integers"
        )
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= data_len
    ):
        return ref.SpecError(f"{where}: data_offsets out of range (data is {data_len} bytes)")
    return ref.SpecError(f"{where}: {dtype} x {shape} is not {offsets[1] - offsets[0]} bytes")


def _member_error(name: str, text: str, index: int, data_len: int) -> ref.SpecError:
    """The reference's error for member ``index`` of the header, which is not valid."""
    key, value = _member(text, index)
    if key == ref.HEADER_OBJECT:
        return ref.SpecError(f"{name}: __metadata__ must map strings to strings")
    where = f"{name}: tensor {ref.shown(key)}"
    ref.check_tensor_name(key, where)
    return _tensor_error(where, value, data_len)


def header_text(name: str, size: int, prefix: bytes) -> tuple[int, str]:
    """``N`` and the header's text of the safetensors file ``name`` of ``size`` bytes whose
    first bytes are ``prefix``: the reference's first checks (length, bounds, UTF-8)."""
    if size < 8 or len(prefix) < 8:
        raise ref.SpecError(f"{name}: too short for a safetensors file ({size} bytes)")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n < 2 or n > ref.MAX_HEADER_BYTES or 8 + n > size:
        raise ref.SpecError(f"{name}: header length {n} out of bounds (file of {size} bytes)")
    if len(prefix) < 8 + n:
        raise ref.SpecError(f"{name}: header truncated")
    try:
        return n, str(memoryview(prefix)[8 : 8 + n], "utf-8")
    except UnicodeDecodeError:
        raise ref.SpecError(f"{name}: header is not valid UTF-8") from None


def text_layout(name: str, data_len: int, text: str) -> list[tuple[str, Tensor]]:
    """The tensors, in the header's order, of the header ``text`` (from ``header_text``) of a
    file of ``data_len`` bytes of data: the reference's checks after the header's bounds."""
    try:
        header = json.loads(text, object_pairs_hook=_hook(data_len))
    except (ValueError, RecursionError) as e:
        raise ref.SpecError(f"{name}: header is not valid JSON ({e})") from None
    if type(header) is tuple:  # the header itself has the fields of a tensor: its first fails
        raise _member_error(name, text, 0, data_len)
    if type(header) is not _Object:
        raise ref.SpecError(f"{name}: header is not a JSON object")
    assert header.pairs is not None  # only the objects within another lose their pairs
    tensors = header.pairs
    metadata = None
    for index, (key, value) in enumerate(tensors):
        if key == ref.HEADER_OBJECT:
            if type(value) is not _Object or not value.strings:
                raise ref.SpecError(f"{name}: __metadata__ must map strings to strings")
            metadata = index
            continue
        where = f"{name}: tensor {ref.shown(key)}"
        ref.check_tensor_name(key, where)
        if type(value) is not tuple:
            raise _member_error(name, text, index, data_len)
    entries = 0
    if metadata is not None:
        entries = tensors[metadata][1].count
        del tensors[metadata]
    ref.check_header_counts(name, entries, sum(len(t[1]) for _, t in tensors))
    _check_tiling(name, tensors, data_len)
    return tensors  # each value now a Tensor


def safetensors_layout(name: str, size: int, prefix: bytes) -> tuple[int, list[tuple[str, Tensor]]]:
    """``N`` and the tensors, in the header's order, of the safetensors file ``name`` of
    ``size`` bytes whose first bytes are ``prefix`` (at least ``8 + N``): what
    ``reference.safetensors_layout`` returns (a tensor's file offset is ``8 + N + begin``), or
    the ``SpecError`` it raises, with the same message."""
    n, text = header_text(name, size, prefix)
    return n, text_layout(name, size - 8 - n, text)


def _check_tiling(name: str, tensors: list[tuple[str, Tensor]], data_len: int) -> None:
    """Sorted by ``begin``, the tensors' ranges tile the data exactly (the reference's check)."""
    spans = [(t[2], t[3], key) for key, t in tensors]
    spans.sort()
    at = 0
    for begin, end, key in spans:
        if begin != at:
            what = "overlaps the previous tensor" if begin < at else f"leaves a gap at {at}"
            raise ref.SpecError(f"{name}: tensor {ref.shown(key)} {what}")
        at = end
    if at != data_len:
        raise ref.SpecError(f"{name}: {data_len - at} bytes after the last tensor")
