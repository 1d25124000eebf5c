"""What the command line says on stderr: log levels (-v, --log-level), the progress line
(--progress/--no-progress, terminals) on every long command, kernel builds, and Ctrl-C during
a build."""

from __future__ import annotations

import importlib.util
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import run

from gpuhash import builds
from gpuhash.cli.progress import LineFormatter
from gpuhash.errors import BackendError

#: The size from which `auto` considers device backends (and a terminal shows progress).
BIG = 64 << 20


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "weights.bin").write_bytes(os.urandom(300_000))
    (root / "sub" / "config.json").write_bytes(b'{"a": 1}')
    return root


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 MiB (sparse: cheap to write, and hashed from zero pages)."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    with open(path, "wb") as f:
        f.truncate(BIG)
    return path


def _bar_drawn(err: str) -> None:
    assert "\r" in err
    assert "100%" in err
    assert err.rsplit("\r", 2)[-2].strip() == ""  # cleared at the end


# ---------------------------------------------------------------------------------------------
# Progress on every long command
# ---------------------------------------------------------------------------------------------


def test_progress_for_oms_signing_verify_and_incremental(
    model: Path, ec_keys: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sign --format oms`, `verify` and `hash --incremental` showed no progress at all."""
    private, public = ec_keys
    sig = tmp_path / "oms.sig"
    sign = ("sign", "key", model, "--private-key", private, "--signature", sig)
    code, out, err = run(capsys, *sign, "--format", "oms", "--progress")
    assert code == 0, err
    _bar_drawn(err)
    code, out, err = run(
        capsys, "verify", "key", model, "--public-key", public, "--signature", sig, "--progress"
    )
    assert code == 0, err
    assert out.startswith("verified ")
    _bar_drawn(err)
    native = tmp_path / "native.sig"
    code, _, err = run(
        capsys, "sign", "key", model, "--private-key", private, "--signature", native,
        "--progress", "--backend", "cpu",
    )  # fmt: skip
    assert code == 0, err
    _bar_drawn(err)
    code, _, err = run(
        capsys, "verify", "--progress", "key", model, "--public-key", public, "--signature", native
    )
    assert code == 0, err
    _bar_drawn(err)
    manifest = tmp_path / "m.pb"
    assert run(capsys, "hash", model, "-o", manifest)[0] == 0
    (model / "weights.bin").write_bytes(os.urandom(300_001))
    code, _, err = run(capsys, "hash", model, "--incremental", manifest, "--progress")
    assert code == 0, err
    _bar_drawn(err.split("\n")[0])  # then the incremental summary line
    assert "gpuhash: incremental: " in err


def test_no_progress_on_a_terminal_when_asked(
    model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gpuhash.cli.progress.PROGRESS_MIN_BYTES", 1)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, "digest", model)
    assert code == 0
    assert "100%" in err
    code, _, err = run(capsys, "digest", model, "--no-progress")
    assert (code, err) == (0, "")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_progress_line_on_a_pseudo_terminal(big_file: Path, ec_keys: tuple[Path, Path]) -> None:
    """A real process with stderr on a terminal shows the bar without being asked; the
    same command with stderr on a pipe shows nothing."""
    import pty

    private, _ = ec_keys
    sig = big_file.parent / "pty.sig"
    argv = [sys.executable, "-m", "gpuhash", "sign", "key", os.fspath(big_file), "--format",
            "oms", "--private-key", os.fspath(private), "--signature", os.fspath(sig)]  # fmt: skip
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=terminal)
        os.close(terminal)
        seen = b""
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0
        assert proc.stdout is not None
        proc.stdout.close()
    finally:
        os.close(controller)
    assert b"100%" in seen
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert (piped.returncode, piped.stderr) == (0, "")


# ---------------------------------------------------------------------------------------------
# Log levels
# ---------------------------------------------------------------------------------------------


def test_verbose_says_which_backend_auto_chose(
    big_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "digest", big_file)
    assert (code, err) == (0, "")  # default: warnings only
    digest = out
    for argv in (("-v", "digest", big_file), ("digest", big_file, "-v")):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (0, digest)
        lines = err.splitlines()
        assert "gpuhash: info: auto: chose cpu (priority 10)" in lines
        assert all(line.startswith("gpuhash: info: ") for line in lines), err
    code, _, err = run(capsys, "digest", big_file, "-vv")
    assert "gpuhash: debug: auto: cpu started, priority 10" in err.splitlines()
    code, _, err = run(capsys, "--log-level", "DEBUG", "digest", big_file)
    assert "gpuhash: debug: auto: cpu started, priority 10" in err.splitlines()
    code, _, err = run(capsys, "-vv", "--log-level", "error", "digest", big_file)
    assert (code, err) == (0, "")
    code, _, err = run(capsys, "digest", big_file, "--log-level", "loud")
    assert code == 2
    assert "invalid choice: 'loud'" in err


def test_log_records_are_one_line_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    try:
        raise RuntimeError("first line\nsecond line")
    except RuntimeError:
        info = sys.exc_info()
    record = logging.LogRecord(
        "gpuhash.x", logging.WARNING, __file__, 1, "it broke:\n%s", ("detail",), info
    )
    assert LineFormatter(tracebacks=False).format(record) == "gpuhash: warning: it broke: detail"
    assert "Traceback" in LineFormatter(tracebacks=True).format(record)


def test_library_configures_no_handler() -> None:
    """Only the command line installs a handler, and only while it runs."""
    import logging

    code = (
        "import logging, gpuhash, gpuhash.registry, gpuhash.builds\n"
        "from gpuhash import get_backend\n"
        "get_backend('auto').close()\n"
        "names = [n for n in logging.root.manager.loggerDict if n.startswith('gpuhash')]\n"
        "assert names, names\n"
        "assert not [n for n in names if logging.getLogger(n).handlers], names\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert logging.getLogger("gpuhash").handlers == []  # none left by the in-process runs


# ---------------------------------------------------------------------------------------------
# Kernel builds: announced, interruptible
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def allow_builds() -> Iterator[None]:
    builds.reset()
    yield
    builds.reset()


def test_build_errors_and_results_come_back(allow_builds: None) -> None:
    assert builds.run_build("building nothing", lambda: 42) == 42

    def fail() -> None:
        raise ValueError("bad kernel")

    with pytest.raises(ValueError, match="bad kernel"):
        builds.run_build("building a bad kernel", fail)
    assert builds.running() == 0


def test_cancel_ends_a_wait_on_another_thread(allow_builds: None) -> None:
    """A dispatcher thread waiting for a build stops waiting once the command is interrupted
    (it used to wait for the compiler to finish, tens of seconds)."""
    release = threading.Event()
    outcome: list[BaseException] = []

    def waiter() -> None:
        try:
            builds.run_build("building slowly", lambda: release.wait(30))
        except BaseException as e:
            outcome.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    assert builds.running() == 1
    started = time.monotonic()
    builds.cancel()
    t.join(5)
    assert not t.is_alive()
    assert time.monotonic() - started < 2
    assert len(outcome) == 1
    assert isinstance(outcome[0], builds.BuildCancelled)
    assert isinstance(outcome[0], BackendError)
    assert str(outcome[0]) == "building slowly: interrupted"
    with pytest.raises(builds.BuildCancelled):  # and no new build starts
        builds.run_build("building again", lambda: 1)
    release.set()
    deadline = time.monotonic() + 5
    while builds.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert builds.running() == 0


def _opencl_cpu() -> bool:
    if importlib.util.find_spec("pyopencl") is None:
        return False
    from gpuhash.registry import available_backends

    return any(i.name == "opencl" and i.available for i in available_backends())


@pytest.mark.skipif(not _opencl_cpu(), reason="needs an OpenCL device (the CPU runtimes do)")
def test_ctrl_c_during_a_kernel_build(tmp_path: Path) -> None:
    """The real opencl build (pyopencl's binary cache off, so it compiles: tens of seconds on
    a CPU runtime) is announced on the progress line, and SIGINT during it ends the command
    at once with exit 130 and one line. It used to sit at "0 B 0%" and then wait for the
    compiler to finish before exiting."""
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(100_000))
    env = dict(os.environ, PYOPENCL_NO_CACHE="1")
    argv = [sys.executable, "-m", "gpuhash", "digest", os.fspath(data), "--backend", "opencl",
            "--progress"]  # fmt: skip
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"building opencl kernels for " not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 1)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
        assert b"building opencl kernels for " in seen, seen
        time.sleep(0.5)  # the compiler is running now
        assert proc.poll() is None, "the build finished before the interrupt"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
        elapsed = time.monotonic() - sent
        rest = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 130
    assert elapsed < 5, elapsed
    lines = [ln for ln in rest.decode().replace("\r", "\n").split("\n") if ln.strip()]
    assert lines == ["gpuhash: interrupted"]
