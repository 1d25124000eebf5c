"""The ``reference`` backend: the specification's own functions (gpuhash.reference), unoptimised.

It exists so that the engine's batching and tree assembly can be checked against the reference
itself, and as the simplest possible example of the ``HashBackend`` contract.
"""

from __future__ import annotations

from typing import ClassVar

from gpuhash import reference as ref
from gpuhash._typing import Buffer
from gpuhash.algorithms import FAMILIES, LTHASH, Algorithm
from gpuhash.backend import Capabilities, HashBackend, LeafTable


class ReferenceBackend(HashBackend):
    name: ClassVar[str] = "reference"

    def capabilities(self) -> Capabilities:
        return Capabilities(
            families=frozenset(FAMILIES),
            devices=("host (pure Python)",),
            batch_bytes=1 << 20,
            concurrent=True,
        )

    def hash_leaves(self, algorithm: Algorithm, data: Buffer, table: LeafTable) -> bytes:
        view = memoryview(data).cast("B")
        out = []
        for off, length, index, root in zip(
            table.offset.tolist(),
            table.length.tolist(),
            table.index.tolist(),
            table.root.tolist(),
            strict=True,
        ):
            leaf = bytes(view[off : off + length])
            if algorithm.family == LTHASH:
                out.append(ref.lattice_bytes(ref.lattice_leaf_element(leaf, index)))
            else:
                out.append(
                    ref.leaf_value(algorithm.family, leaf, index, algorithm.leaf_size, bool(root))
                )
        return b"".join(out)

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        d = algorithm.digest_size
        out = []
        for i, root in enumerate(roots):
            left = children[2 * i * d : (2 * i + 1) * d]
            right = children[(2 * i + 1) * d : (2 * i + 2) * d]
            if algorithm.family == LTHASH:
                out.append(
                    ref.lattice_bytes(
                        ref.lattice_add(ref.lattice_from_bytes(left), ref.lattice_from_bytes(right))
                    )
                )
            else:
                out.append(ref.node_value(algorithm.family, left, right, bool(root)))
        return b"".join(out)
