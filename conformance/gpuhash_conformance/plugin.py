"""The pytest plugin (entry point ``pytest11``): options, the backend selection, the Hypothesis
profile and the report header. Importing it does nothing; pytest calls its hooks.

    pytest --pyargs gpuhash_conformance --gpuhash-backend NAME [--max-examples N] [--derandomize]

``--gpuhash-backend`` may be given several times, or ``GPUHASH_BACKEND`` set (comma-separated);
the default is every backend available here except ``reference`` (the oracle itself). A name may
also be ``module:Class`` for a backend class that is not registered.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

PROFILE = "gpuhash-conformance"
ENV = "GPUHASH_BACKEND"


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
        help="fixed Hypothesis examples (reproducible runs, e.g. in CI)",
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
        **({"database": None} if config.getoption("--derandomize") else {}),
    )


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

    lines = [f"gpuhash conformance: spec version {ref.SPEC_VERSION}"]
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_backend_name" not in metafunc.fixturenames:
        return
    factory = getattr(metafunc.cls, "backend_factory", None) if metafunc.cls else None
    names = ["factory"] if factory is not None else selected_backends(metafunc.config)
    metafunc.parametrize("conformance_backend_name", names, scope="class")


@pytest.fixture(scope="session")
def conformance_settings() -> Any:
    """The Hypothesis settings of this run (``--max-examples``, ``--derandomize``)."""
    from hypothesis import settings

    return settings(settings.get_profile(PROFILE))


def load_backend(name: str) -> Any:
    """A backend by registry name, or ``module:Class`` for an unregistered class."""
    import gpuhash

    if ":" in name:
        import importlib

        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)()
    return gpuhash.get_backend(name)
