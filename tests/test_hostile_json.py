"""Hostile JSON where a signature, a statement, a manifest, a proof or a safetensors header
depends on it (issue 12, items 3 and 6): one strict reading (``gpuhash.strict_json``), limits
checked before anything large is built, and one-line errors."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_run import one_error_line, run
from hypothesis import given
from hypothesis import strategies as st

import gpuhash
from gpuhash import reference as ref
from gpuhash import strict_json
from gpuhash.errors import InputError, UsageError, VerificationError
from gpuhash.signing import methods


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "model"
    m.mkdir()
    (m / "weights.bin").write_bytes(bytes(range(256)) * 100)
    (m / "config.json").write_bytes(b'{"layers": 2}')
    return m


def _sign(model: Path, key: Path, tmp_path: Path, **kw: Any) -> Path:
    sig = tmp_path / "model.sig"
    gpuhash.sign(model, sig, method="key", private_key=key, **kw)
    return sig


def _statement(sig: Path) -> dict[str, Any]:
    payload = json.loads(sig.read_bytes())["dsseEnvelope"]["payload"]
    value: dict[str, Any] = json.loads(base64.b64decode(payload))
    return value


def _resign(sig: Path, key: Path, payload: bytes) -> None:
    sig.write_bytes(methods.KeySigner(key).sign(payload))


def _verify(model: Path, sig: Path, public: Path) -> None:
    gpuhash.verify(model, sig, method="key", public_key=public)


# -- the loader itself ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": {"b": 1, "b": 1}}', "duplicate key 'b'"),
        (b'\xef\xbb\xbf{"a": 1}', "byte-order mark"),
        ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
        ('{"a": 1}'.encode("utf-32"), "not UTF-8"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"a": 1e400}', "number '1e400' is not finite"),
        (b'{"a": -1E+999}', "is not finite"),
        (b'{"a": ' + b"9" * 21 + b"}", "more than 20 digits"),
        (b"[" * 40 + b"]" * 40, "nested more than 32 levels"),
        (b'{"a": [1, 2}', "not valid JSON"),
    ],
)
def test_strict_loader_refuses(data: bytes, message: str) -> None:
    from gpuhash import strict_json

    with pytest.raises(strict_json.JSONError, match=message) as info:
        strict_json.loads(data, "the thing")
    assert str(info.value).startswith("the thing")
    assert "\n" not in str(info.value)


def test_strict_loader_accepts_json_and_counts_outside_strings() -> None:
    from gpuhash import strict_json

    text = '{"a": [1, 2.5, -3, "[[{,:", true, null], "b": {"c": "\\"]"}}'
    assert strict_json.loads(text.encode(), "x") == json.loads(text)
    shape = strict_json.scan(text, "x")
    assert (shape.objects, shape.arrays, shape.depth) == (2, 1, 2)
    assert strict_json.loads(b"[" * 32 + b"]" * 32, "x", max_depth=32)
    with pytest.raises(strict_json.JSONError, match="more than 10 JSON values"):
        strict_json.loads(b"[" + b"0," * 20 + b"0]", "x", max_values=10)


#: A JSON string, as ``strict_json.scan`` skips it.
STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)


def one_pass_shape(text: str) -> tuple[int, int, int, int] | str:
    """What ``strict_json.scan`` counts, counted over the whole text at once: strings replaced,
    then the innermost arrays and objects (with their keys) removed a level at a time; or that
    it refuses the text, for more closing brackets than opening ones."""
    skeleton = STRING.sub("0", text)
    objects, arrays = skeleton.count("{"), skeleton.count("[")
    if skeleton.count("}") + skeleton.count("]") > objects + arrays:
        return "unbalanced"
    values = skeleton.count(",") + skeleton.count(":") + objects + arrays + 1
    structure = re.sub(r"[^\[\]{}:]+", "", skeleton)  # brackets and keys
    depth = 0
    while structure:
        inner = re.sub(r"\[\]|\{:*\}", "", structure)
        if inner == structure:
            break
        structure, depth = inner, depth + 1
    return objects, arrays, values, depth


def shape_of(text: str) -> tuple[int, int, int, int] | str:
    try:
        shape = strict_json.scan(text, "x", max_depth=10**6)
    except strict_json.JSONError as e:
        return "unbalanced" if "more closing brackets" in str(e) else str(e)
    return shape.objects, shape.arrays, shape.values, shape.depth


@given(
    st.text(st.sampled_from('[]{}"\\,:a \n'), max_size=300),
    st.sampled_from([1, 2, 5, 64]),
    st.sampled_from([1, 2, 3, 4096]),
)
def test_scan_counts_as_one_pass_over_the_text(text: str, window: int, structure: int) -> None:
    """Balanced or not, JSON or not, read in windows of any size, its structure reduced in
    windows of any size."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(strict_json, "WINDOW", window)
        patch.setattr(strict_json, "STRUCTURE_WINDOW", structure)
        assert shape_of(text) == one_pass_shape(text)


@pytest.mark.parametrize(
    "text",
    [
        # More strings than one chunk holds, with brackets, commas, colons and escaped quotes in
        # them, so that chunks end after strings of every kind.
        json.dumps([{"k[": f'v{{,:"]\\{i}', "n": [i, [i]]} for i in range(3 * 4096 + 7)]),
        json.dumps({f"{i}": "[" * (i % 3) for i in range(9000)}) + ' "unterminated [ {',
        '"' * 9001 + "[{" * 5 + "]}" * 4,
        # A string longer than a window, text without strings longer than one, a string that
        # never ends (its escaped quotes open no string).
        json.dumps({"a": "[{" * strict_json.WINDOW, "b": [[0]] * strict_json.WINDOW, "c": "}"}),
        '[{"a": "' + '\\"[' * 1000 + ", {}]",
    ],
)
def test_scan_counts_in_chunks_as_in_one_pass(text: str) -> None:
    assert shape_of(text) == one_pass_shape(text)


def test_scan_of_a_string_that_never_ends_takes_no_time() -> None:
    """Trying each of its escaped quotes as the start of a string, to the end of the text, took
    time quadratic in its length (37 s for 160 kB; this one, minutes)."""
    text = '{"a": "' + '\\"' * 200_000
    start = time.perf_counter()
    assert strict_json.scan(text, "x").objects == 1
    with pytest.raises(strict_json.JSONError, match="not valid JSON"):
        strict_json.loads(text, "x")
    assert time.perf_counter() - start < 5


def test_scan_builds_little_beside_the_text() -> None:
    """Strings are replaced a chunk at a time, and brackets removed without a piece per pair:
    ``scan`` builds a fraction of the text's size (6.7 times it when it replaced all strings at
    once, holding every piece until joined)."""
    text = json.dumps([{"name": f"n{i}", "shape": [i, 2], "kind": "file"} for i in range(50_000)])
    tracemalloc.start()
    try:
        strict_json.scan(text, "x")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(text) / 2, f"{peak / len(text):.1f} times the text"


def _letters(i: int) -> str:
    return chr(0x61 + i % 26) + chr(0x61 + i // 26 % 26)


#: Documents that cost the parser many times their bytes, by how they are dense (``n`` items).
DENSE: dict[str, Callable[[int], str]] = {
    "empty arrays": lambda n: "[" + ",".join(["[]"] * n) + "]",
    "empty objects": lambda n: "[" + ",".join(["{}"] * n) + "]",
    "two-letter strings": lambda n: "[" + ",".join(f'"{_letters(i)}"' for i in range(n)) + "]",
    "latin-1 strings": lambda n: "[" + ",".join(f'"\u00e9{_letters(i)}"' for i in range(n)) + "]",
    "strings made wide by an escape": lambda n: (
        "[" + ",".join(['"\\ud83d\\ude00' + "a" * 40 + '"'] * n) + "]"
    ),
    "strings made wide by a character": lambda n: (
        "[" + ",".join(['"\U0001f600' + "a" * 60 + '"'] * n) + "]"
    ),
    "integers": lambda n: "[" + ",".join(str(10**18 + i) for i in range(n)) + "]",
    "floats": lambda n: "[" + ",".join(["1.5"] * n) + "]",
    "one-key objects": lambda n: "[" + ",".join(['{"a":"xy"}'] * n) + "]",
    "six-key objects": lambda n: (
        "[" + ",".join(['{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1}'] * n) + "]"
    ),
    "distinct keys": lambda n: (
        "["
        + ",".join(
            "{" + ",".join(f'"{(7 * i + j) % 1000:x}":"ab"' for j in range(7)) + "}"
            for i in range(n)
        )
        + "]"
    ),
    "nested arrays": lambda n: "[" + ",".join(['[[[["ab"]]]]'] * n) + "]",
    # One string widened by its escapes from ASCII to four bytes a character: the parser holds
    # the two-byte copy and the four-byte one together.
    "a string widened by escapes": lambda n: '["' + "a" * 50 * n + '\\u00e9\\u20ac\\ud83d\\ude00"]',
    "an ASCII string with an escape": lambda n: '["' + "a" * 50 * n + '\\n"]',
    "a wide text's string widened": lambda n: '["' + "a" * 50 * n + '\\u00e9\U0001f600"]',
    "an object of 1000 keys": lambda n: (
        "["
        + ",".join(["{" + ",".join(f'"{j:x}":[]' for j in range(1000)) + "}"] * max(1, n // 1000))
        + "]"
    ),
}


def _traced_peak(parse: Any) -> int:
    tracemalloc.start()
    try:
        parse()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", DENSE)
def test_the_reckoned_memory_bounds_what_the_parser_builds(kind: str) -> None:
    """``Shape.memory`` is at least what ``loads`` builds (the text decoded and the value),
    however the document is dense; and within a few times it, so that it refuses only what
    is dense."""
    data = DENSE[kind](20_000).encode()
    reckoned = strict_json.scan(data, "x").memory
    peak = _traced_peak(lambda: strict_json.loads(data, "x"))
    assert peak <= reckoned, f"{kind}: built {peak} bytes, reckoned {reckoned}"
    assert reckoned <= 4 * peak, f"{kind}: reckoned {reckoned / peak:.1f} times what it built"


@pytest.mark.parametrize("kind", DENSE)
def test_a_document_too_dense_is_refused_before_it_is_built(kind: str) -> None:
    """Refused by the reckoning: nothing built but the text decoded and what ``scan`` holds
    (a window's pieces; the structure, at most the text's size, twice while a level of it is
    dropped), where the value would take 10 to 30 times the text."""
    data = DENSE[kind](200_000).encode()
    most = strict_json.scan(data, "x").memory - 1
    with pytest.raises(strict_json.JSONError, match=r"^x: too dense to parse: .* MiB$"):
        strict_json.loads(data, "x", max_memory=most)

    def refused() -> None:
        with pytest.raises(strict_json.JSONError, match="too dense"):
            strict_json.loads(data, "x", max_memory=most)

    peak = _traced_peak(refused)
    decoding = _traced_peak(data.decode)
    assert peak < decoding + 3 * len(data) + (1 << 20), f"{peak / len(data):.1f} times the text"


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=8)
            | st.dictionaries(st.text(max_size=6), children, max_size=8)
        ),
        max_leaves=200,
    ),
    st.booleans(),
)
def test_the_reckoning_bounds_any_document(value: Any, ascii: bool) -> None:
    """For any JSON value, written either way, what ``loads`` builds is at most the reckoning
    (and a constant: the parser's own state)."""
    data = json.dumps(value, ensure_ascii=ascii).encode()
    reckoned = strict_json.scan(data, "x").memory
    peak = _traced_peak(lambda: strict_json.loads(data, "x"))
    assert peak <= reckoned + 8192


def test_more_closing_brackets_than_opening_ones_are_refused_before_the_structure() -> None:
    """Closing brackets are no values: 96 MiB of them took four copies of the structure (and,
    32 levels deep, 22 s) before anything refused them."""
    for text in ("[1" + "]" * 100_000, "]", '{"a": [1]}}'):
        with pytest.raises(strict_json.JSONError, match="more closing brackets than opening ones"):
            strict_json.loads(text, "x")


def test_the_structure_is_reduced_in_linear_time() -> None:
    """A window of the structure ended at the next opening bracket of each kind, found by one
    search each to the end of the text when that kind was absent: quadratic (20 s for 64 MiB).
    The same holds for an array of 32-deep chains, reduced 32 times."""
    for text in (
        "[" + "[]," * 4_000_000 + "[]]",
        "[" + ",".join(["[" * 31 + "]" * 31] * 40_000) + "]",
    ):
        start = time.perf_counter()
        strict_json.scan(text, "x")
        assert time.perf_counter() - start < 10


def test_a_manifest_of_millions_of_short_strings_is_refused_unbuilt() -> None:
    """The value limit admits 2^23 values (a manifest of 2^18 tensors needs millions); as
    two-letter strings they are 40 MiB of JSON that took 720 MiB to parse, over the 512 MiB a
    parser may take. The reckoning refuses them before anything is built."""
    from gpuhash import limits
    from gpuhash.manifest import Manifest, ManifestError

    n = limits.MAX_MANIFEST_VALUES - 2
    data = DENSE["two-letter strings"](n).encode()
    assert strict_json.scan(data, "x").values <= limits.MAX_MANIFEST_VALUES
    with pytest.raises(ManifestError, match="too dense to parse") as e:
        Manifest.from_json(data)
    assert len(str(e.value).splitlines()) == 1


def _manifest_dict(**entry: Any) -> dict[str, Any]:
    from gpuhash.algorithms import resolve_algorithm
    from gpuhash.digests import ObjectDigest
    from gpuhash.manifest import Manifest

    alg = resolve_algorithm("merkle-sha256")
    m = Manifest.build(alg, [ObjectDigest("w", ref.KIND_FILE, 1, bytes(32))])
    value: dict[str, Any] = json.loads(m.to_json())
    value["objects"][0].update(entry)
    return value


@pytest.mark.parametrize(
    ("where", "field", "message"),
    [
        ("algorithm", "family", r"'family' is a string of 4000000 characters, more than 256$"),
        ("algorithm", "id", r"'id' is a string of 4000000 characters, more than 256$"),
        ("object", "kind", r"object 0: 'kind' is a string of 4000000 characters, more than 256$"),
        ("object", "size", r"object 0: 'size' is a string of 4000000 characters, more than 256$"),
        ("object", "digest", r"object 0: 'digest' is a string of 4000000 characters, more than"),
        ("object", "name", r"^manifest: object '\U0001f600a+\.\.\.a+' has a malformed digest$"),
    ],
)
def test_a_manifest_field_of_megabytes_is_refused_in_one_short_line(
    where: str, field: str, message: str
) -> None:
    """protobuf's parser quotes a bad value whole in each of its nested errors, and ``repr``
    copied a name whole before a message cut it: a 16 MiB family took 416 MiB to refuse, a bad
    name gave a message of a million characters. Fields but names are bounded before parsing;
    names are cut before they are quoted."""
    from gpuhash.manifest import Manifest, ManifestError

    huge = "\U0001f600" + "a" * 3_999_999
    value = _manifest_dict()
    if where == "algorithm":
        value["algorithm"][field] = huge
    else:
        value["objects"][0][field] = huge
        if field == "name":
            value["objects"][0]["digest"] = "AAAA"
    data = json.dumps(value, ensure_ascii=False).encode()
    errors: list[str] = []

    def refused() -> None:
        with pytest.raises(ManifestError) as e:
            Manifest.from_json(data)
        errors.append(str(e.value))

    peak = _traced_peak(refused)
    assert re.search(message, errors[0]), errors[0]
    assert len(errors[0]) < 300
    assert len(errors[0].splitlines()) == 1
    assert peak < 10 * len(data)


def test_a_manifest_of_more_objects_than_an_artifact_may_have_is_refused_unconverted() -> None:
    from gpuhash.manifest import Manifest, ManifestError

    value = _manifest_dict()
    value["objects"] = [{}] * (ref.MAX_OBJECTS + 1)
    with pytest.raises(ManifestError, match=rf"^manifest has more than {ref.MAX_OBJECTS} objects$"):
        Manifest.from_dict(value)


def test_keys_in_one_object_and_distinct_keys_are_limited() -> None:
    """The parser lists an object's pairs before making it, and keeps every distinct key: both
    are bounded before they are built (in one object) or as the document is parsed."""

    def obj(n: int, value: str = "0", start: int = 0) -> str:
        return "{" + ",".join(f'"k{start + i}":{value}' for i in range(n)) + "}"

    assert len(strict_json.loads(obj(10, obj(10)), "x", max_keys=10)) == 10
    assert len(strict_json.loads(f"[{obj(10)},{obj(10)}]", "x", max_keys=10)) == 2
    for text in (obj(11), obj(10, obj(11)), obj(11, obj(3)), f"[{obj(11, '[]')}]"):
        with pytest.raises(
            strict_json.JSONError, match=r"^x: a JSON object with more than 10 keys$"
        ):
            strict_json.scan(text, "x", max_keys=10)
    with pytest.raises(strict_json.JSONError, match=r"^x: more than 10 distinct JSON keys$"):
        strict_json.loads(f"[{obj(6)},{obj(6, start=6)}]", "x", max_keys=10)
    many = obj(strict_json.DEFAULT_MAX_KEYS + 1)
    assert strict_json.scan(many, "x").keys == strict_json.DEFAULT_MAX_KEYS + 1
    with pytest.raises(strict_json.JSONError, match="more than 1024 keys"):
        strict_json.loads(many, "x")
    spread = "[" + ",".join(obj(1, start=i) for i in range(strict_json.DEFAULT_MAX_KEYS + 1)) + "]"
    with pytest.raises(strict_json.JSONError, match="more than 1024 distinct JSON keys"):
        strict_json.loads(spread, "x")


def test_hostile_keys_are_quoted_short_and_printable() -> None:
    from gpuhash import strict_json

    key = "\x1b[31m" + "k" * 10_000
    with pytest.raises(strict_json.JSONError) as info:
        strict_json.loads(b"{%s: 1, %s: 2}" % ((json.dumps(key).encode(),) * 2), "x")
    message = str(info.value)
    assert "duplicate key" in message
    assert len(message) < 120
    assert message.isprintable()


# -- signatures ------------------------------------------------------------------------------------


def test_duplicate_payload_in_a_bundle_is_refused(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    """A forged payload first and the genuine one last: a reader keeping the last key would
    verify the genuine signature and another reader act on the forged statement."""
    key, public = ec_keys
    sig = _sign(model, key, tmp_path)
    text = sig.read_text()
    forged = base64.b64encode(b'{"forged": true}').decode()
    sig.write_text(text.replace('"payload":', f'"payload": "{forged}", "payload":', 1))
    with pytest.raises(VerificationError, match="duplicate key 'payload'"):
        _verify(model, sig, public)


def test_duplicate_keys_inside_the_signed_statement_are_refused(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    key, public = ec_keys
    sig = _sign(model, key, tmp_path)
    payload = json.dumps(_statement(sig)).encode()
    doubled = payload.replace(b'"predicateType":', b'"predicateType": "x", "predicateType":', 1)
    _resign(sig, key, doubled)
    with pytest.raises(VerificationError, match="duplicate key 'predicateType'"):
        _verify(model, sig, public)


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-16"),
        lambda text: text.encode("utf-16-le"),
        lambda text: b"\xef\xbb\xbf" + text.encode(),
    ],
    ids=["utf-16", "utf-16-le", "bom"],
)
def test_a_bundle_that_is_not_plain_utf8_is_refused(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path], encode: Any
) -> None:
    key, public = ec_keys
    sig = _sign(model, key, tmp_path)
    sig.write_bytes(encode(sig.read_text()))
    with pytest.raises(VerificationError):
        _verify(model, sig, public)


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("top", [0] * 100_000, "more than 65536 JSON values"),
        ("top", "A" * 1000, "the bundle has unknown fields 'padding'"),
        ("dsse", "x", "the DSSE envelope has unknown fields 'padding'"),
        ("sig", "x", "the DSSE signature has unknown fields 'padding'"),
    ],
)
def test_unsigned_fields_in_a_bundle_are_refused(
    model: Path,
    tmp_path: Path,
    ec_keys: tuple[Path, Path],
    where: str,
    value: object,
    message: str,
) -> None:
    key, public = ec_keys
    sig = _sign(model, key, tmp_path)
    bundle = json.loads(sig.read_bytes())
    target = {
        "top": bundle,
        "dsse": bundle["dsseEnvelope"],
        "sig": bundle["dsseEnvelope"]["signatures"][0],
    }[where]
    target["padding"] = value
    sig.write_text(json.dumps(bundle))
    with pytest.raises(VerificationError, match=message):
        _verify(model, sig, public)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda st: st.update(extra=1), "the statement has unknown fields 'extra'"),
        (lambda st: st["subject"][0].update(uri="x"), "the subject has unknown fields 'uri'"),
    ],
)
def test_unknown_fields_in_a_statement_are_refused(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path], edit: Any, message: str
) -> None:
    key, public = ec_keys
    sig = _sign(model, key, tmp_path)
    statement = _statement(sig)
    edit(statement)
    _resign(sig, key, json.dumps(statement).encode())
    with pytest.raises(VerificationError, match=message):
        _verify(model, sig, public)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p.update(comment="x"), "the predicate has unknown fields 'comment'"),
        (lambda p: p["serialization"].update(x=1), "the serialization has unknown fields 'x'"),
        (lambda p: p["resources"][0].update(size=1), "a resource has unknown fields 'size'"),
    ],
)
def test_unknown_fields_in_a_model_signing_predicate_are_refused(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path], edit: Any, message: str
) -> None:
    key, public = ec_keys
    sig = _sign(model, key, tmp_path, format="oms")
    statement = _statement(sig)
    edit(statement["predicate"])
    raw = b"".join(bytes.fromhex(r["digest"]) for r in statement["predicate"]["resources"])
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(raw).hexdigest()
    _resign(sig, key, json.dumps(statement).encode())
    with pytest.raises(VerificationError, match=message):
        _verify(model, sig, public)


def test_a_malformed_signature_is_exit_1_in_one_line(
    model: Path,
    tmp_path: Path,
    ec_keys: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, public = ec_keys
    sig = _sign(model, key, tmp_path)
    text = sig.read_text()
    sig.write_text(text.replace('"payload":', '"payload": "e30=", "payload":', 1))
    code, _, err = run(capsys, "verify", "key", model, "--signature", sig, "--public-key", public)
    assert code == 1
    one_error_line(err, "duplicate key 'payload'")


# -- manifests and proofs --------------------------------------------------------------------------


def _manifest(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "m.json"
    assert run(capsys, "hash", model, "-o", path)[0] == 0
    return path


@pytest.mark.parametrize(
    ("encode", "message"),
    [
        (lambda t: t.encode("utf-16"), "not UTF-8"),
        (lambda t: b"\xef\xbb\xbf" + t.encode(), "byte-order mark"),
        (lambda t: t.replace('"objects"', '"x": 1e400, "objects"', 1).encode(), "not finite"),
        (
            lambda t: t.replace(
                '"objects"', '"x": [' + "[]," * 5000 + "[]], " + '"objects"', 1
            ).encode(),
            "more than",
        ),
    ],
    ids=["utf-16", "bom", "1e400", "values"],
)
def test_manifest_json_is_read_strictly(
    model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    encode: Any,
    message: str,
) -> None:
    from gpuhash import limits
    from gpuhash.manifest import Manifest, ManifestError

    path = _manifest(model, tmp_path, capsys)
    monkeypatch.setattr(limits, "MAX_MANIFEST_VALUES", 1000)
    path.write_bytes(encode(path.read_text()))
    with pytest.raises(ManifestError, match=message):
        Manifest.from_json(path.read_bytes())
    code, _, err = run(capsys, "check", path, model)
    assert code == 2
    one_error_line(err, str(path), "not a gpuhash manifest")


def test_a_proof_in_utf16_is_refused(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gpuhash.proofs import Proof

    proof = tmp_path / "p.json"
    argv = ["prove", model, "--object", "weights.bin", "--range", "0:1", "-o", proof]
    assert run(capsys, *argv)[0] == 0
    assert Proof.from_json(proof.read_bytes())
    with pytest.raises(UsageError, match="not UTF-8"):
        Proof.from_json(proof.read_text().encode("utf-16"))
    with pytest.raises(UsageError, match="duplicate key"):
        Proof.from_json(
            proof.read_text().replace('"algorithm"', '"objectName": "x", "algorithm"', 1)
        )


# -- safetensors headers ---------------------------------------------------------------------------


def _safetensors(path: Path, header: object) -> Path:
    head = json.dumps(header, separators=(",", ":")).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head)
    return path


def test_a_header_with_more_tensors_than_a_listing_may_hold_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zero-size tensors cost nothing to store: 2^20 of them per file are the most (spec
    section 1.2), counted before the header is parsed. Shown here with the limit at 10: the
    header object counts too, so a listing of one file holds at most 9 tensors."""
    monkeypatch.setattr(ref, "MAX_OBJECTS", 10)
    tensor = {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}
    ok = _safetensors(tmp_path / "ok.safetensors", {f"t{i}": tensor for i in range(9)})
    assert len(gpuhash.list_objects(ok, objects="tensors")) == 10
    full = _safetensors(tmp_path / "full.safetensors", {f"t{i}": tensor for i in range(10)})
    with pytest.raises(InputError, match="more than 10 objects"):
        gpuhash.list_objects(full, objects="tensors")
    many = _safetensors(tmp_path / "many.safetensors", {f"t{i}": tensor for i in range(11)})
    with pytest.raises(InputError, match="more than 10 tensors"):
        gpuhash.list_objects(many, objects="tensors")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"__metadata__": {"a": {"b": "c"}}, "t": {"shape": [[[]]]}}, "nested more than 3"),
        (
            {"t": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}, "a": [], "b": [], "c": []},
            "lists",
        ),
    ],
)
def test_a_header_that_would_build_more_than_a_valid_one_is_refused(
    tmp_path: Path, header: object, message: str
) -> None:
    path = _safetensors(tmp_path / "bad.safetensors", header)
    with pytest.raises(InputError, match=message) as info:
        gpuhash.list_objects(path, objects="tensors")
    assert str(info.value).startswith("not a valid safetensors file: bad.safetensors: header")


def test_goldens_have_no_duplicate_or_unknown_fields() -> None:
    """The bundles model_signing writes read through the strict loader unchanged."""
    from gpuhash import strict_json
    from gpuhash.signing import envelope

    goldens = sorted((Path(__file__).parent / "data" / "model-signing-goldens").glob("*/*.sig"))
    assert goldens
    for sig in goldens:
        data = sig.read_bytes()
        assert strict_json.loads(data, "x") == json.loads(data)
        env = envelope.parse_bundle(data)
        statement = strict_json.loads(env.payload, "x")
        assert set(statement) == {"_type", "subject", "predicateType", "predicate"}
        assert isinstance(statement["predicate"], dict)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"a": "\\ud800"}', False),  # a high surrogate alone
        ('{"a": ["x", "\\udc00y"]}', False),  # a low one alone, in a list
        ('{"\\ud800": 1}', False),  # in a key
        ('{"a": "\\ud83d\\ude00"}', True),  # a pair: one character (U+1F600)
        ('{"a": "\\\\ud800"}', True),  # an escaped backslash, then the letters "ud800"
    ],
)
def test_lone_surrogate_escapes_are_refused(text: str, ok: bool) -> None:
    """A lone surrogate is not Unicode text (I-JSON): names and strings must encode as UTF-8
    (one reached the protobuf runtime as a SystemError, found by the fuzz harness)."""
    if ok:
        assert strict_json.loads(text.encode(), "x") == json.loads(text)
    else:
        with pytest.raises(strict_json.JSONError, match="lone surrogate"):
            strict_json.loads(text.encode(), "x")
