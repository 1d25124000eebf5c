"""The files a command reads beside the model (keys, signatures, manifests, proofs) and the
files it writes (``-o``, ``--signature``, ``--report``): reading never waits on a named pipe,
and writing never replaces a file the command did not write (a model's file, a link, a
device, a pipe). Found by an outside hostile-input pass: ``hash -o`` and ``prove -o`` replaced
the model's weights with a manifest, ``-o /dev/full`` replaced the device with a file, and a
named pipe as a key or manifest blocked forever. And a Hugging Face cache repository folder given
as the model is answered with the snapshot to hash."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import one_error_line, run

from gpuhash import limits
from gpuhash.atomic import check_destination, write_atomic
from gpuhash.errors import UsageError

WEIGHTS = bytes(range(256)) * 40


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "model"
    m.mkdir()
    (m / "weights.bin").write_bytes(WEIGHTS)
    (m / "config.json").write_bytes(b'{"layers": 2}')
    return m


def _outputs(model: Path, out: Path) -> list[list[object]]:
    return [
        ["hash", model, "-o", out],
        ["hash", model / "weights.bin", "-o", out],
        ["prove", model, "--object", "weights.bin", "--range", "0:10", "-o", out],
    ]


@pytest.mark.parametrize("index", range(3), ids=["hash", "hash-file", "prove"])
@pytest.mark.parametrize("name", ["weights.bin", "config.json"])
def test_an_output_never_overwrites_a_file_it_did_not_write(
    model: Path, capsys: pytest.CaptureFixture[str], index: int, name: str
) -> None:
    target = model / name
    before = target.read_bytes()
    code, out, err = run(capsys, *_outputs(model, target)[index])
    assert (code, out) == (2, "")
    one_error_line(err, f"{target}: exists and is not a ", "not overwriting it")
    assert target.read_bytes() == before


@pytest.mark.parametrize("index", range(3), ids=["hash", "hash-file", "prove"])
def test_an_output_replaces_its_own_earlier_output_and_an_empty_file(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], index: int
) -> None:
    out = tmp_path / "out.json"
    out.write_bytes(b"")  # mktemp's file: nothing to lose
    argv = _outputs(model, out)[index]
    assert run(capsys, *argv)[0] == 0
    first = out.read_bytes()
    assert first
    assert run(capsys, *argv)[0] == 0  # the same output again: it is one of the command's
    assert out.read_bytes() == first


@pytest.mark.parametrize("index", range(3), ids=["hash", "hash-file", "prove"])
@pytest.mark.parametrize("kind", ["fifo", "symlink", "dangling"])
def test_an_output_never_replaces_a_link_or_a_pipe(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], index: int, kind: str
) -> None:
    out = tmp_path / "out.json"
    if kind == "fifo":
        os.mkfifo(out)
        needle = "a named pipe"
    else:
        out.symlink_to(model / "weights.bin" if kind == "symlink" else tmp_path / "nowhere")
        needle = "a symbolic link"
    code, _, err = run(capsys, *_outputs(model, out)[index])
    assert code == 2
    one_error_line(err, f"{out}: exists and is {needle}; not replacing it")
    assert out.is_fifo() if kind == "fifo" else out.is_symlink()
    assert (model / "weights.bin").read_bytes() == WEIGHTS


def test_write_atomic_itself_never_replaces_a_pipe_or_a_link(tmp_path: Path) -> None:
    """The Python API's writers too: the check holds at the write, not only before the work."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    for path, kind in ((pipe, "a named pipe"), (link, "a symbolic link")):
        with pytest.raises(UsageError, match=f"exists and is {kind}; not replacing it$"):
            write_atomic(path, b"x")
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "pipe"]


def test_a_character_device_is_never_an_output(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^/dev/null: exists and is a character device"):
        check_destination("/dev/null")


def test_a_signature_destination_that_is_a_pipe_is_refused_at_once(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = tmp_path / "key.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    sig = tmp_path / "sig"
    os.mkfifo(sig)
    code, _, err = run(capsys, "sign", "key", model, "--signature", sig, "--private-key", key)
    assert code == 2
    one_error_line(err, f"{sig}: exists and is a named pipe; not replacing it")


_READ_PIPE = """
import sys
from gpuhash import cli, limits
limits.PIPE_WAIT_S = 0.5
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["check", "{p}", "{m}"], "the manifest is empty"),
        (["hash", "{m}", "--incremental", "{p}"], "is empty"),
        (["verify", "key", "{m}", "--signature", "{p}", "--public-key", "{p}"], "not a PEM"),
        (["sign", "key", "{m}", "--signature", "{s}", "--private-key", "{p}"], "not a PEM"),
    ],
    ids=["check", "incremental", "verify", "sign"],
)
def test_a_named_pipe_without_a_writer_is_read_as_empty(
    model: Path, tmp_path: Path, argv: list[str], needle: str
) -> None:
    """Opening a pipe for reading waits for a writer, forever if none comes: side files are
    opened without waiting, and a pipe nobody writes to within the wait reads as empty, which
    is refused."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    args = [a.format(p=pipe, m=model, s=tmp_path / "s.sig") for a in argv]
    done = subprocess.run(
        [sys.executable, "-c", _READ_PIPE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (1, 2)  # an empty signature is a failed verification
    one_error_line(done.stderr, f"{pipe}: ", needle)


def test_a_named_pipe_whose_writer_comes_later_is_read(tmp_path: Path) -> None:
    """``mkfifo k; gpg -d k.gpg > k & gpuhash sign --private-key k``: the writer may open the
    pipe after gpuhash did, and write in pieces; what it writes is read, to its end."""
    import threading
    import time

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)

    def writer() -> None:
        time.sleep(0.5)
        with open(pipe, "wb", buffering=0) as f:
            f.write(b"first ")
            time.sleep(0.3)
            f.write(b"second")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert limits.read_limited(pipe, 100, "private key") == b"first second"
    finally:
        thread.join()


def test_a_named_pipe_waits_a_bounded_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setattr(limits, "PIPE_WAIT_S", 0.3)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    start = time.monotonic()
    assert limits.read_limited(pipe, 100, "manifest") == b""
    assert 0.3 <= time.monotonic() - start < 5


def test_a_pipe_with_a_writer_is_read_to_its_end() -> None:
    """What ``--public-key <(cat key.pem)`` hands over: a pipe whose writer is there."""
    r, w = os.pipe()
    try:
        os.write(w, b"key bytes")
        os.close(w)
        assert limits.read_limited(f"/dev/fd/{r}", 100, "public key") == b"key bytes"
    finally:
        os.close(r)


def test_an_empty_manifest_is_named_as_empty(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "spec version 0", which is what an empty protobuf message decodes to."""
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    for argv in (["check", empty, model], ["hash", model, "--incremental", empty]):
        code, _, err = run(capsys, *argv)
        assert code == 2
        one_error_line(err, f"{empty}: the ", "manifest is empty")


@pytest.mark.parametrize("below", ["", "snapshots"], ids=["repository", "snapshots"])
def test_a_hugging_face_cache_repository_is_named_with_the_revision_to_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], below: str
) -> None:
    """The repository folder a cache scan shows (``models--ORG--NAME``) is not a model: its
    snapshot links are refused as links anywhere but in a snapshot, and the error names the
    snapshot of ``refs/main`` to hash instead of leaving ``--allow-symlinks`` (which would
    hash every blob, ref and revision) as the fix in sight."""
    from hf_layouts import FILES_1, FILES_2, REV_1, REV_2, write_cache

    repo = write_cache(tmp_path / "hub", {REV_1: FILES_1, REV_2: FILES_2})
    given = repo / below if below else repo
    code, _, err = run(capsys, "digest", given)
    assert code == 2
    snapshot = given / REV_2 if below else given / "snapshots" / REV_2
    one_error_line(
        err,
        "symbolic links are not allowed",
        f"({repo.name} is a Hugging Face cache repository: hash one revision, {snapshot})",
    )
    assert run(capsys, "digest", snapshot)[0] == 0


def test_a_conformance_report_never_overwrites_another_file(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = model / "weights.bin"
    code, _, err = run(capsys, "conformance", "cpu", "--report", target)
    assert code == 2
    one_error_line(err, f"{target}: exists and is not a conformance report; not overwriting it")
    assert target.read_bytes() == WEIGHTS


def test_one_object_is_counted_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.bin"
    one.write_bytes(b"x")
    manifest = tmp_path / "one.json"
    assert run(capsys, "hash", one, "-o", manifest)[0] == 0
    code, out, _ = run(capsys, "check", manifest, one)
    assert code == 0
    assert out.startswith(f"checked {one}: 1 object, ")


def test_signing_error_is_public_like_every_other_error() -> None:
    import gpuhash
    from gpuhash.errors import GpuhashError, SigningError

    assert gpuhash.SigningError is SigningError
    assert issubclass(gpuhash.SigningError, GpuhashError)
    assert "SigningError" in gpuhash.__all__


@pytest.mark.parametrize(
    "earlier",
    [
        b'{"specVersion": 2, "algorithm": {"id": "gh2-future"}, "objects": []}',  # a later version
        b'{"specVersion": 1, "algorithm": {}, "objects": [], "artifactDigest": "AAAA"}',  # damaged
    ],
    ids=["newer", "damaged"],
)
def test_an_output_replaces_an_earlier_manifest_it_cannot_read(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], earlier: bytes
) -> None:
    """What -o may replace is recognised, not validated: a manifest of another version, or one
    that no longer checks out, is still the command's own output."""
    out = tmp_path / "out.json"
    out.write_bytes(earlier)
    assert run(capsys, "hash", model, "-o", out)[0] == 0
    assert out.read_bytes() != earlier
