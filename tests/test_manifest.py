"""Manifests round-trip through protobuf binary and canonical JSON, and bad ones are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gpuhash
from gpuhash import reference as ref
from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb
from gpuhash.algorithms import FAMILIES, Algorithm
from gpuhash.digests import artifact_digest
from gpuhash.manifest import Manifest, ManifestError


@pytest.fixture
def model(tmp_path: Path) -> Path:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "a.bin").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "config.json").write_text('{"x": 1}')
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "模型.txt").write_text("non-ascii name")
    return tmp_path


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_and_reference(model: Path, family: str) -> None:
    m = gpuhash.hash_path(model, algorithm=family, leaf_size=1024)
    _, want = ref.hash_model(str(model), m.algorithm.id)
    assert m.artifact_digest == want
    assert Manifest.from_bytes(m.to_bytes()) == m
    assert Manifest.from_json(m.to_json()) == m
    assert m.digest_line() == f"{m.algorithm.id}:{want.hex()}"


def test_json_is_protobuf_canonical_mapping(model: Path) -> None:
    m = gpuhash.hash_path(model, algorithm="merkle-sha256", leaf_size=1024)
    doc = json.loads(m.to_json())
    assert doc["specVersion"] == 1
    assert doc["algorithm"] == {
        "family": "HASH_FAMILY_MERKLE_SHA256",
        "leafSize": "1024",
        "id": "gh1-merkle-sha256-1k",
    }
    names = [o["name"] for o in doc["objects"]]
    assert names == sorted(names, key=lambda n: n.encode())


def _tampered(m: Manifest, edit: str) -> bytes:
    msg = m.to_proto()
    if edit == "digest":
        msg.objects[0].digest = bytes(32)
    elif edit == "size":
        msg.objects[0].size += 1
    elif edit == "name":
        msg.objects[0].name = "renamed"
    elif edit == "absolute":
        msg.objects[0].name = "/etc/passwd"
    elif edit == "dotdot":
        msg.objects[0].name = "../x"
    elif edit == "duplicate":
        msg.objects.add().CopyFrom(msg.objects[0])
    elif edit == "order":
        first = pb.ObjectEntry()
        first.CopyFrom(msg.objects[0])
        del msg.objects[0]
        msg.objects.add().CopyFrom(first)
    elif edit == "short-digest":
        msg.objects[0].digest = b"\x00" * 31
    elif edit == "id":
        msg.algorithm.id = "gh1-merkle-sha256-4k"
    elif edit == "leaf":
        msg.algorithm.leaf_size = 3000
    elif edit == "family":
        msg.algorithm.family = pb.HASH_FAMILY_UNSPECIFIED
    elif edit == "version":
        msg.spec_version = 2
    elif edit == "kind":
        msg.objects[0].kind = pb.OBJECT_KIND_UNSPECIFIED
    elif edit == "artifact":
        msg.artifact_digest = bytes(32)
    return msg.SerializeToString()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("digest", "artifact digest does not match"),
        ("size", "artifact digest does not match"),
        ("name", "not in specification order|does not match"),
        ("absolute", "absolute"),
        ("dotdot", "'..'"),
        ("duplicate", "appears twice"),
        ("order", "not in specification order"),
        ("short-digest", "malformed digest"),
        ("id", "disagrees"),
        ("leaf", "leaf size 3000"),
        ("family", "unknown hash family"),
        ("version", "spec version 2"),
        ("kind", "unknown kind"),
        ("artifact", "artifact digest does not match"),
    ],
)
def test_tampered_manifest_is_refused(model: Path, edit: str, message: str) -> None:
    m = gpuhash.hash_path(model, algorithm="merkle-sha256", leaf_size=1024)
    with pytest.raises(ManifestError, match=message):
        Manifest.from_bytes(_tampered(m, edit))


@pytest.mark.parametrize("text", ["", "{", "[]", '{"specVersion": "x"}', '{"unknownField": 1}'])
def test_malformed_json_is_refused(text: str) -> None:
    with pytest.raises(ManifestError):
        Manifest.from_json(text)


def test_garbage_binary_is_refused() -> None:
    with pytest.raises(ManifestError):
        Manifest.from_bytes(b"\xff\xff\xff\xff")


def _with_tensor(m: Manifest, source: str, kind: int = pb.OBJECT_KIND_TENSOR) -> bytes:
    msg = m.to_proto()
    entry = msg.objects[0]
    entry.tensor.dtype = "BF16"
    entry.tensor.shape.extend([2, 3])
    entry.tensor.source = source
    entry.tensor.offset = 8
    return _rekind(msg, kind)


def _rekind(msg: pb.Manifest, kind: int) -> bytes:
    """Set the first object's kind and recompute the artifact digest, as a producer would
    (the kind is bound into the artifact digest)."""
    msg.objects[0].kind = kind  # type: ignore[assignment]
    objects = [gpuhash.ObjectDigest(o.name, o.kind, o.size, bytes(o.digest)) for o in msg.objects]
    msg.artifact_digest = artifact_digest(Algorithm("merkle-sha256", 1024), objects)
    return msg.SerializeToString()


def test_tensor_metadata_round_trips(model: Path) -> None:
    m = gpuhash.hash_path(model, algorithm="merkle-sha256", leaf_size=1024)
    loaded = Manifest.from_bytes(_with_tensor(m, "weights/a.bin"))
    assert loaded.objects[0].tensor == {
        "dtype": "BF16",
        "shape": [2, 3],
        "source": "weights/a.bin",
        "offset": 8,
    }
    assert Manifest.from_bytes(loaded.to_bytes()) == loaded
    assert Manifest.from_json(loaded.to_json()) == loaded


@pytest.mark.parametrize("source", ["/etc/passwd", "../../etc/passwd", "a//b", ""])
def test_tensor_source_must_be_a_file_name(model: Path, source: str) -> None:
    m = gpuhash.hash_path(model, algorithm="merkle-sha256", leaf_size=1024)
    with pytest.raises(ManifestError, match="source"):
        Manifest.from_bytes(_with_tensor(m, source))


def test_tensor_metadata_on_a_file_is_refused(model: Path) -> None:
    m = gpuhash.hash_path(model, algorithm="merkle-sha256", leaf_size=1024)
    with pytest.raises(ManifestError, match="no tensor"):
        Manifest.from_bytes(_with_tensor(m, "weights/a.bin", kind=pb.OBJECT_KIND_FILE))


def test_json_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ManifestError, match="UTF-8"):
        Manifest.from_json(b"\xff\xfe{}")


# -- counts the protobuf parser would allocate for before any check ---------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _record(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _varint(len(body)) + body


def _entry_with_dims(dims: int, packed: bool = True, records: int = 1) -> bytes:
    """An ObjectEntry whose tensor (ObjectEntry.tensor, field 5) has ``dims`` one-byte
    dimensions (TensorInfo.shape, field 2), packed or not, split over ``records`` tensor
    records (which the parser merges)."""
    per = dims // records
    shape = _record(0x12, b"\x01" * per) if packed else b"\x10\x01" * per
    return _record(0x1A, b"".join(_record(0x2A, shape) for _ in range(records)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # 2^18 + 1 empty entries (the hostile file: 33 million of them took 2.9 GB).
        (b"\x08\x01" + b"\x1a\x00" * (ref.MAX_OBJECTS + 1), "more than 262144 objects"),
        (b"\x08\x01" + b"\x1a\x00" * ((32 << 20) - 1), "more than 262144 objects"),
        (b"\x08\x01" + _entry_with_dims(ref.MAX_DIMENSIONS + 1), "more than 64 dimensions"),
        (b"\x08\x01" + _entry_with_dims(60 << 20), "more than 64 dimensions"),
        (b"\x08\x01" + _entry_with_dims(65, packed=False), "more than 64 dimensions"),
        (b"\x08\x01" + _entry_with_dims(66, records=2), "more than 64 dimensions"),
        (b"\x08\x01\x1a\xff", "varint runs past its end"),
        (b"\x08\x01\x1b", "wire type 3"),
    ],
    ids=["objects", "33M-objects", "dims", "60M-dims", "unpacked", "merged", "cut", "group"],
)
def test_protobuf_counts_are_refused_before_parsing(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_bytes(data)


def test_the_count_check_lets_a_manifest_at_the_limits_through(model: Path) -> None:
    """2^18 objects, and a tensor of 64 dimensions, are what the spec allows: they parse on."""
    msg = pb.Manifest(spec_version=1)
    for k in range(ref.MAX_OBJECTS):
        msg.objects.add().size = k
    entry = msg.objects[0]
    entry.tensor.shape.extend([1] * ref.MAX_DIMENSIONS)
    with pytest.raises(ManifestError) as caught:
        Manifest.from_bytes(msg.SerializeToString())
    assert "more than" not in str(caught.value)


def test_a_tensor_tag_written_long_is_still_counted() -> None:
    """The parser reads a tag written as a longer varint (0xAA 0x00 for the tensor's 0x2A): the
    count reads it too, so the shortcut for entries without a tensor cannot be bypassed."""
    shape = _record(0x12, b"\x01" * 100)
    entry = b"\xaa\x00" + _varint(len(shape)) + shape
    data = b"\x08\x01" + bytes([0x1A]) + _varint(len(entry)) + entry
    with pytest.raises(ManifestError, match="more than 64 dimensions"):
        Manifest.from_bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\x08\x01" + b"\x78\x00" * (ref.MAX_OBJECTS + 300),  # filler fields at the top level
        b"\x08\x01" + _record(0x1A, b"\x2a\x00" + b"\x78\x00" * 300),  # in an object entry
    ],
    ids=["top", "entry"],
)
def test_filler_fields_are_bounded_before_parsing(data: bytes) -> None:
    with pytest.raises(ManifestError, match="more than"):
        Manifest.from_bytes(data)
