"""This repository's backends through the conformance suite (the same mixin a vendor uses),
each with the configurations that must give identical results as variants."""

from __future__ import annotations

import gpuhash_intel
import gpuhash_opencl
from gpuhash_conformance import ConformanceSuite

from gpuhash.backends.cpu import CpuBackend


class TestCpu(ConformanceSuite):
    backend_factory = staticmethod(CpuBackend)
    variant_factories = (lambda: CpuBackend(threads=1),)


class TestOpenCLIntelRuntime(ConformanceSuite):
    backend_factory = staticmethod(lambda: gpuhash_opencl.OpenCLBackend(device="Intel"))
    variant_factories = (
        lambda: gpuhash_opencl.OpenCLBackend(device="Intel", local_size=1),
        lambda: gpuhash_opencl.OpenCLBackend(device="Intel", local_size=64),
        lambda: gpuhash_opencl.OpenCLBackend(device="Intel", local_size=16, layout="staged"),
    )


class TestIntelSycl(ConformanceSuite):
    backend_factory = staticmethod(lambda: gpuhash_intel.IntelBackend(device="opencl:cpu"))
