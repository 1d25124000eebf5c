"""Incremental re-hashing (``gpuhash.rehash``, ``gpuhash hash --incremental``): the result always
equals a full re-hash of the current tree; a file changed behind a restored modification time is
re-hashed (its ctime moved), and what the stat cannot see is caught with ``--full``; the lattice
digest follows the update law."""

from __future__ import annotations

import dataclasses
import json
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
from gpuhash.sources import RACY_NS

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


def _date_back(root: Path, seconds: int = 60) -> None:
    """Date every file's mtime back: a file modified within 2 s of being hashed is never reused
    (its mtime could stay the same through a further change)."""
    then = time.time_ns() - seconds * 1_000_000_000
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(then, then))


def _settle(*roots: Path) -> None:
    """Return once every file under ``roots`` has a ctime older than the racy window (spec
    section 8): the ctime cannot be dated back, so a test of reuse waits it out (about 2 s)."""
    newest = max(p.stat().st_ctime_ns for r in roots for p in r.rglob("*") if p.is_file())
    while (left := newest + RACY_NS + 10_000_000 - time.time_ns()) > 0:
        time.sleep(left / 1e9)


def _age(*roots: Path) -> None:
    """Date the files back and wait out their ctime: what a test of reuse starts from."""
    for root in roots:
        _date_back(root)
    _settle(*roots)


def _pair(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "a").write_bytes(b"a" * 5000)
    (root / "b").write_bytes(b"b" * 7000)
    return root


def _rewrite_keeping_mtime(path: Path) -> None:
    """Change ``path`` in place (same size, same inode) and put its mtime back with utime."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(b"X")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == st.st_mtime_ns


def test_racily_recent_files_are_always_rehashed(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "a").write_bytes(b"1" * 100)
    previous = gpuhash.hash_path(root, backend="cpu")
    assert previous.objects[0].stat is not None
    assert previous.objects[0].stat[1] == -1  # recorded as racy
    assert previous.objects[0].stat[2] == -1  # the ctime too
    (root / "a").write_bytes(b"2" * 100)  # same size and inode, perhaps the same mtime tick
    current, report = gpuhash.rehash(root, previous, backend="cpu")
    assert report.hashed == ["a"]
    assert current.artifact_digest == gpuhash.hash_path(root, backend="cpu").artifact_digest


def test_racily_recent_ctime_is_always_rehashed(tmp_path: Path) -> None:
    """An old mtime does not make a file safe to reuse while its ctime is recent: a rewrite
    within the same tick with the mtime put back would move neither time."""
    root = _pair(tmp_path / "m")
    _date_back(root)
    previous = gpuhash.hash_path(root, backend="cpu")
    stat = previous["b"].stat
    assert stat is not None
    assert stat[1] == os.stat(root / "b").st_mtime_ns  # the mtime is old enough to record
    assert stat[2] == -1  # the ctime is not
    _rewrite_keeping_mtime(root / "b")
    current, report = gpuhash.rehash(root, previous, backend="cpu")
    assert sorted(report.hashed) == ["a", "b"]
    assert current.artifact_digest == gpuhash.hash_path(root, backend="cpu").artifact_digest


def test_restored_mtime_is_caught_by_the_ctime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A same-size rewrite whose writer put the mtime back (utime) moves the ctime, which the
    manifest records (spec section 8): the file is re-hashed, by ``rehash`` and by ``hash
    --incremental``, never reused with its old digest (it was while ``FileStat`` had no ctime)."""
    roots = {family: _pair(tmp_path / family) for family in FAMILIES}
    _age(*roots.values())
    previous = {
        family: gpuhash.hash_path(root, algorithm=family, leaf_size=1024, backend="cpu")
        for family, root in roots.items()
    }
    for family, root in roots.items():
        recorded = previous[family]["b"].stat
        assert recorded is not None
        assert recorded[2] > 0
        _rewrite_keeping_mtime(root / "b")
        assert os.stat(root / "b").st_ctime_ns != recorded[2]
    _settle(*roots.values())  # the new ctimes are not racy: only their change tells
    for family, root in roots.items():
        current, report = gpuhash.rehash(root, previous[family], backend="cpu")
        assert (report.reused, report.hashed) == (["a"], ["b"])
        full = gpuhash.hash_path(root, algorithm=family, leaf_size=1024, backend="cpu")
        assert current["b"].digest == full["b"].digest != previous[family]["b"].digest
        assert current.artifact_digest == full.artifact_digest != previous[family].artifact_digest
        prev = tmp_path / f"{family}.json"
        prev.write_text(previous[family].to_json())
        capsys.readouterr()
        assert cli.main(["hash", str(root), "--incremental", str(prev)]) == 0
        out, err = capsys.readouterr()
        assert "incremental: 1 objects reused, 1 hashed (6.8 KiB), 0 removed" in err
        assert full.digest_line() in out


def test_full_reports_digests_reused_on_equal_stats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the stat cannot see (here a previous manifest whose digest of ``b`` is wrong while
    ``b``'s stat is the one recorded) is reused; ``full=True`` re-hashes everything and reports
    it in ``stale``, ``--full`` with a warning."""
    roots = {family: _pair(tmp_path / family) for family in FAMILIES}
    _age(*roots.values())
    for family, root in roots.items():
        good = gpuhash.hash_path(root, algorithm=family, leaf_size=1024, backend="cpu")
        wrong = gpuhash.Manifest.build(
            good.algorithm,
            [
                dataclasses.replace(o, digest=good["a"].digest) if o.name == "b" else o
                for o in good.objects
            ],
        )
        stale, report = gpuhash.rehash(root, wrong, backend="cpu")
        assert report.reused == ["a", "b"]  # what the cheap check cannot see
        assert stale.artifact_digest == wrong.artifact_digest
        caught, report = gpuhash.rehash(root, wrong, backend="cpu", full=True)
        assert report.stale == ["b"]
        assert caught.artifact_digest == good.artifact_digest != wrong.artifact_digest
        previous = tmp_path / f"{family}.pb"
        previous.write_bytes(wrong.to_bytes())
        capsys.readouterr()
        assert cli.main(["hash", str(root), "--incremental", str(previous), "--full"]) == 0
        assert capsys.readouterr().err.endswith(
            "gpuhash: warning: b changed although its file's size, modification time, ctime "
            "and inode did not\n"
        )


def test_a_manifest_without_ctimes_is_rehashed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest written before ``FileStat`` had a ctime (gpuhash 0.2.0: no ``ctimeNs``, read
    as 0) says nothing of a rewrite that put the mtime back: every file is re-hashed (spec
    section 8), none reused on its size, mtime, inode and device alone."""
    root = tmp_path / "m"
    root.mkdir()
    for i in range(3):
        (root / f"f{i}").write_bytes(os.urandom(3000 + i))
    _age(root)
    new = tmp_path / "new.json"
    assert cli.main(["hash", str(root), "-o", str(new)]) == 0
    value = json.loads(new.read_text())
    for entry in value["objects"]:
        assert int(entry["stat"]["ctimeNs"]) > 0
        del entry["stat"]["ctimeNs"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(value))
    capsys.readouterr()
    assert cli.main(["hash", str(root), "--incremental", str(old)]) == 0
    assert "incremental: 0 objects reused, 3 hashed (8.8 KiB), 0 removed" in capsys.readouterr().err
    assert cli.main(["hash", str(root), "--incremental", str(new)]) == 0
    assert "incremental: 3 objects reused, 0 hashed (0 B), 0 removed" in capsys.readouterr().err
    previous = gpuhash.Manifest.from_json(old.read_text())
    assert all(o.stat is not None and o.stat[2] == 0 for o in previous.objects)
    from_pb = gpuhash.Manifest.from_bytes(previous.to_bytes())  # the field absent there too
    current, report = gpuhash.rehash(root, from_pb, backend="cpu")
    assert (report.reused, sorted(report.hashed)) == ([], ["f0", "f1", "f2"])
    assert current.artifact_digest == previous.artifact_digest


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
