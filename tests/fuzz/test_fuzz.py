"""The fuzz campaigns: each parser of hostile input fed its seed corpus and then mutations for
``GPUHASH_FUZZ_SECONDS`` (default 20) in a child process (``fuzz.engine``), which must report
no failure. One test class per parser, so pytest-xdist runs two parsers at a time.

``GPUHASH_FUZZ_SEED`` picks the mutation sequence (default 0: every run the same);
``GPUHASH_FUZZ_REPORT``: a file each campaign appends its JSON report to (one line each);
``GPUHASH_FUZZ_CRASHES``: where failing inputs are written (default: the test's tmp_path).
A failing input copied into ``corpus/<parser>/`` is replayed by every later run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fuzz import targets

pytestmark = pytest.mark.fuzz

TESTS = Path(__file__).resolve().parents[1]
#: The child's set-up (imports, signing the seeds) and report, beyond the fuzzing budget.
SETUP_SECONDS = 120


def budget() -> float:
    return float(os.environ.get("GPUHASH_FUZZ_SECONDS", "20"))


def campaign(name: str, tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    """Run the engine on target ``name``; fail listing every failing input it found."""
    crashes = Path(os.environ.get("GPUHASH_FUZZ_CRASHES") or tmp_path / "crashes") / name
    report_path = tmp_path / "report.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    env["MALLOC_ARENA_MAX"] = "2"  # thread arenas would use up the capped address space
    argv = [sys.executable, "-m", "fuzz.engine", name, "--seconds", str(budget())]
    argv += ["--seed", os.environ.get("GPUHASH_FUZZ_SEED", "0"), "--work", str(tmp_path / "work")]
    argv += ["--crashes", str(crashes), "--report", str(report_path)]
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=budget() + SETUP_SECONDS
        )
    except subprocess.TimeoutExpired:
        current = tmp_path / "work" / "current-input"
        head = current.read_bytes()[:160] if current.exists() else b""
        pytest.fail(f"{name}: the engine hung (killed) on the input in {current}: {head!r}")
    if not report_path.exists():
        pytest.fail(f"{name}: the engine died (status {done.returncode}): {done.stderr[-3000:]}")
    report = json.loads(report_path.read_text())
    record_property("fuzz_parser", name)
    record_property("fuzz_executions", report["executions"])
    line = (
        f"fuzz {name}: {report['executions']} executions ({report['accepted']} accepted) in "
        f"{report['seconds']} s, {len(report['failures'])} failures"
    )
    print(line)
    out = os.environ.get("GPUHASH_FUZZ_REPORT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({k: v for k, v in report.items() if k != "failures"}) + "\n")
    if report["failures"]:
        lines = [
            f"  {f['kind']} at {f['where'] or '-'} ({f['count']}x): {f['detail']}\n"
            f"    input {f['input']} ({f['size']} bytes): {f['head']}"
            for f in report["failures"]
        ]
        pytest.fail(f"{line}:\n" + "\n".join(lines), pytrace=False)


def _campaign_class(name: str) -> type:
    def test_campaign(
        self: object, tmp_path: Path, record_property: Callable[[str, object], None]
    ) -> None:
        campaign(name, tmp_path, record_property)

    test_campaign.__doc__ = f"The {name} parser survives its corpus and then mutations."
    title = "".join(part.title() for part in name.split("-"))
    return type(f"TestFuzz{title}", (), {"test_campaign": test_campaign})


for _name in targets.TARGETS:
    _cls = _campaign_class(_name)
    globals()[_cls.__name__] = _cls
