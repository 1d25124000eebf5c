"""Running the command line in-process in tests, and the one-line error convention it keeps."""

from __future__ import annotations

import os

import pytest

from gpuhash import cli


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """``gpuhash ARGV...`` in this process: (exit status, stdout, stderr)."""
    code = cli.main([os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *needles: str) -> None:
    """``err`` is one ``gpuhash: error:`` line, no traceback, naming every needle."""
    assert err.startswith("gpuhash: error: "), err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
