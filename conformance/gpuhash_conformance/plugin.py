"""The pytest plugin (entry point ``pytest11``): options, the backend selection, the Hypothesis
profile and the report header. Importing it does nothing; pytest calls its hooks.

    pytest --pyargs gpuhash_conformance --gpuhash-backend NAME [--max-examples N]
        [--gpuhash-seed N | --derandomize]

``--gpuhash-backend`` may be given several times, or ``GPUHASH_BACKEND`` set (comma-separated);
the default is every backend available here except ``reference`` (the oracle itself). A name may
also be ``module:Class`` for a backend class that is not registered.

Verdicts are deterministic: the Hypothesis properties draw their examples from a seed (by
default derived from the suite's version, so one suite version gives one set of examples on
every machine) and never replay examples stored by an earlier run; the boundary enumerations
take no random input at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import pytest

PROFILE = "gpuhash-conformance"
ENV = "GPUHASH_BACKEND"
#: What the ``conformance_settings`` fixture gives: applies this run's settings and seed.
PropertySettings = Callable[[Callable[..., None]], Callable[..., None]]
#: Seconds one check may take in a ``gpuhash conformance`` run before it fails as hung
#: (``--check-timeout``; plain ``pytest`` runs enforce no limit).
DEFAULT_CHECK_TIMEOUT = 600


def suite_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gpuhash-conformance")
    except PackageNotFoundError:
        return "unknown"


def default_seed() -> int:
    """The seed of a default run: a function of the suite's version only."""
    text = f"gpuhash-conformance {suite_version()}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "big")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gpuhash-conformance", "gpuhash conformance suite")
    group.addoption(
        "--gpuhash-backend",
        action="append",
        default=[],
        metavar="NAME",
        help=f"backend to check (repeatable; default ${ENV} or every available backend)",
    )
    group.addoption(
        "--max-examples",
        type=int,
        default=50,
        metavar="N",
        help="Hypothesis examples per property (default 50)",
    )
    group.addoption(
        "--derandomize",
        action="store_true",
        default=False,
        help="Hypothesis's own fixed examples instead of the seeded ones",
    )
    group.addoption(
        "--gpuhash-check",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this check, named as in the report without the backend "
        "(e.g. 'test_leaf_counts[blake3]'; repeatable)",
    )
    group.addoption(
        "--gpuhash-seed",
        type=int,
        default=None,
        metavar="N",
        help="seed of the Hypothesis properties (default: derived from the suite's version)",
    )


def pytest_configure(config: pytest.Config) -> None:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        PROFILE,
        max_examples=config.getoption("--max-examples"),
        derandomize=config.getoption("--derandomize"),
        deadline=None,  # the first device call compiles kernels
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
        database=None,  # examples stored by earlier runs would change the verdict
        print_blob=True,  # a failure prints the @reproduce_failure line that replays it
    )


def run_seed(config: pytest.Config) -> int:
    seed = config.getoption("--gpuhash-seed")
    return default_seed() if seed is None else int(seed)


def selected_backends(config: pytest.Config) -> list[str]:
    names: list[str] = list(config.getoption("--gpuhash-backend"))
    if not names and os.environ.get(ENV):
        names = [n.strip() for n in os.environ[ENV].split(",") if n.strip()]
    if not names:
        import gpuhash

        names = [
            i.name for i in gpuhash.available_backends() if i.available and i.name != "reference"
        ]
    return names


def _suite_requested(config: pytest.Config) -> bool:
    """The suite is being run: a backend was named, or the package was asked for."""
    args = " ".join(str(a) for a in config.args)
    return bool(
        config.getoption("--gpuhash-backend")
        or os.environ.get(ENV)
        or "gpuhash_conformance" in args
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Spec version, package versions, and each backend with its device (only when the suite
    runs: other test sessions in the same environment are left alone)."""
    from importlib.metadata import PackageNotFoundError, version

    if not _suite_requested(config):
        return []

    import gpuhash
    from gpuhash import reference as ref

    lines = [
        f"gpuhash conformance: spec version {ref.SPEC_VERSION}, suite {suite_version()}, "
        + (
            "Hypothesis derandomized"
            if config.getoption("--derandomize")
            else f"seed {run_seed(config)}"
        )
    ]
    packages = []
    for dist in ("gpuhash", "gpuhash-conformance", "hypothesis"):
        try:
            packages.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            continue
    lines.append("packages: " + ", ".join(packages))
    infos = {i.name: i for i in gpuhash.available_backends()}
    for name in selected_backends(config):
        info = infos.get(name)
        if info is None:
            lines.append(f"backend {name}")
            continue
        where = ", ".join(info.devices) if info.available else f"unavailable: {info.reason}"
        origin = f" ({info.origin})" if info.origin else ""
        lines.append(f"backend {name}{origin}: {where}")
    return lines


def check_name(item: pytest.Item) -> str:
    """A check's name without its backend parameter: ``test_x[blake3]``, ``test_y``."""
    func = item.name.partition("[")[0]
    callspec = getattr(item, "callspec", None)
    params = (
        []
        if callspec is None
        else [str(v) for k, v in callspec.params.items() if k != "conformance_backend_name"]
    )
    return f"{func}[{'-'.join(params)}]" if params else func


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(config.getoption("--gpuhash-check"))
    if not wanted:
        return
    keep = [i for i in items if check_name(i) in wanted]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_backend_name" not in metafunc.fixturenames:
        return
    factory = getattr(metafunc.cls, "backend_factory", None) if metafunc.cls else None
    names = ["factory"] if factory is not None else selected_backends(metafunc.config)
    metafunc.parametrize("conformance_backend_name", names, scope="class")


@pytest.fixture(scope="session")
def conformance_settings(request: pytest.FixtureRequest) -> PropertySettings:
    """Applies this run's Hypothesis settings (``--max-examples``) and seed to a property
    (``@conformance_settings`` above ``@given``)."""
    from hypothesis import seed, settings

    chosen = settings(settings.get_profile(PROFILE))
    if request.config.getoption("--derandomize"):
        return chosen
    fixed = seed(run_seed(request.config))

    def apply(test: Callable[..., None]) -> Callable[..., None]:
        applied: Callable[..., None] = fixed(chosen(test))
        return applied

    return apply


def load_backend(name: str) -> Any:
    """A backend by registry name, or ``module:Class`` for an unregistered class."""
    import gpuhash

    if ":" in name:
        import importlib

        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)()
    return gpuhash.get_backend(name)
