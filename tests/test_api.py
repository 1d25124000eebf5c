"""The public API on whole artifacts: ``cpu`` equals the reference on generated model trees."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuhash
from gpuhash import reference as ref
from gpuhash.algorithms import FAMILIES

# Path components: ASCII, punctuation that sorts around '/', and non-ASCII letters.
components = st.text(alphabet=st.sampled_from("ab-._0Zé日ﬁ"), min_size=1, max_size=4).filter(
    lambda c: c not in (".", "..") and not c.startswith(".git")
)
paths = st.lists(components, min_size=1, max_size=3).map("/".join)
contents = st.one_of(
    st.binary(max_size=64),
    st.integers(0, 5000).map(lambda n: bytes((i * 13 + n) % 256 for i in range(n))),
)
models = st.dictionaries(paths, contents, min_size=1, max_size=6).filter(
    # a path cannot be both a file and a directory
    lambda m: not any(a != b and b.startswith(a + "/") for a in m for b in m)
)


def write_model(root: Path, model: dict[str, bytes]) -> None:
    for name, data in model.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


@settings(max_examples=40, deadline=None)
@given(model=models, family=st.sampled_from(FAMILIES), leaf=st.sampled_from([1024, 2048]))
def test_hash_path_cpu_equals_reference(model: dict[str, bytes], family: str, leaf: int) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        write_model(root, model)
        manifest = gpuhash.hash_path(root, algorithm=family, leaf_size=leaf, backend="cpu")
        entries, digest = ref.hash_model(str(root), manifest.algorithm.id)
        assert manifest.artifact_digest == digest
        assert [(o.kind, o.name, o.size, o.digest) for o in manifest.objects] == entries
    finally:
        shutil.rmtree(root)


@pytest.mark.parametrize("family", FAMILIES)
def test_hash_bytes_accepts_buffers(family: str) -> None:
    import numpy as np

    data = bytes(range(256)) * 9
    want = ref.object_digest(family, data, 1024)
    for value in (data, bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8)):
        assert gpuhash.hash_bytes(value, algorithm=family, leaf_size=1024, backend="cpu") == want


def test_hash_bytes_refuses_non_buffers() -> None:
    with pytest.raises(gpuhash.InputError, match="not a buffer"):
        gpuhash.hash_bytes("text is not bytes", backend="cpu")


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "lthash16-shake256"])
def test_proofs_through_the_api(family: str) -> None:
    data = bytes((i * 7) % 251 for i in range(5 * 1024 + 100))
    digest = gpuhash.hash_bytes(data, algorithm=family, leaf_size=1024, backend="cpu")
    nodes = gpuhash.prove(data, 2, 2, algorithm=family, leaf_size=1024)
    leaves = [data[2048:3072], data[3072:4096]]
    kw = {"size": len(data), "digest": digest, "algorithm": family, "leaf_size": 1024}
    assert gpuhash.verify_proof(leaves, 2, nodes, **kw)  # type: ignore[arg-type]
    forged = [leaves[0], leaves[1][:-1] + b"\x00"]
    assert not gpuhash.verify_proof(forged, 2, nodes, **kw)  # type: ignore[arg-type]


def test_lattice_has_no_proofs() -> None:
    with pytest.raises(gpuhash.UsageError, match="no inclusion proofs"):
        gpuhash.prove(b"abc", 0, 1, algorithm="lthash16-shake256")


def test_directory_swapped_for_a_link_after_listing_is_refused(tmp_path: Path) -> None:
    """A directory replaced by a symlink to outside between listing and reading must not make
    gpuhash read outside the model (every path component is opened without following links)."""
    from gpuhash.engine import hash_sources

    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "sub" / "a").write_bytes(b"inside!!")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a").write_bytes(b"SECRET!!")
    sources = gpuhash.list_objects(model)
    (model / "sub").rename(tmp_path / "moved")
    (model / "sub").symlink_to(outside)
    with pytest.raises(gpuhash.InputError, match="sub/a"):
        hash_sources(gpuhash.get_backend("cpu"), gpuhash.resolve_algorithm(), sources)


def test_empty_model_path_is_an_error() -> None:
    with pytest.raises(gpuhash.InputError, match="empty"):
        gpuhash.hash_path("", backend="cpu")


@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from([f for f in FAMILIES if f != "lthash16-shake256"]),
    size=st.integers(0, 20 * 1024 + 5),
    data=st.data(),
)
def test_proofs_made_by_a_backend_equal_the_reference(family: str, size: int, data: Any) -> None:
    """The proof values come from the backend (one hash_subtrees call), equal the reference's
    PROVE and verify with the reference's COMPUTE."""
    from gpuhash import reference as ref

    blob = bytes((i * 11 + size) % 251 for i in range(size))
    n = ref.leaf_count(size, 1024)
    first = data.draw(st.integers(0, n - 1))
    count = data.draw(st.integers(1, n - first))
    want = ref.prove(family, blob, 1024, first, count)
    for backend in ("cpu", "reference"):
        got = gpuhash.prove(blob, first, count, algorithm=family, leaf_size=1024, backend=backend)
        assert got == want, backend
    digest = ref.object_digest(family, blob, 1024)
    leaves = ref.split_leaves(blob, 1024)[first : first + count]
    assert ref.verify_proof(family, 1024, size, digest, first, leaves, want)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"path": "/tmp/x\0y"}, gpuhash.InputError, "cannot contain NUL"),
        ({"path": b"model"}, gpuhash.UsageError, "not bytes"),
        ({"leaf_size": "64k"}, gpuhash.UsageError, "leaf_size must be an int .*parse_size"),
        ({"leaf_size": 65536.0}, gpuhash.UsageError, "not float"),
        ({"leaf_size": True}, gpuhash.UsageError, "not bool"),
        ({"ignore_paths": "wc"}, gpuhash.UsageError, "a list of paths, not one string"),
        ({"algorithm": 5}, gpuhash.UsageError, "not int"),
    ],
    ids=["nul", "bytes", "str-leaf", "float-leaf", "bool-leaf", "str-ignores", "int-algorithm"],
)
def test_wrong_argument_types_raise_gpuhash_errors(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Arguments of the wrong type were a plain ValueError or TypeError from deep inside, or
    (a string of ignore paths) silently read character by character."""
    (tmp_path / "w").write_bytes(b"w")
    args = {"path": tmp_path, **kwargs}
    with pytest.raises(error, match=message):
        gpuhash.hash_path(**args)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, key, pub, out: gpuhash.hash_path(m, link_root="/tmp/x\0y"),
        lambda m, key, pub, out: gpuhash.sign(m, out, private_key="k\0.pem"),
        lambda m, key, pub, out: gpuhash.sign(m, "s\0.sig", private_key=key),
        lambda m, key, pub, out: gpuhash.verify(m, "s\0.sig", method="key", public_key=pub),
        lambda m, key, pub, out: gpuhash.verify(m, out, method="key", public_key="p\0.pem"),
        lambda m, key, pub, out: gpuhash.verify(
            m, out, method="certificate", certificate_chain=["c\0.pem"]
        ),
    ],
    ids=["link-root", "private-key", "signature-out", "signature-in", "public-key", "chain"],
)
def test_a_nul_in_any_path_is_a_usage_error(
    tmp_path: Path, ec_keys: tuple[Path, Path], call: Any
) -> None:
    """No system call takes a NUL: every path the API opens refuses one in a gpuhash error
    naming it (they were a ValueError from ``os.open``), and nothing is written."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "w").write_bytes(b"w")
    key, pub = ec_keys
    out = tmp_path / "model.sig"
    gpuhash.sign(model, out, private_key=key)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(gpuhash.GpuhashError, match=r"\\x00.*: a path cannot contain NUL$") as e:
        call(model, key, pub, out)
    assert len(str(e.value).splitlines()) == 1
    assert sorted(tmp_path.iterdir()) == before


def test_auto_says_why_it_chose_cpu_for_a_small_input(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``-v`` says which backend auto chose and why: for inputs under 64 MiB it said nothing."""
    (tmp_path / "w").write_bytes(b"w" * 100)
    with caplog.at_level("INFO", logger="gpuhash"):
        gpuhash.hash_path(tmp_path)
    assert "auto: chose cpu: 100 bytes, under the 64 MiB for which a device is started" in [
        r.getMessage() for r in caplog.records
    ]


def test_a_numpy_integer_leaf_size_is_an_int(tmp_path: Path) -> None:
    import numpy as np

    (tmp_path / "w").write_bytes(b"w" * 3000)
    want = gpuhash.hash_path(tmp_path, leaf_size=1024).artifact_digest
    leaf: Any = np.int64(1024)
    assert gpuhash.hash_path(tmp_path, leaf_size=leaf).artifact_digest == want
