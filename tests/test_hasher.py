"""The streaming hasher ``gpuhash.new``: the same digest as ``hash_bytes`` and the reference for
every split of the bytes, the spec's object vectors, bounded state, and its errors.

Small windows (a cpu backend whose batch is a few leaves) make the window stack do real work on
objects of a few KiB; the real cpu backend (64 MiB windows, native BLAKE3) is tested as well.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuhash
from gpuhash import reference as ref
from gpuhash.backend import Capabilities
from gpuhash.backends.cpu import CpuBackend
from gpuhash.errors import BackendError, UsageError

FAMILIES = ref.FAMILIES
VECTORS = Path(__file__).resolve().parents[1] / "spec" / "v1" / "vectors" / "objects.json"


class SmallWindows(CpuBackend):
    """The cpu backend with ``batch`` bytes per call and no native BLAKE3: every family goes
    through windows, stack and fold."""

    def __init__(self, batch: int) -> None:
        super().__init__(threads=1)
        self.batch = batch
        self.closed = 0

    def capabilities(self) -> Capabilities:
        return dataclasses.replace(
            super().capabilities(), batch_bytes=self.batch, native_objects=frozenset()
        )

    def close(self) -> None:
        self.closed += 1
        super().close()


def pattern(n: int, mul: int = 1, add: int = 0) -> bytes:
    """The vectors' pattern: byte[i] = (mul * i + add) % 251."""
    return ((np.arange(n, dtype=np.int64) * mul + add) % 251).astype(np.uint8).tobytes()


def streamed(h: gpuhash.Hasher, data: bytes, cuts: list[int]) -> bytes:
    at = 0
    for cut in [*sorted(cuts), len(data)]:
        h.update(data[at:cut])
        at = cut
    return h.digest()


# ---------------------------------------------------------------------------------------------
# Equal to hash_bytes and the reference, for every split
# ---------------------------------------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, int, int, bytes, list[int]]:
    family = draw(st.sampled_from(FAMILIES))
    leaf = draw(st.sampled_from([1024, 2048]))
    window = leaf * draw(st.sampled_from([1, 2, 4]))
    leaves = draw(st.integers(0, 20))
    size = max(0, leaves * leaf + draw(st.integers(-2, 2)))
    data = pattern(size, draw(st.integers(1, 250)), draw(st.integers(0, 250)))
    cuts = draw(st.lists(st.integers(0, size), max_size=8))
    return family, leaf, window, data, cuts


@settings(max_examples=60, deadline=None)
@given(cases())
def test_every_split_gives_hash_bytes(case: tuple[str, int, int, bytes, list[int]]) -> None:
    family, leaf, window, data, cuts = case
    backend = SmallWindows(window)
    try:
        h = gpuhash.new(family, leaf_size=leaf, backend=backend)
        got = streamed(h, data, cuts)
    finally:
        backend.close()
    assert got == gpuhash.hash_bytes(data, algorithm=family, leaf_size=leaf, backend="cpu")
    assert got == ref.object_digest(family, data, leaf)


@pytest.mark.parametrize("family", FAMILIES)
def test_default_backend_every_family(family: str) -> None:
    """The real cpu backend (native BLAKE3, 64 MiB windows), data in the constructor, and
    updates of 1 byte and of more than a leaf."""
    data = pattern(3 * 1024 + 5, 7, 3)
    h = gpuhash.new(family, data[:10], leaf_size=1024)
    h.update(data[10:11])
    h.update(data[11:2000])
    h.update(data[2000:])
    assert h.digest() == gpuhash.hash_bytes(data, algorithm=family, leaf_size=1024)
    assert h.hexdigest() == h.digest().hex()
    assert len(h.digest()) == h.digest_size == ref.DIGEST_SIZES[family]


def test_blake3_is_standard_blake3() -> None:
    import blake3

    data = pattern(200_003, 3, 1)
    h = gpuhash.new("blake3")
    h.update(data[:99_999])
    h.update(data[99_999:])
    assert h.digest() == blake3.blake3(data).digest()


def test_a_window_exactly_full_is_not_a_root() -> None:
    """A buffer of exactly one window is only hashed once a byte beyond it arrives (else the
    BLAKE3 root flag would be wrong): sizes at multiples of the window, fed window by window."""
    for family in FAMILIES:
        backend = SmallWindows(2048)
        try:
            for windows in (1, 2, 3, 4, 5):
                data = pattern(windows * 2048, 5, 1)
                h = gpuhash.new(family, leaf_size=1024, backend=backend)
                got = streamed(h, data, list(range(0, len(data), 2048)))
                assert got == ref.object_digest(family, data, 1024), (family, windows)
        finally:
            backend.close()


def test_a_device_backend() -> None:
    """Windows streamed through a kernel backend (OpenCL, on the first CPU runtime here that
    builds kernels), three windows and more per object, every family."""
    gpuhash_opencl = pytest.importorskip("gpuhash_opencl")
    cl_devices = pytest.importorskip("cl_devices")
    labels = [label for _, _, label, _ in gpuhash_opencl.list_devices()]
    usable = [label for label in labels if cl_devices.build_failure(label) is None]
    if not usable:
        pytest.skip(f"no OpenCL runtime here builds kernels: {labels}")

    class SmallOpenCL(gpuhash_opencl.OpenCLBackend):  # type: ignore[misc,name-defined]
        def capabilities(self) -> Capabilities:
            caps: Capabilities = super().capabilities()
            return dataclasses.replace(caps, batch_bytes=2048)

    backend = SmallOpenCL(device=usable[0])
    try:
        for family in FAMILIES:
            for size in (0, 1, 2048, 7 * 1024 + 5):
                data = pattern(size, 7, 3)
                h = gpuhash.new(family, leaf_size=1024, backend=backend)
                got = streamed(h, data, list(range(0, size, 1000)))
                assert got == ref.object_digest(family, data, 1024), (family, size)
    finally:
        backend.close()


# ---------------------------------------------------------------------------------------------
# The spec's object vectors
# ---------------------------------------------------------------------------------------------


def test_spec_object_vectors() -> None:
    """Every vector of spec/v1/vectors/objects.json with leaves up to 1 MiB (the 16 MiB ones
    are half a GiB of input), through new(), in three uneven updates."""
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    checked = set()
    for v in vectors:
        if v["leaf_size"] > 1 << 20:
            continue
        data = pattern(v["size"], v["pattern"]["mul"], v["pattern"]["add"])
        h = gpuhash.new(v["algorithm"])
        assert h.name == v["algorithm"]
        third = len(data) // 3
        h.update(data[:third])
        h.update(memoryview(data)[third : 2 * third + 1])
        h.update(bytearray(data[2 * third + 1 :]))
        assert h.hexdigest() == v["digest"], v["algorithm"]
        checked.add((v["family"], v["leaf_size"]))
    assert {f for f, _ in checked} == set(FAMILIES)
    assert len(checked) >= 15


# ---------------------------------------------------------------------------------------------
# hashlib's conventions
# ---------------------------------------------------------------------------------------------


def test_attributes() -> None:
    h = gpuhash.new("merkle-sha512", leaf_size=4096)
    assert h.name == "gh1-merkle-sha512-4k"
    assert (h.digest_size, h.leaf_size, h.size, h.length) == (64, 4096, None, 0)
    assert h.algorithm == gpuhash.resolve_algorithm("merkle-sha512", 4096)
    assert not hasattr(h, "block_size")
    assert gpuhash.new("blake3").name == "gh1-blake3"
    assert gpuhash.new("gh1-lthash16-shake256-1k").digest_size == 2048
    assert gpuhash.new().name == "gh1-merkle-sha256-64k"


def test_digest_does_not_end_the_hasher() -> None:
    """As hashlib: digest() twice gives the same, and update() after it continues."""
    for family in FAMILIES:
        h = gpuhash.new(family, b"abc", leaf_size=1024)
        first = h.digest()
        assert h.digest() == first == gpuhash.hash_bytes(b"abc", algorithm=family, leaf_size=1024)
        h.update(b"def")
        assert h.digest() == gpuhash.hash_bytes(b"abcdef", algorithm=family, leaf_size=1024)


@pytest.mark.parametrize("family", FAMILIES)
def test_copy_is_independent(family: str) -> None:
    backend = SmallWindows(1024)
    try:
        a = pattern(5000, 3, 2)
        h = gpuhash.new(family, a, leaf_size=1024, backend=backend)
        c = h.copy()
        h.update(b"x" * 3000)
        c.update(b"y")
        assert h.digest() == ref.object_digest(family, a + b"x" * 3000, 1024)
        assert c.digest() == ref.object_digest(family, a + b"y", 1024)
    finally:
        backend.close()
    # And with the native BLAKE3 hasher of the real cpu backend.
    if family == ref.BLAKE3:
        h = gpuhash.new(family, b"abc")
        c = h.copy()
        c.update(b"d")
        assert (h.digest(), c.digest()) == (ref.blake3(b"abc"), ref.blake3(b"abcd"))


def test_numpy_arrays_are_their_bytes() -> None:
    arr = np.arange(3000, dtype="<f4").reshape(30, 100)
    h = gpuhash.new("merkle-sha256", leaf_size=1024)
    h.update(arr[:, ::2])  # not contiguous: its bytes in C order
    h.update(arr)
    expected = np.ascontiguousarray(arr[:, ::2]).tobytes() + arr.tobytes()
    assert h.digest() == gpuhash.hash_bytes(expected, leaf_size=1024)


# ---------------------------------------------------------------------------------------------
# Bounded state
# ---------------------------------------------------------------------------------------------


def test_state_is_logarithmic() -> None:
    """After n leaves, the stack holds one value per set bit of the number of full windows
    hashed (at most log2(n) + 1) and the buffer at most one window."""
    backend = SmallWindows(1024)
    try:
        h = gpuhash.new("merkle-sha256", leaf_size=1024, backend=backend)
        chunk = pattern(1024, 3, 1)
        data = hashlib.sha256()
        for i in range(1, 3001):
            h.update(chunk)
            data.update(chunk)
            windows = i - 1  # the last window is held until a byte beyond it arrives
            assert len(h._stack) == bin(windows).count("1") <= windows.bit_length()
            assert h._fill == 1024
        assert len(h._stack) == bin(2999).count("1") <= 12
        big = b"".join([chunk] * 3000)
        assert h.digest() == gpuhash.hash_bytes(big, leaf_size=1024)
    finally:
        backend.close()


def test_large_update_is_not_buffered() -> None:
    """An update of many windows is hashed in place: only the remainder is kept."""
    backend = SmallWindows(4096)
    try:
        h = gpuhash.new("lthash16-shake256", leaf_size=1024, backend=backend)
        data = os.urandom(100 * 1024 + 7)
        h.update(data)
        assert h._fill == (100 * 1024 + 7) % 4096
        assert len(h._stack) == bin(25).count("1")  # 25 windows hashed: 16 + 8 + 1
        assert h.digest() == gpuhash.hash_bytes(data, algorithm="lthash16-shake256", leaf_size=1024)
    finally:
        backend.close()


# ---------------------------------------------------------------------------------------------
# Declared size and errors
# ---------------------------------------------------------------------------------------------


def test_declared_size() -> None:
    data = pattern(5000)
    h = gpuhash.new("merkle-sha256", leaf_size=1024, size=5000)
    assert h.size == 5000
    h.update(data[:4000])
    with pytest.raises(
        UsageError, match=r"^digest: 4000 bytes were given but the declared size is 5000$"
    ):
        h.digest()
    with pytest.raises(
        UsageError, match=r"^update: 5001 bytes exceed the declared size of 5000 bytes$"
    ):
        h.update(data[4000:] + b"!")
    assert h.length == 4000  # nothing absorbed by the refused update
    h.update(data[4000:])
    assert h.digest() == gpuhash.hash_bytes(data, leaf_size=1024)
    assert gpuhash.new("blake3", size=0).digest() == ref.blake3(b"")
    with pytest.raises(UsageError, match="declared size"):
        gpuhash.new("blake3", b"ab", size=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "sha256"}, "unknown algorithm 'sha256'"),
        ({"algorithm": "merkle-sha256", "leaf_size": 1000}, "leaf size"),
        ({"algorithm": "gh1-merkle-sha256-4k", "leaf_size": 8192}, "disagrees"),
        ({"algorithm": b"merkle-sha256"}, "algorithm must be a name"),
        (
            {"algorithm": gpuhash.Algorithm("blake3", 4096), "leaf_size": 1024},
            "leaf size 1024 disagrees with algorithm gh1-blake3",
        ),
        ({"size": -1}, "size must be a byte count"),
        ({"size": 1 << 64}, "size must be a byte count"),
        ({"size": 1.5}, "size must be a byte count"),
        ({"backend": "no-such-backend"}, "no-such-backend"),
    ],
)
def test_bad_arguments_are_one_line(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(gpuhash.GpuhashError) as info:
        gpuhash.new(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_data() -> None:
    h = gpuhash.new()
    with pytest.raises(UsageError, match="encoded"):
        h.update("text")
    with pytest.raises(gpuhash.GpuhashError, match="not a buffer"):
        h.update(12)
    assert h.length == 0


def test_backend_without_the_family() -> None:
    class Sha256Only(SmallWindows):
        def capabilities(self) -> Capabilities:
            return dataclasses.replace(
                super().capabilities(), families=frozenset({"merkle-sha256"})
            )

    backend = Sha256Only(1024)
    try:
        with pytest.raises(BackendError, match="does not support blake3"):
            gpuhash.new("blake3", backend=backend)
    finally:
        backend.close()


def test_backend_lifetime() -> None:
    """A backend instance stays the caller's; one opened by name is closed with the last of the
    hasher and its copies, and a closed hasher refuses further use."""
    mine = SmallWindows(1024)
    with gpuhash.new(backend=mine) as h:
        h.update(b"abc")
    assert mine.closed == 0
    mine.close()

    h = gpuhash.new("merkle-sha256", b"abc", backend="cpu")
    lease = h._lease
    assert lease is not None
    c = h.copy()
    h.close()
    assert lease.users == 1
    assert c.digest() == gpuhash.hash_bytes(b"abc")
    del c
    assert lease.users == 0
    for call in (h.digest, h.copy, lambda: h.update(b"x")):
        with pytest.raises(UsageError, match="the hasher is closed"):
            call()
