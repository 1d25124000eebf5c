"""The digests of the generated object past 4 GiB, cached in ``large.json`` (package data).

``check_object_over_4_gib`` hashes 2^32 + 208,953 bytes of pattern 9 (``patterns.py``) through
the engine on the backend under test; recomputing the expected digest on every run would cost
more than the backend's own work, so it is computed here once, from the specification's
definitions (hashlib leaf and node values folded in the spec's tree shape, lattice elements
summed, the ``blake3`` package for BLAKE3), streamed window by window in bounded memory.
The repository's tests recompute it and compare (``tests/test_conformance_suite.py``)::

    python -m gpuhash_conformance.large --write
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from gpuhash import reference as ref
from gpuhash.algorithms import BLAKE3, FAMILIES, LTHASH, Algorithm
from gpuhash_conformance import oracle
from gpuhash_conformance.boundaries.past_2_32 import LARGE_LEAF, LARGE_SEED, LARGE_SIZE
from gpuhash_conformance.patterns import pattern

__all__ = ["compute", "document"]

_WINDOW = 1024 * LARGE_LEAF


class _Family:
    def __init__(self, family: str) -> None:
        self.alg = Algorithm(family, LARGE_LEAF)
        self.values: list[bytes] = []
        self.lanes = np.zeros(ref.LATTICE_LANES, dtype=np.uint64)
        if family == BLAKE3:
            import blake3

            self.hasher: Any = blake3.blake3()

    def feed(self, start: int, window: memoryview) -> None:
        alg, leaf = self.alg, LARGE_LEAF
        if alg.family == BLAKE3:
            self.hasher.update(window)
            return
        first = start // leaf
        for j in range(0, len(window), leaf):
            value = oracle.leaf_value(alg, window[j : j + leaf], first + j // leaf, False)
            if alg.family == LTHASH:
                self.lanes += np.frombuffer(value, dtype="<u2")
            else:
                self.values.append(value)

    def digest(self) -> bytes:
        alg = self.alg
        if alg.family == BLAKE3:
            return bytes(self.hasher.digest())
        if alg.family == LTHASH:
            length = ref.lattice_bytes(ref.lattice_length_element(LARGE_SIZE, LARGE_LEAF))
            total = self.lanes + np.frombuffer(length, dtype="<u2")
            return bytes((total % 65536).astype("<u2").tobytes())
        top = oracle.fold(alg, b"".join(self.values), root=True)
        return ref.finish_object(alg.family, top, LARGE_SIZE, LARGE_LEAF)


def compute() -> dict[str, str]:
    """Every family's digest of the generated object (about half a minute on two cores)."""
    states = [_Family(f) for f in FAMILIES]
    with ThreadPoolExecutor(len(states)) as pool:
        for start in range(0, LARGE_SIZE, _WINDOW):
            window = pattern(start, min(_WINDOW, LARGE_SIZE - start), LARGE_SEED)
            list(pool.map(lambda s, w=window, a=start: s.feed(a, w), states))
    return {s.alg.id: s.digest().hex() for s in states}


def document() -> str:
    body = {
        "comment": (
            "Digests of the object of `size` bytes of pattern `seed` (gpuhash_conformance/"
            "patterns.py: word k is x ^ (x >> 29), x = (k + 1 + seed * 2^40) * "
            "0x9E3779B97F4A7C15 mod 2^64, little-endian), per algorithm. Written by "
            "`python -m gpuhash_conformance.large --write`."
        ),
        "size": LARGE_SIZE,
        "seed": LARGE_SEED,
        "digests": compute(),
    }
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = document()
    if argv == ["--write"]:
        target = Path(str(resources.files("gpuhash_conformance").joinpath("large.json")))
        target.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
