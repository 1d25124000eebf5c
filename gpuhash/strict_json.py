"""The one strict JSON loader for everything a signature, a statement, a manifest, an inclusion
proof or a safetensors header depends on (docs/security.md, "Parser limits").

Two parsers that read the same bytes differently (one keeping the first of two ``payload`` keys,
the other the last) are a classic signature bypass, so what this loader accepts is exactly
RFC 8259 JSON, read one way: UTF-8 only (strict decoding, no byte-order mark, never UTF-16 or
UTF-32 guessed from the bytes), no duplicate keys, no ``NaN`` or ``Infinity``, no number that is
not finite as a float (``1e400``), no integer of more than 20 digits (above 2^64), no string
with a lone surrogate escape (``"\\ud800"``: not Unicode text, as I-JSON, RFC 7493, says), and
at most ``max_depth`` levels of nesting and ``max_values`` values. The nesting and the number of
values are counted by ``scan`` on the text before anything is built, so a small input cannot
make the parser build a large tree.

Every failure is a ``JSONError`` with one line naming ``what`` and the problem, quoting at most
a short printable excerpt of the input.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_MAX_DEPTH", "MAX_INT_DIGITS", "JSONError", "Shape", "excerpt", "loads", "scan"]

#: Nesting the formats read here need: a native statement is 7 levels deep (statement,
#: predicate, manifest, objects, an object, its tensor, its shape), a Sigstore bundle about 6.
DEFAULT_MAX_DEPTH = 32
#: Digits of the longest integer accepted (2^64 has 20).
MAX_INT_DIGITS = 20

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
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# A surrogate's escape (a pair is two of them): only where one occurs are strings checked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


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


def excerpt(value: object, limit: int = 40) -> str:
    """``value`` as a short printable ``repr`` (cut to about ``limit`` characters), for
    messages that must not quote hostile input at length."""
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


def _scan_text(text: str, what: str, max_depth: int, max_values: int | None) -> Shape:
    objects = arrays = values = keys = commas = 0
    parts: list[str] = []  # the brackets alone, window by window
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
        if max_values is not None and values + 1 > max_values:
            raise JSONError(f"{what}: more than {max_values} JSON values")
        parts.append(_NOT_BRACKET.sub("", piece))
        at = upto
    values += 1
    brackets = "".join(parts)
    del parts
    depth = 0
    while brackets:
        # One level: every innermost pair ("[]" or "{}") dropped at once, a marker holding the
        # place of the first kind so that no pair forms across it before the next level.
        inner = brackets.replace("[]", "\0").replace("{}", "").replace("\0", "")
        if inner == brackets:
            break  # unbalanced: left to the parser to say where
        brackets = inner
        depth += 1
        if depth > max_depth:
            raise JSONError(f"{what}: JSON nested more than {max_depth} levels deep")
    return Shape(objects, arrays, values, depth, keys, commas)


def scan(
    data: bytes | str, what: str, max_depth: int = DEFAULT_MAX_DEPTH, max_values: int | None = None
) -> Shape:
    """Count the objects, values and nesting of the JSON text ``data`` without parsing it
    (strings are skipped, so brackets and commas inside them do not count); raise
    ``JSONError`` when it is not UTF-8, starts with a byte-order mark, or has more than
    ``max_values`` values or ``max_depth`` levels."""
    return _scan_text(_text(data, what), what, max_depth, max_values)


def _no_duplicates(what: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise JSONError(f"{what} is not valid JSON: duplicate key {excerpt(key)}")
                seen.add(key)
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
) -> Any:
    """The value of the JSON text ``data`` (bytes: UTF-8), read strictly (see the module): the
    text is first ``scan``-ned against ``max_depth`` and ``max_values``. ``what`` names the
    input in messages ("signature", "the signed statement"). Raises ``JSONError``."""
    text = _text(data, what)
    _scan_text(text, what, max_depth, max_values)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates(what),
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
