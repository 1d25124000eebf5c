"""Files that change while they are hashed (spec section 1.2; issue 12, items 4 and 5).

A file is checked (size, mtime, ctime, inode, device) when opened and again once its last bytes
were hashed; a change in between is an ``InputError`` naming it (exit status 2), never a digest
of bytes that never existed together, and a file truncated meanwhile never kills the process.
The changes are made by real backends (``changing_backends``) at a fixed point of the pipeline:
when handed the file's last leaf, before hashing it; no sleeps, no races.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from changing_backends import ACTIONS, ENV, ChangesFile, device_backend

import gpuhash
from gpuhash import proofs
from gpuhash.errors import InputError
from gpuhash.incremental import rehash

TESTS = Path(__file__).parent
SIZE = 3 * (1 << 20) + 5  # two windows (changing_backends.BATCH), the last of 1 MiB + 5 bytes
CHANGED = r"big\.bin: file changed while it was being (hashed|read)$"


def settled(path: Path) -> None:
    """Return once the file system's clock has moved past ``path``'s ctime (at once where the
    kernel gives a changed file a fine-grained timestamp), so that any change to it from now on
    moves its ctime: polled on a scratch file, no sleep."""
    scratch = path.with_name(path.name + ".tick")
    scratch.write_bytes(b"")
    try:
        while os.stat(scratch).st_ctime_ns <= os.stat(path).st_ctime_ns:
            os.utime(scratch)
    finally:
        scratch.unlink()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "model"
    m.mkdir()
    (m / "big.bin").write_bytes(np.random.default_rng(1).bytes(SIZE))
    (m / "config.json").write_bytes(b'{"a": 1}')
    settled(m / "big.bin")
    return m


def test_restore_moves_only_the_ctime(model: Path) -> None:
    """The ``restore`` change is invisible to size and mtime (what the identity had before)."""
    big = model / "big.bin"
    before = os.stat(big)
    data = big.read_bytes()
    ChangesFile("restore", str(big)).watcher.bytes_fed(0, SIZE)
    after = os.stat(big)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert after.st_ctime_ns != before.st_ctime_ns
    assert big.read_bytes() != data


# -- the engine, in process ------------------------------------------------------------------


def test_read_buffers_are_reused_only_once_nothing_holds_them() -> None:
    """Windows read with pread go into reused buffers: never one a view still exports."""
    from gpuhash.batches import Buffers

    buffers = Buffers()
    view, release = buffers.take(8192)
    held = np.frombuffer(view, dtype=np.uint8)  # a backend that kept a view
    release()
    again, release_again = buffers.take(8192)
    assert np.shares_memory(held, np.frombuffer(again, dtype=np.uint8)) is False
    release_again()
    _, release_reused = buffers.take(8192)  # the second one, released by all: reused
    assert len(buffers.free) == 0
    release_reused()
    for _ in range(2 * Buffers.KEEP):
        buffers.take(4096)[1]()
        buffers.take(4096 * 3)[1]()
    assert len(buffers.free) <= Buffers.KEEP
    buffers.close()
    assert buffers.free == []
    del held


@pytest.mark.parametrize("use_mmap", [False, True], ids=["pread", "mmap"])
@pytest.mark.parametrize("family", ["merkle-sha256", "blake3"])
@pytest.mark.parametrize("action", ACTIONS)
def test_a_change_during_the_last_window_is_an_error(
    model: Path, action: str, family: str, use_mmap: bool
) -> None:
    if use_mmap and action == "truncate":
        pytest.skip("a mapping truncated under the hashing is SIGBUS: see the child process test")
    backend = ChangesFile(action, str(model / "big.bin"))
    with pytest.raises(InputError, match=CHANGED):
        gpuhash.hash_path(model, algorithm=family, backend=backend, use_mmap=use_mmap)
    assert backend.watcher.done


def test_the_python_api_reads_by_default(model: Path) -> None:
    """Embedders are safe from SIGBUS without asking: every function that hashes files reads
    them unless told ``use_mmap=True``, and a file truncated under ``hash_path`` called with
    its defaults is an error (mapped, it would have ended this process)."""
    import inspect

    from gpuhash.engine import hash_sources
    from gpuhash.signing.config import SignConfig

    functions: list[Callable[..., Any]] = [gpuhash.hash_path, rehash, proofs.prove_object]
    functions += [gpuhash.sign, gpuhash.verify, hash_sources, SignConfig.set_hashing]
    for f in functions:
        assert inspect.signature(f).parameters["use_mmap"].default is False, f
    assert SignConfig().use_mmap is False
    backend = ChangesFile("truncate", str(model / "big.bin"))
    with pytest.raises(InputError, match=CHANGED):
        gpuhash.hash_path(model, backend=backend)
    assert backend.watcher.done


def test_unchanged_files_hash_as_before(model: Path) -> None:
    """The checks change no digest: the watching backend, watching nothing, agrees with cpu."""
    for family in ("merkle-sha256", "blake3", "lthash16-shake256"):
        for use_mmap in (False, True):
            got = gpuhash.hash_path(
                model, algorithm=family, backend=ChangesFile(), use_mmap=use_mmap
            )
            want = gpuhash.hash_path(model, algorithm=family, backend="cpu")
            assert got.artifact_digest == want.artifact_digest


@pytest.mark.parametrize("action", ["restore", "truncate"])
def test_incremental_rehash_checks_what_it_hashes(model: Path, action: str) -> None:
    """``rehash`` reuses digests on equal stats (spec section 8) and hashes the rest through the
    engine, checked as ever."""
    previous = gpuhash.hash_path(model, backend="cpu")
    big = model / "big.bin"
    big.write_bytes(big.read_bytes()[::-1])  # a new version, to be re-hashed
    settled(big)
    with pytest.raises(InputError, match=CHANGED):
        rehash(model, previous, backend=ChangesFile(action, str(big)), use_mmap=False)


# -- proofs, loading, model_signing's format --------------------------------------------------


@pytest.mark.parametrize("use_mmap", [False, True], ids=["pread", "mmap"])
@pytest.mark.parametrize("action", ACTIONS)
def test_prove_checks_the_file_after_hashing(
    model: Path, action: str, use_mmap: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if use_mmap and action == "truncate":
        pytest.skip("a mapping truncated under the hashing is SIGBUS: see the child process test")
    monkeypatch.setattr(proofs, "READ_WINDOW", 1 << 20)  # several reads
    backend = ChangesFile(action, str(model / "big.bin"))
    with pytest.raises(InputError, match=CHANGED):
        proofs.prove_object(model, "big.bin", 0, 1, backend=backend, use_mmap=use_mmap)
    assert backend.watcher.done


@pytest.mark.parametrize("action", ACTIONS)
def test_load_safetensors_checks_the_file_after_hashing(tmp_path: Path, action: str) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    save_file({"a": np.arange(5000, dtype=np.float32), "b": np.ones(7, np.int8)}, str(path))
    manifest = gpuhash.hash_path(path, objects="tensors", backend="cpu")
    settled(path)
    backend = ChangesFile(action, str(path), when="first")
    with pytest.raises(InputError, match=r"m\.safetensors: file changed while it was being read$"):
        gpuhash.load_safetensors(path, manifest, backend=backend)
    assert backend.watcher.done


def _on_last_bytes(action: str, path: Path) -> Any:
    """A progress callback that changes ``path`` when every byte is done (one file)."""
    done_once: list[bool] = []

    def progress(done: int, total: int) -> None:
        if done == total and total and not done_once:
            done_once.append(True)
            ChangesFile(action, str(path)).watcher.bytes_fed(0, path.stat().st_size)

    return progress


@pytest.mark.parametrize("use_mmap", [False, True], ids=["pread", "mmap"])
@pytest.mark.parametrize("shards", [None, 1 << 20])
@pytest.mark.parametrize("action", ACTIONS)
def test_oms_checks_each_file_after_hashing_it(
    model: Path,
    tmp_path: Path,
    ec_keys: tuple[Path, Path],
    action: str,
    shards: int | None,
    use_mmap: bool,
) -> None:
    private, public = ec_keys
    big = model / "big.bin"
    (model / "config.json").unlink()  # one file: its last bytes are the last bytes hashed
    sig = tmp_path / "m.sig"
    options: dict[str, Any] = {"format": "oms", "shard_size": shards, "use_mmap": use_mmap}
    gpuhash.sign(model, sig, method="key", private_key=private, **options)
    settled(big)
    del options["format"], options["shard_size"]
    with pytest.raises(InputError, match=CHANGED):
        gpuhash.verify(
            model,
            sig,
            method="key",
            public_key=public,
            progress=_on_last_bytes(action, big),
            **options,
        )
    settled(big)
    with pytest.raises(InputError, match=CHANGED):
        gpuhash.sign(
            model,
            tmp_path / "again.sig",
            method="key",
            private_key=private,
            format="oms",
            shard_size=shards,
            use_mmap=use_mmap,
            progress=_on_last_bytes(action, big),
        )


# -- device backends (Intel's CPU runtimes) ---------------------------------------------------


def _device_backends(action: str, path: str) -> list[Any]:
    out = []
    try:
        import gpuhash_intel
    except ImportError:
        pass
    else:
        out.append(device_backend(gpuhash_intel.IntelBackend, action, path, device="opencl:cpu"))
    try:
        import file_reading_backends  # reads windows into device memory itself (read_file)
    except ImportError:
        pass
    else:
        out.append(device_backend(file_reading_backends.ReadsFiles, action, path))
    return out


@pytest.mark.parametrize("action", ACTIONS)
def test_device_backends_and_their_own_file_reads(model: Path, action: str) -> None:
    if not _device_backends("rewrite", str(model / "big.bin")):
        pytest.skip("no Intel device runtime here")
    for backend in _device_backends(action, str(model / "big.bin")):
        try:
            with pytest.raises(InputError, match=CHANGED):
                gpuhash.hash_path(model, backend=backend, use_mmap=False)
            assert backend.watcher.done
        finally:
            backend.close()
        (model / "big.bin").write_bytes(np.random.default_rng(1).bytes(SIZE))
        settled(model / "big.bin")


# -- every command, in a child process ---------------------------------------------------------


def _site(tmp_path: Path) -> Path:
    """A folder with a distribution that registers ``changes`` as a backend (an entry point)."""
    site = tmp_path / "site"
    info = site / "gpuhash_test_changes-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gpuhash-test-changes\nVersion: 0\n"
    )
    (info / "entry_points.txt").write_text(
        "[gpuhash.backends]\nchanges = changing_backends:ChangesFile\n"
    )
    return site


def _child(tmp_path: Path, change: str | None, *argv: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    path = [str(_site(tmp_path)), str(TESTS), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    env.pop(ENV, None)
    if change is not None:
        env[ENV] = change
    return subprocess.run(
        [sys.executable, "-m", "gpuhash", *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _commands(model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]) -> dict[str, list[Any]]:
    private, public = ec_keys
    sig = tmp_path / "m.sig"
    gpuhash.sign(model, sig, method="key", private_key=private)
    manifest = tmp_path / "m.json"
    manifest.write_text(gpuhash.hash_path(model, backend="cpu").to_json())
    old = tmp_path / "old.json"
    old.write_text(gpuhash.hash_path(model, backend="cpu").to_json())
    return {
        "digest": ["digest", model],
        "hash": ["hash", model],
        "hash-incremental": ["hash", model, "--incremental", old, "--full"],
        "sign": [
            "sign",
            "key",
            model,
            "--signature",
            tmp_path / "new.sig",
            "--private-key",
            private,
        ],
        "verify": ["verify", "key", model, "--signature", sig, "--public-key", public],
        "check": ["check", manifest, model],
        "prove": ["prove", model, "--object", "big.bin", "--range", "0:1", "-o", tmp_path / "p"],
    }


@pytest.mark.parametrize("action", ["truncate", "restore", "extend"])
@pytest.mark.parametrize(
    "command", ["digest", "hash", "hash-incremental", "sign", "verify", "check", "prove"]
)
def test_every_command_reports_the_file_and_exits_2(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path], command: str, action: str
) -> None:
    argv = _commands(model, tmp_path, ec_keys)[command]
    settled(model / "big.bin")
    done = _child(tmp_path, f"{action}:{model / 'big.bin'}", *argv, "--backend", "changes")
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("gpuhash: error: big.bin: file changed while it was being")
    assert "Traceback" not in done.stderr


def test_unwatched_the_commands_succeed(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    """The guard of the test above: the same commands through the same backend, no change."""
    for command, argv in _commands(model, tmp_path, ec_keys).items():
        done = _child(tmp_path, None, *argv, "--backend", "changes")
        assert done.returncode == 0, (command, done.stderr)


def test_a_truncated_mapping_still_kills_with_mmap(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    """What the default (pread) prevents: with ``--mmap`` (before, the default) the same
    truncation under ``verify`` ends the process with SIGBUS."""
    argv = _commands(model, tmp_path, ec_keys)["verify"]
    done = _child(
        tmp_path, f"truncate:{model / 'big.bin'}", *argv, "--backend", "changes", "--mmap"
    )
    assert done.returncode == -signal.SIGBUS, (done.returncode, done.stderr)
