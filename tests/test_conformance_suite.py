"""The conformance suite tests itself, through `gpuhash conformance` (the runner and its report):

* every deliberately broken backend (``gpuhash_conformance.broken.BROKEN``: one realistic bug
  each) fails the default run;
* a correct backend passes, and the report shows what was tested (past 2^32 bytes, 2^17 leaves
  per call) with the run's seed;
* verdicts are deterministic, and a failure prints the smallest failing input and a command
  that replays it;
* a backend that hangs, raises, returns short values or crashes fails the checks it breaks,
  and the run goes on;
* the cached digests of the generated object past 4 GiB are what the specification gives.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from gpuhash_conformance import large, runner
from gpuhash_conformance.broken import BROKEN
from gpuhash_conformance.plugin import default_seed

BROKEN_PREFIX = "gpuhash_conformance.broken:"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_every_broken_backend_fails_the_default_run(name: str, tmp_path: Path) -> None:
    """The default run (its seed, its example counts) stopped at the first failure (-x): the
    verdict is the default run's, without hashing 20 GiB for a verdict already known."""
    report = tmp_path / "report.json"
    table = io.StringIO()
    status = runner.run(BROKEN_PREFIX + name, report=str(report), extra_args=("-x",), out=table)
    assert status == 1, table.getvalue()
    document = json.loads(report.read_text())
    assert document["passed"] is False
    assert document["seed"] == default_seed()
    failed = [p for p in document["properties"] if p["result"] == "failed"]
    assert failed, table.getvalue()
    assert failed[0]["replay"].startswith(f"gpuhash conformance {BROKEN_PREFIX}{name} --seed ")


def test_the_report_shows_what_was_tested(tmp_path: Path) -> None:
    """A correct backend passes; the report names the seed and, per check, the largest call
    (leaves per call past 2^17), byte offset (past 2^32) and leaf index."""
    report = tmp_path / "cpu.json"
    select = "test_offsets_past_2_32 or (test_leaf_counts and sha256) or test_leaf_values"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuhash",
            "conformance",
            "cpu",
            "--max-examples",
            "5",
            "--report",
            str(report),
            "-k",
            select,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"seed {default_seed()}" in run.stdout.splitlines()[0]
    assert run.stdout.rstrip().splitlines()[-1].startswith("PASS:")
    document = json.loads(report.read_text())
    assert document["passed"] is True
    assert document["seed"] == default_seed()
    rows = {p["property"]: p for p in document["properties"]}
    offsets = rows["test_offsets_past_2_32[cpu-merkle-sha256]"]["coverage"]
    assert offsets["max_byte_offset"] > 1 << 32
    assert offsets["max_leaf_index"] > 1 << 32
    counts = rows["test_leaf_counts[cpu-merkle-sha256]"]["coverage"]
    assert counts["max_leaves_per_call"] > 1 << 17
    assert rows["test_leaf_values[cpu]"]["examples"] == 5


def test_a_failure_is_deterministic_and_prints_its_replay(tmp_path: Path) -> None:
    """A property that fails names its falsifying example and a replay command; running that
    command fails the same way, with the same example."""
    table = io.StringIO()
    name = BROKEN_PREFIX + "NoDomainSeparation"
    status = runner.run(name, max_examples=10, extra_args=("-k", "test_node_values"), out=table)
    text = table.getvalue()
    assert status == 1, text
    lines = [line.strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("Failing test case"))
    example = lines[start : lines.index(")", start) + 1]  # the whole prop(...) call
    assert any(line.startswith("family=") for line in example), example
    replay = next(line.split("replay: ", 1)[1] for line in text.splitlines() if "replay: " in line)
    argv = shlex.split(replay)
    assert argv[:3] == ["gpuhash", "conformance", name]
    again = subprocess.run(
        [sys.executable, "-m", "gpuhash", *argv[1:]], capture_output=True, text=True, check=False
    )
    assert again.returncode == 1, again.stdout + again.stderr
    assert "\n".join(example) in "\n".join(line.strip() for line in again.stdout.splitlines())


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Hangs", "exceeded the per-check time limit of 4 s"),
        ("HangsHoldingTheGil", "the check ended the process"),
    ],
)
def test_a_hanging_check_fails_and_the_run_goes_on(name: str, reason: str) -> None:
    """A check that never returns fails (by the time limit, or, when it holds the GIL so no
    Python thread can run, by the process being ended a little later) and the run goes on."""
    table = io.StringIO()
    status = runner.run(
        f"gpuhash_conformance.broken:{name}",
        max_examples=3,
        check_timeout=4,
        extra_args=("-k", "test_node_values or test_leaf_values"),
        out=table,
    )
    text = table.getvalue()
    assert status == 1, text
    lines = text.splitlines()
    assert any(ln.startswith("test_node_values") and reason in ln for ln in lines), text
    assert any(ln.startswith("test_leaf_values") and "passed" in ln for ln in lines), text


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Raises", "device lost"),
        ("ShortValues", "returned"),
        ("Crashes", "ended the process (exit status 70)"),
    ],
)
def test_a_faulty_backend_fails_those_checks_and_the_run_goes_on(name: str, reason: str) -> None:
    table = io.StringIO()
    status = runner.run(
        f"gpuhash_conformance.broken:{name}",
        max_examples=3,
        extra_args=("-k", "test_node_values or test_leaf_values or test_node_counts"),
        out=table,
    )
    text = table.getvalue()
    assert status == 1, text
    lines = text.splitlines()
    assert any(ln.startswith("test_node_values") and reason in ln for ln in lines), text
    assert any(ln.startswith("test_leaf_values") and "passed" in ln for ln in lines), text


def test_an_unknown_backend_is_an_error_not_a_pass() -> None:
    table = io.StringIO()
    status = runner.run("no-such-backend", max_examples=1, out=table)
    assert status == 2, table.getvalue()
    assert "the suite did not run" in table.getvalue()


@pytest.mark.slow
def test_the_cached_large_object_digests_are_the_specifications() -> None:
    """large.json against a fresh computation from the spec's definitions (~30 s); after a
    change, regenerate with ``python -m gpuhash_conformance.large --write``."""
    shipped = json.loads((Path(large.__file__).parent / "large.json").read_text(encoding="utf-8"))
    assert shipped["digests"] == large.compute(), "python -m gpuhash_conformance.large --write"


@pytest.mark.parametrize(("name", "status"), [("ReadsFiles", 0), ("ReadFileOffset32", 1)])
def test_read_file_is_checked_past_2_32(
    name: str, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No backend that runs here reads files itself; an OpenCL one that does, and one whose
    file offsets are 32 bits, through the suite's read_file check."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # for the suite's child
    table = io.StringIO()
    got = runner.run(
        f"file_reading_backends:{name}",
        max_examples=3,
        extra_args=("-k", "test_read_file_past_2_32"),
        out=table,
    )
    assert got == status, table.getvalue()
    row = next(ln for ln in table.getvalue().splitlines() if ln.startswith("test_read_file"))
    assert ("passed" if status == 0 else "read_file of 4101 bytes at offset 4294967296") in row


def test_a_backend_may_claim_some_families(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spec section 10: a backend need not claim every family; the suite checks the ones it
    claims and skips the others, naming them."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    table = io.StringIO()
    select = (
        "test_spec_vectors or test_leaf_values or test_artifact_digest or test_lattice or "
        "test_block_boundaries or test_mixed_families or test_determinism"
    )
    status = runner.run(
        "file_reading_backends:OnlySha256", max_examples=5, extra_args=("-k", select), out=table
    )
    text = table.getvalue()
    assert status == 0, text
    assert "test_block_boundaries[merkle-sha256]" in text
    assert "does not claim blake3" in text
    assert "does not claim lthash16-shake256" in text
