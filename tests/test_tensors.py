"""Tensor objects (spec section 1.3): safetensors files split into a header object and one object
per tensor, validated; in-memory tensors with the same digests; selective verification.

Fixtures are written by the ``safetensors`` package itself (numpy tensors, and BF16 through its
raw ``serialize``); only the deliberately malformed files are assembled by hand.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

import gpuhash
from gpuhash import cli
from gpuhash import reference as ref
from gpuhash.errors import InputError, VerificationError
from gpuhash.signing import VerificationFailed

DTYPES = [np.float32, np.float16, np.int8, np.uint8, np.int64, np.float64, np.bool_, np.int32]


def _bf16_file(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """A safetensors file with BF16 tensors (numpy has no bfloat16: the raw 16-bit patterns are
    given to safetensors' own serializer)."""
    specs = {
        name: safetensors.TensorSpec(
            dtype="bfloat16", shape=list(a.shape), data_ptr=a.ctypes.data, data_len=a.nbytes
        )
        for name, a in tensors.items()
    }
    path.write_bytes(safetensors.serialize(specs, {"kind": "bf16 test"}))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "model"
    m.mkdir()
    rng = np.random.default_rng(7)
    save_file(
        {
            "model.embed.weight": rng.standard_normal((257, 129)).astype(np.float32),
            "model.norm.bias": rng.standard_normal(129).astype(np.float16),
            "empty": np.zeros((0, 4), np.int8),
            "n" * 300: np.arange(5, dtype=np.int64),  # a long name
        },
        str(m / "model-00001.safetensors"),
        metadata={"format": "np"},
    )
    _bf16_file(m / "bf16.safetensors", {"w": rng.integers(0, 1 << 16, (33, 7), dtype=np.uint16)})
    (m / "config.json").write_text('{"hidden": 129}')
    return m


def test_objects_of_a_model_equal_the_reference(model: Path) -> None:
    for backend in ("cpu", "opencl"):
        m = gpuhash.hash_path(model, objects="tensors", leaf_size=4096, backend=backend)
        entries, want = ref.hash_model(str(model), m.algorithm.id, tensors=True)
        assert m.artifact_digest == want
        assert [(o.kind, o.name, o.size, o.digest) for o in m.objects] == entries
    names = {o.name: o for o in m.objects}
    assert names["config.json"].kind == ref.KIND_FILE
    header = names["model-00001.safetensors::__metadata__"]
    assert header.kind == ref.KIND_TENSOR_HEADER
    weight = names["model-00001.safetensors::model.embed.weight"]
    assert weight.tensor == {
        "dtype": "F32",
        "shape": [257, 129],
        "source": "model-00001.safetensors",
        "offset": weight.tensor["offset"] if weight.tensor else None,
    }
    assert names["bf16.safetensors::w"].tensor["dtype"] == "BF16"  # type: ignore[index]
    # The header and the tensors cover each file exactly once.
    for file in ("model-00001.safetensors", "bf16.safetensors"):
        covered = sum(o.size for o in m.objects if o.name.startswith(file + "::"))
        assert covered == (model / file).stat().st_size
    # The manifest keeps the metadata through JSON and protobuf.
    again = gpuhash.Manifest.from_json(m.to_json())
    assert again["bf16.safetensors::w"].tensor == names["bf16.safetensors::w"].tensor
    # Files mode is a different artifact over the same bytes.
    files = gpuhash.hash_path(model, leaf_size=4096, backend="cpu")
    assert files.artifact_digest != m.artifact_digest


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shapes=st.lists(
        st.tuples(st.sampled_from(range(len(DTYPES))), st.lists(st.integers(0, 40), max_size=3)),
        min_size=1,
        max_size=6,
    ),
    family=st.sampled_from(["merkle-sha256", "blake3", "lthash16-shake256"]),
)
def test_in_memory_tensors_have_the_file_digests(
    tmp_path_factory: pytest.TempPathFactory, shapes: list[tuple[int, list[int]]], family: str
) -> None:
    rng = np.random.default_rng(len(shapes))
    tensors: dict[str, np.ndarray] = {
        f"layer.{i}": np.asarray(rng.standard_normal(shape) * 100).astype(DTYPES[d])
        for i, (d, shape) in enumerate(shapes)
    }
    path = tmp_path_factory.mktemp("st") / "m.safetensors"
    save_file(tensors, str(path))
    from_file = gpuhash.hash_path(path, objects="tensors", algorithm=family, leaf_size=1024)
    in_memory = gpuhash.hash_tensors(tensors, algorithm=family, leaf_size=1024)
    file_digests = {
        o.name.split("::", 1)[1]: o.digest for o in from_file.objects if o.kind == ref.KIND_TENSOR
    }
    assert {o.name: o.digest for o in in_memory.objects} == file_digests
    # Non-contiguous arrays are hashed as their C-order bytes, as safetensors stores them.
    first = next(iter(tensors))
    assert (
        gpuhash.hash_tensors(
            {first: np.asfortranarray(tensors[first])}, algorithm=family, leaf_size=1024
        )
        .objects[0]
        .digest
        == file_digests[first]
    )


def test_device_arrays_hash_in_place_with_the_file_digest(model: Path) -> None:
    import gpuhash_opencl
    import pyopencl.array as cl_array

    backend = gpuhash_opencl.OpenCLBackend(device="Intel")
    weight = np.random.default_rng(3).standard_normal((64, 33)).astype(np.float32)
    on_device = cl_array.to_device(backend._node_queue, weight)
    path = model / "dev.safetensors"
    save_file({"w": weight}, str(path))
    want = gpuhash.hash_path(path, objects="tensors", backend="cpu")["dev.safetensors::w"].digest
    got = gpuhash.hash_tensors({"w": on_device}, backend=backend)
    assert got.objects[0].digest == want


# -- malformed files ---------------------------------------------------------------------------


def _raw(header: object, data: bytes, pad: bytes = b"") -> bytes:
    text = (header if isinstance(header, bytes) else json.dumps(header).encode()) + pad
    return struct.pack("<Q", len(text)) + text + data


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
MALFORMED = {
    "short": (b"\x01\x02", "too short"),
    "header length": (
        struct.pack("<Q", 1 << 40) + b"{}",
        "header length 1099511627776 out of bounds",
    ),
    "header beyond file": (struct.pack("<Q", 50) + b"{}", "out of bounds"),
    "not json": (_raw(b"{nope", b""), "not valid JSON"),
    "not utf-8": (_raw(b'{"\xff": 1}', b""), "not valid UTF-8"),
    "not an object": (_raw([1, 2], b""), "not a JSON object"),
    "duplicate": (
        _raw(
            b'{"a": ' + json.dumps(F32).encode() + b', "a": ' + json.dumps(F32).encode() + b"}",
            b"\0" * 8,
        ),
        "duplicate key 'a'",
    ),
    "bad dtype": (_raw({"a": {**F32, "dtype": "F4"}}, b"\0" * 8), "unknown dtype 'F4'"),
    "bad shape": (_raw({"a": {**F32, "shape": [-2]}}, b"\0" * 8), "non-negative integers"),
    "size mismatch": (_raw({"a": {**F32, "shape": [3]}}, b"\0" * 8), "F32 x [3] is not 8 bytes"),
    "offsets out of range": (
        _raw({"a": {**F32, "data_offsets": [0, 16]}}, b"\0" * 8),
        "out of range",
    ),
    "overlap": (
        _raw({"a": F32, "b": {**F32, "data_offsets": [4, 12]}}, b"\0" * 12),
        "tensor 'b' overlaps the previous tensor",
    ),
    "gap": (_raw({"a": {**F32, "data_offsets": [4, 12]}}, b"\0" * 12), "leaves a gap at 0"),
    "trailing bytes": (_raw({"a": F32}, b"\0" * 9), "1 bytes after the last tensor"),
    "extra field": (
        _raw({"a": {**F32, "x": 1}}, b"\0" * 8),
        "exactly dtype, shape and data_offsets",
    ),
    "bad metadata": (_raw({"__metadata__": {"a": 1}}, b""), "__metadata__ must map strings"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_are_clear_errors(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data, message = MALFORMED[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(InputError, match=re.escape(message)):
        gpuhash.hash_path(path, objects="tensors")
    with pytest.raises(ref.SpecError, match=re.escape(message)):
        ref.safetensors_objects("bad.safetensors", data)
    assert cli.main(["digest", str(path), "--objects", "tensors"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpuhash: error: not a valid safetensors file: bad.safetensors: ")
    assert err.count("\n") == 1
    # As a plain file it still hashes (files mode does not parse it).
    assert gpuhash.hash_path(path).objects[0].size == len(data)


# -- selective verification --------------------------------------------------------------------


def test_only_checks_the_selected_tensors(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    private, public = ec_keys
    sig = tmp_path / "m.sig"

    def run(*argv: object) -> int:
        return cli.main([str(a) for a in argv])

    assert (
        run(
            "sign",
            "key",
            model,
            "--signature",
            sig,
            "--private-key",
            private,
            "--objects",
            "tensors",
        )
        == 0
    )
    assert run("verify", "key", model, "--signature", sig, "--public-key", public) == 0
    capsys.readouterr()
    # Change one tensor's bytes (the header and every other tensor stay as signed).
    f = model / "model-00001.safetensors"
    layout = gpuhash.hash_path(f, objects="tensors", backend="cpu")
    info = layout["model-00001.safetensors::model.norm.bias"].tensor
    assert info is not None
    offset = int(info["offset"])  # type: ignore[call-overload]
    with open(f, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\x00\x7c")
    assert run("verify", "key", model, "--signature", sig, "--public-key", public) == 1
    assert capsys.readouterr().out == "changed: model-00001.safetensors::model.norm.bias\n"
    for pattern, code in (("*embed*", 0), ("*::model.norm.*", 1), ("bf16.safetensors::*", 0)):
        assert (
            run(
                "verify",
                "key",
                model,
                "--signature",
                sig,
                "--public-key",
                public,
                "--only",
                pattern,
            )
            == code
        ), pattern
    out = capsys.readouterr().out
    assert "verified" in out
    assert (
        run(
            "verify", "key", model, "--signature", sig, "--public-key", public, "--only", "nothing*"
        )
        == 1
    )
    assert "matches no object the signature lists" in capsys.readouterr().err
    with pytest.raises(VerificationError, match="its objects are tensors, not files"):
        gpuhash.verify(model, sig, method="key", public_key=public, objects="files")
    with pytest.raises(VerificationFailed):
        gpuhash.verify(model, sig, method="key", public_key=public, only=["*.bias"])
    result = gpuhash.verify(model, sig, method="key", public_key=public, only=["*.weight"])
    assert result.objects == 1


def test_hash_command_lists_tensors(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["hash", str(model), "--objects", "tensors", "--json"]) == 0
    manifest: dict[str, Any] = json.loads(capsys.readouterr().out)
    kinds = {o["name"]: o["kind"] for o in manifest["objects"]}
    assert kinds["bf16.safetensors::__metadata__"] == "OBJECT_KIND_TENSOR_HEADER"
    assert kinds["bf16.safetensors::w"] == "OBJECT_KIND_TENSOR"
    assert kinds["config.json"] == "OBJECT_KIND_FILE"


# -- range proofs: one rank's shard of a tensor ------------------------------------------------


def test_a_shard_of_a_tensor_verifies_with_a_proof(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    """`gpuhash prove` for the second half of a tensor; `gpuhash verify --range` checks it
    against the signed manifest reading only those bytes: a change elsewhere in the tensor
    does not matter, a change inside the range fails."""
    private, public = ec_keys
    sig, proof = tmp_path / "m.sig", tmp_path / "rank1.proof.json"
    name = "model-00001.safetensors::model.embed.weight"
    common = ["--objects", "tensors", "-l", "4k"]

    def run(*argv: object) -> int:
        return cli.main([str(a) for a in argv])

    assert run("sign", "key", model, "--signature", sig, "--private-key", private, *common) == 0
    size = 257 * 129 * 4
    half = size // 2
    assert (
        run("prove", model, "--object", name, "--range", f"{half}:{size}", "-o", proof, *common)
        == 0
    )
    assert f"proof for bytes [{half - half % 4096}, {size})" in capsys.readouterr().out
    verify = ["verify", "key", model, "--signature", sig, "--public-key", public, "--range", proof]
    assert run(*verify) == 0
    assert f"verified bytes [{half - half % 4096}, {size}) of {name}" in capsys.readouterr().out
    info = gpuhash.hash_path(model, objects="tensors", backend="cpu")[name].tensor
    assert info is not None
    offset = int(info["offset"])  # type: ignore[call-overload]
    f = model / "model-00001.safetensors"
    with open(f, "r+b") as fh:  # a byte in the first half: not this rank's business
        fh.seek(offset + 10)
        fh.write(b"\xff")
    assert run(*verify) == 0
    with open(f, "r+b") as fh:  # a byte in the proven range
        fh.seek(offset + size - 2)
        old = fh.read(2)
        fh.seek(offset + size - 2)
        fh.write(bytes(b ^ 0x40 for b in old))
    capsys.readouterr()
    assert run(*verify) == 1
    assert "do not match the signed digest" in capsys.readouterr().err
    # A proof under another algorithm than the signature's fails; so does an unknown object.
    assert (
        run(
            "prove",
            model,
            "--object",
            "config.json",
            "--range",
            "0:5",
            "-o",
            proof,
            "-a",
            "merkle-sha512",
        )
        == 0
    )
    assert run(*verify) == 1
    assert "the proof uses gh1-merkle-sha512-64k" in capsys.readouterr().err
    assert run("prove", model, "--object", "nope", "--range", "0:5", "-o", proof) == 2
    assert "no object named 'nope'" in capsys.readouterr().err
    assert run("prove", model, "--object", "config.json", "--range", "5:2", "-o", proof) == 2


# -- GGUF (through the gguf package) -------------------------------------------------------------


def _gguf(path: Path) -> dict[str, np.ndarray]:
    """A small GGUF file written by the gguf package: F32, F16 and a Q8_0 block tensor."""
    import gguf

    rng = np.random.default_rng(11)
    tensors: dict[str, np.ndarray] = {
        "token_embd.weight": rng.standard_normal((33, 16)).astype(np.float32),
        "blk.0.attn_q.weight": rng.standard_normal((7, 5)).astype(np.float16),
    }
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_string("general.name", "gpuhash test")
    for name, array in tensors.items():
        w.add_tensor(name, array)
    q8 = rng.integers(0, 255, size=(4, 34), dtype=np.uint8)  # 4 rows of one 32-weight block
    w.add_tensor("blk.0.ffn.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors


def test_gguf_objects_match_the_gguf_reader(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "model.gguf"
    tensors = _gguf(path)
    data = path.read_bytes()
    reader = gguf.GGUFReader(str(path))
    for family in ("merkle-sha256", "blake3"):
        m = gpuhash.hash_path(path, objects="tensors", algorithm=family, leaf_size=1024)
        header = m["model.gguf::__metadata__"]
        assert header.kind == ref.KIND_TENSOR_HEADER
        assert header.size == reader.data_offset
        assert header.digest == ref.object_digest(family, data[: reader.data_offset], 1024)
        for t in reader.tensors:
            obj = m[f"model.gguf::{t.name}"]
            raw = data[t.data_offset : t.data_offset + t.n_bytes]
            assert obj.digest == ref.object_digest(family, raw, 1024)
            assert obj.tensor is not None
            assert obj.tensor["dtype"] == t.tensor_type.name
        in_memory = gpuhash.hash_tensors(tensors, algorithm=family, leaf_size=1024)
        for o in in_memory.objects:
            assert o.digest == m[f"model.gguf::{o.name}"].digest
    assert m["model.gguf::blk.0.ffn.weight"].tensor["shape"] == [4, 32]  # type: ignore[index]


def test_gguf_that_is_not_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "model.gguf"
    _gguf(path)
    good = path.read_bytes()
    path.write_bytes(b"GGUX" + good[4:])
    with pytest.raises(InputError, match=r"not a valid GGUF file: model\.gguf: GGUF magic invalid"):
        gpuhash.hash_path(path, objects="tensors")
    path.write_bytes(good[:-100])  # truncated inside the last tensor
    assert cli.main(["digest", str(path), "--objects", "tensors"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpuhash: error: not a valid GGUF file: model.gguf: ")
    assert err.count("\n") == 1
    path.write_bytes(good + b"\x01")  # a non-zero byte after the last tensor
    with pytest.raises(InputError, match="after the last tensor are not zero alignment padding"):
        gpuhash.hash_path(path, objects="tensors")


# -- from a review: corner cases ------------------------------------------------------------------


def test_names_cannot_collide(tmp_path: Path) -> None:
    """A tensor name may not contain '::', and a plain file named like a tensor object is a
    duplicate name, not a stand-in for the tensor."""
    with pytest.raises(ref.SpecError, match="may not contain '::'"):
        ref.safetensors_objects("a.safetensors", _raw({"d::t": F32}, b"\0" * 8))
    m = tmp_path / "m"
    m.mkdir()
    save_file({"t": np.zeros(2, np.float32)}, str(m / "a.safetensors"))
    (m / "a.safetensors::t").write_bytes(b"\0" * 8)
    with pytest.raises(InputError, match=r"object name 'a\.safetensors::t' appears twice"):
        gpuhash.hash_path(m, objects="tensors")


def test_only_checks_the_header_of_a_selected_tensor(
    tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    """Reinterpreting a tensor (F32 -> I32, the same bytes) is caught by --only through the
    header object; a damaged header of a file that is not selected is not read at all."""
    m = tmp_path / "m"
    m.mkdir()
    save_file({"w": np.arange(4, dtype=np.float32)}, str(m / "a.safetensors"))
    save_file({"v": np.arange(3, dtype=np.int64)}, str(m / "b.safetensors"))
    private, public = ec_keys
    sig = tmp_path / "s.sig"
    gpuhash.sign(m, sig, method="key", private_key=private, objects="tensors")
    data = (m / "a.safetensors").read_bytes()
    (m / "a.safetensors").write_bytes(data.replace(b'"F32"', b'"I32"'))
    with pytest.raises(VerificationFailed) as info:
        gpuhash.verify(m, sig, method="key", public_key=public, only=["a.safetensors::w"])
    assert [c.name for c in info.value.result.changed] == ["a.safetensors::__metadata__"]
    (m / "a.safetensors").write_bytes(data)
    (m / "b.safetensors").write_bytes(b"\xff" * 40)  # not a safetensors file any more
    assert gpuhash.verify(m, sig, method="key", public_key=public, only=["a.safetensors::*"]).ok


def test_header_fields_of_the_wrong_type_or_size(tmp_path: Path) -> None:
    for header, message in (
        ({"a": {**F32, "dtype": ["F32"]}}, "unknown dtype"),
        ({"a": {**F32, "shape": [1] * 65}}, "at most 64"),
        ({"a\ud800": F32}, "not valid Unicode"),
    ):
        text = json.dumps(header).encode()  # ASCII escapes: the surrogate reaches the parser
        path = tmp_path / "x.safetensors"
        path.write_bytes(_raw(text, b"\0" * 8))
        with pytest.raises(InputError, match=message):
            gpuhash.hash_path(path, objects="tensors")


def test_odd_names_big_endian_arrays_and_empty_proofs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m = tmp_path / "m"
    m.mkdir()
    path = m / "a::b.safetensors"
    weights: dict[str, np.ndarray] = {
        "w": np.arange(6, dtype=np.float32),
        "e": np.zeros(0, np.float16),
    }
    save_file(weights, str(path))
    manifest = gpuhash.hash_path(path, objects="tensors", backend="cpu")
    loaded = gpuhash.load_safetensors(path, manifest)
    assert np.array_equal(loaded["w"], weights["w"])
    big = gpuhash.hash_tensors({"w": weights["w"].astype(">f4")}, backend="cpu")
    assert big.objects[0].digest == manifest["a::b.safetensors::w"].digest
    proof = tmp_path / "p.json"
    assert (
        cli.main(
            [
                "prove",
                str(m),
                "--objects",
                "tensors",
                "--object",
                "a::b.safetensors::e",
                "--range",
                "0:0",
                "-o",
                str(proof),
            ]
        )
        == 0
    )
    assert (
        cli.main(
            [
                "prove",
                str(m),
                "--object",
                "a::b.safetensors",
                "--range",
                "\u00b2:3",
                "-o",
                str(proof),
            ]
        )
        == 2
    )
    assert "expected START:END" in capsys.readouterr().err


def test_prove_with_the_lattice_family_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16: `prove -a lthash16-shake256` ended in `BufferError: cannot close exported
    pointers exist`, raised while unmapping, which hid the real error."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_bytes(b'{"a": 1}' * 1000)
    argv = [
        "prove",
        str(model),
        "--object",
        "config.json",
        "--range",
        "0:10",
        "-a",
        "lthash16-shake256",
        "-o",
        str(tmp_path / "p.json"),
        "--backend",
        "cpu",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "lthash16-shake256 has no tree, so no inclusion proofs" in err
    assert not (tmp_path / "p.json").exists()


def test_tensor_objects_count_against_the_object_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spec section 1.2's limit on a listing's objects holds for tensor objects of all files
    together, not only for files or for one file's tensors (the limit lowered to keep it small)."""
    m = tmp_path / "m"
    m.mkdir()
    for name in ("a", "b"):
        save_file(
            {"x": np.zeros(2, np.float32), "y": np.ones(2, np.float32)},
            str(m / f"{name}.safetensors"),
        )
    monkeypatch.setattr(ref, "MAX_OBJECTS", 4)
    assert len(gpuhash.hash_path(m, backend="cpu").objects) == 2
    with pytest.raises(InputError, match="more than 4 objects"):
        gpuhash.hash_path(m, backend="cpu", objects="tensors")
