"""The one strict JSON loader for everything a signature, a statement, a manifest, an inclusion
proof or a safetensors header depends on (docs/security.md, "Parser limits").

Two parsers that read the same bytes differently (one keeping the first of two ``payload`` keys,
the other the last) are a classic signature bypass, so what this loader accepts is exactly
RFC 8259 JSON, read one way: UTF-8 only (strict decoding, no byte-order mark, never UTF-16 or
UTF-32 guessed from the bytes), no duplicate keys, no ``NaN`` or ``Infinity``, no number that is
not finite as a float (``1e400``), no integer of more than 20 digits (above 2^64), no string
with a lone surrogate escape (``"\\ud800"``: not Unicode text, as I-JSON, RFC 7493, says), and
at most ``max_depth`` levels of nesting, ``max_values`` values and ``max_keys`` keys in an object
(and distinct keys in the document), and no more memory than ``max_memory`` for what the parser
builds. The nesting, the counts and the memory are reckoned by ``scan`` on the text before
anything is built, so a small input cannot make the parser build a large tree.

Every failure is a ``JSONError`` with one line naming ``what`` and the problem, quoting at most
a short printable excerpt of the input.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_KEYS",
    "MAX_INT_DIGITS",
    "JSONError",
    "Shape",
    "excerpt",
    "loads",
    "memory_budget",
    "scan",
]

#: Nesting the formats read here need: a native statement is 7 levels deep (statement,
#: predicate, manifest, objects, an object, its tensor, its shape), a Sigstore bundle about 6.
DEFAULT_MAX_DEPTH = 32
#: Keys ``loads`` accepts in one object, and distinct keys in one document: the formats read here
#: have fixed fields (a few dozen names in all). The parser builds a list of an object's pairs
#: before the object, and keeps one copy of every distinct key until it returns, so neither is
#: bounded by the memory reckoning below unless these are.
DEFAULT_MAX_KEYS = 1024
#: Digits of the longest integer accepted (2^64 has 20).
MAX_INT_DIGITS = 20

# What the parser builds, at most, for each thing ``scan`` counts (CPython, 64-bit; measured on
# 3.11 with tracemalloc and the resident size, rounded up): the reckoning ``Shape.memory``
# that ``loads`` holds to ``max_memory``. A dense document costs far more than its bytes
# ("[{},{}]": 3 bytes and 72 of memory an object; '"ab",': 5 bytes and 65 of memory), so the
# number of values alone bounds nothing useful.
#: An object: a dict of up to ``FREE_KEYS`` keys made from its pairs (at most 203 bytes at
#: its peak, with its slot).
COST_OBJECT = 208
FREE_KEYS = 5
#: Each key of an object after its fifth (its share of the larger dict: 84 bytes for the
#: sixth, about 40 after the table grew, 20 before).
COST_KEY = 88
#: An array: a list (56 bytes) and the over-allocation of its first elements' slots.
COST_ARRAY = 96
#: An element (each comma, and the one value without): its slot (8 to 9 bytes) and a scalar
#: built for it, its characters apart: an int (28 to 36 bytes), a float (24), a string's
#: header (49 bytes when ASCII, rounded to 8); 96 where strings may not be ASCII (headers of
#: 74 to 80 bytes).
COST_VALUE = 72
COST_VALUE_WIDE = 96
#: Memory ``loads`` may reckon for a text of ``n`` bytes by default: ``MEMORY_RATIO * n +
#: MEMORY_SLACK``, at most ``MAX_MEMORY``: four fifths of what a parser may take in all (ten
#: times the input and 64 MiB, at most 512 MiB: docs/security.md, "Parser limits"), leaving
#: room for what the caller builds from the value and for the allocator's own overhead.
MEMORY_RATIO = 8
MEMORY_SLACK = 48 << 20
MAX_MEMORY = 448 << 20

# A JSON string (with its escapes), replaced by one character so that what remains is the
# structure alone.
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
#: Strings and characters of text scanned at a time: ``re.sub`` keeps every piece of what it
#: builds until it joins them (some 50 bytes each), so strings are replaced a window at a time,
#: each window ending just after a string (where replacing them all would be outside one too).
WINDOW_STRINGS = 4096
WINDOW = 1 << 18
# Text up to the end of a string, as many strings as a window holds (its end: ``endpos``).
_UP_TO_STRINGS = re.compile(f'(?>[^"]*+{_STRING.pattern}){{1,{WINDOW_STRINGS}}}+', re.DOTALL)
# Every byte but the structure's (brackets and colons), deleted with ``bytes.translate``: a
# ``re.sub`` keeps a piece (some 50 bytes) for every run it removes, many times a window of
# "[],[],...".
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{}:")
# A surrogate's escape (a pair is two of them): only where one occurs are strings checked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Characters that make a string two or four bytes a character.
_NOT_LATIN1 = re.compile(r"[^\x00-\xff]")
_ASTRAL = re.compile(r"[^\x00-\uffff]")
# One level of nesting, innermost: an object holding no array or object (its keys, ``:``,
# are kept in the structure), and at most so many keys (an array holding none is ``[]``). The
# pattern starts with a literal, which the regex engine finds as fast as ``bytes.find``.
_INNERMOST = re.compile(rb"\{:*\}")


def _innermost(max_keys: int | None) -> re.Pattern[bytes]:
    return _INNERMOST if max_keys is None else re.compile(rb"\{:{0,%d}\}" % max_keys)


# An innermost object of more than FREE_KEYS keys.
_CROWD = b":" * (FREE_KEYS + 1)
_CROWDED = re.compile(rb"\{:{%d,}\}" % (FREE_KEYS + 1))
#: Characters of the structure (brackets and colons) reduced at a time.
STRUCTURE_WINDOW = 1 << 12


class JSONError(ValueError):
    """JSON refused by ``loads`` or ``scan``: the message is one line naming the input."""


@dataclass(frozen=True)
class Shape:
    """What ``scan`` counted: objects, arrays, values (an upper bound: every value and every
    key) and the depth of nesting."""

    objects: int
    arrays: int
    values: int
    depth: int
    #: The keys (``:``) and the separators (``,``) among the values.
    keys: int = 0
    commas: int = 0
    #: Bytes the parser may build for the text, at most: the text decoded, the characters of
    #: its strings (at the widest they can be), and the ``COST_*`` of everything counted.
    memory: int = 0


def memory_budget(size: int) -> int:
    """The memory ``loads`` may reckon, by default, for a text of ``size`` bytes."""
    return min(MEMORY_RATIO * size + MEMORY_SLACK, MAX_MEMORY)


def _string_quarters(text: str, plain: bool) -> int:
    """Quarter-bytes a character of ``text``, at most, that the parser builds for its strings.
    A string without escapes is cut from the text at its own width, that of its widest
    character (1, 2 or 4 bytes). One with escapes is written into a buffer a quarter larger
    than it needs, which is copied into a wider one as wider characters come (ASCII, Latin-1,
    two bytes, four; an escape such as ``\\u20ac`` or a surrogate pair can be wider than the
    text), so the old buffer and the new are held together, and the last is cut to size by a
    copy: taken as 1.5 times the widths 1 + 1, 2 + 1 or 4 + 2 (measured: 2.5, 3.75 and 7.5
    bytes a character as the parser returns, 8 for ``loads`` in all), 1.5 where all stays
    ASCII (measured 1.25). ``plain``: the text is ASCII and holds no ``\\u`` escape."""
    if plain:
        return 6 if "\\" in text else 4
    if _SURROGATE_ESCAPE.search(text) or _ASTRAL.search(text):
        width = 4
    else:
        width = 2 if "\\u" in text or _NOT_LATIN1.search(text) else 1
    return 6 * (width + max(1, width // 2)) if "\\" in text else 4 * width


def excerpt(value: object, limit: int = 40) -> str:
    """``value`` as a short printable ``repr`` (cut to about ``limit`` characters), for
    messages that must not quote hostile input at length (a string is cut before ``repr``)."""
    if isinstance(value, str | bytes) and len(value) > limit:
        value = value[:limit]
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return "".join(c if c.isprintable() else "?" for c in text)


def _text(data: bytes | str, what: str) -> str:
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise JSONError(f"{what} is not valid JSON: not UTF-8 (at byte {e.start})") from None
    if text.startswith("\ufeff"):
        raise JSONError(f"{what} is not valid JSON: it starts with a byte-order mark")
    return text


def _scan_text(
    text: str,
    what: str,
    max_depth: int,
    max_values: int | None,
    max_keys: int | None = None,
    max_memory: int | None = None,
) -> Shape:
    # The text and its strings' characters first: a text of wide characters is refused before
    # its structure is built.
    plain = text.isascii() and "\\u" not in text
    memory = sys.getsizeof(text) + -(-_string_quarters(text, plain) * len(text) // 4)
    if max_memory is not None and memory > max_memory:
        raise _too_dense(what, len(text), max_memory)
    objects = arrays = values = keys = commas = closers = 0
    parts: list[bytes] = []  # the structure alone (brackets and colons), window by window
    at, end, free = 0, len(text), False  # free: no string from ``at`` on
    while at < end:
        window = min(end, at + WINDOW)
        strings = None if free else _UP_TO_STRINGS.match(text, at, window)
        if strings:
            upto = strings.end()
            piece = _STRING.sub("0", text[at:upto])
        else:  # no whole string in this window: the text up to the next quote as it is
            upto = window if free else text.find('"', at, window)
            if upto == at:  # a string as long as a window, or one that never ends
                string = _STRING.match(text, at)
                if string:
                    at = string.end()  # one value, no structure
                    continue
                # Every later quote is escaped within the one that never ends: no string
                # follows (replacing strings there would be trying each quote to the end).
                free, upto = True, window
            elif upto < 0:
                upto = window
            piece = text[at:upto]
        opened, listed = piece.count("{"), piece.count("[")
        colons, separators = piece.count(":"), piece.count(",")
        objects += opened
        arrays += listed
        keys += colons
        commas += separators
        values += separators + colons + opened + listed
        closers += piece.count("}") + piece.count("]")
        if max_values is not None and values + 1 > max_values:
            raise JSONError(f"{what}: more than {max_values} JSON values")
        # Outside strings, JSON is ASCII: any other character is not structure.
        parts.append(piece.encode("ascii", "replace").translate(None, _NOT_STRUCTURE))
        at = upto
    values += 1
    if closers > objects + arrays:  # nor would its structure be bounded by the values
        raise JSONError(f"{what} is not valid JSON: more closing brackets than opening ones")
    structure = b"".join(parts)
    del parts
    innermost = _innermost(max_keys)
    depth = crowded = 0  # crowded: the keys of objects after their fifth
    while structure:
        # One level: every innermost array and object (with its keys) dropped at once; the
        # keys of an object come together once its members are dropped, and an object of more
        # than ``max_keys`` is never dropped.
        inner, more = _innermost_dropped(structure, innermost)
        crowded += more
        if len(inner) == len(structure):
            break  # unbalanced, or an object of too many keys
        structure = inner
        depth += 1
        if depth > max_depth:
            raise JSONError(f"{what}: JSON nested more than {max_depth} levels deep")
    if max_keys is not None and b":" * (max_keys + 1) in structure:
        raise JSONError(f"{what}: a JSON object with more than {max_keys} keys")
    memory += (
        COST_OBJECT * objects
        + COST_KEY * crowded
        + COST_ARRAY * arrays
        + (COST_VALUE if plain else COST_VALUE_WIDE) * (commas + 1)
    )
    if max_memory is not None and memory > max_memory:
        raise _too_dense(what, len(text), max_memory)
    return Shape(objects, arrays, values, depth, keys, commas, memory)


def _too_dense(what: str, chars: int, max_memory: int) -> JSONError:
    return JSONError(
        f"{what}: too dense to parse: its {chars} characters would take more than "
        f"{max_memory >> 20} MiB"
    )


def _innermost_dropped(structure: bytes, innermost: re.Pattern[bytes]) -> tuple[bytes, int]:
    """``structure`` less its innermost arrays and objects, and the keys of those objects after
    their ``FREE_KEYS``-th. Innermost arrays are marked (a NUL, so that no pair forms across
    one before the next level) and objects dropped a window at a time: ``re.sub`` keeps a
    piece (some 50 bytes) for every match until it joins them, which for a text of small
    objects is several times the text. A window ends before a ``{``, where no match can
    straddle it."""
    marked = structure.replace(b"[]", b"\0")
    out: list[bytes] = []
    crowded = 0
    at, end = 0, len(marked)
    while at < end:
        cut = min(end, at + STRUCTURE_WINDOW)
        if cut < end:
            brace = marked.find(b"{", cut)  # none: the rest holds no object to drop
            cut = end if brace < 0 else brace
        window = marked[at:cut]
        if _CROWD in window:
            crowded += sum(len(m) - 2 - FREE_KEYS for m in _CROWDED.findall(window))
        out.append(innermost.sub(b"", window))
        at = cut
    del marked
    return b"".join(out).replace(b"\0", b""), crowded


def scan(
    data: bytes | str,
    what: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_values: int | None = None,
    max_keys: int | None = None,
    max_memory: int | None = None,
) -> Shape:
    """Count the objects, values and nesting of the JSON text ``data`` without parsing it
    (strings are skipped, so brackets and commas inside them do not count), and reckon the
    memory a parser would build for it (``Shape.memory``); raise ``JSONError`` when it is not
    UTF-8, starts with a byte-order mark, or has more than ``max_values`` values,
    ``max_depth`` levels, ``max_keys`` keys in one object or ``max_memory`` bytes reckoned."""
    return _scan_text(_text(data, what), what, max_depth, max_values, max_keys, max_memory)


def _no_duplicates(what: str, max_keys: int | None) -> Any:
    names: set[str] = set()  # every distinct key so far (the parser keeps one copy of each)

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise JSONError(f"{what} is not valid JSON: duplicate key {excerpt(key)}")
                seen.add(key)
        if max_keys is not None:
            names.update(out)
            if len(names) > max_keys:
                raise JSONError(f"{what}: more than {max_keys} distinct JSON keys")
        return out

    return hook


def _parse_float(what: str) -> Any:
    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise JSONError(f"{what} is not valid JSON: number {excerpt(text)} is not finite")
        return value

    return parse


def _parse_int(what: str) -> Any:
    def parse(text: str) -> int:
        if len(text.lstrip("-")) > MAX_INT_DIGITS:
            raise JSONError(
                f"{what} is not valid JSON: an integer of more than {MAX_INT_DIGITS} digits"
            )
        return int(text)

    return parse


def _no_constant(what: str) -> Any:
    def parse(name: str) -> Any:
        raise JSONError(f"{what} is not valid JSON: {name} is not a JSON number")

    return parse


def loads(
    data: bytes | str,
    what: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_values: int | None = None,
    max_keys: int | None = DEFAULT_MAX_KEYS,
    max_memory: int | None = None,
) -> Any:
    """The value of the JSON text ``data`` (bytes: UTF-8), read strictly (see the module): the
    text is first ``scan``-ned against ``max_depth``, ``max_values``, ``max_keys`` (keys in one
    object; distinct keys in the document are checked as it is parsed) and ``max_memory``
    (default: ``memory_budget`` of the input's size). ``what`` names the input in messages
    ("signature", "the signed statement"). Raises ``JSONError``."""
    text = _text(data, what)
    if max_memory is None:
        max_memory = memory_budget(len(data))
    _scan_text(text, what, max_depth, max_values, max_keys, max_memory)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates(what, max_keys),
            parse_float=_parse_float(what),
            parse_int=_parse_int(what),
            parse_constant=_no_constant(what),
        )
    except JSONError:
        raise
    except json.JSONDecodeError as e:
        raise JSONError(f"{what} is not valid JSON: {e.msg} at line {e.lineno}") from None
    except (ValueError, RecursionError):
        raise JSONError(f"{what} is not valid JSON") from None
    if _SURROGATE_ESCAPE.search(text):
        _no_lone_surrogates(value, what)
    return value


def _no_lone_surrogates(value: Any, what: str) -> None:
    """Refuse a string (key or value) that is not Unicode text: a surrogate without its pair."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise JSONError(
                    f"{what} is not valid JSON: a string holds a lone surrogate escape"
                ) from None
