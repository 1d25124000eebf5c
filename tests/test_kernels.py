"""The OpenCL kernels (gpuhash/kernels/*.cl) on every OpenCL device of PoCL and Intel's runtime.

The hash code is checked against NIST CAVP vectors (SHA-256, SHA-512, SHA3-256), hashlib
(SHAKE256) and the ``blake3`` package through the ``digest_*`` and ``leaves_blake3`` kernels; the
leaf and node kernels against ``gpuhash.reference`` for random leaf tables. Every launch pads the
global size past the number of items and checks that nothing is written past the output, and
several work-group sizes must give the same bytes.

Each program is built once per device (module-scoped fixture); PoCL compiles a kernel again for
each work-group size, so only a few sizes are used.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import blake3 as blake3_pkg
import cl_devices
import numpy as np
import pytest

from gpuhash import reference as ref
from gpuhash.kernels import kernel_name, make_intel_runtime_visible, source

# Before pyopencl is first imported, so its ICD loader lists Intel's CPU runtime too.
INTEL_FOUND = make_intel_runtime_visible()

cl: Any = pytest.importorskip("pyopencl", reason="pyopencl is not installed")

FAMILIES = ref.FAMILIES
DIGEST_SIZES = ref.DIGEST_SIZES
LOCAL_SIZES: tuple[int | None, ...] = (None, 7)  # at least two work-group sizes everywhere
CANARY = 0xA5
CANARY_BYTES = 64
PAD_ITEMS = 5  # extra work-items past n when the local size is left to the runtime


# ---------------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


def _platform_names() -> list[str]:
    try:
        return [str(p.name) for p in cl.get_platforms()]
    except cl.Error:  # no ICD at all: clGetPlatformIDs fails
        return []


def _device_params() -> list[Any]:
    try:
        platforms = cl.get_platforms()
    except cl.Error:
        platforms = []
    params = [
        cl_devices.param(device, id=f"{_slug(platform.name)}-{_slug(device.name)}")
        for platform in platforms
        for device in platform.get_devices()
    ]
    if not params:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no OpenCL device"), id="none")]
    return params


@dataclass
class Device:
    """One device with the whole kernel program built for it."""

    device: Any
    context: Any
    queue: Any
    program: Any
    kernels: dict[str, Any]

    def kernel(self, name: str) -> Any:
        if name not in self.kernels:
            self.kernels[name] = cl.Kernel(self.program, name)
        return self.kernels[name]

    def buffer(self, data: bytes | np.ndarray[Any, Any]) -> Any:
        array = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
        if array.nbytes == 0:
            array = np.zeros(1, dtype=np.uint8)  # OpenCL buffers cannot be empty
        flags = cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR
        return cl.Buffer(self.context, flags, hostbuf=np.ascontiguousarray(array))

    def launch(
        self,
        name: str,
        n: int,
        out_bytes: int,
        before: Sequence[Any],
        after: Sequence[Any],
        local: int | None,
    ) -> bytes:
        """Run kernel ``name`` over n items with arguments ``before``, out, ``after``.

        The global size is padded past n (a whole extra work-group for an explicit local size),
        and a canary after the output checks that padded work-items write nothing.
        """
        kernel = self.kernel(name)
        if local is not None:
            limit = kernel.get_work_group_info(
                cl.kernel_work_group_info.WORK_GROUP_SIZE, self.device
            )
            if local > limit:
                pytest.skip(f"{name}: local size {local} > kernel limit {limit}")
            global_size = -(-n // local) * local + local
        else:
            global_size = n + PAD_ITEMS
        host = np.full(out_bytes + CANARY_BYTES, CANARY, dtype=np.uint8)
        flags = cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR
        out = cl.Buffer(self.context, flags, hostbuf=host)
        kernel(
            self.queue,
            (global_size,),
            None if local is None else (local,),
            *before,
            out,
            *after,
        )
        cl.enqueue_copy(self.queue, host, out)
        self.queue.finish()
        assert bytes(host[out_bytes:]) == bytes([CANARY]) * CANARY_BYTES, "write past the output"
        return bytes(host[:out_bytes])

    # -- the three kinds of kernel ------------------------------------------------------------

    def digests(
        self,
        name: str,
        messages: Sequence[bytes],
        size: int,
        local: int | None = None,
        after: Sequence[Any] = (),
        skew: int = 0,
    ) -> list[bytes]:
        """``digest_<name>`` of each message, ``size`` bytes each. Message j starts ``skew * j``
        bytes past a multiple of 8 (odd skews give unaligned starts)."""
        data, offsets = bytearray(), []
        for j, message in enumerate(messages):
            data += bytes((-len(data)) % 8 + (skew * j) % 8)
            offsets.append(len(data))
            data += message
        lengths = [len(m) for m in messages]
        before = [
            self.buffer(bytes(data)),
            self.buffer(np.array(offsets, dtype=np.uint64)),
            self.buffer(np.array(lengths, dtype=np.uint64)),
        ]
        n = len(messages)
        out = self.launch(f"digest_{name}", n, n * size, before, [np.uint32(n), *after], local)
        return [out[j * size : (j + 1) * size] for j in range(n)]

    def leaves(self, family: str, table: Table, local: int | None, staged: bool = False) -> bytes:
        """``leaves_<family>``, or with ``staged`` the GPU layout ``leaves_staged_<family>``
        (which needs a work-group size and its four local buffers)."""
        before = [
            self.buffer(table.data),
            self.buffer(np.array(table.offset, dtype=np.uint64)),
            self.buffer(np.array(table.length, dtype=np.uint64)),
            self.buffer(np.array(table.index, dtype=np.uint64)),
            self.buffer(np.array(table.root, dtype=np.uint8)),
        ]
        n = len(table.offset)
        after: list[Any] = [np.uint32(n)]
        name = kernel_name("leaves", family)
        if staged:
            assert local is not None, "the staged kernels need a work-group size"
            word = 4 if family in (ref.BLAKE3, "merkle-sha256") else 8
            words = 17 if family in ("merkle-sha3-256", ref.LTHASH) else 16
            after += [
                cl.LocalMemory(local * (words + 1) * word),
                cl.LocalMemory(local * 8),
                cl.LocalMemory(local * 4),
                cl.LocalMemory(4),
            ]
            name = name.replace("leaves_", "leaves_staged_")
        if family == ref.BLAKE3:
            after.append(np.uint64(table.leaf_size))
        return self.launch(name, n, n * DIGEST_SIZES[family], before, after, local)

    def nodes(self, family: str, children: bytes, roots: bytes, local: int | None) -> bytes:
        m = len(roots)
        before = [self.buffer(children), self.buffer(roots)]
        name = kernel_name("nodes", family)
        return self.launch(name, m, m * DIGEST_SIZES[family], before, [np.uint32(m)], local)


@pytest.fixture(scope="module", params=_device_params())
def dev(request: pytest.FixtureRequest) -> Iterator[Device]:
    device = request.param
    context = cl.Context([device])
    queue = cl.CommandQueue(context)
    with warnings.catch_warnings():
        # Non-empty build logs (optimisation remarks) are reported as warnings.
        warnings.simplefilter("ignore", cl.CompilerWarning)
        program = cl.Program(context, source()).build(options=["-cl-std=CL1.2"])
    yield Device(device, context, queue, program, {})
    queue.finish()


# ---------------------------------------------------------------------------------------------
# The runtimes themselves
# ---------------------------------------------------------------------------------------------


def test_runtimes_are_listed() -> None:
    names = _platform_names()
    if find_spec("pocl_binary_distribution") is not None:
        assert "Portable Computing Language" in names, names
    if INTEL_FOUND:
        assert any(name.startswith("Intel(R) OpenCL") for name in names), names
    assert make_intel_runtime_visible() is INTEL_FOUND  # idempotent


def test_source_names() -> None:
    text = source("common.cl", "sha256.cl")
    lines = text.splitlines()
    # Every family's guard macro first, then the files in order, each behind a #line.
    assert lines[:4] == [
        "#define GH_WITH_BLAKE3 1",
        "#define GH_WITH_KECCAK 1",
        "#define GH_WITH_SHA256 1",
        "#define GH_WITH_SHA512 1",
    ]
    assert lines[4] == '#line 1 "common.cl"'
    assert '#line 1 "sha256.cl"' in text
    with pytest.raises(ValueError, match="kernel file"):
        source("../backend.py")
    assert kernel_name("leaves", "merkle-sha3-256") == "leaves_merkle_sha3_256"


def test_family_programs_hold_only_their_kernels() -> None:
    """source(families=...) defines only the guards those families need; a program built from
    it has their kernels and no others (built on Intel's runtime, the faster compiler)."""
    text = source(families=["blake3"])
    assert "#define GH_WITH_BLAKE3 1" in text
    assert "#define GH_WITH_SHA256" not in text
    with pytest.raises(ValueError, match="unknown algorithm families"):
        source(families=["md5"])
    device = next(
        d for p in cl.get_platforms() if p.name.startswith("Intel") for d in p.get_devices()
    )
    context = cl.Context([device])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cl.CompilerWarning)
        program = cl.Program(context, source(families=["merkle-sha3-256"])).build()
    names = {k.function_name for k in program.all_kernels()}
    for family in ("merkle-sha3-256", "lthash16-shake256"):  # both use Keccak
        f = family.replace("-", "_")
        assert {f"leaves_{f}", f"leaves_staged_{f}", f"nodes_{f}", f"tree_{f}"} <= names
    assert "gather_values" in names
    assert not any("sha256" in n or "sha512" in n or "blake3" in n for n in names)


# ---------------------------------------------------------------------------------------------
# Standard vectors: NIST CAVP (byte-oriented), hashlib's SHAKE256, the blake3 package
# ---------------------------------------------------------------------------------------------


def _vectors_dir() -> Path:
    spec = find_spec("cryptography_vectors")
    if spec is None or spec.origin is None:
        pytest.skip("cryptography_vectors is not installed")
    return Path(spec.origin).parent


@functools.cache
def _cavp(relative: str) -> tuple[tuple[bytes, bytes], ...]:
    """(message, digest) pairs of a CAVP .rsp file; Len is in bits, Msg is 00 when Len = 0."""
    text = (_vectors_dir() / relative).read_text(encoding="ascii")
    out = []
    length = -1
    message = b""
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "Len":
            length = int(value)
            assert length % 8 == 0, "byte-oriented vectors only"
        elif key == "Msg":
            message = bytes.fromhex(value)[: length // 8]
        elif key == "MD":
            out.append((message, bytes.fromhex(value)))
    assert out, relative
    return tuple(out)


CAVP_FILES = [
    ("sha256", 32, "hashes/SHA2/SHA256ShortMsg.rsp"),
    ("sha256", 32, "hashes/SHA2/SHA256LongMsg.rsp"),
    ("sha512", 64, "hashes/SHA2/SHA512ShortMsg.rsp"),
    ("sha512", 64, "hashes/SHA2/SHA512LongMsg.rsp"),
    ("sha3_256", 32, "hashes/SHA3/SHA3_256ShortMsg.rsp"),
    ("sha3_256", 32, "hashes/SHA3/SHA3_256LongMsg.rsp"),
]


@pytest.mark.parametrize(
    ("name", "size", "relative"), CAVP_FILES, ids=[Path(f[2]).stem for f in CAVP_FILES]
)
def test_cavp(dev: Device, name: str, size: int, relative: str) -> None:
    vectors = _cavp(relative)
    got = dev.digests(name, [m for m, _ in vectors], size, skew=3)
    for (message, expected), digest in zip(vectors, got, strict=True):
        assert digest.hex() == expected.hex(), f"{name}, {len(message)} bytes"


SHAKE_LENGTHS = sorted(
    {*range(300), *(k * 136 + d for k in range(2, 9) for d in (-2, -1, 0, 1)), 4096, 65537}
)


@pytest.mark.parametrize("outlen", [1, 7, 8, 32, 135, 136, 137, 272, 2048, 2049])
def test_shake256(dev: Device, outlen: int) -> None:
    lengths = SHAKE_LENGTHS if outlen == 2048 else SHAKE_LENGTHS[::7]
    rng = random.Random(outlen)
    messages = [rng.randbytes(n) for n in lengths]
    got = dev.digests("shake256", messages, outlen, after=[np.uint64(outlen)], skew=1)
    for message, digest in zip(messages, got, strict=True):
        assert digest == hashlib.shake_256(message).digest(outlen), len(message)


def _blake3_lengths() -> list[int]:
    kib = ref.BLAKE3_CHUNK_LEN
    lengths = {0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 3 * kib, 31 * kib}
    lengths.add(31 * kib + 1)
    for k in range(6):  # 1 .. 32 chunks
        lengths |= {(1 << k) * kib, (1 << k) * kib + 1, ((1 << k) + 1) * kib}
    return sorted(lengths)


def _next_leaf_size(n: int) -> int:
    """The smallest leaf size that holds n bytes in one leaf."""
    return max(ref.MIN_LEAF_SIZE, 1 << max(n - 1, 0).bit_length())


@pytest.mark.parametrize("local", LOCAL_SIZES)
def test_blake3_whole_input(dev: Device, local: int | None) -> None:
    """A one-leaf object's leaf value is the standard BLAKE3 of the leaf."""
    for n in _blake3_lengths():
        message = random.Random(n).randbytes(n)
        table = Table.single(message, _next_leaf_size(n))
        assert dev.leaves(ref.BLAKE3, table, local).hex() == blake3_pkg.blake3(message).hexdigest()


def test_blake3_whole_inputs_in_one_launch(dev: Device) -> None:
    """The same with every length in one table (leaf size: the largest) and skewed offsets."""
    lengths = _blake3_lengths()
    leaf_size = _next_leaf_size(max(lengths))
    data, offsets = bytearray(), []
    messages = [random.Random(n).randbytes(n) for n in lengths]
    for j, message in enumerate(messages):
        data += bytes(j % 5)
        offsets.append(len(data))
        data += message
    count = len(lengths)
    table = Table(
        bytes(data), leaf_size, tuple(offsets), tuple(lengths), (0,) * count, (1,) * count
    )
    got = dev.leaves(ref.BLAKE3, table, None)
    for j, message in enumerate(messages):
        assert got[32 * j : 32 * j + 32] == blake3_pkg.blake3(message).digest(), len(message)


# ---------------------------------------------------------------------------------------------
# Leaf and node kernels against the reference
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A leaf table as the engine builds it: the bytes, and one row per leaf."""

    data: bytes
    leaf_size: int
    offset: tuple[int, ...]
    length: tuple[int, ...]
    index: tuple[int, ...]
    root: tuple[int, ...]

    @classmethod
    def single(cls, leaf: bytes, leaf_size: int) -> Table:
        return cls(leaf, leaf_size, (0,), (len(leaf),), (0,), (1,))

    def leaf(self, j: int) -> bytes:
        return self.data[self.offset[j] : self.offset[j] + self.length[j]]


def _object_sizes(leaf_size: int, rng: random.Random) -> list[int]:
    """Empty, one partial leaf, one full leaf, and multi-leaf objects (partial and full last)."""
    sizes = [0, rng.randrange(1, leaf_size), leaf_size, 3 * leaf_size]
    sizes += [rng.randrange(leaf_size + 1, 5 * leaf_size) for _ in range(2)]
    if leaf_size <= 4096:  # more leaves where they are cheap
        sizes += [rng.randrange(5 * leaf_size, 20 * leaf_size)]
    return sizes


@functools.cache
def random_table(leaf_size: int, seed: int) -> Table:
    """Objects laid out one after another, each starting at a multiple of L; rows shuffled."""
    rng = random.Random(seed * 1_000_003 + leaf_size)
    data = bytearray()
    rows: list[tuple[int, int, int, int]] = []
    for size in _object_sizes(leaf_size, rng):
        data += bytes((-len(data)) % leaf_size)
        start = len(data)
        data += rng.randbytes(size)
        n = ref.leaf_count(size, leaf_size)
        rows.extend(
            (start + i * leaf_size, min(leaf_size, size - i * leaf_size), i, int(n == 1))
            for i in range(n)
        )
    rng.shuffle(rows)
    columns = [tuple(row[k] for row in rows) for k in range(4)]
    return Table(bytes(data), leaf_size, *columns)


@functools.cache
def expected_leaves(family: str, table: Table) -> bytes:
    out = []
    for j in range(len(table.offset)):
        leaf = table.leaf(j)
        if family == ref.LTHASH:
            out.append(ref.lattice_bytes(ref.lattice_leaf_element(leaf, table.index[j])))
        else:
            root = bool(table.root[j])
            out.append(ref.leaf_value(family, leaf, table.index[j], table.leaf_size, root))
    return b"".join(out)


# BLAKE3 is checked against the pure-Python reference, so its tables stay small.
LEAF_CASES = [
    (family, leaf_size)
    for family in FAMILIES
    for leaf_size in ((1024, 4096) if family == ref.BLAKE3 else (1024, 4096, 65536))
]


@pytest.mark.parametrize("local", LOCAL_SIZES, ids=lambda v: f"local={v}")
@pytest.mark.parametrize(("family", "leaf_size"), LEAF_CASES)
def test_leaves_random_tables(dev: Device, family: str, leaf_size: int, local: int | None) -> None:
    table = random_table(leaf_size, 1)
    got = dev.leaves(family, table, local)
    want = expected_leaves(family, table)
    size = DIGEST_SIZES[family]
    for j in range(len(table.offset)):
        assert got[j * size : (j + 1) * size] == want[j * size : (j + 1) * size], (
            f"row {j}: index {table.index[j]}, length {table.length[j]}, root {table.root[j]}"
        )


def test_blake3_large_leaf(dev: Device) -> None:
    """A 64 KiB leaf (64 chunks) inside a larger object, and partial ones, against the reference
    (checked through the blake3 package: the parent of two leaf CVs is the object's root)."""
    leaf_size = 65536
    rng = random.Random(7)
    for size in (2 * leaf_size, leaf_size + 1, leaf_size + 40000):
        data = rng.randbytes(size)
        lengths = (leaf_size, size - leaf_size)
        table = Table(data, leaf_size, (0, leaf_size), lengths, (0, 1), (0, 0))
        cvs = dev.leaves(ref.BLAKE3, table, None)
        top = dev.nodes(ref.BLAKE3, cvs, b"\x01", None)
        assert top == blake3_pkg.blake3(data).digest(), size


SUFFIX_LENGTHS = [*range(0, 290), 1023, 1024]


@functools.cache
def padding_table(seed: int) -> Table:
    """One leaf of every length in SUFFIX_LENGTHS, each at a multiple of 1 KiB, with random
    64-bit indices (lattice suffixes) on two rows of three."""
    rng = random.Random(seed)
    data, offsets = bytearray(), []
    for n in SUFFIX_LENGTHS:
        data += bytes((-len(data)) % 1024)
        offsets.append(len(data))
        data += rng.randbytes(n)
    count = len(SUFFIX_LENGTHS)
    index = tuple(rng.randrange(1 << 64) if j % 3 else j for j in range(count))
    return Table(bytes(data), 1024, tuple(offsets), tuple(SUFFIX_LENGTHS), index, (0,) * count)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != ref.BLAKE3])
def test_leaves_padding_boundaries(dev: Device, family: str) -> None:
    """Every leaf length around the block boundaries, where the suffix straddles blocks."""
    table = padding_table(11)
    assert dev.leaves(family, table, None) == expected_leaves(family, table)


def _expected_nodes(family: str, children: bytes, roots: bytes) -> bytes:
    size = DIGEST_SIZES[family]
    out = []
    for i, root in enumerate(roots):
        left = children[2 * i * size : (2 * i + 1) * size]
        right = children[(2 * i + 1) * size : (2 * i + 2) * size]
        if family == ref.LTHASH:
            total = ref.lattice_add(ref.lattice_from_bytes(left), ref.lattice_from_bytes(right))
            out.append(ref.lattice_bytes(total))
        else:
            out.append(ref.node_value(family, left, right, bool(root)))
    return b"".join(out)


@pytest.mark.parametrize("local", [*LOCAL_SIZES, 1, 32, 64], ids=lambda v: f"local={v}")
@pytest.mark.parametrize("family", FAMILIES)
def test_nodes(dev: Device, family: str, local: int | None) -> None:
    rng = random.Random(family)
    m = 37
    children = rng.randbytes(2 * m * DIGEST_SIZES[family])
    roots = bytes(rng.randrange(2) for _ in range(m))
    assert dev.nodes(family, children, roots, local) == _expected_nodes(family, children, roots)


@pytest.mark.parametrize("local", [1, 32, 64], ids=lambda v: f"local={v}")
def test_leaves_more_work_group_sizes(dev: Device, local: int) -> None:
    """The cheapest leaf kernel at more work-group sizes (each is a PoCL compile)."""
    table = random_table(4096, 2)
    assert dev.leaves("merkle-sha256", table, local) == expected_leaves("merkle-sha256", table)


# ---------------------------------------------------------------------------------------------
# The staged (GPU layout) leaf kernels: same values, any work-group size, any alignment
# ---------------------------------------------------------------------------------------------


def _skewed(table: Table, skew: int) -> Table:
    """The same leaves, every one starting ``skew`` bytes later (misaligned for skew % 4)."""
    offsets = tuple(o + skew for o in table.offset)
    return Table(bytes(skew) + table.data, table.leaf_size, offsets, *astuple(table)[3:])


@pytest.mark.parametrize(("local", "skew"), [(1, 0), (5, 3), (32, 0)], ids=str)
@pytest.mark.parametrize("family", FAMILIES)
def test_staged_leaves_random_tables(dev: Device, family: str, local: int, skew: int) -> None:
    for leaf_size in (1024, 4096):
        table = random_table(leaf_size, 3)
        want = expected_leaves(family, table)
        assert dev.leaves(family, _skewed(table, skew), local, staged=True) == want, leaf_size


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != ref.BLAKE3])
def test_staged_leaves_padding_boundaries(dev: Device, family: str) -> None:
    """Every length around the block boundaries, in groups whose block counts differ."""
    table = padding_table(13)
    assert dev.leaves(family, table, 32, staged=True) == expected_leaves(family, table)


# ---------------------------------------------------------------------------------------------
# The lattice node kernel: two 16-bit lanes per 32-bit word (SWAR), aligned and not
# ---------------------------------------------------------------------------------------------


def _lattice_pairs() -> tuple[bytes, bytes]:
    """Pairs whose lanes hit every carry case of the two-lanes-per-word addition: a low lane
    carrying out (0xffff + 1, 0x8000 + 0x8000), a carry into the top bit (0x7fff + 1), both
    lanes of a word at once, and random lanes."""
    edge = [
        (0xFFFF, 0x0001),
        (0x8000, 0x8000),
        (0x7FFF, 0x0001),
        (0xFFFF, 0xFFFF),
        (0x0000, 0x0000),
        (0x7FFF, 0x7FFF),
        (0x8001, 0x7FFF),
        (0x0001, 0xFFFF),
    ]
    rng = random.Random("lattice-swar")
    pairs = []
    for p in range(4):
        lanes = [edge[(k + p) % len(edge)] for k in range(512)]
        lanes += [(rng.randrange(1 << 16), rng.randrange(1 << 16)) for _ in range(512)]
        left = np.array([a for a, _ in lanes], dtype="<u2").tobytes()
        right = np.array([b for _, b in lanes], dtype="<u2").tobytes()
        pairs.append(left + right)
    return b"".join(pairs), bytes(4)


def test_lattice_nodes_carry_lanes_apart(dev: Device) -> None:
    """Lane-wise sums modulo 2^16 equal the reference's, carries never crossing lanes."""
    children, roots = _lattice_pairs()
    got = dev.nodes(ref.LTHASH, children, roots, None)
    assert got == _expected_nodes(ref.LTHASH, children, roots)


_MISALIGNED_NODE = """
__kernel void misaligned_lattice_node(__global const uchar *p, __global uchar *out,
                                      const uint skew) {
    if (get_global_id(0) == 0) {
        node_lthash16_shake256(p + skew, 0u, out + skew);
    }
}
"""


@pytest.mark.parametrize("skew", [1, 2, 3])
def test_lattice_node_byte_path_for_misaligned_values(dev: Device, skew: int) -> None:
    """Values that are not word-aligned take the byte path, with the same sums."""
    children, _ = _lattice_pairs()
    pair = children[:4096]
    context = dev.context
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cl.CompilerWarning)
        text = source(families=[ref.LTHASH]) + _MISALIGNED_NODE
        program = cl.Program(context, text).build()
    data = dev.buffer(bytes(skew) + pair)
    host = np.full(skew + 2048 + CANARY_BYTES, CANARY, dtype=np.uint8)
    flags = cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR
    out = cl.Buffer(context, flags, hostbuf=host)
    program.misaligned_lattice_node(dev.queue, (1,), None, data, out, np.uint32(skew))
    cl.enqueue_copy(dev.queue, host, out)
    dev.queue.finish()
    assert bytes(host[skew : skew + 2048]) == _expected_nodes(ref.LTHASH, pair, b"\0")
    assert bytes(host[:skew]) == bytes([CANARY]) * skew
    assert bytes(host[skew + 2048 :]) == bytes([CANARY]) * CANARY_BYTES
