"""``gpuhash conformance BACKEND``: run the suite, print a table, write a JSON report.

The suite runs in a child interpreter with a pytest configuration of its own. Each check has a
time limit: a check that exceeds it is recorded as failed with that reason, the child exits,
and the run resumes in a fresh child with the checks already done deselected; a check that
kills the child (a crash in a device runtime) is recorded the same way. A backend that raises
or returns the wrong number of bytes fails that check with the error, and the suite goes on.

Verdicts are deterministic: the seed (default: derived from the suite's version) is printed and
written to the report, and every failure carries the command that replays it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import pytest

#: The child's exit status when a check ran past its time limit.
TIMED_OUT = 124


@dataclass
class Row:
    property: str
    examples: int
    result: str  # passed, failed, skipped
    detail: str
    seconds: float
    nodeid: str = ""
    #: The check's name without the backend (``test_leaf_counts[blake3]``): what ``--check``
    #: selects.
    check: str = ""
    #: What the check fed the backend: calls, leaves per call, largest offset and index...
    coverage: dict[str, int] = field(default_factory=dict)
    #: For a failed Hypothesis property: the smallest failing input, as Hypothesis printed it.
    falsifying: str = ""
    #: For a failure: the command that runs this check alone, with the same inputs.
    replay: str = ""


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines()]
    errors = [ln for ln in lines if ln.startswith("E ") and "Error" in ln]
    errors += [ln for ln in lines if ln.startswith("E ")]
    return (errors[0][1:].strip() if errors else (lines[-1] if lines else "failed"))[:300]


def _falsifying(text: str) -> str:
    """Hypothesis's smallest failing example (``Falsifying example`` / ``Failing test case``,
    up to its closing parenthesis) and its ``@reproduce_failure`` line, if any."""
    lines = [ln[1:].strip() if ln.startswith("E ") else ln.strip() for ln in text.splitlines()]
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith(("Falsifying example", "Failing test case")):
            for follow in lines[i : i + 40]:
                out.append(follow)
                if follow == ")" or (follow.endswith(")") and follow is line):
                    break
        elif "@reproduce_failure" in line:
            out.append(line)
    return "\n".join(out)[:3000]


class _Collector:
    """A pytest plugin in the child: one row per check, appended to ``rows_file`` as soon as
    the check ends; a watchdog that records a check running past ``timeout`` and exits."""

    def __init__(self, rows_file: str, current_file: str, timeout: float) -> None:
        self.rows_file = rows_file
        self.current_file = current_file
        self.timeout = timeout
        self.rows: dict[str, Row] = {}
        self.names: dict[str, str] = {}
        self.timer: threading.Timer | None = None
        self.lock = threading.Lock()

    def _append(self, row: Row) -> None:
        with self.lock, open(self.rows_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(row)) + "\n")

    def _current(self, nodeid: str) -> None:
        with open(self.current_file, "w", encoding="utf-8") as f:
            f.write(nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: object) -> None:
        from gpuhash_conformance.plugin import check_name

        self.names[item.nodeid] = check_name(item)

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        import faulthandler

        self._current(nodeid)
        row = Row(nodeid.split("::")[-1], 0, "passed", "", 0.0, nodeid)
        row.check = self.names.get(nodeid, row.property)
        self.rows[nodeid] = row
        if self.timeout > 0:
            self.timer = threading.Timer(self.timeout, self._expired, args=(nodeid,))
            self.timer.daemon = True
            self.timer.start()
            # A backstop that needs no GIL: a native call that holds it never lets the timer
            # run; this ends the process a little later and the parent records the check.
            faulthandler.dump_traceback_later(self.timeout * 1.5 + 5, exit=True)

    def _expired(self, nodeid: str) -> None:
        row = self.rows[nodeid]
        row.result = "failed"
        row.detail = f"exceeded the per-check time limit of {self.timeout:g} s"
        row.seconds = self.timeout
        self._append(row)
        import os

        os._exit(TIMED_OUT)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from gpuhash_conformance.mixins import COVERAGE, EXAMPLES

        row = self.rows.setdefault(
            report.nodeid, Row(report.nodeid.split("::")[-1], 0, "passed", "", 0.0, report.nodeid)
        )
        row.seconds += report.duration
        row.examples = EXAMPLES.get(report.nodeid, row.examples)
        if report.nodeid in COVERAGE:
            row.coverage = COVERAGE[report.nodeid].as_dict()
        if report.failed:
            row.result = "failed"
            text = str(report.longrepr) if report.longrepr is not None else ""
            row.detail = _first_error(text)
            row.falsifying = row.falsifying or _falsifying(text)
        elif report.skipped and row.result != "failed":
            row.result = "skipped"
            longrepr: Any = report.longrepr
            row.detail = str(longrepr[2]) if isinstance(longrepr, tuple) else ""

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        import faulthandler

        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            faulthandler.cancel_dump_traceback_later()
        self._append(self.rows[nodeid])
        self._current("")


def _display(row: Row, backend: str) -> str:
    if row.check:
        return row.check
    name = row.property
    return name.replace(f"[{backend}]", "").replace(f"[{backend}-", "[")


def _replay(backend: str, row: Row, seed: int | None, max_examples: int, timeout: float) -> str:
    """The command that runs this check alone with the same inputs (a failure that depends on
    what earlier checks did to the backend shows only in the whole run: the same command
    without ``--check``)."""
    from gpuhash_conformance.plugin import DEFAULT_CHECK_TIMEOUT

    seed_args = ["--derandomize"] if seed is None else ["--seed", str(seed)]
    argv = ["gpuhash", "conformance", backend, *seed_args, "--max-examples", str(max_examples)]
    if timeout != DEFAULT_CHECK_TIMEOUT:
        argv += ["--check-timeout", f"{timeout:g}"]
    return shlex.join([*argv, "--check", _display(row, backend)])


def _coverage_text(coverage: dict[str, int]) -> str:
    short = {
        "max_leaves_per_call": "leaves/call",
        "max_pairs_per_call": "pairs/call",
        "max_byte_offset": "offset",
        "max_leaf_index": "index",
        "max_object_bytes": "object",
    }
    parts = [f"{label} <= {coverage[key]:,}" for key, label in short.items() if key in coverage]
    return ", ".join(parts)


def run(
    backend: str,
    *,
    max_examples: int = 50,
    derandomize: bool = False,
    seed: int | None = None,
    check_timeout: float | None = None,
    report: str | None = None,
    out: TextIO = sys.stdout,
    extra_args: tuple[str, ...] = (),
) -> int:
    """Run the suite on ``backend`` in fresh interpreters (with a configuration of their own,
    so the current directory's pytest settings do not apply); print the table; 0 if every
    check passed (skips allowed), 1 if any failed, 2 if the suite could not run."""
    from gpuhash_conformance.plugin import DEFAULT_CHECK_TIMEOUT, default_seed, suite_version

    problem = _cannot_start(backend)
    if problem is not None:  # an error of the run, not a failed check
        out.write(f"gpuhash conformance: backend {backend}: the suite did not run: {problem}\n")
        return 2
    timeout = DEFAULT_CHECK_TIMEOUT if check_timeout is None else check_timeout
    used_seed = None if derandomize else (default_seed() if seed is None else seed)
    exitfirst = "-x" in extra_args or "--exitfirst" in extra_args
    started = time.perf_counter()
    rows: dict[str, Row] = {}
    tail = ""
    returncode = 0
    with tempfile.TemporaryDirectory(prefix="gpuhash-conformance-") as tmp:
        ini = f"{tmp}/pytest.ini"
        with open(ini, "w", encoding="utf-8") as f:
            f.write("[pytest]\n")
        rows_file, current_file = f"{tmp}/rows.jsonl", f"{tmp}/current"
        while True:
            open(current_file, "w").close()
            deselect = [a for nodeid in rows for a in ("--deselect", nodeid)]
            argv = [
                sys.executable,
                "-m",
                "gpuhash_conformance.runner",
                rows_file,
                current_file,
                str(timeout),
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
                *(["--derandomize"] if used_seed is None else ["--gpuhash-seed", str(used_seed)]),
                *deselect,
                *extra_args,
            ]
            done = subprocess.run(argv, check=False, capture_output=True, text=True)
            returncode = done.returncode
            tail = (done.stdout + done.stderr).strip()
            before = len(rows)
            rows.update(_read_rows(rows_file))
            with open(current_file, encoding="utf-8") as f:
                current = f.read().strip()
            if current and current not in rows:  # a check that never finished: a crash or hang
                detail = f"the check ended the process (exit status {returncode})"
                rows[current] = Row(current.split("::")[-1], 0, "failed", detail, 0.0, current)
                with open(rows_file, "a", encoding="utf-8") as f:
                    f.write(json.dumps(asdict(rows[current])) + "\n")
            stop = exitfirst and any(r.result == "failed" for r in rows.values())
            if returncode not in (0, 1, 5) and len(rows) > before and not stop:
                continue  # resume with the checks not yet run
            if returncode == 5 and rows:  # a resumed child with nothing left to run
                returncode = 0
            break
    ordered = list(rows.values())
    for r in ordered:
        if r.result == "failed":
            r.replay = _replay(backend, r, used_seed, max_examples, timeout)
    failed = any(r.result == "failed" for r in ordered)
    status = 1 if failed else (0 if ordered and returncode in (0, 1) else 2)
    width = max([len(_display(r, backend)) for r in ordered] + [8])
    seed_text = "Hypothesis derandomized" if used_seed is None else f"seed {used_seed}"
    out.write(f"gpuhash conformance: backend {backend} (suite {suite_version()}, {seed_text})\n")
    out.write(f"{'check':<{width}}  examples  result   detail\n")
    for r in ordered:
        detail = r.detail or _coverage_text(r.coverage)
        out.write(f"{_display(r, backend):<{width}}  {r.examples:>8}  {r.result:<7}  {detail}\n")
        if r.result == "failed":
            for line in r.falsifying.splitlines():
                out.write(f"{'':<{width}}                     {line}\n")
            out.write(f"{'':<{width}}                     replay: {r.replay}\n")
    verdict = {0: "PASS", 1: "FAIL", 2: "ERROR"}[status]
    counts = {k: sum(r.result == k for r in ordered) for k in ("passed", "failed", "skipped")}
    out.write(
        f"{verdict}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped\n"
    )
    if status == 2:
        out.write("the suite did not run:\n" + "\n".join(tail.splitlines()[-5:]) + "\n")
    if report is not None:
        from gpuhash import reference as ref
        from gpuhash.atomic import write_atomic

        document = {
            "backend": backend,
            "passed": status == 0,
            "status": verdict,
            "suite_version": suite_version(),
            "spec_version": ref.SPEC_VERSION,
            "seed": used_seed,
            "derandomize": used_seed is None,
            "max_examples": max_examples,
            "check_timeout": timeout,
            # A run narrowed by -k or --check is not the default run: its PASS covers less.
            "selection": list(extra_args),
            "complete": not any(a in ("-k", "--gpuhash-check") for a in extra_args),
            "seconds": round(time.perf_counter() - started, 3),
            "properties": [asdict(r) for r in ordered],
        }
        write_atomic(report, (json.dumps(document, indent=2) + "\n").encode())
    return status


def _read_rows(path: str) -> dict[str, Row]:
    """The rows a child appended (a line cut short by a killed child is skipped)."""
    out: dict[str, Row] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    row = Row(**json.loads(line))
                except (ValueError, TypeError):
                    continue
                out[row.nodeid] = row
    except FileNotFoundError:
        pass
    return out


def _cannot_start(backend: str) -> str | None:
    """Why ``backend`` cannot be created, tried in a child of its own (a backend that crashes
    or hangs while starting must not take the runner with it; nor may a device context be
    held open here while the checks run in other processes)."""
    code = (
        "import sys\n"
        "from gpuhash_conformance.plugin import load_backend\n"
        "try:\n"
        "    load_backend(sys.argv[1]).close()\n"
        "except Exception as e:\n"
        "    print(' '.join(str(e).split()) or type(e).__name__)\n"
        "    sys.exit(3)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, backend],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        return "creating the backend did not finish within 600 s"
    if done.returncode == 0:
        return None
    lines = (done.stdout + done.stderr).strip().splitlines()
    if done.returncode == 3 and lines:
        return lines[-1]
    return f"creating the backend ended its process (exit status {done.returncode})"


def _inner(argv: list[str]) -> int:
    """In the child: run pytest with the collector, rows appended to ``argv[0]``."""
    collector = _Collector(argv[0], argv[1], float(argv[2]))
    return int(pytest.main(argv[3:], plugins=[collector]))


if __name__ == "__main__":
    sys.exit(_inner(sys.argv[1:]))
