"""The fuzz engine: feeds one target the checked-in corpus, then seed mutations, for a wall-clock
budget, and reports executions and failures as JSON.

A failure is an input on which the target raised anything but a ``GpuhashError`` (KeyError,
ValueError, RecursionError, MemoryError... escaping), raised a ``GpuhashError`` whose message
is not one line, ran longer than the per-input deadline, or grew the process's peak resident
memory by more than ten times its size plus 64 MiB (never more than 512 MiB). The process's
address space is capped, so a memory bomb fails as a MemoryError instead of taking the machine.

Run it as ``python -m fuzz.engine TARGET --seconds N`` from ``tests/`` (the pytest campaign in
``test_fuzz.py`` does, in a child process); ``--seed`` fixes the mutation sequence.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from fuzz import mutate, targets
from gpuhash.errors import GpuhashError

MIB = 1 << 20
#: Memory an input may add to the peak resident size: 10x its size plus this, at most MAX_PEAK.
PEAK_SLACK = 64 * MIB
MAX_PEAK = 512 * MIB
#: Address space allowed beyond what the warmed-up process already maps.
ADDRESS_SPACE = 2048 * MIB


class InputTimeout(BaseException):
    """The per-input deadline passed (a BaseException, so no ``except Exception`` hides it)."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise InputTimeout


@dataclass
class Failure:
    """One kind of failure: the smallest input seen for it and how often it happened."""

    kind: str
    detail: str
    where: str
    data: bytes
    count: int = 1


def _where(exc: BaseException) -> str:
    """The innermost gpuhash frame of a traceback (else the innermost frame): file:line."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/gpuhash/" in f.filename] or frames[-1:]
    if not ours:
        return "?"
    f = ours[-1]
    return f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} in {f.name}"


def _status(key: str) -> int:
    """A /proc/self/status memory line (VmRSS, VmHWM, VmSize) in bytes."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(key.encode() + b":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets the peak resident size (VmHWM) to the current one
    except OSError:
        return False
    return True


class Engine:
    """Runs inputs through one target and records the failures by kind and place."""

    def __init__(self, target: targets.Target, deadline: float, current: Path) -> None:
        self.target = target
        self.deadline = deadline
        self.executions = 0
        self.accepted = 0
        self.failures: dict[tuple[str, str], Failure] = {}
        self.measure_memory = False
        self._current = os.open(current, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)

    def _fail(self, kind: str, detail: str, where: str, data: bytes) -> None:
        key = (kind, where)
        old = self.failures.get(key)
        if old is None:
            self.failures[key] = Failure(kind, detail[:300], where, data)
        else:
            old.count += 1
            if len(data) < len(old.data):
                old.data, old.detail = data, detail[:300]

    def execute(self, data: bytes) -> None:
        """One input: the target's outcome, time and peak memory checked."""
        self.executions += 1
        os.ftruncate(self._current, 0)  # what a watchdog reads if the process must be killed
        os.pwrite(self._current, data, 0)
        memory = self.measure_memory and _reset_peak()
        before = _status("VmRSS") if memory else 0
        known = sum(f.count for f in self.failures.values())
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, self.deadline)
        try:
            self.target.run(data)
            self.accepted += 1
        except GpuhashError as e:
            message = str(e)
            if not message.strip() or "\n" in message or "\r" in message:
                self._fail("message not one line", repr(message), _where(e), data)
        except InputTimeout as e:
            self._fail("timeout", f"over {self.deadline} s", _where(e), data)
        except BaseException as e:  # every other exception type is a failure
            if isinstance(e, KeyboardInterrupt):
                raise
            detail = f"{type(e).__name__}: {' '.join(str(e).split())}"
            self._fail(f"uncaught {type(e).__name__}", detail, _where(e), data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = time.perf_counter() - start
        if sum(f.count for f in self.failures.values()) > known:
            return  # a timeout or an exception: its time and memory say nothing more
        if elapsed > self.deadline:
            self._fail("slow", f"{elapsed:.2f} s", "", data)
        elif memory:
            grown = _status("VmHWM") - before
            if grown > min(MAX_PEAK, PEAK_SLACK + 10 * len(data)):
                self._fail("memory", f"peak resident memory grew {grown // MIB} MiB", "", data)


def run(
    name: str, seconds: float, seed: str, deadline: float, work: Path, crashes: Path
) -> dict[str, object]:
    """Fuzz target ``name`` for ``seconds``; the report (also what ``main`` prints)."""
    target = targets.TARGETS[name](work)
    checked_in = targets.corpus(name)
    seeds = [d for n, d in checked_in if n.startswith("seed-")] + target.seeds
    signal.signal(signal.SIGALRM, _alarm)
    engine = Engine(target, deadline, work / "current-input")
    for _, data in checked_in:  # warm-up: lazy imports and caches are not the inputs' memory
        engine.execute(data)
    engine.failures.clear()
    engine.executions = engine.accepted = 0
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _status("VmSize") + ADDRESS_SPACE
    if hard == resource.RLIM_INFINITY or cap < hard:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    engine.measure_memory = True
    for _, data in checked_in:
        engine.execute(data)
    started = time.monotonic()  # the budget is the mutations': replaying the corpus comes first
    rng = random.Random(f"{name}:{seed}")
    end = started + seconds
    while time.monotonic() < end:
        engine.execute(mutate.mutate(rng, name, target.json, seeds))
    elapsed = time.monotonic() - started
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    failures = []
    for f in engine.failures.values():
        crashes.mkdir(parents=True, exist_ok=True)
        path = crashes / f"crash-{hashlib.sha256(f.data).hexdigest()[:16]}"
        path.write_bytes(f.data)
        failures.append(
            {
                "kind": f.kind,
                "detail": f.detail,
                "where": f.where,
                "count": f.count,
                "input": str(path),
                "size": len(f.data),
                "head": repr(f.data[:160]),
            }
        )
    return {
        "parser": name,
        "executions": engine.executions,
        "accepted": engine.accepted,
        "seconds": round(elapsed, 1),
        "seed": seed,
        "corpus": len(checked_in),
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m fuzz.engine TARGET``: fuzz one target and print its JSON report."""
    p = argparse.ArgumentParser(prog="python -m fuzz.engine", description=__doc__)
    p.add_argument("target", choices=sorted(targets.TARGETS))
    p.add_argument("--seconds", type=float, default=20.0, help="budget (default 20)")
    p.add_argument("--seed", default="0", help="mutation sequence (default 0)")
    p.add_argument("--deadline", type=float, default=2.0, help="seconds per input (default 2)")
    p.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    p.add_argument("--crashes", type=Path, help="where failing inputs go (default: work/crashes)")
    p.add_argument("--report", type=Path, help="also write the report here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gpuhash-fuzz-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        crashes = args.crashes or work / "crashes"
        report = run(args.target, args.seconds, args.seed, args.deadline, work, crashes)
    text = json.dumps(report, indent=2)
    if args.report is not None:
        args.report.write_text(text + "\n")
    sys.stdout.write(text + "\n")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
