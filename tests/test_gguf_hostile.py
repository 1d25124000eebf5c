"""Hostile GGUF files (issue 12): every count and length a GGUF header declares is checked
against the bytes that remain before it is used, so a bad header is one error line (exit 2) in
time and memory bounded by the file's real size; and the tensor objects bind the file's length
(spec section 1.4: nothing may follow the last tensor's alignment padding).

Hostile files are assembled byte by byte; valid ones are written by the ``gguf`` package's own
``GGUFWriter`` and checked against its ``GGUFReader``.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpuhash
from gpuhash import reference as ref
from gpuhash.errors import InputError
from gpuhash.formats import gguf as formats_gguf

gguf = pytest.importorskip("gguf")

# GGUF value types (the gguf package's GGUFValueType)
U8, I32, U32, STRING, ARRAY, U64 = 0, 5, 4, 8, 9, 10
HEADER_TIMEOUT = 60  # seconds: a hang fails the test instead of hanging CI


def _str(s: bytes) -> bytes:
    return struct.pack("<Q", len(s)) + s


def _gguf_bytes(kvs: bytes = b"", n_kv: int = 0, infos: bytes = b"", n_tensors: int = 0) -> bytes:
    """The unpadded header: magic, version 3, the counts, then the given KV and info bytes."""
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + kvs + infos


def _hostile_49() -> bytes:
    """The issue's 49-byte file: one key whose INT32 array declares 2^62 elements and no data."""
    data = _gguf_bytes(_str(b"a") + struct.pack("<IIQ", ARRAY, I32, 1 << 62), n_kv=1)
    assert len(data) == 49
    return data


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _model(tmp_path: Path, extra: bytes) -> Path:
    """A model directory: a config file and ``extra.gguf``."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"a": 1}')
    _write(model / "extra.gguf", extra)
    return model


def _cli(
    *argv: str | os.PathLike[str], timeout: float = HEADER_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """``gpuhash ARGV...`` in a child process that must finish within ``timeout`` seconds."""
    return subprocess.run(
        [sys.executable, "-m", "gpuhash", *(os.fspath(a) for a in argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def _one_line(err: str, *needles: str) -> None:
    assert err.startswith("gpuhash: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def _written(path: Path, alignment: int | None = None, big: bool = False) -> Path:
    """A GGUF file written by the gguf package: KVs including arrays, and three tensors."""
    rng = np.random.default_rng(5)
    endian = gguf.GGUFEndian.BIG if big else gguf.GGUFEndian.LITTLE
    w = gguf.GGUFWriter(str(path), "llama", endianess=endian)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    w.add_string("general.name", "hostile test")
    w.add_array("tokenizer.ggml.tokens", ["a", "bc", ""])
    w.add_array("some.ints", [1, 2, 3])
    w.add_array("nested", [[1, 2], [3]])
    dtype = np.float32  # the writer swaps the bytes of a big-endian file itself
    w.add_tensor("a.weight", rng.standard_normal((3, 5)).astype(dtype))
    w.add_tensor("b.weight", rng.standard_normal(7).astype(dtype))
    q8 = rng.integers(0, 255, size=(2, 34), dtype=np.uint8)
    w.add_tensor("c.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# -- the 49-byte file ------------------------------------------------------------------------------


def test_the_49_byte_file_through_the_api(tmp_path: Path) -> None:
    model = _model(tmp_path, _hostile_49())
    code = (
        "import sys, gpuhash\n"
        "from gpuhash.errors import InputError\n"
        "for call in (lambda: gpuhash.list_objects(sys.argv[1], objects='tensors'),\n"
        "             lambda: gpuhash.hash_path(sys.argv[1], objects='tensors')):\n"
        "    try:\n"
        "        call()\n"
        "    except InputError as e:\n"
        "        print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(model)],
        capture_output=True,
        text=True,
        timeout=HEADER_TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith("not a valid GGUF file: extra.gguf: "), line
        assert "past the end of the file" in line


def test_the_49_byte_file_through_the_cli(tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    private, public = ec_keys
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"a": 1}')
    _written(model / "m.gguf")  # so that the signature's objects are tensors
    sig = tmp_path / "m.sig"
    signed = _cli(
        "sign", "key", model, "--signature", sig, "--private-key", private, "--objects", "tensors"
    )
    assert signed.returncode == 0, signed.stderr
    _write(model / "extra.gguf", _hostile_49())
    runs = [
        ("hash", model, "--objects", "tensors"),
        ("digest", model, "--objects", "tensors"),
        (
            "sign",
            "key",
            model,
            "--signature",
            tmp_path / "s2.sig",
            "--private-key",
            private,
            "--objects",
            "tensors",
        ),
        (
            "verify",
            "key",
            model,
            "--signature",
            sig,
            "--public-key",
            public,
            "--objects",
            "tensors",
        ),
        (
            "prove",
            model,
            "--objects",
            "tensors",
            "--object",
            "config.json",
            "--range",
            "0:2",
            "-o",
            tmp_path / "p.json",
        ),
    ]
    for argv in runs:
        r = _cli(*argv)
        if argv[0] == "verify":
            # An unsigned file that does not parse is an extra object, a failed verification.
            assert r.returncode == 1, (argv, r.stdout, r.stderr)
            assert "extra (not signed): extra.gguf" in r.stdout, r.stdout
            continue
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        _one_line(r.stderr, "not a valid GGUF file: extra.gguf: ")
    # Unsigned files are not read at all when they are ignored: it verifies, at once.
    r = _cli(
        "verify",
        "key",
        model,
        "--signature",
        sig,
        "--public-key",
        public,
        "--objects",
        "tensors",
        "--ignore-unsigned-files",
    )
    assert r.returncode == 0, (r.stdout, r.stderr)


# -- huge counts in every field --------------------------------------------------------------------

HUGE = [1 << 62, (1 << 64) - 1, 1 << 40]


def _cases() -> dict[str, list[bytes]]:
    """Headers declaring more than their file holds, in each field that declares a size."""
    kv = _str(b"k") + struct.pack("<IB", U8, 7)
    out: dict[str, list[bytes]] = {}
    out["kv count"] = [_gguf_bytes(kv, n_kv=n) for n in HUGE]
    out["tensor count"] = [_gguf_bytes(n_tensors=n) for n in HUGE]
    out["key length"] = [_gguf_bytes(struct.pack("<Q", n) + b"k", n_kv=1) for n in HUGE]
    out["string value length"] = [
        _gguf_bytes(_str(b"k") + struct.pack("<IQ", STRING, n) + b"xy", n_kv=1) for n in HUGE
    ]
    out["array length"] = [
        _gguf_bytes(_str(b"k") + struct.pack("<IIQ", ARRAY, t, n), n_kv=1)
        for n in HUGE
        for t in (U8, I32, U64, STRING, ARRAY)
    ]
    out["array of strings"] = [
        _gguf_bytes(_str(b"k") + struct.pack("<IIQQ", ARRAY, STRING, 2, n) + b"ab", n_kv=1)
        for n in HUGE
    ]
    out["nested array"] = [
        _gguf_bytes(_str(b"k") + struct.pack("<IIQIQ", ARRAY, ARRAY, 1, I32, n), n_kv=1)
        for n in HUGE
    ]
    deep = _str(b"k") + struct.pack("<I", ARRAY) + struct.pack("<IQ", ARRAY, 1) * 5000
    out["nesting depth"] = [_gguf_bytes(deep + struct.pack("<IQ", U8, 0), n_kv=1)]

    def info(
        name: bytes = b"t", dims: bytes = struct.pack("<IQ", 1, 4), typ: int = 0, offset: int = 0
    ) -> bytes:
        return _str(name) + dims + struct.pack("<IQ", typ, offset)

    out["tensor name length"] = [
        _gguf_bytes(infos=struct.pack("<Q", n) + b"t", n_tensors=1) for n in HUGE
    ]
    out["n_dims"] = [
        _gguf_bytes(infos=info(dims=struct.pack("<I", n)), n_tensors=1)
        for n in (1 << 31, (1 << 32) - 1, 100)
    ]
    out["dims"] = [
        _gguf_bytes(infos=info(dims=struct.pack("<IQQ", 2, n, n)), n_tensors=1) for n in HUGE
    ]
    out["tensor offset"] = [_gguf_bytes(infos=info(offset=n), n_tensors=1) for n in HUGE]
    out["alignment"] = [
        _gguf_bytes(_str(b"general.alignment") + struct.pack("<II", U32, a), n_kv=1) + b"\0" * 64
        for a in (1 << 30, 1 << 31, 3, 0)
    ]
    return out


@pytest.mark.parametrize("field", sorted(_cases()))
def test_huge_counts_are_refused_quickly(tmp_path: Path, field: str) -> None:
    """In a child process with a watchdog: each case must be refused as bad input, fast."""
    code = (
        "import sys, time, gpuhash\n"
        "from gpuhash.errors import InputError\n"
        "for path in sys.argv[1:]:\n"
        "    t = time.monotonic()\n"
        "    try:\n"
        "        gpuhash.list_objects(path, objects='tensors')\n"
        "    except InputError as e:\n"
        "        print(e)\n"
        "    else:\n"
        "        print('accepted')\n"
        "    assert time.monotonic() - t < 10, path\n"
    )
    cases = _cases()[field]
    paths = [str(_write(tmp_path / f"case{i}.gguf", data)) for i, data in enumerate(cases)]
    out = subprocess.run(
        [sys.executable, "-c", code, *paths],
        capture_output=True,
        text=True,
        timeout=HEADER_TIMEOUT,
    )
    assert out.returncode == 0, (field, out.stderr[-2000:])
    lines = out.stdout.splitlines()
    assert len(lines) == len(cases), (field, out.stdout)
    for i, line in enumerate(lines):
        assert line.startswith(f"not a valid GGUF file: case{i}.gguf: "), (field, i, line)


def test_alignment_2_to_the_30_takes_bounded_memory(tmp_path: Path) -> None:
    """A header declaring alignment 2^30 over a real 2^30-byte (sparse) file: refused, and the
    peak memory of the process stays far below the alignment."""
    path = tmp_path / "big.gguf"
    head = _gguf_bytes(_str(b"general.alignment") + struct.pack("<II", U32, 1 << 30), n_kv=1)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(1 << 30)
    code = (
        "import resource, sys, gpuhash\n"
        "from gpuhash.errors import InputError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    gpuhash.list_objects(sys.argv[1], objects='tensors')\n"
        "except InputError as e:\n"
        "    print(e)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=HEADER_TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    message, grown_mib = out.stdout.splitlines()
    assert message.startswith("not a valid GGUF file: big.gguf: "), message
    assert "alignment" in message
    assert int(grown_mib) < 64


def _padded(header: bytes) -> bytes:
    return header + b"\0" * (-len(header) % 32)


def _info(name: bytes, dims: tuple[int, ...], typ: int = 0, offset: int = 0) -> bytes:
    return _str(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, typ, offset)


KV = _str(b"k") + struct.pack("<IB", U8, 7)
RULES = [
    (b"GGUX" + _gguf_bytes()[4:], "GGUF magic invalid"),
    (b"GGUF" + struct.pack("<IQQ", 1, 0, 0), "version 1"),
    (_gguf_bytes(KV + KV, n_kv=2), "key 'k' appears twice"),
    (_gguf_bytes(_str(b"\xff") + struct.pack("<IB", U8, 7), n_kv=1), "is not UTF-8"),
    (_gguf_bytes(_str(b"k") + struct.pack("<IB", 13, 7), n_kv=1), "unknown value type 13"),
    (_gguf_bytes(_str(b"k") + struct.pack("<IIQ", ARRAY, 99, 0), n_kv=1), "unknown element type"),
    (_gguf_bytes(_str(b"general.alignment") + struct.pack("<IB", U8, 8), n_kv=1), "UINT32"),
    (_gguf_bytes(infos=_info(b"t", (4,)) * 2, n_tensors=2), "tensor 't' appears twice"),
    (_gguf_bytes(infos=_info(b"t", (4,), typ=4), n_tensors=1), "unknown GGML type 4"),
    (_gguf_bytes(infos=_info(b"t", (1,) * 65), n_tensors=1), "65 dimensions"),
    (_gguf_bytes(infos=_info(b"t", (4,)), n_tensors=1) + b"\0" * 20, "runs past the end"),
    (_padded(_gguf_bytes(infos=_info(b"t", (1, 1 << 60), typ=34), n_tensors=1)), "runs past"),
    (_gguf_bytes(_str(b"k" * 100_000) + struct.pack("<IB", 13, 7), n_kv=1), "'kkk"),
    # Spec revision 1.6: counts above the limits are refused before anything is read for them.
    (_gguf_bytes(n_tensors=ref.MAX_OBJECTS + 1), "262145 tensors (at most 262144"),
    (_gguf_bytes(n_kv=formats_gguf.GGUF_MAX_KV + 1), "65537 key-value pairs (at most 65536)"),
]


@pytest.mark.parametrize(("data", "message"), RULES, ids=[m for _, m in RULES])
def test_header_rules(tmp_path: Path, data: bytes, message: str) -> None:
    path = _write(tmp_path / "bad.gguf", data)
    with pytest.raises(InputError, match=r"^not a valid GGUF file: bad\.gguf: ") as e:
        gpuhash.list_objects(path, objects="tensors")
    assert message in str(e.value)
    assert len(str(e.value)) < 300


def test_a_header_over_100_mb_is_refused_unread(tmp_path: Path) -> None:
    """A string value that would take the header past 100 000 000 bytes, in a (sparse) file
    that does hold its bytes: refused by its declared length, the bytes never read."""
    header = _gguf_bytes(_str(b"k") + struct.pack("<IQ", STRING, 100_000_000), n_kv=1)
    path = _write(tmp_path / "big.gguf", header)
    os.truncate(path, 100_001_000)
    with pytest.raises(InputError, match="makes the header larger than 100000000 bytes"):
        gpuhash.list_objects(path, objects="tensors")


def test_a_large_header_costs_what_its_bytes_do(tmp_path: Path) -> None:
    """Fixed-size array elements are stepped over, not read one by one (the gguf package's
    reader takes about 10 seconds and 700 MB per million of them)."""
    n = 1 << 22
    kvs = _str(b"ints") + struct.pack("<IIQ", ARRAY, I32, n) + b"\0" * (4 * n)
    kvs += _str(b"tokens") + struct.pack("<IIQ", ARRAY, STRING, 50_000) + _str(b"tok") * 50_000
    header = _gguf_bytes(kvs, n_kv=2)
    path = _write(tmp_path / "big.gguf", header + b"\0" * (-len(header) % 32))
    code = "import sys, gpuhash; print(len(gpuhash.list_objects(sys.argv[1], objects='tensors')))"
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "1\n"


# -- valid files still split as the gguf package reads them ----------------------------------------


@pytest.mark.parametrize(
    ("alignment", "big"),
    [
        (None, False),
        (64, False),
        (1, False),
        (formats_gguf.GGUF_MAX_ALIGNMENT, False),
        (None, True),
    ],
)
def test_written_files_split_as_the_reader_reads_them(
    tmp_path: Path, alignment: int | None, big: bool
) -> None:
    path = _written(tmp_path / "m.gguf", alignment, big)
    data = path.read_bytes()
    reader = gguf.GGUFReader(str(path))
    m = gpuhash.hash_path(path, objects="tensors", algorithm="blake3", leaf_size=1024)
    assert [o.name for o in m.objects] == sorted(
        ["m.gguf::__metadata__"] + [f"m.gguf::{t.name}" for t in reader.tensors]
    )
    header = m["m.gguf::__metadata__"]
    assert header.size == reader.data_offset
    assert header.digest == ref.object_digest("blake3", data[: reader.data_offset], 1024)
    for t in reader.tensors:
        obj = m[f"m.gguf::{t.name}"]
        assert obj.size == t.n_bytes
        assert obj.digest == ref.object_digest(
            "blake3", data[t.data_offset : t.data_offset + t.n_bytes], 1024
        )
        assert obj.tensor is not None
        assert obj.tensor["dtype"] == t.tensor_type.name
        assert obj.tensor["offset"] == t.data_offset
        assert obj.tensor["shape"] == [int(d) for d in reversed(t.shape.tolist())]


def test_a_file_without_tensors(tmp_path: Path) -> None:
    path = tmp_path / "vocab.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_array("tokenizer.ggml.tokens", ["a", "b"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    m = gpuhash.hash_path(path, objects="tensors")
    assert [(o.name, o.size) for o in m.objects] == [
        ("vocab.gguf::__metadata__", path.stat().st_size)
    ]
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(InputError, match="after the last tensor"):
        gpuhash.hash_path(path, objects="tensors")


# -- the objects bind the file's length ------------------------------------------------------------


def test_appended_zero_bytes_are_refused(tmp_path: Path) -> None:
    path = _written(tmp_path / "m.gguf")
    good = path.read_bytes()
    assert len(good) % 32 == 0  # the gguf package pads the last tensor too
    gpuhash.hash_path(path, objects="tensors")
    for extra in (1, 5, 31, 32, 33, 1000):
        path.write_bytes(good + b"\0" * extra)
        with pytest.raises(InputError, match=r"m\.gguf: .* after the last tensor"):
            gpuhash.hash_path(path, objects="tensors")
    # Taking the last tensor's padding away is refused too (the length is bound either way).
    last = max(gguf.GGUFReader(str(_write(path, good))).tensors, key=lambda t: t.data_offset)
    end = last.data_offset + last.n_bytes
    assert end < len(good)
    path.write_bytes(good[:end])
    with pytest.raises(InputError, match="after the last tensor"):
        gpuhash.hash_path(path, objects="tensors")


def test_appended_zero_bytes_fail_verification(tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    private, public = ec_keys
    model = tmp_path / "model"
    model.mkdir()
    path = _written(model / "m.gguf")
    good = path.read_bytes()
    sig = tmp_path / "m.sig"
    sign: list[str | os.PathLike[str]] = [
        "sign",
        "key",
        model,
        "--signature",
        sig,
        "--private-key",
        private,
    ]
    assert _cli(*sign, "--objects", "tensors").returncode == 0
    verify: list[str | os.PathLike[str]] = [
        "verify",
        "key",
        model,
        "--signature",
        sig,
        "--public-key",
        public,
    ]
    assert _cli(*verify, "--objects", "tensors").returncode == 0
    for extra in (1, 31):
        path.write_bytes(good + b"\0" * extra)
        r = _cli(*verify, "--objects", "tensors")
        # A signed file that no longer parses is a changed object: verification fails.
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "changed: m.gguf (its header no longer parses: " in r.stdout, r.stdout
        assert "after the last tensor" in r.stdout, r.stdout


def test_the_limits_are_the_specs() -> None:
    spec = (Path(__file__).resolve().parents[1] / "spec" / "v1" / "spec.md").read_text("utf-8")
    section = " ".join(spec.split("### 1.4 ")[1].split("## 2. ")[0].split())
    assert formats_gguf.GGUF_MAX_ALIGNMENT == 1 << 16
    assert "from 1 to 2^16" in section
    assert formats_gguf.GGUF_MAX_DIMS == 64
    assert "at most 64" in section
    assert formats_gguf.GGUF_MAX_ARRAY_DEPTH == 8
    assert "nest at most 8 deep" in section
    assert formats_gguf.GGUF_DEFAULT_ALIGNMENT == 32
    assert "`A = 32`" in section
    assert formats_gguf.GGUF_VERSIONS == (2, 3)
    assert "versions 2 and 3" in section


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4))
def test_a_changed_header_is_refused_or_read_as_the_gguf_package_reads_it(
    tmp_path: Path, changes: list[tuple[int, int]]
) -> None:
    """Bytes of a written file's header changed at random: gpuhash refuses the file, or its
    objects are exactly what the gguf package's reader makes of it."""
    path = tmp_path / "m.gguf"
    if not path.exists():
        _written(path)
    data = bytearray(path.read_bytes())
    for at, byte in changes:
        data[at % len(data)] = byte
    bad = _write(tmp_path / "changed.gguf", bytes(data))
    try:
        m = gpuhash.list_objects(bad, objects="tensors")
    except InputError as e:
        refused = str(e)
    else:
        refused = ""
    if refused:
        assert refused.startswith("not a valid GGUF file: changed.gguf: "), refused
        return
    reader = gguf.GGUFReader(str(bad))
    assert m[0].size == reader.data_offset
    assert [(o.name, o.offset, o.size) for o in m[1:]] == [
        (f"changed.gguf::{t.name}", t.data_offset, t.n_bytes) for t in reader.tensors
    ]
