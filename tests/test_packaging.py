"""Packaging: one version for every distribution in the repository, backends and the conformance
suite pinned to the core of that version, the core's extras, and install hints that name what
exists. (`.ci/core-only` installs the core alone and runs the hints for real.)"""

from __future__ import annotations

import ast
import importlib.metadata
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import gpuhash

ROOT = Path(__file__).resolve().parents[1]
#: Every distribution built from this repository besides the core, and its directory.
DISTRIBUTIONS = {
    "gpuhash-opencl": "backends/opencl",
    "gpuhash-intel": "backends/intel",
    "gpuhash-cuda": "backends/cuda",
    "gpuhash-example-backend": "backends/example",
    "gpuhash-conformance": "conformance",
}
#: The core's extras a user is told about (README, "Install").
EXTRAS = {"sign", "gguf", "opencl", "intel", "cuda12", "cuda13"}


def _pyproject(directory: str) -> dict[str, Any]:
    with open(ROOT / directory / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _core_extras() -> dict[str, list[Requirement]]:
    extras = _pyproject(".")["project"]["optional-dependencies"]
    return {name: [Requirement(r) for r in reqs] for name, reqs in extras.items()}


def _names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def test_the_core_version_is_written_once_in_gpuhash_init() -> None:
    data = _pyproject(".")
    assert "version" not in data["project"]
    assert "version" in data["project"]["dynamic"]
    assert data["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gpuhash.__version__"}
    # setuptools reads a literal assignment from the file's text, without importing gpuhash
    # (whose dependencies a build environment lacks).
    tree = ast.parse((ROOT / "gpuhash" / "__init__.py").read_text(encoding="utf-8"))
    literals = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
        and isinstance(node.value, ast.Constant)
    ]
    assert literals == [gpuhash.__version__]
    assert str(Version(gpuhash.__version__)) == gpuhash.__version__  # already normalised


@pytest.mark.parametrize(("name", "directory"), DISTRIBUTIONS.items())
def test_each_distribution_has_the_core_version_and_pins_the_core_to_it(
    name: str, directory: str
) -> None:
    """The backends and the suite import gpuhash's internals (gpuhash.device, gpuhash.engine,
    the kernel files): a core of another version is not one they were tested with."""
    project = _pyproject(directory)["project"]
    assert project["name"] == name
    assert project["version"] == gpuhash.__version__
    pins = [r for r in map(Requirement, project["dependencies"]) if r.name == "gpuhash"]
    assert len(pins) == 1
    assert str(pins[0].specifier) == f"=={gpuhash.__version__}"
    assert pins[0].marker is None
    assert not pins[0].extras


@pytest.mark.parametrize("name", ["gpuhash", *DISTRIBUTIONS])
def test_the_installed_distributions_are_of_this_version(name: str) -> None:
    """A stale development install (an older checkout's metadata) shows here."""
    assert importlib.metadata.version(name) == gpuhash.__version__


def test_the_core_has_the_extras_the_readme_names() -> None:
    extras = _core_extras()
    assert set(extras) >= EXTRAS
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for extra in EXTRAS:
        assert f'".[{extra}]"' in readme


@pytest.mark.parametrize("vendor", ["opencl", "intel"])
def test_a_backend_extra_brings_what_the_backend_runs_on(vendor: str) -> None:
    """`".[opencl]" ./backends/opencl` needs nothing else: every third-party dependency of the
    backend, and of its own CPU-runtime extra, is in the core's extra (or the core)."""
    extras = _core_extras()
    core = _names([Requirement(r) for r in _pyproject(".")["project"]["dependencies"]])
    backend = _pyproject(f"backends/{vendor}")["project"]
    wanted = {
        canonicalize_name(Requirement(r).name)
        for r in [*backend["dependencies"], *backend["optional-dependencies"].get("cpu", [])]
    } - {"gpuhash"}
    assert wanted <= _names(extras[vendor]) | core


def test_each_cuda_extra_brings_one_cupy_and_the_nvrtc_of_its_major_version() -> None:
    extras = _core_extras()
    backend = [Requirement(r) for r in _pyproject("backends/cuda")["project"]["dependencies"]]
    # Two CuPy wheels in one environment clash (both are the module `cupy`): the backend takes
    # none, the extra the user picks takes one.
    assert not [r for r in backend if r.name.startswith("cupy")]
    for extra, major in (("cuda12", 12), ("cuda13", 13)):
        cupy = [r.name for r in extras[extra] if r.name.startswith("cupy")]
        assert cupy == [f"cupy-cuda{major}x"]
        nvrtc = [r for r in extras[extra] if r.name.startswith("nvidia-cuda-nvrtc")]
        assert len(nvrtc) == 1
        (only,) = nvrtc
        if only.name != f"nvidia-cuda-nvrtc-cu{major}":  # a name without the major version
            assert only.specifier.contains(f"{major}.5.0")
            assert not only.specifier.contains(f"{major - 1}.9.0")
            assert not only.specifier.contains(f"{major + 1}.0.0")


@pytest.mark.parametrize("extra", sorted(EXTRAS - {"cuda13"}))
def test_the_development_environment_has_each_extra(extra: str) -> None:
    """requirements-dev.txt installs the core with every extra but cuda13 (its CuPy would clash
    with cuda12's), so each name an extra gives is a real, installed distribution of a version
    the extra allows. (`.ci/core-only` asks the index about all of them, cuda13's too.)"""
    for requirement in _core_extras()[extra]:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        installed = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (
            requirement,
            installed,
        )
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    (line,) = [x for x in dev.splitlines() if x.startswith("-e .[")]
    assert extra in line.removeprefix("-e .[").removesuffix("]").split(",")
