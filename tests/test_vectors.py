"""The language-neutral vectors in spec/v1/vectors: up to date, and right by independent means.

The vectors are generated from ``gpuhash.reference``. Re-checking them with the reference would
only test that it agrees with itself, so this file recomputes them from the specification's
formulas written out again here with hashlib, struct and numpy, and the BLAKE3 ones with the
``blake3`` package. Only the BLAKE3 inclusion proofs (whose chaining values no independent
package exposes) are checked with the reference alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import blake3 as blake3_pkg
import numpy as np
import numpy.typing as npt
import pytest

from gpuhash import reference as ref

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "v1" / "vectors"
GENERATOR = VECTORS / "generate.py"
REGENERATE = "python spec/v1/vectors/generate.py"
FILES = (
    "identifiers.json",
    "objects.json",
    "artifacts.json",
    "lattice_updates.json",
    "proofs.json",
    "tensors.json",
)

JSON = dict[str, Any]
Lanes = npt.NDArray[np.int64]


def hashlib_hash(family: str) -> Callable[[bytes], bytes]:
    """H of ``merkle-<name>`` from hashlib by the spec's naming (``merkle-sha3-256``: sha3_256),
    not from the reference."""
    name = family.removeprefix("merkle-").replace("-", "_")
    return lambda b: hashlib.new(name, b).digest()


HASHES = {family: hashlib_hash(family) for family in ref.MERKLE_HASHES}
WIDTH = {family: len(h(b"")) for family, h in HASHES.items()} | {"blake3": 32}


@cache
def load(name: str) -> JSON:
    data: JSON = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


# ---------------------------------------------------------------------------------------------
# Independent computations, from the spec's formulas
# ---------------------------------------------------------------------------------------------


def pattern(mul: int, add: int, start: int, size: int) -> bytes:
    """byte[i] = (mul * i + add) % 251 for i in start .. start+size-1."""
    i = np.arange(start, start + size, dtype=np.uint64)
    return ((i * np.uint64(mul) + np.uint64(add)) % np.uint64(251)).astype(np.uint8).tobytes()


def pattern_of(v: JSON) -> bytes:
    return pattern(v["pattern"]["mul"], v["pattern"]["add"], 0, v["size"])


def content(segments: Sequence[JSON]) -> bytes:
    return b"".join(
        bytes.fromhex(s["hex"])
        if "hex" in s
        else pattern(s["mul"], s["add"], s["start"], s["size"])
        for s in segments
    )


def le64(x: int) -> bytes:
    return struct.pack("<Q", x)


def split(data: bytes, leaf_size: int) -> list[bytes]:
    """n = max(1, ceil(size / L)) leaves; the empty object has one empty leaf."""
    return [data[i : i + leaf_size] for i in range(0, len(data), leaf_size)] or [b""]


def split_point(m: int) -> int:
    """The largest power of two strictly less than m (m > 1)."""
    k = 1
    while 2 * k < m:
        k *= 2
    return k


def mth(h: Callable[[bytes], bytes], values: Sequence[bytes]) -> bytes:
    if len(values) == 1:
        return values[0]
    k = split_point(len(values))
    return h(mth(h, values[:k]) + mth(h, values[k:]) + b"\x01")


def merkle_leaves(family: str, data: bytes, leaf_size: int) -> list[bytes]:
    h = HASHES[family]
    return [h(d + b"\x00") for d in split(data, leaf_size)]


def merkle_object(family: str, data: bytes, leaf_size: int) -> bytes:
    """OBJECT = H(ROOT || LE64(size) || LE64(L) || 0x02)."""
    h = HASHES[family]
    root = mth(h, merkle_leaves(family, data, leaf_size))
    return h(root + le64(len(data)) + le64(leaf_size) + b"\x02")


def merkle_levels(family: str, data: bytes, leaf_size: int) -> list[list[bytes]]:
    h = HASHES[family]
    levels = [merkle_leaves(family, data, leaf_size)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        up = [h(below[i] + below[i + 1] + b"\x01") for i in range(0, len(below) - 1, 2)]
        levels.append(up + ([below[-1]] if len(below) % 2 else []))
    return levels


def expand(x: bytes) -> Lanes:
    """E(x): SHAKE256(x), 2048 bytes, as 1024 little-endian uint16 lanes (widened)."""
    return np.frombuffer(hashlib.shake_256(x).digest(2048), dtype="<u2").astype(np.int64)


def lanes_hex(a: Lanes) -> str:
    return (a % 65536).astype("<u2").tobytes().hex()


def lanes_of(hexstr: str) -> Lanes:
    return np.frombuffer(bytes.fromhex(hexstr), dtype="<u2").astype(np.int64)


def elen(size: int, leaf_size: int) -> Lanes:
    return expand(le64(size) + le64(leaf_size) + b"\x11")


def elem(leaf: bytes, index: int) -> Lanes:
    return expand(leaf + le64(index) + b"\x10")


def lattice_object(data: bytes, leaf_size: int) -> str:
    acc = elen(len(data), leaf_size)
    for i, d in enumerate(split(data, leaf_size)):
        acc = acc + elem(d, i)
    return lanes_hex(acc)


def object_digest(family: str, data: bytes, leaf_size: int) -> str:
    if family == "blake3":
        return str(blake3_pkg.blake3(data).hexdigest())
    if family == "lthash16-shake256":
        return lattice_object(data, leaf_size)
    return merkle_object(family, data, leaf_size).hex()


def str_bytes(s: str) -> bytes:
    b = s.encode("utf-8")
    return le64(len(b)) + b


def entry(kind: int, name: str, size: int, digest: bytes) -> bytes:
    """ENTRY(o) = U8(kind) || STR(name) || LE64(size) || digest(o)."""
    return bytes([kind]) + str_bytes(name) + le64(size) + digest


def eobj(algorithm: str, kind: int, name: str, size: int, digest: bytes) -> Lanes:
    return expand(str_bytes(algorithm) + entry(kind, name, size, digest) + b"\x12")


def merkle_verify(
    family: str,
    leaf_size: int,
    size: int,
    digest: bytes,
    first: int,
    leaves: Sequence[bytes],
    nodes: Sequence[bytes],
) -> bool:
    """Section 7's verifier for merkle-*, written out from the spec."""
    h, width = HASHES[family], WIDTH[family]
    n = max(1, -(-size // leaf_size))
    a, b = first, first + len(leaves)
    if not leaves or a < 0 or b > n:
        return False
    for i in range(a, b):
        if len(leaves[i - a]) != (min(leaf_size, size - i * leaf_size) if size else 0):
            return False
    queue = list(nodes)

    def compute(lo: int, hi: int) -> bytes | None:
        if hi <= a or lo >= b:
            if not queue or len(queue[0]) != width:
                return None
            return queue.pop(0)
        if hi - lo == 1:
            return h(leaves[lo - a] + b"\x00")
        k = split_point(hi - lo)
        left, right = compute(lo, lo + k), compute(lo + k, hi)
        return None if left is None or right is None else h(left + right + b"\x01")

    root = compute(0, n)
    if root is None or queue:
        return False
    return hmac.compare_digest(h(root + le64(size) + le64(leaf_size) + b"\x02"), digest)


# ---------------------------------------------------------------------------------------------
# (a) The checked-in vectors are what the generator writes
# ---------------------------------------------------------------------------------------------


def run_check(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), "--check", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.slow
def test_vectors_are_up_to_date() -> None:
    proc = run_check()
    assert proc.returncode == 0, (
        f"the test vectors in spec/v1/vectors are stale; regenerate them with `{REGENERATE}` "
        f"from the repository root and commit the result.\n{proc.stdout}{proc.stderr}"
    )
    # One source: the same run checks (and writes) the conformance suite's copy.
    assert "conformance/gpuhash_conformance/vectors are up to date" in proc.stdout


@pytest.mark.slow
def test_check_reports_stale_files(tmp_path: Path) -> None:
    for name in FILES:
        shutil.copy(VECTORS / name, tmp_path / name)
    (tmp_path / "proofs.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "identifiers.json").unlink()
    proc = run_check("--dir", str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "proofs.json" in proc.stdout
    assert "identifiers.json" in proc.stdout
    assert "objects.json" not in proc.stdout
    assert REGENERATE in proc.stdout


@pytest.mark.parametrize("name", FILES)
def test_vector_file_header(name: str) -> None:
    data = load(name)
    assert data["spec_version"] == 1
    assert any(REGENERATE in line for line in data["comment"])
    text = (VECTORS / name).read_bytes()
    assert text.endswith(b"\n")
    assert text.isascii()


def test_vectors_total_size() -> None:
    assert sum((VECTORS / name).stat().st_size for name in FILES) < 3_500_000


# ---------------------------------------------------------------------------------------------
# (b) The vectors, recomputed independently
# ---------------------------------------------------------------------------------------------


def object_vectors(family: str) -> list[JSON]:
    vectors = [v for v in load("objects.json")["vectors"] if v["family"] == family]
    assert vectors
    return vectors


@pytest.mark.parametrize("family", sorted(HASHES))
def test_merkle_objects(family: str) -> None:
    seen_leaf_sizes = set()
    for v in object_vectors(family):
        data, leaf_size = pattern_of(v), v["leaf_size"]
        seen_leaf_sizes.add(leaf_size)
        assert v["algorithm"] == f"gh1-{family}-{ref.leaf_token(leaf_size)}"
        assert v["leaf_count"] == len(split(data, leaf_size))
        assert merkle_object(family, data, leaf_size).hex() == v["digest"], v
        if "tree_levels" in v:
            levels = [[x.hex() for x in level] for level in merkle_levels(family, data, leaf_size)]
            assert v["tree_levels"] == levels
            assert v["leaf_values"] == levels[0]
            assert levels[-1] == [mth(HASHES[family], merkle_leaves(family, data, leaf_size)).hex()]
    assert {1024, 2048, 65536} <= seen_leaf_sizes


def test_blake3_objects() -> None:
    for v in object_vectors("blake3"):
        data = pattern_of(v)
        assert v["algorithm"] == "gh1-blake3"
        assert v["digest"] == blake3_pkg.blake3(data).hexdigest(), v
        if "tree_levels" in v:
            assert v["tree_levels"][-1] == [v["digest"]]
            assert v["leaf_values"] == v["tree_levels"][0]
            assert len(v["leaf_values"]) == v["leaf_count"]


def test_lattice_objects() -> None:
    seen_leaf_sizes = set()
    for v in object_vectors("lthash16-shake256"):
        data, leaf_size = pattern_of(v), v["leaf_size"]
        seen_leaf_sizes.add(leaf_size)
        assert v["digest"] == lattice_object(data, leaf_size), v
        if "leaf_elements" in v:
            assert v["length_element"] == lanes_hex(elen(len(data), leaf_size))
            expected = [lanes_hex(elem(d, i)) for i, d in enumerate(split(data, leaf_size))]
            assert v["leaf_elements"] == expected
    assert {1024, 65536} <= seen_leaf_sizes


def test_object_sizes_cover_boundaries() -> None:
    sizes = {
        v["size"]
        for v in load("objects.json")["vectors"]
        if v["family"] == "merkle-sha256" and v["leaf_size"] == 1024
    }
    L = 1024
    assert {0, 1, L - 1, L, L + 1, 3 * L} <= sizes
    assert all({(L << k), (L << k) + 1} <= sizes for k in range(1, 5))


def test_artifacts() -> None:
    cases = set()
    for v in load("artifacts.json")["vectors"]:
        cases.add(v["case"])
        algorithm, family = v["algorithm"], v["family"]
        leaf_size = v["leaf_size"] if v["leaf_size"] is not None else 65536
        entries = []
        for o in v["objects"]:
            assert bytes.fromhex(o["name_utf8"]).decode("utf-8") == o["name"]
            data = pattern_of(o)
            assert object_digest(family, data, leaf_size) == o["digest"], (algorithm, o["name"])
            entries.append((o["kind"], o["name"], o["size"], bytes.fromhex(o["digest"])))
        entries.sort(key=lambda e: e[1].encode("utf-8"))
        assert v["sorted_names"] == [e[1] for e in entries]
        if family == "lthash16-shake256":
            acc = expand(str_bytes(algorithm) + b"\x13")
            for e in entries:
                acc = acc + eobj(algorithm, *e)
            assert v["digest"] == lanes_hex(acc), (v["case"], algorithm)
            continue
        body = str_bytes(algorithm) + le64(len(entries))
        body += b"".join(entry(*e) for e in entries) + b"\x03"
        assert v["artifact_input"] == body.hex()
        if family == "blake3":
            assert v["digest"] == blake3_pkg.blake3(body).hexdigest()
        else:
            assert v["digest"] == HASHES[family](body).hex(), (v["case"], algorithm)
    assert {"empty_artifact", "empty_object", "non_ascii", "byte_order", "kinds"} <= cases


def test_artifact_orders() -> None:
    for v in load("artifacts.json")["vectors"]:
        if v["case"] == "byte_order":
            assert v["sorted_names"] == ["a-b", "a.txt", "a/b", "a/c", "a0", "ab", "abc", "b"]
        if v["case"] == "non_ascii":
            names = v["sorted_names"]
            # UTF-8 byte order, not UTF-16 code-unit order: U+FF21 sorts before U+1F600.
            assert names.index("\uff21.bin") < names.index("\U0001f600.bin")
            assert "\u00e9" in names
            assert "e\u0301" in names
        if v["case"] == "empty_artifact":
            assert v["objects"] == []


def test_lattice_object_updates() -> None:
    vectors = load("lattice_updates.json")["object_updates"]
    assert len(vectors) >= 5
    for v in vectors:
        leaf_size = v["leaf_size"]
        before, after = content(v["before"]["content"]), content(v["after"]["content"])
        assert len(before) == v["before"]["size"]
        assert len(after) == v["after"]["size"]
        assert v["before"]["digest"] == lattice_object(before, leaf_size)
        assert v["after"]["digest"] == lattice_object(after, leaf_size)
        acc = lanes_of(v["before"]["digest"])
        for sign, side, data in ((-1, "subtract", before), (1, "add", after)):
            for e in v[side]:
                if e["element"] == "ELEN":
                    assert e["input"] == (le64(e["size"]) + le64(leaf_size) + b"\x11").hex()
                    value = elen(e["size"], leaf_size)
                else:
                    assert e["element"] == "ELEM"
                    leaf = content(e["leaf"])
                    lo = e["index"] * leaf_size
                    assert leaf == data[lo : lo + leaf_size]
                    value = elem(leaf, e["index"])
                assert e["value"] == lanes_hex(value)
                acc = acc + sign * value
        assert lanes_hex(acc) == v["after"]["digest"], v["name"]


def test_lattice_artifact_updates() -> None:
    vectors = load("lattice_updates.json")["artifact_updates"]
    assert {"add_object", "remove_object", "change_object"} <= {v["name"] for v in vectors}
    for v in vectors:
        algorithm = v["algorithm"]
        leaf_size = ref.parse_algorithm_id(algorithm)[1]
        assert leaf_size is not None
        digests = {}
        for side in ("before", "after"):
            acc = expand(str_bytes(algorithm) + b"\x13")
            for o in v[side]["objects"]:
                assert o["digest"] == lattice_object(content(o["content"]), leaf_size)
                acc = acc + eobj(
                    algorithm, o["kind"], o["name"], o["size"], bytes.fromhex(o["digest"])
                )
            digests[side] = lanes_hex(acc)
            assert v[side]["digest"] == digests[side]
        acc = lanes_of(v["before"]["digest"])
        for sign, side in ((-1, "subtract"), (1, "add")):
            for e in v[side]:
                en = e["entry"]
                value = eobj(
                    algorithm, en["kind"], en["name"], en["size"], bytes.fromhex(en["digest"])
                )
                assert e["value"] == lanes_hex(value)
                acc = acc + sign * value
        assert lanes_hex(acc) == v["after"]["digest"], v["name"]


def proof_inputs(v: JSON) -> tuple[list[bytes], list[bytes]]:
    if "leaves" in v:
        leaves = [bytes.fromhex(x) for x in v["leaves"]]
    else:
        data = pattern_of(v)
        leaves = split(data, v["leaf_size"])[v["first"] : v["first"] + v["count"]]
    return leaves, [bytes.fromhex(x) for x in v["nodes"]]


def test_valid_proofs() -> None:
    vectors = load("proofs.json")["valid"]
    families = set()
    for v in vectors:
        family, leaf_size = v["family"], v["leaf_size"]
        families.add(family)
        assert v["valid"] is True
        assert object_digest(family, pattern_of(v), leaf_size) == v["digest"]
        leaves, nodes = proof_inputs(v)
        args = (family, leaf_size, v["size"], bytes.fromhex(v["digest"]), v["first"], leaves, nodes)
        if family in HASHES:
            assert merkle_verify(*args), v
        # Not independent for blake3 (no package exposes chaining values): the reference.
        assert ref.verify_proof(*args), v
    assert families == {*HASHES, "blake3"}
    leaf_counts = {v["leaf_count"] for v in vectors}
    assert {1, 2, 3, 5, 8, 9, 17} <= leaf_counts


def test_invalid_proofs() -> None:
    vectors = load("proofs.json")["invalid"]
    assert len(vectors) >= 20
    for v in vectors:
        assert v["valid"] is False
        assert v["reason"]
        family, leaf_size = v["family"], v["leaf_size"]
        leaves, nodes = proof_inputs(v)
        args = (family, leaf_size, v["size"], bytes.fromhex(v["digest"]), v["first"], leaves, nodes)
        if family in HASHES:
            assert not merkle_verify(*args), v["reason"]
        assert not ref.verify_proof(*args), v["reason"]


def test_leaf_ranges() -> None:
    for r in load("proofs.json")["leaf_ranges"]:
        x, y, leaf_size = r["offset"], r["offset"] + r["length"], r["leaf_size"]
        a = x // leaf_size
        b = max(a + 1, -(-y // leaf_size))
        assert (r["first"], r["count"]) == (a, b - a)


# ---------------------------------------------------------------------------------------------
# (c) Identifiers
# ---------------------------------------------------------------------------------------------


def test_valid_identifiers() -> None:
    valid = load("identifiers.json")["valid"]
    assert {"gh1-merkle-sha256-64k", "gh1-merkle-sha3-256-1m", "gh1-blake3"} <= {
        v["id"] for v in valid
    }
    assert "gh1-lthash16-shake256-64k" in {v["id"] for v in valid}
    for v in valid:
        assert ref.parse_algorithm_id(v["id"]) == (v["family"], v["leaf_size"])
        assert ref.algorithm_id(v["family"], v["leaf_size"] or 65536) == v["id"]


def test_invalid_identifiers() -> None:
    invalid = load("identifiers.json")["invalid"]
    must_have = {
        "gh1-merkle-sha256-65536",
        "gh1-merkle-sha256-1024k",
        "gh1-merkle-sha256-0k",
        "gh1-merkle-sha256-3k",
        "GH1-merkle-sha256-64k",
        "gh1-merkle-sha256",
        "gh1-blake3-64k",
        "gh2-merkle-sha256-64k",
    }
    assert must_have <= {v["id"] for v in invalid}
    for v in invalid:
        with pytest.raises(ref.SpecError):
            ref.parse_algorithm_id(v["id"])


@pytest.mark.parametrize("backend", ["cpu", "opencl"])
def test_tensor_vectors(tmp_path: Path, backend: str) -> None:
    """The tensor objects of each vector file, through the product (not the reference): names,
    kinds, sizes, metadata, object and artifact digests; invalid files are errors."""
    import gpuhash
    from gpuhash.errors import InputError

    data = load("tensors.json")
    assert len(data["valid"]) >= 4
    for v in data["valid"]:
        path = tmp_path / v["file_name"]
        path.write_bytes(content(v["content"]))
        for algorithm, want in v["digests"].items():
            m = gpuhash.hash_path(path, objects="tensors", algorithm=algorithm, backend=backend)
            got: list[JSON] = [
                {
                    "name_hex": o.name.encode().hex(),
                    "kind": {1: "FILE", 2: "TENSOR", 3: "TENSOR_HEADER"}[o.kind],
                    "size": o.size,
                    "tensor": None
                    if o.tensor is None
                    else {k: o.tensor[k] for k in ("dtype", "shape", "offset")},
                }
                for o in m.objects
            ]
            assert sorted(got, key=lambda o: str(o["name_hex"])) == sorted(
                v["objects"], key=lambda o: str(o["name_hex"])
            ), v["label"]
            assert {o.name.encode().hex(): o.digest.hex() for o in m.objects} == want["objects"]
            assert m.artifact_digest.hex() == want["artifact"]
    assert len(data["invalid"]) >= 8
    for v in data["invalid"]:
        path = tmp_path / "model.safetensors"
        path.write_bytes(content(v["content"]))
        with pytest.raises(InputError, match="not a valid safetensors file"):
            gpuhash.hash_path(path, objects="tensors", backend=backend)


def test_conformance_package_ships_the_same_vectors() -> None:
    """gpuhash-conformance carries the spec's vector files (package data); they must be the
    spec's, byte for byte (the generator writes both: python spec/v1/vectors/generate.py)."""
    spec_dir = Path(__file__).resolve().parent.parent / "spec" / "v1" / "vectors"
    shipped = (
        Path(__file__).resolve().parent.parent / "conformance" / "gpuhash_conformance" / "vectors"
    )
    names = sorted(p.name for p in spec_dir.glob("*.json"))
    assert names == sorted(p.name for p in shipped.glob("*.json"))
    for name in names:
        assert (spec_dir / name).read_bytes() == (shipped / name).read_bytes(), name
