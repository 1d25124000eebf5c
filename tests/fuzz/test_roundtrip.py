"""Round trips of the writers whose output the parsers read back (Hypothesis): any manifest
gpuhash can build survives protobuf and JSON (and JSON of its protobuf) unchanged; any proof
survives its JSON."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES, Algorithm
from gpuhash.digests import ObjectDigest
from gpuhash.manifest import Manifest
from gpuhash.proofs import Proof

pytestmark = pytest.mark.fuzz

NAME = st.text(st.characters(codec="utf-8", exclude_characters="/:\\\0"), min_size=1, max_size=12)
NAME = NAME.filter(lambda n: n not in (".", "..") and n.strip() == n)
U64 = st.integers(0, (1 << 63) - 1)
I64 = st.integers(-(1 << 63), (1 << 63) - 1)


@st.composite
def algorithms(draw: st.DrawFn) -> Algorithm:
    return Algorithm(draw(st.sampled_from(FAMILIES)), 1 << draw(st.integers(10, 20)))


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    alg = draw(algorithms())
    files = draw(st.lists(NAME, min_size=0, max_size=4, unique=True))
    objects: list[ObjectDigest] = []
    digest = st.binary(min_size=alg.digest_size, max_size=alg.digest_size)
    stat = st.none() | st.tuples(U64, I64, I64, U64, U64)  # size, mtime, ctime, inode, device
    for f in files:
        if not draw(st.booleans()):
            size, value = draw(U64), draw(digest)
            objects.append(ObjectDigest(f, ref.KIND_FILE, size, value, None, draw(stat)))
            continue
        header = f"{f}::{ref.HEADER_OBJECT}"
        objects.append(ObjectDigest(header, ref.KIND_TENSOR_HEADER, draw(U64), draw(digest)))
        # No tensor is named as the header object (it would be the same object twice).
        tensors = NAME.filter(lambda t: t != ref.HEADER_OBJECT)
        for t in draw(st.lists(tensors, max_size=3, unique=True)):
            tensor: dict[str, Any] = {
                "dtype": draw(st.sampled_from(["F32", "BF16", "Q8_0"])),
                "shape": draw(st.lists(st.integers(0, 1 << 40), max_size=4)),
                "source": f,
                "offset": draw(U64),
            }
            objects.append(
                ObjectDigest(f"{f}::{t}", ref.KIND_TENSOR, draw(U64), draw(digest), tensor)
            )
    return Manifest.build(alg, objects)


@settings(max_examples=200, deadline=None)
@given(manifests())
def test_manifest_round_trips(m: Manifest) -> None:
    stats = [o.stat for o in m.objects]  # informative: not compared by ==
    for back in (
        Manifest.from_bytes(m.to_bytes()),
        Manifest.from_json(m.to_json()),
        Manifest.from_json(Manifest.from_bytes(m.to_bytes()).to_json()),
    ):
        assert back == m
        assert [o.stat for o in back.objects] == stats


@settings(max_examples=200, deadline=None)
@given(
    algorithms().filter(lambda a: a.has_tree),
    NAME,
    U64,
    U64,
    st.integers(1, 1 << 40),
    st.data(),
)
def test_proof_round_trips(
    alg: Algorithm, name: str, size: int, first: int, count: int, data: st.DataObject
) -> None:
    node = st.binary(min_size=alg.digest_size, max_size=alg.digest_size)
    nodes = tuple(data.draw(st.lists(node, max_size=8)))
    p = Proof(alg, name, size, first, count, nodes)
    assert Proof.from_json(p.to_json()) == p
