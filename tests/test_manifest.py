"""Manifests round-trip through protobuf binary and canonical JSON, and bad ones are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gpuhash
from gpuhash import reference as ref
from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb
from gpuhash.algorithms import FAMILIES
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
