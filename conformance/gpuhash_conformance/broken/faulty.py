"""Backends that misbehave rather than compute wrong values: the runner must report each as a
failure of the checks it breaks, and go on with the others."""

from __future__ import annotations

from gpuhash.algorithms import Algorithm
from gpuhash_conformance.broken.base import Broken

__all__ = ["Crashes", "Hangs", "HangsHoldingTheGil", "Raises", "ShortValues"]


class Hangs(Broken):
    """``hash_nodes`` never returns (a device that deadlocks)."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        import time

        while True:
            time.sleep(60)


class HangsHoldingTheGil(Broken):
    """``hash_nodes`` blocks in native code without releasing the GIL (a driver call made
    through a binding that keeps it), so no Python thread runs again."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        import ctypes

        ctypes.PyDLL(None).sleep(3600)
        raise AssertionError("unreachable")


class Raises(Broken):
    """``hash_nodes`` raises (a device error escaping as an exception)."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        raise RuntimeError("device lost")


class ShortValues(Broken):
    """``hash_nodes`` returns one byte too few."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        return super().hash_nodes(algorithm, children, roots)[:-1]


class Crashes(Broken):
    """``hash_nodes`` kills its process (a crash inside a device runtime)."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        import os

        os._exit(70)
