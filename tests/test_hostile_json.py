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


def one_pass_shape(text: str) -> tuple[int, int, int, int]:
    """What ``strict_json.scan`` counts, counted over the whole text at once: strings replaced,
    then the innermost pairs of brackets removed a level at a time."""
    skeleton = STRING.sub("0", text)
    objects, arrays = skeleton.count("{"), skeleton.count("[")
    values = skeleton.count(",") + skeleton.count(":") + objects + arrays + 1
    brackets = re.sub(r"[^\[\]{}]+", "", skeleton)
    depth = 0
    while brackets:
        inner = re.sub(r"\[\]|\{\}", "", brackets)
        if inner == brackets:
            break
        brackets, depth = inner, depth + 1
    return objects, arrays, values, depth


def shape_of(text: str) -> tuple[int, int, int, int]:
    shape = strict_json.scan(text, "x", max_depth=10**6)
    return shape.objects, shape.arrays, shape.values, shape.depth


@given(st.text(st.sampled_from('[]{}"\\,:a \n'), max_size=300), st.sampled_from([1, 2, 5, 64]))
def test_scan_counts_as_one_pass_over_the_text(text: str, window: int) -> None:
    """Balanced or not, JSON or not, read in windows of any size."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(strict_json, "WINDOW", window)
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
