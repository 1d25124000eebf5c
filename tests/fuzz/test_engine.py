"""The fuzz engine itself: each kind of failure it must catch is caught (an escaping exception,
a message of several lines, an input over its deadline, a memory bomb), and gpuhash's own
one-line errors are not failures."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fuzz import engine, mutate, targets
from gpuhash.errors import InputError

pytestmark = pytest.mark.fuzz


@pytest.fixture(autouse=True)
def _alarm() -> Iterator[None]:
    old = signal.signal(signal.SIGALRM, engine._alarm)
    yield
    signal.signal(signal.SIGALRM, old)


def _run(tmp_path: Path, fn: Callable[[bytes], None], memory: bool = False) -> list[str]:
    e = engine.Engine(targets.Target("toy", fn), 10 if memory else 0.5, tmp_path / "current")
    e.measure_memory = memory
    e.execute(b"input")
    assert e.executions == 1
    return [f.kind for f in e.failures.values()]


def _key_error(data: bytes) -> None:
    raise KeyError("x")


def _multi_line(data: bytes) -> None:
    raise InputError("two\nlines")


def _one_line(data: bytes) -> None:
    raise InputError("not a valid file: one line")


def _hang(data: bytes) -> None:
    while True:
        time.sleep(0.01)


def _bomb(data: bytes) -> None:
    block = b"\1" * (600 << 20)  # every page written
    assert block


def test_failures_are_caught(tmp_path: Path) -> None:
    assert _run(tmp_path, _key_error) == ["uncaught KeyError"]
    assert _run(tmp_path, _multi_line) == ["message not one line"]
    assert _run(tmp_path, _one_line) == []
    assert _run(tmp_path, lambda data: None) == []
    assert _run(tmp_path, _hang) == ["timeout"]
    assert _run(tmp_path, _bomb, memory=True) == ["memory"]


def test_mutations_are_reproducible() -> None:
    seeds = [data for _, data in targets.corpus("gguf")]
    import random

    def sequence() -> list[bytes]:
        rng = random.Random("gguf:0")
        return [mutate.mutate(rng, "gguf", False, seeds) for _ in range(200)]

    first = sequence()
    assert first == sequence()
    assert len(set(first)) > 150


def test_gguf_fields_cover_the_header() -> None:
    (seed,) = [data for name, data in targets.corpus("gguf") if name.startswith("seed-")]
    fields = mutate.gguf_fields(seed)
    # version, counts, four key-value pairs and three tensors' infos
    assert len(fields) > 3 + 4 * 3 + 3 * 5
    assert max(o for o, _ in fields) < len(seed)
