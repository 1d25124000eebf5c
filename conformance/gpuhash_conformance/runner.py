"""``gpuhash conformance BACKEND``: run the suite, print a table, write a JSON report."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import pytest


@dataclass
class Row:
    property: str
    examples: int
    result: str  # passed, failed, skipped
    detail: str
    seconds: float


class _Collector:
    """A pytest plugin that records one row per test of the suite."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from gpuhash_conformance.mixins import EXAMPLES

        name = report.nodeid.split("::")[-1]
        row = self.rows.get(report.nodeid)
        if row is None:
            row = self.rows[report.nodeid] = Row(name, 0, "passed", "", 0.0)
        row.seconds += report.duration
        row.examples = EXAMPLES.get(report.nodeid, row.examples)
        if report.failed:
            row.result = "failed"
            text = str(report.longrepr) if report.longrepr is not None else ""
            lines = [ln.strip() for ln in text.splitlines()]
            errors = [ln for ln in lines if ln.startswith("E ") and "Error" in ln]
            errors += [ln for ln in lines if ln.startswith("E ")]
            first = errors[0][1:].strip() if errors else (lines[-1] if lines else "failed")
            row.detail = first[:200]
        elif report.skipped and row.result != "failed":
            row.result = "skipped"
            longrepr: Any = report.longrepr
            row.detail = str(longrepr[2]) if isinstance(longrepr, tuple) else ""


def run(
    backend: str,
    *,
    max_examples: int = 50,
    derandomize: bool = False,
    report: str | None = None,
    out: TextIO = sys.stdout,
    extra_args: tuple[str, ...] = (),
) -> int:
    """Run the suite on ``backend`` in a fresh interpreter (with a configuration of its own, so
    the current directory's pytest settings do not apply); print the table; 0 if every
    property passed (skips allowed), 1 if any failed, 2 if the suite could not run."""
    import subprocess
    import tempfile

    from gpuhash_conformance.plugin import load_backend

    try:  # a backend that cannot start is an error of the run, not a failed property
        load_backend(backend).close()
    except Exception as e:
        out.write(f"gpuhash conformance: backend {backend}: the suite did not run: {e}\n")
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpuhash-conformance-") as tmp:
        ini = f"{tmp}/pytest.ini"
        with open(ini, "w", encoding="utf-8") as f:
            f.write("[pytest]\n")
        rows_file = f"{tmp}/rows.json"
        argv = [
            sys.executable,
            "-m",
            "gpuhash_conformance.runner",
            rows_file,
            "-c",
            ini,
            "--rootdir",
            tmp,
            "-q",
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "gpuhash_conformance",
            "--gpuhash-backend",
            backend,
            "--max-examples",
            str(max_examples),
            *(["--derandomize"] if derandomize else []),
            *extra_args,
        ]
        done = subprocess.run(argv, check=False, capture_output=True, text=True)
        try:
            with open(rows_file, encoding="utf-8") as f:
                rows = [Row(**r) for r in json.load(f)]
        except FileNotFoundError:
            rows = []
    for r in rows:  # the backend is the run's; keep the other parameters
        r.property = r.property.replace(f"[{backend}]", "").replace(f"[{backend}-", "[")
    failed = any(r.result == "failed" for r in rows)
    status = 1 if failed else (0 if rows and done.returncode in (0, 1) else 2)
    width = max([len(r.property) for r in rows] + [8])
    out.write(f"gpuhash conformance: backend {backend}\n")
    out.write(f"{'property':<{width}}  examples  result   detail\n")
    for r in rows:
        out.write(f"{r.property:<{width}}  {r.examples:>8}  {r.result:<7}  {r.detail}\n")
    verdict = {0: "PASS", 1: "FAIL", 2: "ERROR"}[status]
    counts = {k: sum(r.result == k for r in rows) for k in ("passed", "failed", "skipped")}
    out.write(
        f"{verdict}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped\n"
    )
    if status == 2:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        out.write("the suite did not run:\n" + "\n".join(tail) + "\n")
    if report is not None:
        from gpuhash._atomic import write_atomic

        document = {
            "backend": backend,
            "passed": status == 0,
            "status": verdict,
            "max_examples": max_examples,
            "derandomize": derandomize,
            "seconds": round(time.perf_counter() - started, 3),
            "properties": [asdict(r) for r in rows],
        }
        write_atomic(report, (json.dumps(document, indent=2) + "\n").encode())
    return status


def _inner(argv: list[str]) -> int:
    """In the child: run pytest with the collector and write its rows to ``argv[0]``."""
    collector = _Collector()
    code = pytest.main(argv[1:], plugins=[collector])
    with open(argv[0], "w", encoding="utf-8") as f:
        json.dump([asdict(r) for r in collector.rows.values()], f)
    return int(code)


if __name__ == "__main__":
    sys.exit(_inner(sys.argv[1:]))
