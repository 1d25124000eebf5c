"""Incremental re-hashing (``gpuhash.rehash``, ``gpuhash hash --incremental``): the result always
equals a full re-hash of the current tree; a file changed behind a restored modification time is
caught with ``--full``; the lattice digest follows the update law."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

import gpuhash
from gpuhash import cli

FAMILIES = ["merkle-sha256", "blake3", "lthash16-shake256"]

ops = st.lists(
    st.tuples(
        st.sampled_from(["write", "append", "remove", "touch"]),
        st.integers(0, 5),
        st.integers(0, 9000),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=ops, family=st.sampled_from(FAMILIES))
def test_rehash_equals_a_full_hash(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int, int]], family: str
) -> None:
    root = tmp_path_factory.mktemp("inc") / "m"
    (root / "sub").mkdir(parents=True)
    for i in range(4):
        (root / ("sub" if i % 2 else "") / f"f{i}").write_bytes(bytes([i]) * (1000 * i + 7))
    previous = gpuhash.hash_path(root, algorithm=family, leaf_size=1024, backend="cpu")
    for n, (op, which, size) in enumerate(steps):
        path = root / ("sub" if which % 2 else "") / f"f{which}"
        if op == "write":
            path.write_bytes(bytes([n + 1]) * size)
        elif op == "append" and path.exists():
            with open(path, "ab") as f:
                f.write(b"+")
        elif op == "remove" and path.exists():
            path.unlink()
        elif op == "touch" and path.exists():
            os.utime(path)
        current, report = gpuhash.rehash(root, previous, backend="cpu")
        full = gpuhash.hash_path(root, algorithm=family, leaf_size=1024, backend="cpu")
        assert current.artifact_digest == full.artifact_digest
        assert [(o.name, o.digest) for o in current.objects] == [
            (o.name, o.digest) for o in full.objects
        ]
        assert sorted(report.reused + report.hashed) == sorted(o.name for o in full.objects)
        previous = current


def _age(root: Path, seconds: int = 60) -> None:
    """Date every file back: a file modified within 2 s of being hashed is never reused (its
    mtime could stay the same through a further change), so tests of reuse use older files."""
    then = time.time_ns() - seconds * 1_000_000_000
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(then, then))


def test_racily_recent_files_are_always_rehashed(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "a").write_bytes(b"1" * 100)
    previous = gpuhash.hash_path(root, backend="cpu")
    assert previous.objects[0].stat is not None
    assert previous.objects[0].stat[1] == -1  # recorded as racy
    (root / "a").write_bytes(b"2" * 100)  # same size and inode, perhaps the same mtime tick
    current, report = gpuhash.rehash(root, previous, backend="cpu")
    assert report.hashed == ["a"]
    assert current.artifact_digest == gpuhash.hash_path(root, backend="cpu").artifact_digest


@pytest.mark.parametrize("family", FAMILIES)
def test_restored_mtime_is_caught_with_full(tmp_path: Path, family: str) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "a").write_bytes(b"a" * 5000)
    (root / "b").write_bytes(b"b" * 7000)
    _age(root)
    previous = gpuhash.hash_path(root, algorithm=family, leaf_size=1024, backend="cpu")
    st = os.stat(root / "b")
    with open(root / "b", "r+b") as f:  # same size, same inode
        f.write(b"X")
    os.utime(root / "b", ns=(st.st_atime_ns, st.st_mtime_ns))
    stale, report = gpuhash.rehash(root, previous, backend="cpu")
    assert report.reused == ["a", "b"]  # what the cheap check cannot see
    assert stale.artifact_digest == previous.artifact_digest
    caught, report = gpuhash.rehash(root, previous, backend="cpu", full=True)
    assert report.stale == ["b"]
    full = gpuhash.hash_path(root, algorithm=family, leaf_size=1024, backend="cpu")
    assert caught.artifact_digest == full.artifact_digest != previous.artifact_digest


def test_tensor_objects_are_reused_per_file(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    rng = np.random.default_rng(2)
    for i in range(3):
        save_file(
            {f"w{j}": rng.standard_normal((64, 16)).astype(np.float32) for j in range(4)},
            str(root / f"part{i}.safetensors"),
        )
    (root / "config.json").write_text("{}")
    _age(root)
    previous = gpuhash.hash_path(root, objects="tensors", backend="cpu")
    save_file({"w0": np.zeros((2, 2), np.float16)}, str(root / "part1.safetensors"))
    current, report = gpuhash.rehash(root, previous, backend="cpu")
    assert sorted(report.hashed) == ["part1.safetensors::__metadata__", "part1.safetensors::w0"]
    assert sorted(report.removed) == [f"part1.safetensors::w{j}" for j in (1, 2, 3)]
    full = gpuhash.hash_path(root, objects="tensors", backend="cpu")
    assert current.artifact_digest == full.artifact_digest


def test_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "m"
    root.mkdir()
    for i in range(3):
        (root / f"f{i}").write_bytes(os.urandom(3000 + i))
    _age(root)
    prev = tmp_path / "prev.json"
    assert cli.main(["hash", str(root), "-o", str(prev), "-a", "lthash16-shake256"]) == 0
    (root / "f1").write_bytes(b"new")
    capsys.readouterr()
    out = tmp_path / "next.pb"
    assert cli.main(["hash", str(root), "--incremental", str(prev), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "incremental: 2 objects reused, 1 hashed (3 B), 0 removed" in captured.err
    again = gpuhash.Manifest.from_bytes(out.read_bytes())
    full = gpuhash.hash_path(root, algorithm="lthash16-shake256")
    assert again.artifact_digest == full.artifact_digest
    assert again.digest_line() in captured.out
    assert cli.main(["hash", str(root), "--full"]) == 2
    assert "--full needs --incremental" in capsys.readouterr().err
    assert cli.main(["hash", str(root), "--incremental", str(prev), "-a", "blake3"]) == 2
    assert "uses gh1-lthash16-shake256-64k, not gh1-blake3" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text('{"specVersion": 7}')
    assert cli.main(["hash", str(root), "--incremental", str(tmp_path / "junk.json")]) == 2
    assert "spec version 7" in capsys.readouterr().err
