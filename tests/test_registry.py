"""The backend registry: lazy loading, install hints, third-party entry points, ``auto``."""

from __future__ import annotations

import importlib.util
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import gpuhash
from gpuhash import registry
from gpuhash.algorithms import Algorithm
from gpuhash.backends.cpu import CpuBackend
from gpuhash.device import gpu_device_nodes
from gpuhash.errors import BackendUnavailable, UsageError

FAKE_MODULE = textwrap.dedent(
    """
    from gpuhash.backends.reference import ReferenceBackend
    from gpuhash.backend import Capabilities
    from gpuhash.errors import BackendUnavailable

    class FakeBackend(ReferenceBackend):
        name = "fake"
        def capabilities(self):
            caps = super().capabilities()
            return Capabilities(families=frozenset({"merkle-sha256"}), devices=("fake device",),
                                batch_bytes=caps.batch_bytes, priority=1000)

    class BrokenBackend(ReferenceBackend):
        name = "broken"
        def __init__(self):
            raise BackendUnavailable("no fake device found")

    class CrashingBackend(ReferenceBackend):
        name = "crashing"
        def __init__(self):
            raise RuntimeError("driver said no\\nsecond line")

    from gpuhash.backend import Probe

    class LowBackend(ReferenceBackend):
        name = "low"
        @classmethod
        def probe(cls):
            return Probe(True, priority=1)
        def __init__(self):
            raise AssertionError("auto started a backend its probe ruled out")

    class AbsentBackend(ReferenceBackend):
        name = "absent"
        @classmethod
        def probe(cls):
            return Probe(False, "no absent device here")
        def __init__(self):
            raise AssertionError("auto started a backend its probe found unavailable")
    """
)


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution on sys.path that registers two backends through the entry-point group."""
    (tmp_path / "gpuhash_fake_backend.py").write_text(FAKE_MODULE)
    (tmp_path / "gpuhash_fake_half_installed.py").write_text("raise RuntimeError('half installed')")
    info = tmp_path / "gpuhash_fake_backend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gpuhash-fake-backend\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[gpuhash.backends]\n"
        "fake = gpuhash_fake_backend:FakeBackend\n"
        "broken = gpuhash_fake_backend:BrokenBackend\n"
        "crashing = gpuhash_fake_backend:CrashingBackend\n"
        "cpu = gpuhash_fake_backend:FakeBackend\n"
        "missing = gpuhash_no_such_module:Backend\n"
        "low = gpuhash_fake_backend:LowBackend\n"
        "absent = gpuhash_fake_backend:AbsentBackend\n"
        "halfinstalled = gpuhash_fake_half_installed:Backend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    yield tmp_path
    sys.modules.pop("gpuhash_fake_backend", None)
    sys.modules.pop("gpuhash_fake_half_installed", None)
    monkeypatch.undo()
    registry.refresh()


def test_builtins_and_first_party_are_listed_sorted() -> None:
    names = list(registry.registered())
    assert names == sorted(names)
    assert {"cpu", "reference", "opencl", "intel", "cuda"} <= set(names)
    with pytest.raises(TypeError):
        registry.registered()["x"] = registry.registered()["cpu"]  # type: ignore[index]


def test_get_backend_by_name() -> None:
    backend = gpuhash.get_backend("cpu")
    assert isinstance(backend, CpuBackend)
    backend.close()


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown backend 'nope'.*cpu.*reference"):
        gpuhash.get_backend("nope")


@pytest.mark.parametrize("name", ["opencl", "intel", "cuda"])
def test_missing_first_party_backend_gives_pip_command(name: str) -> None:
    if importlib.util.find_spec(f"gpuhash_{name}") is not None:
        pytest.skip(f"gpuhash-{name} is installed here (requirements-dev.txt)")
    with pytest.raises(BackendUnavailable, match=rf'pip install "\.\[{name}'):
        gpuhash.get_backend(name)


def test_first_party_hint_for_a_package_that_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every real first-party package is installed for development, so the not-installed
    path is shown with a hint of the same kind for a package that does not exist."""
    hint = registry.BackendSpec(
        "rocm", "gpuhash_rocm:RocmBackend", "python -m pip install gpuhash-rocm", "first-party"
    )
    monkeypatch.setitem(registry._KNOWN, "rocm", hint)
    registry.registered.cache_clear()
    try:
        with pytest.raises(
            BackendUnavailable,
            match=r"'rocm' is not installed; install it with: python -m pip install gpuhash-rocm",
        ):
            gpuhash.get_backend("rocm")
        info = {i.name: i for i in gpuhash.available_backends()}["rocm"]
        assert not info.available
        assert "pip install gpuhash-rocm" in info.reason
    finally:
        registry.registered.cache_clear()


def test_entry_point_backend_is_found_and_used(fake_distribution: Path) -> None:
    assert registry.registered()["fake"].origin == "gpuhash-fake-backend"
    backend = gpuhash.get_backend("fake")
    assert backend.capabilities().devices == ("fake device",)
    digest = gpuhash.hash_bytes(b"abc", algorithm="merkle-sha256", leaf_size=1024, backend=backend)
    from gpuhash import reference as ref

    assert digest == ref.object_digest("merkle-sha256", b"abc", 1024)


def test_available_backends_reports_reasons(fake_distribution: Path) -> None:
    infos = {i.name: i for i in gpuhash.available_backends()}
    assert infos["fake"].available
    assert infos["fake"].devices == ("fake device",)
    assert infos["fake"].algorithms == ("gh1-merkle-sha256-64k",)
    assert not infos["broken"].available
    assert infos["broken"].reason == "no fake device found"
    assert not infos["missing"].available
    assert "not installed" in infos["missing"].reason
    assert infos["cpu"].available
    assert "gh1-blake3" in infos["cpu"].algorithms


def test_auto_prefers_highest_priority_supporting_the_algorithm(fake_distribution: Path) -> None:
    chosen = gpuhash.get_backend("auto", algorithm=Algorithm("merkle-sha256"))
    assert chosen.name == "fake"
    chosen = gpuhash.get_backend("auto", algorithm=Algorithm("blake3"))
    assert chosen.name == "cpu"  # fake does not support blake3; broken is skipped
    chosen.close()


def test_backend_not_supporting_algorithm_is_refused(fake_distribution: Path) -> None:
    with pytest.raises(UsageError, match="does not support blake3"):
        gpuhash.get_backend("fake", algorithm=Algorithm("blake3"))


def test_bad_backend_options(capsys: pytest.CaptureFixture[str]) -> None:
    """An option a backend does not take is named with the ones it does, in one line (it was
    a Python TypeError text: "CpuBackend.__init__() got an unexpected keyword argument")."""
    with pytest.raises(
        UsageError, match=r"backend 'cpu' has no option colour \(its options: threads\)"
    ):
        gpuhash.get_backend("cpu", colour="blue")
    from gpuhash import cli

    assert cli.main(["digest", __file__, "--backend", "cpu", "--device", "0"]) == 2
    err = capsys.readouterr().err
    assert "backend 'cpu' has no choice of device; leave out --device" in err
    assert "__init__" not in err
    with pytest.raises(UsageError, match="threads must be at least 1"):
        gpuhash.get_backend("cpu", threads=0)


def test_import_is_lazy() -> None:
    """Importing gpuhash loads no numpy, protobuf or device stack."""
    import subprocess

    code = (
        "import sys, gpuhash; "
        "heavy = [m for m in ('numpy', 'google.protobuf', 'pyopencl', 'cupy', 'dpctl') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_backend_crashing_at_start_is_unavailable_in_one_line(fake_distribution: Path) -> None:
    with pytest.raises(BackendUnavailable) as info:
        gpuhash.get_backend("crashing")
    assert str(info.value) == "backend 'crashing' cannot start: RuntimeError: driver said no"
    infos = {i.name: i for i in gpuhash.available_backends()}
    assert not infos["crashing"].available
    assert infos["crashing"].reason == "driver said no"


def test_builtin_names_cannot_be_taken_over(fake_distribution: Path) -> None:
    assert registry.registered()["cpu"].origin == "built-in"
    assert isinstance(gpuhash.get_backend("cpu"), CpuBackend)


def test_auto_logs_each_backend_it_leaves_out(
    fake_distribution: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """auto used to drop a backend that failed to import or start without a word. Now each
    one left out is logged with the reason: INFO when it is simply not usable here, WARNING
    when it is installed but broken; a backend whose probe rules it out is never started."""
    caplog.set_level(logging.DEBUG, logger="gpuhash")
    chosen = gpuhash.get_backend("auto", algorithm=Algorithm("blake3"))
    assert chosen.name == "cpu"
    chosen.close()
    said = {(r.levelno, r.getMessage()) for r in caplog.records if r.name == "gpuhash.registry"}
    install = "provided by gpuhash-fake-backend"
    assert (logging.INFO, "auto: skipping broken: no fake device found") in said
    assert (
        logging.WARNING,
        "auto: skipping crashing: it failed to start: RuntimeError: driver said no",
    ) in said
    assert (
        logging.WARNING,
        "auto: skipping halfinstalled: backend 'halfinstalled' failed to import: "
        "RuntimeError: half installed",
    ) in said
    assert (logging.INFO, f"auto: skipping missing: not installed ({install})") in said
    assert (logging.INFO, "auto: skipping absent: no absent device here") in said
    assert (
        logging.INFO,
        "auto: not starting low: its priority here is at most 1, cpu has 10",
    ) in said
    assert (logging.INFO, "auto: skipping fake: it does not support blake3") in said
    assert (logging.INFO, "auto: chose cpu (priority 10)") in said
    # Neither ruled-out backend was started (starting raises AssertionError, logged as such).
    assert not [m for _, m in said if "AssertionError" in m]


def test_auto_probe_keeps_the_first_of_equal_priorities(fake_distribution: Path) -> None:
    """Probing changes which backends are started, not which one is chosen."""
    chosen = gpuhash.get_backend("auto", algorithm=Algorithm("merkle-sha256"))
    assert chosen.name == "fake"  # priority 1000, found by starting it (no probe)
    chosen.close()


_MODULES_AFTER = (
    "import sys, json\n"
    "{code}\n"
    "print(json.dumps([m for m in ('pyopencl', 'dpctl', 'cupy') if m in sys.modules]))\n"
)


def _heavy_modules_after(code: str) -> list[str]:
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


_NO_GPU_HERE = gpu_device_nodes() == [] and all(
    importlib.util.find_spec(m) is not None for m in ("pyopencl", "dpctl")
)


@pytest.mark.skipif(not _NO_GPU_HERE, reason="needs pyopencl and dpctl installed and no GPU")
def test_auto_starts_no_device_stack_without_a_gpu() -> None:
    """On a machine without a GPU, auto chose the cpu backend after starting the OpenCL and
    SYCL runtimes (about 0.2 s and 150 MiB of each command); their probes now rule them
    out, so neither stack is even imported."""
    code = (
        "from gpuhash.registry import get_backend\n"
        "b = get_backend('auto')\n"
        "assert b.name == 'cpu', b.name"
    )
    assert _heavy_modules_after(code) == []


@pytest.mark.skipif(not _NO_GPU_HERE, reason="needs pyopencl and dpctl installed and no GPU")
def test_device_backend_probes_start_nothing() -> None:
    """The probes of the real device backends answer without importing their device stack
    (so without a context, and without building a kernel)."""
    code = (
        "from gpuhash_opencl import OpenCLBackend\n"
        "from gpuhash_intel import IntelBackend\n"
        "from gpuhash_cuda import CudaBackend\n"
        "for cls in (OpenCLBackend, IntelBackend):\n"
        "    p = cls.probe()\n"
        "    assert p.available and p.priority == 5, p\n"
        "    assert 'no GPU device node' in p.reason, p\n"
        "print(CudaBackend.probe(), file=sys.stderr)"
    )
    assert _heavy_modules_after(code) == []


def test_gpu_device_nodes_are_the_ones_present() -> None:
    import glob

    nodes = gpu_device_nodes()
    if not sys.platform.startswith("linux"):
        assert nodes is None
        return
    assert nodes is not None
    assert sorted(set(nodes)) == nodes
    assert set(glob.glob("/dev/dri/renderD*")) <= set(nodes)
    assert set(glob.glob("/dev/nvidia[0-9]*")) <= set(nodes)
