"""``gpuhash selftest``: passes on working backends, and fails on a broken one."""

from __future__ import annotations

import hashlib
import json

import pytest

from gpuhash import cli, selftest
from gpuhash import reference as ref
from gpuhash.algorithms import Algorithm
from gpuhash.backends.cpu import CpuBackend


class WrongNodeRole(CpuBackend):
    """Pairs nodes with the leaf role byte: the Sentry-style missing domain separation."""

    def hash_nodes(self, algorithm: Algorithm, children: bytes, roots: bytes) -> bytes:
        if algorithm.family != "merkle-sha256":
            return super().hash_nodes(algorithm, children, roots)
        d = algorithm.digest_size
        return b"".join(
            hashlib.sha256(children[2 * i * d : 2 * (i + 1) * d] + b"\x00").digest()
            for i in range(len(roots))
        )


def test_cpu_passes_everything() -> None:
    checks = selftest.run(CpuBackend(), quick=True)
    assert checks
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert {c.family for c in checks} == set(ref.FAMILIES)


def test_broken_backend_fails_the_right_checks() -> None:
    failed = {(c.family, c.name) for c in selftest.run(WrongNodeRole(), quick=True) if not c.passed}
    assert ("merkle-sha256", "nodes vs hashlib") in failed
    assert ("merkle-sha256", "objects vs reference") in failed
    assert all(family == "merkle-sha256" for family, _ in failed)


def _runtime(prefix: str) -> object:
    import cl_devices
    import gpuhash_opencl

    labels = [label for _, _, label, _ in gpuhash_opencl.list_devices()]
    label = next(x for x in labels if x.lower().startswith(prefix.lower()))
    reason = cl_devices.build_failure(label)
    marks = [pytest.mark.skip(reason=f"this OpenCL runtime cannot build here: {reason}")]
    return pytest.param(prefix, id=prefix, marks=marks if reason else [])


@pytest.mark.parametrize("device", [_runtime("Intel"), _runtime("Portable")])
def test_cli_selftest_opencl(device: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["selftest", "opencl", "--device", device, "--quick", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, [c for c in report["checks"] if not c["passed"]]
    assert report["passed"] is True
    assert report["device"].lower().startswith(device.lower())


def test_cli_selftest_exit_status_on_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gpuhash.registry

    real = gpuhash.registry.get_backend
    monkeypatch.setattr(
        gpuhash.registry,
        "get_backend",
        lambda name, **kw: WrongNodeRole() if name == "broken" else real(name, **kw),
    )
    code = cli.main(["selftest", "broken", "--quick"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out
    assert out.rstrip().endswith("failed")
    assert " 0 failed" not in out
