"""The conformance properties as plain functions: ``check_*(backend, ...)`` raises
``AssertionError`` naming the first difference from the reference, or returns.

Every expected value comes from ``gpuhash.reference`` (the specification's own code), the spec's
vector files, NIST CAVP vectors, hashlib or the ``blake3`` package; never from another backend.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from array import array
from collections.abc import Sequence
from importlib import resources
from typing import Any

from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, LTHASH, PLAIN_DIGESTS, Algorithm
from gpuhash.backend import HashBackend, LeafTable
from gpuhash.digests import ObjectDigest, artifact_digest
from gpuhash.engine import hash_sources
from gpuhash.sources import Source, memory_source
from gpuhash_conformance.strategies import Artifact, Obj


def _hex(b: bytes) -> str:
    return b.hex()[:16] + "..."


def leaf_table(data: bytes, leaf_size: int, order: Sequence[int] | None = None) -> LeafTable:
    """The leaves of one object at offset 0 of ``data``, in ``order`` (default: in order)."""
    n = ref.leaf_count(len(data), leaf_size)
    rows = list(order) if order is not None else list(range(n))
    offsets, lengths, index, roots = array("Q"), array("Q"), array("Q"), array("B")
    for j in rows:
        offsets.append(j * leaf_size)
        lengths.append(min(leaf_size, len(data) - j * leaf_size) if data else 0)
        index.append(j)
        roots.append(int(n == 1))
    return LeafTable(offsets, lengths, index, roots)


def expected_leaf(alg: Algorithm, leaf: bytes, index: int, root: bool) -> bytes:
    if alg.family == LTHASH:
        return ref.lattice_bytes(ref.lattice_leaf_element(leaf, index))
    return ref.leaf_value(alg.family, leaf, index, alg.leaf_size, root)


# -- leaves, nodes, tree levels, objects, artifacts --------------------------------------------


def check_leaf_values(
    backend: HashBackend, alg: Algorithm, data: bytes, order: Sequence[int]
) -> None:
    table = leaf_table(data, alg.leaf_size, order)
    got = backend.hash_leaves(alg, data, table)
    d = alg.digest_size
    assert len(got) == len(order) * d, f"hash_leaves returned {len(got)} bytes"
    leaves = ref.split_leaves(data, alg.leaf_size)
    for row, j in enumerate(order):
        want = expected_leaf(alg, leaves[j], j, len(leaves) == 1)
        value = got[row * d : (row + 1) * d]
        assert value == want, f"leaf {j} of {len(leaves)}: {_hex(value)} != {_hex(want)}"


def check_node_values(backend: HashBackend, alg: Algorithm, children: bytes, roots: bytes) -> None:
    got = backend.hash_nodes(alg, children, roots)
    d = alg.digest_size
    assert len(got) == len(roots) * d, (
        f"hash_nodes returned {len(got)} bytes for {len(roots)} pairs, not {len(roots) * d}"
    )
    for i, root in enumerate(roots):
        left, right = (
            children[2 * i * d : (2 * i + 1) * d],
            children[(2 * i + 1) * d : (2 * i + 2) * d],
        )
        if alg.family == LTHASH:
            total = ref.lattice_add(ref.lattice_from_bytes(left), ref.lattice_from_bytes(right))
            want = ref.lattice_bytes(total)
        else:
            want = ref.node_value(alg.family, left, right, bool(root))
        value = got[i * d : (i + 1) * d]
        assert value == want, f"pair {i} (root {root}): {_hex(value)} != {_hex(want)}"


def check_tree_levels(backend: HashBackend, alg: Algorithm, data: bytes) -> None:
    """Every level of the object's tree, built from the backend's leaves with its hash_nodes
    (pairs, a lone last value carried up, the root flag on the top pair), against the
    reference's levels; and hash_subtrees' top against the last level."""
    want_levels = ref.tree_levels(alg.family, data, alg.leaf_size)
    d = alg.digest_size
    values = backend.hash_leaves(alg, data, leaf_table(data, alg.leaf_size))
    level = [values[i * d : (i + 1) * d] for i in range(len(values) // d)]
    for t, want in enumerate(want_levels):
        assert level == want, f"level {t} of {len(want_levels) - 1} differs"
        if len(level) == 1:
            break
        pairs = len(level) // 2
        roots = bytes([int(len(level) == 2)]) if pairs == 1 else bytes(pairs)
        parents = backend.hash_nodes(alg, b"".join(level[: 2 * pairs]), roots)
        level = [parents[i * d : (i + 1) * d] for i in range(pairs)] + (
            [level[-1]] if len(level) % 2 else []
        )
    n = ref.leaf_count(len(data), alg.leaf_size)
    top = backend.hash_subtrees(alg, data, leaf_table(data, alg.leaf_size), [n], [True])
    assert top == want_levels[-1][0], "hash_subtrees' top differs from the tree's top"


def object_digests(
    backend: HashBackend, alg: Algorithm, objs: Sequence[Obj], batch_bytes: int | None = None
) -> list[ObjectDigest]:
    sources = [memory_source(o.name, o.kind, o.data) for o in objs]
    return hash_sources(backend, alg, sources, batch_bytes=batch_bytes)


def check_object_digests(
    backend: HashBackend, alg: Algorithm, objs: Sequence[Obj], batch_bytes: int | None
) -> None:
    got = object_digests(backend, alg, objs, batch_bytes)
    for o, g in zip(objs, got, strict=True):
        want = ref.object_digest(alg.family, o.data, alg.leaf_size)
        assert g.digest == want, f"object of {len(o.data)} bytes (batch {batch_bytes}) differs"


def check_artifact(backend: HashBackend, artifact: Artifact) -> bytes:
    alg = artifact.algorithm
    got = artifact_digest(alg, object_digests(backend, alg, artifact.objects))
    _, want = ref.hash_artifact(alg.id, [(o.name, o.kind, o.data) for o in artifact.objects])
    assert got == want, f"artifact digest of {len(artifact.objects)} objects differs"
    return got


# -- proofs -------------------------------------------------------------------------------------


def check_proofs(backend: HashBackend, alg: Algorithm, data: bytes, first: int, count: int) -> None:
    """A proof made by the backend equals PROVE and verifies with the reference's COMPUTE; the
    reference's proof verifies with COMPUTE run on the backend's leaf and node values; a
    changed leaf fails both."""
    import gpuhash

    digest = ref.object_digest(alg.family, data, alg.leaf_size)
    leaves = ref.split_leaves(data, alg.leaf_size)[first : first + count]
    made = gpuhash.prove(data, first, count, algorithm=alg, backend=backend)
    want = ref.prove(alg.family, data, alg.leaf_size, first, count)
    assert made == want, "the backend's proof differs from PROVE"
    assert ref.verify_proof(alg.family, alg.leaf_size, len(data), digest, first, leaves, made)
    assert verify_with(backend, alg, len(data), digest, first, leaves, want), (
        "the reference's proof does not verify with the backend's values"
    )
    if leaves and leaves[0]:
        forged = [bytes([leaves[0][0] ^ 1]) + leaves[0][1:], *leaves[1:]]
        assert not verify_with(backend, alg, len(data), digest, first, forged, want)


def verify_with(
    backend: HashBackend,
    alg: Algorithm,
    size: int,
    digest: bytes,
    first: int,
    leaves: Sequence[bytes],
    nodes: Sequence[bytes],
) -> bool:
    """COMPUTE (spec section 7) with the backend's leaf and node values."""
    from gpuhash.digests import finish_object

    n = ref.leaf_count(size, alg.leaf_size)
    a, b = first, first + len(leaves)
    queue = list(nodes)
    d = alg.digest_size

    def leaf(i: int, root: bool) -> bytes:
        data = leaves[i - a]
        table = LeafTable(
            array("Q", [0]), array("Q", [len(data)]), array("Q", [i]), array("B", [int(root)])
        )
        return backend.hash_leaves(alg, data, table)

    def compute(lo: int, hi: int, root: bool) -> bytes | None:
        if hi <= a or lo >= b:
            return queue.pop(0) if queue else None
        if hi - lo == 1:
            return leaf(lo, root)
        k = ref.largest_power_of_two_below(hi - lo)
        left, right = compute(lo, lo + k, False), compute(lo + k, hi, False)
        if left is None or right is None:
            return None
        return backend.hash_nodes(alg, left + right, bytes([int(root)]))[:d]

    top = compute(0, n, True)
    return top is not None and not queue and finish_object(alg, top, size) == digest


# -- the lattice update law ----------------------------------------------------------------------


def check_lattice_update(backend: HashBackend, artifact: Artifact, replacement: Obj) -> None:
    """Removing an object's element and adding its replacement's equals hashing the new set."""
    alg = artifact.algorithm
    assert alg.family == LTHASH
    before = object_digests(backend, alg, artifact.objects)
    old = before[0]
    new = Obj(old.name, old.kind, replacement.data)
    after_objs = (new, *artifact.objects[1:])
    after = object_digests(backend, alg, after_objs)
    acc = ref.lattice_from_bytes(artifact_digest(alg, before))
    acc = ref.lattice_sub(acc, ref.lattice_object_element(alg.id, old.entry))
    acc = ref.lattice_add(acc, ref.lattice_object_element(alg.id, after[0].entry))
    assert ref.lattice_bytes(acc) == artifact_digest(alg, after), "update != recomputation"


# -- changes change the digest ---------------------------------------------------------------


def check_changes(backend: HashBackend, alg: Algorithm, data: bytes, position: int) -> None:
    """A single-bit flip, a truncation, an extension and a swap of two different bytes each
    change the object digest."""
    base = object_digests(backend, alg, [Obj("o", ref.KIND_FILE, data)])[0].digest
    variants = {"extension": data + b"\x00"}
    if data:
        p = position % len(data)
        flipped = bytearray(data)
        flipped[p] ^= 1 << (position % 8)
        variants["bit flip"] = bytes(flipped)
        variants["truncation"] = data[:-1]
        q = (p + max(1, len(data) // 2)) % len(data)
        if data[p] != data[q]:
            swapped = bytearray(data)
            swapped[p], swapped[q] = swapped[q], swapped[p]
            variants["reordering"] = bytes(swapped)
    for what, changed in variants.items():
        digest = object_digests(backend, alg, [Obj("o", ref.KIND_FILE, changed)])[0].digest
        assert digest != base, f"{what} at byte {position} left the digest unchanged"


def check_renaming(backend: HashBackend, artifact: Artifact, new_name: str) -> None:
    names = {o.name for o in artifact.objects}
    if new_name in names:
        return
    alg = artifact.algorithm
    base = artifact_digest(alg, object_digests(backend, alg, artifact.objects))
    first = artifact.objects[0]
    renamed = (Obj(new_name, first.kind, first.data), *artifact.objects[1:])
    assert artifact_digest(alg, object_digests(backend, alg, renamed)) != base, "renaming"


# -- the spec's vector files and NIST CAVP ---------------------------------------------------


@functools.cache
def vectors(name: str) -> Any:
    text = resources.files("gpuhash_conformance").joinpath("vectors", name).read_text("utf-8")
    return json.loads(text)


def pattern(spec: dict[str, int], size: int) -> bytes:
    """The vector files' input: byte ``i`` is ``(mul * i + add) mod 251``."""
    import numpy as np

    mul, add = spec["mul"], spec["add"]
    i = np.arange(size, dtype=np.uint64)
    return bytes(((i * np.uint64(mul) + np.uint64(add)) % np.uint64(251)).astype(np.uint8))


def check_object_vectors(backend: HashBackend) -> int:
    done = 0
    claimed = backend.capabilities().families
    for v in vectors("objects.json")["vectors"]:
        if v["family"] not in claimed:
            continue
        alg = Algorithm(v["family"], int(v["leaf_size"] or ref.DEFAULT_LEAF_SIZE))
        data = pattern(v["pattern"], int(v["size"]))
        (got,) = object_digests(backend, alg, [Obj("o", ref.KIND_FILE, data)])
        assert got.digest.hex() == v["digest"], f"objects.json: {v['algorithm']} size {v['size']}"
        if "leaf_values" in v and alg.family != LTHASH:
            values = backend.hash_leaves(alg, data, leaf_table(data, alg.leaf_size))
            d = alg.digest_size
            hexes = [values[i * d : (i + 1) * d].hex() for i in range(len(values) // d)]
            assert hexes == v["leaf_values"], f"objects.json leaf values: {v['algorithm']}"
        done += 1
    return done


def check_artifact_vectors(backend: HashBackend) -> int:
    done = 0
    claimed = backend.capabilities().families
    for v in vectors("artifacts.json")["vectors"]:
        if v["family"] not in claimed:
            continue
        alg = Algorithm(v["family"], int(v["leaf_size"] or ref.DEFAULT_LEAF_SIZE))
        objs = [
            Obj(o["name"], int(o["kind"]), pattern(o["pattern"], int(o["size"])))
            for o in v["objects"]
        ]
        got = artifact_digest(alg, object_digests(backend, alg, objs))
        assert got.hex() == v["digest"], f"artifacts.json: {v['case']} ({v['algorithm']})"
        done += 1
    return done


def check_proof_vectors(backend: HashBackend) -> int:
    import gpuhash

    done = 0
    claimed = backend.capabilities().families
    for v in vectors("proofs.json")["valid"]:
        if v["family"] not in claimed:
            continue
        alg = Algorithm(v["family"], int(v["leaf_size"] or ref.DEFAULT_LEAF_SIZE))
        data = pattern(v["pattern"], int(v["size"]))
        first, count = int(v["first"]), int(v["count"])
        made = gpuhash.prove(data, first, count, algorithm=alg, backend=backend)
        assert [m.hex() for m in made] == v["nodes"], (
            f"proofs.json: {v['algorithm']} {first}+{count}"
        )
        done += 1
    return done


def nist_messages(name: str) -> list[tuple[bytes, bytes]]:
    """(message, digest) pairs of a CAVP byte-oriented .rsp file from cryptography-vectors."""
    import cryptography_vectors

    folder = "SHA3" if name.startswith("SHA3") else "SHA2"
    path = os.path.join("hashes", folder, f"{name}.rsp")
    with cryptography_vectors.open_vector_file(path, "r") as f:
        text = f.read()
    out, length, msg = [], None, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Len ="):
            length = int(line.split("=")[1])
        elif line.startswith("Msg ="):
            msg = bytes.fromhex(line.split("=")[1].strip())
        elif line.startswith("MD =") and length is not None and msg is not None:
            out.append((msg[: length // 8], bytes.fromhex(line.split("=")[1].strip())))
    return out


#: The CAVP short- and long-message files of every plain digest (``SHA256ShortMsg``...: the
#: hashlib name in capitals, as CAVP names its files).
NIST_FILES = {name: (f"{name.upper()}ShortMsg", f"{name.upper()}LongMsg") for name in PLAIN_DIGESTS}


def check_nist(backend: HashBackend, primitive: str) -> int:
    """The backend's plain digests (``digest_messages``) against NIST CAVP; the count checked."""
    digest_messages = getattr(backend, "digest_messages", None)
    assert digest_messages is not None
    done = 0
    for name in NIST_FILES[primitive]:
        pairs = nist_messages(name)
        got = digest_messages(primitive, [m for m, _ in pairs])
        for (msg, want), value in zip(pairs, got, strict=True):
            assert value == want, f"{name}: message of {len(msg)} bytes"
        done += len(pairs)
    return done


# -- 64-bit sizes ------------------------------------------------------------------------------


def zero_object_digest(family: str, size: int, leaf_size: int) -> bytes:
    """The digest of ``size`` zero bytes without hashing them all: every full leaf of zeros has
    the same value (merkle-*), so equal subtrees are computed once (spec section 3's shape)."""
    if family == BLAKE3:
        import blake3

        hasher = blake3.blake3()
        chunk = bytes(1 << 24)
        left = size
        while left:
            step = min(left, len(chunk))
            hasher.update(chunk[:step])
            left -= step
        return bytes(hasher.digest())
    assert family in ref.MERKLE_HASHES
    n = ref.leaf_count(size, leaf_size)
    last = size - (n - 1) * leaf_size
    full_leaf = ref.leaf_value(family, bytes(leaf_size), 0, leaf_size, False)
    last_leaf = ref.leaf_value(family, bytes(last), n - 1, leaf_size, False)

    @functools.cache
    def full(count: int) -> bytes:  # the subtree of `count` (a power of two) full leaves
        if count == 1:
            return full_leaf
        half = full(count // 2)
        return ref.node_value(family, half, half, False)

    def subtree(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return last_leaf if lo == n - 1 else full_leaf
        k = ref.largest_power_of_two_below(hi - lo)
        if (hi < n or (hi == n and last == leaf_size)) and (hi - lo) & (hi - lo - 1) == 0:
            return full(hi - lo)
        return ref.node_value(family, subtree(lo, lo + k), subtree(lo + k, hi), False)

    top = subtree(0, n)
    return ref.finish_object(family, top, size, leaf_size)


def check_64bit_size(backend: HashBackend, family: str, size: int, leaf_size: int) -> None:
    """An object over 4 GiB (a sparse file of zeros), hashed through the engine, against
    ``zero_object_digest``."""
    alg = Algorithm(family, leaf_size)
    with tempfile.TemporaryDirectory(prefix="gpuhash-conformance-") as tmp:
        path = os.path.join(tmp, "sparse.bin")
        with open(path, "wb") as f:
            f.truncate(size)
        (got,) = hash_sources(backend, alg, [Source("sparse.bin", ref.KIND_FILE, size, path=path)])
    want = zero_object_digest(family, size, leaf_size)
    assert got.digest == want, f"object of {size} bytes (over 2^32) differs"
