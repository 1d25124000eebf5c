"""Exit statuses and leftovers under hostile input (issue 12, item 7): a signed tensor file
that no longer parses is a failed verification naming it (exit 1), not an input error; the
temporary file of a killed write is cleaned on the next write of its destination and is never
an object of the model; a full file system is one line naming the file being written."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_run import one_error_line, run

import gpuhash
from gpuhash import atomic
from gpuhash.signing import VerificationFailed


def _safetensors(path: Path, tensors: dict[str, int]) -> None:
    """A small safetensors file: one F32 vector of ``n`` elements per name, all zeros."""
    header, at = {}, 0
    for name, n in tensors.items():
        header[name] = {"dtype": "F32", "shape": [n], "data_offsets": [at, at + 4 * n]}
        at += 4 * n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(at))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "m"
    m.mkdir()
    _safetensors(m / "model.safetensors", {"w": 4, "b": 2})
    (m / "config.json").write_text('{"layers": 1}\n', encoding="utf-8")
    return m


def _corrupt_header(path: Path) -> None:
    """The header JSON of a safetensors file, no longer JSON (its size unchanged)."""
    data = bytearray(path.read_bytes())
    data[8] = ord("x")
    path.write_bytes(bytes(data))


def _sign(
    capsys: pytest.CaptureFixture[str], model: Path, sig: Path, key: Path, *extra: str
) -> None:
    code, _, err = run(
        capsys, "sign", "key", model, "--signature", sig, "--private-key", key, *extra
    )
    assert code == 0, err


# -- (a) a signed tensor file that no longer parses ----------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (_corrupt_header, "header is not valid JSON"),
        (lambda p: p.write_bytes(p.read_bytes()[:-3]), "data_offsets out of range"),
        (lambda p: p.write_bytes(p.read_bytes()[:5]), "too short for a safetensors file"),
    ],
    ids=["header", "truncated", "stub"],
)
def test_unparsable_signed_file_fails_verification(
    model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ec_keys: tuple[Path, Path],
    tamper: Callable[[Path], object],
    why: str,
) -> None:
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    _sign(capsys, model, sig, private, "--objects", "tensors")
    tamper(model / "model.safetensors")
    code, out, err = run(capsys, "verify", "key", model, "--signature", sig, "--public-key", public)
    assert code == 1, err
    (line,) = out.splitlines()
    assert line.startswith("changed: model.safetensors (its header no longer parses: "), line
    assert why in line
    assert "model.safetensors: " not in line  # the file is named once, first
    one_error_line(err, "verification failed", "1 changed, 0 missing, 0 extra (1 object)")


def test_unparsable_file_in_the_library_result(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path]
) -> None:
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    gpuhash.sign(model, sig, method="key", private_key=private, objects="tensors")
    _corrupt_header(model / "model.safetensors")
    with pytest.raises(VerificationFailed) as info:
        gpuhash.verify(model, sig, method="key", public_key=public)
    result = info.value.result
    assert (result.missing, result.extra) == ([], [])
    (changed,) = result.changed
    assert changed.name == "model.safetensors"
    assert changed.ranges is None
    assert changed.reason is not None
    assert "header is not valid JSON" in changed.reason
    # --only: a selected tensor of that file is reported the same way; another file's are not.
    with pytest.raises(VerificationFailed) as info:
        gpuhash.verify(model, sig, method="key", public_key=public, only=["model.safetensors::w"])
    assert [c.name for c in info.value.result.changed] == ["model.safetensors"]
    assert info.value.result.missing == []
    assert gpuhash.verify(model, sig, method="key", public_key=public, only=["config.json"]).ok


def test_unparsable_file_fails_check(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "manifest.json"
    code, _, err = run(capsys, "hash", model, "--objects", "tensors", "-o", manifest)
    assert code == 0, err
    _corrupt_header(model / "model.safetensors")
    code, out, err = run(capsys, "check", manifest, model)
    assert code == 1, err
    (line,) = out.splitlines()
    assert line.startswith("changed: model.safetensors (its header no longer parses: "), line
    one_error_line(err, "check failed", "does not match its manifest", "1 changed")


def test_unparsable_gguf_fails_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    gguf = pytest.importorskip("gguf")
    import numpy as np

    m = tmp_path / "m"
    m.mkdir()
    w = gguf.GGUFWriter(str(m / "model.gguf"), "llama")
    w.add_tensor("tok.weight", np.arange(64, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    _sign(capsys, m, sig, private, "--objects", "tensors")
    data = (m / "model.gguf").read_bytes()
    (m / "model.gguf").write_bytes(data[: len(data) // 3])
    code, out, err = run(capsys, "verify", "key", m, "--signature", sig, "--public-key", public)
    assert code == 1, err
    (line,) = out.splitlines()
    assert line.startswith("changed: model.gguf (its header no longer parses: "), line
    one_error_line(err, "verification failed", "1 changed")


def test_damaged_file_in_a_model_signing_signature(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    """model_signing's format covers files as bytes: a damaged header is a changed file, with
    the same ``changed: FILE`` line."""
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    _sign(capsys, model, sig, private, "--format", "oms")
    _corrupt_header(model / "model.safetensors")
    code, out, err = run(capsys, "verify", "key", model, "--signature", sig, "--public-key", public)
    assert code == 1, err
    assert out == "changed: model.safetensors\n"
    one_error_line(err, "verification failed", "1 changed")


def test_unparsable_unsigned_file(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    """Only files the signature lists count: an unparsable file it does not list is an extra
    file (named as a file), and with --ignore-unsigned-files it is not even read."""
    private, public = ec_keys
    sig = tmp_path / "model.sig"
    _sign(capsys, model, sig, private, "--objects", "tensors")
    (model / "junk.safetensors").write_bytes(b"\xff" * 40)
    argv = ("verify", "key", model, "--signature", sig, "--public-key", public)
    code, out, err = run(capsys, *argv)
    assert code == 1, err
    assert out == "extra (not signed): junk.safetensors\n"
    one_error_line(err, "verification failed", "0 changed, 0 missing, 1 extra (1 object)")
    code, out, err = run(capsys, *argv, "--ignore-unsigned-files")
    assert (code, err) == (0, ""), err
    assert out.startswith("verified ")
    # A parsable unsigned file is still listed by its objects, as before.
    (model / "junk.safetensors").unlink()
    _safetensors(model / "more.safetensors", {"v": 1})
    code, out, err = run(capsys, *argv)
    assert code == 1, err
    assert out.splitlines() == [
        "extra (not signed): more.safetensors::__metadata__",
        "extra (not signed): more.safetensors::v",
    ]


def test_a_file_changing_while_verified_stays_an_input_error(
    model: Path, tmp_path: Path, ec_keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the bytes of the file as listed not parsing make it a changed object: a file that
    changed since it was listed is an input error (exit 2), as when hashing it."""
    from gpuhash.errors import InputError
    from gpuhash.signing import native

    private, public = ec_keys
    sig = tmp_path / "model.sig"
    gpuhash.sign(model, sig, method="key", private_key=private, objects="tensors")

    def rewritten_meanwhile(src: object, prefix: bytes) -> list[object]:
        with open(model / "model.safetensors", "ab") as f:
            f.write(b"\0" * 8)
        raise InputError("not a valid safetensors file: model.safetensors: header truncated")

    monkeypatch.setattr(native, "tensor_sources", rewritten_meanwhile)
    with pytest.raises(InputError, match="header truncated"):
        gpuhash.verify(model, sig, method="key", public_key=public)


def test_unparsable_signature_or_manifest_is_not_a_changed_object(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    """The signature or manifest itself not parsing keeps its status: a malformed signature
    does not verify (exit 1, one line naming it), a manifest that does not parse is an input
    error (exit 2); neither prints a ``changed:`` line."""
    bad = tmp_path / "bad.sig"
    bad.write_text('{"a":', encoding="utf-8")
    code, out, err = run(
        capsys, "verify", "key", model, "--signature", bad, "--public-key", ec_keys[1]
    )
    assert (code, out) == (1, "")
    one_error_line(err, "verification failed", "not valid JSON")
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{", encoding="utf-8")
    code, out, err = run(capsys, "check", manifest, model)
    assert (code, out) == (2, "")
    one_error_line(err, "manifest.json")


# -- (b) the temporary file of a killed write ----------------------------------------------------

#: A child that writes DEST with write_atomic and is killed (SIGKILL) where it would rename its
#: temporary file over DEST: the deterministic seam between creating and renaming.
_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from gpuhash import atomic

    def killed(src, dst):
        os.kill(os.getpid(), signal.SIGKILL)

    atomic.os.replace = killed
    atomic.write_atomic(sys.argv[1], b"half a signature")
    """
)


def _killed_write(dest: Path) -> Path:
    """Run the killed writer on ``dest``; the temporary file it left behind."""
    before = set(dest.parent.iterdir())
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(dest)], capture_output=True, check=False
    )
    assert proc.returncode == -9, proc.stderr
    (left,) = set(dest.parent.iterdir()) - before
    assert atomic.is_temp_name(left.name, dest.name), left
    assert left.read_bytes() == b"half a signature"
    return left


def _age(path: Path, seconds: float = 3600) -> None:
    """Step past ``atomic.LEFTOVER_GRACE_S``: the file as if last written ``seconds`` ago."""
    then = path.lstat().st_mtime - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_leftover_of_a_killed_sign_is_no_object_and_is_cleaned(
    model: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    private, public = ec_keys
    sig = model / "model.sig"  # inside the model: the signature is not one of its objects
    _sign(capsys, model, sig, private)
    left = _killed_write(sig)
    verify = ("verify", "key", model, "--signature", sig, "--public-key", public)
    code, out, err = run(capsys, *verify)
    assert (code, err) == (0, ""), out + err
    assert out.startswith("verified ")
    # A sign while it lies there does not sign it (it would then go missing once cleaned)...
    _sign(capsys, model, sig, private)
    assert left.exists()  # written a moment ago: within the grace period, kept
    # ...and the next write of the signature, once the leftover is old, removes it.
    _age(left)
    _sign(capsys, model, sig, private)
    assert not left.exists()
    assert sorted(p.name for p in model.iterdir()) == [
        "config.json",
        "model.safetensors",
        "model.sig",
    ]
    code, out, err = run(capsys, *verify)
    assert (code, err) == (0, ""), out + err


def test_only_regular_files_are_taken_for_leftovers(
    model: Path, capsys: pytest.CaptureFixture[str], ec_keys: tuple[Path, Path]
) -> None:
    """A directory named like a leftover is no leftover (write_atomic makes files only): what
    it holds is still checked."""
    private, public = ec_keys
    sig = model / "model.sig"
    _sign(capsys, model, sig, private)
    (model / ".model.sig.0123456789ab.tmp").mkdir()
    (model / ".model.sig.0123456789ab.tmp" / "x").write_bytes(b"x")
    code, out, err = run(capsys, "verify", "key", model, "--signature", sig, "--public-key", public)
    assert code == 1, err
    assert out == "extra (not signed): .model.sig.0123456789ab.tmp/x\n"


def test_leftover_of_a_killed_manifest_write(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``hash -o M/manifest.json`` and ``check``: the manifest's leftover is no object either,
    and the next ``hash -o`` cleans it."""
    manifest = model / "manifest.json"
    code, _, err = run(capsys, "hash", model, "-o", manifest)
    assert code == 0, err
    left = _killed_write(manifest)
    code, out, err = run(capsys, "check", manifest)
    assert (code, err) == (0, ""), out + err
    _age(left)
    code, _, err = run(capsys, "hash", model, "-o", manifest)
    assert code == 0, err
    assert not left.exists()
    code, out, err = run(capsys, "check", manifest)
    assert (code, err) == (0, ""), out + err


def test_only_abandoned_leftovers_of_the_destination_are_removed(tmp_path: Path) -> None:
    dest = tmp_path / "out.sig"
    hexes = iter(f"{i:012x}" for i in range(1, 100))

    def temp(base: str = "out.sig") -> Path:
        return tmp_path / f".{base}.{next(hexes)}.tmp"

    abandoned = temp()
    abandoned.write_bytes(b"x")
    fresh = temp()
    fresh.write_bytes(b"x")  # just written: its writer may not have locked it yet
    other = temp("other.sig")  # another destination's
    other.write_bytes(b"x")
    near = [
        tmp_path / ".out.sig.0123456789AB.tmp",  # not write_atomic's hex
        tmp_path / ".out.sig.0123456789a.tmp",  # too short
        tmp_path / "out.sig.0123456789ab.tmp",  # not hidden
        tmp_path / ".out.sig.0123456789ab.tmp.x",
    ]
    for p in near:
        p.write_bytes(b"x")
    target = tmp_path / "target"
    target.write_bytes(b"kept")
    link = temp()
    link.symlink_to(target)  # a link is never followed nor removed
    directory = temp()
    directory.mkdir()
    locked = temp()
    locked.write_bytes(b"x")  # a live writer holds a lock on its temporary file
    import fcntl

    holder = os.open(locked, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        for p in (abandoned, other, locked, *near):
            _age(p)
        _age(link)
        assert atomic.leftovers(dest) == sorted(str(p) for p in (abandoned, fresh, locked))
        atomic.write_atomic(dest, b"new")
    finally:
        os.close(holder)
    assert dest.read_bytes() == b"new"
    assert not abandoned.exists()
    for p in (fresh, other, locked, *near, directory):
        assert p.exists(), p
    assert link.is_symlink()
    assert target.read_bytes() == b"kept"


def test_leftovers_of_another_user_are_kept(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    dest = tmp_path / "out.sig"
    theirs = tmp_path / ".out.sig.00000000beef.tmp"
    theirs.write_bytes(b"x")
    os.chown(theirs, 65534, 65534)
    _age(theirs)
    atomic.write_atomic(dest, b"new")
    assert theirs.exists()


def test_a_write_in_progress_is_not_a_leftover_to_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer holds a lock on its temporary file until it has renamed it: another writer
    of the same destination, cleaning leftovers, leaves it alone (even once it is old)."""
    dest = tmp_path / "out.sig"
    real_replace = os.replace
    outer: list[str] = []

    def meanwhile(src: str, dst: str) -> None:
        if not outer:
            outer.append(src)
            _age(Path(src))
            atomic.write_atomic(dest, b"second")  # cleans the leftovers of dest: not ours
            assert Path(src).exists()
        real_replace(src, dst)

    monkeypatch.setattr("gpuhash.atomic.os.replace", meanwhile)
    atomic.write_atomic(dest, b"first")
    assert outer
    assert dest.read_bytes() == b"first"
    assert atomic.leftovers(dest) == []


# -- (c) a full file system ----------------------------------------------------------------------


def _fill(path: Path) -> None:
    """Write ``path`` until its file system has no byte left."""
    with open(path, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)


@pytest.fixture
def full_fs(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs, filled up: a new empty file still fits, no byte does (skipped where
    mounting is not permitted)."""
    where = tmp_path / "full"
    where.mkdir()
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("no mount command")
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode(errors='replace').strip()}")
    try:
        _fill(where / "filler")
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.mark.parametrize("command", ["sign", "hash", "prove"])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "replaced"])
def test_no_space_names_the_file_being_written(
    model: Path,
    full_fs: Path,
    capsys: pytest.CaptureFixture[str],
    ec_keys: tuple[Path, Path],
    command: str,
    existing: bool,
) -> None:
    dest = full_fs / "out.json"
    previous = b"previous"
    if existing:
        # Each command replaces only what it writes: a signature, a manifest, a proof.
        earlier = full_fs.parent / "previous.out"
        if command == "sign":
            _sign(capsys, model, earlier, ec_keys[0])
        elif command == "hash":
            assert run(capsys, "hash", model, "-o", earlier)[0] == 0
        else:
            argv = ["prove", model, "--object", "config.json", "--range", "0:2", "-o", earlier]
            assert run(capsys, *argv)[0] == 0
        previous = earlier.read_bytes()
        (full_fs / "filler").unlink()
        dest.write_bytes(previous)
        _fill(full_fs / "filler")
    argv = {
        "sign": ["sign", "key", model, "--signature", dest, "--private-key", ec_keys[0]],
        "hash": ["hash", model, "-o", dest],
        "prove": ["prove", model, "--object", "config.json", "--range", "0:1", "-o", dest],
    }[command]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, ""), err
    one_error_line(err, f"{dest}: cannot write: No space left on device")
    assert ".tmp" not in err
    # Nothing half-written: the old file as it was (or none), no temporary file.
    expected = ["filler", "out.json"] if existing else ["filler"]
    assert sorted(p.name for p in full_fs.iterdir()) == expected
    if existing:
        assert dest.read_bytes() == previous


@pytest.mark.parametrize(
    "argv", [["digest", "--backend", "cpu"], ["hash", "--backend", "cpu", "--json"]]
)
def test_a_full_standard_output_is_named(tmp_path: Path, argv: list[str]) -> None:
    """Output to a full device (``> /dev/full``): one line naming standard output, exit 2."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    (tmp_path / "m.bin").write_bytes(b"model")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "gpuhash", *argv, str(tmp_path / "m.bin")],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "gpuhash: error: standard output: cannot write: No space left on device\n"
    )
