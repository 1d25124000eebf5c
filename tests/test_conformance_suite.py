"""The conformance suite tests itself: every deliberately broken backend must make it fail,
and a correct backend must pass it, through `gpuhash conformance` (the runner and its report)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from gpuhash_conformance import runner
from gpuhash_conformance.broken import BROKEN

# The 4 GiB property needs no broken backend to fail, and would hash 4 GiB per run.
FAST = ("-k", "not over_4_gib")


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_every_broken_backend_fails_the_suite(name: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    table = io.StringIO()
    status = runner.run(
        f"gpuhash_conformance.broken:{name}",
        max_examples=15,
        derandomize=True,
        report=str(report),
        extra_args=FAST,
        out=table,
    )
    assert status == 1, table.getvalue()
    document = json.loads(report.read_text())
    assert document["passed"] is False
    assert any(p["result"] == "failed" for p in document["properties"])


def test_the_cli_runs_the_suite_and_writes_a_report(tmp_path: Path) -> None:
    """A correct backend passes: table on stdout, JSON report, exit status 0."""
    report = tmp_path / "cpu.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuhash",
            "conformance",
            "cpu",
            "--max-examples",
            "5",
            "--derandomize",
            "--report",
            str(report),
            "-k",
            FAST[1],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gpuhash conformance: backend cpu" in run.stdout
    assert run.stdout.rstrip().splitlines()[-1].startswith("PASS:")
    document = json.loads(report.read_text())
    assert document["passed"] is True
    names = {p["property"] for p in document["properties"]}
    assert {"test_leaf_values", "test_tree_levels", "test_inclusion_proofs"} <= names
    assert all(p["examples"] > 0 for p in document["properties"] if p["result"] == "passed")


def test_an_unknown_backend_is_an_error_not_a_pass() -> None:
    table = io.StringIO()
    status = runner.run("no-such-backend", max_examples=1, out=table)
    assert status == 2, table.getvalue()
    assert "the suite did not run" in table.getvalue()
