"""The lean safetensors header parser (``gpuhash.formats.safetensors_header``) against its
definition, ``reference.safetensors_layout``: the same headers accepted with the same layout,
the same refused with the same message; and the memory it keeps (issue 12, item 3)."""

from __future__ import annotations

import json
import re
import struct
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gpuhash import reference as ref
from gpuhash.errors import InputError
from gpuhash.formats import safetensors, safetensors_header
from gpuhash.sources import Source

NAME = "m.safetensors"


@dataclass
class Obj:
    """A JSON object as written: its members in order, duplicates allowed."""

    pairs: list[tuple[str, Any]]


class Raw(str):
    """JSON text written as it is (numbers Python would not write, bad escapes)."""


def render(value: Any, space: str) -> str:
    if isinstance(value, Obj):
        members = (f"{json.dumps(k)}{space}:{space}{render(v, space)}" for k, v in value.pairs)
        return "{" + space + f",{space}".join(members) + space + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v, space) for v in value) + "]"
    if isinstance(value, Raw):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def tensor(dtype: Any, shape: Any, offsets: Any, order: tuple[int, ...] = (0, 1, 2)) -> Obj:
    fields = [("dtype", dtype), ("shape", shape), ("data_offsets", offsets)]
    return Obj([fields[i] for i in order])


NAMES = st.text(st.sampled_from("ab.:_/é\u4e00"), min_size=1, max_size=4)
DTYPES = sorted(ref.SAFETENSORS_DTYPES)
#: Values that are not what a field needs: numbers Python's JSON reads but a header may not
#: hold (floats, a bool for an int, out of range), other types, and nested objects and lists.
ODD = st.sampled_from(
    [
        Raw("1.0"),
        Raw("1e2"),
        Raw("-0"),
        Raw("true"),
        Raw("false"),
        Raw("null"),
        Raw("NaN"),
        Raw("-Infinity"),
        Raw("1e400"),
        Raw(str(1 << 63)),
        Raw(str((1 << 63) - 1)),
        Raw("9" * 25),
        Raw("-1"),
        Raw('"F32"'),
        Raw('"f32"'),
        Raw('""'),
        Raw("[]"),
        Raw("[0, 0]"),
        Raw("[[0]]"),
        Raw("{}"),
        Raw('{"a": 1}'),
        Raw('{"a": [1, {"b": "c"}]}'),
        Raw('{"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}'),
        Raw('{"shape": [0], "dtype": "U8", "data_offsets": [0, 0]}'),
        Raw('"\\ud800"'),
    ]
)


@st.composite
def headers(draw: st.DrawFn) -> tuple[bytes, int]:
    """A safetensors prefix and file size: a valid header, then perhaps mutated."""
    count = draw(st.integers(0, 5))
    names = draw(st.lists(NAMES, min_size=count, max_size=count, unique=True))
    specs: list[tuple[str, list[int], int]] = []
    for _ in names:
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        size = ref.SAFETENSORS_DTYPES[dtype]
        for d in shape:
            size *= d
        specs.append((dtype, shape, size))
    at, offsets = 0, [[0, 0]] * count
    for i in draw(st.permutations(range(count))):  # the data in another order than the names
        offsets[i] = [at, at + specs[i][2]]
        at += specs[i][2]
    orders = st.permutations((0, 1, 2)).map(tuple)
    pairs: list[tuple[str, Any]] = [
        (name, tensor(dtype, shape, off, draw(orders)))
        for name, (dtype, shape, _), off in zip(names, specs, offsets, strict=True)
    ]
    if draw(st.booleans()):
        metadata = Obj([(k, v) for k, v in draw(st.dictionaries(NAMES, NAMES, max_size=3)).items()])
        pairs.insert(draw(st.integers(0, len(pairs))), (ref.HEADER_OBJECT, metadata))
    data_len = at
    header: Any = Obj(pairs)
    mutation = draw(
        st.sampled_from(
            ["none", "none", "field", "member", "key", "dup", "data", "top", "text", "length"]
        )
    )
    tensors = [v for k, v in pairs if k != ref.HEADER_OBJECT]
    if mutation == "field" and tensors:  # a field of a tensor replaced, dropped or added
        fields = draw(st.sampled_from(tensors)).pairs
        i = draw(st.integers(0, len(fields) - 1))
        how = draw(st.sampled_from(["odd", "drop", "extra", "offset", "dims", "deep"]))
        if how == "odd":
            fields[i] = (fields[i][0], draw(ODD))
        elif how == "drop":
            del fields[i]
        elif how == "extra":
            fields.append((draw(st.sampled_from(["x", "dtype", "shape"])), 0))
        elif how == "offset":  # a gap, an overlap or a wrong size
            off = next(v for k, v in fields if k == "data_offsets")
            off[draw(st.integers(0, 1))] += draw(st.sampled_from([-1, 1, 2]))
        elif how == "dims":
            shape = next(v for k, v in fields if k == "shape")
            shape.extend([1] * draw(st.sampled_from([1, 64, 65])))
        else:  # an odd value within a list of the tensor
            lists = [v for _, v in fields if isinstance(v, list) and v]
            if lists:
                target = draw(st.sampled_from(lists))
                target[draw(st.integers(0, len(target) - 1))] = draw(ODD)
    elif mutation == "member":  # a member of the header replaced by something else
        value = draw(st.one_of(ODD, st.just(Obj([("a", 1)])), st.just(Obj([("a", "b")]))))
        key = draw(st.one_of(NAMES, st.just(ref.HEADER_OBJECT)))
        pairs.insert(draw(st.integers(0, len(pairs))), (key, value))
    elif mutation == "key" and tensors:  # a name that is not a tensor's
        bad = draw(st.sampled_from(["", "a::b", "x\x00", Raw("bad"), ref.HEADER_OBJECT]))
        i = draw(st.integers(0, len(pairs) - 1))
        pairs[i] = (bad, pairs[i][1])
    elif mutation == "dup" and pairs:  # a key twice, in the header or in a tensor
        holder = draw(st.sampled_from([header, *tensors]))
        key, value = draw(st.sampled_from(holder.pairs))
        holder.pairs.insert(draw(st.integers(0, len(holder.pairs))), (key, value))
    elif mutation == "data":  # bytes after the last tensor
        data_len += draw(st.integers(1, 3))
    elif mutation == "top":  # a header that is not an object of tensors
        header = draw(st.sampled_from([[], "x", 1, tensor("U8", [0], [0, 0])]))
    space = draw(st.sampled_from(["", " ", "\n\t"]))
    text = render(header, space)
    if any(isinstance(k, Raw) for k, _ in pairs):
        text = text.replace('"bad"', '"\\udc00"', 1)  # a name that is not Unicode text
    if mutation == "text":  # not JSON, or not UTF-8
        how = draw(st.sampled_from(["cut", "extra", "utf8"]))
        if how == "cut":
            text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
        elif how == "extra":
            text += draw(st.sampled_from([" x", ",", "{}", " \n"]))
    body = text.encode("utf-8")
    if mutation == "text" and how == "utf8":
        body = body.replace(b"{", b"{\xff", 1)
    n = len(body)
    if mutation == "length":
        n = draw(st.sampled_from([0, 1, n - 1, n + 1, ref.MAX_HEADER_BYTES + 1]))
    return struct.pack("<Q", max(0, n)) + body, 8 + len(body) + data_len


def outcome(layout: Any, prefix: bytes, size: int) -> tuple[str, Any]:
    try:
        return "ok", layout(NAME, size, prefix)
    except ref.SpecError as e:
        return "refused", str(e)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers())
def test_the_lean_layout_is_the_reference_layout(header: tuple[bytes, int]) -> None:
    prefix, size = header
    want = outcome(ref.safetensors_layout, prefix, size)
    got = outcome(safetensors_header.safetensors_layout, prefix, size)
    assert got[0] == want[0], (got, want)
    event(got[0] if got[0] == "ok" else re.sub(r"'.*'|\d+|\(.*\)|\{.*\}|\[.*\]", "_", got[1]))
    if got[0] == "refused":
        assert got[1] == want[1]
        return
    n, tensors = got[1]
    assert n == want[1][0]
    # The same tensors, in the header's order.
    assert [(k, (d, list(s), 8 + n + b)) for k, (d, s, b, _) in tensors] == list(want[1][1].items())


@pytest.mark.parametrize(
    ("header", "message"),
    [
        # A dtype quoted whole, as the reference quotes it (its text parsed again).
        (
            '{"a": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}, '
            '"b": {"dtype": {"x": [1, {"y": "z"}]}, "shape": [0], "data_offsets": [0, 0]}}',
            "tensor 'b': unknown dtype {'x': [1, {'y': 'z'}]}",
        ),
        ('{"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}', "tensor 'dtype': needs exactly"),
        ('{"a": {"dtype": "U8", "dtype": "U8", "shape": [0]}}', "duplicate key 'dtype'"),
        ('{"__metadata__": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}}', "__metadata__"),
        ('{"a": {"dtype": "U8", "shape": [true], "data_offsets": [0, 1]}}', "shape must be"),
    ],
)
def test_refused_as_the_reference_refuses(header: str, message: str) -> None:
    prefix = struct.pack("<Q", len(header.encode())) + header.encode()
    with pytest.raises(ref.SpecError) as want:
        ref.safetensors_layout(NAME, len(prefix), prefix)
    with pytest.raises(ref.SpecError, match=re.escape(message)) as got:
        safetensors_header.safetensors_layout(NAME, len(prefix), prefix)
    assert str(got.value) == str(want.value)


def test_parsing_a_header_of_zero_size_tensors_takes_under_ten_times_its_size(
    tmp_path: Path,
) -> None:
    """Zero-size tensors are the most objects per byte of header (about 57 bytes each): the
    objects made of them, and everything built on the way, stay under ten times the header's
    size (docs/security.md, "Parser limits"; 15.7 times before the lean parser)."""
    count = 1 << 15
    zero = {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}
    head = json.dumps({f"t{i}": zero for i in range(count)}, separators=(",", ":")).encode()
    path = tmp_path / NAME
    path.write_bytes(struct.pack("<Q", len(head)) + head)
    src = Source(name=NAME, kind=ref.KIND_FILE, size=8 + len(head), path=str(path))
    tracemalloc.start()
    try:
        objects = safetensors.tensor_sources(src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(objects) == count + 1
    assert objects[1].tensor == {
        "dtype": "U8",
        "shape": [0],
        "source": NAME,
        "offset": len(head) + 8,
    }
    first, second = objects[1].tensor, objects[2].tensor
    assert first
    assert second
    assert first["shape"] is not second["shape"]  # equal shapes, not one list
    assert peak < 10 * len(head), f"{peak / len(head):.1f} times the header"


def _prefix(header: dict[str, Any]) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(head)) + head


def _both_refuse(prefix: bytes, message: str) -> None:
    """The reference and the lean layout refuse ``prefix`` with the same ``message``."""
    for layout in (ref.safetensors_layout, safetensors_header.safetensors_layout):
        with pytest.raises(ref.SpecError, match=re.escape(message)):
            layout(NAME, len(prefix), prefix)


def _objects(tmp_path: Path, prefix: bytes) -> list[Source]:
    path = tmp_path / NAME
    path.write_bytes(prefix)
    return safetensors.tensor_sources(
        Source(name=NAME, kind=ref.KIND_FILE, size=len(prefix), path=str(path))
    )


def test_metadata_entries_are_limited(tmp_path: Path) -> None:
    """Spec section 1.3 (revision 1.6): at most 2^16 __metadata__ entries; far more are refused
    before the header is parsed (a header of millions of them took 1.4 GiB)."""
    most = ref.MAX_METADATA_ENTRIES
    ok = _prefix({"__metadata__": {f"k{i}": "" for i in range(most)}})
    assert ref.safetensors_layout(NAME, len(ok), ok)[1] == {}
    assert safetensors_header.safetensors_layout(NAME, len(ok), ok)[1] == []
    assert len(_objects(tmp_path, ok)) == 1  # the header object alone
    over = _prefix({"__metadata__": {f"k{i}": "" for i in range(most + 1)}})
    _both_refuse(over, f"__metadata__ has more than {most} entries")
    with pytest.raises(InputError, match=f"__metadata__ has more than {most} entries"):
        _objects(tmp_path, over)
    far = _prefix({"__metadata__": {f"k{i}": "" for i in range(most + 100)}})
    with pytest.raises(InputError, match=f"header: more than {most} __metadata__ entries"):
        _objects(tmp_path, far)  # refused by its counts, unparsed


def test_dimensions_in_all_are_limited(tmp_path: Path) -> None:
    """At most 2^21 dimensions in all a header's tensors (zero-size tensors can carry any other
    dimensions: 2^18 of them with 39 large distinct ones took 860 MiB to parse)."""
    most = ref.MAX_HEADER_DIMENSIONS
    shape = [0] + [7] * 63  # 64 dimensions, the most one tensor may have
    zero = {"dtype": "U8", "shape": shape, "data_offsets": [0, 0]}
    fits = most // 64
    ok = _prefix({f"t{i}": zero for i in range(fits)})
    assert len(ref.safetensors_layout(NAME, len(ok), ok)[1]) == fits
    over = _prefix({f"t{i}": zero for i in range(fits + 1)})
    _both_refuse(over, f"its tensors have more than {most} dimensions")
    with pytest.raises(InputError, match=f"its tensors have more than {most} dimensions"):
        _objects(tmp_path, over)


@pytest.mark.parametrize("metadata", ['{"k": "\\ud800"}', '{"\\udfff": "v"}', '{"k": "a\\ud83d"}'])
def test_metadata_strings_are_unicode_text(metadata: str) -> None:
    """A lone surrogate escape is valid JSON grammar but not text (other readers refuse it):
    refused by the reference and the lean layout alike; a pair is one character, accepted."""
    header = '{"__metadata__": ' + metadata + "}"
    prefix = struct.pack("<Q", len(header)) + header.encode()
    _both_refuse(prefix, "__metadata__ must map strings to strings")
    pair = b'{"__metadata__": {"k": "\\ud83d\\ude00"}}'
    ok = struct.pack("<Q", len(pair)) + pair
    assert safetensors_header.safetensors_layout(NAME, len(ok), ok) == (len(pair), [])
    assert ref.safetensors_layout(NAME, len(ok), ok) == (len(pair), {})
