"""Packaging: one version for every distribution in the repository, backends and the conformance
suite pinned to the core of that version, the core's extras, and install hints that name what
exists. (`.ci/core-only` installs the core alone and runs the hints for real.)"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import gpuhash_cuda
import gpuhash_intel
import gpuhash_opencl
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import gpuhash
from gpuhash import registry

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


def test_the_docs_name_the_pin_of_this_version() -> None:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pins = [pin for p in texts for pin in re.findall(r"gpuhash==([\w.]+)", p.read_text("utf-8"))]
    assert pins  # the README explains the pin
    assert set(pins) == {gpuhash.__version__}


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
    """`gpuhash-cuda[cuda12]` and `gpuhash-cuda[cuda13]`: the backend takes no CuPy (two CuPy
    wheels in one environment clash: both are the module `cupy`), the extra the user picks takes
    one, with the NVRTC of the same major version. The core's extras of those names list the
    same packages (they cannot name gpuhash-cuda while it is on no index)."""
    extras = _core_extras()
    cuda = _pyproject("backends/cuda")["project"]
    backend = [Requirement(r) for r in cuda["dependencies"]]
    assert not [r for r in backend if r.name.startswith(("cupy", "nvidia"))]
    own = {
        name: [Requirement(r) for r in reqs] for name, reqs in cuda["optional-dependencies"].items()
    }
    for extra, major in (("cuda12", 12), ("cuda13", 13)):
        assert sorted(map(str, own[extra])) == sorted(map(str, extras[extra]))
        cupy = [r.name for r in own[extra] if r.name.startswith("cupy")]
        assert cupy == [f"cupy-cuda{major}x"]
        nvrtc = [r for r in own[extra] if r.name.startswith("nvidia-cuda-nvrtc")]
        assert len(nvrtc) == 1
        (only,) = nvrtc
        # NVRTC 13 is `nvidia-cuda-nvrtc` 13.x; `nvidia-cuda-nvrtc-cu13` is an empty stub.
        assert only.name == {12: "nvidia-cuda-nvrtc-cu12", 13: "nvidia-cuda-nvrtc"}[major]
        if only.name == "nvidia-cuda-nvrtc":  # a name without the major version
            assert only.specifier.contains(f"{major}.5.0")
            assert not only.specifier.contains(f"{major - 1}.9.0")
            assert not only.specifier.contains(f"{major + 1}.0.0")


def test_the_cuda_extras_bring_the_headers_cupy_builds_with() -> None:
    """CuPy builds no kernel, a RawModule of ours included, without the CUDA runtime headers
    (it raises "Failed to find CUDA headers"), so each CUDA extra names the runtime wheel of its
    major version; here (the cuda12 extra) cuda-pathfinder, which CuPy asks, finds
    ``cuda_runtime.h`` in that wheel, so a machine without a toolkit builds too."""
    from cuda.pathfinder import find_nvidia_header_directory

    extras = _core_extras()
    for extra, name in (("cuda12", "nvidia-cuda-runtime-cu12"), ("cuda13", "nvidia-cuda-runtime")):
        (runtime,) = [r for r in extras[extra] if r.name == name]
        if name == "nvidia-cuda-runtime":  # a name without the major version
            assert runtime.specifier.contains("13.0.96")
            assert not runtime.specifier.contains("12.9.79")
            assert not runtime.specifier.contains("14.0.0")
    found = find_nvidia_header_directory("cudart")
    assert found is not None
    header = (Path(found) / "cuda_runtime.h").resolve()
    files = importlib.metadata.files("nvidia-cuda-runtime-cu12") or []
    assert header in {Path(str(f.locate())).resolve() for f in files}


@pytest.mark.parametrize("directory", ["backends/opencl", "backends/intel", "backends/cuda"])
def test_a_backend_s_readme_names_each_of_its_extras(directory: str) -> None:
    """An extra nobody is told about (gds12, gds13 once) is one nobody installs."""
    readme = (ROOT / directory / "README.md").read_text(encoding="utf-8")
    project = _pyproject(directory)["project"]
    extras = project.get("optional-dependencies", {})
    assert extras
    for extra in extras:
        assert f"{project['name']}[{extra}]" in readme, extra


def test_the_development_environment_pins_nvrtc_12_and_13() -> None:
    """Both NVRTC wheels install side by side (the CuPy wheels would not): requirements-dev.txt
    pins each, within its extra, so the compile check compiles every kernel with both."""
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    pins = {
        canonicalize_name(r.name): r
        for r in (Requirement(x) for x in dev.splitlines() if x.startswith("nvidia-cuda-nvrtc"))
    }
    assert set(pins) == {"nvidia-cuda-nvrtc-cu12", "nvidia-cuda-nvrtc"}
    extras = _core_extras()
    for extra in ("cuda12", "cuda13"):
        (wanted,) = [r for r in extras[extra] if r.name.startswith("nvidia-cuda-nvrtc")]
        (pin,) = pins[canonicalize_name(wanted.name)].specifier
        assert pin.operator == "=="
        assert wanted.specifier.contains(pin.version)
        assert importlib.metadata.version(wanted.name) == pin.version


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


_IN_CHECKOUT = re.compile(r'python -m pip install "\.\[(\w+)\]" \./([\w/]+), in a gpuhash checkout')


@pytest.mark.parametrize("vendor", ["opencl", "intel", "cuda"])
def test_a_missing_backend_is_installed_from_a_checkout_with_its_extra(vendor: str) -> None:
    """None of the backends is on a package index: the hint names the core's extra and the
    backend's directory, whose distribution registers that backend."""
    hint = registry.registered()[vendor].install
    match = _IN_CHECKOUT.fullmatch(hint.split(" (")[0])
    assert match is not None, hint
    extra, directory = match.groups()
    assert extra in _core_extras()
    assert directory == f"backends/{vendor}"
    data = _pyproject(directory)
    assert data["project"]["name"] == f"gpuhash-{vendor}"
    assert vendor in data["project"]["entry-points"]["gpuhash.backends"]
    for other in re.findall(r'"\.\[(\w+)\]"', hint):
        assert other in _core_extras()


def test_the_conformance_command_comes_from_the_suite_s_distribution() -> None:
    """`gpuhash conformance` is the suite's entry point (gpuhash.cli.plugins), and its hint when
    the suite is missing names the suite's directory."""
    from gpuhash.cli import plugins

    data = _pyproject("conformance")
    command = "gpuhash_conformance.command:command"
    assert data["project"]["entry-points"][plugins.ENTRY_POINT_GROUP] == {"conformance": command}
    assert "gpuhash.commands" not in _pyproject(".")["project"].get("entry-points", {})
    assert "./conformance, in a gpuhash checkout" in str(plugins.not_installed("conformance"))


@pytest.mark.parametrize(
    ("module", "distribution", "extras"),
    [
        (gpuhash_opencl, "gpuhash", ["opencl"]),
        (gpuhash_intel, "gpuhash", ["intel"]),
        (gpuhash_cuda, "gpuhash-cuda", ["cuda12", "cuda13"]),
    ],
    ids=["opencl", "intel", "cuda"],
)
def test_an_installed_backend_missing_its_runtime_names_an_extra(
    module: ModuleType, distribution: str, extras: list[str]
) -> None:
    """The backend is installed (and so is gpuhash): pip reads the extra from the installed
    distribution, anywhere. The cuda backend names its own extras, one per CUDA major version."""
    hint = getattr(module, "INSTALL", "")
    assert hint.startswith(f'python -m pip install "{distribution}[')
    assert re.findall(rf'"{re.escape(distribution)}\[(\w+)\]"', hint) == extras
    directory = "." if distribution == "gpuhash" else DISTRIBUTIONS[distribution]
    assert set(extras) <= set(_pyproject(directory)["project"]["optional-dependencies"])


_PIP_LINE = re.compile(r"pip install ([^`#\n]+)")


#: Tools from PyPI the docs name for optional work (long fuzz campaigns), pinned, in no
#: requirements file.
OPTIONAL_TOOLS = ("atheris==3.0.0",)


def _hinted_targets() -> list[tuple[str, str]]:
    """Every argument of a `pip install` in the user-facing text: the docs and the messages."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += [ROOT / d / "README.md" for d in DISTRIBUTIONS.values() if d != "backends/example"]
    sources = sorted((ROOT / "gpuhash").rglob("*.py"))
    sources += [p for d in DISTRIBUTIONS.values() for p in sorted((ROOT / d).rglob("*.py"))]
    # Not what setuptools leaves behind in a checkout (build/lib copies, possibly stale).
    files += [p for p in sources if "build" not in p.relative_to(ROOT).parts]
    found = []
    for path in files:
        for match in _PIP_LINE.finditer(path.read_text(encoding="utf-8")):
            words = match.group(1).split()
            while words and words[0].startswith("-"):
                words = words[2:] if words[0] in ("-r", "-e") else words[1:]
            for raw in words:
                word = raw.strip("\"',:;)")
                if not word or not re.match(r"^[\w.\[\]/-]+$", word) or word.startswith("--"):
                    break  # past the command's arguments, into prose or a marker
                found.append((path.relative_to(ROOT).as_posix(), word))
                if raw.endswith((",", ";", ")")):
                    break  # "..., in a gpuhash checkout"
    return found


def test_every_install_hint_names_something_that_installs() -> None:
    """`pip install gpuhash-opencl` names a distribution no index has: a hint is a directory of
    this repository (with extras it has), the installed core with one of its extras, or an
    extra of an installed backend."""
    targets = _hinted_targets()
    assert len(targets) > 10  # the scan sees the hints
    core_extras = set(_core_extras())
    for where, target in targets:
        name, _, rest = target.partition("[")
        extras = set(rest.rstrip("]").split(",")) if rest else set()
        if name in (".", "") or name.startswith(("./", "backends/", "conformance")):
            directory = ROOT / name
            assert (directory / "pyproject.toml").is_file(), (where, target)
            offered = _pyproject(name)["project"].get("optional-dependencies", {})
            assert extras <= set(offered), (where, target)
        elif name == "gpuhash":
            assert extras, (where, target)  # the core itself is installed already
            assert extras <= core_extras, (where, target)
        elif name in DISTRIBUTIONS:
            assert extras, (where, target)  # only an extra of a backend that is installed
            offered = _pyproject(DISTRIBUTIONS[name])["project"]["optional-dependencies"]
            assert extras <= set(offered), (where, target)
        else:
            assert name in ("requirements-dev.txt", *OPTIONAL_TOOLS), (where, target)
