"""``example``: a complete gpuhash backend in one small file (docs/new-backend.md walks through it).

It implements the two required primitives of ``gpuhash.backend.HashBackend`` with the standard
library and numpy, on one thread: ``hash_leaves`` (LEAF values, BLAKE3 leaf chaining values,
lattice elements) and ``hash_nodes`` (NODE values, BLAKE3 parents, lattice sums). The engine
does everything else (batching, tree shape, objects, artifacts), and the conformance suite
proves the result bit-identical to the reference (tests/test_example_backend.py).
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, FAMILIES, LTHASH, Algorithm
from gpuhash.backend import Buffer, Capabilities, HashBackend, LeafTable, Probe

__all__ = ["ExampleBackend"]

_LEAF, _NODE = b"\x00", b"\x01"  # the specification's role suffixes (section 3)


class ExampleBackend(HashBackend):
    name: ClassVar[str] = "example"

    @classmethod
    def probe(cls) -> Probe:
        # Cheap and honest: `auto` reads this before starting anything, and never starts a
        # backend whose priority cannot beat the best one it has.
        return Probe(True, priority=-1)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            families=frozenset(FAMILIES),
            devices=("host (example backend: hashlib, one thread)",),
            batch_bytes=16 << 20,
            priority=-1,  # never chosen by `auto`
        )

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        view = memoryview(data).cast("B")
        if algorithm.family == BLAKE3:
            # Each leaf's subtree chaining value; its chunks start at counter index * L/1024.
            # gpuhash.blake3_cvs computes them for all rows at once, in C where gpuhash's
            # extension is built, else with numpy (the reference's blake3_subtree_cv gives the
            # same values, far more slowly).
            per_leaf = algorithm.leaf_size // ref.BLAKE3_CHUNK_LEN
            first_chunks = [index * per_leaf for index in table.index]
            from gpuhash import blake3_cvs  # numpy: imported when used, not by `auto`

            return blake3_cvs.leaf_cvs(view, table.offset, table.length, first_chunks, table.root)
        out = []
        for offset, length, index, _root in zip(
            table.offset, table.length, table.index, table.root, strict=True
        ):
            leaf = view[offset : offset + length]
            if algorithm.is_merkle:  # H(leaf || 0x00), H named by the family table
                h = algorithm.info.hashlib_constructor()
                h.update(leaf)
                h.update(_LEAF)
                out.append(h.digest())
            else:  # LTHASH: SHAKE256(leaf || LE64(index) || 0x10), 2048 bytes
                h = hashlib.shake_256()
                h.update(leaf)
                h.update(index.to_bytes(8, "little") + ref.ROLE_LATTICE_LEAF)
                out.append(h.digest(ref.LATTICE_BYTES))
        return b"".join(out)

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        d = algorithm.digest_size
        if algorithm.family == BLAKE3:
            from gpuhash import blake3_cvs

            return blake3_cvs.parent_cvs(children, roots)
        if algorithm.family == LTHASH:
            import numpy as np

            lanes = np.frombuffer(children, dtype="<u2").reshape(len(roots), 2, d // 2)
            total = (lanes[:, 0, :] + lanes[:, 1, :]).astype("<u2")  # uint16: modulo 2^16
            return bytes(total.tobytes())
        new_hash = algorithm.info.hashlib_constructor  # a Merkle family: H(l || r || 0x01)
        out = []
        for i, _root in enumerate(roots):
            left, right = (
                children[2 * i * d : (2 * i + 1) * d],
                children[(2 * i + 1) * d : (2 * i + 2) * d],
            )
            out.append(new_hash(left + right + _NODE).digest())
        return b"".join(out)
