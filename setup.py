"""Build the one optional C extension, gpuhash._blake3cv (BLAKE3 chaining values at memory
speed); everything else about the package is in pyproject.toml.

The extension is optional: where it cannot be built (no C compiler), setuptools says so and the
install goes on; gpuhash then computes BLAKE3 chaining values with numpy (gpuhash.blake3_lanes)
and `gpuhash backends` says which one is in use. See docs/backends.md, "BLAKE3 chaining values".
"""

from __future__ import annotations

import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# CPython 3.11's stable ABI (abi3): one wheel per platform for every CPython from 3.11 on. Free-
# threaded builds have no stable ABI yet; there the module is built for the one interpreter.
LIMITED_API = not sysconfig.get_config_var("Py_GIL_DISABLED")


class BuildExt(build_ext):
    """Optimise fully where the compiler takes GCC-style flags (distribution Pythons often
    build with -O2, which leaves the lane loops less unrolled)."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-O3"]
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "gpuhash._blake3cv",
            ["gpuhash/_blake3cv.c"],
            depends=["gpuhash/_blake3cv_kernel.h"],
            optional=True,
            py_limited_api=LIMITED_API,
            define_macros=[("Py_LIMITED_API", "0x030B0000")] if LIMITED_API else [],
        )
    ],
    cmdclass={"build_ext": BuildExt},
    options={"bdist_wheel": {"py_limited_api": "cp311"}} if LIMITED_API else {},
)
