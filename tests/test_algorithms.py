"""The family table (gpuhash.algorithms.FAMILY_TABLE) against everything it must agree with:
the protobuf enum, the reference's own tables, the kernel sources and hashlib."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pytest

from gpuhash import algorithms, kernels
from gpuhash import reference as ref
from gpuhash._proto.gpuhash.v1 import manifest_pb2 as pb
from gpuhash.algorithms import FAMILY_TABLE, Algorithm, family_info
from gpuhash.errors import UsageError

ROWS = {f.name: f for f in FAMILY_TABLE}


def kernel_text() -> str:
    package = resources.files(kernels.__name__)
    return "\n".join(
        package.joinpath(name).read_text(encoding="utf-8") for name in kernels.KERNEL_FILES
    )


def test_one_row_per_family() -> None:
    assert len(ROWS) == len(FAMILY_TABLE)
    assert tuple(ROWS) == algorithms.FAMILIES


def test_rows_match_the_proto_enum() -> None:
    """Every HashFamily value but UNSPECIFIED has exactly one row, with its number and name."""
    enum = {name: number for name, number in pb.HashFamily.items() if number != 0}
    assert pb.HashFamily.Name(0) == "HASH_FAMILY_UNSPECIFIED"
    assert sorted(f.proto_enum for f in FAMILY_TABLE) == sorted(enum.values())
    for f in FAMILY_TABLE:
        assert enum["HASH_FAMILY_" + f.name.upper().replace("-", "_")] == f.proto_enum


def test_rows_match_the_reference() -> None:
    assert algorithms.FAMILIES == ref.FAMILIES
    assert {f.name: f.digest_size for f in FAMILY_TABLE} == ref.DIGEST_SIZES
    assert tuple(ref.MERKLE_HASHES) == algorithms.MERKLE_FAMILIES
    assert (algorithms.BLAKE3, algorithms.LTHASH) == (ref.BLAKE3, ref.LTHASH)
    for f in FAMILY_TABLE:
        # The reference has trees (and proofs) for merkle-* and blake3, ranges over them too.
        tree = f.name in ref.MERKLE_HASHES or f.name == ref.BLAKE3
        assert (f.has_tree, f.has_proofs, f.has_ranges) == (tree, tree, tree), f.name
        assert f.uses_leaf_size == (f.name == ref.BLAKE3), f.name


@pytest.mark.parametrize("name", [f.name for f in FAMILY_TABLE if f.is_merkle])
def test_merkle_rows_match_hashlib(name: str) -> None:
    """A Merkle row's hashlib constructor gives its digest size and the reference's H."""
    f = ROWS[name]
    assert f.hashlib_name is not None
    assert f.hashlib_constructor is getattr(hashlib, f.hashlib_name)
    assert f.hashlib_constructor().digest_size == f.digest_size
    assert hashlib.new(f.hashlib_name).digest_size == f.digest_size
    for message in (b"", b"abc", bytes(range(256)) * 3):
        assert f.hashlib_constructor(message).digest() == ref.MERKLE_HASHES[name](message)


def test_non_merkle_rows_have_no_hashlib_constructor() -> None:
    for f in FAMILY_TABLE:
        if not f.is_merkle:
            assert not f.digest_kernel
            with pytest.raises(ValueError, match="not a Merkle family"):
                f.hashlib_constructor  # noqa: B018


def test_rows_match_the_kernel_sources() -> None:
    """Each row's guard macro guards kernels in gpuhash/kernels/*.cl and its hash file, every
    family guard macro there has a row, and every row's kernels are there."""
    text = kernel_text()
    guards = set(re.findall(r"#ifdef (GH_WITH_\w+)", text))
    assert guards == {f.kernel_macro for f in FAMILY_TABLE}
    package = resources.files(kernels.__name__)
    for f in FAMILY_TABLE:
        hash_file = package.joinpath(f.kernel_file).read_text(encoding="utf-8")
        assert f"#ifdef {f.kernel_macro}" in hash_file, f.name
        fam = f.name.replace("-", "_")
        assert re.search(rf"__kernel void leaves_{fam}\(", text), f.name
        assert re.search(rf"GH_NODE_KERNELS\({fam}, {f.digest_size}u\)", text), f.name
        assert re.search(rf"gh_leaves_staged_{fam}\(", text), f.name
        assert re.search(rf"GH_STAGED_KERNEL\({fam},|void leaves_staged_{fam}\(", text), f.name
        stage = {4: "uint", 8: "ulong"}[f.stage_word_bytes]
        assert re.search(rf"gh_leaves_staged_{fam}\(GH_STAGED_ARGS, GH_LOCAL {stage} \*stage", text)
        if f.digest_kernel:
            assert re.search(rf"__kernel void digest_{f.hashlib_name}\(", text), f.name
    assert set(kernels.FAMILY_MACROS) == set(ROWS)


def test_kernel_files_follow_the_table() -> None:
    hash_files = {f.kernel_file for f in FAMILY_TABLE}
    assert (
        set(kernels.KERNEL_FILES)
        == {"common.cl", "leaves.cl", "nodes.cl", "digests.cl"} | hash_files
    )
    assert kernels.KERNEL_FILES[0] == "common.cl"
    assert kernels.KERNEL_FILES[-3:] == ("leaves.cl", "nodes.cl", "digests.cl")


def test_plain_digests() -> None:
    assert sorted(algorithms.PLAIN_DIGESTS) == ["sha256", "sha3_256", "sha512"]
    for name, f in algorithms.PLAIN_DIGESTS.items():
        assert f.hashlib_name == name
        assert f.digest_kernel


def test_family_info() -> None:
    assert family_info("blake3") is ROWS["blake3"]
    assert Algorithm("merkle-sha512").info is ROWS["merkle-sha512"]
    with pytest.raises(UsageError, match="unknown algorithm 'sha256'; known: merkle-sha256, "):
        family_info("sha256")
