"""Long coverage-guided campaigns with atheris (libFuzzer for Python), on the same targets and
property as the CI engine (``fuzz.engine``): gpuhash accepts an input or raises a
``GpuhashError`` with a one-line message; anything else is a crash libFuzzer saves.

atheris is not a test requirement (CI runs ``fuzz.engine``); install it beside the project
(``python -m pip install atheris``: a wheel for CPython 3.11 on x86-64 Linux) and run, from
``tests/``::

    python -m fuzz.atheris_fuzz TARGET WORK_CORPUS fuzz/corpus/TARGET -max_total_time=3600 \\
        -timeout=2 -rss_limit_mb=2048

(libFuzzer's options; new inputs go to the first corpus folder). Half of the mutations are
this harness's structure-aware ones (``fuzz.mutate``), half libFuzzer's own.
"""

from __future__ import annotations

import contextlib
import random
import sys
import tempfile
from pathlib import Path

import atheris

from fuzz import mutate, targets
from gpuhash.errors import GpuhashError


def main(argv: list[str]) -> None:
    """``python -m fuzz.atheris_fuzz TARGET [libFuzzer arguments]``."""
    if len(argv) < 2 or argv[1] not in targets.TARGETS:
        sys.exit(f"usage: python -m fuzz.atheris_fuzz {{{','.join(targets.TARGETS)}}} ...")
    name = argv[1]
    target = targets.TARGETS[name](Path(tempfile.mkdtemp(prefix="gpuhash-atheris-")))
    for seed, data in targets.corpus(name):  # every module the target uses is imported now
        if seed.startswith("seed-"):  # not the past failures: a hang would stop here
            with contextlib.suppress(GpuhashError):
                target.run(data)
    atheris.instrument_all()

    def test_one(data: bytes) -> None:
        try:
            target.run(data)
        except GpuhashError as e:
            message = str(e)
            if not message.strip() or "\n" in message or "\r" in message:
                raise AssertionError(f"error message not one line: {message!r}") from e

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        if seed % 2:
            return bytes(atheris.Mutate(data, max_size))
        return mutate.mutate(random.Random(seed), name, target.json, [data])[:max_size]

    atheris.Setup([argv[0], *argv[2:]], test_one, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
