"""``gpuhash selftest BACKEND``: does this backend work on this machine?

Runs, on the backend's device, checks whose expected answers come from somewhere other than the
backend:

* leaf values against hashlib (``H(d || 0x00)``, ``SHAKE256(d || LE64(i) || 0x10)``) and, for
  BLAKE3, a one-leaf object against the ``blake3`` package: the device's primitives are standard;
* node values against hashlib (``H(l || r || 0x01)``), the lattice sum against integer arithmetic;
* object digests at every leaf boundary (0, 1, L-1, L, L+1, 2^k and 2^k+1 leaves) and a
  multi-object artifact, through the engine, against the pure-Python reference;
* with ``--quick`` only a few sizes.

Each check is a row of the result; the command prints the table and exits 0 only if every
check passed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, FAMILIES, LTHASH, Algorithm
from gpuhash.backend import HashBackend, LeafTable
from gpuhash.digests import artifact_digest
from gpuhash.engine import hash_sources
from gpuhash.sources import memory_source

LEAF = 1024


@dataclass(frozen=True)
class Check:
    name: str
    family: str
    passed: bool
    detail: str
    seconds: float


def _pattern(n: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(n))


def _table(lengths: list[int]) -> tuple[bytes, LeafTable]:
    from array import array

    data = b"".join(_pattern(n, i) for i, n in enumerate(lengths))
    offsets = array("Q")
    pos = 0
    for n in lengths:
        offsets.append(pos)
        pos += n
    k = len(lengths)
    table = LeafTable(
        offset=offsets,
        length=array("Q", lengths),
        index=array("Q", range(k)),
        root=array("B", [0] * k),
    )
    return data, table


def _leaf_kat(backend: HashBackend, alg: Algorithm) -> str:
    lengths = [0, 1, 55, 56, 63, 64, 111, 112, 127, 128, 135, 136, 1000, LEAF]
    data, table = _table(lengths)
    got = backend.hash_leaves(alg, data, table)
    d = alg.digest_size
    for j, n in enumerate(lengths):
        leaf = data[table.offset[j] : table.offset[j] + n]
        if alg.family == LTHASH:
            want = hashlib.shake_256(leaf + j.to_bytes(8, "little") + b"\x10").digest(d)
        else:
            want = alg.info.hashlib_constructor(leaf + b"\x00").digest()
        if got[j * d : (j + 1) * d] != want:
            return f"leaf of {n} bytes differs"
    return ""


def _node_kat(backend: HashBackend, alg: Algorithm) -> str:
    d = alg.digest_size
    children = _pattern(2 * d * 5, 3)
    got = backend.hash_nodes(alg, children, bytes(5))
    for i in range(5):
        pair = children[2 * i * d : 2 * (i + 1) * d]
        if alg.family == LTHASH:
            a, b = ref.lattice_from_bytes(pair[:d]), ref.lattice_from_bytes(pair[d:])
            want = ref.lattice_bytes(ref.lattice_add(a, b))
        else:
            want = alg.info.hashlib_constructor(pair + b"\x01").digest()
        if got[i * d : (i + 1) * d] != want:
            return f"node {i} differs"
    return ""


def _blake3_kat(backend: HashBackend, alg: Algorithm) -> str:
    import blake3

    for n in (0, 1, 64, 65, 1023, LEAF):
        data = _pattern(n, 1)
        src = [memory_source("x", ref.KIND_FILE, data)]
        (obj,) = hash_sources(backend, alg, src)
        if obj.digest != blake3.blake3(data).digest():
            return f"BLAKE3 of {n} bytes differs from the blake3 package"
    return ""


def _sizes(quick: bool) -> list[int]:
    if quick:
        return [0, 1, LEAF, LEAF + 1, 5 * LEAF + 3]
    out = [0, 1, LEAF - 1, LEAF, LEAF + 1]
    for k in (1, 2, 3, 4):
        out += [(2**k) * LEAF, (2**k) * LEAF + 1]
    return out


def _objects(backend: HashBackend, alg: Algorithm, quick: bool) -> str:
    datas = [_pattern(n, i) for i, n in enumerate(_sizes(quick))]
    for batch in (LEAF, 4 * LEAF, 1 << 20):
        srcs = [memory_source(f"o{i}", ref.KIND_FILE, d) for i, d in enumerate(datas)]
        got = hash_sources(backend, alg, srcs, batch_bytes=batch)
        for obj, data in zip(got, datas, strict=True):
            if obj.digest != ref.object_digest(alg.family, data, LEAF):
                return f"object of {len(data)} bytes differs (batch {batch})"
    return ""


def _artifact(backend: HashBackend, alg: Algorithm) -> str:
    named = {"a-b": _pattern(10), "a.txt": b"", "a/b": _pattern(3000, 1), "é/日本": _pattern(1025)}
    srcs = [memory_source(n, ref.KIND_FILE, d) for n, d in named.items()]
    got = artifact_digest(alg, hash_sources(backend, alg, srcs))
    _, want = ref.hash_artifact(alg.id, [(n, ref.KIND_FILE, d) for n, d in named.items()])
    return "" if got == want else "artifact digest differs"


def run(backend: HashBackend, quick: bool = False) -> list[Check]:
    """Every check for every family the backend supports, in a stable order."""
    checks: list[Check] = []
    families = [f for f in FAMILIES if f in backend.capabilities().families]
    for family in families:
        alg = Algorithm(family, LEAF)
        steps: list[tuple[str, Callable[[], str]]] = []
        if family == BLAKE3:
            steps.append(("standard BLAKE3", partial(_blake3_kat, backend, alg)))
        else:
            steps.append(("leaves vs hashlib", partial(_leaf_kat, backend, alg)))
            steps.append(("nodes vs hashlib", partial(_node_kat, backend, alg)))
        steps.append(("objects vs reference", partial(_objects, backend, alg, quick)))
        steps.append(("artifact vs reference", partial(_artifact, backend, alg)))
        for name, step in steps:
            start = time.perf_counter()
            try:
                detail = step()
            except Exception as e:
                detail = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            checks.append(Check(name, family, not detail, detail, time.perf_counter() - start))
    return checks
