"""Test configuration: Hypothesis profiles, and the fuzz campaigns' executions in the summary.

CI (``CI=true``) uses a derandomised profile, so a failure reproduces from its log; elsewhere
examples are random. ``GPUHASH_HYPOTHESIS_PROFILE`` picks a profile by name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
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


@pytest.fixture
def ec_keys(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh ECDSA P-256 key pair in PEM files: (private key, public key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "ec-key.pem", tmp_path / "ec-pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The executions of each fuzz campaign run (tests/fuzz/test_fuzz.py), one line each."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            props = dict(getattr(report, "user_properties", ()))
            if getattr(report, "when", None) == "call" and "fuzz_executions" in props:
                executions = props["fuzz_executions"]
                lines.append(f"{props['fuzz_parser']}: {executions} executions ({report.outcome})")
    if lines:
        terminalreporter.write_sep("-", "fuzz executions per parser")
        for line in sorted(lines):
            terminalreporter.write_line(line)
