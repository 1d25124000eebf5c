"""OpenCL devices for parametrized tests, each skipped with the compiler's own reason when it
cannot build a kernel on this machine.

PoCL 3.0 (the ``pocl-binary-distribution`` wheel) asks its bundled LLVM for the host CPU's
name; on CPUs newer than that LLVM (seen on an AMD EPYC host) the answer is ``generic``, which
the same LLVM then refuses, so every build fails with "unknown target CPU 'generic'" and PoCL
has no setting to override it. Such a device is a runtime that does not work here, not a
failure of gpuhash: its tests are skipped, naming the reason, and run wherever it builds.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import pyopencl as cl
import pytest

__all__ = ["build_failure", "param"]

_PROBE = "__kernel void probe(__global uint *x) { x[get_global_id(0)] = 1u; }"


@functools.cache
def _failure(platform: str, device: str) -> str | None:
    for p in cl.get_platforms():
        for d in p.get_devices():
            if p.name.strip() == platform and d.name.strip() == device:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", cl.CompilerWarning)
                        cl.Program(cl.Context([d]), _PROBE).build()
                except cl.Error as e:
                    lines = [ln.strip() for ln in str(e).splitlines() if "error" in ln.lower()]
                    return lines[-1] if lines else str(e).splitlines()[0]
                return None
    return f"no OpenCL device {platform} / {device}"


def build_failure(device: Any) -> str | None:
    """Why ``device`` (a pyopencl device or a ``"<platform> / <device>"`` label) cannot build
    a trivial kernel here, or None when it can."""
    if isinstance(device, str):
        platform, _, name = device.partition(" / ")
        return _failure(platform.strip(), name.strip())
    return _failure(device.platform.name.strip(), device.name.strip())


def param(device: Any, id: str | None = None) -> Any:
    """``pytest.param(device)``, skipped with the reason when the device cannot build here."""
    reason = build_failure(device)
    marks = [pytest.mark.skip(reason=f"this OpenCL runtime cannot build here: {reason}")]
    return pytest.param(device, id=id, marks=marks if reason else [])
