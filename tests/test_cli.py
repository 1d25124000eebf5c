"""The ``gpuhash`` command line: outputs against the reference, manifests, errors, exit codes."""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

import hf_layouts as hf
import pytest
from cli_run import one_error_line as assert_one_error_line
from cli_run import run

import gpuhash
from gpuhash import atomic, cli
from gpuhash import reference as ref
from gpuhash.cli.progress import Progress
from gpuhash.manifest import Manifest

FAMILIES = ref.FAMILIES
LEAF = "1k"
LEAF_BYTES = 1024


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def make_model(root: Path) -> Path:
    """A small model directory: nested files, an empty file, names that sort by bytes, .git."""
    rng = random.Random(1234)
    model = root / "model"
    (model / "sub" / "dir").mkdir(parents=True)
    (model / ".git").mkdir()
    (model / "config.json").write_text('{"hidden_size": 8}\n', encoding="utf-8")
    (model / "weights.bin").write_bytes(rng.randbytes(3 * LEAF_BYTES + 17))
    (model / "empty.txt").write_bytes(b"")
    (model / "a-b").write_bytes(b"dash")
    (model / "a.txt").write_bytes(b"dot")
    (model / "sub" / "dir" / "tensor.bin").write_bytes(rng.randbytes(2 * LEAF_BYTES + 1))
    (model / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    return model


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model(tmp_path)


def expected(
    path: Path,
    algorithm_id: str,
    ignore_paths: tuple[str, ...] = (),
    allow_symlinks: bool = False,
) -> tuple[list[ref.Entry], bytes]:
    """Entries and artifact digest from the stdlib reference, independently of the CLI."""
    return ref.hash_model(str(path), algorithm_id, ignore_paths, allow_symlinks)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ---------------------------------------------------------------------------------------------
# digest
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_digest_matches_reference(
    model: Path, family: str, capsys: pytest.CaptureFixture[str]
) -> None:
    alg_id = ref.algorithm_id(family, LEAF_BYTES)
    _, digest = expected(model, alg_id)
    code, out, err = run(capsys, "digest", model, "--algorithm", family, "--leaf-size", LEAF)
    assert (code, err) == (0, "")
    assert out == f"{alg_id}:{digest.hex()}\n"


@pytest.mark.parametrize("backend", ["cpu", "reference", "auto"])
def test_digest_backends_agree(
    model: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, digest = expected(model, "gh1-merkle-sha256-1k")
    code, out, _ = run(capsys, "digest", model, "-l", LEAF, "--backend", backend)
    assert code == 0
    assert out == f"gh1-merkle-sha256-1k:{digest.hex()}\n"


def test_digest_default_algorithm(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, digest = expected(model, "gh1-merkle-sha256-64k")
    code, out, _ = run(capsys, "digest", model)
    assert code == 0
    assert out == f"gh1-merkle-sha256-64k:{digest.hex()}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["--algorithm", "gh1-merkle-sha512-1k"],
        ["--algorithm", "gh1-merkle-sha512-1k", "--leaf-size", "1024"],
        ["--algorithm", "merkle-sha512", "--leaf-size", "1024"],
        ["--algorithm", "merkle-sha512", "--leaf-size", "1k"],
        ["--algorithm", "merkle-sha512", "--leaf-size", "1KiB"],
        ["-a", "merkle-sha512", "-l", "1kb"],
    ],
)
def test_algorithm_and_leaf_size_spellings(
    model: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, digest = expected(model, "gh1-merkle-sha512-1k")
    code, out, _ = run(capsys, "digest", model, *args)
    assert code == 0
    assert out == f"gh1-merkle-sha512-1k:{digest.hex()}\n"


def test_leaf_size_in_mebibytes(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, digest = expected(model, "gh1-merkle-sha256-1m")
    code, out, _ = run(capsys, "digest", model, "--leaf-size", "1m")
    assert code == 0
    assert out == f"gh1-merkle-sha256-1m:{digest.hex()}\n"


def test_digest_of_single_file(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = model / "weights.bin"
    _, digest = expected(path, "gh1-blake3")
    code, out, _ = run(capsys, "digest", path, "-a", "blake3")
    assert code == 0
    assert out == f"gh1-blake3:{digest.hex()}\n"


def test_ignore_paths(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries, digest = expected(model, "gh1-merkle-sha256-1k", ("sub", "a.txt"))
    assert {e[1] for e in entries} == {"config.json", "weights.bin", "empty.txt", "a-b"}
    code, out, _ = run(capsys, "digest", model, "-l", LEAF, "--ignore-paths", "sub", "a.txt")
    assert code == 0
    assert out == f"gh1-merkle-sha256-1k:{digest.hex()}\n"
    # Repeating the option adds to the list.
    code, out2, _ = run(
        capsys, "digest", model, "-l", LEAF, "--ignore-paths", "sub", "--ignore-paths", "a.txt"
    )
    assert (code, out2) == (0, out)


def test_allow_symlinks_inside(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (model / "link.bin").symlink_to("weights.bin")
    entries, digest = expected(model, "gh1-merkle-sha256-1k", allow_symlinks=True)
    assert "link.bin" in {e[1] for e in entries}
    code, out, _ = run(capsys, "digest", model, "-l", LEAF, "--allow-symlinks")
    assert code == 0
    assert out == f"gh1-merkle-sha256-1k:{digest.hex()}\n"


@pytest.mark.parametrize("flag", [[], ["--allow-symlinks"], ["--allow_symlinks"]])
def test_huggingface_snapshot_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    """A cache snapshot (links to ../../blobs) digests as the same files in a plain folder, with
    no option or with model_signing's flag; a link escaping the repository is refused."""
    repo = hf.write_cache(tmp_path / "hub", {hf.REV_1: hf.FILES_1, hf.REV_2: hf.FILES_2})
    snapshot = repo / "snapshots" / hf.REV_2
    _, digest = expected(hf.write_plain(tmp_path / "plain", hf.FILES_2), "gh1-merkle-sha256-1k")
    code, out, _ = run(capsys, "digest", snapshot, "-l", LEAF, *flag)
    assert (code, out) == (0, f"gh1-merkle-sha256-1k:{digest.hex()}\n")
    (snapshot / "escape").symlink_to("../../../outside")
    (tmp_path / "hub" / "outside").write_bytes(b"x")
    code, out, err = run(capsys, "digest", snapshot, *flag)
    assert (code, out) == (2, "")
    assert_one_error_line(err, "escape")


def test_link_root_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model(tmp_path / "store")
    (tmp_path / "store" / "shared.bin").write_bytes(b"shared")
    (model / "shared.bin").symlink_to("../shared.bin")
    code, _, err = run(capsys, "digest", model, "--allow-symlinks")
    assert code == 2
    assert_one_error_line(err, "shared.bin", "outside the model directory")
    entries, digest = ref.hash_model(str(model), "gh1-merkle-sha256-1k", link_root=str(tmp_path))
    assert "shared.bin" in {e[1] for e in entries}
    code, out, _ = run(capsys, "digest", model, "-l", LEAF, "--link-root", tmp_path / "store")
    assert (code, out) == (0, f"gh1-merkle-sha256-1k:{digest.hex()}\n")
    code, _, err = run(capsys, "digest", model, "--link-root", model / "sub")
    assert code == 2
    assert_one_error_line(err, "does not contain the model directory")


def test_ignore_git_paths_can_be_turned_off(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, with_git = ref.hash_model(str(model), "gh1-merkle-sha256-1k", default_ignores=ref.HF_IGNORES)
    _, without = expected(model, "gh1-merkle-sha256-1k")
    assert with_git != without
    for flags, digest in (
        ([], without),
        (["--ignore-git-paths"], without),
        (["--no-ignore-git-paths"], with_git),
    ):
        code, out, _ = run(capsys, "digest", model, "-l", LEAF, *flags)
        assert (code, out) == (0, f"gh1-merkle-sha256-1k:{digest.hex()}\n")


def test_ignore_paths_relative_to_the_current_directory(
    model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """model_signing takes --ignore-paths relative to the current directory: `model/a.txt`
    from the model's parent is the model's a.txt. Relative to the model still works; a path
    that names nothing is warned about (one line); one naming two files is refused."""
    _, digest = expected(model, "gh1-merkle-sha256-1k", ignore_paths=("a.txt",))
    monkeypatch.chdir(model.parent)
    for typed in (f"{model.name}/a.txt", "a.txt", str(model / "a.txt")):
        code, out, err = run(capsys, "digest", model.name, "-l", LEAF, "--ignore-paths", typed)
        assert (code, out, err) == (0, f"gh1-merkle-sha256-1k:{digest.hex()}\n", "")
    _, all_files = expected(model, "gh1-merkle-sha256-1k")
    code, out, err = run(capsys, "digest", model.name, "-l", LEAF, "--ignore-paths", "nothing")
    assert (code, out) == (0, f"gh1-merkle-sha256-1k:{all_files.hex()}\n")
    assert err == f"gpuhash: warning: ignore path nothing matches nothing in {model.name}\n"
    # From inside sub/dir, a relative name that exists both there and in the model (two
    # different files) is ambiguous.
    monkeypatch.chdir(model / "sub" / "dir")
    (model / "tensor.bin").write_bytes(b"another file")
    code, out, err = run(capsys, "digest", model, "--ignore-paths", "tensor.bin")
    assert (code, out) == (2, "")
    assert_one_error_line(err, "ambiguous", "tensor.bin")


# ---------------------------------------------------------------------------------------------
# hash: table, JSON, manifests
# ---------------------------------------------------------------------------------------------


def test_hash_table(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries, digest = expected(model, "gh1-merkle-sha3-256-1k")
    code, out, err = run(capsys, "hash", model, "-a", "merkle-sha3-256", "-l", LEAF)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "DIGEST"]
    rows = [line.split() for line in lines[1:-1]]
    assert rows == [[name, str(size), d.hex()] for _, name, size, d in entries]
    assert lines[-1] == f"gh1-merkle-sha3-256-1k:{digest.hex()}"


def test_hash_table_shortens_lattice_digests(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries, digest = expected(model, "gh1-lthash16-shake256-1k")
    code, out, _ = run(capsys, "hash", model, "-a", "lthash16-shake256", "-l", LEAF)
    assert code == 0
    lines = out.splitlines()
    for (_, name, size, d), line in zip(entries, lines[1:-1], strict=True):
        row_name, row_size, row_digest = line.split()
        assert (row_name, row_size) == (name, str(size))
        assert d.hex() not in line
        assert "\u2026" in row_digest
        head, tail = row_digest.split("\u2026")
        assert d.hex().startswith(head)
        assert d.hex().endswith(tail)
        assert len(row_digest) < 80
    # The artifact digest line is never shortened.
    assert lines[-1] == f"gh1-lthash16-shake256-1k:{digest.hex()}"
    assert len(digest) == 2048


@pytest.mark.parametrize("family", ["merkle-sha256", "blake3", "lthash16-shake256"])
def test_hash_json(model: Path, family: str, capsys: pytest.CaptureFixture[str]) -> None:
    alg_id = ref.algorithm_id(family, LEAF_BYTES)
    entries, digest = expected(model, alg_id)
    code, out, err = run(capsys, "hash", model, "-a", family, "-l", LEAF, "--json")
    assert (code, err) == (0, "")
    manifest = Manifest.from_json(out)
    assert manifest.algorithm.id == alg_id
    assert manifest.artifact_digest == digest
    assert [o.entry for o in manifest.objects] == entries
    assert json.loads(out)["algorithm"]["id"] == alg_id


@pytest.mark.parametrize("suffix", [".json", ".pb", ".binpb"])
def test_hash_output_round_trip(
    model: Path, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    entries, digest = expected(model, "gh1-merkle-sha256-1k")
    target = tmp_path / "out"
    target.mkdir()
    path = target / f"manifest{suffix}"
    code, out, err = run(capsys, "hash", model, "-l", LEAF, "-o", path)
    assert (code, err) == (0, "")
    # The table still prints.
    assert out.splitlines()[-1] == f"gh1-merkle-sha256-1k:{digest.hex()}"
    assert out.splitlines()[0].split() == ["NAME", "SIZE", "DIGEST"]
    data = path.read_bytes()
    if suffix == ".json":
        manifest = Manifest.from_json(data)
        assert data.decode("utf-8") == manifest.to_json()
    else:
        manifest = Manifest.from_bytes(data)
        assert data == manifest.to_bytes()
    assert manifest.artifact_digest == digest
    assert [o.entry for o in manifest.objects] == entries
    assert leftovers(target) == [path.name]


def test_hash_json_and_output(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.pb"
    code, out, _ = run(capsys, "hash", model, "-l", LEAF, "--json", "-o", path)
    assert code == 0
    assert Manifest.from_json(out) == Manifest.from_bytes(path.read_bytes())


def test_hash_output_replaces_existing(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.json"
    assert run(capsys, "hash", model, "-o", path)[0] == 0  # an earlier manifest, 64 KiB leaves
    path.chmod(0o640)
    code, _, _ = run(capsys, "hash", model, "-l", LEAF, "-o", path)
    assert code == 0
    assert Manifest.from_json(path.read_bytes()).algorithm.id == "gh1-merkle-sha256-1k"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "model"]


# ---------------------------------------------------------------------------------------------
# backends, --version, usage
# ---------------------------------------------------------------------------------------------


def test_backends_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "backends", "--json")
    assert (code, err) == (0, "")
    listed = {b["name"]: b for b in json.loads(out)}
    for b in listed.values():
        assert {"name", "available", "reason", "devices", "algorithms"} <= set(b)
    for name in ("cpu", "reference"):
        assert listed[name]["available"] is True
        assert listed[name]["reason"] == ""
        assert listed[name]["devices"]
        assert "gh1-merkle-sha256-64k" in listed[name]["algorithms"]
    # gpuhash-opencl and gpuhash-intel are installed for development (requirements-dev.txt)
    # and have CPU devices here; cuda has no device on these machines.
    assert listed["opencl"]["available"] is True
    assert any("OpenCL" in d or "Portable" in d for d in listed["opencl"]["devices"])
    assert listed["intel"]["available"] is True
    assert listed["intel"]["devices"][0].startswith("opencl:cpu")
    assert listed["cuda"]["available"] is False
    assert listed["cuda"]["reason"]
    assert listed["cuda"]["algorithms"] == []


def test_backends_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "backends")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if not line.startswith(" ")}
    assert lines["cpu"].split()[1] == "available"
    assert lines["reference"].split()[1] == "available"
    assert lines["opencl"].split()[1] == "available"
    assert lines["intel"].split()[1] == "available"
    # gpuhash-cuda is installed for development; these machines have no GPU.
    assert lines["cuda"].split()[1] == "unavailable"
    assert "no usable CUDA driver or device" in lines["cuda"]
    assert "gh1-blake3" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.split()[:2] == ["gpuhash", gpuhash.__version__]


@pytest.mark.parametrize(
    "argv", [[], ["digest"], ["frobnicate"], ["digest", ".", "--no-such-option"]]
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "usage:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["digest"],
        ["frobnicate"],
        ["verify", "key"],
        ["digest", ".", "--log-level", "loud"],
        ["prove", ".", "--range", "-5:10"],
        ["digest", "a", "b"],
    ],
)
def test_usage_errors_are_one_line_naming_the_help(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse printed the whole usage (4-14 lines) before its error: now the error alone, on
    one line, naming the help to read, as every other error is one line."""
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert re.fullmatch(r"gpuhash( [a-z]+)* \(usage: gpuhash( [a-z]+)* --help\): error: .+\n", err)


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "hash", "--help")
    assert code == 0
    assert "--leaf-size" in out


# ---------------------------------------------------------------------------------------------
# Errors: one line, exit 2, no traceback, nothing written
# ---------------------------------------------------------------------------------------------


def _symlink_refused(model: Path) -> tuple[list[str], tuple[str, ...]]:
    (model / "link.bin").symlink_to("weights.bin")
    return [], ("link.bin", "symbolic link")


def _symlink_outside(model: Path) -> tuple[list[str], tuple[str, ...]]:
    outside = model.parent / "secret.txt"
    outside.write_text("secret", encoding="utf-8")
    (model / "sub" / "escape").symlink_to(outside)
    return ["--allow-symlinks"], ("sub/escape", "outside")


def _symlink_dangling(model: Path) -> tuple[list[str], tuple[str, ...]]:
    (model / "dangling").symlink_to(model / "nothing-here")
    return ["--allow-symlinks"], ("dangling",)


def _fifo(model: Path) -> tuple[list[str], tuple[str, ...]]:
    os.mkfifo(model / "pipe")
    return [], ("pipe", "not a regular file")


def _missing(model: Path) -> tuple[list[str], tuple[str, ...]]:
    return ["--algorithm", "merkle-sha256"], ("does-not-exist", "no such file")


def _unreadable(model: Path) -> tuple[list[str], tuple[str, ...]]:
    (model / "weights.bin").chmod(0)
    return [], ("weights.bin", "permission denied")


Setup = Callable[[Path], tuple[list[str], tuple[str, ...]]]


def _args(*args: str, needles: tuple[str, ...]) -> Setup:
    def setup(model: Path) -> tuple[list[str], tuple[str, ...]]:
        return list(args), needles

    return setup


ERROR_CASES: dict[str, Setup] = {
    "missing-path": _missing,
    "symlink-refused": _symlink_refused,
    "symlink-outside-root": _symlink_outside,
    "symlink-dangling": _symlink_dangling,
    "fifo": _fifo,
    "unreadable": _unreadable,
    "unknown-algorithm": _args("--algorithm", "md5", needles=("md5", "unknown algorithm")),
    "unknown-identifier": _args("-a", "gh1-merkle-sha256-65536", needles=("gh1-",)),
    "unknown-backend": _args(
        "--backend",
        "nosuch",
        needles=("nosuch", "cpu", "reference", 'python -m pip install ".[cuda12]" ./backends/cuda'),
    ),
    # A first-party backend whose package is not installed (every real one is, for
    # development): the registry hint added by the not_installed_backend fixture.
    "missing-backend": _args(
        "--backend",
        "rocm",
        needles=("'rocm' is not installed", "python -m pip install gpuhash-rocm"),
    ),
    # Installed, but no device or driver here.
    "backend-without-device": _args(
        "--backend", "cuda", needles=("backend 'cuda'", "no usable CUDA driver or device")
    ),
    "leaf-not-power-of-two": _args("--leaf-size", "3k", needles=("3072", "power of two")),
    "leaf-too-small": _args("--leaf-size", "512", needles=("512",)),
    "leaf-too-large": _args("--leaf-size", "32m", needles=("33554432",)),
    "leaf-zero": _args("--leaf-size", "0", needles=("leaf size 0",)),
    "leaf-garbage": _args("--leaf-size", "lots", needles=("'lots'", "bad size")),
    "leaf-empty": _args("--leaf-size", "", needles=("bad size",)),
    "leaf-fraction": _args("--leaf-size", "1.5k", needles=("1.5k",)),
    "leaf-conflicts-with-id": _args(
        "-a", "gh1-merkle-sha256-64k", "-l", "1k", needles=("disagrees", "gh1-merkle-sha256-64k")
    ),
    "ignore-outside-root": _args("--ignore-paths", "../x", needles=("../x", "outside")),
}


@pytest.fixture
def not_installed_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A first-party-style registry hint for a package that is not installed."""
    from gpuhash import registry

    hint = registry.BackendSpec(
        "rocm", "gpuhash_rocm:RocmBackend", "python -m pip install gpuhash-rocm", "first-party"
    )
    monkeypatch.setitem(registry._KNOWN, "rocm", hint)
    registry.registered.cache_clear()
    yield
    registry.registered.cache_clear()


@pytest.mark.usefixtures("not_installed_backend")
@pytest.mark.parametrize("command", ["digest", "hash", "hash-o"])
@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors(
    model: Path, tmp_path: Path, case: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if case == "unreadable" and os.geteuid() == 0:
        pytest.skip("running as root: a mode-000 file is still readable")
    setup = ERROR_CASES[case]
    extra, needles = setup(model)
    path = tmp_path / "does-not-exist" if case == "missing-path" else model
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    argv: list[str | os.PathLike[str]] = [command.removesuffix("-o"), path, *extra]
    if command == "hash-o":
        argv += ["-o", out_dir / "manifest.json"]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, *needles)
    assert leftovers(out_dir) == []


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv (as non-root, test_errors covers unreadable files)",
)
def test_unreadable_file_without_dac_override(model: Path) -> None:
    """As root, drop CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH so that mode 000 takes effect."""
    (model / "weights.bin").chmod(0)
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    probe = subprocess.run(
        [*drop, sys.executable, "-c", f"open({str(model / 'weights.bin')!r}, 'rb')"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if probe.returncode == 0 or b"PermissionError" not in probe.stderr:
        pytest.skip("setpriv cannot drop the capabilities here")
    proc = subprocess.run(
        [*drop, sys.executable, "-m", "gpuhash", "digest", str(model)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_error_line(proc.stderr, "weights.bin", "permission denied")


def test_output_into_missing_directory(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = leftovers(tmp_path)
    code, out, err = run(capsys, "hash", model, "-o", tmp_path / "nowhere" / "m.json")
    assert code == 2
    assert out == ""
    assert_one_error_line(err, "nowhere", "does not exist")
    assert leftovers(tmp_path) == before


def test_output_is_a_directory(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "dir.json"
    target.mkdir()
    code, _, err = run(capsys, "hash", model, "-o", target)
    assert code == 2
    assert_one_error_line(err, "dir.json", "directory")
    assert leftovers(target) == []


def test_output_kept_when_hashing_fails(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    path = out_dir / "manifest.json"
    assert run(capsys, "hash", model, "-o", path)[0] == 0
    previous = path.read_bytes()
    (model / "link.bin").symlink_to("weights.bin")
    code, _, err = run(capsys, "hash", model, "-o", path)
    assert code == 2
    assert_one_error_line(err, "link.bin")
    assert path.read_bytes() == previous
    assert leftovers(out_dir) == ["manifest.json"]


def test_output_kept_when_writing_fails(
    model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    path = out_dir / "manifest.pb"
    assert run(capsys, "hash", model, "-o", path)[0] == 0
    previous = path.read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device", dst)

    monkeypatch.setattr("gpuhash.atomic.os.replace", fail)
    code, out, err = run(capsys, "hash", model, "-l", LEAF, "-o", path)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, "manifest.pb", "No space left on device")
    assert path.read_bytes() == previous
    assert leftovers(out_dir) == ["manifest.pb"]


def test_keyboard_interrupt(
    model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(gpuhash.api, "hash_path", interrupted)
    code, out, err = run(capsys, "digest", model)
    assert code == 130
    assert out == ""
    assert err == "gpuhash: interrupted\n"


# ---------------------------------------------------------------------------------------------
# write_atomic
# ---------------------------------------------------------------------------------------------


def test_write_atomic_new_and_replace(tmp_path: Path) -> None:
    path = tmp_path / "sig"
    atomic.write_atomic(path, b"one")
    assert path.read_bytes() == b"one"
    atomic.write_atomic(str(path), b"two" * 100_000)
    assert path.read_bytes() == b"two" * 100_000
    assert leftovers(tmp_path) == ["sig"]


@pytest.mark.parametrize("exc", [OSError(5, "Input/output error"), KeyboardInterrupt()])
def test_write_atomic_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    path = tmp_path / "sig"
    path.write_bytes(b"old")

    def fail(fd: int) -> None:
        raise exc

    monkeypatch.setattr("gpuhash.atomic.os.fsync", fail)
    with pytest.raises(type(exc)):
        atomic.write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert leftovers(tmp_path) == ["sig"]


def test_write_atomic_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic.write_atomic(tmp_path / "nowhere" / "sig", b"x")
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------


def test_progress_bar_rate_limited_and_cleared() -> None:
    now = [100.0]
    stream = io.StringIO()
    bar = Progress(1000, stream, interval=0.1, clock=lambda: now[0], width=80)
    bar(0)
    now[0] += 0.05
    bar(100)  # too soon: not drawn
    assert stream.getvalue().count("\r") == 1
    now[0] += 0.1
    bar(500)
    text = stream.getvalue()
    assert text.count("\r") == 2
    assert " 50%" in text
    assert "/s" in text
    now[0] += 0.01
    bar(1000)  # the end is always drawn
    assert "100%" in stream.getvalue()
    assert all(len(part) < 80 for part in stream.getvalue().split("\r"))
    bar.close()
    assert stream.getvalue().endswith("\r")
    last = stream.getvalue().rstrip("\r").rsplit("\r", 1)[-1]
    assert last.strip() == ""


def test_progress_on_a_terminal(
    model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gpuhash.cli.progress.PROGRESS_MIN_BYTES", 1)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    _, digest = expected(model, "gh1-merkle-sha256-1k")
    code, out, err = run(capsys, "digest", model, "-l", LEAF)
    assert code == 0
    assert out == f"gh1-merkle-sha256-1k:{digest.hex()}\n"
    assert "\r" in err
    assert "100%" in err
    assert "\n" not in err
    assert err.rsplit("\r", 2)[-2].strip() == ""  # cleared at the end


def test_no_progress_for_small_work_on_a_terminal(
    model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, "digest", model, "-l", LEAF)
    assert (code, err) == (0, "")


# ---------------------------------------------------------------------------------------------
# The real console entry
# ---------------------------------------------------------------------------------------------


def _python_m(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuhash", *(os.fspath(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_python_m_digest(model: Path) -> None:
    _, digest = expected(model, "gh1-merkle-sha256-1k")
    proc = _python_m("digest", model, "--leaf-size", LEAF)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"gh1-merkle-sha256-1k:{digest.hex()}\n"
    assert proc.stderr == ""  # not a terminal: no progress


def test_python_m_errors(tmp_path: Path) -> None:
    proc = _python_m("digest", tmp_path / "missing")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_error_line(proc.stderr, "missing")
    proc = _python_m("bogus")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_console_script_declared() -> None:
    (ep,) = entry_points(group="console_scripts", name="gpuhash")
    assert ep.value == "gpuhash.cli:main"
    assert ep.load() is cli.main


def test_cli_import_is_light() -> None:
    code = "import sys, gpuhash.cli; print(sorted({'numpy', 'google.protobuf'} & set(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "[]"
