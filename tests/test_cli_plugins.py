"""Commands of other distributions (``gpuhash.commands`` entry points): ``gpuhash conformance``
comes from gpuhash-conformance, the core never imports the suite, and without it the command is
still listed and says how to install it."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from cli_run import one_error_line, run

from gpuhash.cli import plugins
from gpuhash.cli.parser import BUILT_IN, build_parser
from gpuhash.errors import UsageError

HINT = (
    "gpuhash: error: the conformance suite is not installed; install it with: "
    "python -m pip install ./conformance, in a gpuhash checkout\n"
)
HELP_LINE = "    conformance         run the conformance suite (gpuhash-conformance) on a\n"


def _python(code: str, *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


class _FakeEntryPoint:
    """What ``plugins`` reads of an entry point: its name, value, and the object it loads."""

    def __init__(self, name: str, value: str, load: Callable[[], object]) -> None:
        self.name = name
        self.value = value
        self.load = load


def _only_commands(
    monkeypatch: pytest.MonkeyPatch, commands: Iterable[_FakeEntryPoint] | Exception
) -> None:
    """The ``gpuhash.commands`` group as ``commands`` (or reading it raises the exception)."""
    real = importlib.metadata.entry_points

    def entry_points(**kwargs: Any) -> Any:
        if kwargs.get("group") != plugins.ENTRY_POINT_GROUP:
            return real(**kwargs)
        if isinstance(commands, Exception):
            raise commands
        return list(commands)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_conformance_is_registered_by_its_distribution() -> None:
    (ep,) = importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP, name="conformance")
    assert ep.value == "gpuhash_conformance.command:command"
    assert ep.dist is not None
    assert ep.dist.name == "gpuhash-conformance"
    command = ep.load()
    assert command.help == "run the conformance suite (gpuhash-conformance) on a backend"
    parser = argparse.ArgumentParser()
    command.configure(parser)
    args = parser.parse_args(["cpu", "--max-examples", "3", "-k", "leaf", "--check", "a"])
    assert (args.backend, args.max_examples, args.select, args.check) == ("cpu", 3, "leaf", ["a"])


def test_the_core_never_imports_the_conformance_suite(tmp_path: Path) -> None:
    """Every module of gpuhash imported, and commands run: nothing of gpuhash_conformance."""
    (tmp_path / "m.bin").write_bytes(b"model")
    code = (
        "import importlib, pkgutil, sys, gpuhash\n"
        "for m in pkgutil.walk_packages(gpuhash.__path__, 'gpuhash.'):\n"
        "    importlib.import_module(m.name)\n"
        "from gpuhash.cli import main\n"
        "assert main(['backends']) == 0\n"
        "assert main(['digest', sys.argv[1], '--backend', 'cpu']) == 0\n"
        "assert main(['-v', 'hash', sys.argv[1], '--json']) == 0\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'gpuhash_conformance'))\n"
    )
    assert _python(code, str(tmp_path / "m.bin")).splitlines()[-1] == "[]"


def test_help_lists_conformance_importing_only_its_command() -> None:
    """`gpuhash --help` imports the command's module to list it, not the suite (pytest)."""
    code = (
        "import sys\n"
        "from gpuhash.cli import main\n"
        "assert main(['--help']) == 0\n"
        "heavy = ('pytest', 'hypothesis', 'gpuhash_conformance.runner', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules), 'gpuhash_conformance.command' in"
        " sys.modules)\n"
    )
    out = _python(code)
    assert HELP_LINE in out
    assert out.splitlines()[-1] == "[] True"


def test_built_in_commands_read_no_entry_points(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _only_commands(monkeypatch, AssertionError("entry points read"))
    (tmp_path / "m.bin").write_bytes(b"model")
    assert run(capsys, "--log-level", "info", "digest", tmp_path / "m.bin", "-b", "cpu")[0] == 0
    assert run(capsys, "digest", "--help")[0] == 0


@pytest.mark.parametrize(
    ("argv", "needed"),
    [
        (["digest", "x"], False),
        (["-v", "--log-level", "info", "hash", "x", "--help"], False),
        (["--log-level=info", "--no-progress", "backends"], False),
        (["--log", "debug", "backends"], False),
        (["--", "backends"], False),
        (["conformance", "cpu"], True),
        (["some-command"], True),
        (["--log-level", "digest"], True),
        (["--help", "digest"], True),
        (["--he", "digest"], True),
        (["-vh", "digest"], True),
        (["--version"], True),
        ([], True),
    ],
)
def test_entry_points_are_read_only_where_the_command_may_be_theirs(
    argv: list[str], needed: bool
) -> None:
    assert plugins.needed(argv, BUILT_IN) is needed


def _commands(parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The commands ``parser`` knows, in order, as its unknown-command error lists them."""
    with pytest.raises(SystemExit):
        parser.parse_args(["no-such-command"])
    return re.findall(r"'([^']+)'", capsys.readouterr().err.split("choose from", 1)[1])


def test_the_built_in_commands_are_those_the_parser_has(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert set(_commands(build_parser(["digest"]), capsys)) == BUILT_IN
    every = _commands(build_parser(), capsys)
    assert every[-2:] == ["conformance", "backends"]  # where --help lists it
    assert set(every) == {*BUILT_IN, "conformance"}


def test_without_the_suite_conformance_is_listed_and_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, listed, _ = run(capsys, "--help")
    assert code == 0
    _only_commands(monkeypatch, [])
    assert run(capsys, "--help") == (0, listed, "")  # the same list, the same line
    assert HELP_LINE in listed
    for argv in (["cpu"], ["cpu", "--max-examples", "5", "-k", "leaf"], [], ["-v", "x", "-v"]):
        assert run(capsys, "conformance", *argv) == (2, "", HINT)
    code, out, _ = run(capsys, "conformance", "--help")
    assert code == 0
    assert "the conformance suite is not installed; install it with:" in out


def test_a_command_of_another_distribution_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The contract (``plugins.Command``): help, description, configure, run; a usage error
    it raises is one line, exit 2; one named like a built-in command is ignored."""

    class Hello:
        help = "say hello"
        description = "Say hello to NAME."

        def configure(self, parser: argparse.ArgumentParser) -> None:
            parser.add_argument("name", metavar="NAME")

        def run(self, args: argparse.Namespace) -> int:
            if args.name == "nobody":
                raise UsageError("nobody to greet")
            sys.stdout.write(f"hello {args.name}\n")
            return 0

    def never() -> object:
        raise AssertionError("a built-in command is never taken over")

    _only_commands(
        monkeypatch,
        [_FakeEntryPoint("hello", "x:hello", Hello), _FakeEntryPoint("digest", "x:d", never)],
    )
    assert run(capsys, "hello", "world", "-v") == (0, "hello world\n", "")
    code, _, err = run(capsys, "hello", "nobody")
    assert code == 2
    one_error_line(err, "nobody to greet")
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "    hello               say hello\n" in out
    assert out.index("    backends") < out.index("    hello")


def test_a_command_that_cannot_be_loaded_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> object:
        raise ImportError("No module named 'nowhere'")

    _only_commands(
        monkeypatch,
        [
            _FakeEntryPoint("broken", "nowhere:command", broken),
            _FakeEntryPoint("conformance", "gpuhash_conformance.command:command", broken),
        ],
    )
    code, _, err = run(capsys, "broken", "x")
    assert code == 2
    one_error_line(err, "'broken' (nowhere:command) cannot be loaded", "nowhere")
    assert run(capsys, "conformance", "cpu") == (2, "", HINT)


def test_a_command_that_cannot_be_set_up_fails_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command whose parser clashes with the global options (or whose configure raises)
    does not take ``--help`` or other commands down: it alone fails, in one line."""

    class Clash:
        help = "clashes with -v"
        description = "Takes -v for itself."

        def configure(self, parser: argparse.ArgumentParser) -> None:
            parser.add_argument("-v", action="store_true")

        def run(self, args: argparse.Namespace) -> int:
            raise AssertionError("never runs")

    class Raises(Clash):
        def configure(self, parser: argparse.ArgumentParser) -> None:
            raise KeyError("no\nsuch thing")

    _only_commands(
        monkeypatch,
        [_FakeEntryPoint("clash", "x:clash", Clash), _FakeEntryPoint("raises", "x:r", Raises)],
    )
    code, out, err = run(capsys, "--help")
    assert (code, err) == (0, "")
    assert "    clash" in out
    assert "    raises" in out
    for name in ("clash", "raises"):
        code, _, err = run(capsys, name, "x")
        assert code == 2
        one_error_line(err, f"{name!r} (x:", "cannot be loaded")
