"""Seed mutation for the fuzz engine: byte-level mutations (flips, interesting integers,
insertions, deletions, truncation, splicing, random bytes), JSON-aware ones (values replaced by
huge numbers, other types, deep nesting; keys deleted, duplicated or added; a BOM; NaN), and
header-aware ones for safetensors (the length prefix and the JSON header) and GGUF (every count,
length, type and offset field of the header, located by a small parser of the seeds).

Everything is drawn from one ``random.Random``, so a run is reproduced from its seed.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from typing import Any

#: The largest input a mutation makes (inputs stay small, so one execution stays quick).
MAX_SIZE = 1 << 16

INTERESTING = [
    0, 1, 2, 7, 8, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 4095, 4096, 65535, 65536,
    (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 53) + 1, (1 << 63) - 1, 1 << 63,
    (1 << 64) - 1,
]  # fmt: skip
JSON_VALUES: list[Any] = [
    0, -1, 1, 2**31, 2**32, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 1e308, -0.0, 0.5,
    "", "x", "a/../b", "/abs", "..", ".", "a\x00b", "\ud800", "é", "::", "A" * 300, True, False,
    None, [], {}, [1], {"a": 1}, "AAAA", "not base64!", "0" * 64,
]  # fmt: skip
RAW_JSON = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"9" * 5000, b"1" * 4301]


def _flip(rng: random.Random, b: bytearray) -> None:
    if b:
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)


def _byte(rng: random.Random, b: bytearray) -> None:
    if b:
        b[rng.randrange(len(b))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])


def _integer(rng: random.Random, b: bytearray) -> None:
    width = rng.choice([1, 2, 4, 8])
    if len(b) < width:
        return
    value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
    i = rng.randrange(len(b) - width + 1)
    b[i : i + width] = value.to_bytes(width, rng.choice(["little", "big"]))


def _insert(rng: random.Random, b: bytearray) -> None:
    i = rng.randrange(len(b) + 1)
    b[i:i] = rng.randbytes(rng.randrange(1, 16))


def _delete(rng: random.Random, b: bytearray) -> None:
    if b:
        i = rng.randrange(len(b))
        del b[i : i + rng.randrange(1, 64)]


def _duplicate(rng: random.Random, b: bytearray) -> None:
    if b:
        i = rng.randrange(len(b))
        chunk = b[i : i + rng.randrange(1, 64)]
        b[i:i] = chunk * rng.choice([1, 2, 16, 256])


def _truncate(rng: random.Random, b: bytearray) -> None:
    del b[rng.randrange(len(b) + 1) :]


BYTE_MUTATIONS: list[Callable[[random.Random, bytearray], None]] = [
    _flip, _byte, _integer, _insert, _delete, _duplicate, _truncate,
]  # fmt: skip


def mutate_bytes(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """A few stacked byte-level mutations of ``data`` (sometimes spliced with another seed)."""
    b = bytearray(data)
    if others and rng.random() < 0.1:
        other = rng.choice(others)
        b[rng.randrange(len(b) + 1) :] = other[rng.randrange(len(other) + 1) :]
    for _ in range(rng.choice([1, 1, 1, 2, 3, 5])):
        rng.choice(BYTE_MUTATIONS)(rng, b)
    return bytes(b[:MAX_SIZE])


# -- JSON ---------------------------------------------------------------------------------------


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*at, i))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        value = value[p]
    return value


def _mutate_json_value(rng: random.Random, doc: Any) -> Any:
    paths = _paths(doc)
    path = rng.choice(paths)
    if not path:
        return rng.choice(JSON_VALUES) if rng.random() < 0.1 else doc
    parent, key = _get(doc, path[:-1]), path[-1]
    roll = rng.random()
    if roll < 0.45:
        parent[key] = rng.choice(JSON_VALUES)
    elif roll < 0.6:
        del parent[key]
    elif roll < 0.7 and isinstance(parent, dict):
        parent[rng.choice(["unknown", "", "x" * 8, str(key) + "_"])] = parent[key]
    elif roll < 0.8:
        value = parent[key]
        if isinstance(value, str):
            parent[key] = value * rng.choice([0, 2, 100]) or value[: len(value) // 2]
        elif isinstance(value, int) and not isinstance(value, bool):
            parent[key] = value + rng.choice([-1, 1, 1 << 32, 1 << 64, -(1 << 64)])
        elif isinstance(value, list):
            parent[key] = value * rng.choice([0, 2, 64])
    elif roll < 0.9:
        parent[key] = str(parent[key]) if not isinstance(parent[key], str) else [parent[key]]
    else:
        other = _get(doc, rng.choice(paths))
        if other is not doc:
            parent[key] = json.loads(json.dumps(other))
    return doc


def _raw_json(rng: random.Random, text: bytes) -> bytes:
    """Mutations no JSON writer makes: a duplicated key, a constant or huge number in place of
    a value, deep nesting, a byte-order mark, a trailing comma or garbage."""
    roll = rng.random()
    colons = [i for i, c in enumerate(text) if c == ord(":")]
    if roll < 0.3 and colons:
        # duplicate the `"key": value` pair around a colon
        i = rng.choice(colons)
        start = text.rfind(b'"', 0, text.rfind(b'"', 0, i))
        end = min([j for j in (text.find(b",", i), text.find(b"}", i)) if j >= 0] or [len(text)])
        if start >= 0:
            return text[:end] + b", " + text[start:end] + text[end:]
    if roll < 0.55 and colons:
        i = rng.choice(colons) + 1
        end = min([j for j in (text.find(b",", i), text.find(b"}", i)) if j >= 0] or [len(text)])
        return text[:i] + b" " + rng.choice(RAW_JSON) + text[end:]
    if roll < 0.75:
        depth = rng.choice([100, 1000, 10000, 50000])
        opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        nest = opener * depth + b"1" + closer * depth * rng.choice([0, 1])
        i = rng.choice(colons) + 1 if colons else 0
        return text[:i] + nest + text[i:]
    if roll < 0.85:
        return b"\xef\xbb\xbf" + text
    return text + rng.choice([b",", b"}", b" garbage", b"\x00", b"\n{}"])


def mutate_json(rng: random.Random, data: bytes) -> bytes | None:
    """A JSON-aware mutation of ``data``, or None when ``data`` is not JSON."""
    if rng.random() < 0.35:
        return _raw_json(rng, data)[:MAX_SIZE]
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    for _ in range(rng.choice([1, 1, 2, 3])):
        doc = _mutate_json_value(rng, doc)
    indent = rng.choice([None, 2])
    return json.dumps(doc, indent=indent, ensure_ascii=rng.random() < 0.5).encode(
        "utf-8", "surrogatepass"
    )[:MAX_SIZE]


# -- safetensors and GGUF -----------------------------------------------------------------------


def mutate_safetensors(rng: random.Random, data: bytes) -> bytes | None:
    """The header JSON mutated and packed again (with its true length, or a wrong one), or the
    length prefix alone set to an interesting value."""
    if len(data) < 8:
        return None
    n = int.from_bytes(data[:8], "little")
    if rng.random() < 0.3:
        value = rng.choice([*INTERESTING, n - 1, n + 1, len(data) - 8, len(data) - 7])
        return (value % (1 << 64)).to_bytes(8, "little") + data[8:]
    header, rest = data[8 : 8 + n], data[8 + n :]
    mutated = mutate_json(rng, header)
    if mutated is None:
        return None
    length = len(mutated) if rng.random() < 0.9 else rng.choice(INTERESTING)
    return length.to_bytes(8, "little") + mutated + rest


def gguf_fields(data: bytes) -> list[tuple[int, int]]:
    """The (offset, width) of every integer field in a well-formed GGUF header: version,
    counts, string lengths, value types, array counts and lengths, the values themselves,
    tensor dimensions, types and offsets. Stops quietly where the header is not understood."""
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    fields = [(4, 4), (8, 8), (16, 8)]
    at = 24
    try:
        n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)

        def string() -> None:
            nonlocal at
            fields.append((at, 8))
            at += 8 + struct.unpack_from("<Q", data, at)[0]

        def value(kind: int) -> None:
            nonlocal at
            if kind == 8:
                string()
            elif kind == 9:
                fields.append((at, 4))
                inner = struct.unpack_from("<I", data, at)[0]
                fields.append((at + 4, 8))
                count = struct.unpack_from("<Q", data, at + 4)[0]
                at += 12
                for _ in range(min(count, 64)):
                    value(inner)
            else:
                fields.append((at, sizes[kind]))
                at += sizes[kind]

        for _ in range(min(n_kv, 256)):
            string()
            fields.append((at, 4))
            kind = struct.unpack_from("<I", data, at)[0]
            at += 4
            value(kind)
        for _ in range(min(n_tensors, 256)):
            string()
            fields.append((at, 4))
            dims = struct.unpack_from("<I", data, at)[0]
            at += 4
            for _ in range(min(dims, 8)):
                fields.append((at, 8))
                at += 8
            fields += [(at, 4), (at + 4, 8)]
            at += 12
    except (struct.error, KeyError, OverflowError):
        pass
    return [(o, w) for o, w in fields if o + w <= len(data)]


_GGUF_CACHE: dict[bytes, list[tuple[int, int]]] = {}


def mutate_gguf(rng: random.Random, data: bytes) -> bytes | None:
    """One or more of the header's integer fields set to interesting values."""
    fields = _GGUF_CACHE.get(data)
    if fields is None:
        if len(_GGUF_CACHE) >= 64:
            _GGUF_CACHE.clear()
        fields = _GGUF_CACHE[data] = gguf_fields(data)
    if not fields:
        return None
    b = bytearray(data)
    for _ in range(rng.choice([1, 1, 2])):
        offset, width = rng.choice(fields)
        old = int.from_bytes(b[offset : offset + width], "little")
        value = rng.choice([*INTERESTING, old + 1, old - 1, old * 2, len(data)])
        b[offset : offset + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    return bytes(b)


_PB_CACHE: dict[bytes, Any] = {}


def mutate_protobuf(rng: random.Random, data: bytes) -> bytes | None:
    """A manifest's fields mutated as JSON (protobuf's JSON mapping) and encoded again, or
    wire-level damage: deeply nested groups, a field whose length runs past the end."""
    from google.protobuf import json_format

    from gpuhash.errors import GpuhashError
    from gpuhash.manifest import Manifest

    if rng.random() < 0.2:
        i = rng.randrange(len(data) + 1)
        groups = b"\x0b" * rng.choice([100, 10000])  # start-group tags, nested
        junk = rng.choice([groups, b"\x12\xff\xff\xff\xff\x0f", b"\x08" + b"\xff" * 10])
        return data[:i] + junk + data[i:]
    if data not in _PB_CACHE:
        if len(_PB_CACHE) >= 64:
            _PB_CACHE.clear()
        try:
            _PB_CACHE[data] = Manifest.from_bytes(data).to_proto()
        except GpuhashError:
            _PB_CACHE[data] = None
    msg = _PB_CACHE[data]
    if msg is None:
        return None
    doc = json_format.MessageToDict(msg)
    for _ in range(rng.choice([1, 1, 2])):
        doc = _mutate_json_value(rng, doc)
    out = type(msg)()
    try:  # ParseDict checks types; what it refuses is simply not an input
        json_format.ParseDict(doc, out)
        return bytes(out.SerializeToString())
    except Exception:  # a mutation protobuf will not encode (the mutator's, not the target's)
        return None


#: Structure-aware mutators by target name (each may return None: not applicable to this seed).
STRUCTURED: dict[str, Callable[[random.Random, bytes], bytes | None]] = {
    "safetensors": mutate_safetensors,
    "gguf": mutate_gguf,
    "manifest-pb": mutate_protobuf,
}


def mutate(rng: random.Random, target: str, is_json: bool, seeds: list[bytes]) -> bytes:
    """One input for ``target``: a seed mutated, structure-aware where possible, or (rarely)
    random bytes."""
    roll = rng.random()
    if roll < 0.03:
        return rng.randbytes(rng.randrange(0, 256))
    seed = rng.choice(seeds)
    structured = STRUCTURED.get(target)
    if structured is not None and roll < 0.6:
        out = structured(rng, seed)
        if out is not None:
            return out
    if is_json and roll < 0.7:
        out = mutate_json(rng, seed)
        if out is not None:
            return out
    return mutate_bytes(rng, seed, seeds)
