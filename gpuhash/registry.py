"""The backend registry: names mapped to import paths, loaded lazily.

Built-in backends (``reference``, ``cpu``) and the first-party device backends (``opencl``,
``intel``, ``cuda``, each its own distribution) are listed here with the command that installs
them. Any distribution can add a backend through the entry-point group ``gpuhash.backends``
(``name = "package.module:BackendClass"``); an entry point named like a first-party backend
replaces its listing (that is how ``gpuhash-opencl`` registers ``opencl``). The built-in names
``cpu`` and ``reference`` cannot be taken over by another distribution, and asking for them
reads no entry points. Nothing is imported until a backend is asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from gpuhash.algorithms import FAMILIES, Algorithm
from gpuhash.backend import HashBackend
from gpuhash.errors import BackendUnavailable, GpuhashError, UsageError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gpuhash.backends"
AUTO = "auto"


@dataclass(frozen=True)
class BackendSpec:
    name: str
    target: str  # "module:attribute"
    install: str  # how to get it, shown when it is missing
    origin: str  # "built-in", "first-party", or the distribution that registered it


#: Where the user stands when a first-party backend is missing: gpuhash is installed, the
#: backends are on no package index yet, so they install from a gpuhash checkout, each with the
#: core's extra that brings its third-party runtime (README, "Install").
_CHECKOUT = "in a gpuhash checkout"
_KNOWN = {
    "cpu": BackendSpec("cpu", "gpuhash.backends.cpu:CpuBackend", "part of gpuhash", "built-in"),
    "cuda": BackendSpec(
        "cuda",
        "gpuhash_cuda:CudaBackend",
        f'python -m pip install ".[cuda12]" ./backends/cuda, {_CHECKOUT} '
        '(".[cuda13]" for a CUDA 13 driver)',
        "first-party",
    ),
    "intel": BackendSpec(
        "intel",
        "gpuhash_intel:IntelBackend",
        f'python -m pip install ".[intel]" ./backends/intel, {_CHECKOUT}',
        "first-party",
    ),
    "opencl": BackendSpec(
        "opencl",
        "gpuhash_opencl:OpenCLBackend",
        f'python -m pip install ".[opencl]" ./backends/opencl, {_CHECKOUT}',
        "first-party",
    ),
    "reference": BackendSpec(
        "reference",
        "gpuhash.backends.reference:ReferenceBackend",
        "part of gpuhash",
        "built-in",
    ),
}


@cache
def registered() -> Mapping[str, BackendSpec]:
    """Every backend name known here, sorted, read-only."""
    from importlib.metadata import entry_points  # not at import time: it costs ~20 ms

    table = dict(_KNOWN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _KNOWN and _KNOWN[ep.name].origin == "built-in":
            continue  # built-in names are not for others to take over
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        install = table[ep.name].install if ep.name in table else f"provided by {dist}"
        table[ep.name] = BackendSpec(ep.name, ep.value, install, dist)
    return MappingProxyType(dict(sorted(table.items())))


def is_builtin(name: str) -> bool:
    """``cpu`` and ``reference``: always there, never taken over, found without entry points."""
    spec = _KNOWN.get(name)
    return spec is not None and spec.origin == "built-in"


def _load_class(spec: BackendSpec) -> type[HashBackend]:
    module_name, _, attr = spec.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        missing = getattr(e, "name", None) or module_name
        if missing == module_name.split(".")[0] or missing == module_name:
            raise BackendUnavailable(
                f"backend {spec.name!r} is not installed; install it with: {spec.install}"
            ) from None
        raise BackendUnavailable(
            f"backend {spec.name!r} cannot be imported: {e}; its package may need: {spec.install}"
        ) from None
    except Exception as e:  # a broken package: say so in one line
        detail = str(e).splitlines()[0] if str(e) else ""
        raise BackendUnavailable(
            f"backend {spec.name!r} failed to import: {type(e).__name__}: {detail}".rstrip(": ")
        ) from None
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, HashBackend)):
        raise BackendUnavailable(f"backend {spec.name!r}: {spec.target} is not a HashBackend")
    return cls


def _describe_all() -> str:
    names = ", ".join(registered())
    return f"known backends: {names} (and {AUTO!r}); see `gpuhash backends`"


def backend_class(name: str) -> type[HashBackend]:
    """The class registered as ``name``, imported but not instantiated (no device is touched)."""
    builtin = _KNOWN.get(name)
    spec = (
        builtin if builtin is not None and builtin.origin == "built-in" else registered().get(name)
    )
    if spec is None:
        raise UsageError(f"unknown backend {name!r}; {_describe_all()}")
    return _load_class(spec)


def constructor_options(cls: Any) -> tuple[str, ...] | None:
    """The keyword options a backend class's constructor takes, or None when it takes any
    (``**kwargs``) or its signature cannot be read."""
    import inspect

    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def _check_options(name: str, cls: Any, options: dict[str, Any]) -> None:
    """Options the backend's constructor does not take, named in one line with the ones it
    does (not a Python TypeError text)."""
    takes = constructor_options(cls)
    if takes is None:
        return
    unknown = [k for k in options if k not in takes]
    if unknown:
        offered = ", ".join(takes) if takes else "none"
        raise UsageError(
            f"backend {name!r} has no option {', '.join(unknown)} (its options: {offered})"
        )


def get_backend(
    name: str = AUTO, *, algorithm: Algorithm | None = None, **options: Any
) -> HashBackend:
    """An instance of the backend ``name``, or for ``auto`` the available backend with the
    highest priority (that supports ``algorithm`` when given). ``options`` go to its constructor."""
    if name == AUTO:
        return _auto(algorithm, options)
    builtin = _KNOWN.get(name)
    spec = (
        builtin if builtin is not None and builtin.origin == "built-in" else registered().get(name)
    )
    if spec is None:
        raise UsageError(f"unknown backend {name!r}; {_describe_all()}")
    cls = _load_class(spec)
    _check_options(name, cls, options)
    try:
        backend = cls(**options)
    except TypeError as e:
        raise UsageError(f"backend {name!r} does not take these options: {e}") from None
    except GpuhashError:
        raise
    except Exception as e:  # a device stack failing in its own way: say so, in one line
        detail = str(e).splitlines()[0] if str(e) else ""
        raise BackendUnavailable(
            f"backend {name!r} cannot start: {type(e).__name__}: {detail}".rstrip(": ")
        ) from None
    if algorithm is not None and algorithm.family not in backend.capabilities().families:
        backend.close()
        raise UsageError(f"backend {name!r} does not support {algorithm.family}")
    return backend


def _auto(algorithm: Algorithm | None, options: dict[str, Any]) -> HashBackend:
    """The available backend with the highest priority (the first in name order among equals).

    Every backend is first probed (``HashBackend.probe``: no context, no kernels); backends are
    then started in order of the priority their probe allows (unknown first), and one whose
    probe allows no more than the best started so far is not started at all, so a machine
    without a GPU does not start every installed device stack to find that out. Each backend
    left out is logged (logger ``gpuhash.registry``): at INFO when it is simply not usable
    here (not installed, no device, lower priority), at WARNING when it is installed but
    broken (its package fails to import, or it crashes while starting), which a user should
    hear about rather than silently get a slower backend.
    """
    if options:
        raise UsageError("backend options need an explicit backend name, not 'auto'")
    candidates: list[tuple[int, BackendSpec, type[HashBackend], int | None]] = []
    for index, spec in enumerate(registered().values()):
        if spec.name == "reference":
            continue
        # Only consider backends whose package is importable without trying to install anything.
        module_root = spec.target.split(":")[0].split(".")[0]
        if module_root != "gpuhash" and importlib.util.find_spec(module_root) is None:
            log.info("auto: skipping %s: not installed (%s)", spec.name, spec.install)
            continue
        try:
            cls = _load_class(spec)
        except BackendUnavailable as e:
            log.warning("auto: skipping %s: %s", spec.name, e)
            continue
        try:
            probe = cls.probe()
        except Exception as e:  # a probe must not fail; if it does, the backend is broken
            log.warning("auto: skipping %s: its probe failed: %s", spec.name, _one_line(e))
            continue
        if not probe.available:
            log.info("auto: skipping %s: %s", spec.name, probe.reason or "not available here")
            continue
        candidates.append((index, spec, cls, probe.priority))
    # Unknown priorities first (they must be started to be compared), then highest first.
    candidates.sort(key=lambda c: (c[3] is not None, -(c[3] or 0), c[0]))
    best: tuple[int, int, HashBackend, str] | None = None  # (priority, order, backend, name)
    for index, spec, cls, bound in candidates:
        if best is not None and bound is not None and (bound, -index) < (best[0], -best[1]):
            log.info(
                "auto: not starting %s: its priority here is at most %d, %s has %d",
                spec.name,
                bound,
                best[3],
                best[0],
            )
            continue
        try:
            backend = cls()
            caps = backend.capabilities()
        except BackendUnavailable as e:
            log.info("auto: skipping %s: %s", spec.name, _one_line(e))
            continue
        except Exception as e:  # an unusable backend is not chosen, but it is said why
            log.warning(
                "auto: skipping %s: it failed to start: %s: %s",
                spec.name,
                type(e).__name__,
                _one_line(e),
            )
            continue
        if algorithm is not None and algorithm.family not in caps.families:
            log.info("auto: skipping %s: it does not support %s", spec.name, algorithm.family)
            backend.close()
            continue
        log.debug("auto: %s started, priority %d", spec.name, caps.priority)
        if best is None or (caps.priority, -index) > (best[0], -best[1]):
            if best is not None:
                best[2].close()
            best = (caps.priority, index, backend, spec.name)
        else:
            backend.close()
    if best is None:
        raise BackendUnavailable(f"no backend is available; {_describe_all()}")
    log.info("auto: chose %s (priority %d)", best[3], best[0])
    return best[2]


def _one_line(e: BaseException) -> str:
    text = str(e)
    return text.splitlines()[0] if text else type(e).__name__


@dataclass(frozen=True)
class BackendInfo:
    """One registered backend as ``available_backends`` (and ``gpuhash backends``) reports it."""

    #: The registered name (``cpu``, ``opencl``...).
    name: str
    #: Whether it loaded and answered ``capabilities()`` here.
    available: bool
    #: Why not, in one line, when it is not available; empty otherwise.
    reason: str
    #: The devices it can use (empty when not available).
    devices: tuple[str, ...]
    #: The algorithm identifiers it claims, in the specification's order.
    algorithms: tuple[str, ...]
    #: Where it comes from: ``built-in``, ``first-party`` or the distribution that registered it.
    origin: str
    #: What to install when it is missing, for the hint.
    install: str
    #: Its ``auto`` priority (higher is preferred; 0 when not available).
    priority: int

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (``gpuhash backends --json``)."""
        return {
            "name": self.name,
            "available": self.available,
            "reason": self.reason,
            "devices": list(self.devices),
            "algorithms": list(self.algorithms),
            "origin": self.origin,
            "install": self.install,
            "priority": self.priority,
        }


def available_backends() -> list[BackendInfo]:
    """Every registered backend, loaded to find out whether it works here and why not."""
    out = []
    for spec in registered().values():
        try:
            backend = _load_class(spec)()
            try:
                caps = backend.capabilities()
            finally:
                backend.close()
        except Exception as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            out.append(BackendInfo(spec.name, False, reason, (), (), spec.origin, spec.install, 0))
            continue
        ids = tuple(Algorithm(f).id for f in FAMILIES if f in caps.families)
        out.append(
            BackendInfo(
                spec.name, True, "", caps.devices, ids, spec.origin, spec.install, caps.priority
            )
        )
    return out


def refresh() -> None:
    """Forget the cached entry-point table (after installing a backend at run time)."""
    registered.cache_clear()
