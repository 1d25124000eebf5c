"""Test configuration: Hypothesis profiles.

CI (``CI=true``) uses a derandomised profile, so a failure reproduces from its log; elsewhere
examples are random. ``GPUHASH_HYPOTHESIS_PROFILE`` picks a profile by name.
"""

from __future__ import annotations

import os

from hypothesis import settings

from gpuhash.kernels import make_intel_runtime_visible

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile(
    os.environ.get("GPUHASH_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)

# Intel's CPU OpenCL runtime must be made visible before pyopencl first lists platforms,
# whichever test module imports pyopencl first.
make_intel_runtime_visible()
